"""The README's two generated blocks: where the report is and when it was built, and the results
summary (the headlines the notebooks mark ``summary``, with the verdict counts; the full table is
``reports/results.md``). Rendering the published report rewrites them; ``nnlib report --check``
says when they do not match it.

In ``README.md`` each block sits between markers::

    <!-- report-built -->
    ...
    <!-- /report-built -->
"""
from __future__ import annotations

import re
from pathlib import Path

from ..io import write_text
from .html import summary_markdown
from .provenance import runs_behind

__all__ = ["BLOCKS", "build_time_text", "built_line", "readme_problems", "update_readme"]

BUILT, RESULTS = "report-built", "results-summary"
BLOCKS = (BUILT, RESULTS)


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- {name} -->\n)(.*?)(<!-- /{name} -->)", re.S)


def built_line(index: dict) -> str:
    """The README's first-screen sentence about the published report."""
    rows = index["notebooks"]
    date = str(index.get("generated", "?")).split(" ")[0]
    cores = {((r.get("provenance") or {}).get("machine") or {}).get("cores") for r in rows}
    cores_text = f" on {cores.pop()} cores" if len(cores) == 1 and None not in cores else ""
    runs = runs_behind(rows)
    trained, cached = runs["trained"], runs["cached"]
    dirty = " (with uncommitted changes)" if index.get("dirty") else ""
    plural = "s" if len(rows) != 1 else ""
    return (f"**Read the report: [`reports/report.html`](reports/report.html)** (open it in a "
            f"browser; also [`report.pdf`](reports/report.pdf), and each notebook with its "
            f"outputs in [`reports/executed/`](reports/executed/)). Built on {date} at commit "
            f"`{index.get('commit', '?')}`{dirty}: {len(rows)} notebook{plural}, "
            f"{build_time_text(index)}{cores_text}, {trained} training runs trained and {cached} "
            "taken from the run cache. `nnlib report --check` says whether it matches your "
            "checkout.\n")


def build_time_text(index: dict) -> str:
    """"43 min" (the build's wall time) when one build executed every notebook, else what the
    notebooks' last executions added up to."""
    rows = index["notebooks"]
    if rows and not any(r.get("skipped") for r in rows) and index.get("duration_s"):
        return f"built in {index['duration_s'] / 60:.0f} min"
    total = sum(r.get("duration_s") or 0 for r in rows) / 60
    return f"{total:.0f} min of notebook execution (their last runs, added up)"


def _expected(index: dict) -> dict:
    return {BUILT: built_line(index), RESULTS: summary_markdown(index)}


def readme_problems(readme: Path, index: dict) -> list[str]:
    """Why the README's blocks do not match the published report (empty: they do)."""
    try:
        text = Path(readme).read_text(encoding="utf-8")
    except OSError:
        return [f"{readme} is unreadable"]
    problems = []
    for name, want in _expected(index).items():
        m = _block(name).search(text)
        if m is None:
            problems.append(f"no <!-- {name} --> block")
        elif m.group(2) != want:
            what = "results summary" if name == RESULTS else "build line"
            problems.append(f"its {what} differs from the published report's (nnlib report "
                            "--render rewrites it)")
    return problems


def update_readme(readme: Path, index: dict) -> bool:
    """Rewrite the README's blocks from the published report; True if the file changed. A README
    without the markers is left alone."""
    readme = Path(readme)
    try:
        text = original = readme.read_text(encoding="utf-8")
    except OSError:
        return False
    for name, want in _expected(index).items():
        text = _block(name).sub(lambda m, w=want: m.group(1) + w + m.group(3), text, count=1)
    if text != original:
        write_text(readme, text)
    return text != original
