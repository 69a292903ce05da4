"""Runs ``python -m serving.server`` in a child process on a free loopback port (benchmark and tests)."""

import os
import shutil
import sys
from typing import Dict, List, Optional, Tuple

import httpx

from benchmarks.service_process import READY_TIMEOUT_S, ServiceProcess
from serving.versions import VARIABLES_DIR


def copy_broken_version(source: str, destination: str) -> None:
    """Copies the version folder ``source`` to ``destination`` with its variables cut short: a version whose load
    fails only after the model's functions are built, the costliest failure to clean up after."""
    shutil.copytree(source, destination)
    variables = os.path.join(destination, VARIABLES_DIR)
    (data,) = [name for name in os.listdir(variables) if ".data-" in name]
    with open(os.path.join(variables, data), "r+b") as f:
        f.truncate(16)


class ServerProcess(ServiceProcess):
    """The REST server as a child process; a context manager that waits until ``GET /v1/models/{name}`` answers.

    Its stdout and stderr go to ``log_path``, which ``log()`` reads back (to show why it died).
    """

    def __init__(self, serving_dir: str, model_name: str, log_path: str, extra_args: Optional[List[str]] = None):
        self.model_name = model_name

        def command(port: int) -> List[str]:
            server = [sys.executable, "-m", "serving.server", "--serving-dir", serving_dir, "--model-name", model_name]
            return [*server, "--port", str(port), *(extra_args or [])]

        super().__init__(command, log_path, ready_path=f"/v1/models/{model_name}")

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
