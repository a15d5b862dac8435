"""``nnlib report --check``: is the published report the one this checkout would build?

Per notebook it compares what the report recorded (``provenance``) with the working tree and says
``current`` or ``stale: <why>`` - the notebook's source changed, it was published with other
parameters, the code that computes numbers changed, the lab report's reference numbers changed,
its executed copy or ``index.json`` were edited by hand, it failed, or it is not published. Then
the rendered files (pages, ``report.html``, ``report.pdf``, ``index.html``, ``results.md``: each
must be what the last render wrote, made from the current index and executed notebooks), the
README's results summary and build line (written from the published index) and the run-time line
in each notebook's first cell (``runtime``).

Nothing is executed and nothing is written: the check reads files and hashes source.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..codehash import PACKAGE_DIR
from ..io import file_sha256
from ..paths import project_root, published_reports_dir
from .build import list_notebooks
from .env import ReportError
from .outputs import headline_rows
from .parameters import parameters_summary
from .provenance import numeric_sha256, outputs_sha256, reference_sha256, source_sha256
from .readme import readme_problems
from .render import INDEX, PDF, inputs_sha256, read_index
from .runtime import run_time_problems

__all__ = ["PUBLISHED_PARAMETERS", "Finding", "check_report", "check_text"]

#: What the published report's notebooks are executed with: a full build, default parameters.
PUBLISHED_PARAMETERS = {"QUICK": False}


@dataclass
class Finding:
    """One line of the check: a notebook (or "pages", "README.md") and why it is stale."""

    item: str
    reasons: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def current(self) -> bool:
        return not self.reasons

    def text(self, width: int = 22) -> str:
        state = "current" if self.current else "stale: " + "; ".join(self.reasons)
        return f"  {self.item:<{width}} {state}" + (f" ({self.note})" if self.current and
                                                     self.note else "")


def _read_nb(path: Path):
    import nbformat
    return nbformat.read(path, as_version=4)


def _notebook(name: str, source: Path | None, row: dict | None, out: Path, numeric: str,
              reference: str) -> Finding:
    found = Finding(name)
    why = found.reasons
    if row is None:
        why.append("not published (make report)")
        return found
    if row.get("status") != "ok":
        why.append(f"failed when published: {row.get('error') or row.get('status')}")
    prov = row.get("provenance")
    if not isinstance(prov, dict):
        why.append("no provenance recorded (published by an older nnlib)")
        return found
    if source is None:
        why.append("no longer in notebooks/")
    else:
        try:
            if source_sha256(_read_nb(source)) != prov.get("source_sha256"):
                why.append("source changed")
        except Exception as exc:  # an unreadable notebook cannot match what was published
            why.append(f"source unreadable ({type(exc).__name__})")
    if prov.get("parameters") != PUBLISHED_PARAMETERS:
        why.append(f"parameters differ (published with "
                   f"{parameters_summary(prov.get('parameters') or {})}; the report's are "
                   f"{parameters_summary(PUBLISHED_PARAMETERS)})")
    if prov.get("numeric_sha256") != numeric:
        why.append("numeric code changed")
    if prov.get("reference_sha256") != reference:
        why.append("reference numbers changed")
    executed = out / row.get("executed", f"executed/{name}.ipynb")
    try:
        nb = _read_nb(executed)
    except FileNotFoundError:
        why.append(f"{executed.relative_to(out)} is missing")
        return found
    except Exception as exc:
        why.append(f"{executed.relative_to(out)} is unreadable ({type(exc).__name__})")
        return found
    if outputs_sha256(nb) != prov.get("outputs_sha256"):
        why.append(f"outputs edited by hand ({executed.relative_to(out)} is not what {INDEX} "
                   "records: edited, or written by a build that did not finish)")
    elif nb.metadata.get("nnlib") != prov:
        why.append(f"{executed.relative_to(out)} and {INDEX} record different provenance")
    if headline_rows(nb) != (row.get("headlines") or []):
        why.append(f"{INDEX}'s headline numbers differ from the executed notebook's")
    return found


def _rendered(out: Path, index: dict, pdf: bool) -> Finding:
    found = Finding("pages")
    rendered = index.get("rendered")
    if not isinstance(rendered, dict):
        found.reasons.append("never rendered (nnlib report --render)")
        return found
    if rendered.get("inputs_sha256") != inputs_sha256(out, index):
        found.reasons.append(f"rendered from another {INDEX} or other executed notebooks "
                             "(nnlib report --render)")
    files = rendered.get("files") or {}
    for name, digest in files.items():
        path = out / name
        if not path.is_file():
            found.reasons.append(f"{name} is missing")
        elif file_sha256(path) != digest:
            found.reasons.append(f"{name} edited by hand (not what the last render wrote)")
    if rendered.get("pdf") == "stale":
        found.reasons.append(f"{PDF} is older than report.html (printed without Chromium: "
                             "nnlib report --render with Chromium installed)")
    elif pdf and PDF not in files:
        found.reasons.append(f"{PDF} was not printed (nnlib report --render with Chromium "
                             "installed)")
    pages = sum(1 for n in files if n.endswith(".html")) - 2  # but index.html and report.html
    found.note = f"report.html, {PDF}, index.html, results.md, {max(pages, 0)} pages"
    return found


def check_report(out=None, *, notebooks_dir=None, root=None, package_dir=PACKAGE_DIR,
                 readme=None, pdf: bool = True) -> tuple[dict | None, list[Finding]]:
    """``(index, findings)``: the published report in ``out`` (default ``reports/``) checked
    against ``notebooks_dir`` and the nnlib source in ``package_dir``; ``readme`` (default
    ``<root>/README.md``; False: not checked); ``pdf``: whether a report without ``report.pdf``
    is stale (a stale one always is)."""
    root = Path(root) if root is not None else project_root()
    out = Path(out) if out is not None else published_reports_dir()
    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else root / "notebooks"
    try:
        index = read_index(out)
    except ReportError as exc:
        return None, [Finding("report", [str(exc)])]
    findings = []
    if index.get("mode") != "full":
        findings.append(Finding("report", [f"a {index.get('mode')} build, not the report"]))
    rows = {r.get("name"): r for r in index["notebooks"]}
    sources = {p.stem: p for p in list_notebooks(nb_dir)}
    numeric, reference = numeric_sha256(package_dir, root), reference_sha256(package_dir)
    for name in sorted(set(sources) | set(rows)):
        findings.append(_notebook(name, sources.get(name), rows.get(name), out, numeric,
                                  reference))
    findings.append(_rendered(out, index, pdf))
    if readme is not False:
        readme = Path(readme) if readme is not None else root / "README.md"
        findings.append(Finding(readme.name, readme_problems(readme, index),
                                note="results summary and build line"))
    findings.append(Finding("run-time lines", run_time_problems(nb_dir, index),
                            note="each notebook's first cell"))
    return index, findings


def check_text(index: dict | None, findings: list[Finding], out: Path) -> tuple[str, int]:
    """The check as lines a reader takes in at once, and its exit code (1 if anything is
    stale)."""
    head = f"nnlib report --check: {out}"
    if index is not None:
        head += f" (built {index.get('generated', '?')} at {index.get('commit', '?')})"
    width = max([len(f.item) for f in findings] + [10])
    lines = [head, *(f.text(width) for f in findings)]
    notebooks = [f for f in findings if f.item[:2].isdigit()]
    stale_nbs = [f.item for f in notebooks if not f.current]
    stale = [f for f in findings if not f.current]
    if index is None:
        lines.append("stale: there is no report to check; `make report` builds it")
        return "\n".join(lines), 1
    if not stale:
        lines.append(f"current: all {len(notebooks)} notebooks, the pages and the README match "
                     "this checkout")
        return "\n".join(lines), 0
    if stale_nbs:
        numbers = " ".join(n[:2] for n in stale_nbs)
        lines.append(f"stale: {len(stale_nbs)} of {len(notebooks)} notebooks; republish with "
                     f"`make report` (or `nnlib report --only {numbers}`)")
    else:
        lines.append("stale: " + ", ".join(f.item for f in stale)
                     + "; `nnlib report --render` re-renders them from the executed notebooks")
    return "\n".join(lines), 1
