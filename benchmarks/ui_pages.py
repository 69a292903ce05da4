"""Benchmark (prints figures, asserts nothing): the web UI's runs and run pages with many runs in the store.

    python -m benchmarks.ui_pages [--output-root DIR --preset P] [--runs 200] [--requests 20]

Takes the newest run of a local store (by default it makes one: a quick digits run in a temporary
folder), copies the store and records that run again until the copy holds ``--runs`` runs, each
with its own executions and run context, the same artifacts, as reruns from the cache record them.
It then starts the UI on the copy and times GET / and GET /runs/{id} over HTTP on loopback, and
the "Try it" page's request: one drawn image through POST /serving/v1/models/{name}:predict.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
from ml_metadata.proto import metadata_store_pb2 as pb

from benchmarks.service_process import ServiceProcess
from cli.parsing import Parser
from inspection import run_table
from inspection.store import open_store
from local.bookkeeping import writable_store
from pipeline import flags


def build_parser() -> Parser:
    """Every flag of ``python -m benchmarks.ui_pages``: its own, then the pipeline's (they locate the run)."""
    parser = Parser("benchmarks.ui_pages", __doc__)
    parser.add_argument("--runs", type=int, default=200, help="runs in the copied store")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    flags.add_flags(parser)
    return parser


def replicate(source_path: str, copy_path: str, pipeline_name: str, runs: int) -> list:
    """Copies the store and records its newest run again until it holds ``runs`` runs; returns their ids."""
    with open(source_path, "rb") as src, open(copy_path, "wb") as dst:
        dst.write(src.read())
    store = writable_store(copy_path)
    contexts = run_table.run_contexts(store, pipeline_name)
    newest = contexts[0]
    pipeline = store.get_parent_contexts_by_context(newest.id)[0]
    executions = store.get_executions_by_context(newest.id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))}
    own = (pipeline.id, newest.id)
    nodes = {e.id: [c for c in store.get_contexts_by_execution(e.id) if c.id not in own] for e in executions}
    for copy in range(runs - len(contexts)):
        context = pb.Context()
        context.CopyFrom(newest)
        context.ClearField("id")
        context.name = f"{newest.name}-copy{copy:04d}"
        [context.id] = store.put_contexts([context])
        store.put_parent_contexts([pb.ParentContext(child_id=context.id, parent_id=pipeline.id)])
        for execution in executions:
            clone = pb.Execution()
            clone.CopyFrom(execution)
            clone.ClearField("id")
            clone.ClearField("name")
            pairs = [(artifacts[e.artifact_id], _event(e)) for e in events if e.execution_id == execution.id]
            store.put_execution(clone, pairs, [pipeline, context, *nodes[execution.id]])
    return [c.name for c in run_table.run_contexts(store, pipeline_name)]


def _event(event: pb.Event) -> pb.Event:
    """The event for the copied execution: the same kind and path, to the same artifact."""
    copy = pb.Event(type=event.type)
    copy.path.CopyFrom(event.path)
    return copy


def timed(url: str, count: int, body: dict = None) -> list:
    """Milliseconds of ``count`` sequential GETs of ``url`` (POSTs of ``body``) after one untimed warm-up."""
    with httpx.Client(timeout=120) as client:

        def ask():
            response = client.post(url, json=body) if body is not None else client.get(url)
            response.raise_for_status()

        ask()
        times = []
        for _ in range(count):
            started = time.perf_counter()
            ask()
            times.append(1000 * (time.perf_counter() - started))
    return times


def drawn_digit(shape: list) -> dict:
    """A predict request for one image of ``shape`` with a vertical stroke, as the canvas sends it."""
    height, width, channels = shape
    rows = [
        [[255 if abs(x - width // 2) <= 1 and 4 <= y < height - 4 else 0] * channels for x in range(width)]
        for y in range(height)
    ]
    return {"instances": [rows]}


def main(argv=None) -> int:
    """Builds the store of many runs, starts the UI on it and prints the pages' response times."""
    values = vars(build_parser().parse_args(argv))
    runs, count = values.pop("runs"), values.pop("requests")
    work = tempfile.mkdtemp(prefix="ui-bench-")
    if not values.get("output_root"):
        values.update(output_root=work, preset="digits", quick=True)
        data = os.path.join(work, "data", "digits")
        subprocess.run([sys.executable, "-m", "data.prepare", "digits", data], check=True)
        run = [sys.executable, "local_runner.py", "--preset", "digits", "--quick", "--output-root", work]
        subprocess.run(run, check=True)
    config = flags.from_flags(values)
    copy = os.path.join(work, "many-runs.db")
    started = time.perf_counter()
    run_ids = replicate(config.metadata_path, copy, config.pipeline_name, runs)
    print(f"store with {len(run_ids)} runs built in {time.perf_counter() - started:.1f} s: {copy}")
    print(f"runs page rows: {len(run_table.run_page(open_store(copy), config.pipeline_name)[1])} (a page)")
    command = [sys.executable, "-m", "ui", "--metadata-path", copy, "--serving-dir", config.serving_dir]
    command += ["--pipeline-name", config.pipeline_name]
    with ServiceProcess(lambda port: [*command, "--port", str(port)], os.path.join(work, "ui.log"), "/") as ui:
        for name, path in (("runs page /", "/"), ("run page /runs/{id}", f"/runs/{run_ids[len(run_ids) // 2]}")):
            report(name, timed(ui.url + path, count), f"{len(run_ids)} runs in the store")
        api = f"{ui.url}/serving/v1/models/{config.pipeline_name}"
        shape = httpx.get(api + "/metadata", timeout=120).json()["metadata"]["image_shape"]
        report("a drawn digit, POST :predict", timed(api + ":predict", count, drawn_digit(shape)), f"image {shape}")
    return 0


def report(name: str, times: list, what: str) -> None:
    """One line: the median and the slowest of the timed requests."""
    median, slowest = statistics.median(times), max(times)
    print(f"{name}: median {median:.1f} ms, max {slowest:.1f} ms over {len(times)} requests, {what}")


if __name__ == "__main__":
    sys.exit(main())
