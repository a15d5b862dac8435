"""Build the HTML lab report: execute ``notebooks/NN_*.ipynb`` with papermill, render each with
nbconvert, and write an index page with one row per notebook.

Layout of the output folder (``reports/`` for a full run, ``reports/quick/`` for ``--quick``)::

    index.html, index.json          one row per notebook (title, status, duration, headlines
                                    with their verdicts against the published / replayed numbers)
    results.md                      the headline numbers as a Markdown table (README's results)
    NN_xx_name.html                 one self-contained page per notebook (no CDN, PNGs inline)
    executed/NN_xx_name.ipynb       the executed notebook (papermill output)
    executed/NN_xx_name.json        its record: status, error, start, duration, headlines, skip key
    executed/runs.jsonl             one line per training run asked for while the notebooks ran
                                    (trained or cached, seconds: benchmarks/report_time.py)

Re-running: a notebook is executed again unless its previous record says "ok" and was made with
the same *skip key* - SHA-256 of the source notebook, the parameters, every ``.py`` file of the
nnlib package, the files under ``configs/``, and the Python and NumPy versions.
Anything else a notebook reads (e.g. a deleted run cache) is not part of the key: use
``force=True`` (``nnlib report --force``) to execute everything. Expensive training is cached in
nnlib's run cache anyway, so forced re-runs are cheap unless the runs themselves changed.

Notebooks report their headline numbers with :func:`headline`; the index collects them.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import one_line
from ..paths import NOTEBOOK_ENV, RUN_LOG_ENV
from .document import conclusions, render_document
from .env import (
    KERNEL_NAME,
    ReportError,
    environment,
    git_commit,
    kernel_check,
    kernel_manager_with_env,
    now,
)
from .html import DOCUMENT, error_page, render_index, render_page, results_markdown
from .notebook import HEADLINE_MIME
from .outputs import prepare
from .parameters import check_parameters, notebook_parameters
from .progress import Progress

__all__ = ["CELL_TIMEOUT", "build_report", "list_notebooks"]

NOTEBOOK_RE = re.compile(r"^(\d{2})_")
RUN_LOG = "runs.jsonl"
PAGE_WARN_BYTES = 3 * 1024 * 1024
KERNEL_ENV = {
    "NNLIB_PROGRESS": "epoch",  # one printed line per epoch instead of tqdm bars
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # figures as inline PNG outputs
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # silence the debugger's frozen-modules warning
}


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


#: The nnlib package folder (all of it goes into a notebook's skip key).
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _skip_key(path: Path, parameters: dict, root: Path, pkg: Path = PACKAGE_DIR) -> str:
    import numpy

    from ..io import file_sha256

    h = hashlib.sha256()
    h.update(file_sha256(path).encode())
    h.update(json.dumps(parameters, sort_keys=True).encode())
    # all of nnlib, presentation included (code, CSS, JS): a page shows its output (unlike the
    # run cache, which hashes only what computes results)
    for f in sorted(p for p in pkg.rglob("*") if p.suffix in (".py", ".css", ".js")):
        h.update(f.relative_to(pkg).as_posix().encode() + b"\0" + f.read_bytes())
    h.update(f"{sys.version}|{numpy.__version__}".encode())
    configs = root / "configs"
    if configs.is_dir():
        for f in sorted(p for p in configs.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(configs)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:32]


def _neighbours(paths: list[Path]) -> dict:
    """``{path: (previous, next)}`` as ``(page, title)`` pairs (None at the ends)."""
    import nbformat

    def item(p):
        try:
            title = _title(nbformat.read(p, as_version=4), p.stem)
        except Exception:  # an unreadable notebook still gets a link, under its file name
            title = p.stem
        return f"{p.stem}.html", title

    items = [item(p) for p in paths]
    return {p: (items[i - 1] if i else None, items[i + 1] if i + 1 < len(items) else None)
            for i, p in enumerate(paths)}


def _failure(exc: BaseException) -> str:
    """A notebook's failure as one line: papermill's error and cell, else the exception."""
    from papermill.exceptions import PapermillExecutionError
    if isinstance(exc, PapermillExecutionError):
        msg = f"{exc.ename}: {exc.evalue}" if exc.evalue else str(exc.ename)
        return one_line(f"{msg} (cell In [{exc.exec_count}])")
    return one_line(f"{type(exc).__name__}: {exc}")


# --- the build --------------------------------------------------------------------------------

def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _process(path: Path, *, out: Path, nb_dir: Path, parameters: dict, mode: str, key: str,
             commit: str, cell_timeout, log, neighbours=(None, None)) -> dict:
    """Execute (papermill) and render one notebook; never raises for notebook problems.
    ``neighbours``: the previous and next notebooks' ``(page, title)`` for the page's links."""
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
           "parameters": parameters, "mode": mode, "commit": commit, "date": now(),
           "key": key}
    nb = source_nb
    problem = check_parameters(path, parameters)
    if problem:
        rec.update(status="error", error=problem)  # logged by the progress line
    else:
        t0 = time.monotonic()
        rec["started"] = round(time.time(), 3)
        try:
            # cwd via the kernel's resources, not papermill's cwd= (which os.chdir()s the whole
            # process and races when several notebooks run in threads)
            papermill.execute_notebook(
                str(path), str(executed), parameters=parameters, kernel_name=KERNEL_NAME,
                language="python", progress_bar=False, log_output=False,
                execution_timeout=cell_timeout, resources={"metadata": {"path": str(nb_dir)}},
                kernel_manager_class=kernel_manager_with_env({NOTEBOOK_ENV: name}))
        except Exception as exc:
            rec.update(status="error", error=_failure(exc))
        except BaseException:  # Ctrl-C / SIGTERM: record it, so the next build re-runs this one
            rec.update(status="interrupted", error="interrupted while executing",
                       duration_s=round(time.monotonic() - t0, 2))
            write_json(out / "executed" / f"{name}.json", rec)
            raise
        rec["duration_s"] = round(time.monotonic() - t0, 2)
        if executed.exists():
            try:
                nb = nbformat.read(executed, as_version=4)
            except Exception as exc:
                rec.update(status="error", error=rec["error"] or f"unreadable output: {exc}")
        rec["headlines"] = _headlines(nb)
    try:
        shown, log_text = prepare(nb, parameters)
        write_text(out / "executed" / f"{name}.log", log_text)
        rec.update(log=f"executed/{name}.log", conclusions=conclusions(nb))
        page = render_page(shown, rec, *neighbours)
    except Exception as exc:
        rec.update(status="error", error=f"HTML export failed: {_failure(exc)}")
        log(f"[report] {name}: {rec['error']}")
        page = error_page(rec, *neighbours)
    write_text(out / rec["page"], page)
    size = len(page.encode("utf-8"))
    if size > PAGE_WARN_BYTES:
        log(f"[report] warning: {rec['page']} is {size / 2**20:.1f} MB (> 3 MB); "
            "lower figure dpi or the number of figures")
    rec["page_bytes"] = size
    write_json(out / "executed" / f"{name}.json", rec)
    return rec


EXPECTED_DURATIONS = "expected_durations.json"


def _expected_durations(nb_dir: Path) -> dict:
    """``notebooks/expected_durations.json``: seconds per notebook of a cold full report on the
    dev machine, to order a first run (no previous durations yet); {} if absent or unreadable."""
    try:
        data = json.loads((nb_dir / EXPECTED_DURATIONS).read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} \
        if isinstance(data, dict) else {}


def _longest_first(todo: list, previous: dict) -> list:
    """Side by side, notebooks start longest first by their previous duration, so the last
    one to finish is a short one; those never run before (unknown) start first, in order."""
    unknown = [item for item in todo if previous.get(item[0].stem) is None]
    known = sorted((item for item in todo if previous.get(item[0].stem) is not None),
                   key=lambda item: -previous[item[0].stem])
    return unknown + known


#: Seconds one notebook cell may run before the notebook is stopped and marked failed.
CELL_TIMEOUT = {"full": 3600, "quick": 300}


def output_dir(quick: bool = False, out_dir=None) -> Path:
    """The report's folder: ``out_dir``, else ``reports/`` (``reports/quick/`` if ``quick``)."""
    from ..paths import project_root

    out = Path(out_dir) if out_dir else project_root() / "reports" / ("quick" if quick else "")
    return out.resolve()


def build_report(quick: bool = False, only=None, force: bool = False, jobs: int = 1,
                 notebooks_dir=None, out_dir=None, cell_timeout=None, log=print, *,
                 fetch_data: bool = True, parameters: dict | None = None,
                 progress: str = "auto") -> int:
    """Execute the notebooks and write the HTML report; return 0, or 1 if any notebook failed.

    ``quick`` runs the smoke-test variant (``QUICK=True``) into ``reports/quick/``. ``only``:
    notebook numbers to (re)run; the index still lists the others' previous results. ``force``
    re-executes notebooks whose previous run is still valid (see the module docstring).
    ``jobs`` notebooks run in parallel, longest first (``_longest_first``). ``cell_timeout``
    (seconds) bounds each cell (default ``CELL_TIMEOUT[mode]``: generous for full runs, tight
    for smoke runs).
    ``fetch_data`` downloads/verifies MNIST first. ``parameters`` (``{"SEEDS": [0]}``) are
    passed in addition to ``QUICK``, each to the selected notebooks whose ``parameters`` cell
    declares it (a notebook's skip key covers only those it receives); a name none of them
    declares, or a value whose type does not fit a declaration, raises ``ParameterError`` before
    anything runs. ``progress``: a tqdm bar on a terminal, else one line per notebook start and
    finish through ``log`` ("auto"), or either always ("bar", "lines"); see ``progress.py``.
    """
    from ..io import write_json, write_text
    from ..paths import default_data_dir, project_root

    root = project_root()
    nb_dir = Path(notebooks_dir or root / "notebooks").resolve()
    mode = "quick" if quick else "full"
    cell_timeout = CELL_TIMEOUT[mode] if cell_timeout is None else cell_timeout
    out = output_dir(quick, out_dir)
    all_nbs = list_notebooks(nb_dir)
    neighbours = _neighbours(all_nbs)
    selected = list_notebooks(nb_dir, only)
    if not all_nbs:
        raise ReportError(f"no NN_*.ipynb notebooks (00_overview.ipynb, ...) in {nb_dir}")
    if int(jobs) < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if progress not in ("auto", "bar", "lines"):
        raise ValueError(f"progress must be 'auto', 'bar' or 'lines', got {progress!r}")
    passed = dict(parameters or {})
    json.dumps(passed)  # parameters must be JSON-typed
    params = {path: {"QUICK": bool(quick), **given}
              for path, given in notebook_parameters(selected, passed).items()}
    kernel_check()
    commit = git_commit(root)

    todo, records, previous = [], {}, {}
    for path in selected:
        key = _skip_key(path, params[path], root)
        prev = _read_record(out / "executed" / f"{path.stem}.json")
        if prev and prev.get("status") == "ok":  # a failed run's duration says little
            previous[path.stem] = prev.get("duration_s")
        if (not force and prev and prev.get("key") == key and prev.get("status") == "ok"
                and (out / prev.get("page", "-")).exists()
                and (out / "executed" / f"{path.stem}.ipynb").exists()):
            log(f"[report] {path.stem}: unchanged since {prev.get('date')}, not re-executed "
                "(--force to re-run)")
            records[path] = {**prev, "skipped": True}
        else:
            todo.append((path, key))

    reference = _expected_durations(nb_dir)  # the dev machine's cold full report
    if int(jobs) > 1:
        todo = _longest_first(todo, {**reference, **previous})

    if todo and fetch_data:
        from ..lab.mnist import load_mnist
        load_mnist(default_data_dir(), log=log)

    t0 = time.monotonic()
    failed = 0
    # a quick build's notebooks take seconds: the full report's times would say nothing
    tracker = Progress([path.stem for path, _ in todo], previous,
                       reference=reference if mode == "full" else None, jobs=int(jobs), log=log,
                       bar={"auto": None, "bar": True, "lines": False}[progress])
    if todo:
        tracker.log(f"[report] executing {len(todo)} notebook(s) ({mode}), "
                    f"{tracker.jobs} at a time")
    run_log = out / "executed" / RUN_LOG
    if todo:  # this build's runs only
        run_log.parent.mkdir(parents=True, exist_ok=True)
        run_log.write_text("")
    with environment({**KERNEL_ENV, RUN_LOG_ENV: str(run_log)}), tracker:
        def one(item):
            path, key = item
            tracker.start(path.stem)
            rec = _process(path, out=out, nb_dir=nb_dir, parameters=params[path], mode=mode,
                           key=key, commit=commit, cell_timeout=cell_timeout, log=tracker.log,
                           neighbours=neighbours[path])
            tracker.done(path.stem, rec["duration_s"], rec["status"], rec["error"])
            return path, rec
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
    index = {"mode": mode, "generated": now(), "commit": commit,
             "parameters": {"QUICK": bool(quick), **passed},
             "notebooks_dir": str(nb_dir), "duration_s": round(time.monotonic() - t0, 2),
             "failed": [r["name"] for r in rows if r["status"] != "ok"], "notebooks": rows}
    write_json(out / "index.json", index)
    write_text(out / "index.html", render_index(index))
    write_text(out / "results.md", results_markdown(index))
    write_text(out / DOCUMENT, render_document(index, out))
    log(f"[report] {len(results)} executed, {len(selected) - len(results)} unchanged, "
        f"{failed} failed -> {out / 'index.html'}")
    return 1 if failed else 0
