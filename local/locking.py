"""One run at a time per metadata store: concurrent runs are refused, never interleaved.

Two LocalDagRunner processes writing one SQLite store would race on its rows (and on the
Pusher's folder), so a run holds an exclusive, non-blocking ``flock`` on a file next to the
store. The kernel drops the lock when the process dies, even by SIGKILL, so a killed run never
leaves a stale lock behind.
"""

import contextlib
import fcntl
import os

from local.checks import PipelineError


@contextlib.contextmanager
def exclusive_run(metadata_path: str, pipeline_name: str):
    """Holds the store's run lock for the ``with`` block; raises PipelineError if another run holds it."""
    lock_path = metadata_path + ".lock"
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise PipelineError(
                f"another run of {pipeline_name} (pid {holder}) is using {metadata_path}; "
                "runs sharing a metadata store take turns: wait for it, or use another --output-root"
            ) from err
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
