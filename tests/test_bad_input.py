"""Bad input and interrupted work, as a hostile user meets them: real files, real processes, one line each.

Every command refuses what it cannot do before it writes anything, with one line
``<command>: error: <what>``; nothing already good is lost; a kill or Ctrl-C ends in one line and
exit status 130 (a run stopped by SIGTERM, recorded as stopped, is in test_stopped_runs.py).
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import CLOUD_BASE, MNIST_DIR, PROJECT_ROOT, tree_digest

from cloud import submit
from data import prepare

QUICK_RUN_S = 600  # the bound on waiting for a step of a real process below; never reached when all is well


def command(*argv, env=None, cwd=PROJECT_ROOT) -> subprocess.CompletedProcess:
    """``python -m``/``python file`` as a user runs it: its exit status, stdout and stderr."""
    environ = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=cwd, env=environ)


def one_line(result, prog: str) -> str:
    """The one error line a refused command printed (its program name first); fails on anything else."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), result.stderr
    return lines[0]


# data.prepare ------------------------------------------------------------------------------------------------


def test_a_missing_test_prefix_is_refused_before_an_earlier_dataset_is_touched(tmp_path):
    out = tmp_path / "mnist"
    prepare.prepare("mnist", str(out), source=MNIST_DIR, limit=100)
    (out / "NOTES.md").write_text("the user's own notes")
    before = tree_digest(str(out))
    argv = ["-m", "data.prepare", "mnist", str(out), "--source", MNIST_DIR, "--test-prefix", "train", "--overwrite"]
    result = command(*argv)
    assert result.returncode == 2 and "holds IDX prefixes ['t10k'], not train" in one_line(result, "data.prepare")
    assert tree_digest(str(out)) == before and sorted(os.listdir(tmp_path)) == ["mnist"]


def test_overwrite_replaces_only_what_prepare_wrote_and_says_what_it_kept(tmp_path):
    out = tmp_path / "mnist"
    prepare.prepare("mnist", str(out), source=MNIST_DIR, limit=100)
    (out / "NOTES.md").write_text("the user's own notes")
    result = command("-m", "data.prepare", "mnist", str(out), "--source", MNIST_DIR, "--limit", "50", "--overwrite")
    assert result.returncode == 0, result.stderr
    assert "kept 1 file(s) data.prepare did not write: NOTES.md" in result.stdout
    assert (out / "NOTES.md").read_text() == "the user's own notes"
    assert json.loads((out / "prepared.json").read_text())["examples"] == 50


def test_an_output_inside_the_source_folder_and_a_huge_image_shape_are_refused_before_anything(tmp_path):
    source = tmp_path / "shapes"
    for name in ("a", "b"):
        (source / name).mkdir(parents=True)
    result = command("-m", "data.prepare", "folder", str(source), str(source / "out"), "--image-shape", "8,8,1")
    assert result.returncode == 2 and "inside the source folder" in one_line(result, "data.prepare")
    result = command(
        "-m", "data.prepare", "folder", str(source), str(tmp_path / "o"), "--image-shape", "100000,100000,3"
    )
    assert result.returncode == 2 and "sides from 1 to 1024" in one_line(result, "data.prepare")
    assert sorted(os.listdir(source)) == ["a", "b"] and sorted(os.listdir(tmp_path)) == ["shapes"]


def staging_of(out) -> list:
    return [name for name in os.listdir(os.path.dirname(out)) if ".partial-" in name]


def start_prepare(out) -> subprocess.Popen:
    """``data.prepare mnist`` on the fixture, returned once its staging folder exists (it then loads TensorFlow)."""
    argv = [sys.executable, "-m", "data.prepare", "mnist", str(out), "--source", MNIST_DIR]
    process = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + QUICK_RUN_S
    while not staging_of(out) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if not staging_of(out):
        process.kill()
        pytest.fail(f"no staging folder: {process.communicate()}")
    return process


def test_a_killed_conversion_leaves_a_staging_folder_that_the_next_run_removes(tmp_path):
    out = tmp_path / "mnist"
    process = start_prepare(out)
    process.kill()  # SIGKILL: nothing can clean up
    process.wait()
    (leftover,) = staging_of(out)
    result = command("-m", "data.prepare", "mnist", str(out), "--source", MNIST_DIR)
    assert result.returncode == 0, result.stderr
    assert f"removed {tmp_path / leftover}, left by an interrupted conversion" in result.stdout
    assert staging_of(out) == [] and (out / "prepared.json").exists()


def test_sigterm_and_ctrl_c_end_a_conversion_in_one_line_with_status_130_and_no_staging(tmp_path):
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        out = tmp_path / f"mnist-{signal_number}"
        process = start_prepare(out)
        process.send_signal(signal_number)
        _, err = process.communicate(timeout=QUICK_RUN_S)
        assert process.returncode == 130 and err.splitlines() == ["data.prepare: interrupted"], err
        assert staging_of(out) == [] and not out.exists()


# Every command's flags ------------------------------------------------------------------------------------------

COMMANDS = {
    "local_runner.py": ["local_runner.py"],
    "kubeflow_v2_runner.py": ["kubeflow_v2_runner.py"],
    "cloud.submit": ["-m", "cloud.submit"],
    "cloud.preflight": ["-m", "cloud.preflight"],
    "data.prepare": ["-m", "data.prepare", "digits", "out"],
    "inspection": ["-m", "inspection", "runs"],
    "serving.server": ["-m", "serving.server", "--serving-dir", ".", "--model-name", "m"],
    "serving.predict": ["-m", "serving.predict", "--model-dir", ".", "--json-instances", "x"],
}


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_an_unknown_flag_is_one_line_naming_the_command_and_help(prog):
    result = command(*COMMANDS[prog], "--no-such-flag")
    line = one_line(result, prog)
    assert result.returncode == 2 and line.endswith("unrecognized arguments: --no-such-flag (see --help)")


@pytest.mark.parametrize(
    "argv, env, message",
    [
        (["--seed", "-1"], {}, r"seed must lie in \[0, 2147483647\], got -1"),
        (["--trainer-workers", "100"], {}, r"trainer_workers must lie in \[1, 8\], got 100"),
        (["--trainer-workers", str((os.cpu_count() or 1) + 1)], {}, "more than this machine's"),
        (["--image-shape", "100000,100000,3", "--preset", "folder"], {}, r"image_shape must lie in \[1, 1024\]"),
        (["--batch-size", "0"], {}, r"batch_size must lie in \[1, 4096\], got 0"),
        ([], {"PIPELINE_FLAGS": '--pipeline-name "unterminated'}, r"\$PIPELINE_FLAGS does not parse as shell words"),
    ],
)
def test_an_out_of_range_setting_is_refused_in_one_line_before_anything_runs(tmp_path, argv, env, message):

    args = [*argv, "--output-root", str(tmp_path)] if argv else []
    result = command("local_runner.py", *args, env=env)
    assert result.returncode == 2 and re.search(message, one_line(result, "local_runner.py"))
    assert os.listdir(tmp_path) == []


def test_a_flag_error_comes_before_tensorflow_loads(tmp_path):
    code = (
        "import sys; from serving import predict, server;"
        f"a = predict.main(['--model-dir', {str(tmp_path)!r}, '--json-instances', 'x', '--batch-size', '0']);"
        f"b = server.main(['--serving-dir', {str(tmp_path)!r}, '--model-name', 'm', '--port', '99999']);"
        "print(a, b, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert result.stdout.split() == ["2", "2", "False"], result.stderr
    assert result.stderr.splitlines() == [
        "serving.predict: error: --batch-size must lie in [1, 65536], got 0",
        "serving.server: error: --port must lie in [1, 65535], got 99999",
    ]


def test_the_server_on_a_taken_port_or_an_address_it_cannot_bind_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = command(
            "-m", "serving.server", "--serving-dir", str(tmp_path), "--model-name", "m", "--port", str(port)
        )
    assert result.returncode == 1
    assert one_line(result, "serving.server").endswith(f"cannot listen on 127.0.0.1:{port}: Address already in use")
    result = command("-m", "serving.server", "--serving-dir", str(tmp_path), "--model-name", "m", "--host", "192.0.2.1")
    assert result.returncode == 1 and "cannot listen on 192.0.2.1:8501" in one_line(result, "serving.server")


# The cloud config -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, argv, message",
    [
        ({}, ["--param", "data_root=gs:/bucket/x"], "runtime parameter data_root must be a gs://BUCKET/PATH path"),
        ({"data_root": "gs://"}, [], "`data_root` must be a gs://BUCKET/PATH path with a bucket name"),
        ({"pipeline": {"quick": True, "train_epoch": 3}}, [], r"pipeline\.train_epoch: not a setting"),
        ({"pipeline": {"train_epochs": 0}}, [], r"train_epochs must lie in \[1, 1000\]"),
        ({"trainer_replicas": 1000}, [], r"`trainer_replicas` must lie in \[1, 100\]"),
        ({"dataflow_machine_type": "big machine"}, [], "must be a machine type like n1-standard-4"),
        (
            {"trainer": {"accelerator_type": "NVIDIA_L4", "accelerator_count": 3}},
            [],
            "accelerator_count` must be one of",
        ),
    ],
)
def test_dry_run_checks_every_cloud_value_as_compile_does(tmp_path, capsys, changes, argv, message):

    from cloud import compiler

    config = tmp_path / "cloud.json"
    config.write_text(json.dumps({**CLOUD_BASE, **changes}))
    spec = tmp_path / "pipeline.json"
    root = {"inputDefinitions": {"parameters": {"data_root": {"parameterType": "STRING"}}}}
    runtime = {"gcsOutputDirectory": "gs://bucket/r", "parameterValues": {"data_root": "gs://bucket/d"}}
    spec.write_text(
        json.dumps({"pipelineSpec": {"root": root, "pipelineInfo": {"name": "p"}}, "runtimeConfig": runtime})
    )
    assert submit.main(["--cloud-config", str(config), "--spec", str(spec), "--dry-run", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
    if not argv:  # compile refuses the same config, writing nothing
        with pytest.raises(compiler.ConfigError, match=message):
            compiler.compile_pipeline(compiler.cloud_lib.load(str(config)), str(tmp_path / "out.json"))
        assert not (tmp_path / "out.json").exists()


# Degenerate data and interrupted runs: real pipeline runs -----------------------------------------------------------


def records(tmp_path, labels: list):
    """A data folder of MNIST fixture images with ``labels``, as data.prepare writes one (no schema, no classes)."""
    from data import sources
    from data.output import write_dataset

    images = [item.image for item in sources.mnist(MNIST_DIR, limit=len(labels))]
    items = [
        sources.LabeledImage(f"k-{i:04d}", image, label)
        for i, (image, label) in enumerate(zip(images, labels, strict=True))
    ]
    folder = tmp_path / "data"
    write_dataset(items, str(folder), "mnist", facts={"image_shape": [28, 28, 1]})
    return str(folder)


@pytest.mark.parametrize(
    "labels, named",
    [
        ([0] * 300 + [12] * 20, r"split train has examples of 1 of 10 classes \(labels \[0\]\).*outside \[0, 10\): 12"),
        ([3, 1, 4, 1, 5], r"split (eval|test) has 0 examples"),
    ],
    ids=["one-class-and-out-of-range", "five-examples"],
)
def test_degenerate_data_stops_the_run_in_one_line_naming_the_split_and_the_count(tmp_path, labels, named):

    data = records(tmp_path, labels)
    flags = ["--quick", "--preset", "folder", "--data-root", data, "--image-shape", "28,28,1", "--num-classes", "10"]
    result = command("local_runner.py", *flags, "--output-root", str(tmp_path / "out"))
    line = one_line(result, "local_runner.py")
    assert result.returncode == 2 and re.search(named, line), line
    assert os.listdir(tmp_path / "out" / "serving" / "folder-convnet") == []  # nothing pushed
    # The web UI's run page names the failed component, its error and the run's log.
    from inspection.store import open_store
    from ui import run_page

    store = open_store(str(tmp_path / "out" / "metadata" / "folder-convnet" / "metadata.db"))
    (run,) = run_page.run_table.run_contexts(store, "folder-convnet")
    data = run_page.load(store, "folder-convnet", run.name)
    gate = run_page.component(data, "AnomaliesGate")
    assert gate["state"] == "FAILED" and re.search(named, gate["error"]), gate["error"]
    assert gate["log"] == re.search(r"\(log: (\S+)\)", line).group(1)
    assert run_page.component(data, "Trainer")["state"] == run_page.NOT_RUN
