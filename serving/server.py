"""``python -m serving.server``: TF Serving's REST API for the pushed model, on FastAPI and uvicorn.

    python -m serving.server --serving-dir outputs/serving/digits-convnet --model-name digits-convnet \\
        [--host 127.0.0.1 --port 8501 --version-policy latest --enable-batching]

It serves the versions in the serving folder that the version policy selects and swaps versions in
and out as the Pusher writes them (serving/manager.py); docs/serving.md has the URL grammar, the
shapes and the error body, and ``--help`` every flag (serving/options.py). The flags are checked and
the address is bound before TensorFlow loads, so a bad flag or a port in use is one line at once.
It listens on loopback unless ``--host`` says otherwise, and then warns that the model is exposed.
Exit status: 0 stopped, 1 the address cannot be bound, 2 a bad flag, 130 interrupted (cli/errors.py).
"""

import gc
import logging
import socket
import sys

from cli.errors import run_command
from serving import OptionError, options

PROG = "serving.server"
# How many connections the kernel queues before the server accepts them (uvicorn's default).
BACKLOG = 2048


class BindError(RuntimeError):
    """The address cannot be listened on: in use, not this machine's, or not resolvable."""


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port``; BindError naming the address and the reason."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as err:
        raise BindError(f"cannot listen on {host}:{port}: {getattr(err, 'strerror', None) or err}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as err:
        sock.close()
        raise BindError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return sock


def serve(args, settings: options.Settings, sock: socket.socket) -> None:
    """Loads the versions the policy selects, starts polling for changes and serves on ``sock`` until stopped."""
    # TensorFlow and the model code load only now, after every flag was checked and the port bound.
    from concurrent.futures import ThreadPoolExecutor

    import tensorflow as tf
    import uvicorn

    from serving.app import create_app
    from serving.batching import Batcher
    from serving.limits import protocol_class
    from serving.loaded_model import load
    from serving.manager import ModelManager

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # What the imports made lives as long as the process: out of the collector's way, so that the full
    # collections after each unload (serving/manager.py) and the automatic ones stay short.
    gc.freeze()
    # Before any model loads: TensorFlow fixes its thread pools when it first runs an op.
    tf.config.threading.set_intra_op_parallelism_threads(settings.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(settings.inter_op_threads)
    loader = load
    if settings.batching is not None:
        # Every version's batches run in the same num_batch_threads threads.
        executor = ThreadPoolExecutor(settings.batching.num_batch_threads, thread_name_prefix="batch")

        def loader(version: int, path: str):
            model = load(version, path)
            model.batcher = Batcher(model.predict, settings.batching, executor, f"version {version}")
            return model

    manager = ModelManager(args.serving_dir, args.poll_seconds, settings.policy, loader)
    manager.start()
    try:
        config = uvicorn.Config(
            create_app(manager, args.model_name, settings.limits),
            http=protocol_class(settings.limits),
            timeout_keep_alive=settings.limits.idle_timeout,
            log_level=args.log_level,
            access_log=args.access_log,
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        manager.stop()


def main(argv=None) -> int:
    """Checks the flags, binds the address, then loads the model and serves until interrupted."""
    args = options.parser(PROG, __doc__).parse_args(argv)

    def body() -> None:
        settings = options.settings(args)
        sock = bind(args.host, args.port)
        if not options.is_loopback(args.host):
            print(f"{PROG}: warning: listening on {args.host}:{args.port}, beyond this machine", file=sys.stderr)
        with sock:
            serve(args, settings, sock)

    return run_command(PROG, body, usage=(OptionError,), failed=(BindError,))


if __name__ == "__main__":
    from cli.quiet import quiet_libraries

    quiet_libraries()  # TensorFlow's start-up notices about CUDA and oneDNN are not the server's output
    sys.exit(main())
