"""The inspection CLI's commands: each turns one query into (JSON data, text tables, a figure or None)."""

from typing import Dict, Sequence

from inspection import history, plots, results
from inspection.lineage import pushed_model_lineage
from inspection.store import MetadataError
from models.features import ACCURACY

EXAMPLE_COUNT = results.EXAMPLE_COUNT


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


def cmd_runs(store, pipeline_name: str, args) -> tuple:
    """Every run: state, start, end, duration, executions and cache hits."""
    records = history.runs(store, pipeline_name)
    if not records:
        history.get_run(store, pipeline_name)  # raises the "no runs" message
    data = [r.to_dict() for r in records]
    rows = [
        (d["run_id"], d["state"], d["started"], d["ended"], f"{d['seconds']:.1f}", d["executions"], len(d["cached"]))
        for d in data
    ]
    headers = ["run id", "state", "started", "ended", "seconds", "executions", "cached"]
    return data, f"Runs of {pipeline_name}\n{format_table(headers, rows)}", None


def cmd_executions(store, pipeline_name: str, args) -> tuple:
    """One run's executions per component: state, start, duration, cache hit."""
    run = history.get_run(store, pipeline_name, args.run)
    rows = [(e.node, e.id, e.state, e.to_dict()["started"], f"{e.seconds:.1f}") for e in run.executions]
    text = "\n".join(
        [
            f"Run {run.run_id}: {run.state}, {run.seconds:.1f} s, {len(run.executions)} executions, "
            f"{len(run.cached)} cache hits",
            format_table(["component", "execution", "state", "started", "seconds"], rows),
        ]
    )
    plot = plots.plot_durations(run) if args.plot else None
    return run.to_dict(with_executions=True), text, plot


def cmd_artifacts(store, pipeline_name: str, args) -> tuple:
    """One run's output artifacts by type, with their producer and URI."""
    run = history.get_run(store, pipeline_name, args.run)
    artifacts = [
        a for a in history.run_artifacts(store, pipeline_name, run.run_id) if not args.type or a.type_name == args.type
    ]
    rows = [
        (a.type_name, a.id, a.node, a.key, "cached" if a.cached else "", a.uri)
        for a in sorted(artifacts, key=lambda a: (a.type_name, a.id))
    ]
    text = "\n".join(
        [
            f"Artifacts of run {run.run_id}" + (f" of type {args.type}" if args.type else ""),
            format_table(["type", "id", "producer", "output", "reused", "uri"], rows),
        ]
    )
    return {"run_id": run.run_id, "artifacts": [a.to_dict() for a in artifacts]}, text, None


def cmd_anomalies(store, pipeline_name: str, args) -> tuple:
    """What ExampleValidator found in a run's data: one line per anomalous feature and split."""
    found = results.anomalies(store, pipeline_name, args.run)
    lines = [f"  {line}" for line in found["anomalies"]] or ["  none"]
    text = "\n".join([f"Anomalies in run {found['run_id']} ({found['state']}), from {found['uri']}", *lines])
    return found, text, None


def cmd_lineage(store, pipeline_name: str, args) -> tuple:
    """The pushed model's lineage: the executions that produced it and every artifact on the way."""
    run = history.get_run(store, pipeline_name, args.run, with_output="PushedModel")
    lineage = pushed_model_lineage(store, pipeline_name, run.run_id)
    target = lineage.target.properties
    pushed = f"pushed to {target.get('pushed_destination')}" if target.get("pushed") == 1 else "not pushed"
    executions = [
        (e.node, e.id, e.run_id, e.state, _artifact_list(lineage.inputs(e.id)), _artifact_list(lineage.outputs(e.id)))
        for e in lineage.ordered_executions()
    ]
    artifacts = [(a.label, a.node or "(baseline, not followed)", a.uri) for a in lineage.artifacts.values()]
    text = "\n".join(
        [
            f"Lineage of {lineage.target.label} in run {run.run_id} ({pushed})",
            format_table(["execution", "id", "run", "state", "inputs", "outputs"], executions),
            "",
            format_table(["artifact", "producer", "uri"], sorted(artifacts)),
        ]
    )
    data = dict(lineage.to_dict(), run_id=run.run_id)
    return data, text, plots.plot_lineage(lineage) if args.plot else None


def _artifact_list(by_key: Dict[str, list]) -> str:
    return ", ".join(f"{key}={'+'.join(a.label for a in artifacts)}" for key, artifacts in sorted(by_key.items()))


def cmd_metrics(store, pipeline_name: str, args) -> tuple:
    """A run's evaluation: overall and per-class metrics, the baseline's, and the blessing."""
    run = history.get_run(store, pipeline_name, args.run, with_output="ModelEvaluation")
    metrics = results.evaluation_metrics(store, run.run_id)
    verdict = results.blessing(store, run.run_id)
    baseline = metrics["baseline"] or {"overall": {}, "by_label": {}}
    names = sorted(metrics["overall"])
    overall = [(n, metrics["overall"][n], baseline["overall"].get(n)) for n in names]
    per_class = [
        (label, values.get(EXAMPLE_COUNT), values.get(ACCURACY), baseline["by_label"].get(label, {}).get(ACCURACY))
        for label, values in metrics["by_label"].items()
    ]
    examples = metrics["overall"].get(EXAMPLE_COUNT)
    on = f"on the {metrics['split']} split" + (f" ({int(examples)} examples)" if examples is not None else "")
    published = results.published_metrics(store, run.run_id)
    text = "\n".join(
        [
            f"Evaluation in run {run.run_id} {on}: {_verdict(verdict)}",
            *(f"  failed: {failure}" for failure in verdict["failures"]),
            format_table(["metric", "candidate", "baseline"], overall),
            "",
            format_table(["label", "examples", ACCURACY, "baseline"], per_class),
            "",
            "Published as system.Metrics (the KFP UI's run comparison, Vertex AI Experiments): "
            + (", ".join(f"{name} {_cell(value)}" for name, value in published.items()) or "nothing"),
        ]
    )
    series = {"candidate": metrics, **({"baseline": metrics["baseline"]} if metrics["baseline"] else {})}
    data = {"run_id": run.run_id, "metrics": metrics, "blessing": verdict, "published": published}
    return data, text, plots.plot_per_class(series) if args.plot else None


def _verdict(verdict: dict) -> str:
    baseline = verdict["baseline_model_id"]
    return (
        f"model {verdict['model_id']} {'BLESSED' if verdict['blessed'] else 'NOT blessed'}, "
        f"baseline {'model ' + str(baseline) if baseline else 'none'}"
    )


def cmd_compare(store, pipeline_name: str, args) -> tuple:
    """Two runs' evaluations side by side (default: the two most recent evaluated runs)."""
    run_b = history.get_run(store, pipeline_name, args.run, with_output="ModelEvaluation")
    if args.against:
        run_a = history.get_run(store, pipeline_name, args.against)
    else:
        evaluated = history.runs_with_output(store, pipeline_name, "ModelEvaluation")
        earlier = [r for r in evaluated if r.created_ms < run_b.created_ms]
        if not earlier:
            raise MetadataError(f"no evaluated run before {run_b.run_id!r} to compare with: give --against")
        run_a = earlier[-1]
    comparison = results.compare_runs(store, run_a.run_id, run_b.run_id)
    overall = [(n, v["a"], v["b"], v["delta"]) for n, v in comparison["overall"].items()]
    per_class = [
        (label, v[ACCURACY]["a"], v[ACCURACY]["b"], v[ACCURACY]["delta"])
        for label, v in comparison["by_label"].items()
        if ACCURACY in v
    ]
    text = "\n".join(
        [
            f"A = run {run_a.run_id}: {_verdict(comparison['blessings'][0])}",
            f"B = run {run_b.run_id}: {_verdict(comparison['blessings'][1])}",
            format_table(["metric", "A", "B", "B - A"], overall),
            "",
            f"{ACCURACY} per class",
            format_table(["label", "A", "B", "B - A"], per_class),
        ]
    )
    series = {f"A {run_a.run_id}": _one_side(comparison, "a"), f"B {run_b.run_id}": _one_side(comparison, "b")}
    return comparison, text, plots.plot_per_class(series) if args.plot else None


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


PLOTS = {
    "executions": "component durations",
    "lineage": "the lineage graph",
    "metrics": "per-class accuracy",
    "compare": "per-class accuracy of both runs",
}
