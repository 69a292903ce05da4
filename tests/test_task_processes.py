"""The preflight's task processes (cloud/preflight/task_processes.py): a forked task ends as a cold ``python -m`` does.

Each case is a small module run twice, cold (``subprocess``) and forked from the warm server: the
status, the printed lines and the environment a task sees must be the same.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
from conftest import PROJECT_ROOT

from cloud.preflight import executor_input, task_processes, task_server

MODULES = {
    "prints_and_exits": (
        "import os, sys\n"
        "print('out', sys.argv[1:], __name__, os.environ.get('TASK_SETTING'))\n"
        "print('err', file=sys.stderr)\n"
        "sys.exit(3)\n"
    ),
    "raises": "raise ValueError('boom')\n",
    "exits_with_text": "import sys\nsys.exit('stopped: a reason')\n",
    "interrupted": "raise KeyboardInterrupt\n",
    "draws": "import random\nimport numpy as np\nprint(np.random.random(), random.random())\n",
    "sleeps": "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(600)\n",
}


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    """The server over a folder of MODULES (on PYTHONPATH, as an image's ENV could put it)."""
    folder = tmp_path_factory.mktemp("task-modules")
    for name, text in MODULES.items():
        (folder / f"{name}.py").write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(folder))
        with task_processes.TaskProcesses(str(folder / "logs")) as processes:
            yield processes, folder


def cold_and_forked(tasks, module: str, *args) -> list:
    """(status, log text) of ``python -m module args``, run cold and then forked."""
    processes, folder = tasks
    results = []
    for way in ("cold", "forked"):
        log = folder / "logs" / f"{module}-{way}.log"
        argv = [sys.executable, "-m", module, *args]
        if way == "cold":
            env = {**task_processes.image_env(), "PYTHONPATH": str(folder)}
            with open(log, "wb") as f:
                status = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT).returncode
        else:
            status = processes.run(argv, str(log))
        results.append((status, log.read_text()))
    return results


def test_a_task_gets_its_arguments_environment_output_and_exit_status(tasks, monkeypatch):
    monkeypatch.setenv("TASK_SETTING", "set after the server started")
    cold, forked = cold_and_forked(tasks, "prints_and_exits", "--flag", "value")
    assert cold == forked
    assert forked[0] == 3
    assert sorted(forked[1].splitlines()) == ["err", "out ['--flag', 'value'] __main__ set after the server started"]


@pytest.mark.parametrize(
    "module, status, last_line",
    [("raises", 1, "ValueError: boom"), ("exits_with_text", 1, "stopped: a reason"), ("interrupted", -2, "")],
)
def test_a_failing_task_ends_with_the_status_and_last_line_of_a_cold_process(tasks, module, status, last_line):
    cold, forked = cold_and_forked(tasks, module)
    assert cold[0] == forked[0] == status
    assert cold[1].strip().splitlines()[-1:] == forked[1].strip().splitlines()[-1:]
    if last_line:
        assert forked[1].strip().splitlines()[-1] == last_line
    if module == "raises":
        assert executor_input.failure_line(str(tasks[1] / "logs" / "raises-forked.log"), 1) == "ValueError: boom"


def test_each_forked_task_draws_its_own_random_numbers(tasks):
    processes, folder = tasks
    draws = []
    for index in range(2):
        log = folder / "logs" / f"draws-{index}.log"
        assert processes.run([sys.executable, "-m", "draws"], str(log)) == 0
        draws.append(log.read_text().split())
    first, second = draws
    assert first[0] != second[0] and first[1] != second[1]


def test_a_command_other_than_python_m_runs_as_a_subprocess_in_the_project(tasks):
    processes, folder = tasks
    log = folder / "logs" / "shell.log"
    assert processes.run(["sh", "-c", "pwd; echo $TF_USE_LEGACY_KERAS; exit 4"], str(log)) == 4
    assert log.read_text().splitlines() == [PROJECT_ROOT, "0"]
    assert os.path.exists(folder / "logs" / task_processes.SERVER_LOG)


def test_an_interrupted_task_is_killed_and_the_next_task_still_runs(tasks):
    processes, folder = tasks
    log = folder / "logs" / "sleeps.log"

    def interrupt_once_started():
        deadline = time.monotonic() + 120
        while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGUSR1)

    def interrupted(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGUSR1, interrupted)  # Ctrl-C, whatever this worker does with SIGINT
    try:
        threading.Thread(target=interrupt_once_started, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            processes.run([sys.executable, "-m", "sleeps"], str(log))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    pid = int(log.read_text().split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    status, _ = cold_and_forked(tasks, "prints_and_exits")[1]
    assert status == 3


def test_a_task_server_that_died_fails_the_task_naming_its_log(tmp_path):
    others = {child.pid for child in psutil.Process().children()}  # the module's own server among them
    with task_processes.TaskProcesses(str(tmp_path)) as processes:
        (server,) = [child for child in psutil.Process().children() if child.pid not in others]
        assert task_server.__name__ in " ".join(server.cmdline())
        server.kill()
        server.wait(60)
        with pytest.raises(task_processes.TaskServerError, match=f"see {tmp_path / task_processes.SERVER_LOG}"):
            processes.run([sys.executable, "-m", "platform"], str(tmp_path / "task.log"))
