"""Inspect the pipeline's runs through ML Metadata: tables, JSON (``--json``) and PNG plots (``--plot``).

    python -m pipeline.inspect runs
    python -m pipeline.inspect executions [--run RUN_ID] [--plot durations.png]
    python -m pipeline.inspect artifacts [--run RUN_ID] [--type Examples]
    python -m pipeline.inspect lineage [--run RUN_ID] [--plot lineage.png]
    python -m pipeline.inspect metrics [--run RUN_ID] [--plot per_class.png]
    python -m pipeline.inspect compare [--run RUN_ID] [--against RUN_ID] [--plot compare.png]
    python -m pipeline.inspect anomalies [--run RUN_ID]

The store is found from the pipeline's own flags, given after the command: --output-root,
--dataset, --pipeline-name, --metadata-path (any ``python -m pipeline.local_runner`` flag is
accepted), or --grpc-host/--grpc-port for a metadata gRPC service such as Kubeflow's. Run ids
are the ones ``runs`` lists. ``latest`` (the default) is the most recent run; for lineage,
metrics and compare, the most recent run that pushed a model or evaluated one.

The queries live in ``pipeline.metadata``; this module only formats them (and the notebooks
reuse its plots).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

from pipeline import metadata

if TYPE_CHECKING:  # matplotlib loads in _figure: only --plot and the notebooks draw
    from matplotlib.figure import Figure

# The Evaluator's accuracy metric (the SparseCategoricalAccuracy of pipeline.pipeline.eval_config).
ACCURACY, EXAMPLE_COUNT = metadata.ACCURACY, metadata.EXAMPLE_COUNT
STATE_COLORS = {"COMPLETE": "tab:blue", "CACHED": "tab:gray", "FAILED": "tab:red", "RUNNING": "tab:orange"}


def format_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain-text table with left-aligned columns sized to their widest cell."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value) -> str:
    """Floats to 4 decimals unless whole (counts, exact scores), None as blank."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4f}"
    return str(value)


def _figure(width: float, height: float) -> Figure:
    """A figure drawn by the Agg canvas: PNGs with no display and no pyplot state (notebooks show it inline)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_durations(run: metadata.RunRecord) -> Figure:
    """Horizontal bars of each component's wall time in a run, coloured by state (grey: cache hit)."""
    executions = run.executions
    figure = _figure(8, 1.5 + 0.35 * len(executions))
    axes = figure.add_subplot()
    positions = list(range(len(executions)))
    bars = axes.barh(positions, [e.seconds for e in executions], color=[_state_color(e.state) for e in executions])
    axes.bar_label(bars, labels=[f"{e.seconds:.1f} s" for e in executions], padding=3, fontsize=8)
    axes.set_yticks(positions, [e.node for e in executions])
    axes.invert_yaxis()  # first component on top
    axes.set_xlabel("seconds")
    axes.set_title(f"Component durations, run {run.run_id} ({len(run.cached)} cached)")
    for state in sorted({e.state for e in executions}):
        axes.barh([], [], color=_state_color(state), label=state)  # one legend entry per state present
    axes.legend(loc="lower right")
    return figure


def _state_color(state: str) -> str:
    return STATE_COLORS.get(state, "tab:purple")


def plot_per_class(series: Dict[str, dict], metric: str = ACCURACY) -> Figure:
    """Grouped bars of ``metric`` per class, one bar per series (e.g. candidate and baseline, or two runs).

    Each series is an ``evaluation_metrics`` dict; its overall value is drawn as a dashed line.
    """
    figure = _figure(9, 4)
    axes = figure.add_subplot()
    labels = sorted({label for m in series.values() for label in m["by_label"]})
    width = 0.8 / max(len(series), 1)
    values_seen = []
    for i, (name, metrics) in enumerate(series.items()):
        values = [metrics["by_label"].get(label, {}).get(metric) or 0.0 for label in labels]
        values_seen += values
        offsets = [x - 0.4 + width * (i + 0.5) for x in range(len(labels))]
        axes.bar(offsets, values, width, label=name, color=f"C{i}")
        overall = metrics["overall"].get(metric)
        if overall is not None:
            axes.axhline(overall, color=f"C{i}", linestyle="--")
    axes.set_xticks(range(len(labels)), [str(label) for label in labels])
    axes.set_xlabel("class (label)")
    axes.set_ylabel(metric)
    if values_seen and max(values_seen) <= 1.0:
        axes.set_ylim(max(0.0, min(values_seen) - 0.05), 1.0)  # accuracies differ in the last few percent
    axes.set_title(f"{metric} per class (dashed: overall)")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=len(series))  # below: bars reach the top
    return figure


def plot_lineage(lineage: metadata.Lineage) -> Figure:
    """The lineage as a left-to-right graph: artifacts (rounded) and executions (square), sources first."""
    successors = {}
    for edge in lineage.edges:
        artifact, execution = f"a{edge.artifact_id}", f"e{edge.execution_id}"
        source, target = (artifact, execution) if edge.direction == "input" else (execution, artifact)
        successors.setdefault(source, set()).add(target)
        successors.setdefault(target, set())
    successors.setdefault(f"a{lineage.target.id}", set())
    depth = {}

    def distance_to_target(node: str) -> int:
        if node not in depth:
            depth[node] = 1 + max((distance_to_target(s) for s in successors[node]), default=-1)
        return depth[node]

    columns: Dict[int, List[str]] = {}
    for node in successors:
        columns.setdefault(distance_to_target(node), []).append(node)
    positions = _layered_positions(columns, successors)
    width, height = max(columns) + 1, max(len(c) for c in columns.values())
    figure = _figure(1.7 * width + 0.5, 0.9 * height + 1.2)
    axes = figure.add_subplot()
    texts = {node: _draw_node(axes, lineage, node, xy) for node, xy in positions.items()}
    for source, targets in successors.items():
        for target in targets:
            axes.annotate(
                "", xy=(0, 0.5), xycoords=texts[target], xytext=(1, 0.5), textcoords=texts[source],
                arrowprops=dict(arrowstyle="-|>", color="0.45", shrinkA=4, shrinkB=4),
            )  # fmt: skip
    axes.set_xlim(-0.6, width - 0.4)
    axes.set_ylim(-height / 2 - 0.2, height / 2 + 0.2)
    axes.axis("off")
    axes.set_title(f"Lineage of {lineage.target.label}")
    return figure


def _layered_positions(columns: Dict[int, List[str]], successors: Dict[str, set]) -> Dict[str, tuple]:
    """(x, y) per node: the target in the right-most column; each column ordered by its successors' heights."""
    positions = {}
    last = max(columns)
    for distance in sorted(columns):
        nodes = columns[distance]
        heights = {n: [positions[s][1] for s in successors[n] if s in positions] for n in nodes}
        nodes.sort(key=lambda n: (-(sum(heights[n]) / len(heights[n])) if heights[n] else 0.0, n))
        for i, node in enumerate(nodes):
            positions[node] = (last - distance, (len(nodes) - 1) / 2 - i)
    return positions


def _draw_node(axes, lineage: metadata.Lineage, node: str, xy: tuple):
    """One box: an artifact (type#id and output key) or an execution (node and execution id)."""
    kind, number = node[0], int(node[1:])
    if kind == "e":
        execution = lineage.executions[number]
        text, style = f"{execution.node}\nexecution {execution.id}", dict(boxstyle="square", fc="moccasin")
    else:
        artifact = lineage.artifacts[number]
        text = f"{artifact.label}\n{artifact.key or 'baseline'}"
        colour = "palegreen" if number == lineage.target.id else "lightblue" if artifact.node else "lightgray"
        style = dict(boxstyle="round", fc=colour)
    return axes.text(*xy, text, ha="center", va="center", fontsize=8, bbox=dict(style, ec="0.4"))


class UsageError(ValueError):
    """The flags describe no valid pipeline configuration."""


def cmd_runs(store, pipeline_name: str, args) -> tuple:
    """Every run: state, start, end, duration, executions and cache hits."""
    records = metadata.runs(store, pipeline_name)
    if not records:
        metadata.get_run(store, pipeline_name)  # raises the "no runs" message
    data = [r.to_dict() for r in records]
    rows = [
        (d["run_id"], d["state"], d["started"], d["ended"], f"{d['seconds']:.1f}", d["executions"], len(d["cached"]))
        for d in data
    ]
    headers = ["run id", "state", "started", "ended", "seconds", "executions", "cached"]
    return data, f"Runs of {pipeline_name}\n{format_table(headers, rows)}", None


def cmd_executions(store, pipeline_name: str, args) -> tuple:
    """One run's executions per component: state, start, duration, cache hit."""
    run = metadata.get_run(store, pipeline_name, args.run)
    rows = [(e.node, e.id, e.state, e.to_dict()["started"], f"{e.seconds:.1f}") for e in run.executions]
    text = "\n".join([
        f"Run {run.run_id}: {run.state}, {run.seconds:.1f} s, {len(run.executions)} executions, "
        f"{len(run.cached)} cache hits",
        format_table(["component", "execution", "state", "started", "seconds"], rows),
    ])  # fmt: skip
    plot = plot_durations(run) if args.plot else None
    return run.to_dict(with_executions=True), text, plot


def cmd_artifacts(store, pipeline_name: str, args) -> tuple:
    """One run's output artifacts by type, with their producer and URI."""
    run = metadata.get_run(store, pipeline_name, args.run)
    artifacts = [a for a in metadata.run_artifacts(store, pipeline_name, run.run_id)
                 if not args.type or a.type_name == args.type]  # fmt: skip
    rows = [(a.type_name, a.id, a.node, a.key, "cached" if a.cached else "", a.uri)
            for a in sorted(artifacts, key=lambda a: (a.type_name, a.id))]  # fmt: skip
    text = "\n".join([
        f"Artifacts of run {run.run_id}" + (f" of type {args.type}" if args.type else ""),
        format_table(["type", "id", "producer", "output", "reused", "uri"], rows),
    ])  # fmt: skip
    return {"run_id": run.run_id, "artifacts": [a.to_dict() for a in artifacts]}, text, None


def cmd_anomalies(store, pipeline_name: str, args) -> tuple:
    """What ExampleValidator found in a run's data: one line per anomalous feature and split."""
    found = metadata.anomalies(store, pipeline_name, args.run)
    lines = [f"  {line}" for line in found["anomalies"]] or ["  none"]
    text = "\n".join([f"Anomalies in run {found['run_id']} ({found['state']}), from {found['uri']}", *lines])
    return found, text, None


def cmd_lineage(store, pipeline_name: str, args) -> tuple:
    """The pushed model's lineage: the executions that produced it and every artifact on the way."""
    run = metadata.get_run(store, pipeline_name, args.run, with_output="PushedModel")
    lineage = metadata.pushed_model_lineage(store, pipeline_name, run.run_id)
    target = lineage.target.properties
    pushed = f"pushed to {target.get('pushed_destination')}" if target.get("pushed") == 1 else "not pushed"
    executions = [
        (e.node, e.id, e.run_id, e.state, _artifact_list(lineage.inputs(e.id)), _artifact_list(lineage.outputs(e.id)))
        for e in lineage.ordered_executions()
    ]
    artifacts = [(a.label, a.node or "(baseline, not followed)", a.uri) for a in lineage.artifacts.values()]
    text = "\n".join([
        f"Lineage of {lineage.target.label} in run {run.run_id} ({pushed})",
        format_table(["execution", "id", "run", "state", "inputs", "outputs"], executions),
        "",
        format_table(["artifact", "producer", "uri"], sorted(artifacts)),
    ])  # fmt: skip
    data = dict(lineage.to_dict(), run_id=run.run_id)
    return data, text, plot_lineage(lineage) if args.plot else None


def _artifact_list(by_key: Dict[str, list]) -> str:
    return ", ".join(f"{key}={'+'.join(a.label for a in artifacts)}" for key, artifacts in sorted(by_key.items()))


def cmd_metrics(store, pipeline_name: str, args) -> tuple:
    """A run's evaluation: overall and per-class metrics, the baseline's, and the blessing."""
    run = metadata.get_run(store, pipeline_name, args.run, with_output="ModelEvaluation")
    metrics = metadata.evaluation_metrics(store, run.run_id)
    verdict = metadata.blessing(store, run.run_id)
    baseline = metrics["baseline"] or {"overall": {}, "by_label": {}}
    names = sorted(metrics["overall"])
    overall = [(n, metrics["overall"][n], baseline["overall"].get(n)) for n in names]
    per_class = [
        (label, values.get(EXAMPLE_COUNT), values.get(ACCURACY), baseline["by_label"].get(label, {}).get(ACCURACY))
        for label, values in metrics["by_label"].items()
    ]
    text = "\n".join([
        f"Evaluation in run {run.run_id}: {_verdict(verdict)}",
        *(f"  failed: {failure}" for failure in verdict["failures"]),
        format_table(["metric", "candidate", "baseline"], overall),
        "",
        format_table(["label", "examples", ACCURACY, "baseline"], per_class),
    ])  # fmt: skip
    series = {"candidate": metrics, **({"baseline": metrics["baseline"]} if metrics["baseline"] else {})}
    data = {"run_id": run.run_id, "metrics": metrics, "blessing": verdict}
    return data, text, plot_per_class(series) if args.plot else None


def _verdict(verdict: dict) -> str:
    baseline = verdict["baseline_model_id"]
    return (f"model {verdict['model_id']} {'BLESSED' if verdict['blessed'] else 'NOT blessed'}, "
            f"baseline {'model ' + str(baseline) if baseline else 'none'}")  # fmt: skip


def cmd_compare(store, pipeline_name: str, args) -> tuple:
    """Two runs' evaluations side by side (default: the two most recent evaluated runs)."""
    run_b = metadata.get_run(store, pipeline_name, args.run, with_output="ModelEvaluation")
    if args.against:
        run_a = metadata.get_run(store, pipeline_name, args.against)
    else:
        evaluated = metadata.runs_with_output(store, pipeline_name, "ModelEvaluation")
        earlier = [r for r in evaluated if r.created_ms < run_b.created_ms]
        if not earlier:
            raise metadata.MetadataError(f"no evaluated run before {run_b.run_id!r} to compare with: give --against")
        run_a = earlier[-1]
    comparison = metadata.compare_runs(store, run_a.run_id, run_b.run_id)
    overall = [(n, v["a"], v["b"], v["delta"]) for n, v in comparison["overall"].items()]
    per_class = [(label, v[ACCURACY]["a"], v[ACCURACY]["b"], v[ACCURACY]["delta"])
                 for label, v in comparison["by_label"].items() if ACCURACY in v]  # fmt: skip
    text = "\n".join([
        f"A = run {run_a.run_id}: {_verdict(comparison['blessings'][0])}",
        f"B = run {run_b.run_id}: {_verdict(comparison['blessings'][1])}",
        format_table(["metric", "A", "B", "B - A"], overall),
        "",
        f"{ACCURACY} per class",
        format_table(["label", "A", "B", "B - A"], per_class),
    ])  # fmt: skip
    series = {f"A {run_a.run_id}": _one_side(comparison, "a"), f"B {run_b.run_id}": _one_side(comparison, "b")}
    return comparison, text, plot_per_class(series) if args.plot else None


def _one_side(comparison: dict, side: str) -> dict:
    """One run's metrics out of a comparison, shaped like ``evaluation_metrics`` (for ``plot_per_class``)."""

    def values(rows: dict) -> dict:
        return {name: row[side] for name, row in rows.items()}

    return {
        "overall": values(comparison["overall"]),
        "by_label": {k: values(v) for k, v in comparison["by_label"].items()},
    }


# Each command returns (data for --json, the text tables, a Figure for --plot or None).
COMMANDS = {
    "runs": cmd_runs,
    "executions": cmd_executions,
    "artifacts": cmd_artifacts,
    "anomalies": cmd_anomalies,
    "lineage": cmd_lineage,
    "metrics": cmd_metrics,
    "compare": cmd_compare,
}
PLOTS = {"executions": "component durations", "lineage": "the lineage graph", "metrics": "per-class accuracy",
         "compare": "per-class accuracy of both runs"}  # fmt: skip


STORE_FLAGS = (
    "The store: the pipeline's own flags (--output-root, --dataset, --pipeline-name, --metadata-path, or any "
    "other python -m pipeline.local_runner flag), or --grpc-host/--grpc-port."
)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser; pipeline flags it does not know are left for ``pipeline.config``."""
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    common.add_argument("--grpc-host", default="", help="metadata gRPC service host (instead of the SQLite store)")
    common.add_argument("--grpc-port", type=int, default=metadata.GRPC_PORT, help="metadata gRPC service port")
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.inspect",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, parents=[common], help=command.__doc__, description=command.__doc__,
                                  epilog=STORE_FLAGS, allow_abbrev=False)  # fmt: skip
        if name != "runs":
            sub.add_argument("--run", default=metadata.LATEST, help="run id (default: latest)")
        if name == "artifacts":
            sub.add_argument("--type", default="", help="only artifacts of this type, e.g. Examples")
        if name == "compare":
            sub.add_argument("--against", default="", help="run id to compare with (default: the evaluated run before)")
        if name in PLOTS:
            sub.add_argument("--plot", default="", metavar="OUT.png", help=f"also write a PNG of {PLOTS[name]}")
    return parser


def _pipeline_config(flags: List[str]):
    """The pipeline config the flags describe: where its store is and the pipeline's name."""
    # Imported here, not at the top: the config loads TensorFlow, which --help and usage errors never need.
    from pipeline import config as config_lib

    try:
        return config_lib.parse_args(flags, description="pipeline flags for python -m pipeline.inspect")
    except config_lib.ConfigError as err:
        raise UsageError(str(err)) from err


def _quiet_libraries() -> None:
    """Keeps TensorFlow's and Google's start-up notices off the terminal (command line only, before TF loads)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.simplefilter("ignore", FutureWarning)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: runs one command; a missing store, unknown run or bad flag is one line on stderr."""
    args, pipeline_flags = build_parser().parse_known_args(argv)
    try:
        config = _pipeline_config(pipeline_flags)
        where = f"{args.grpc_host}:{args.grpc_port}" if args.grpc_host else config.metadata_path
        store = metadata.open_store(config.metadata_path, args.grpc_host, args.grpc_port)
        data, text, plot = COMMANDS[args.command](store, config.pipeline_name, args)
    except UsageError as err:
        print(f"inspect: configuration error: {err}", file=sys.stderr)
        return 2
    except metadata.MetadataError as err:
        print(f"inspect: {err}", file=sys.stderr)
        return 1
    except metadata.StoreError as err:
        print(f"inspect: metadata store {where}: {err}", file=sys.stderr)
        return 1
    print(json.dumps(data, indent=2, default=str) if args.json else text)
    if plot is not None:
        try:
            plot.savefig(args.plot, dpi=120)
        except OSError as err:
            print(f"inspect: cannot write {args.plot}: {err.strerror}", file=sys.stderr)
            return 1
        print(f"inspect: wrote {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    _quiet_libraries()
    sys.exit(main())
