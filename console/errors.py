"""How every command of this project ends: one line on stderr and a documented exit status.

======  ==========================================================================================
status  meaning
======  ==========================================================================================
0       done
1       the work ran and did not finish: a component failed, a service refused or could not be
        reached, or what was asked for is not there (no metadata store yet, no such run)
2       a bad flag, configuration or input file: nothing ran
======  ==========================================================================================

Each command's ``main`` hands its body to ``run_command``; expected errors are ``UsageError`` (2)
and ``CommandFailed`` (1), or subclasses of them, and anything else is a bug and keeps its traceback.
"""

import sys
from typing import Callable, Optional

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(ValueError):
    """A bad flag, configuration or input file; the message names it (exit status 2)."""


class CommandFailed(RuntimeError):
    """The work ran and did not finish; the message says what failed (exit status 1)."""


def run_command(prog: str, body: Callable[[], Optional[int]]) -> int:
    """Runs ``body`` and returns its status (0 for None); an expected error is printed and returns its status."""
    try:
        status = body()
    except UsageError as err:
        return fail(prog, err, EXIT_USAGE)
    except CommandFailed as err:
        return fail(prog, err, EXIT_FAILED)
    return EXIT_OK if status is None else status


def fail(prog: str, err: BaseException, status: int) -> int:
    """Prints ``prog: error: <message>`` on stderr and returns ``status``."""
    print(f"{prog}: error: {err}", file=sys.stderr)
    return status
