"""How the library shows progress where it runs: a tqdm bar, one logged line per step, or nothing.

``"auto"`` chooses by ``NNLIB_PROGRESS`` (``bar`` / ``epoch`` / ``off``), else by where the code
runs: a bar on a terminal and in a notebook a front end shows as it runs (JupyterLab, Notebook,
VS Code), logged lines elsewhere - a batch run such as papermill's saves its outputs, where a
bar's widget would stay as clutter.
"""
from __future__ import annotations

import os
import sys

__all__ = ["kernel_front_end", "progress_mode"]


def progress_mode(progress="auto") -> str:
    """``"bar"`` (tqdm), ``"epoch"`` (one logged line per epoch or run) or ``"off"``, for a
    ``progress`` argument: one of those, True (bar), False (off) or ``"auto"``."""
    if progress in ("bar", "epoch", "off"):
        return progress
    if progress is True:
        return "bar"
    if progress is False:
        return "off"
    env = os.environ.get("NNLIB_PROGRESS", "").strip().lower()
    if env in ("bar", "epoch", "off"):
        return env
    front_end = kernel_front_end()
    if front_end is not None:  # a kernel: tqdm.auto draws a widget, which only a front end shows
        return "bar" if front_end else "epoch"
    return "bar" if sys.stderr.isatty() else "epoch"


def kernel_front_end() -> bool | None:
    """In a Jupyter kernel, whether a front end shows its outputs as they come (JupyterLab,
    Notebook, VS Code) rather than a batch executor saving them (papermill, nbclient); None
    outside a kernel.

    JupyterLab's server names the session of each kernel it starts (``JPY_SESSION_NAME``); VS
    Code's notebook kernels inherit its ``VSCODE_PID``. A batch run started from a terminal inside
    VS Code (``TERM_PROGRAM=vscode``) is not a front end; one started from a notebook cell
    (``!papermill ...``) inherits the cell's kernel's variables and cannot be told apart: set
    ``NNLIB_PROGRESS=epoch`` and ``NNLIB_LOG=off`` for it.
    """
    try:
        from ipykernel.zmqshell import ZMQInteractiveShell
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if not isinstance(shell, ZMQInteractiveShell):  # Colab's and Spyder's shells subclass it
        return None
    vscode = "VSCODE_PID" in os.environ and os.environ.get("TERM_PROGRAM") != "vscode"
    return "JPY_SESSION_NAME" in os.environ or vscode
