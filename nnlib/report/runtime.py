"""The run-time line in each notebook's first cell: how long the notebook took in a full build from
an empty run cache and how long its smoke run (``QUICK=True``) takes, between markers::

    **Run time**: <!-- run-time -->6.9 min in a full build from an empty run cache, 5 s with
    `QUICK=True` (2 cores)<!-- /run-time -->.

The seconds are ``notebooks/expected_durations.json``'s: the last cold full build (every run
trained; a run that several notebooks share is trained by the first that asks, so a notebook late
in the build — 04, 08 — takes seconds there and minutes alone) and a quick build, measured on the
machine the published report names. A republish that
takes its runs from the cache says nothing about what a reader's first run costs, so the line does
not come from the published build's own durations. Rendering the published report rewrites the
line in ``notebooks/`` and in the executed copies, and ``nnlib report --check`` says when a
notebook's line differs. The text between the markers is not part of a notebook's source hash
(``provenance.source_sha256``): publishing rewrites it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..io import write_text

__all__ = ["duration_text", "expected_lines", "measured_durations", "run_time_problems",
           "run_time_text", "strip_run_time", "update_run_times"]

MARK = re.compile(r"(<!-- run-time -->)(.*?)(<!-- /run-time -->)", re.S)
#: Seconds per notebook of the last cold full build (and, under :data:`QUICK_KEY`, of a quick
#: build), in ``notebooks/``: the run-time lines and the order of a first build read it.
EXPECTED_DURATIONS = "expected_durations.json"
#: The section of :data:`EXPECTED_DURATIONS` with each notebook's quick-run seconds.
QUICK_KEY = "quick"


def strip_run_time(text: str) -> str:
    """``text`` with the run-time line emptied (what a notebook's source hash covers)."""
    return MARK.sub(r"\1\3", text)


def duration_text(seconds: float) -> str:
    """"18 s", "6.9 min", "38 min"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"


def run_time_text(cold_s: float | None, quick_s: float | None, cores: int | None) -> str:
    """The line between the markers."""
    parts = []
    if cold_s is not None:
        parts.append(f"{duration_text(cold_s)} in a full build from an empty run cache")
    if quick_s is not None:
        parts.append(f"{duration_text(quick_s)} with `QUICK=True`")
    if not parts:
        return "not measured yet"
    return ", ".join(parts) + (f" ({cores} core{'s' if cores != 1 else ''})" if cores else "")


def measured_durations(nb_dir: Path) -> tuple[dict, dict]:
    """``({notebook: seconds}, {notebook: seconds})`` of the last cold full build and of a quick
    build, from ``expected_durations.json`` (empty dicts if none)."""
    try:
        data = json.loads((Path(nb_dir) / EXPECTED_DURATIONS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, {}
    if not isinstance(data, dict):
        return {}, {}

    def seconds(d):
        return {k: float(v) for k, v in (d or {}).items() if isinstance(v, (int, float))}
    return seconds(data), seconds(data.get(QUICK_KEY))


def expected_lines(index: dict, nb_dir: Path) -> dict:
    """``{notebook: its run-time line}`` for the notebooks of a published ``index``."""
    cold, quick = measured_durations(nb_dir)
    out = {}
    for row in index["notebooks"]:
        cores = ((row.get("provenance") or {}).get("machine") or {}).get("cores")
        out[row["name"]] = run_time_text(cold.get(row["name"]), quick.get(row["name"]), cores)
    return out


def _lines(path: Path) -> tuple[dict, list[str]]:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    found = [m.group(2) for c in nb["cells"] if c.get("cell_type") == "markdown"
             for m in MARK.finditer("".join(c.get("source", [])))]
    return nb, found


def run_time_problems(nb_dir: Path, index: dict) -> list[str]:
    """Why the notebooks' run-time lines differ from the published report's (empty: they do
    not). Notebooks without the markers are not checked."""
    problems = []
    for name, want in expected_lines(index, nb_dir).items():
        path = Path(nb_dir) / f"{name}.ipynb"
        try:
            _, found = _lines(path)
        except (OSError, ValueError):
            continue  # the notebook check names a missing or unreadable notebook
        if any(line != want for line in found):
            problems.append(f"{name}: its run-time line differs from expected_durations.json "
                            "(nnlib report --render rewrites it)")
    return problems


def update_run_times(paths, index: dict, nb_dir: Path) -> list[Path]:
    """Rewrite the run-time line of each notebook file in ``paths`` (sources or executed copies,
    named ``NN_name.ipynb``) from the published ``index``; returns the files that changed."""
    lines = expected_lines(index, nb_dir)
    changed = []
    for path in map(Path, paths):
        want = lines.get(path.stem)
        if want is None or not path.is_file():
            continue
        nb, found = _lines(path)
        if all(line == want for line in found):
            continue
        for cell in nb["cells"]:
            if cell.get("cell_type") == "markdown":
                text = "".join(cell.get("source", []))
                new = MARK.sub(lambda m, w=want: m.group(1) + w + m.group(3), text)
                if new != text:
                    cell["source"] = new.splitlines(keepends=True)
        write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        changed.append(path)
    return changed
