"""``cli.errors.exit_without_teardown``, how ``local_runner.py`` ends: what an exit must do is still done."""

import subprocess
import sys

from conftest import PROJECT_ROOT

SCRIPT = """
import atexit, threading, time
from cli.errors import exit_without_teardown
atexit.register(lambda: print("atexit handler"))
worker = threading.Thread(target=lambda: (time.sleep(0.5), print("non-daemon thread")))
worker.start()
print("buffered line")
exit_without_teardown(7)
"""


def test_the_status_buffered_output_threads_and_atexit_handlers_survive_the_skipped_teardown():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 7, done.stderr
    assert done.stdout.splitlines() == ["buffered line", "non-daemon thread", "atexit handler"]


def test_the_local_runner_ends_with_its_documented_status():
    done = subprocess.run(
        [sys.executable, "local_runner.py", "--train-epochs", "0"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.startswith("local_runner.py: error: "), done.stderr
