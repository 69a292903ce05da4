"""The preflight's task processes: each task runs in its own process, in the image's environment.

On the platform every task is a container that runs ``python -m <entrypoint> ...``. Started cold
on this machine, each such process spent 5-8 s importing TensorFlow, TFX and Beam before its
executor began. So a run starts one server (``cloud/preflight/task_server.py``) in the image's
environment and working directory, and each task is a process that server forks after those
imports. A command that is not ``python -m <module>`` runs as a plain subprocess.
"""

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
from typing import Optional

from cloud.preflight import task_server
from pipeline.config import PROJECT_ROOT

DOCKERFILE = os.path.join(PROJECT_ROOT, "Dockerfile")
SERVER_LOG = "task-server.log"  # in the run's log folder: what the imports ahead printed


@functools.lru_cache(maxsize=1)
def _image_env_lines() -> dict:
    """The image's own ``ENV KEY=VALUE`` lines (Dockerfile), read once per preflight."""
    found = {}
    with open(DOCKERFILE) as f:
        for line in f:
            words = line.split()
            if len(words) == 2 and words[0] == "ENV" and "=" in words[1]:
                key, value = words[1].split("=", 1)
                found[key] = value
    return found


def image_env() -> dict:
    """The environment of a task: this one with the image's ``ENV`` lines set."""
    return {**os.environ, **_image_env_lines()}


class TaskServerError(RuntimeError):
    """The task server could not be reached or ended early; the message names its log."""


class TaskProcesses:
    """Runs a run's tasks, each in its own process forked from a warm server; use as a context manager."""

    def __init__(self, log_dir: str):
        self._log_path = os.path.join(log_dir, SERVER_LOG)
        self._server: Optional[subprocess.Popen] = None

    def __enter__(self) -> "TaskProcesses":
        os.makedirs(os.path.dirname(self._log_path), exist_ok=True)
        with open(self._log_path, "ab") as log:
            self._server = subprocess.Popen(
                [sys.executable, "-m", task_server.__name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=image_env(),
                cwd=PROJECT_ROOT,
                text=True,
            )
        return self

    def __exit__(self, *exc) -> None:
        # Between tasks the server holds nothing worth waiting for, not even its imports.
        self._server.kill()
        self._server.wait()
        for pipe in (self._server.stdin, self._server.stdout):
            with contextlib.suppress(BrokenPipeError):
                pipe.close()

    def run(self, argv: list, log_path: str) -> int:
        """Runs a task's command, its output appended to ``log_path``; returns its exit status.

        Interrupted (Ctrl-C), it kills the task's process, as ``subprocess.run`` does, and re-raises.
        """
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        if argv[:2] != [sys.executable, "-m"] or len(argv) < 3:
            with open(log_path, "ab") as log:
                return subprocess.run(
                    argv, stdout=log, stderr=subprocess.STDOUT, env=image_env(), cwd=PROJECT_ROOT
                ).returncode
        request = {"module": argv[2], "args": argv[3:], "log": os.path.abspath(log_path), "env": image_env()}
        try:
            self._server.stdin.write(json.dumps(request) + "\n")
            self._server.stdin.flush()
        except OSError as err:
            raise TaskServerError(f"the task server cannot be reached ({err}): see {self._log_path}") from err
        pid = self._answer()
        try:
            return self._answer()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(TaskServerError):
                self._answer()  # the killed task's status: the next answer is the next task's again
            raise

    def _answer(self) -> int:
        """The server's next line: a pid, or an exit status."""
        line = self._server.stdout.readline()
        if not line:
            status = self._server.wait()
            raise TaskServerError(f"the task server ended with status {status}: see {self._log_path}")
        return int(line)
