"""What a build reproduced: its headline numbers against those of another report (the one it
replaces, or the published one for ``nnlib report --reproduce``), one row per headline.

A headline is

- **identical** when our mean, its seed std and the seed count are the same floats as before (and
  so are its verdicts);
- **consistent** when the number moved, but the earlier one is consistent with the new one by the
  verdict rule the notebooks apply to every reference number (``compare.verdict``, with both
  numbers the mean of the same number of seeds: ``n_reference = n``);
- **differs** otherwise - and also when a headline is new or gone (the report changed shape).

One line sums it up - ``reproduced 32 headlines: 32 identical, 0 consistent (verdict rule),
0 differ`` - and ``reproduction.md`` / ``reproduction.json`` hold the rows.
"""
from __future__ import annotations

from pathlib import Path

from ..io import write_json, write_text
from .compare import verdict
from .html import ours_text

__all__ = ["REPRODUCTION_JSON", "REPRODUCTION_MD", "compare_headlines", "reproduction_line",
           "reproduction_markdown", "write_reproduction"]

REPRODUCTION_MD, REPRODUCTION_JSON = "reproduction.md", "reproduction.json"
IDENTICAL, CONSISTENT, DIFFERS = "identical", "consistent", "differs"


def _headlines(index: dict | None, names) -> dict:
    """``{(notebook, headline name): headline}`` of the notebooks ``names`` in ``index``."""
    found = {}
    for row in (index or {}).get("notebooks", []):
        if row.get("name") in names:
            for h in row.get("headlines") or []:
                found[(row["name"], str(h.get("name")))] = h
    return found


def _verdicts(h: dict) -> tuple:
    return tuple((h.get(k) or {}).get("verdict") for k in ("vs_published", "vs_replayed"))


def _judge(before: dict, now: dict) -> tuple[str, str]:
    same = all(before.get(k) == now.get(k) for k in ("ours", "ours_std", "n_seeds"))
    if same and _verdicts(before) == _verdicts(now):
        return IDENTICAL, ""
    b, m = before.get("ours"), now.get("ours")
    if b is None or m is None or not (0.0 <= m <= 1.0):
        return DIFFERS, "not an accuracy the verdict rule can compare"
    n = now.get("n_seeds") or 1
    v = verdict(b, m, now.get("ours_std"), n, now.get("family_std"), n_reference=n)
    if v.tolerance is None:
        return DIFFERS, f"Δ {m - b:+.4f}; one seed and no seed spread to judge it by"
    moved = [f"Δ {m - b:+.4f} (2σ·√(2/{n}) = {v.tolerance:.4f})"]
    if _verdicts(before) != _verdicts(now):
        moved.append("verdicts " + " / ".join(map(str, _verdicts(before))) + " → "
                     + " / ".join(map(str, _verdicts(now))))
    return (CONSISTENT if v.label == "consistent" else DIFFERS), "; ".join(moved)


def compare_headlines(before: dict | None, now: dict, names) -> list[dict]:
    """One row per headline of the notebooks ``names`` in either index: notebook, headline,
    before, now, status (identical / consistent / differs) and what changed."""
    names = set(names)
    old, new = _headlines(before, names), _headlines(now, names)
    rows = []
    for key in [*new, *(k for k in old if k not in new)]:
        b, n = old.get(key), new.get(key)
        if b is None:
            status, detail = DIFFERS, "new: not in the earlier report"
        elif n is None:
            status, detail = DIFFERS, "gone: not in this build"
        else:
            status, detail = _judge(b, n)
        rows.append({"notebook": key[0], "headline": key[1],
                     "before": None if b is None else ours_text(b),
                     "now": None if n is None else ours_text(n),
                     "status": status, "detail": detail})
    return rows


def reproduction_line(rows: list[dict]) -> str:
    """``reproduced 32 headlines: 32 identical, 0 consistent (verdict rule), 0 differ``."""
    count = {s: sum(r["status"] == s for r in rows) for s in (IDENTICAL, CONSISTENT, DIFFERS)}
    return (f"reproduced {len(rows)} headline{'s' if len(rows) != 1 else ''}: "
            f"{count[IDENTICAL]} identical, {count[CONSISTENT]} consistent (verdict rule), "
            f"{count[DIFFERS]} differ")


def reproduction_markdown(rows: list[dict], against: str) -> str:
    """The rows as a Markdown table under the summary line and what they were compared with."""
    lines = [f"# Reproduction: {reproduction_line(rows)}", "",
             f"Compared with: {against}.", "",
             "*identical*: the same floats (mean, seed std, seeds) and verdicts; *consistent*: "
             "the number moved but the earlier one is consistent with the new one by the verdict "
             "rule (`nnlib.report.compare.verdict`); *differs*: beyond it, or a headline new or "
             "gone.", "",
             "| notebook | headline | before | now | status | what changed |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r["notebook"], r["headline"], r["before"] or "–", r["now"] or "–", r["status"],
                 r["detail"] or ""]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_reproduction(out, rows: list[dict], against: str) -> None:
    """``reproduction.md`` and ``reproduction.json`` in ``out``."""
    out = Path(out)
    write_text(out / REPRODUCTION_MD, reproduction_markdown(rows, against))
    write_json(out / REPRODUCTION_JSON, {"summary": reproduction_line(rows), "against": against,
                                         "rows": rows})
