"""``python -m ui``: a web page of the pipeline's runs, read from ML Metadata, with the pushed model to try.

    python -m ui [--host 127.0.0.1] [--port 8502] [pipeline flags such as --output-root, --preset]
    python -m ui --grpc-host metadata-grpc-service --grpc-port 8080 --pipeline-name NAME

The store and the serving folder are found from the pipeline's own flags, as ``inspection`` finds
them (any ``local_runner.py`` flag is accepted), or the store is a metadata gRPC service. Runs in
TFX's layout and in Kubeflow Pipelines 2's are both read. The page is read-only and listens on
loopback unless ``--host`` says otherwise, which prints a warning. The flags are checked and the
port bound before TensorFlow loads. Exit status: 0 stopped, 1 the address cannot be bound, 2 a
bad flag, 130 interrupted (cli/errors.py). ui/webapp.py lists the pages.
"""

import logging
import sys

from cli.errors import run_command
from cli.parsing import Parser, boolean, port_number
from inspection.store import GRPC_PORT
from pipeline import flags
from pipeline.config import ConfigError
from serving.options import is_loopback
from serving.server import BindError, bind

PROG = "ui"
DEFAULT_PORT = 8502  # next to the REST server's 8501
OWN = ("host", "port", "grpc_host", "grpc_port", "serve_model", "log_level")


def build_parser() -> Parser:
    """The UI's own flags, then every pipeline flag (they locate the store and the serving folder)."""
    parser = Parser(PROG, __doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument("--grpc-host", default="", help="metadata gRPC service host (instead of the SQLite store)")
    parser.add_argument("--grpc-port", type=port_number, default=GRPC_PORT, help="metadata gRPC service port")
    boolean(parser, "--serve-model", default=True, help="serve the pushed model for the Try it page")
    parser.add_argument(
        "--log-level", default="warning", choices=("debug", "info", "warning", "error"), help="server log level"
    )
    flags.add_flags(parser)
    return parser


def serve(args, config, sock) -> None:
    """Loads the pushed model (when asked), builds the app and serves on ``sock`` until stopped."""
    import uvicorn

    from serving.app import create_app as create_serving_app
    from serving.manager import ModelManager
    from ui.webapp import Source, create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    source = Source(config.pipeline_name, config.metadata_path, args.grpc_host, args.grpc_port)
    manager = ModelManager(config.serving_dir) if args.serve_model else None
    serving_app = create_serving_app(manager, config.pipeline_name) if manager else None
    if manager:
        manager.start()
    try:
        app = create_app(source, serving_app, config.pipeline_name)
        server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, access_log=False))
        print(f"{PROG}: http://{args.host}:{args.port}/ reading {source.where}", file=sys.stderr, flush=True)
        server.run(sockets=[sock])
    finally:
        if manager:
            manager.stop()


def main(argv=None) -> int:
    """Checks the flags, binds the address, then serves the pages until interrupted."""
    values = vars(build_parser().parse_args(argv))
    args = type("Args", (), {key: values.pop(key) for key in OWN})

    def body() -> None:
        config = flags.from_flags(values)
        sock = bind(args.host, args.port)
        if not is_loopback(args.host):
            print(f"{PROG}: warning: listening on {args.host}:{args.port}, beyond this machine", file=sys.stderr)
        with sock:
            serve(args, config, sock)

    return run_command(PROG, body, usage=(ConfigError,), failed=(BindError,))
