"""Where the library's log goes.

Every module logs through the standard :mod:`logging` module, to a logger under ``nnlib``
(``logging.getLogger(__name__)``): MNIST loading (``nnlib.lab.mnist``), one line per epoch
(``nnlib.lab.training``), a grid's finished runs (``nnlib.lab.grid``). The library attaches no
handler of its own, so a script that imports nnlib shows none of it (Python's last-resort handler
still prints warnings on stderr); the command line attaches one for the duration of a command
(:func:`logging_to`), and a notebook's set-up cell (``nnlib.report.notebook.setup``) attaches one
on the stream ``NNLIB_LOG`` names (``stdout`` / ``stderr`` / ``off``), by default stdout in
JupyterLab and none in a papermill run (the report's kernels log to stderr, which the report
keeps as each cell's collapsed log). To see the log in your own script::

    import logging
    logging.basicConfig(level=logging.INFO, format="%(message)s")
"""
from __future__ import annotations

import contextlib
import logging
import sys

__all__ = ["LOG_ENV", "ROOT", "StreamAtEmit", "log_to", "logging_to"]

#: The library's top logger: its modules log to children of it.
ROOT = "nnlib"
#: A notebook kernel's log stream (stdout/stderr/off; unset: see above), read by notebook.setup.
LOG_ENV = "NNLIB_LOG"


class StreamAtEmit(logging.StreamHandler):
    """A handler writing to ``sys.stdout`` or ``sys.stderr`` *as it is when a record is emitted*
    (a notebook kernel, pytest's ``capsys`` and ``contextlib.redirect_stdout`` replace them):
    INFO and below on ``stream``, the message alone; WARNING and above on stderr, as
    ``nnlib: warning: <message>`` (the way the command line shows its own warnings and errors).
    A formatter set with ``setFormatter`` replaces that format."""

    def __init__(self, stream: str = "stdout"):
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"log stream must be 'stdout' or 'stderr', got {stream!r}")
        self.stream_name = stream
        self._level_now = logging.INFO
        super().__init__()

    @property
    def stream(self):
        return getattr(sys, "stderr" if self._level_now >= logging.WARNING else self.stream_name)

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns one; the live one is used instead
        pass

    def emit(self, record: logging.LogRecord) -> None:
        self._level_now = record.levelno
        super().emit(record)

    def format(self, record: logging.LogRecord) -> str:
        if self.formatter is not None:
            return super().format(record)
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.levelno >= logging.WARNING:
            return f"nnlib: {record.levelname.lower()}: {message}"
        return message


def log_to(stream: str = "stdout", level: int = logging.INFO) -> StreamAtEmit:
    """Show the library's records of ``level`` and above on ``stream`` (warnings on stderr), and
    only there: they no longer reach the root logger's handlers too (a ``logging.basicConfig``
    would print each line a second time). Replaces a handler an earlier call attached."""
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if isinstance(h, StreamAtEmit)]:
        logger.removeHandler(old)
    handler = StreamAtEmit(stream)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler


@contextlib.contextmanager
def logging_to(stream: str = "stdout", level: int = logging.INFO):
    """:func:`log_to` for the duration of a ``with`` block; the logger's handlers, level and
    propagation are as they were afterwards."""
    logger = logging.getLogger(ROOT)
    handlers, old_level, propagate = list(logger.handlers), logger.level, logger.propagate
    log_to(stream, level)
    try:
        yield
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(old_level)
        logger.propagate = propagate
