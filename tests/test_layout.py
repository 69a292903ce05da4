"""The layout's rules (docs/architecture.md): small modules and functions, unique names, honest formatting,
help for every flag of every command, and a command line that answers before TensorFlow loads."""

import argparse
import ast
import os
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
# Files that are modules by the import system's rules but named by it, not by us.
CONVENTIONAL = {"__init__", "__main__", "conftest"}


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


def tracked_python_files() -> list:
    """Every .py file git tracks or would track (untracked, not ignored), relative to the project root."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=True,
    ).stdout.split()
    return sorted(path for path in listed if os.path.exists(os.path.join(PROJECT_ROOT, path)))


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


def test_no_file_is_formatted_by_hand():
    skipped = []
    for path in tracked_python_files():
        with open(os.path.join(PROJECT_ROOT, path)) as f:
            skipped += [
                f"{path}:{n}" for n, line in enumerate(f, 1) if "fmt: " + "skip" in line or "fmt: " + "off" in line
            ]
    assert skipped == []


def test_no_two_modules_or_packages_share_a_name_nor_one_with_the_standard_library():
    owners = {}
    for path in tracked_python_files():
        name = os.path.splitext(os.path.basename(path))[0]
        if name not in CONVENTIONAL:
            owners.setdefault(name, []).append(path)
    for package in LISTS["PACKAGES"]:
        for folder, _, files in os.walk(os.path.join(PROJECT_ROOT, package)):
            if "__init__.py" in files:
                owners.setdefault(os.path.basename(folder), []).append(os.path.relpath(folder, PROJECT_ROOT) + "/")
    shared = {name: paths for name, paths in owners.items() if len(paths) > 1}
    assert shared == {}
    assert sorted(set(owners) & sys.stdlib_module_names) == []


def _parsers() -> dict:
    """Every command's parser, by the command a person types."""
    from benchmarks import cold_cached, common, rest_load, scale, startup, ui_pages
    from cloud import compiler, submit
    from cloud.preflight import main as preflight
    from data import prepare
    from inspection import command_line, schema
    from local import run
    from serving import options, predict, server
    from ui import start

    _, benchmark = common.build_parsers("benchmarks.cold_cached", cold_cached.__doc__)
    return {
        "local_runner.py": run.build_parser(),
        "kubeflow_v2_runner.py": compiler.build_parser(),
        "cloud.submit": submit.build_parser(),
        "cloud.preflight": preflight.build_parser(),
        "data.prepare": prepare.build_parser(),
        "inspection": command_line.build_parser(),
        "inspection.schema": schema.build_parser(),
        "serving.server": options.parser(server.PROG, server.__doc__),
        "serving.predict": predict.build_parser(),
        "benchmarks.cold_cached / peer": benchmark,
        "benchmarks.scale": scale.build_parser(),
        "benchmarks.rest_load": rest_load.build_parser(),
        "benchmarks.startup": startup.build_parser(),
        "benchmarks.ui_pages": ui_pages.build_parser(),
        "ui": start.build_parser(),
    }


def _unexplained(parser: argparse.ArgumentParser, where: str) -> list:
    """The flags of ``parser`` (and its subcommands) with no help text, and booleans not in the one grammar."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _unexplained(sub, f"{where} {name}")
        elif not (action.help or "").strip():
            found.append(f"{where} {action.option_strings or action.dest}: no help")
        elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)) and action.dest != "help":
            found.append(f"{where} {action.option_strings}: a boolean not in --x/--no-x form")
    return found


def test_every_flag_of_every_command_is_explained_and_booleans_share_one_grammar():
    found = [line for name, parser in _parsers().items() for line in _unexplained(parser, name)]
    assert found == []


@pytest.mark.parametrize(
    "module",
    [
        "cloud.submit",
        "kubeflow_v2_runner",
        "cloud.compiler",
        "pipeline.flags",
        "local.run",
        "serving.options",
        "ui.start",
    ],
)
def test_the_command_line_paths_import_no_tensorflow(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tfx')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True)
    assert result.stdout.strip() == "[]"
