"""Each notebook in notebooks/ runs headless (nbclient) against the session's run (conftest ``mnist_run``).

The notebooks read the store from environment variables; the tests point them at the session's
first run by id, since other test modules may run the pipeline again.
"""

import os
import re
import sys

import nbformat
import pytest
from conftest import MNIST_COUNT, PROJECT_ROOT
from nbclient import NotebookClient

from data.layout import SPLITS
from inspection import history
from inspection import store as store_lib
from models.features import ACCURACY

NOTEBOOKS = os.path.join(PROJECT_ROOT, "notebooks")
NAMES = ["data_validation", "model_analysis", "metadata_explorer"]


def execute(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Runs every cell in a fresh "python3" kernel started in notebooks/; raises on a cell's error."""
    # No per-cell time limit (the tests carry no wall-clock limits); the start-up one only catches a dead kernel.
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=None,
        startup_timeout=600,
        resources={"metadata": {"path": NOTEBOOKS}},
    )
    return client.execute()


def text_of(notebook: nbformat.NotebookNode) -> str:
    """Everything the cells printed or displayed as text."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in ("display_data", "execute_result"):
                parts.append(output.data.get("text/plain", ""))
                parts.append(output.data.get("text/html", ""))
    return "\n".join(parts)


def images_in(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for cell in notebook.cells for o in cell.get("outputs", []))


@pytest.fixture(scope="module")
def notices_log(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("notebooks") / "notices.log")


@pytest.fixture(scope="module")
def executed(mnist_run, notices_log) -> dict:
    """Each notebook, executed against the session's first run."""
    env = {
        "PIPELINE_METADATA_PATH": mnist_run.config.metadata_path,
        "PIPELINE_NAME": mnist_run.config.pipeline_name,
        "PIPELINE_RUN_ID": mnist_run.first_run.run_id,
        "PIPELINE_NOTEBOOK_LOG": notices_log,
    }
    with pytest.MonkeyPatch.context() as patch:  # the kernels inherit this process's environment
        for name, value in env.items():
            patch.setenv(name, value)
        return {name: execute(nbformat.read(os.path.join(NOTEBOOKS, f"{name}.ipynb"), as_version=4)) for name in NAMES}


def test_the_kernel_is_this_virtualenvs_python():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    (output,) = execute(notebook).cells[0].outputs
    assert output.text.strip() == sys.prefix


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_committed_clean_and_read_the_store_from_the_environment(name):
    notebook = nbformat.read(os.path.join(NOTEBOOKS, f"{name}.ipynb"), as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    first = notebook.cells[0]
    # One call into the tested helper (inspection.notebook.open_target), identical in every notebook.
    assert first.cell_type == "code" and "target = open_target()" in first.source
    with open(os.path.join(NOTEBOOKS, f"{NAMES[0]}.ipynb")) as f:
        assert first.source == nbformat.read(f, as_version=4).cells[0].source
    # Every MLMD query goes through pipeline.metadata; artifact locations come from it.
    source = "\n".join(cell.source for cell in code)
    assert "ml_metadata" not in source and "/pipelines/" not in source


def test_data_validation_shows_every_split_the_schema_and_no_anomalies(executed, mnist_run):
    text = text_of(executed["data_validation"])
    store = store_lib.open_store(mnist_run.config.metadata_path)
    config, run_id = mnist_run.config, mnist_run.first_run.run_id
    statistics = history.run_artifact(store, config.pipeline_name, run_id, "ExampleStatistics", "statistics")
    assert statistics.uri in text
    counts = {split: int(re.search(rf"^{split}: (\d+) examples$", text, re.M).group(1)) for split in SPLITS}
    assert sum(counts.values()) == MNIST_COUNT and counts["train"] > counts["eval"] > 0 and counts["test"] > 0
    assert "schema features: key, image, height, width, channels, label" in text
    assert all(f"{split}: 0 anomalies" in text for split in SPLITS)


def test_model_analysis_shows_accuracy_per_class_and_the_blessing(executed):
    notebook = executed["model_analysis"]
    text = text_of(notebook)
    assert ACCURACY in text and "computed on the test split" in text
    assert "BLESSED" in text and "NOT blessed" not in text
    assert "no baseline: no model was blessed before this one" in text
    assert images_in(notebook) >= 1  # the per-class plot


def test_metadata_explorer_draws_the_lineage_of_the_pushed_model(executed, mnist_run):
    notebook = executed["metadata_explorer"]
    text = text_of(notebook)
    store = store_lib.open_store(mnist_run.config.metadata_path)
    run_id = mnist_run.first_run.run_id
    (pushed,) = history.output_artifacts(store, run_id, "PushedModel")
    assert f"PushedModel#{pushed.id} of run {run_id}, pushed: True" in text
    for examples in history.output_artifacts(store, run_id, "Examples"):
        assert examples.uri in text  # the pushed model's Examples, raw and transformed
    assert run_id in text
    assert images_in(notebook) == 2  # component durations and the lineage graph


def test_no_cell_prints_to_stderr_and_the_library_notices_are_in_the_log(executed, notices_log):
    for name, notebook in executed.items():
        stderr = [o.text for cell in notebook.cells for o in cell.get("outputs", []) if o.get("name") == "stderr"]
        assert stderr == [], (name, stderr)
    with open(notices_log) as f:
        log = f.read()
    # What used to be red blocks: TensorFlow's C++ start-up lines and Google's FutureWarnings, now logged.
    assert "tensorflow/" in log and "FutureWarning" in log
