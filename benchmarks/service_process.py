"""Runs a server (``make ui``, ``make tensorboard``, ``python -m ui``...) as a child process on a free loopback port.

The benchmarks and the tests start servers this way, as a user would, and stop the whole process
group (``make`` runs the server in a child of its own).
"""

import os
import signal
import subprocess
import time
from typing import IO, List, Optional

import httpx

from multiworker.launcher import free_ports

# Importing TensorFlow and loading a model take tens of seconds on a busy machine.
READY_TIMEOUT_S = 600.0


class ServiceProcess:
    """A server as a child process group; a context manager that waits until ``ready_path`` answers 200.

    ``command(port)`` gives the command line for a free port; its output goes to ``log_path``.
    """

    def __init__(self, command, log_path: str, ready_path: str = "/", cwd: Optional[str] = None, env=None):
        (self.port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.args: List[str] = command(self.port)
        self.log_path, self.ready_path, self.cwd, self.env = log_path, ready_path, cwd, env
        self._process: Optional[subprocess.Popen] = None
        self._log_file: Optional[IO] = None

    def __enter__(self) -> "ServiceProcess":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        """Starts the server and returns once ``ready_path`` answers 200; stops it and raises if it never does."""
        self._log_file = open(self.log_path, "ab")
        # Its own process group: ``make ui`` runs Python in a child, and both must stop.
        self._process = subprocess.Popen(
            self.args,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.cwd,
            env=self.env,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()  # closes the log file: ``__exit__`` does not run when ``__enter__`` raises
                raise RuntimeError(f"{self.args} exited with {self._process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{self.args} did not answer within {READY_TIMEOUT_S:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        """Stops the process group (SIGTERM, which uvicorn handles by finishing open requests; SIGKILL after 60 s)."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self._process.pid

    def log(self) -> str:
        """What the server has printed so far."""
        with open(self.log_path, errors="replace") as f:
            return f.read()
