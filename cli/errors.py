"""How every command of this project ends: one line on stderr and a documented exit status.

======  ==========================================================================================
status  meaning
======  ==========================================================================================
0       done
1       the work ran and did not finish: a component failed, a service refused or could not be
        reached, or what was asked for is not there (no metadata store yet, no such run)
2       a bad flag, configuration or input file: nothing ran
130     interrupted (Ctrl-C)
======  ==========================================================================================

Library code raises its own errors (``ConfigError``, ``DataError``, ``MetadataError``, ...) and
knows nothing of exit statuses. Each command's ``main`` hands its body to ``run_command`` with the
errors that mean a bad input (status 2) and those that mean the work failed (status 1); anything
else is a bug and keeps its traceback.
"""

import atexit
import os
import signal
import sys
import threading
from typing import Callable, NoReturn, Optional, Sequence, Type

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# What a shell reports for a process ended by SIGINT (128 + 2), the convention for Ctrl-C.
EXIT_INTERRUPTED = 130

Errors = Sequence[Type[BaseException]]


def interrupt_on_signals() -> None:
    """Makes SIGTERM, and SIGINT, raise KeyboardInterrupt, which ``run_command`` turns into one line and 130.

    SIGINT is set too: Python leaves it ignored in a process that started with it ignored (a
    script's background job, a pytest-xdist worker's child), where Ctrl-C would change nothing.
    """
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, signal.default_int_handler)


def exit_without_teardown(status: int, interrupted: bool = False) -> NoReturn:
    """Ends the process with ``status`` as the interpreter would, less the unloading of its modules.

    After a pipeline run, unloading TensorFlow's, TFX's and Beam's thousands of modules took about
    2 s of every run's wall time, and is where TensorFlow prints its ``AtomicFunction.__del__``
    errors. What an exit must still do is done first, in the interpreter's order, through CPython's
    own calls: wait for non-daemon threads (``threading._shutdown``, which also wakes idle thread
    pools), run the atexit handlers (logging's flush and close among them), flush stdout and stderr.
    ``interrupted`` ends it as an uncaught KeyboardInterrupt does: by SIGINT (130 where SIGINT cannot).
    """
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        status = EXIT_INTERRUPTED
    os._exit(status)


def run_command(prog: str, body: Callable[[], Optional[int]], usage: Errors = (), failed: Errors = ()) -> int:
    """Runs ``body`` and returns its status (0 for None).

    An error of a class in ``usage`` prints ``prog: error: <message>`` and returns 2, one in
    ``failed`` the same with 1; Ctrl-C prints ``prog: interrupted`` and returns 130.
    """
    try:
        status = body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except tuple(usage) as err:
        return fail(prog, err, EXIT_USAGE)
    except tuple(failed) as err:
        return fail(prog, err, EXIT_FAILED)
    return EXIT_OK if status is None else status


def fail(prog: str, err: BaseException, status: int) -> int:
    """Prints ``prog: error: <message>`` on stderr and returns ``status``."""
    print(f"{prog}: error: {err}", file=sys.stderr)
    return status
