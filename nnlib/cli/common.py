"""What every ``nnlib`` command shares: exit codes, the exceptions that end a command, one-line
errors and warnings, SIGTERM handling, argparse types and the paths and lines commands print."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from ..errors import one_line
from ..paths import default_data_dir

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt is for SIGINT."""


def on_sigterm(signum, frame):
    raise Terminated()


class Interrupted(Exception):
    """Training stopped by SIGINT/SIGTERM, with what survived and how to continue."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class UsageError(Exception):
    """A mistake in the command line or in a file it names (exit code 2)."""


# --- helpers -----------------------------------------------------------------------------------

def err(message: str) -> None:
    print(f"nnlib: error: {message}", file=sys.stderr, flush=True)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line, like errors (no source path and line)."""
    print(f"nnlib: warning: {one_line(message, limit=None)}", file=file or sys.stderr,
          flush=True)


@contextlib.contextmanager
def signals_and_warnings():
    """SIGTERM raises Terminated (so a killed `nnlib train` says what survived and exits 143) and
    warnings print as one line - for the duration of one command, then as they were."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if in_main else None
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        try:
            yield
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)


def int_at_least(least: int, also: int | None = None, note: str = ""):
    """An argparse type: an integer >= ``least`` (or exactly ``also``)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < least and value != also:
            raise argparse.ArgumentTypeError(f"{text} must be >= {least}{note}")
        return value
    return parse


positive_int = int_at_least(1)
nonneg_int = int_at_least(0)
n_jobs = int_at_least(1, also=-1, note=" (or -1 for every core)")
#: Notebooks ``nnlib report`` runs side by side by default: two on a multi-core machine.
REPORT_JOBS = min(2, os.cpu_count() or 1)


def data_dir(args) -> Path:
    return Path(args.data_dir) if args.data_dir else default_data_dir()


def metrics_line(metrics: dict, run_dir) -> str:
    def fmt(key, spec):
        value = metrics.get(key)
        return f"{key}={value:{spec}}" if isinstance(value, (int, float)) else f"{key}={value}"
    return " ".join([fmt("test_loss", ".4f"), fmt("test_accuracy", ".4f"),
                     fmt("training_time_s", ".1f"), fmt("best_valid_accuracy", ".4f"),
                     fmt("epochs_run", "d")]) + f" -> {run_dir}"
