"""The server's command-line flags, and the settings they make (a bad value is a UsageError, exit status 2)."""

import argparse
import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import tensorflow as tf

from console.errors import UsageError
from serving import policy as version_policy
from serving.batching import Batcher, BatchingOptions
from serving.limits import Limits
from serving.model import ServedModel, load

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501  # TF Serving's REST port


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and each flag's default."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the flags configure: limits, the version policy, and how a version is loaded (with a batcher or not)."""

    limits: Limits
    policy: version_policy.VersionPolicy
    loader: Callable[[int, str], ServedModel]
    intra_op_threads: int = 0
    inter_op_threads: int = 0

    def configure_tensorflow(self) -> None:
        """Sets TensorFlow's thread pools; before any model loads (TensorFlow fixes them when it starts)."""
        tf.config.threading.set_intra_op_parallelism_threads(self.intra_op_threads)
        tf.config.threading.set_inter_op_parallelism_threads(self.inter_op_threads)


def parser(description: str) -> argparse.ArgumentParser:
    """Every flag of ``python -m serving.server``."""
    p = argparse.ArgumentParser(prog="serving.server", description=description, formatter_class=_Formatter)
    p.add_argument("--serving-dir", required=True, help="the Pusher's folder of <version>/ SavedModels")
    p.add_argument("--model-name", required=True, help="the {name} in /v1/models/{name}")
    p.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on (default loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TF Serving's REST port")
    p.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for new or removed versions")
    p.add_argument("--access-log", action="store_true", help="log every request (off: it costs throughput)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
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
    batching.add_argument("--enable-batching", action="store_true", help="merge concurrent requests into one call")
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


def settings(args: argparse.Namespace) -> Settings:
    """The settings ``args`` make; UsageError naming the first bad flag."""
    if not os.path.isdir(args.serving_dir):
        raise UsageError(f"--serving-dir {args.serving_dir}: no such folder")
    positive = ["poll_seconds", "max_body_bytes", "max_instances", "header_timeout"]
    positive += ["body_timeout", "idle_timeout", "max_connections", "max_buffered_body_bytes"]
    for name in positive:
        if not getattr(args, name) > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.max_buffered_body_bytes < args.max_body_bytes:
        raise UsageError(
            f"--max-buffered-body-bytes ({args.max_buffered_body_bytes}) must hold at least one body of "
            f"--max-body-bytes ({args.max_body_bytes})"
        )
    for name in ("tensorflow_intra_op_parallelism", "tensorflow_inter_op_parallelism"):
        if getattr(args, name) < 0:
            raise UsageError(
                f"--{name.replace('_', '-')} must be 0 (TensorFlow's choice) or more, got {getattr(args, name)}"
            )
    limits = _from_args(Limits, args)
    policy = version_policy.parse(args.version_policy, args.num_versions, args.versions)
    loader = load
    if args.enable_batching:
        loader = batching_loader(_from_args(BatchingOptions, args))
    return Settings(limits, policy, loader, args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism)


def _from_args(settings_class, args: argparse.Namespace):
    """A settings dataclass filled from the flags of the same names as its fields."""
    return settings_class(**{field.name: getattr(args, field.name) for field in dataclasses.fields(settings_class)})


def batching_loader(options: BatchingOptions) -> Callable[[int, str], ServedModel]:
    """Loads a version with a Batcher; every version's batches run in the same ``num_batch_threads`` threads."""
    executor = ThreadPoolExecutor(options.num_batch_threads, thread_name_prefix="batch")

    def load_batched(version: int, path: str) -> ServedModel:
        model = load(version, path)
        model.batcher = Batcher(model.predict, options, executor, f"version {version}")
        return model

    return load_batched
