"""``report.html``: the whole lab as one self-contained document, assembled from the notebook
pages of a build (whatever notebooks the index lists, in order - a notebook added later joins
without code changes).

Layout: a title block (what, when, commit, mode, parameters, total time), a summary (every
headline with published | replayed | ours and the verdicts), one section per notebook (its
narrative, figures, tables; code hidden until asked for), and "What we found" - the outputs of
each notebook's cells tagged ``conclusion``. A sticky table of contents lists the sections and
their sub-headings; ``@media print`` turns it into a clean PDF (see ``assets/report.css``).
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from .html import (
    CONTENT_BEGIN,
    CONTENT_END,
    asset,
    banner,
    headline_legend,
    headline_table_html,
    render_page,
    strip_cdn,
)
from .parameters import parameters_summary
from .provenance import machine_text, runs_behind, runs_of
from .readme import build_time_text

__all__ = ["conclusions", "render_document"]

TITLE = "nnlib — Neural Network lab 1, reproduced"
SUBTITLE = ("A three-layer MLP and a LeNet-style CNN on MNIST, written with NumPy only: the lab "
            "report's experiments re-run on its own protocol, compared with its published and "
            "replayed numbers, and taken further.")
_HEADING = re.compile(r'<h([1-6])([^>]*)\bid="([^"]+)"([^>]*)>(.*?)</h\1>', re.S)
_STYLE = re.compile(r"<style\b[^>]*>.*?</style>", re.S | re.I)


def conclusions(nb) -> list[str]:
    """The Markdown of a notebook's cells tagged ``conclusion``: a markdown cell's source, a code
    cell's Markdown (else plain-text) outputs."""
    found = []
    for cell in nb.cells:
        if "conclusion" not in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "markdown":
            found.append(cell.source)
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/markdown" in data:
                found.append(data["text/markdown"])
            elif out.get("output_type") == "stream" and out.get("name") == "stdout":
                found.append(out.get("text", ""))
            elif "text/plain" in data:
                found.append(data["text/plain"])
    return [text.strip() for text in found if text.strip()]


def _page_content(path: Path) -> str | None:
    try:
        page = path.read_text(encoding="utf-8")
    except OSError:
        return None
    begin, end = page.find(CONTENT_BEGIN), page.find(CONTENT_END)
    if begin < 0 or end < begin:
        return None
    return page[begin + len(CONTENT_BEGIN):end]


def _text(markup: str) -> str:
    """Visible text of a heading (no tags, no anchor pilcrow)."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).replace("¶", "").strip()


def _reanchor(content: str, prefix: str) -> tuple[str, list[tuple[int, str, str]]]:
    """Heading ids made unique across the document (``prefix-<id>``), links to them rewritten;
    returns the content and its headings ``(level, id, text)``."""
    headings, ids = [], set()

    def rename(m):
        level, before, old, after, inner = m.groups()
        new = f"{prefix}-{old}"
        ids.add(old)
        headings.append((int(level), new, _text(inner)))
        return f'<h{level}{before}id="{new}"{after}>{inner}</h{level}>'

    content = _HEADING.sub(rename, content)
    content = re.sub(r'href="#([^"]+)"',
                     lambda m: f'href="#{prefix}-{m.group(1)}"' if m.group(1) in ids
                     else m.group(0), content)
    return content, headings


def _head_styles() -> str:
    """The notebook CSS of nbconvert's lab template plus ours, once for the whole document."""
    import nbformat

    rec = {"mode": "full", "status": "ok", "parameters": {}, "name": "-", "title": "-",
           "commit": "-", "date": "-"}
    page = render_page(nbformat.v4.new_notebook(), rec)
    head = page[:page.find("</head>")]
    return "\n".join(_STYLE.findall(head))


def _cpu_text(seconds: float) -> str:
    return (f"{seconds / 3600:.1f} CPU-hours" if seconds >= 3600 else
            f"{seconds / 60:.0f} CPU-minutes")


def _commit_text(commit: str, dirty) -> str:
    return f"<code>{html.escape(str(commit))}</code>" + (" with uncommitted changes" if dirty
                                                          else "")


def _title_block(index: dict) -> str:
    rows = index["notebooks"]
    n_err = sum(r["status"] != "ok" for r in rows)
    mode = ("quick &mdash; a smoke run with reduced budgets: the numbers are <strong>not</strong>"
            " the report's results" if index["mode"] == "quick" else "full")
    params = parameters_summary(index.get("parameters", {}))
    machines = {machine_text((r.get("provenance") or {}).get("machine"), detail=True)
                for r in rows}
    t = runs_behind(rows)
    cpu = "" if t["run_cpu_s"] is None else f"; training them took {_cpu_text(t['run_cpu_s'])}"
    facts = [("Built", f"{html.escape(index['generated'])} at commit "
                       f"{_commit_text(index['commit'], index.get('dirty'))}"),
             ("Mode", mode), ("Parameters", f"<code>{html.escape(params)}</code>"),
             ("Notebooks", f"{len(rows)} ({n_err} with errors)" if n_err else str(len(rows))),
             ("Machine", html.escape("; ".join(sorted(machines)))),
             ("Time", f"{build_time_text(index)}; {t['trained'] + t['cached']} training runs, "
                      f"{t['trained']} trained in that execution, {t['cached']} from the run "
                      f"cache{cpu}"),
             ("Verify", "<code>nnlib report --check</code> says whether this report matches the "
                        "code you have; <code>make reproduce</code> trains everything again and "
                        'compares every number (<a href="#built">how this report was built</a>)')]
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return (f'<header class="nnlib-titleblock" id="top"><h1>{html.escape(TITLE)}</h1>'
            f'<div class="subtitle">{html.escape(SUBTITLE)}</div><dl>{items}</dl></header>')


def _short(digest) -> str:
    return f"<code>{html.escape(str(digest)[:12])}</code>" if digest else "–"


def _built(index: dict) -> str:
    """The appendix "How this report was built": per notebook its time, runs and CPU seconds,
    and what it was computed from."""
    rows, body = index["notebooks"], []
    for r in rows:
        p, runs = r.get("provenance") or {}, runs_of(r)
        dur = "–" if r.get("duration_s") is None else f"{r['duration_s']:.0f}"
        cost = runs.get("run_cpu_s")
        body.append(
            f"<tr><td>{html.escape(r['name'])}</td><td>{html.escape(r['status'])}</td>"
            f'<td class="num">{dur}</td>'
            f'<td class="num">{runs.get("trained", "–")} / {runs.get("cached", "–")}</td>'
            f'<td class="num">{runs.get("cpu_s", 0):.0f}</td>'
            f'<td class="num">{"–" if cost is None else f"{cost:.0f}"}</td>'
            f"<td>{html.escape(str(p.get('commit', r.get('commit', '–'))))}"
            f"{'+' if p.get('dirty') else ''}</td><td>{html.escape(r.get('date', '–'))}</td>"
            f"<td>{_short(p.get('source_sha256'))}</td></tr>")
    t = runs_behind(rows)
    total = sum(r.get("duration_s") or 0 for r in rows)
    cost = "–" if t["run_cpu_s"] is None else f"{t['run_cpu_s']:.0f}"
    body.append(f'<tr class="total"><td>all</td><td></td><td class="num">{total:.0f}</td>'
                f'<td class="num">{t["trained"]} / {t["cached"]}</td>'
                f'<td class="num">{t["cpu_s"]:.0f}</td><td class="num">{cost}</td>'
                "<td></td><td></td><td></td></tr>")
    first = next((r.get("provenance") for r in rows if r.get("provenance")), {}) or {}
    mnist = first.get("mnist_sha256") or {}
    inputs = [("Code that computes the numbers", _short(first.get("numeric_sha256"))
               + " (<code>nnlib.report.provenance.NUMERIC_ROOTS</code> and every module they "
                 "import, and <code>configs/</code>)"),
              ("The lab report's numbers", _short(first.get("reference_sha256"))
               + " (<code>nnlib.report.reference</code>)"),
              ("MNIST", ", ".join(f"{html.escape(k)} {_short(v)}" for k, v in mnist.items())
               or "–")]
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in inputs)
    return f"""<section class="nnlib-section nnlib-built" id="built">
<h1 id="built-title">How this report was built</h1>
<p>Each notebook was executed by papermill through the run cache: a training run it asked for
was either trained in that execution or taken from the cache, where an earlier execution on the
same machine had trained it from the same configuration, seed and code. <em>Time</em>: the
notebook's wall-clock seconds in its last execution (two notebooks ran side by side, so they add
up to more than the build took). <em>CPU s (this execution)</em>: what training took in it;
<em>CPU s (runs)</em>: what its runs took when they were trained, wherever they came from. The
last row counts each run once, however many notebooks use it.</p>
<table class="nnlib-built-table"><thead><tr><th>notebook</th><th>status</th><th>time (s)</th>
<th>runs trained / cached</th><th>CPU s (this execution)</th><th>CPU s (runs)</th>
<th>commit</th><th>executed</th><th>source</th></tr></thead>
<tbody>{"".join(body)}</tbody></table>
<h2 id="built-inputs">What it was computed from</h2>
<dl class="nnlib-inputs">{items}</dl>
<p>Every notebook records these hashes, its parameters and the machine in its executed copy
(<code>reports/executed/NN_name.ipynb</code>, metadata <code>nnlib</code>).
<code>nnlib report --check</code> compares them with the working tree and says, per notebook,
whether this report is current; <code>make reproduce</code> trains every run again from an empty
run cache and compares each headline number with this report. On the machine that built it the
numbers come back identical, bit for bit. On another CPU or BLAS library (a different OpenBLAS
kernel, MKL, Apple Accelerate) the floating-point sums run in another order, so the last bits
differ and training drifts from there: expect every number to be <em>consistent</em> by the
verdict rule, not identical.</p>
</section>"""


def _section(rec: dict, out: Path) -> tuple[str, list]:
    """One notebook's section and its TOC entries ``(level, id, text)``."""
    sid = f"nb-{rec['number']}"
    content = _page_content(out / rec["page"]) if rec.get("page") else None
    failed = rec["status"] != "ok"
    heading = f'<h1 id="{sid}-title">{html.escape(rec["title"])}</h1>' if content is None else ""
    if content is None:
        content = ('<p class="nnlib-missing">This notebook\'s page is missing or was made by an '
                   "older version: run <code>nnlib report --force --only "
                   f"{html.escape(rec['number'])}</code>.</p>")
    content, heads = _reanchor(content, sid)
    if heading:
        heads.insert(0, (1, f"{sid}-title", rec["title"]))
    extra = banner(rec) if failed else ""
    page = (f' <a class="nnlib-pagelink" href="{html.escape(rec["page"])}">(as its own page)'
            "</a>") if rec.get("page") else ""
    body = (f'<section class="nnlib-section{" failed" if failed else ""}" id="{sid}">'
            f"{heading}{extra}{content}<p class=\"nnlib-legend\">Notebook "
            f"<code>{html.escape(rec['name'])}.ipynb</code>{page}</p></section>")
    return body, heads


def _findings(index: dict) -> str:
    from nbconvert.filters.markdown import markdown2html
    parts = []
    for rec in index["notebooks"]:
        items = rec.get("conclusions") or []
        if rec["status"] != "ok":
            text = f"<p>Failed: <code>{html.escape(rec.get('error') or 'error')}</code></p>"
        elif items:
            text = "".join(markdown2html(t) for t in items)
        else:
            text = "<p>(no cell tagged <code>conclusion</code>)</p>"
        parts.append(f'<h3><a href="#nb-{html.escape(rec["number"])}">'
                     f"{html.escape(rec['title'])}</a></h3>"
                     f'<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown">{text}</div>')
    return ('<section class="nnlib-section nnlib-found" id="findings"><h1 id="findings-title">'
            "What we found</h1>" + "".join(parts) + "</section>")


def _toc(entries: list[tuple[str, str, list]]) -> str:
    """``entries``: ``(id, title, [(level, id, text), ...])`` per top-level item."""
    items = []
    for sid, title, heads in entries:
        subs = "".join(f'<li><a href="#{html.escape(i)}">{html.escape(t)}</a></li>'
                       for level, i, t in heads if level == 2)
        items.append(f'<li><a href="#{html.escape(sid)}">{html.escape(title)}</a>'
                     + (f"<ol>{subs}</ol>" if subs else "") + "</li>")
    return ('<nav class="nnlib-toc" aria-label="Contents"><div class="toc-title">'
            f'<a href="#top">Contents</a></div><ol>{"".join(items)}</ol>'
            '<p><a href="index.html">Index page</a></p></nav>')


def render_document(index: dict, out: Path) -> str:
    """The HTML of report.html for a build whose pages and index are in ``out``."""
    out = Path(out)
    sections, toc = [], [("top", "Title and summary", [(2, "summary", "Summary")])]
    for rec in index["notebooks"]:
        body, heads = _section(rec, out)
        sections.append(body)
        title = next((t for level, _, t in heads if level == 1), rec["title"])
        toc.append((f"nb-{rec['number']}", title, heads))
    toc.append(("findings", "What we found", []))
    toc.append(("built", "How this report was built", []))
    summary = (f'<section id="summary"><h2>Summary</h2><p class="nnlib-legend">'
               f"{headline_legend()}</p>{headline_table_html(index, 'nnlib-heads')}</section>")
    quick = " (quick)" if index["mode"] == "quick" else ""
    return strip_cdn(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(TITLE)}{quick}</title>
{_head_styles()}
</head>
<body class="jp-Notebook nnlib-document nnlib-code-hidden" data-jp-theme-light="true"
      data-jp-theme-name="JupyterLab Light">
<div class="nnlib-toolbar"><button type="button" id="nnlib-toggle-code">Show code</button></div>
{_toc(toc)}
<main>
{_title_block(index)}
{summary}
{chr(10).join(sections)}
{_findings(index)}
{_built(index)}
</main>
<script>{asset("report.js")}</script>
</body></html>
""")
