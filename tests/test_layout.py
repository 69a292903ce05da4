"""The layout's rules (README.md, "Layout"): small modules and functions, no stdlib names, a light cloud CLI."""

import ast
import os
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def setup_lists() -> dict:
    """The literal lists setup.py installs: PACKAGES and RUNNERS."""
    with open(os.path.join(PROJECT_ROOT, "setup.py")) as f:
        tree = ast.parse(f.read())
    assigned = [node for node in tree.body if isinstance(node, ast.Assign)]
    return {target.id: ast.literal_eval(node.value) for node in assigned for target in node.targets}


LISTS = setup_lists()


def product_modules() -> list:
    """Every .py file the project installs (packages and the root runners), relative to the project root."""
    paths = [f"{name}.py" for name in LISTS["RUNNERS"]]
    for package in LISTS["PACKAGES"]:
        for folder, _, files in os.walk(os.path.join(PROJECT_ROOT, package)):
            paths += [os.path.relpath(os.path.join(folder, f), PROJECT_ROOT) for f in files if f.endswith(".py")]
    return sorted(paths)


def test_every_product_module_is_at_most_300_lines_and_every_function_at_most_60():
    long_modules, long_functions = [], []
    for path in product_modules():
        with open(os.path.join(PROJECT_ROOT, path)) as f:
            source = f.read()
        if source.count("\n") > MAX_MODULE_LINES:
            long_modules.append(path)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path}:{node.lineno} {node.name}")
    assert long_modules == [] and long_functions == []


def test_no_module_or_package_shares_a_name_with_the_standard_library():
    names = set(LISTS["PACKAGES"]) | set(LISTS["RUNNERS"])
    names |= {os.path.splitext(os.path.basename(path))[0] for path in product_modules()}
    assert sorted(names & sys.stdlib_module_names) == []


@pytest.mark.parametrize("module", ["cloud.submit", "kubeflow_v2_runner", "cloud.compiler", "pipeline.flags"])
def test_the_cloud_command_line_path_imports_no_tensorflow(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tfx')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True)
    assert result.stdout.strip() == "[]"
