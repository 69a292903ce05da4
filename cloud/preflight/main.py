"""Runs the compiled Vertex AI / Kubeflow Pipelines job on this machine, task by task, before anyone pays for it.

    python -m cloud.preflight --cloud-config cloud.yaml [--target kfp] --param data_root=outputs/data/digits
    python -m cloud.preflight --spec outputs/compiled/pipeline.json --param data_root=outputs/data/digits
    make preflight CLOUD_CONFIG=cloud.yaml [TARGET=kfp]

It takes what ``cloud.submit`` would send: the job that ``cloud/compiler.py`` compiles from the cloud
config for ``--target`` (or the compiled job --spec names), its runtime parameters with each --param
and the data fingerprint, and a pipeline root, here a local folder that the job is moved to as
``submit --pipeline-root`` moves it. Each task runs in dependency order through the command and
arguments its executor has in the spec, with the ExecutorInput the target's launcher builds
(cloud/preflight/steps.py): on Vertex AI its pre-cache-check driver runs first; on Kubeflow Pipelines
2 none does, inputs come untyped and the launcher's logs are an output, and the job must first pass
KFP's checks (cloud/kfp_check.py). Steps are cached by KFP's cache key and recorded in a local ML
Metadata store in KFP 2's layout. Services that need Google Cloud (Vertex Training, Dataflow, a
Vertex endpoint) run in the step instead, and the preflight lists each change
(cloud/preflight/standins.py). Everything goes under <output-root>/preflight/<pipeline>/. Exit
status: 0 every task ran; 1 a task failed (one line names it and its error) or needs what has no
local stand-in; 2 a bad flag, configuration or spec, or a job KFP would refuse (cli/errors.py).
"""

import argparse
import datetime
import os
import shlex
import time
from typing import Sequence

from cli.errors import run_command
from cli.parsing import Parser, boolean
from cloud import cloud_config as cloud_lib
from cloud import compiler, kfp_check, submit
from cloud.preflight import standins, steps
from cloud.preflight.kfp_store import KfpStore
from inspection.store import open_store
from inspection.summary import python_command
from inspection.summary import summary_lines as run_summary
from pipeline.config import DEFAULT_OUTPUT_ROOT, OUTPUT_ROOT_ENV, ConfigError

PROG = "cloud.preflight"


def build_parser() -> Parser:
    """The command line (see the module docstring)."""
    parser = Parser(PROG, __doc__)
    parser.add_argument(
        "--cloud-config", help=f"the cloud config to compile, YAML or JSON (default ${cloud_lib.ENV_VAR})"
    )
    parser.add_argument("--spec", help="run this compiled pipeline job instead of compiling one")
    parser.add_argument(
        "--output-root",
        default=os.environ.get(OUTPUT_ROOT_ENV, DEFAULT_OUTPUT_ROOT),
        help=f"the preflight writes under <output root>/preflight/<pipeline>/ (${OUTPUT_ROOT_ENV} sets the default)",
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a runtime parameter's value (repeatable)"
    )
    boolean(parser, "--cache", default=True, help="look steps up in the preflight's cache, as the backend does")
    parser.add_argument(
        "--target",
        choices=compiler.TARGETS,
        default=compiler.VERTEX,
        help="whose backend to run the job as: Vertex AI Pipelines, or open-source Kubeflow Pipelines 2",
    )
    return parser


def load_job(args: argparse.Namespace) -> dict:
    """The job submit would send: compiled now from the cloud config, or read from --spec."""
    if args.spec:
        return submit.read_job(args.spec)
    cloud = cloud_lib.load(args.cloud_config)
    name = cloud_lib.pipeline_config(cloud).pipeline_name
    return compiler.compile_pipeline(cloud, os.path.join(folder_of(args, name), compiler.OUTPUT_NAME), args.target)


def folder_of(args: argparse.Namespace, pipeline_name: str) -> str:
    """Where a pipeline's preflights write: its pipeline root, serving folder, store and logs."""
    return os.path.abspath(os.path.join(args.output_root, "preflight", pipeline_name))


def prepare(args: argparse.Namespace) -> tuple:
    """(the run, the changes made so it runs here); a job that would still reach Google Cloud is a ConfigError."""
    job = load_job(args)
    # A local folder given relative to here means the same to a step, which runs in the project folder.
    values = {
        key: os.path.abspath(value) if isinstance(value, str) and os.path.exists(value) else value
        for key, value in submit.parameter_values(job, args.param).items()
    }
    values = submit.with_data_fingerprint(values, list_cloud=False)  # as submit sends it
    if args.target == compiler.KFP:
        kfp_check.check(job)
    name = job["pipelineSpec"]["pipelineInfo"]["name"]
    folder = folder_of(args, name)
    compiled_root = job["runtimeConfig"]["gcsOutputDirectory"]
    job = compiler.reroot(job, os.path.join(folder, "root"))
    job, notes = standins.stand_in(job, os.path.join(folder, "serving"))
    notes.insert(0, f"pipeline root {compiled_root} -> {job['runtimeConfig']['gcsOutputDirectory']}")
    remote = standins.cloud_paths(job, values)
    if remote:
        where, value = remote[0]
        raise ConfigError(
            f"{where} is {value}, on Google Cloud Storage, which the preflight does not reach: "
            "give a local copy (--param NAME=DIR for a runtime parameter)"
        )
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S%f")
    store = KfpStore(os.path.join(folder, "metadata.db"), name)
    run = steps.Run(job, store, f"{name}-{stamp}", folder, values, caching=args.cache, target=args.target)
    return run, notes


def _published_line(run: steps.Run) -> str:
    """How many numbers the run published as ``system.Metrics``, and the confusion matrix's size."""
    published = run.artifacts_of("system.Metrics")
    matrices = run.artifacts_of("system.ClassificationMetrics")
    if not published or not matrices:
        return "  published      nothing"
    numbers = sum(isinstance(value, (int, float)) for value in published[0]["metadata"].values())  # not tfx_version
    classes = len(matrices[0]["metadata"]["confusionMatrix"]["rows"])
    return f"  published      system.Metrics ({numbers} values) and a {classes}x{classes} confusion matrix"


def summary_lines(run: steps.Run, notes: list, seconds: float, submit_args: str) -> list:
    """The block the preflight ends with: what ran, the verdict, what stood in for Google Cloud, what next."""
    name = run.store.pipeline.name
    python = python_command()
    return [
        *run_summary(open_store(run.store.path), name, seconds, run.run_id, kind="Preflight"),
        _published_line(run),
        *(f"  stand-in       {note}" for note in notes),
        f"  store          {run.store.path}",
        f"  logs           {run.log_dir}",
        "Next:",
        f"  {python} -m inspection metrics --metadata-path {shlex.quote(run.store.path)} --pipeline-name {name}",
        f"  {python} -m cloud.submit {submit_args}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: prepares the job, runs every task and prints the summary; failures are one line."""
    args = build_parser().parse_args(argv)

    def body() -> None:
        run, notes = prepare(args)
        tasks = len(run.job["pipelineSpec"]["root"]["dag"]["tasks"])
        print(f"Preflight {run.run_id} of {run.store.pipeline.name}: {tasks} tasks under {run.folder}", flush=True)
        started = time.monotonic()
        steps.execute(run)
        spec = args.spec or os.path.join(run.folder, compiler.OUTPUT_NAME)
        submit_args = shlex.join(
            [*(["--cloud-config", args.cloud_config] if args.cloud_config else []), "--spec", spec]
        )
        print("\n".join(summary_lines(run, notes, time.monotonic() - started, submit_args)))

    return run_command(PROG, body, usage=(ConfigError,), failed=(steps.PreflightFailed,))
