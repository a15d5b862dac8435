"""Everything a reader opens, made from a build's executed notebooks and ``index.json`` alone: no
kernel, no training, seconds.

``render_report(out)`` writes, in ``out``: one page per notebook (``NN_name.html``), its log
(``executed/NN_name.log``), ``index.html``, ``results.md``, ``report.html`` (the whole lab as one
document) and ``report.pdf`` (with a local Chromium). It then records in ``index.json`` what it
rendered: the SHA-256 of every file it wrote and of its inputs, so that ``nnlib report --check``
sees a hand-edited page, or pages older than the notebooks they show. ``nnlib report`` renders
at the end of every build; ``nnlib report --render`` renders the published report again (a
presentation change needs no retraining).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import one_line
from ..io import file_sha256, write_json, write_text
from ..paths import project_root, published_reports_dir
from .browser import find_chromium, print_to_pdf, require_chromium
from .document import conclusions, render_document
from .env import ReportError
from .html import DOCUMENT, error_page, render_index, render_page, results_markdown
from .outputs import prepare
from .readme import update_readme
from .runtime import update_run_times

__all__ = ["INDEX", "PDF", "inputs_sha256", "read_index", "render_report"]

INDEX = "index.json"
PDF = "report.pdf"
#: Pages larger than this get a warning (figures too many or too fine).
PAGE_WARN_BYTES = 3 * 1024 * 1024


def read_index(out) -> dict:
    """The build's ``index.json`` in ``out``, or ReportError saying there is none."""
    path = Path(out) / INDEX
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path} does not exist: no report was built in {Path(out)}") from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path} is unreadable ({type(exc).__name__}): rebuild the report "
                          "(nnlib report)") from None
    if not isinstance(index, dict) or not isinstance(index.get("notebooks"), list):
        raise ReportError(f"{path} is not a report index (no 'notebooks' list)")
    return index


def inputs_sha256(out, index: dict) -> str:
    """SHA-256 of what the pages are made from: ``index.json`` (but its ``rendered`` record) and
    the bytes of every executed notebook it lists."""
    out = Path(out)
    h = hashlib.sha256()
    data = {k: v for k, v in index.items() if k != "rendered"}
    h.update(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    for row in index["notebooks"]:
        path = out / row.get("executed", f"executed/{row['name']}.ipynb")
        h.update(row["name"].encode() + b"\0")
        h.update(file_sha256(path).encode() if path.is_file() else b"missing")
    return h.hexdigest()


def _neighbours(rows: list[dict]) -> list[tuple]:
    items = [(r["page"], r["title"]) for r in rows]
    return [(items[i - 1] if i else None, items[i + 1] if i + 1 < len(items) else None)
            for i in range(len(items))]


def _page(out: Path, rec: dict, prev, nxt, log) -> str:
    """One notebook's page; its log and conclusions go into ``rec``."""
    import nbformat
    executed = out / rec.get("executed", f"executed/{rec['name']}.ipynb")
    if not executed.is_file():
        return error_page(rec, prev, nxt)
    try:
        nb = nbformat.read(executed, as_version=4)
        shown, log_text = prepare(nb, rec.get("parameters"))
        write_text(out / "executed" / f"{rec['name']}.log", log_text)
        rec.update(log=f"executed/{rec['name']}.log", conclusions=conclusions(nb))
        return render_page(shown, rec, prev, nxt)
    except Exception as exc:  # a broken notebook still gets a page saying so
        rec.update(status="error", error=one_line(f"HTML export failed: {type(exc).__name__}: "
                                                  f"{exc}"))
        log(f"[report] {rec['name']}: {rec['error']}")
        return error_page(rec, prev, nxt)


def render_report(out, *, pdf="auto", log=print) -> dict:
    """Render the report in ``out`` from its ``index.json`` and executed notebooks (see the
    module docstring); returns the updated index.

    ``pdf``: ``True`` prints ``report.pdf`` (ReportError without a browser), ``False`` leaves it
    alone, ``"auto"`` prints it when a Chromium/Chrome is installed and otherwise says so; a
    ``report.pdf`` that was not printed again is recorded as older than ``report.html``.
    """
    out = Path(out).resolve()
    index = read_index(out)
    rows = index["notebooks"]
    published = out == published_reports_dir()
    if published:  # each notebook's first cell says what a full build and a quick run take
        nb_dir = project_root() / "notebooks"
        update_run_times([*nb_dir.glob("*.ipynb"), *(out / "executed").glob("*.ipynb")], index,
                         nb_dir)
    browser = find_chromium() if pdf else None
    if pdf is True and browser is None:
        require_chromium()  # raises, naming what to install
    written = []
    for rec, (prev, nxt) in zip(rows, _neighbours(rows)):
        page = _page(out, rec, prev, nxt, log)
        write_text(out / rec["page"], page)
        written += [rec["page"]] + ([rec["log"]] if rec.get("log") else [])
        size = len(page.encode("utf-8"))
        if size > PAGE_WARN_BYTES:
            log(f"[report] warning: {rec['page']} is {size / 2**20:.1f} MB (> 3 MB); "
                "lower figure dpi or the number of figures")
    index.pop("rendered", None)
    index["failed"] = [r["name"] for r in rows if r["status"] != "ok"]
    write_text(out / "index.html", render_index(index))
    write_text(out / "results.md", results_markdown(index))
    write_text(out / DOCUMENT, render_document(index, out))
    written += ["index.html", "results.md", DOCUMENT]
    pdf_state = "absent"
    if browser is not None:
        print_to_pdf(out / DOCUMENT, out / PDF)
        written.append(PDF)
        pdf_state = "current"
    elif (out / PDF).exists():
        pdf_state = "stale"
        if pdf:
            log(f"[report] {PDF} not printed again (no Chromium/Chrome found): it is older than "
                f"{DOCUMENT}; install one (apt-get install chromium) and run nnlib report "
                "--render")
    index["rendered"] = {"inputs_sha256": inputs_sha256(out, index), "pdf": pdf_state,
                         "files": {name: file_sha256(out / name) for name in written}}
    write_json(out / INDEX, index)
    if published:
        readme = project_root() / "README.md"
        if update_readme(readme, index):
            log(f"[report] {readme.name}: the results summary and build line now show this report")
    return index
