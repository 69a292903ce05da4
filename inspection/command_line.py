"""Inspect the pipeline's runs through ML Metadata: tables, JSON (``--json``) and PNG plots (``--plot``).

    python -m inspection runs
    python -m inspection executions [--run RUN_ID] [--plot durations.png]
    python -m inspection artifacts [--run RUN_ID] [--type Examples]
    python -m inspection lineage [--run RUN_ID] [--plot lineage.png]
    python -m inspection metrics [--run RUN_ID] [--plot per_class.png]
    python -m inspection compare [--run RUN_ID] [--against RUN_ID] [--plot compare.png]
    python -m inspection anomalies [--run RUN_ID]

The store is found from the pipeline's own flags, given after the command: --output-root,
--preset, --pipeline-name, --metadata-path (any ``local_runner.py`` flag is accepted), or
--grpc-host/--grpc-port for a metadata gRPC service such as Kubeflow's. Runs are read in TFX's
layout (a local run) or in Kubeflow Pipelines 2's (a KFP backend, or the store
``python -m cloud.preflight`` writes), whichever the store holds (inspection/store_layout.py). Run ids are the ones
``runs`` lists. ``latest`` (the default) is the most recent run; for lineage, metrics and
compare, the most recent run that pushed a model or evaluated one. Exit status: 0 done, 1 no
such store, run or artifact, 2 a bad flag (cli/errors.py).
"""

import argparse
import json
import sys
from typing import Optional, Sequence

from cli.errors import run_command
from cli.parsing import Parser, boolean
from inspection.commands import COMMANDS, PLOTS
from inspection.store import GRPC_PORT, LATEST, MetadataError, StoreError, open_store
from pipeline import flags
from pipeline.config import ConfigError

PROG = "inspection"
STORE_FLAGS = (
    "The store: the pipeline's own flags (--output-root, --preset, --pipeline-name, --metadata-path, or any "
    "other local_runner.py flag), or --grpc-host/--grpc-port."
)
# This command's own flags; the rest are the pipeline's (pipeline/flags.py), which find the store.
OWN = ("command", "json", "grpc_host", "grpc_port", "run", "type", "against", "plot")


class OutputError(RuntimeError):
    """What the command was to write could not be written."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser; pipeline flags it does not know are left for ``pipeline.flags``."""
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    boolean(common, "--json", default=False, help="print JSON instead of tables")
    common.add_argument("--grpc-host", default="", help="metadata gRPC service host (instead of the SQLite store)")
    common.add_argument("--grpc-port", type=int, default=GRPC_PORT, help="metadata gRPC service port")
    parser = Parser(PROG, __doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(
            name, parents=[common], help=command.__doc__, description=command.__doc__, epilog=STORE_FLAGS
        )
        if name != "runs":
            sub.add_argument("--run", default=LATEST, help="run id (default: latest)")
        if name == "artifacts":
            sub.add_argument("--type", default="", help="only artifacts of this type, e.g. Examples")
        if name == "compare":
            sub.add_argument("--against", default="", help="run id to compare with (default: the evaluated run before)")
        if name in PLOTS:
            sub.add_argument("--plot", default="", metavar="OUT.png", help=f"also write a PNG of {PLOTS[name]}")
        flags.add_flags(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: runs one command; a missing store, unknown run or bad flag is one line on stderr."""
    values = vars(build_parser().parse_args(argv))
    args = argparse.Namespace(**{key: values.pop(key, None) for key in OWN})

    def body() -> None:
        config = flags.from_flags(values)
        where = f"{args.grpc_host}:{args.grpc_port}" if args.grpc_host else config.metadata_path
        store = open_store(config.metadata_path, args.grpc_host, args.grpc_port)
        try:
            data, text, plot = COMMANDS[args.command](store, config.pipeline_name, args)
        except StoreError as err:
            raise MetadataError(f"metadata store {where}: {err}") from err
        print(json.dumps(data, indent=2, default=str) if args.json else text)
        if plot is not None:
            try:
                plot.savefig(args.plot, dpi=120)
            except OSError as err:
                raise OutputError(f"cannot write {args.plot}: {err.strerror}") from err
            print(f"inspection: wrote {args.plot}", file=sys.stderr)

    return run_command(PROG, body, usage=(ConfigError,), failed=(MetadataError, OutputError))
