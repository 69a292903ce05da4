"""Fingerprints of the module code each component runs, for TFX's cache keys.

Transform, Tuner and Trainer name their functions by import path (``models.training.run_fn``),
and TFX's cache key does not cover code imported that way. Each component's settings carry the
fingerprint of exactly the project files its entry module imports, directly or through other
project modules: editing ``preprocessing.py`` (or ``features.py``, which it imports) re-runs
Transform; editing ``model.py`` re-runs Tuner and Trainer but not Transform.
"""

import ast
import hashlib
import os
from typing import List

from pipeline.config import PROJECT_ROOT


def module_file(module: str, root: str) -> str | None:
    """The file of project module ``module`` under ``root`` (a package's ``__init__.py``), or None."""
    path = os.path.join(root, *module.split("."))
    for candidate in (path + ".py", os.path.join(path, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _imported_modules(path: str) -> List[str]:
    """The modules a file imports, with ``from package import name`` read as ``package.name`` too."""
    with open(path) as f:
        tree = ast.parse(f.read())
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
            modules += [f"{node.module}.{alias.name}" for alias in node.names]
    return modules


def project_files(module: str, root: str = PROJECT_ROOT) -> List[str]:
    """The project files importing ``module`` runs: itself, its packages' ``__init__``s and what they import."""
    seen, pending = set(), [module]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for depth in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:depth]), root)
            if path and path not in seen:
                seen.add(path)
                pending += _imported_modules(path)
    return sorted(seen)


def code_version(module: str, root: str = PROJECT_ROOT) -> str:
    """A short digest of the relative paths and bytes of ``project_files(module)``."""
    digest = hashlib.sha256()
    for path in project_files(module, root):
        with open(path, "rb") as f:
            digest.update(os.path.relpath(path, root).encode() + b"\0" + f.read())
    return digest.hexdigest()[:16]
