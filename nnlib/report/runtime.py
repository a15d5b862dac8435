"""The run-time line in each notebook's first cell: how long the notebook took in the published
build and how long its smoke run (``QUICK=True``) takes, between markers::

    **Run time**: <!-- run-time -->6.9 min in the published build (2 cores), 18 s with
    `QUICK=True`<!-- /run-time -->.

Rendering the published report rewrites the line in ``notebooks/`` and in the executed copies
(from ``index.json`` and the ``quick`` section of ``notebooks/expected_durations.json``), and
``nnlib report --check`` says when a notebook's line differs. The text between the markers is not
part of a notebook's source hash (``provenance.source_sha256``): publishing rewrites it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..io import write_text

__all__ = ["duration_text", "expected_lines", "quick_durations", "run_time_problems",
           "run_time_text", "strip_run_time", "update_run_times"]

MARK = re.compile(r"(<!-- run-time -->)(.*?)(<!-- /run-time -->)", re.S)
#: The section of ``notebooks/expected_durations.json`` with each notebook's quick-run seconds.
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


def run_time_text(full_s: float | None, cores: int | None, quick_s: float | None) -> str:
    """The line between the markers."""
    parts = []
    if full_s is not None:
        parts.append(f"{duration_text(full_s)} in the published build"
                     + (f" ({cores} cores)" if cores else ""))
    if quick_s is not None:
        parts.append(f"{duration_text(quick_s)} with `QUICK=True`")
    return ", ".join(parts) or "not measured yet"


def quick_durations(nb_dir: Path) -> dict:
    """``{notebook: seconds}`` of a quick build, from ``expected_durations.json`` ({} if none)."""
    try:
        data = json.loads((Path(nb_dir) / "expected_durations.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    quick = data.get(QUICK_KEY) if isinstance(data, dict) else None
    return {k: float(v) for k, v in (quick or {}).items() if isinstance(v, (int, float))}


def expected_lines(index: dict, nb_dir: Path) -> dict:
    """``{notebook: its run-time line}`` for the notebooks of a published ``index``."""
    quick = quick_durations(nb_dir)
    out = {}
    for row in index["notebooks"]:
        cores = ((row.get("provenance") or {}).get("machine") or {}).get("cores")
        out[row["name"]] = run_time_text(row.get("duration_s"), cores, quick.get(row["name"]))
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
            problems.append(f"{name}: its run-time line differs from the published build's "
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
