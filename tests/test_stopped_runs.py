"""One quick digits run, stopped and started again as a user's runs are: a second run tried while it
holds the lock, SIGTERM in the Trainer's first epochs, the same command again, then a worse model.

The run is a process of its own, as a user or a scheduler starts it; what follows it runs in this process.
"""

import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import types

import pytest
from conftest import PROJECT_ROOT, WAIT_S, tree_digest, wait_for

import local_runner
from data import prepare
from inspection import history
from inspection.store import open_store
from pipeline.flags import parse_args

RESUMED = ("ImportExampleGen", "Transform", "Tuner")  # what the stopped run finished, taken from the cache


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """The quick digits pipeline (tuning on, 30 epochs) in its own process: while it holds the lock the same command
    is run here and refused; SIGTERM stops it in the Trainer's first epochs; the same command then completes it.
    """
    root = tmp_path_factory.mktemp("stopped")
    # Quick, but with the digits preset's 30 epochs: a quick Trainer's 5 epochs of 0.2 s left the signal
    # too short a window to land in the Trainer after its first epoch line.
    flags = ["--quick", "--train-epochs", "30", "--output-root", str(root)]
    config = parse_args(flags)
    prepare.prepare("digits", config.data_root)
    console, stderr = root / "console.txt", root / "stderr.txt"
    with open(console, "w") as out, open(stderr, "w") as err:
        run = subprocess.Popen([sys.executable, "local_runner.py", *flags], cwd=PROJECT_ROOT, stdout=out, stderr=err)
    lock = config.metadata_path + ".lock"
    wait_for(lambda: os.path.isfile(lock) and open(lock).read().strip() == str(run.pid), run, "it took the lock")
    with contextlib.redirect_stderr(io.StringIO()) as refusal:
        refused = local_runner.main(flags)
    with open(lock) as f:
        holder_after_refusal = f.read().strip()

    def in_training() -> bool:  # the console shows every second epoch of 30
        return any(line.strip().startswith("epoch ") for line in console.read_text().splitlines())

    wait_for(in_training, run, "the Trainer's first epoch line")
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=WAIT_S)
    with sqlite3.connect(config.metadata_path) as connection:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()
    runs_when_stopped = history.runs(open_store(config.metadata_path), config.pipeline_name)
    with contextlib.redirect_stderr(io.StringIO()) as rerun_err:
        rerun_status = local_runner.main(flags)
    store = open_store(config.metadata_path)
    return types.SimpleNamespace(
        flags=flags,
        config=config,
        pid=run.pid,
        status=run.returncode,
        console=console.read_text(),
        stderr=stderr.read_text(),
        refused=refused,
        refusal=refusal.getvalue(),
        holder_after_refusal=holder_after_refusal,
        integrity=integrity,
        runs_when_stopped=runs_when_stopped,
        rerun_status=rerun_status,
        rerun_err=rerun_err.getvalue(),
        rerun=history.latest_run(store, config.pipeline_name),
        served=tree_digest(config.serving_dir),
    )


def test_a_second_run_while_one_holds_the_lock_is_refused_in_one_line_and_records_nothing(stopped):
    assert stopped.refused == 1
    (line,) = stopped.refusal.strip().splitlines()
    assert f"another run of {stopped.config.pipeline_name} (pid {stopped.pid})" in line and "Traceback" not in line
    # The holder keeps its lock and goes on (the fixture waits for its Trainer's first epoch line).
    assert stopped.holder_after_refusal == str(stopped.pid)
    assert stopped.integrity == ("ok",)
    (only,) = stopped.runs_when_stopped  # the stopped run alone: the refused one wrote nothing to the store
    assert only.states()["ImportExampleGen"] == "COMPLETE"


def test_a_run_stopped_by_sigterm_is_recorded_as_canceled_and_a_rerun_resumes_from_the_cache(stopped):
    assert stopped.status == 130 and stopped.stderr.splitlines() == ["local_runner.py: interrupted"], stopped.stderr
    assert "  Trainer CANCELED in " in stopped.console
    (run,) = stopped.runs_when_stopped
    assert run.state == "CANCELED" and run.states()["Trainer"] == "CANCELED"
    rerun = stopped.rerun
    assert stopped.rerun_status == 0 and rerun.run_id != run.run_id, stopped.rerun_err
    assert {node: rerun.states()[node] for node in RESUMED} == dict.fromkeys(RESUMED, "CACHED")
    assert rerun.state == "COMPLETE" and rerun.states()["Trainer"] == "COMPLETE"


def test_a_clearly_worse_model_is_not_blessed_and_the_served_version_stays(stopped, tmp_path):
    frozen = tmp_path / "frozen.json"
    frozen.write_text(json.dumps({"learning_rate": 1e-9}))  # a model that cannot learn
    worse = ["--tuning-mode", "file", "--hyperparameters-file", str(frozen), "--accuracy-lower-bound", "0"]
    assert local_runner.main(stopped.flags + worse) == 0
    store = open_store(stopped.config.metadata_path)
    run = history.latest_run(store, stopped.config.pipeline_name)
    assert run.run_id != stopped.rerun.run_id
    assert run.states()["Evaluator"] == run.states()["Pusher"] == "COMPLETE"
    (blessing,) = history.output_artifacts(store, run.run_id, "ModelBlessing")
    assert blessing.custom_properties["blessed"].int_value == 0
    (pushed,) = history.output_artifacts(store, run.run_id, "PushedModel")
    assert pushed.custom_properties["pushed"].int_value == 0
    assert tree_digest(stopped.config.serving_dir) == stopped.served
