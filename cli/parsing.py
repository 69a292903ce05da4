"""The command-line parser every command uses: one error line, help that shows defaults, one boolean grammar.

Every flag has help text (tests/test_layout.py checks each command's parser); boolean flags take
the ``--name`` / ``--no-name`` form (``argparse.BooleanOptionalAction``), whatever the command.
"""

import argparse

from cli.errors import EXIT_USAGE


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written, and each flag's default after its help."""


class Parser(argparse.ArgumentParser):
    """argparse, ending a bad command line with ``<prog>: error: <what> (see --help)`` and exit status 2."""

    def __init__(self, prog: str, description: str = "", **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(prog=prog, description=description, **kwargs)

    def error(self, message: str):
        """One line instead of argparse's usage block, which ``--help`` shows in full."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def boolean(parser, *names: str, **kwargs) -> None:
    """Adds a boolean flag in the project's one grammar: ``--name`` sets it, ``--no-name`` clears it."""
    parser.add_argument(*names, action=argparse.BooleanOptionalAction, **kwargs)


MAX_PORT = 65535


def port_number(text: str) -> int:
    """argparse type of a TCP port: an integer in [1, 65535]."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"must lie in [1, {MAX_PORT}], got {port}")
    return port
