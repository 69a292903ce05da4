"""The preflight's task server: imports the libraries every task needs once, then forks a process per task.

    python -m cloud.preflight.task_server      # started by cloud/preflight/task_processes.py

Each line on its input is a task: ``{"module", "args", "log", "env"}``. The server forks a child
that runs the module as ``python -m`` would (``runpy``, ``alter_sys``), in that environment, with
the log as its stdout and stderr, and answers with the child's pid and then its exit status,
a line each (the status ``subprocess`` reports: negative for a signal). Only third-party
libraries are imported ahead, and of the project only ``cli.errors`` (the standard library alone):
the project's modules and whatever a task's code imports load in the task's own process, so a
module that does not import fails its task as it would in the task's container.

What a forked task cannot show, unlike a container: a crash in the interpreter's teardown (it is
skipped), a third-party import the task's code forgot but PRELOAD made, and settings read when an
interpreter starts (``PYTHONHASHSEED``, ``PYTHONPATH``) other than the server's; the server starts
with the image's environment, as every task does.
"""

import importlib
import json
import os
import runpy
import signal
import sys
from typing import Optional

from cli.errors import exit_without_teardown  # the standard library only

# What a task's entrypoint imports before its executor starts: the cost each cold start paid.
PRELOAD = (
    "tensorflow",
    "apache_beam",
    "tfx_bsl.public.tfxio",
    "tensorflow_data_validation",
    "tensorflow_transform",
    "tensorflow_model_analysis",
    "keras_tuner",
    "tfx.components",
    "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_entrypoint_utils",
    "tfx.extensions.google_cloud_ai_platform.runner",  # Vertex Training and Prediction clients
)


def preload() -> None:
    """Imports PRELOAD; one that fails is left to fail in the task that needs it, with the task's log."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (the same import fails again, and is reported, in the task)
            pass


def serve(requests, replies) -> Optional[dict]:
    """Forks a child per request line; answers with its pid, then its exit status. The child returns its request."""
    for line in requests:
        request = json.loads(line)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # else the child would write what the server printed into the task's log
        pid = os.fork()
        if pid == 0:
            return request
        replies.write(f"{pid}\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(f"{os.waitstatus_to_exitcode(status)}\n")
        replies.flush()
    return None


def become_task(request: dict, sigint) -> None:
    """Makes this forked child the task's process: its environment, SIGINT's handler ``sigint`` as a cold
    process would have it, fresh random state, the log as stdout and stderr."""
    signal.signal(signal.SIGINT, sigint)
    os.environ.clear()
    os.environ.update(request["env"])
    if "numpy" in sys.modules:  # a cold process seeds NumPy's global generator from the OS; a fork would share it
        sys.modules["numpy"].random.seed()
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for fd, source in ((0, null), (1, log), (2, log)):
        os.dup2(source, fd)
    os.close(null)
    os.close(log)
    sys.argv = [request["module"], *request["args"]]  # runpy puts the module's file first, as python -m does


def exit_status(code) -> int:
    """The status the interpreter exits with for ``SystemExit(code)``, printing a non-integer code as it does."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


def run_task(module: str) -> None:
    """Runs ``module`` as ``__main__`` and ends this process as the interpreter would, less its teardown.

    Unloading TensorFlow's thousands of modules at exit takes about 2 s (``cli.errors.exit_without_teardown``
    does the rest of an exit). The status is the interpreter's: SystemExit's code, 1 after a printed
    traceback, death by SIGINT on Ctrl-C.
    """
    status, interrupted = 0, False
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        status = exit_status(stop.code)
    except KeyboardInterrupt:
        interrupted = True
        sys.excepthook(*sys.exc_info())
    except BaseException:  # noqa: BLE001 (printed and turned into status 1, as the interpreter does)
        status = 1
        sys.excepthook(*sys.exc_info())
    exit_without_teardown(status, interrupted)


def main() -> None:
    """The server: imports ahead, then serves; in each forked child, runs the task's module as ``__main__``."""
    # Ctrl-C in the preflight's terminal reaches the task, which gets SIGINT's handler back; the
    # preflight then ends the server.
    sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what an import prints goes to the server's log, not into the answers
    preload()
    task = serve(sys.stdin, replies)
    if task:
        replies.close()
        become_task(task, sigint)
        run_task(task["module"])
    sys.stdout.flush()
    os._exit(0)  # the server's input ended: nothing to tear down (the interpreter's teardown takes 2 s)


if __name__ == "__main__":
    main()
