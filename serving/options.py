"""The REST server's flags and the settings they make, checked before TensorFlow loads (a bad value is one line).

TensorFlow-free, so ``python -m serving.server`` refuses a bad flag at once; the model, batching
and TensorFlow's thread pools are set up from these settings afterwards (serving/server.py).
"""

import dataclasses
import ipaddress
import os
from typing import Optional

from cli.parsing import Parser, boolean
from serving import OptionError
from serving import policy as version_policy
from serving.batching import BatchingOptions
from serving.limits import Limits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501  # TF Serving's REST port
MAX_PORT = 65535
MAX_THREADS = 256


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the flags configure: limits, the version policy, batching (None: off) and TensorFlow's threads."""

    limits: Limits
    policy: version_policy.VersionPolicy
    batching: Optional[BatchingOptions] = None
    intra_op_threads: int = 0
    inter_op_threads: int = 0


def parser(prog: str, description: str) -> Parser:
    """Every flag of ``python -m serving.server``."""
    p = Parser(prog, description)
    p.add_argument("--serving-dir", required=True, help="the Pusher's folder of <version>/ SavedModels")
    p.add_argument("--model-name", required=True, help="the {name} in /v1/models/{name}")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on; anything but loopback is exposed")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TF Serving's REST port (1 to {MAX_PORT})")
    p.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for new or removed versions")
    boolean(p, "--access-log", default=False, help="log every request (it costs throughput)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"], help="the log's level")
    versions = p.add_argument_group("version policy (TF Serving's model_version_policy)")
    versions.add_argument(
        "--version-policy", default=version_policy.LATEST, choices=version_policy.KINDS, help="which to serve"
    )
    versions.add_argument("--num-versions", type=int, default=1, help="how many of the newest the latest policy serves")
    versions.add_argument("--versions", default="", help="comma-separated versions the specific policy serves")
    limits = p.add_argument_group("limits (a request over one gets a 4xx, a saturated server a 503 with Retry-After)")
    defaults = Limits()
    limits.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes, help="413 past it")
    limits.add_argument("--max-instances", type=int, default=defaults.max_instances, help="per request")
    limits.add_argument(
        "--header-timeout", type=float, default=defaults.header_timeout, help="seconds from the first byte"
    )
    limits.add_argument("--body-timeout", type=float, default=defaults.body_timeout, help="seconds from the headers")
    limits.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout, help="seconds of silence")
    limits.add_argument("--max-connections", type=int, default=defaults.max_connections, help="503 past it")
    limits.add_argument(
        "--max-buffered-body-bytes",
        type=int,
        default=defaults.max_buffered_body_bytes,
        help="request bodies held at once, all connections together: 503 past it",
    )
    batching = p.add_argument_group("batching (TF Serving's --enable_batching and its parameters)")
    boolean(batching, "--enable-batching", default=False, help="merge concurrent requests into one model call")
    options = BatchingOptions()
    batching.add_argument("--max-batch-size", type=int, default=options.max_batch_size, help="instances")
    batching.add_argument(
        "--batch-timeout-micros", type=int, default=options.batch_timeout_micros, help="longest wait to fill a batch"
    )
    batching.add_argument(
        "--max-enqueued-batches", type=int, default=options.max_enqueued_batches, help="queue limit: 503 past it"
    )
    batching.add_argument("--num-batch-threads", type=int, default=options.num_batch_threads, help="batches at once")
    runtime = p.add_argument_group(
        "TensorFlow threads (TF Serving's flags; 0: TensorFlow's choice, about one per core)"
    )
    runtime.add_argument("--tensorflow-intra-op-parallelism", type=int, default=0, help="threads within one op")
    runtime.add_argument("--tensorflow-inter-op-parallelism", type=int, default=0, help="ops run at once")
    return p


def _check_address(args) -> None:
    """The port in range and the host an IP address or a name (whether it can be bound is found by binding)."""
    if not 1 <= args.port <= MAX_PORT:
        raise OptionError(f"--port must lie in [1, {MAX_PORT}], got {args.port}")
    if not args.host.strip() or any(c.isspace() for c in args.host):
        raise OptionError(f"--host must be an address or a host name, got {args.host!r}")


def settings(args) -> Settings:
    """The settings ``args`` make; OptionError naming the first bad flag."""
    if not os.path.isdir(args.serving_dir):
        raise OptionError(f"--serving-dir {args.serving_dir}: no such folder")
    _check_address(args)
    positive = ["poll_seconds", "max_body_bytes", "max_instances", "header_timeout"]
    positive += ["body_timeout", "idle_timeout", "max_connections", "max_buffered_body_bytes"]
    for name in positive:
        if not getattr(args, name) > 0:
            raise OptionError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.max_buffered_body_bytes < args.max_body_bytes:
        raise OptionError(
            f"--max-buffered-body-bytes ({args.max_buffered_body_bytes}) must hold at least one body of "
            f"--max-body-bytes ({args.max_body_bytes})"
        )
    for name in ("tensorflow_intra_op_parallelism", "tensorflow_inter_op_parallelism"):
        if not 0 <= getattr(args, name) <= MAX_THREADS:
            raise OptionError(f"--{name.replace('_', '-')} must lie in [0, {MAX_THREADS}], got {getattr(args, name)}")
    limits = _from_args(Limits, args)
    policy = version_policy.parse(args.version_policy, args.num_versions, args.versions)
    batching = _from_args(BatchingOptions, args) if args.enable_batching else None
    return Settings(
        limits, policy, batching, args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism
    )


def _from_args(settings_class, args):
    """A settings dataclass filled from the flags of the same names as its fields."""
    return settings_class(**{field.name: getattr(args, field.name) for field in dataclasses.fields(settings_class)})


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``: what only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
