"""Build the lab report: execute ``notebooks/NN_*.ipynb`` with papermill (training through the
run cache), record what each was computed from, render everything a reader opens and say what
the build reproduced of the report it replaces.

Layout of the output folder (``reports/``, the published report, for a full build; ``reports/
quick/`` for ``--quick``, ``reports/custom/`` for a build with ``-p`` parameters)::

    report.html, report.pdf         the whole lab as one document (``render``)
    index.html, index.json          one row per notebook (title, status, duration, headlines
                                    with their verdicts, provenance); what was rendered
    results.md                      the headline numbers as a Markdown table (README's results)
    reproduction.md, .json          this build's headlines against the report it replaced
    NN_xx_name.html                 one self-contained page per notebook (no CDN, PNGs inline)
    executed/NN_xx_name.ipynb       the executed notebook, its provenance in its metadata
    executed/NN_xx_name.json        its record: status, error, duration, headlines, provenance
    executed/NN_xx_name.log         its log (library and joblib lines, out of the page)
    executed/runs.jsonl             one line per training run each notebook asked for (trained
                                    or cached, seconds: benchmarks/report_time.py)

Re-running: a notebook is executed again unless its previous record says "ok", was made with the
same *skip key* - SHA-256 of the source notebook, the parameters, every ``.py`` file of the nnlib
package, the files under ``configs/``, and the Python and NumPy versions - *and* was executed on
this machine, whose run cache still holds every run it used (a note in ``runs/.report-
executions/``): the published report of a fresh clone is always executed again, never served.
``force=True`` (``nnlib report --force``) executes everything; the run cache makes that cheap
unless the runs themselves changed.

Notebooks report their headline numbers with :func:`headline`; the index collects them.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..io import write_json, write_text
from ..lab.experiments import scheduler_address
from ..lab.mnist import load_mnist
from ..logs import LOG_ENV
from ..paths import RUN_LOG_ENV, default_data_dir, default_runs_dir, project_root
from ..paths import published_reports_dir as published_dir
from .browser import require_chromium
from .cluster import prefetch_for
from .env import ReportError, environment, git_commit, git_dirty, kernel_check, now
from .execute import NOTEBOOK_RE, RUN_LOG, Build, executed_here, keep_other_runs, read_record
from .execute import execute as _execute
from .parameters import notebook_parameters, quick_seeds
from .progress import Progress
from .provenance import machine, numeric_sha256, reference_sha256
from .render import INDEX, read_index, render_report
from .reproduction import (
    REPRODUCTION_JSON,
    REPRODUCTION_MD,
    compare_headlines,
    reproduction_line,
    write_reproduction,
)
from .runtime import measured_durations, strip_run_time

__all__ = ["CELL_TIMEOUT", "build_report", "list_notebooks", "output_dir", "published_dir",
           "reproduce_report"]

KERNEL_ENV = {
    "NNLIB_PROGRESS": "epoch",  # one logged line per epoch instead of tqdm bars
    LOG_ENV: "stderr",  # the library's log, which outputs.prepare collapses per cell
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


#: The nnlib package folder (all of it goes into a notebook's skip key).
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _skip_key(path: Path, parameters: dict, root: Path, pkg: Path = PACKAGE_DIR) -> str:
    import numpy

    h = hashlib.sha256()
    # the notebook file as it is, but the run-time line the published render rewrites
    h.update(strip_run_time(path.read_text(encoding="utf-8")).encode())
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


def _expected_durations(nb_dir: Path) -> dict:
    """``notebooks/expected_durations.json``: seconds per notebook of a cold full report on the
    dev machine, to order a first run (no previous durations yet); {} if absent or unreadable."""
    return measured_durations(nb_dir)[0]


def _longest_first(todo: list, previous: dict) -> list:
    """Side by side, notebooks start longest first by their previous duration, so the last
    one to finish is a short one; those never run before (unknown) start first, in order."""
    unknown = [item for item in todo if previous.get(item[0].stem) is None]
    known = sorted((item for item in todo if previous.get(item[0].stem) is not None),
                   key=lambda item: -previous[item[0].stem])
    return unknown + known


#: Seconds one notebook cell may run before the notebook is stopped and marked failed.
CELL_TIMEOUT = {"full": 3600, "quick": 300}


def output_dir(quick: bool = False, out_dir=None, custom: bool = False) -> Path:
    """The report's folder: ``out_dir``, else ``reports/`` - ``reports/quick/`` for a quick build,
    ``reports/custom/`` for one with parameters (``-p``): neither is the published report."""
    if out_dir:
        return Path(out_dir).resolve()
    sub = "quick" if quick else ("custom" if custom else "")
    return published_dir() / sub if sub else published_dir()


def _guard_published(out: Path, quick: bool, parameters: dict) -> None:
    """A quick build, or one with parameters, never writes over the published report."""
    if out != published_dir() or not (quick or parameters):
        return
    what = "a quick build" if quick else f"a build with parameters ({', '.join(parameters)})"
    where = "reports/quick/" if quick else "reports/custom/"
    raise ReportError(f"{out} holds the published report; {what} would replace it with numbers "
                      f"of another protocol: leave out --out (it then goes to {where}) or choose "
                      "another folder")


def build_report(quick: bool = False, only=None, force: bool = False, jobs: int = 1,
                 notebooks_dir=None, out_dir=None, cell_timeout=None, log=print, *,
                 fetch_data: bool = True, parameters: dict | None = None,
                 progress: str = "auto", pdf=False, against=None) -> int:
    """Execute the notebooks, render the report and compare it with the one it replaces; return
    0, or 1 if any notebook failed.

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
    anything runs; such a build goes to ``reports/custom/``. ``progress``: a tqdm bar on a
    terminal, else one line per notebook start and finish through ``log`` ("auto"), or either
    always ("bar", "lines"); see ``progress.py``. ``pdf``: see ``render.render_report`` (the
    command line asks for "auto": printed when a browser is found).
    ``against``: the ``index.json`` whose headlines this build is compared with (default: the
    one it replaces); the comparison goes to ``reproduction.md`` / ``.json`` and one log line.
    """
    root = project_root()
    nb_dir = Path(notebooks_dir or root / "notebooks").resolve()
    mode = "quick" if quick else "full"
    cell_timeout = CELL_TIMEOUT[mode] if cell_timeout is None else cell_timeout
    passed = dict(parameters or {})
    out = output_dir(quick, out_dir, custom=bool(passed))
    _guard_published(out, quick, passed)
    all_nbs = list_notebooks(nb_dir)
    selected = list_notebooks(nb_dir, only)
    if not all_nbs:
        raise ReportError(f"no NN_*.ipynb notebooks (00_overview.ipynb, ...) in {nb_dir}")
    if int(jobs) < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if progress not in ("auto", "bar", "lines"):
        raise ValueError(f"progress must be 'auto', 'bar' or 'lines', got {progress!r}")
    json.dumps(passed)  # parameters must be JSON-typed
    params = {path: {"QUICK": bool(quick), **given, **(quick_seeds(path, given) if quick else {})}
              for path, given in notebook_parameters(selected, passed).items()}
    if pdf is True:  # before a long build, not after it
        require_chromium()
    kernel_check()
    runs_root = default_runs_dir().resolve()
    replaced = _read_index_or_none(Path(against) if against else out / INDEX)

    todo, records, previous = [], {}, {}
    for path in selected:
        key = _skip_key(path, params[path], root)
        prev = read_record(out / "executed" / f"{path.stem}.json")
        if prev and prev.get("status") == "ok":  # a failed run's duration says little
            previous[path.stem] = prev.get("duration_s")
        if (not force and prev and prev.get("key") == key and prev.get("status") == "ok"
                and (out / "executed" / f"{path.stem}.ipynb").exists()
                and executed_here(runs_root, path.stem, key, prev.get("run_keys"))):
            log(f"[report] {path.stem}: unchanged since {prev.get('date')}, not re-executed "
                "(--force to re-run)")
            records[path] = {**prev, "skipped": True}
        else:
            todo.append((path, key))

    reference = _expected_durations(nb_dir)  # the dev machine's cold full report
    if int(jobs) > 1:
        todo = _longest_first(todo, {**reference, **previous})

    if todo and fetch_data:
        load_mnist(default_data_dir())  # its log: the CLI's handler (nnlib.logs)

    t0 = time.monotonic()
    # a quick build's notebooks take seconds: the full report's times would say nothing
    tracker = Progress([path.stem for path, _ in todo], previous,
                       reference=reference if mode == "full" else None, jobs=int(jobs), log=log,
                       bar={"auto": None, "bar": True, "lines": False}[progress])
    if todo:
        tracker.log(f"[report] executing {len(todo)} notebook(s) ({mode}), "
                    f"{tracker.jobs} at a time")
    run_log = out / "executed" / RUN_LOG
    address = scheduler_address()
    prefetch = (prefetch_for({path: params[path] for path, _ in todo}, address, runs_root,
                             [run_log, published_dir() / "executed" / RUN_LOG], log=tracker.log)
                if address and todo else None)  # (costs read before the log is rewritten)
    if todo:
        keep_other_runs(run_log, {path.stem for path, _ in todo})
    build = Build(out=out, nb_dir=nb_dir, mode=mode, commit=git_commit(root),
                   dirty=git_dirty(root), cell_timeout=cell_timeout, machine=machine(),
                   numeric=numeric_sha256(root=root), reference=reference_sha256(),
                   run_log=run_log, runs_root=runs_root)
    with environment({**KERNEL_ENV, RUN_LOG_ENV: str(run_log)}), tracker, \
            (prefetch or contextlib.nullcontext()):
        def one(item):
            path, key = item
            tracker.start(path.stem)
            rec = _execute(path, build=build, parameters=params[path], key=key, log=tracker.log)
            tracker.done(path.stem, rec["duration_s"], rec["status"], rec["error"])
            return path, rec
        by_name = {path.stem: (path, key) for path, key in todo}
        order = [path.stem for path, _ in todo]
        if prefetch is not None:  # every run sent at once; a notebook starts once its are in
            tracker.log(_prefetch_line(prefetch, address))
            order = prefetch.in_order(order)
        if int(jobs) == 1 or len(todo) <= 1:
            results = [one(by_name[name]) for name in order]
        else:
            with ThreadPoolExecutor(max_workers=int(jobs)) as pool:
                started = [pool.submit(one, by_name[name]) for name in order]
                results = [f.result() for f in started]
        rank = {path: i for i, (path, _) in enumerate(todo)}
        results.sort(key=lambda path_rec: rank[path_rec[0]])
    for path, rec in results:
        records[path] = {**rec, "skipped": False}

    # the index: this run's records, plus earlier records of notebooks not selected this time
    rows = []
    for path in all_nbs:
        rec = records.get(path) or read_record(out / "executed" / f"{path.stem}.json")
        if rec is None:
            continue
        if path not in records:
            rec = {**rec, "skipped": True}
        rows.append(rec)
    index = {"mode": mode, "generated": now(), "commit": build.commit, "dirty": build.dirty,
             "parameters": {"QUICK": bool(quick), **passed},
             "notebooks_dir": _shown_path(nb_dir, root),
             "duration_s": round(time.monotonic() - t0, 2),
             "failed": [r["name"] for r in rows if r["status"] != "ok"], "notebooks": rows}
    write_json(out / INDEX, index)
    index = render_report(out, pdf=pdf, log=log)
    rerun = [rec["name"] for _, rec in results]
    failed = sum(r["status"] != "ok" for r in index["notebooks"] if r["name"] in rerun)
    if rerun and replaced is None:
        log(f"[report] no earlier report in {out} to compare this build with")
    elif rerun:
        rows = compare_headlines(replaced, index, rerun)
        write_reproduction(out, rows, against=_against_text(replaced, against))
        log(f"[report] {reproduction_line(rows)} (vs {_against_text(replaced, against)}; table: "
            f"{out / REPRODUCTION_MD})")
    log(f"[report] {len(results)} executed, {len(selected) - len(results)} unchanged, "
        f"{failed} failed -> {out / 'index.html'}")
    return 1 if failed else 0


def _prefetch_line(prefetch, address: str) -> str:
    n = len(prefetch.submitted)
    if not n:
        return f"[report] every run the notebooks list is in the run cache (cluster {address})"
    size = (f"≈ {prefetch.seconds / 60:.0f} CPU min by earlier builds" if prefetch.measured_any
            else "by an estimate of their work")
    return (f"[report] {n} run(s) sent to {address} at once, longest first ({size}); each "
            "notebook starts once its runs are in")


def _read_index_or_none(path: Path) -> dict | None:
    try:
        return read_index(path.parent) if path.name == INDEX else None
    except ReportError:
        return None


def _against_text(index: dict | None, path) -> str:
    if index is None:
        return "no previous report"
    where = f"{path}" if path else "the report it replaces"
    return f"{where}, built {index.get('generated', '?')} at {index.get('commit', '?')}"


def _shown_path(path: Path, root: Path) -> str:
    """``path`` relative to the project when inside it (a published index names no home dir)."""
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


#: ``nnlib report --reproduce``'s scratch folder, under ``reports/`` (git-ignored).
REPRODUCE_DIR = "reproduce"
_SCRATCH_NOTE = ".nnlib-reproduce"


def reproduce_report(out_dir=None, *, only=None, jobs: int = 1, log=print,
                     progress: str = "auto") -> int:
    """Execute the notebooks from an empty run cache into a scratch folder (``reports/
    reproduce/``: the report in it, its run cache in ``runs/``) and compare every headline with
    the published report; 0 when every number is identical or consistent (verdict rule), 1 when
    one differs or a notebook failed. The published report is not touched."""
    published = published_dir()
    index = read_index(published)  # ReportError without a published report
    scratch = Path(out_dir).resolve() if out_dir else published / REPRODUCE_DIR
    if scratch == published:
        raise ReportError(f"{scratch} is the published report; --reproduce needs a scratch folder")
    if scratch.exists() and any(scratch.iterdir()):
        if not (scratch / _SCRATCH_NOTE).exists():
            raise ReportError(f"{scratch} is not empty and was not made by --reproduce: choose "
                              "an empty folder")
        import shutil
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    write_text(scratch / _SCRATCH_NOTE, "made by nnlib report --reproduce; emptied by the next\n")
    runs = scratch / "runs"
    log(f"[report] reproducing the published report ({index.get('generated')} at "
        f"{index.get('commit')}) from an empty run cache in {runs}")
    with environment({"NNLIB_RUNS": str(runs)}):
        rc = build_report(only=only, force=True, jobs=jobs, out_dir=scratch, log=log,
                          against=published / INDEX, progress=progress)
    try:
        rows = json.loads((scratch / REPRODUCTION_JSON).read_text())["rows"]
    except (OSError, ValueError, KeyError):
        rows = []
    differ = [r for r in rows if r["status"] == "differs"]
    for r in differ:
        log(f"[report] differs: {r['notebook']} {r['headline']}: published {r['before']}, "
            f"now {r['now']} ({r['detail']})")
    return 1 if rc or differ or not rows else 0
