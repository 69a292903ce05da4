"""What a person sees: ``python local_runner.py`` with default settings, as a user runs it, read against ML Metadata."""

import os
import re
import subprocess
import sys
import types

import pytest
from conftest import PROJECT_ROOT

from data import prepare
from inspection import history, results
from inspection.store import open_store
from models.callbacks import CONSOLE_EPOCHS, describe_epoch, read_records, shown_epoch
from models.features import ACCURACY
from pipeline.flags import parse_args

# TensorFlow's C++ logger: "2026-11-28 04:31:22.574540: W tensorflow/...] ..." and Python warnings.
CPP_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] ")
NOISE = re.compile(r"Warning|warnings\.warn|Traceback|^(INFO|WARNING|ERROR):|absl")
ONE_SCREEN = 60


def run_runner(*flags) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "local_runner.py", *flags], cwd=PROJECT_ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The default pipeline (8x8 digits, tuning on), cold, then cached with --verbose, each in its own process.

    The second run is ``make run``, as the README starts it (the data is there: make prepares nothing).
    """
    root = str(tmp_path_factory.mktemp("console"))
    flags = ["--output-root", root]
    config = parse_args(flags)
    prepare.prepare("digits", config.data_root)
    cold = run_runner(*flags)
    make_run = ["make", "-s", "-C", PROJECT_ROOT, "run", f"OUTPUT_ROOT={root}", "FLAGS=--verbose"]
    verbose = subprocess.run(make_run, capture_output=True, text=True)
    store = open_store(config.metadata_path)
    runs = history.runs(store, config.pipeline_name)
    return types.SimpleNamespace(config=config, cold=cold, verbose=verbose, store=store, runs=runs)


def test_the_console_names_every_component_with_its_state_and_time_and_fits_one_screen(default_run):
    cold = default_run.cold
    assert cold.returncode == 0, cold.stderr[-3000:]
    lines = cold.stdout.splitlines()
    run = default_run.runs[0]
    for execution in run.executions:
        assert f"  {execution.node} ..." in lines
        assert any(re.fullmatch(rf"  {execution.node} {execution.state} in \d+\.\d s", line) for line in lines)
    assert sum(line.lstrip().startswith("trial ") for line in lines) == default_run.config.tuner_max_trials
    (model_run,) = history.output_artifacts(default_run.store, run.run_id, "ModelRun")
    records = read_records(model_run.uri)
    assert len(records) > CONSOLE_EPOCHS  # the digits preset trains up to 30 epochs: more than the terminal shows
    # Each k-th epoch and the last one run; the log file keeps every epoch's line.
    shown = [r for r in records if shown_epoch(r["epoch"], default_run.config.train_epochs) or r is records[-1]]
    assert [line.strip() for line in lines if line.lstrip().startswith("epoch ")] == [describe_epoch(r) for r in shown]
    assert len(shown) <= CONSOLE_EPOCHS + 1
    log_path = re.search(r"; log (\S+)\)$", lines[0]).group(1)
    with open(log_path) as f:
        logged = f.read()
    assert all(describe_epoch(record) in logged for record in records)
    assert len(lines) <= ONE_SCREEN and cold.stderr == ""
    assert not [line for line in lines if CPP_LOG.match(line) or NOISE.search(line)]


def test_the_summary_says_what_ml_metadata_holds_and_where_to_look_next(default_run):
    out, config, run = default_run.cold.stdout, default_run.config, default_run.runs[0]
    metrics = results.evaluation_metrics(default_run.store, run.run_id)
    accuracy, count = metrics["overall"][ACCURACY], int(metrics["overall"][results.EXAMPLE_COUNT])
    assert f"Run {run.run_id} of {config.pipeline_name}: COMPLETE" in out
    assert f"test accuracy  {accuracy:.4f} on {count} test examples (no baseline yet; threshold 0.9" in out
    assert results.blessing(default_run.store, run.run_id)["blessed"] and "  blessed        yes" in out
    (pushed,) = history.output_artifacts(default_run.store, run.run_id, "PushedModel")
    version = pushed.custom_properties["pushed_version"].string_value
    assert f"  pushed         version {version} to {os.path.join(config.serving_dir, version)}" in out
    (log_path,) = re.findall(r"^  log            (\S+)$", out, re.M)
    with open(log_path) as f:
        log = f.read()
    assert any(CPP_LOG.match(line) for line in log.splitlines())  # TensorFlow's lines went to the log
    for command in ("-m inspection metrics --output-root", "-m serving.server --serving-dir", "tensorboard --logdir"):
        assert command in out


def test_verbose_shows_everything_live_and_a_cached_rerun_says_so(default_run):
    verbose = default_run.verbose
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    shown = verbose.stdout + verbose.stderr
    assert "INFO absl: Component ImportExampleGen is running." in shown  # library logging, live
    assert "  Trainer CACHED in" in verbose.stdout
    cached = default_run.runs[1]
    assert f"Run {cached.run_id} of {default_run.config.pipeline_name}: COMPLETE" in verbose.stdout
    assert f"{len(cached.cached)} from the cache" in verbose.stdout
