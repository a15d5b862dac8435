"""``nnlib report``: execute the notebooks into the report (published, quick, custom or a
reproduction), or read a built one: ``--check`` (current or stale, and why) and ``--render``."""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from ..lab import remote
from ..lab.experiments import SCHEDULER_ENV
from ..report.browser import require_chromium
from ..report.build import build_report, output_dir, reproduce_report
from ..report.check import check_report, check_text
from ..report.env import environment
from ..report.parameters import ParameterError, parse_pairs
from ..report.render import render_report
from .common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    Interrupted,
    Terminated,
    UsageError,
)


def cmd_report(args) -> int:
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
            require_chromium()
        if args.reproduce and args.quick:
            raise UsageError("--reproduce compares full builds; it takes no --quick")
        with _training_on(args.scheduler):
            if args.reproduce:
                return int(reproduce_report(args.out, only=args.only, jobs=jobs) or 0)
            return int(build_report(quick=args.quick, only=args.only, force=args.force,
                                    jobs=jobs, out_dir=args.out, cell_timeout=args.cell_timeout,
                                    pdf=True if args.pdf else "auto", **kwargs) or 0)
    except ParameterError as exc:
        raise UsageError(f"-p {exc.name}: {exc.reason}") from None
    except (KeyboardInterrupt, Terminated) as exc:
        code = EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
        raise Interrupted("interrupted; the notebooks that finished are kept and the one that "
                          "was running is recorded as interrupted; continue with: nnlib report "
                          "(it re-runs only what is not done)", code) from None


@contextlib.contextmanager
def _training_on(scheduler: str | None):
    """With a scheduler: ``$NNLIB_SCHEDULER`` for the build, which the kernels inherit (their
    runs then train on the cluster), once the scheduler answers (else an OSError naming it)."""
    if not scheduler:
        yield
        return
    remote.client(scheduler)
    with environment({SCHEDULER_ENV: scheduler}):
        yield


def _report_from_files(args) -> int:
    """``--check`` and ``--render``: read (and re-render) a built report, execute nothing."""
    given = [name for name, on in (("--quick", args.quick), ("--only", args.only),
                                   ("--force", args.force), ("-p", args.parameter),
                                   ("--reproduce", args.reproduce),
                                   ("--scheduler", args.scheduler)) if on]
    mode = "--check" if args.check else "--render"
    if given or (args.check and args.render):
        raise UsageError(f"{mode} reads a built report and executes nothing; it takes no "
                         f"{', '.join(given) or '--render'}")
    out = output_dir(False, args.out)
    if args.check:
        index, findings = check_report(out)
        text, code = check_text(index, findings, Path(out))
        print(text)
        return code
    t0 = time.monotonic()
    index = render_report(out, pdf=True if args.pdf else "auto")
    files = index["rendered"]["files"]
    print(f"[report] rendered {len(files)} files from {len(index['notebooks'])} executed "
          f"notebooks in {time.monotonic() - t0:.1f} s -> {out / 'report.html'}")
    return EXIT_OK
