"""Lets a runner in pipeline/ run as a script (``python pipeline/x.py``, or the tfx CLI).

A script's own folder comes first on ``sys.path``, so there ``import pipeline`` would find
pipeline/pipeline.py instead of the package. A runner imports this module by its bare name
(from that same folder) before anything from the project, then calls ``use_project_root``.
"""

import os
import sys


def use_project_root(script: str) -> None:
    """Replaces ``script``'s folder on ``sys.path`` with the project root, its parent."""
    here = os.path.dirname(os.path.realpath(script))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]
    sys.path.insert(0, os.path.dirname(here))
