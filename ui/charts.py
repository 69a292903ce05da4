"""The geometry of the UI's charts, drawn as inline SVG by the templates (ui/templates/charts.html).

Pure functions from numbers to coordinates: line charts (the Trainer's epochs), bar charts
(probabilities, per-class accuracy, label counts), heat maps (confusion matrices) and graphs (the
DAG, lineage). No JavaScript and no image files: a page draws in one response, as text a test can read.
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple

from inspection import graph_layout

# The colours of an execution's state, and of a node that did not run.
STATE_FILL = {
    "COMPLETE": "#c8e6c9",
    "CACHED": "#cfd8dc",
    "FAILED": "#ffcdd2",
    "CANCELED": "#ffe0b2",
    "RUNNING": "#fff9c4",
    "NEW": "#fff9c4",
    "NOT RUN": "#ffffff",
}
SERIES_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00")
PAD = 44  # room for the axes' labels


def _ticks(low: float, high: float, count: int = 5) -> List[float]:
    """About ``count`` round values spanning [low, high]."""
    if high <= low:
        return [low]
    step = 10 ** math.floor(math.log10((high - low) / count))
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def line_chart(series: Dict[str, Sequence[Tuple[float, float]]], width: int = 320, height: int = 180) -> dict:
    """Polylines for each named series of (x, y) points on shared axes; points with a None y are left out."""
    points = [(x, y) for values in series.values() for x, y in values if y is not None]
    if not points:
        return {}
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x_low, x_high = min(xs), max(max(xs), min(xs) + 1)
    y_low, y_high = min(ys), max(ys)
    if y_high - y_low < 1e-12:
        y_low, y_high = y_low - 0.5 * (abs(y_low) or 1), y_high + 0.5 * (abs(y_high) or 1)

    left, top, right, bottom = PAD, 8, width - 8, height - 22

    def at(x: float, y: float) -> Tuple[float, float]:
        return (
            left + (x - x_low) / (x_high - x_low) * (right - left),
            top + (y_high - y) / (y_high - y_low) * (bottom - top),
        )

    lines = []
    for i, (name, values) in enumerate(series.items()):
        kept = [at(x, y) for x, y in values if y is not None]
        lines.append(
            {
                "name": name,
                "colour": SERIES_COLOURS[i % len(SERIES_COLOURS)],
                "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in kept),
                "dots": kept,
            }
        )
    return {
        "width": width,
        "height": height,
        "lines": lines,
        "x_ticks": [(at(t, y_low)[0], f"{t:g}") for t in _ticks(x_low, x_high) if float(t).is_integer()],
        "y_ticks": [(at(x_low, t)[1], f"{t:.3g}") for t in _ticks(y_low, y_high)],
        "plot": {"left": left, "top": top, "right": right, "bottom": bottom},
    }


def bar_chart(
    values: Sequence[Tuple[str, float]], width: int = 320, height: int = 160, top: Optional[float] = None
) -> dict:
    """Vertical bars, one per (label, value); the highest bar is marked; ``top`` fixes the scale (e.g. 1.0)."""
    if not values:
        return {}
    top = top if top is not None else max(max(v for _, v in values), 1e-12)
    slot = (width - PAD) / len(values)
    best = max(range(len(values)), key=lambda i: values[i][1])
    bars = []
    for i, (label, value) in enumerate(values):
        bar_height = max(0.0, min(value, top)) / top * (height - 40)
        bars.append(
            {
                "label": label,
                "value": value,
                "x": PAD + i * slot + slot * 0.1,
                "width": slot * 0.8,
                "y": height - 20 - bar_height,
                "height": bar_height,
                "best": i == best,
            }
        )
    return {"width": width, "height": height, "bars": bars, "top": top, "baseline": height - 20}


def heat_map(rows: Sequence[Sequence[float]], labels: Sequence[str], cell: int = 26) -> dict:
    """Cells of a confusion matrix (rows: actual class, columns: predicted), shaded by the row's share."""
    if not rows:
        return {}
    cells = []
    for i, row in enumerate(rows):
        total = sum(row) or 1.0
        for j, count in enumerate(row):
            share = count / total
            level = int(255 - 200 * share)
            cells.append(
                {
                    "x": PAD + j * cell,
                    "y": PAD + i * cell,
                    "count": int(count),
                    "fill": f"rgb({level},{level},255)" if i == j else f"rgb(255,{level},{level})",
                    "ink": "#fff" if level < 140 else "#000",
                    "title": f"actual {labels[i]}, predicted {labels[j]}: {int(count)}",
                }
            )
    size = PAD + len(labels) * cell + 4
    return {"width": size, "height": size, "cell": cell, "cells": cells, "labels": list(labels), "pad": PAD}


def graph(successors: Dict[str, set], labels: Dict[str, Sequence[str]], fills: Dict[str, str]) -> dict:
    """Boxes and arrows of a DAG laid out left to right (inspection/graph_layout.py).

    ``labels`` gives each node's lines of text (the first is its title), ``fills`` its colour.
    """
    if not successors:
        return {}
    box_w, box_h, gap_x, gap_y = 128, 44, 26, 14
    placed = graph_layout.positions(successors)
    rows = [row for _, row in placed.values()]
    top = max(rows)
    boxes = {
        node: {
            "id": node,
            "x": 8 + column * (box_w + gap_x),
            "y": 8 + (top - row) * (box_h + gap_y),
            "lines": list(labels.get(node, [node])),
            "fill": fills.get(node, "#ffffff"),
        }
        for node, (column, row) in placed.items()
    }
    edges = []
    for source, targets in successors.items():
        for target in sorted(targets):
            a, b = boxes[source], boxes[target]
            edges.append({"x1": a["x"] + box_w, "y1": a["y"] + box_h / 2, "x2": b["x"] - 3, "y2": b["y"] + box_h / 2})
    width = 16 + (max(c for c, _ in placed.values()) + 1) * (box_w + gap_x) - gap_x
    height = 16 + (top - min(rows) + 1) * (box_h + gap_y) - gap_y
    return {"width": width, "height": height, "box_w": box_w, "box_h": box_h, "boxes": boxes, "edges": edges}
