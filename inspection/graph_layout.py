"""Where to draw the boxes of a small directed acyclic graph: a pipeline's DAG or an artifact's lineage.

Layered left to right: a node's column is its longest path to a sink (sinks in the right-most
column), so every edge points right; within a column, nodes sit near the successors they feed.
Shared by the matplotlib plots (inspection/plots.py) and the web UI's SVG (ui/charts.py).
"""

from typing import Dict, List


def longest_paths(successors: Dict[str, set]) -> Dict[str, int]:
    """Each node's longest path (in edges) to a node with no successors; every node must be a key."""
    depth: Dict[str, int] = {}
    for start in sorted(successors):
        stack = [start]
        while stack:  # iterative, so a long chain cannot exhaust the recursion limit
            node = stack[-1]
            pending = [s for s in successors[node] if s not in depth]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            depth[node] = 1 + max((depth[s] for s in successors[node]), default=-1)
    return depth


def positions(successors: Dict[str, set]) -> Dict[str, tuple]:
    """(column, row) per node: sinks in the right-most column, each column ordered by its successors' rows.

    Rows are centred on 0, so columns of different heights line up on the middle.
    """
    depth = longest_paths(successors)
    columns: Dict[int, List[str]] = {}
    for node, distance in depth.items():
        columns.setdefault(distance, []).append(node)
    placed: Dict[str, tuple] = {}
    last = max(columns, default=0)
    for distance in sorted(columns):
        nodes = columns[distance]
        rows = {n: [placed[s][1] for s in successors[n] if s in placed] for n in nodes}
        nodes.sort(key=lambda n: (-(sum(rows[n]) / len(rows[n])) if rows[n] else 0.0, n))
        for i, node in enumerate(nodes):
            placed[node] = (last - distance, (len(nodes) - 1) / 2 - i)
    return placed
