"""Figures of runs, evaluations and lineage (matplotlib on the Agg canvas: PNGs headless, inline in notebooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from inspection import graph_layout
from inspection.history import RunRecord
from inspection.lineage import Lineage
from models.features import ACCURACY

if TYPE_CHECKING:  # matplotlib loads in _figure: only --plot and the notebooks draw
    from matplotlib.figure import Figure

STATE_COLORS = {"COMPLETE": "tab:blue", "CACHED": "tab:gray", "FAILED": "tab:red", "RUNNING": "tab:orange"}


def _figure(width: float, height: float) -> Figure:
    """A figure drawn by the Agg canvas: PNGs with no display and no pyplot state (notebooks show it inline)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_durations(run: RunRecord) -> Figure:
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


def plot_lineage(lineage: Lineage) -> Figure:
    """The lineage as a left-to-right graph: artifacts (rounded) and executions (square), sources first."""
    successors = lineage.successors()
    positions = graph_layout.positions(successors)
    width = max(x for x, _ in positions.values()) + 1
    height = max(sum(1 for other in positions.values() if other[0] == x) for x, _ in positions.values())
    figure = _figure(1.7 * width + 0.5, 0.9 * height + 1.2)
    axes = figure.add_subplot()
    texts = {node: _draw_node(axes, lineage, node, xy) for node, xy in positions.items()}
    for source, targets in successors.items():
        for target in targets:
            axes.annotate(
                "",
                xy=(0, 0.5),
                xycoords=texts[target],
                xytext=(1, 0.5),
                textcoords=texts[source],
                arrowprops=dict(arrowstyle="-|>", color="0.45", shrinkA=4, shrinkB=4),
            )
    axes.set_xlim(-0.6, width - 0.4)
    axes.set_ylim(-height / 2 - 0.2, height / 2 + 0.2)
    axes.axis("off")
    axes.set_title(f"Lineage of {lineage.target.label}")
    return figure


def _draw_node(axes, lineage: Lineage, node: str, xy: tuple):
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
