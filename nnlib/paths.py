"""Where nnlib keeps things: the project root, the MNIST cache, the run cache and the run log."""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """``$NNLIB_HOME``, else the source checkout nnlib runs from, else the current folder."""
    env = os.environ.get("NNLIB_HOME")
    if env:
        return Path(env).resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists() and (checkout / "nnlib").is_dir():
        return checkout
    return Path.cwd()


def default_runs_dir() -> Path:
    """``$NNLIB_RUNS``, else ``<project root>/runs``."""
    return Path(os.environ.get("NNLIB_RUNS", project_root() / "runs"))


def published_reports_dir() -> Path:
    """``<project root>/reports``: the published report (committed with the code)."""
    return (project_root() / "reports").resolve()


def default_data_dir() -> Path:
    """``$NNLIB_DATA``, else ``<project root>/data``."""
    return Path(os.environ.get("NNLIB_DATA", project_root() / "data"))


#: A file ``nnlib.lab.experiments.run`` appends one JSON line per call to, when set (the report
#: sets it: where a report's time went, read by ``benchmarks/report_time.py``).
RUN_LOG_ENV = "NNLIB_RUN_LOG"
#: The notebook a kernel executes (the report sets it per kernel; the run log records it).
NOTEBOOK_ENV = "NNLIB_NOTEBOOK"
