"""HTML of the report: one self-contained page per notebook (nbconvert's lab template, nothing
from a CDN, a banner on top), the index page with every headline and its verdicts, and the same
headlines as a Markdown table (``results.md``)."""
from __future__ import annotations

import html
import re
from pathlib import Path

from .compare import VERDICT_RULE, number_text, verdict_label, verdict_text
from .notebook import as_number
from .outputs import PARAMS_TAG
from .parameters import parameters_summary
from .reference import REPLAY_PROVENANCE

_PAGE_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{# nnlib: the lab template without anything loaded from a CDN; code hidden until asked for;
   banner and navigation; the report's CSS and JS inline #}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">{{ resources.nnlib_css }}</style>
{% endblock extra_css %}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
 alt="{{ output.metadata.get('nnlib_alt', 'figure') | escape_html }}">
</div>
{%- endblock data_png %}
{%- block body_header -%}
<body class="jp-Notebook nnlib-code-hidden" data-jp-theme-light="true"
      data-jp-theme-name="JupyterLab Light">
<div class="nnlib-toolbar"><button type="button" id="nnlib-toggle-code">Show code</button></div>
<main>
{{ resources.nnlib_nav_top }}
{{ resources.nnlib_banner }}
<!-- nnlib:content-begin -->
{%- endblock body_header -%}
{% block body_footer %}
<!-- nnlib:content-end -->
{{ resources.nnlib_nav_bottom }}
</main>
<script>{{ resources.nnlib_js }}</script>
</body>
{% endblock body_footer %}
"""

#: Markers around a page's notebook cells (report.html takes what is between them).
CONTENT_BEGIN, CONTENT_END = "<!-- nnlib:content-begin -->", "<!-- nnlib:content-end -->"
ASSETS = Path(__file__).resolve().parent / "assets"

_CDN_TAG = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>"
    r"|<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.IGNORECASE)


def asset(name: str) -> str:
    """The text of ``assets/<name>`` (the report's CSS and JS, inlined into every page)."""
    return (ASSETS / name).read_text(encoding="utf-8")


def strip_cdn(text: str) -> str:
    """Drop ``<script src=//...>`` and ``<link href=//...>`` tags (remote dependencies)."""
    return _CDN_TAG.sub("", text)


def banner(rec: dict) -> str:
    quick = rec["mode"] == "quick"
    ok = rec["status"] == "ok"
    klass = "error" if not ok else ("quick" if quick else "ok")
    head = ("Smoke run (quick mode): reduced budgets, numbers are not the report's results"
            if quick else "Full run")
    params = parameters_summary(rec["parameters"])
    dur = "-" if rec.get("duration_s") is None else f"{rec['duration_s']:.1f} s"
    rows = [f"<strong>{html.escape(head)}</strong>",
            (f"Notebook <code>{html.escape(rec['name'])}.ipynb</code> &middot; "
             f"status <strong>{html.escape(rec['status'])}</strong> &middot; "
             f"mode {html.escape(rec['mode'])} &middot; parameters <code>{html.escape(params)}"
             f"</code> &middot; duration {dur} &middot; commit <code>{html.escape(rec['commit'])}"
             f"</code> &middot; {html.escape(rec['date'])}")]
    if rec.get("log"):
        rows[-1] += f' &middot; <a href="{html.escape(rec["log"])}">log</a>'
    if not ok and rec.get("error"):
        rows.append(f"<strong>Error:</strong> <code>{html.escape(rec['error'])}</code>")
    body = "<br>\n".join(rows)
    return f'<div class="nnlib-banner {klass}">\n{body}\n</div>'


def navigation(prev: tuple | None, nxt: tuple | None, where: str = "top") -> str:
    """Previous / index / whole report / next links; ``prev``, ``nxt``: ``(page, title)``."""
    def link(item, arrow_left):
        if item is None:
            return '<span class="none">&nbsp;</span>'
        page, title = item
        text = f"&larr; {html.escape(title)}" if arrow_left else f"{html.escape(title)} &rarr;"
        rel = "prev" if arrow_left else "next"
        return f'<a href="{html.escape(page)}" rel="{rel}">{text}</a>'
    return (f'<nav class="nnlib-nav {where}">{link(prev, True)}'
            '<span><a href="index.html">Index</a> &middot; '
            f'<a href="{DOCUMENT}">Whole report</a></span>{link(nxt, False)}</nav>')


#: The whole lab as one document (next to index.html).
DOCUMENT = "report.html"


def error_page(rec: dict, prev=None, nxt=None) -> str:
    """A minimal page for a notebook whose HTML export failed: its title, banner, navigation."""
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(rec['title'])}</title><style>{asset('report.css')}</style></head>"
            f"<body><main>{navigation(prev, nxt)}{banner(rec)}{CONTENT_BEGIN}{CONTENT_END}"
            f"</main></body></html>")


def render_page(nb, rec: dict, prev=None, nxt=None) -> str:
    """One prepared notebook (``outputs.prepare``) as a self-contained HTML page: lab template,
    no CDN, code hidden until asked for, banner and previous / next / index links."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="lab", template_file="nnlib_page.html.j2",
                            extra_loaders=[DictLoader({"nnlib_page.html.j2": _PAGE_TEMPLATE})])
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"remove-cell", "injected-parameters"},
                              remove_input_tags={"remove-input", PARAMS_TAG},
                              remove_all_outputs_tags={"remove-output"}), enabled=True)
    resources = {"nnlib_banner": banner(rec), "metadata": {"name": rec["title"]},
                 "nnlib_nav_top": navigation(prev, nxt, "top"),
                 "nnlib_nav_bottom": navigation(prev, nxt, "bottom"),
                 "nnlib_css": asset("report.css"), "nnlib_js": asset("report.js")}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return strip_cdn(body)


_INDEX_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}.meta{color:#555;margin-bottom:1.2em}
.quick{background:#fff4e5;border:1px solid #ffd8a8;padding:.6em 1em;border-radius:6px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.45em .6em;
text-align:left;vertical-align:top}th{background:#f5f5f5}td.num{white-space:nowrap}
.ok{color:#1a7f37;font-weight:600}.error{color:#c62828;font-weight:600}
.err{color:#c62828;font-size:.9em}h2{font-size:1.25em;margin-top:1.6em}
.legend{color:#444;font-size:.92em}.heads td{font-size:.93em}
.v-consistent{color:#1a7f37}.v-above,.v-below{color:#9a6700;font-weight:600}
.heads td[class^="v-"]{white-space:nowrap}
code{font-size:.92em}a{color:#0b5cad}
.doc{font-size:1.05em;margin:1em 0 1.4em}
"""


def ours_text(r: dict) -> str:
    """A headline's nnlib column: "0.9811 ± 0.0008 (3 seeds)", or "–" without a number."""
    ours = r.get("ours")
    if ours is None:
        return "–"
    std, n = r.get("ours_std"), r.get("n_seeds")
    text = f"{ours:.4f}" + ("" if std is None else f" ± {std:.4f}")
    return text + ("" if n is None else f" ({n} seed{'s' if n != 1 else ''})")


def headline_table(index: dict) -> list[dict]:
    """One dict per headline of every notebook in ``index``: notebook, result, published,
    replayed, nnlib, vs published, vs replayed (display strings)."""
    out = []
    for nb in index["notebooks"]:
        for r in nb.get("headlines") or []:
            try:
                published = as_number(r.get("published", r.get("report")))
                replayed = as_number(r.get("replayed"))
                ours = {**r, "ours": as_number(r.get("ours")),
                        "ours_std": as_number(r.get("ours_std"))}
            except ValueError:
                continue
            out.append({"notebook": nb["name"], "result": str(r.get("name", "")),
                        "published": number_text(published), "replayed": number_text(replayed),
                        "nnlib": ours_text(ours),
                        "vs published": verdict_text(r.get("vs_published"), "published"),
                        "vs replayed": verdict_text(r.get("vs_replayed"), "replayed"),
                        "summary": bool(r.get("summary"))})
    return out


_HEADLINE_COLUMNS = ("notebook", "result", "published", "replayed", "nnlib", "vs published",
                     "vs replayed")


def _markdown_table(rows: list[dict]) -> list[str]:
    lines = ["| " + " | ".join(_HEADLINE_COLUMNS[:4]) + " | nnlib (mean ± std) | "
             + " | ".join(_HEADLINE_COLUMNS[5:]) + " |",
             "|" + "---|" * len(_HEADLINE_COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(row[c].replace("|", "\\|") for c in _HEADLINE_COLUMNS)
                     + " |")
    return lines


def verdict_tally(index: dict) -> dict:
    """``{"published": {...}, "replayed": {...}}``: how many headlines of ``index`` are
    consistent with each reference, or have it above or below ours (unjudged rows apart)."""
    tally = {who: dict.fromkeys(("consistent", "above", "below", "unjudged"), 0)
             for who in ("published", "replayed")}
    for nb in index["notebooks"]:
        for r in nb.get("headlines") or []:
            for who in tally:
                label = (r.get(f"vs_{who}") or {}).get("verdict")
                if label in tally[who]:
                    tally[who][label] += 1
    return tally


def summary_markdown(index: dict) -> str:
    """The README's results summary: the headlines the notebooks marked ``summary`` (the lab's
    final models and ours), the verdict counts over every headline, and where the full table is."""
    rows = [r for r in headline_table(index) if r["summary"]]
    n = sum(len(nb.get("headlines") or []) for nb in index["notebooks"])

    def counts(who):
        t = tally[who]
        judged = t["consistent"] + t["above"] + t["below"]
        return (f"{t['consistent']} of {judged} consistent ({t['above']} with the {who} number "
                f"above ours, {t['below']} below)")
    tally = verdict_tally(index)
    return "\n".join([
        *_markdown_table(rows), "",
        f"All {n} headline numbers: [`reports/results.md`](reports/results.md). Against the "
        f"report's code replayed, {counts('replayed')}; against its published numbers, "
        f"{counts('published')}.", ""])


def results_markdown(index: dict) -> str:
    """The headline numbers of ``index`` as a Markdown table (``reports/results.md``)."""
    lines = _markdown_table(headline_table(index))
    durations = ", ".join(f"{r['name']} {r['duration_s']:.0f}" for r in index["notebooks"]
                          if r.get("duration_s") is not None)
    return "\n".join(lines) + f"\n\nPer-notebook durations (s): {durations or '-'}\n"


def headline_table_html(index: dict, klass: str = "heads") -> str:
    """The headline numbers of ``index`` as an HTML table (index page and report.html)."""
    rows = []
    for h in headline_table(index):
        cells = []
        for c in _HEADLINE_COLUMNS:
            text = html.escape(h[c])
            attr = ""
            if c.startswith("vs "):
                attr = f' class="v-{verdict_label(h[c])}"' if h[c] != "–" else ""
            elif c in ("published", "replayed", "nnlib"):
                attr = ' class="num"'
            cells.append(f"<td{attr}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in _HEADLINE_COLUMNS)
    return (f'<table class="{klass}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + "\n</tbody></table>")


def headline_legend() -> str:
    return ("Test accuracy. <em>published</em>: the lab report's number; <em>replayed</em>: "
            f"{html.escape(REPLAY_PROVENANCE)}; <em>nnlib</em>: ours, mean ± std over seeds. "
            f"{html.escape(VERDICT_RULE.replace('*', ''))}")


def render_index(index: dict) -> str:
    quick = index["mode"] == "quick"
    rows = []
    for r in index["notebooks"]:
        dur = "-" if r.get("duration_s") is None else f"{r['duration_s']:.1f} s"
        err = (f'<div class="err">{html.escape(r["error"])}</div>'
               if r.get("error") else "")
        n_head = len(r.get("headlines") or [])
        rows.append(
            f"<tr><td>{html.escape(r['number'])}</td>"
            f"<td><a href=\"{html.escape(r['page'])}\">{html.escape(r['title'])}</a>{err}</td>"
            f"<td class=\"{html.escape(r['status'])}\">{html.escape(r['status'])}</td>"
            f"<td class=\"num\">{dur}</td><td class=\"num\">{n_head}</td></tr>")
    note = ('<p class="quick"><strong>Smoke run (quick mode)</strong>: reduced budgets; the '
            "numbers below are not the report's results.</p>") if quick else ""
    n_err = sum(r["status"] != "ok" for r in index["notebooks"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>nnlib report{' (quick)' if quick else ''}</title>
<style>{_INDEX_CSS}</style></head>
<body>
<h1>nnlib &mdash; MNIST lab report</h1>
<div class="meta">mode {html.escape(index['mode'])} &middot; commit
<code>{html.escape(index['commit'])}</code> &middot; {html.escape(index['generated'])} &middot;
{len(index['notebooks'])} notebooks, {n_err} with errors</div>
{note}
<p class="doc"><a href="{DOCUMENT}"><strong>Read the whole report</strong></a> &mdash; every
notebook in one document: summary, sections, figures, verdicts and what we found
(code hidden until asked for; prints to PDF).</p>
<table>
<thead><tr><th>#</th><th>Notebook</th><th>Status</th><th>Duration</th><th>Headlines</th></tr>
</thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Headline numbers</h2>
<p class="legend">{headline_legend()}</p>
{headline_table_html(index)}
</body></html>
"""
