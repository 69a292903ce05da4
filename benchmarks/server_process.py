"""Runs ``python -m serving.server`` in a child process on a free loopback port (benchmark and tests)."""

import os
import shutil
import subprocess
import sys
import time
from typing import IO, Dict, List, Optional, Tuple

import httpx

from multiworker.launcher import free_ports
from serving.versions import VARIABLES_DIR

# Importing TensorFlow and loading the model take tens of seconds on a busy machine.
READY_TIMEOUT_S = 600.0


def copy_broken_version(source: str, destination: str) -> None:
    """Copies the version folder ``source`` to ``destination`` with its variables cut short: a version whose load
    fails only after the model's functions are built, the costliest failure to clean up after."""
    shutil.copytree(source, destination)
    variables = os.path.join(destination, VARIABLES_DIR)
    (data,) = [name for name in os.listdir(variables) if ".data-" in name]
    with open(os.path.join(variables, data), "r+b") as f:
        f.truncate(16)


class ServerProcess:
    """The REST server as a child process; a context manager that waits until it answers.

    Its stdout and stderr go to ``log_path``, which ``log()`` reads back (to show why it died).
    """

    def __init__(self, serving_dir: str, model_name: str, log_path: str, extra_args: Optional[List[str]] = None):
        self.model_name = model_name
        self.log_path = log_path
        (self.port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            sys.executable,
            "-m",
            "serving.server",
            "--serving-dir",
            serving_dir,
            "--model-name",
            model_name,
            "--port",
            str(self.port),
            *(extra_args or []),
        ]
        self._process: Optional[subprocess.Popen] = None
        self._log_file: Optional[IO] = None

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        """Starts the server and returns once ``GET /v1/models/{name}`` answers 200."""
        self._log_file = open(self.log_path, "ab")
        self._process = subprocess.Popen(self.args, stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()  # closes the log file: ``__exit__`` does not run when ``__enter__`` raises
                raise RuntimeError(f"the server exited with {self._process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/v1/models/{self.model_name}", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the server did not answer within {READY_TIMEOUT_S:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        """Stops the server (SIGTERM, which uvicorn handles by finishing open requests)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self._process.pid

    def version_states(self) -> Dict[int, Tuple[str, str]]:
        """Each version's state and error message, as ``GET /v1/models/{name}`` reports them."""
        response = httpx.get(f"{self.url}/v1/models/{self.model_name}", timeout=READY_TIMEOUT_S)
        response.raise_for_status()
        return {
            int(s["version"]): (s["state"], s["status"]["error_message"])
            for s in response.json()["model_version_status"]
        }

    def memory_mb(self, field: str = "VmRSS") -> float:
        """A memory figure of the server in MiB from /proc (Linux): ``VmRSS`` resident now, ``VmHWM`` its peak."""
        with open(f"/proc/{self.pid}/status") as f:
            (line,) = [line for line in f if line.startswith(f"{field}:")]
        return int(line.split()[1]) / 1024

    def log(self) -> str:
        """What the server has printed so far."""
        with open(self.log_path, errors="replace") as f:
            return f.read()
