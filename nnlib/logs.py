"""Where the library's log goes.

Every module logs through the standard :mod:`logging` module, to a logger under ``nnlib``
(``logging.getLogger(__name__)``): MNIST loading (``nnlib.lab.mnist``), one line per epoch
(``nnlib.lab.training``), a grid's finished runs (``nnlib.lab.grid``). The library attaches no
handler of its own, so a program or notebook that imports nnlib shows none of it (Python's
last-resort handler still prints warnings on stderr); the command line attaches one for the
duration of a command (:func:`logging_to`), and a notebook kernel started with ``NNLIB_LOG=stdout``
or ``NNLIB_LOG=stderr`` gets one from ``nnlib.report.notebook.setup`` (the report's kernels log to
stderr, which the report keeps as each cell's collapsed log). To see the log in your own script::

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
#: A notebook kernel's log stream (``stdout``/``stderr``; unset: none); ``notebook.setup`` reads it.
LOG_ENV = "NNLIB_LOG"


class StreamAtEmit(logging.StreamHandler):
    """A handler writing to ``sys.stdout`` or ``sys.stderr`` *as it is when a record is emitted*
    (a notebook kernel, pytest's ``capsys`` and ``contextlib.redirect_stdout`` replace them),
    the message alone for INFO and below, ``nnlib: warning: <message>`` above (the way the
    command line shows its own warnings and errors)."""

    def __init__(self, stream: str = "stdout"):
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"log stream must be 'stdout' or 'stderr', got {stream!r}")
        self.stream_name = stream
        super().__init__()

    @property
    def stream(self):
        return getattr(sys, self.stream_name)

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns one; the live one is used instead
        pass

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"nnlib: {record.levelname.lower()}: {message}"
        return message


def log_to(stream: str = "stdout", level: int = logging.INFO) -> StreamAtEmit:
    """Show the library's records of ``level`` and above on ``stream``; replaces a handler an
    earlier call attached (calling it twice does not print every line twice)."""
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if isinstance(h, StreamAtEmit)]:
        logger.removeHandler(old)
    handler = StreamAtEmit(stream)
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


@contextlib.contextmanager
def logging_to(stream: str = "stdout", level: int = logging.INFO):
    """:func:`log_to` for the duration of a ``with`` block; the logger's handlers and level are
    as they were afterwards."""
    logger = logging.getLogger(ROOT)
    handlers, old_level = list(logger.handlers), logger.level
    log_to(stream, level)
    try:
        yield
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(old_level)
