"""Runs the Trainer's ``run_fn`` as N processes on this machine, as Vertex AI runs N replicas (``--trainer-workers``).

Each process gets ``TF_CONFIG`` naming every worker on a free loopback port and its own index
(worker 0 is the chief), and runs ``multiworker.worker`` on a job file holding the Trainer's
arguments. The launcher waits for all of them; when one fails, it stops the others at once
(a worker waiting on a dead peer's collective would otherwise wait for the collective timeout)
and raises naming the worker and its log. Every child is stopped when the step ends or fails.
"""

import json
import os
import socket
import subprocess
import sys
import time

from models import callbacks
from multiworker.cluster import TF_CONFIG

WORKER_MODULE = "multiworker.worker"
JOB_FILE = "workers-job.json"
WORKERS_FILE = "workers.json"  # index, pid and log of every worker, for whoever watches the run
POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0
# The FnArgs fields a worker needs (the data accessor is not one: models/inputs.py reads the files itself).
JOB_FIELDS = (
    "working_dir",
    "train_files",
    "eval_files",
    "transform_output",
    "serving_model_dir",
    "model_run_dir",
    "hyperparameters",
    "custom_config",
)


class WorkerFailed(RuntimeError):
    """A training worker exited with an error; the message names it and its log."""


def free_ports(count: int) -> list:
    """``count`` TCP ports on loopback that nothing listens on now (the OS picks them)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(addresses: list, index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of workers only (worker 0 acts as chief)."""
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def run_workers(fn_args, count: int) -> None:
    """Trains with ``count`` worker processes; returns when all finished, raises WorkerFailed when one failed."""
    folder = fn_args.model_run_dir
    os.makedirs(folder, exist_ok=True)
    job_path = os.path.join(folder, JOB_FILE)
    with open(job_path, "w") as f:
        json.dump({field: getattr(fn_args, field) for field in JOB_FIELDS}, f)
    addresses = [f"127.0.0.1:{port}" for port in free_ports(count)]
    workers = []
    try:
        for index in range(count):
            log = open(os.path.join(folder, f"worker-{index}.log"), "w")
            env = dict(os.environ, **{TF_CONFIG: tf_config(addresses, index)})
            command = [sys.executable, "-m", WORKER_MODULE, job_path]
            workers.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log))
        listing = [{"index": i, "pid": process.pid, "log": log.name} for i, (process, log) in enumerate(workers)]
        with open(os.path.join(folder, WORKERS_FILE), "w") as f:
            json.dump(listing, f)
        _wait(workers, folder)
    finally:
        _stop(workers)


def _wait(workers: list, folder: str) -> None:
    """Until every worker exited 0; the first non-zero exit raises. Meanwhile the chief's epochs are
    shown as this process's own progress lines (a local run's terminal shows them)."""
    shown = 0
    while True:
        try:
            records = callbacks.read_records(folder)
        except ValueError:  # a line being written: read it at the next poll
            records = []
        for record in records[shown:]:
            callbacks.PROGRESS.info("%s", callbacks.describe_epoch(record))
        shown = max(shown, len(records))
        statuses = [process.poll() for process, _ in workers]
        for index, status in enumerate(statuses):
            if status not in (None, 0):
                log = workers[index][1].name
                raise WorkerFailed(f"trainer worker {index} of {len(workers)} exited with status {status}; see {log}")
        if all(status == 0 for status in statuses):
            return
        time.sleep(POLL_SECONDS)


def _stop(workers: list) -> None:
    """Terminates the workers still running (killing those that do not stop) and closes their logs."""
    for process, _ in workers:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process, log in workers:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
