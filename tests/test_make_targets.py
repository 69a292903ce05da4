"""The make targets the README and docs/ name, each tried once as a user types it.

Servers (``tensorboard``, ``serve``, ``notebooks``) are started on a free port, asked something and
stopped; ``compile`` runs to the end; the benchmark targets, which take minutes to hours, are
started with ``--help`` so their command lines are checked. ``make run`` and ``make data`` are
tests/test_console.py's run, ``make ui`` tests/test_ui.py's, ``make schema`` tests/test_image_folders.py's,
``make preflight`` tests/test_preflight.py's, and ``make test`` is the CI's command.
"""

import json
import os
import re
import subprocess
import time

import browser
import httpx
import pytest
from conftest import CLOUD_BASE, PROJECT_ROOT

from benchmarks.service_process import ServiceProcess

WAIT_S = 120


def make(*words: str) -> list:
    """The command line of ``make -s`` with these targets and variables."""
    return ["make", "-s", "-C", PROJECT_ROOT, *words]


def test_make_tensorboard_lists_the_trainers_and_the_tuners_runs_in_the_browser(mnist_run, tmp_path):
    def command(port: int) -> list:
        return make("tensorboard", f"OUTPUT_ROOT={mnist_run.root}", f"TENSORBOARD_PORT={port}")

    with ServiceProcess(command, str(tmp_path / "tensorboard.log")) as tensorboard:
        driver = browser.chrome()
        try:
            driver.get(tensorboard.url)
            deadline, text = time.monotonic() + WAIT_S, ""
            while time.monotonic() < deadline and not ("Trainer/model_run" in text and "Tuner/tensorboard" in text):
                time.sleep(0.5)  # TensorBoard's page lists the runs once its JavaScript has asked the server
                text = driver.find_element("tag name", "body").text
            browser.screenshot(driver, tmp_path / "tensorboard.png")
            assert "Trainer/model_run" in text and "Tuner/tensorboard" in text, text[:2000]
            assert browser.console_errors(driver) == []
            assert browser.requested_hosts(driver) <= {f"127.0.0.1:{tensorboard.port}"}
        finally:
            driver.quit()


def test_make_serve_answers_with_the_pushed_model(mnist_run, tmp_path):
    name = "digits-test"

    def command(port: int) -> list:
        return make(
            "serve", f"SERVING_DIR={mnist_run.config.serving_dir}", f"MODEL_NAME={name}", f"FLAGS=--port {port}"
        )

    with ServiceProcess(command, str(tmp_path / "serve.log"), f"/v1/models/{name}") as server:
        status = httpx.get(f"{server.url}/v1/models/{name}", timeout=WAIT_S).json()
        assert [s["state"] for s in status["model_version_status"]] == ["AVAILABLE"]


def test_make_notebooks_starts_jupyterlab_on_the_notebooks_folder(mnist_run, tmp_path):
    def command(port: int) -> list:
        return make("notebooks", f"OUTPUT_ROOT={mnist_run.root}", f"NOTEBOOKS_PORT={port}")

    # BROWSER: Jupyter opens the page with it; `true` opens nothing on a headless machine.
    env = {**os.environ, "BROWSER": "true"}
    with ServiceProcess(command, str(tmp_path / "notebooks.log"), "/api", env=env) as lab:
        assert "version" in httpx.get(f"{lab.url}/api", timeout=WAIT_S).json()
    log = lab.log()
    assert re.search(r"Serving notebooks from local directory: .*/notebooks", log), log[-2000:]


@pytest.mark.parametrize("target", ["kfp", "vertex"])
def test_make_compile_writes_the_job_for_each_target(tmp_path, target):
    config = tmp_path / "cloud.json"
    config.write_text(json.dumps(CLOUD_BASE))
    done = subprocess.run(
        make("compile", f"OUTPUT_ROOT={tmp_path}", f"CLOUD_CONFIG={config}", f"TARGET={target}"),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr[-3000:]
    output = tmp_path / "compiled" / "pipeline.json"  # a successful compile prints its own line and nothing else
    parameters = "data_fingerprint, data_root"
    assert done.stdout.splitlines() == [
        f"pipeline digits-convnet: compiled to {output} (runtime parameters: {parameters})"
    ]
    with open(output) as f:
        job = json.load(f)
    spec = job.get("pipelineSpec", job)  # Vertex wraps the spec in a job; KFP takes it bare
    assert "Trainer" in spec["root"]["dag"]["tasks"]


@pytest.mark.parametrize("target", ["bench", "bench-peer", "bench-scale", "bench-serve"])
def test_the_benchmark_targets_start(target):
    done = subprocess.run(make(target, "FLAGS=--help"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("usage: benchmarks.")
