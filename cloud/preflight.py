"""Runs the compiled Vertex AI / Kubeflow job on this machine, task by task, before anyone pays for it.

    python -m cloud.preflight --cloud-config cloud.yaml --param data_root=outputs/data/digits
    python -m cloud.preflight --spec outputs/compiled/pipeline.json --param data_root=outputs/data/digits
    make preflight CLOUD_CONFIG=cloud.yaml

It takes what ``cloud.submit`` would send: the job that ``cloud/compiler.py`` compiles from the
cloud config (or the compiled job --spec names), its runtime parameters with each --param, and a
pipeline root, here a local folder that the job is moved to as ``submit --pipeline-root`` moves
it. Each task runs in dependency order through the command and arguments its executor has in the
spec, with the ExecutorInput a KFP or Vertex AI launcher builds (cloud/steps.py); resolver and
importer tasks are answered from a local ML Metadata store in KFP 2's layout, which also caches
steps as the backend does. Services that need Google Cloud (Vertex Training, Dataflow, a Vertex
endpoint) run in the step instead, and the preflight lists each change (cloud/standins.py).
Everything goes under <output-root>/preflight/<pipeline>/. Exit status: 0 every task ran; 1 a task
failed (one line names it and its error) or needs what has no local stand-in; 2 a bad flag,
configuration or spec (console/errors.py).
"""

import argparse
import datetime
import os
import shlex
import sys
import time
from typing import Sequence

from cloud import compiler, standins, steps, submit
from cloud import config as cloud_lib
from cloud.kfp_store import KfpStore
from console.errors import run_command
from console.summary import pushed_line, python_command
from pipeline import evaluation
from pipeline.config import DEFAULT_OUTPUT_ROOT, OUTPUT_ROOT_ENV, ConfigError


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cloud-config", help=f"YAML or JSON file to compile (default ${cloud_lib.ENV_VAR})")
    parser.add_argument("--spec", help="run this compiled pipeline job instead of compiling one")
    parser.add_argument(
        "--output-root", default=os.environ.get(OUTPUT_ROOT_ENV, DEFAULT_OUTPUT_ROOT), help="default %(default)s"
    )
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="runtime parameter")
    parser.add_argument("--no-cache", action="store_true", help="run every step, even with cached results")
    return parser.parse_args(argv)


def load_job(args: argparse.Namespace) -> dict:
    """The job submit would send: compiled now from the cloud config, or read from --spec."""
    if args.spec:
        return submit.read_job(args.spec)
    cloud = cloud_lib.load(args.cloud_config)
    name = cloud_lib.pipeline_config(cloud).pipeline_name
    return compiler.compile_pipeline(cloud, os.path.join(folder_of(args, name), compiler.OUTPUT_NAME))


def folder_of(args: argparse.Namespace, pipeline_name: str) -> str:
    """Where a pipeline's preflights write: its pipeline root, serving folder, store and logs."""
    return os.path.abspath(os.path.join(args.output_root, "preflight", pipeline_name))


def prepare(args: argparse.Namespace) -> tuple:
    """(the run, the changes made so it runs here); a job that would still reach Google Cloud is a ConfigError."""
    job = load_job(args)
    # A local folder given relative to here means the same to a step, which runs in the project folder.
    values = {k: os.path.abspath(v) if isinstance(v, str) and os.path.exists(v) else v
              for k, v in submit.parameter_values(job, args.param).items()}  # fmt: skip
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
    run = steps.Run(job, store, f"{name}-{stamp}", folder, values, caching=not args.no_cache)
    return run, notes


def _evaluation_lines(run: steps.Run) -> list:
    """Accuracy, example count, baseline and blessing, read from the run's published ``system.Metrics``."""
    published = run.artifacts_of("system.Metrics")
    if not published:
        return ["  evaluated      nothing: the run published no system.Metrics"]
    values = published[0]["metadata"]
    baseline = values.get(evaluation.PUBLISHED_BASELINE_ACCURACY)
    against = f"baseline {baseline:.4f}" if baseline is not None else "no baseline yet"
    accuracy, count = values[evaluation.PUBLISHED_ACCURACY], int(values[evaluation.PUBLISHED_COUNT])
    numbers = sum(isinstance(value, (int, float)) for value in values.values())  # not tfx_version
    classes = len(run.artifacts_of("system.ClassificationMetrics")[0]["metadata"]["confusionMatrix"]["rows"])
    return [
        f"  accuracy       {accuracy:.4f} on {count} evaluated examples ({against})",
        f"  blessed        {'yes' if values[evaluation.PUBLISHED_BLESSED] == 1 else 'no'}",
        f"  published      system.Metrics ({numbers} values) and a {classes}x{classes} confusion matrix",
    ]


def _pushed_line(run: steps.Run) -> str:
    """Where the Pusher put the model, or why it did not."""
    pushed = [artifact["metadata"] for artifact in run.artifacts_of("tfx.PushedModel")]
    return pushed_line(pushed[0] if pushed else {}, "nothing: the model was not blessed")


def summary_lines(run: steps.Run, notes: list, seconds: float, submit_args: str) -> list:
    """The block the preflight ends with: what ran, the verdict, what stood in for Google Cloud, what next."""
    name = run.store.pipeline.name
    cached = sum(1 for state in run.states.values() if state == "CACHED")
    python = python_command()
    return [
        f"Preflight {run.run_id} of {name}: COMPLETE in {seconds:.1f} s "
        f"({len(run.states)} tasks, {cached} from the cache)",
        *_evaluation_lines(run),
        _pushed_line(run),
        *(f"  stand-in       {note}" for note in notes),
        f"  store          {run.store.path}",
        f"  logs           {run.log_dir}",
        "Next:",
        f"  {python} -m inspection metrics --metadata-path {shlex.quote(run.store.path)} --pipeline-name {name}",
        f"  {python} -m cloud.submit {submit_args}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: prepares the job, runs every task and prints the summary; failures are one line."""
    args = parse_args(argv)

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

    return run_command("preflight", body)


if __name__ == "__main__":
    from console.quiet import quiet_libraries

    quiet_libraries()  # compiling loads TensorFlow: its start-up notices are not the preflight's output
    sys.exit(main())
