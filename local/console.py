"""What a local run shows a person, and the log file that keeps everything else.

``RunConsole`` points this process's standard output and error (file descriptors 1 and 2, so
TensorFlow's C++ logger, Beam, Python warnings and child processes too) at a log file for the
run, and keeps the terminal for the lines a person follows: one when each component starts and
one when it ends (COMPLETE, CACHED or FAILED, and its duration), one per Tuner trial and per
Trainer epoch, at most about fifteen of those (the ``models.progress`` logger;
``models.callbacks.EpochRecorder``), and the summary. With ``verbose`` everything is
shown live as well as logged. It reads TFX's own log lines (``Component X is running.``,
``A cached execution N is used.``, ``Component X is finished.``; tfx/orchestration/local and
portable/launcher.py) to know where the run is.
"""

import io
import logging
import os
import re
import sys
import threading
import time
from typing import IO, Optional

from absl import logging as absl_logging

PROGRESS_LOGGER = "models.progress"  # models/callbacks.py: one record per trial and per epoch
RUNNING = re.compile(r"Component (\S+) is running\.")
CACHED = re.compile(r"A cached execution \d+ is used\.")
FINISHED = re.compile(r"Component (\S+) is finished\.")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _terminal(stream: IO, fd: int) -> IO:
    """A stream to the terminal that survives redirecting ``fd``: a duplicate of it, or ``stream`` itself
    when something (a test's capture) already replaced it with a stream of its own."""
    try:
        if stream.fileno() == fd:
            return os.fdopen(os.dup(fd), "w", buffering=1, closefd=True)
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    return stream


class RunConsole:
    """A context manager: inside it, output goes to ``log_path`` and ``line`` writes to the terminal (and the log)."""

    def __init__(self, log_path: str, verbose: bool = False):
        self.log_path = log_path
        self.verbose = verbose
        self.current: Optional[str] = None  # the component running now
        self._started, self._cached = 0.0, False
        self._saved_fds: list = []
        self._handlers: list = []

    def __enter__(self) -> "RunConsole":
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        self.out = _terminal(sys.stdout, 1)
        # A raw descriptor in append mode: the tee thread and ``line`` write whole lines to it safely.
        self.log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._redirect()
        self._configure_logging()
        return self

    def _redirect(self) -> None:
        """Points file descriptors 1 and 2 at the log (through a tee to the terminal when verbose)."""
        self._saved_fds = [os.dup(1), os.dup(2)]
        if self.verbose:
            read, write = os.pipe()
            self._tee = threading.Thread(target=self._copy, args=(read, self._saved_fds[1]), daemon=True)
            self._tee.start()
            target = write
        else:
            target = self.log_fd
        for fd in (1, 2):
            os.dup2(target, fd)
        if self.verbose:
            os.close(target)

    def _copy(self, read_fd: int, terminal_fd: int) -> None:
        """The tee: everything written to fds 1 and 2 goes to the log and, live, to the terminal."""
        with os.fdopen(read_fd, "rb") as pipe:
            for chunk in iter(lambda: pipe.read1(65536), b""):
                os.write(terminal_fd, chunk)
                os.write(self.log_fd, chunk)

    def _configure_logging(self) -> None:
        """Every log record to the log (stderr, now the log); progress and TFX's component lines to the terminal too."""
        root = logging.getLogger()
        # To descriptor 2 itself (the log, or the tee), even where something replaced ``sys.stderr``.
        self._log_stream = os.fdopen(os.dup(2), "w", buffering=1)
        to_log = logging.StreamHandler(self._log_stream)
        to_log.setFormatter(logging.Formatter(LOG_FORMAT))
        progress = _ProgressHandler(self)
        self._handlers = [
            (root, to_log),
            (logging.getLogger("absl"), progress),
            (logging.getLogger(PROGRESS_LOGGER), progress),
        ]
        for logger, handler in self._handlers:
            logger.addHandler(handler)
        self._levels = (root.level, absl_logging.get_verbosity())
        root.setLevel(logging.INFO)
        # Through absl's own setting, not the logger's level: TensorFlow lowers and then restores
        # absl's verbosity while it saves a model (trackable/autotrackable.py), from that setting.
        absl_logging.set_verbosity(absl_logging.INFO)
        logging.captureWarnings(True)

    def line(self, text: str) -> None:
        """Shows one line on the terminal and keeps it in the log."""
        self.out.write(text + "\n")
        self.out.flush()
        os.write(self.log_fd, (text + "\n").encode())

    def component_started(self, node: str) -> None:
        """TFX started ``node``."""
        self.current, self._started, self._cached = node, time.monotonic(), False
        self.line(f"  {node} ...")

    def component_cached(self) -> None:
        """The running component reused an earlier execution."""
        self._cached = True

    def component_finished(self, node: str, state: str = "") -> None:
        """TFX finished ``node`` (or it failed: ``state`` FAILED)."""
        state = state or ("CACHED" if self._cached else "COMPLETE")
        self.line(f"  {node} {state} in {time.monotonic() - self._started:.1f} s")
        self.current = None

    def __exit__(self, *exc_info) -> None:
        if self.current is not None and exc_info[0] is not None:
            self.component_finished(self.current, "CANCELED" if exc_info[0] is KeyboardInterrupt else "FAILED")
        logging.captureWarnings(False)
        for logger, handler in self._handlers:
            logger.removeHandler(handler)
        logging.getLogger().setLevel(self._levels[0])
        absl_logging.set_verbosity(self._levels[1])
        self._log_stream.close()
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self._saved_fds, strict=True):
            os.dup2(saved, fd)
        if self.verbose:  # the tee drains the pipe into the terminal's saved descriptor: close it after
            self._tee.join(timeout=5)
        for saved in self._saved_fds:
            os.close(saved)
        if self.out is not sys.stdout:
            self.out.close()
        os.close(self.log_fd)


class _ProgressHandler(logging.Handler):
    """Turns TFX's component log lines and the progress records into terminal lines."""

    def __init__(self, console: RunConsole):
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == PROGRESS_LOGGER:
            self.console.line(f"    {message}")
        elif match := RUNNING.fullmatch(message):
            self.console.component_started(match.group(1))
        elif CACHED.fullmatch(message):
            self.console.component_cached()
        elif match := FINISHED.fullmatch(message):
            self.console.component_finished(match.group(1))
