"""Build the HTML lab report: execute ``notebooks/NN_*.ipynb`` with papermill, render each with
nbconvert, and write an index page with one row per notebook.

Layout of the output folder (``reports/`` for a full run, ``reports/quick/`` for ``--quick``)::

    index.html, index.json          one row per notebook (title, status, duration, headlines
                                    with their verdicts against the published / replayed numbers)
    results.md                      the headline numbers as a Markdown table (README's results)
    NN_xx_name.html                 one self-contained page per notebook (no CDN, PNGs inline)
    executed/NN_xx_name.ipynb       the executed notebook (papermill output)
    executed/NN_xx_name.json        its record: status, error, duration, headlines, skip key

Re-running: a notebook is executed again unless its previous record says "ok" and was made with
the same *skip key* - SHA-256 of the source notebook, the parameters, nnlib's source hash
(``experiments.source_hash``), the files under ``configs/``, and the Python and NumPy versions.
Anything else a notebook reads (e.g. a deleted run cache) is not part of the key: use
``force=True`` (``nnlib report --force``) to execute everything. Expensive training is cached in
nnlib's run cache anyway, so forced re-runs are cheap unless the runs themselves changed.

Notebooks report their headline numbers with :func:`headline`; the index collects them.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["HEADLINE_MIME", "ReportError", "build_report", "headline", "kernel_check",
           "list_notebooks"]

HEADLINE_MIME = "application/vnd.nnlib.headline+json"
KERNEL_NAME = "python3"
PAGE_WARN_BYTES = 3 * 1024 * 1024
NOTEBOOK_RE = re.compile(r"^(\d{2})_")
KERNEL_ENV = {
    "NNLIB_PROGRESS": "epoch",  # one printed line per epoch instead of tqdm bars
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # figures as inline PNG outputs
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # silence the debugger's frozen-modules warning
}


class ReportError(RuntimeError):
    """The report cannot be built at all (bad environment, bad arguments)."""


# --- for notebooks ----------------------------------------------------------------------------

def _num(x):
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValueError(f"headline value {x!r} is not a number") from None


def _acc(x) -> str:
    return "–" if x is None else f"{x:.4f}"


def _verdicts(r: dict) -> dict:
    """``vs_published`` / ``vs_replayed``: ``compare.Verdict.to_dict()`` or None (no reference,
    or "ours" is not an accuracy)."""
    from .compare import verdict
    out = {}
    ours = r["ours"]
    for key in ("published", "replayed"):
        ref = r.get(key)
        ok = ref is not None and ours is not None and 0.0 <= ours <= 1.0
        out[f"vs_{key}"] = (verdict(ref, ours, r["ours_std"], r["n_seeds"] or 1).to_dict()
                            if ok else None)
    return out


def verdict_text(v: dict | None) -> str:
    """A stored verdict as a cell: "consistent", "higher by 0.0151", "lower by 0.0031" or "–"."""
    if not v or v.get("verdict") in (None, "none"):
        return "–"
    if v["verdict"] == "consistent":
        return "consistent"
    return f"{v['verdict']} by {abs(v['difference']):.4f}"


def headline(rows) -> list[dict]:
    """Publish a notebook's headline numbers for the report index.

    ``rows``: dicts ``{"name": str, "ours": float, "ours_std": float|None, "n_seeds": int|None,
    "published": float|None, "replayed": float|None}`` (``published``: the report's own number,
    also accepted as ``report``; ``replayed``: the report's code re-run, see
    ``nnlib.report.reference``). Each row gets its verdicts against both (``nnlib.report.compare.verdict``;
    ``vs_published`` / ``vs_replayed``, None without a reference). Displays them as a text
    table in the notebook and, under the ``application/vnd.nnlib.headline+json`` mime type, for
    ``build_report`` to pick up. Returns the normalised rows.
    """
    if isinstance(rows, dict):
        rows = [rows]
    clean = []
    for row in rows:
        if "name" not in row or "ours" not in row:
            raise ValueError(f"headline row needs 'name' and 'ours': {row!r}")
        n = row.get("n_seeds")
        r = {"name": str(row["name"]), "ours": _num(row["ours"]),
             "ours_std": _num(row.get("ours_std")), "n_seeds": None if n is None else int(n),
             "published": _num(row.get("published", row.get("report"))),
             "replayed": _num(row.get("replayed"))}
        r.update(_verdicts(r))
        clean.append(r)
    width = max([len(r["name"]) for r in clean] + [4])
    lines = [(f"{'name':<{width}}  {'nnlib':>18}  {'published':>9}  {'replayed':>8}  "
              f"{'vs published':<18}  vs replayed")]
    for r in clean:
        ours = _acc(r["ours"]) + ("" if r["ours_std"] is None else f" ± {r['ours_std']:.4f}")
        lines.append(f"{r['name']:<{width}}  {ours:>18}  {_acc(r['published']):>9}  "
                     f"{_acc(r['replayed']):>8}  {verdict_text(r['vs_published']):<18}  "
                     f"{verdict_text(r['vs_replayed'])}")
    from IPython.display import display
    display({HEADLINE_MIME: clean, "text/plain": "\n".join(lines)}, raw=True)
    return clean


# --- environment ------------------------------------------------------------------------------

def kernel_check(kernel_name: str = KERNEL_NAME) -> str:
    """Return the interpreter the ``kernel_name`` kernelspec starts; raise ReportError unless it
    is this environment's Python (else notebooks would import some other nnlib, or none)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    hint = (f"run `{sys.executable} -m ipykernel install --sys-prefix --name {kernel_name}` "
            "(`make report` does this)")
    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise ReportError(f"no Jupyter kernel named {kernel_name!r}: {hint}") from None
    argv0 = spec.argv[0] if spec.argv else ""
    vi = sys.version_info
    # jupyter_client replaces a bare "python"/"python3"/"python3.X" by sys.executable
    if argv0 in ("python", f"python{vi[0]}", f"python{vi[0]}.{vi[1]}"):
        return sys.executable
    exe = argv0 if os.path.isabs(argv0) else (shutil.which(argv0) or argv0)
    exe_abs = Path(os.path.abspath(exe))  # not resolve(): a venv python is a symlink
    prefix = Path(os.path.abspath(sys.prefix))
    if exe_abs == Path(os.path.abspath(sys.executable)) or prefix in exe_abs.parents:
        return str(exe_abs)
    raise ReportError(f"the {kernel_name!r} kernel ({spec.resource_dir}) runs {argv0!r}, not this "
                      f"environment's Python {sys.executable}: {hint}")


@contextlib.contextmanager
def _env(values: dict):
    """Set environment variables (inherited by kernel subprocesses) for the duration."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def _now() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


# --- notebooks --------------------------------------------------------------------------------

def list_notebooks(notebooks_dir, only=None) -> list[Path]:
    """Sorted ``NN_*.ipynb`` in ``notebooks_dir``; ``only`` selects by number ("03" or "3")."""
    nbs = sorted(p for p in Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb")
                 if NOTEBOOK_RE.match(p.name) and not p.name.endswith(".executed.ipynb"))
    if only is None:
        return nbs
    if isinstance(only, str):
        only = [only]
    numbers = {p: NOTEBOOK_RE.match(p.name).group(1) for p in nbs}
    chosen, unknown = [], []
    for sel in only:
        sel = str(sel).strip()
        hits = [p for p, n in numbers.items()
                if n == sel or (sel.isdigit() and int(n) == int(sel))]
        if not hits:
            unknown.append(sel)
        chosen += [p for p in hits if p not in chosen]
    if unknown:
        available = ", ".join(numbers.values()) or "none"
        raise ValueError(f"unknown notebook number(s) {', '.join(unknown)}; "
                         f"available in {notebooks_dir}: {available}")
    return sorted(chosen)


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            m = re.match(r"^\s*#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m and m.group(1):
                return m.group(1)
    return fallback


def _check_parameters(path: Path, parameters: dict) -> str | None:
    """None if every parameter is declared in the notebook's ``parameters`` cell with a
    compatible type, else a one-line explanation."""
    import ast

    import nbformat
    import papermill

    nb = nbformat.read(path, as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        return (f"{path.name} has no cell tagged 'parameters' (papermill needs one, declaring "
                f"{', '.join(parameters)})")
    try:
        declared = papermill.inspect_notebook(str(path))
    except ValueError:  # no kernelspec in the notebook metadata: tell papermill which one
        from papermill.inspection import _infer_parameters
        declared = {p.name: p._asdict()
                    for p in _infer_parameters(nb, name=KERNEL_NAME, language="python")}
    for name, value in parameters.items():
        if name not in declared:
            return f"{path.name}: the 'parameters' cell does not declare {name}"
        want = type(value).__name__
        annotated = str(declared[name].get("inferred_type_name") or "None")
        if annotated not in ("None", want):
            return f"{path.name}: parameter {name} is annotated {annotated}, report passes {want}"
        try:
            default = ast.literal_eval(str(declared[name].get("default")))
        except (ValueError, SyntaxError):
            continue  # an expression: cannot tell its type statically
        if default is not None and type(default) is not type(value) and not (
                isinstance(value, float) and type(default) is int):
            return (f"{path.name}: parameter {name} defaults to {type(default).__name__} "
                    f"{default!r}, report passes {want} {value!r}")
    return None


@functools.lru_cache(maxsize=1)
def _kernel_manager_class():
    """The kernel manager papermill starts kernels with: jupyter_client's, asking for CurveZMQ
    transport encryption where pyzmq has Curve and the kernelspec supports it (``"auto"``).

    ipykernel >= 7.3 otherwise warns on every start that the kernel talks over unencrypted TCP;
    older jupyter_client versions have no such setting and get their default manager.
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    if not zmq.has("curve") or "transport_encryption" not in AsyncKernelManager.class_traits():
        return AsyncKernelManager

    class EncryptedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport_encryption", "auto")
            super().__init__(**kwargs)

    return EncryptedKernelManager


def _headlines(nb) -> list[dict]:
    rows = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {})
            if HEADLINE_MIME in data:
                value = data[HEADLINE_MIME]
                if isinstance(value, str):
                    value = json.loads(value)
                rows += value if isinstance(value, list) else [value]
    return rows


def _skip_key(path: Path, parameters: dict, root: Path) -> str:
    import numpy

    from ..io import file_sha256

    h = hashlib.sha256()
    h.update(file_sha256(path).encode())
    h.update(json.dumps(parameters, sort_keys=True).encode())
    # all of nnlib, presentation modules included: a page shows their output (unlike the run
    # cache, which deliberately ignores them)
    pkg = Path(__file__).resolve().parent
    for f in sorted(pkg.rglob("*.py")):
        h.update(f.relative_to(pkg).as_posix().encode() + b"\0" + f.read_bytes())
    h.update(f"{sys.version}|{numpy.__version__}".encode())
    configs = root / "configs"
    if configs.is_dir():
        for f in sorted(p for p in configs.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(configs)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:32]


def _one_line(exc: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError
    if isinstance(exc, PapermillExecutionError):
        msg = f"{exc.ename}: {exc.evalue}" if exc.evalue else str(exc.ename)
        msg = f"{msg} (cell In [{exc.exec_count}])"
    else:
        msg = f"{type(exc).__name__}: {exc}"
    lines = [s.strip() for s in msg.splitlines() if s.strip()]
    msg = " ".join(lines) if lines else type(exc).__name__
    return msg if len(msg) <= 300 else msg[:297] + "..."


# --- HTML -------------------------------------------------------------------------------------

_PAGE_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{# nnlib: the lab template without anything loaded from a CDN, plus a banner #}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block body_header -%}
{{ super() }}
{{ resources.nnlib_banner }}
{%- endblock body_header -%}
"""

_CDN_TAG = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>"
    r"|<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.IGNORECASE)

_BANNER_CSS = ("margin:0 0 1.5em 0;padding:0.8em 1.2em;border-radius:6px;font-family:"
               "system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;"
               "line-height:1.5;")


def strip_cdn(text: str) -> str:
    """Drop ``<script src=//...>`` and ``<link href=//...>`` tags (remote dependencies)."""
    return _CDN_TAG.sub("", text)


def _banner(rec: dict) -> str:
    quick = rec["mode"] == "quick"
    ok = rec["status"] == "ok"
    colour = "#fdecea;border:1px solid #f5c2c0" if not ok else (
        "#fff4e5;border:1px solid #ffd8a8" if quick else "#e8f4fd;border:1px solid #b6dcf7")
    head = ("Smoke run (quick mode): reduced budgets, numbers are not the report's results"
            if quick else "Full run")
    params = ", ".join(f"{k}={v!r}" for k, v in rec["parameters"].items()) or "none"
    dur = "-" if rec.get("duration_s") is None else f"{rec['duration_s']:.1f} s"
    rows = [(f"<strong>{html.escape(head)}</strong> &middot; "
             f"<a href=\"index.html\">report index</a>"),
            (f"Notebook <code>{html.escape(rec['name'])}.ipynb</code> &middot; "
             f"status <strong>{html.escape(rec['status'])}</strong> &middot; "
             f"mode {html.escape(rec['mode'])} &middot; parameters <code>{html.escape(params)}"
             f"</code> &middot; duration {dur} &middot; commit <code>{html.escape(rec['commit'])}"
             f"</code> &middot; {html.escape(rec['date'])}")]
    if not ok and rec.get("error"):
        rows.append(f"<strong>Error:</strong> <code>{html.escape(rec['error'])}</code>")
    body = "<br>\n".join(rows)
    return (f'<div class="nnlib-banner" style="{_BANNER_CSS}background:{colour}">\n'
            f"{body}\n</div>")


def render_page(nb, rec: dict) -> str:
    """One notebook as a self-contained HTML page (lab template, no CDN, banner on top)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="lab", template_file="nnlib_page.html.j2",
                            extra_loaders=[DictLoader({"nnlib_page.html.j2": _PAGE_TEMPLATE})])
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"injected-parameters"}), enabled=True)
    resources = {"nnlib_banner": _banner(rec), "metadata": {"name": rec["title"]}}
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
.v-consistent{color:#1a7f37}.v-higher,.v-lower{color:#9a6700;font-weight:600}
.heads td[class^="v-"]{white-space:nowrap}
code{font-size:.92em}a{color:#0b5cad}
"""


def _ours_text(r: dict) -> str:
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
                published = _num(r.get("published", r.get("report")))
                replayed = _num(r.get("replayed"))
                ours = {**r, "ours": _num(r.get("ours")), "ours_std": _num(r.get("ours_std"))}
            except ValueError:
                continue
            out.append({"notebook": nb["name"], "result": str(r.get("name", "")),
                        "published": _acc(published), "replayed": _acc(replayed),
                        "nnlib": _ours_text(ours),
                        "vs published": verdict_text(r.get("vs_published")),
                        "vs replayed": verdict_text(r.get("vs_replayed"))})
    return out


_HEADLINE_COLUMNS = ("notebook", "result", "published", "replayed", "nnlib", "vs published",
                     "vs replayed")


def results_markdown(index: dict) -> str:
    """The headline numbers of ``index`` as a Markdown table (the README's results table)."""
    lines = ["| " + " | ".join(_HEADLINE_COLUMNS[:4]) + " | nnlib (mean ± std) | "
             + " | ".join(_HEADLINE_COLUMNS[5:]) + " |",
             "|" + "---|" * len(_HEADLINE_COLUMNS)]
    for row in headline_table(index):
        lines.append("| " + " | ".join(row[c].replace("|", "\\|") for c in _HEADLINE_COLUMNS)
                     + " |")
    durations = ", ".join(f"{r['name']} {r['duration_s']:.0f}" for r in index["notebooks"]
                          if r.get("duration_s") is not None)
    return "\n".join(lines) + f"\n\nPer-notebook durations (s): {durations or '-'}\n"


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
    heads = []
    for h in headline_table(index):
        cells = []
        for c in _HEADLINE_COLUMNS:
            text = html.escape(h[c])
            klass = ""
            if c.startswith("vs "):
                klass = f' class="v-{h[c].split()[0]}"' if h[c] != "–" else ""
            elif c in ("published", "replayed", "nnlib"):
                klass = ' class="num"'
            cells.append(f"<td{klass}>{text}</td>")
        heads.append("<tr>" + "".join(cells) + "</tr>")
    note = ('<p class="quick"><strong>Smoke run (quick mode)</strong>: reduced budgets; the '
            "numbers below are not the report's results.</p>") if quick else ""
    n_err = sum(r["status"] != "ok" for r in index["notebooks"])
    from .compare import VERDICT_RULE
    from .reference import REPLAY_PROVENANCE
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
<table>
<thead><tr><th>#</th><th>Notebook</th><th>Status</th><th>Duration</th><th>Headlines</th></tr>
</thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Headline numbers</h2>
<p class="legend">Test accuracy. <em>published</em>: the lab report's number; <em>replayed</em>:
{html.escape(REPLAY_PROVENANCE)}; <em>nnlib</em>: ours, mean ± std over seeds.
{html.escape(VERDICT_RULE.replace("*", ""))}</p>
<table class="heads">
<thead><tr>{''.join(f"<th>{html.escape(c)}</th>" for c in _HEADLINE_COLUMNS)}</tr></thead>
<tbody>
{chr(10).join(heads)}
</tbody></table>
</body></html>
"""


# --- the build --------------------------------------------------------------------------------

def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _process(path: Path, *, out: Path, nb_dir: Path, parameters: dict, mode: str, key: str,
             commit: str, cell_timeout, log) -> dict:
    """Execute (papermill) and render one notebook; never raises for notebook problems."""
    import nbformat
    import papermill

    from ..io import write_json, write_text

    name = path.stem
    executed = out / "executed" / f"{name}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    source_nb = nbformat.read(path, as_version=4)
    rec = {"number": NOTEBOOK_RE.match(name).group(1), "name": name,
           "title": _title(source_nb, name), "status": "ok", "error": None, "duration_s": None,
           "page": f"{name}.html", "executed": f"executed/{name}.ipynb", "headlines": [],
           "parameters": parameters, "mode": mode, "commit": commit, "date": _now(),
           "key": key}
    nb = source_nb
    problem = _check_parameters(path, parameters)
    if problem:
        rec.update(status="error", error=problem)
        log(f"[report] {name}: error: {problem}")
    else:
        log(f"[report] {name}: executing ({mode})")
        t0 = time.monotonic()
        try:
            # cwd via the kernel's resources, not papermill's cwd= (which os.chdir()s the whole
            # process and races when several notebooks run in threads)
            papermill.execute_notebook(
                str(path), str(executed), parameters=parameters, kernel_name=KERNEL_NAME,
                language="python", progress_bar=False, log_output=False,
                execution_timeout=cell_timeout, resources={"metadata": {"path": str(nb_dir)}},
                kernel_manager_class=_kernel_manager_class())
        except Exception as exc:  # noqa: BLE001 - PapermillExecutionError, timeouts, dead kernel
            rec.update(status="error", error=_one_line(exc))
        rec["duration_s"] = round(time.monotonic() - t0, 2)
        if executed.exists():
            try:
                nb = nbformat.read(executed, as_version=4)
            except Exception as exc:  # noqa: BLE001 - a half-written file: show the source
                rec.update(status="error", error=rec["error"] or f"unreadable output: {exc}")
        rec["headlines"] = _headlines(nb)
        log(f"[report] {name}: {rec['status']} in {rec['duration_s']:.1f} s"
            + (f": {rec['error']}" if rec["error"] else ""))
    try:
        page = render_page(nb, rec)
    except Exception as exc:  # noqa: BLE001 - keep going: a minimal page with the error
        rec.update(status="error", error=f"HTML export failed: {_one_line(exc)}")
        log(f"[report] {name}: {rec['error']}")
        page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>"
                f"{html.escape(rec['title'])}</title></head><body>{_banner(rec)}</body></html>")
    write_text(out / rec["page"], page)
    size = len(page.encode("utf-8"))
    if size > PAGE_WARN_BYTES:
        log(f"[report] warning: {rec['page']} is {size / 2**20:.1f} MB (> 3 MB); "
            "lower figure dpi or the number of figures")
    rec["page_bytes"] = size
    write_json(out / "executed" / f"{name}.json", rec)
    return rec


#: Seconds one notebook cell may run before the notebook is stopped and marked failed.
CELL_TIMEOUT = {"full": 3600, "quick": 300}


def build_report(quick: bool = False, only=None, force: bool = False, jobs: int = 1,
                 notebooks_dir=None, out_dir=None, cell_timeout=None, log=print, *,
                 fetch_data: bool = True, parameters: dict | None = None) -> int:
    """Execute the notebooks and write the HTML report; return 0, or 1 if any notebook failed.

    ``quick`` runs the smoke-test variant (``QUICK=True``) into ``reports/quick/``. ``only``:
    notebook numbers to (re)run; the index still lists the others' previous results. ``force``
    re-executes notebooks whose previous run is still valid (see the module docstring).
    ``jobs`` notebooks run in parallel. ``cell_timeout`` (seconds) bounds each cell (default
    ``CELL_TIMEOUT[mode]``: generous for full runs, tight for smoke runs).
    ``fetch_data`` downloads/verifies MNIST first. ``parameters`` are passed in addition to
    ``QUICK``; each must be declared in the notebook's ``parameters`` cell.
    """
    from ..lab.experiments import default_data_dir, project_root
    from ..io import write_json, write_text

    root = project_root()
    nb_dir = Path(notebooks_dir or root / "notebooks").resolve()
    mode = "quick" if quick else "full"
    cell_timeout = CELL_TIMEOUT[mode] if cell_timeout is None else cell_timeout
    out = Path(out_dir) if out_dir else root / "reports" / ("quick" if quick else "")
    out = out.resolve()
    all_nbs = list_notebooks(nb_dir)
    selected = list_notebooks(nb_dir, only)
    if not all_nbs:
        raise ReportError(f"no NN_*.ipynb notebooks (00_overview.ipynb, ...) in {nb_dir}")
    if int(jobs) < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    params = {"QUICK": bool(quick), **(parameters or {})}
    json.dumps(params)  # parameters must be JSON-typed
    kernel_check()
    commit = _git_commit(root)

    todo, records = [], {}
    for path in selected:
        key = _skip_key(path, params, root)
        prev = _read_record(out / "executed" / f"{path.stem}.json")
        if (not force and prev and prev.get("key") == key and prev.get("status") == "ok"
                and (out / prev.get("page", "-")).exists()
                and (out / "executed" / f"{path.stem}.ipynb").exists()):
            log(f"[report] {path.stem}: unchanged since {prev.get('date')}, not re-executed "
                "(--force to re-run)")
            records[path] = {**prev, "skipped": True}
        else:
            todo.append((path, key))

    if todo and fetch_data:
        from ..lab.mnist import load_mnist
        load_mnist(default_data_dir(), log=log)

    t0 = time.monotonic()
    failed = 0
    with _env(KERNEL_ENV):
        def one(item):
            path, key = item
            return path, _process(path, out=out, nb_dir=nb_dir, parameters=params, mode=mode,
                                  key=key, commit=commit, cell_timeout=cell_timeout, log=log)
        if int(jobs) == 1 or len(todo) <= 1:
            results = [one(item) for item in todo]
        else:
            with ThreadPoolExecutor(max_workers=int(jobs)) as pool:
                results = list(pool.map(one, todo))
    for path, rec in results:
        records[path] = {**rec, "skipped": False}
        failed += rec["status"] != "ok"

    # the index: this run's records, plus earlier records of notebooks not selected this time
    rows = []
    for path in all_nbs:
        rec = records.get(path) or _read_record(out / "executed" / f"{path.stem}.json")
        if rec is None:
            continue
        if path not in records:
            rec = {**rec, "skipped": True}
        rows.append(rec)
    index = {"mode": mode, "generated": _now(), "commit": commit, "parameters": params,
             "notebooks_dir": str(nb_dir), "duration_s": round(time.monotonic() - t0, 2),
             "failed": [r["name"] for r in rows if r["status"] != "ok"], "notebooks": rows}
    write_json(out / "index.json", index)
    write_text(out / "index.html", render_index(index))
    write_text(out / "results.md", results_markdown(index))
    log(f"[report] {len(results)} executed, {len(selected) - len(results)} unchanged, "
        f"{failed} failed -> {out / 'index.html'}")
    return 1 if failed else 0
