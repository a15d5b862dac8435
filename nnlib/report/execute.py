"""Executing one notebook of a report: papermill runs it (its training through the run cache)
into ``executed/``, and its record says how it went and what it was computed from.

The executed notebook replaces the previous one only when the execution ends - ok or failed -
never when it is interrupted; a successful execution is noted in this machine's run cache
(``runs/.report-executions/``), which is what lets a later build skip it (``executed_here``).
"""
from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import one_line
from ..io import write_json, write_text
from ..paths import NOTEBOOK_ENV
from .env import KERNEL_NAME, kernel_manager_with_env, now
from .outputs import headline_rows
from .parameters import check_parameters
from .provenance import provenance, run_summary

__all__ = ["EXECUTED_HERE", "NOTEBOOK_RE", "RUN_LOG", "Build", "execute", "executed_here",
           "keep_other_runs", "read_record", "title"]

NOTEBOOK_RE = re.compile(r"^(\d{2})_")
RUN_LOG = "runs.jsonl"
#: Where the run cache notes which notebooks this machine executed (``executed_here``).
EXECUTED_HERE = ".report-executions"


def title(nb, fallback: str) -> str:
    """A notebook's first Markdown heading, else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            m = re.match(r"^\s*#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m and m.group(1):
                return m.group(1)
    return fallback


def failure(exc: BaseException) -> str:
    """A notebook's failure as one line: papermill's error and cell, else the exception."""
    from papermill.exceptions import PapermillExecutionError
    if isinstance(exc, PapermillExecutionError):
        msg = f"{exc.ename}: {exc.evalue}" if exc.evalue else str(exc.ename)
        return one_line(f"{msg} (cell In [{exc.exec_count}])")
    return one_line(f"{type(exc).__name__}: {exc}")


def read_record(path: Path) -> dict | None:
    """``executed/NN_name.json``: a notebook's record from its last execution (None if absent
    or unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _run_lines(run_log: Path, name: str) -> list[dict]:
    """The run log's lines of notebook ``name`` (one per training run it asked for). A run the
    build trained on a cluster before any notebook asked (``nnlib.lab.prefetch``: a line with no
    notebook) counts as trained by the first notebook that asked for it."""
    try:
        text = run_log.read_text(encoding="utf-8")
    except OSError:
        return []
    lines, ahead, first_asker = [], set(), {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a killed writer says nothing
        if not isinstance(entry, dict):
            continue
        if entry.get("notebook") is None and entry.get("trained"):
            ahead.add(entry.get("key"))
        elif entry.get("notebook") is not None:
            first_asker.setdefault(entry.get("key"), entry["notebook"])
        if entry.get("notebook") == name:
            lines.append(entry)
    return [{**line, "trained": True} if line.get("key") in ahead
            and first_asker.get(line.get("key")) == name else line for line in lines]


def keep_other_runs(run_log: Path, names: set) -> None:
    """Drop the run log's lines of the notebooks about to run (theirs are rewritten), keep the
    others': the log always describes the runs behind each notebook's latest execution."""
    try:
        lines = run_log.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    kept = []
    for line in lines:
        try:
            if json.loads(line).get("notebook") not in names:
                kept.append(line)
        except (ValueError, AttributeError):
            continue
    write_text(run_log, "".join(f"{line}\n" for line in kept))


@dataclass(frozen=True)
class Build:
    """What every notebook of one build shares."""

    out: Path
    nb_dir: Path
    mode: str
    commit: str
    dirty: bool | None
    cell_timeout: float
    machine: dict
    numeric: str
    reference: str
    run_log: Path
    runs_root: Path


def execute(path: Path, *, build: Build, parameters: dict, key: str, log) -> dict:
    """Execute one notebook (papermill) into ``executed/`` with its provenance in its metadata,
    and write its record; never raises for notebook problems. The previous executed notebook is
    replaced only when this execution ends (ok or failed), not when it is interrupted."""
    import nbformat
    import papermill

    name = path.stem
    executed = build.out / "executed" / f"{name}.ipynb"
    running = executed.with_name(f".{name}.running.ipynb")
    executed.parent.mkdir(parents=True, exist_ok=True)
    source_nb = nbformat.read(path, as_version=4)
    rec = {"number": NOTEBOOK_RE.match(name).group(1), "name": name,
           "title": title(source_nb, name), "status": "ok", "error": None, "duration_s": None,
           "page": f"{name}.html", "executed": f"executed/{name}.ipynb", "headlines": [],
           "parameters": parameters, "mode": build.mode, "commit": build.commit,
           "date": now(), "key": key}
    nb = source_nb
    problem = check_parameters(path, parameters)
    t0 = time.monotonic()
    if problem:
        rec.update(status="error", error=problem)  # logged by the progress line
    else:
        rec["started"] = round(time.time(), 3)
        try:
            # cwd via the kernel's resources, not papermill's cwd= (which os.chdir()s the whole
            # process and races when several notebooks run in threads)
            papermill.execute_notebook(
                str(path), str(running), parameters=parameters, kernel_name=KERNEL_NAME,
                language="python", progress_bar=False, log_output=False,
                execution_timeout=build.cell_timeout,
                resources={"metadata": {"path": str(build.nb_dir)}},
                kernel_manager_class=kernel_manager_with_env({NOTEBOOK_ENV: name}))
        except Exception as exc:
            rec.update(status="error", error=failure(exc))
        except BaseException:  # Ctrl-C / SIGTERM: record it, so the next build re-runs this one
            running.unlink(missing_ok=True)
            rec.update(status="interrupted", error="interrupted while executing",
                       duration_s=round(time.monotonic() - t0, 2))
            write_json(build.out / "executed" / f"{name}.json", rec)
            raise
        rec["duration_s"] = round(time.monotonic() - t0, 2)
        if running.exists():
            try:
                nb = nbformat.read(running, as_version=4)
            except Exception as exc:
                rec.update(status="error", error=rec["error"] or f"unreadable output: {exc}")
        rec["headlines"] = headline_rows(nb)
    lines = _run_lines(build.run_log, name)
    rec["run_keys"] = sorted({line["key"] for line in lines if line.get("key")})
    rec["provenance"] = provenance(
        source_nb, nb, parameters=parameters, numeric=build.numeric, reference=build.reference,
        headlines=rec["headlines"], commit=build.commit, dirty=build.dirty,
        host=build.machine, duration_s=rec["duration_s"], runs=run_summary(lines))
    nb.metadata["nnlib"] = rec["provenance"]
    write_text(executed, nbformat.writes(nb))
    running.unlink(missing_ok=True)
    write_json(build.out / "executed" / f"{name}.json", rec)
    if rec["status"] == "ok":
        _mark_executed_here(build.runs_root, name, key, rec["run_keys"])
    return rec


# --- what this machine executed (skipping is for builds made here) ---------------------------

def _marker(runs_root: Path, name: str, key: str) -> Path:
    return runs_root / EXECUTED_HERE / f"{name}-{key}.json"


def _mark_executed_here(runs_root: Path, name: str, key: str, run_keys: list) -> None:
    """Note in this machine's run cache that it executed ``name`` with skip key ``key``."""
    # without the note the next build executes it again: slower, never wrong
    with contextlib.suppress(OSError):
        write_json(_marker(runs_root, name, key), {"date": now(), "run_keys": run_keys})


def executed_here(runs_root: Path, name: str, key: str, run_keys) -> bool:
    """Whether this machine executed ``name`` with ``key`` and still has every run it used in
    its cache: a published report copied here, or a run cache emptied since, is not."""
    if not _marker(runs_root, name, key).is_file():
        return False
    return all((runs_root / k / "manifest.json").is_file() for k in run_keys or [])
