"""``nnlib train``: train a config into a run directory, resume or extend one - with one writer
per directory, and an interrupt, SIGTERM or full disk reported with what survived and how to go on.
"""
from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import numpy as np

from ..errors import one_line
from ..io import write_json
from ..lab.config import load_config, with_overrides
from ..lab.experiments import RunResult, load_data, train_run
from ..lab.runcache import MANIFEST, is_finished, writer_lock
from ..lab.training import History
from ..paths import default_runs_dir
from .common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    Interrupted,
    Terminated,
    UsageError,
    data_dir,
    metrics_line,
)


def _train_config(args):
    """(config, run_dir) for ``nnlib train``; nothing is written here."""
    overrides = {}
    if args.epochs is not None:
        overrides["train.epochs"] = args.epochs
    if args.seed is not None:
        overrides["train.seed"] = args.seed

    if args.resume is None:
        if args.config is None:
            raise UsageError("train: give a CONFIG file (or --resume DIR)")
        config = with_overrides(load_config(args.config), overrides)
        if args.out:
            run_dir = Path(args.out)
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = f"{Path(args.config).stem}-seed{config.train.seed}-{stamp}"
            run_dir = default_runs_dir() / name
        return config, run_dir

    if args.out:
        raise UsageError("train: --out and --resume exclude each other (the run stays in DIR)")
    run_dir = Path(args.resume)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    saved_path = run_dir / "config.json"
    if not saved_path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run directory (no config.json)")
    saved = load_config(saved_path)
    if args.seed is not None and args.seed != saved.train.seed:
        raise UsageError(f"train: --seed {args.seed} differs from the seed {saved.train.seed} "
                         f"of the run in {run_dir}")
    config = with_overrides(saved, overrides)
    if args.config is not None:
        # the run's seed is part of its identity: a CONFIG without --seed means "that run's seed"
        given = with_overrides(load_config(args.config), {"train.seed": saved.train.seed,
                                                          **overrides})
        if given.to_dict() != config.to_dict():
            raise UsageError(f"train: {args.config} differs from the config of the run in "
                             f"{run_dir}; leave CONFIG out to resume with the saved one")
    return config, run_dir


def saved_epochs(run_dir) -> int:
    """Epochs the run's ``checkpoint/state.npz`` holds (0 without a readable one)."""
    try:
        with np.load(Path(run_dir) / "checkpoint" / "state.npz", allow_pickle=False) as z:
            header = json.loads(str(z["__header__"]))
        return History.from_dict(header["history"]).epochs_run
    except Exception:  # no checkpoint yet, or not readable: nothing is saved
        return 0


def _interrupted(run_dir: Path, config_arg, code: int) -> Interrupted:
    done = saved_epochs(run_dir)
    if done:
        return Interrupted(f"interrupted in epoch {done + 1}; epoch {done} is saved; continue "
                           f"with: nnlib train --resume {run_dir}", code)
    again = f"nnlib train {config_arg} --out {run_dir}" if config_arg else \
        f"nnlib train --resume {run_dir}"
    return Interrupted(f"interrupted in epoch 1; nothing is saved yet; start again with: {again}",
                       code)


#: Failed writes that get "what is still intact" (EDQUOT is missing on some platforms).
WRITE_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _write_failed(exc: OSError, run_dir: Path) -> OSError:
    """``exc`` with what is still intact: the last checkpoint (its epoch), or nothing yet."""
    done = saved_epochs(run_dir)
    intact = (f"the last checkpoint, epoch {done}, is intact ({run_dir / 'checkpoint'})"
              if done else "no checkpoint was written yet")
    return type(exc)(exc.errno, f"{exc.strerror or one_line(exc)}; {intact}")


def cmd_train(args) -> int:
    config, run_dir = _train_config(args)
    # one writer per run directory: a second `nnlib train` into it stops here, naming the first
    with writer_lock(run_dir, default_runs_dir(), wait=False):
        try:
            return _train_locked(args, config, run_dir)
        except KeyboardInterrupt:
            raise _interrupted(run_dir, args.config, EXIT_INTERRUPTED) from None
        except Terminated:
            raise _interrupted(run_dir, args.config, EXIT_TERMINATED) from None
        except OSError as exc:
            if exc.errno in WRITE_ERRNOS:
                raise _write_failed(exc, run_dir) from None
            raise


def _train_locked(args, config, run_dir: Path) -> int:
    # a damaged finished run is not "finished": train_run moves it aside and resumes it
    finished = is_finished(run_dir)
    if finished:
        result = RunResult.from_dir(run_dir)
        if result.config.to_dict() != config.to_dict() and args.resume is None:
            raise ValueError(f"{run_dir}: holds a finished run of a different config; "
                             f"use another --out folder or delete it")
        extend = (args.resume is not None and args.epochs is not None
                  and args.epochs > result.metrics.get("epochs_run", 0)
                  and not result.metrics.get("stopped_early", False))
        if not extend:
            print(f"{run_dir}: run already finished; nothing to do")
            print(metrics_line(result.metrics, run_dir))
            return EXIT_OK
        if not (run_dir / "checkpoint" / "state.npz").is_file():
            raise FileNotFoundError(f"{run_dir}: cannot extend the finished run, its "
                                    f"checkpoint/state.npz is missing")

    # Data before anything is written: a data problem must not leave a half-made run folder.
    data = load_data(config, data_dir(args))

    if args.resume is not None:
        saved = run_dir / "config.json"
        if json.loads(saved.read_text()) != config.to_dict():
            write_json(saved, config.to_dict())  # e.g. --epochs extends the run
        if finished:
            (run_dir / "metrics.json").unlink()  # unfinished again until the new end
            (run_dir / MANIFEST).unlink(missing_ok=True)
            print(f"extending the finished run in {run_dir} to {config.train.epochs} epochs")
        elif not (run_dir / "checkpoint" / "state.npz").is_file():
            print(f"{run_dir}: no checkpoint to resume from; training from the start")

    result = train_run(config, run_dir, config.train.seed, data=data,
                       progress="off" if args.no_progress else "auto", resume=True)
    _draw_curves(result)
    print(metrics_line(result.metrics, run_dir))
    return EXIT_OK


def _draw_curves(result: RunResult) -> None:
    """``curves.png`` in the run directory (loss and accuracy per epoch), unless it is there.
    Not one of the run's verified files (the manifest): a picture of ``history.json``."""
    path = result.run_dir / "curves.png"
    if path.exists():
        return
    os.environ.setdefault("MPLBACKEND", "Agg")
    # matplotlib costs a second of start-up; only a command that draws pays it
    from ..report.plots import plot_history, save_figure
    save_figure(plot_history(result.history, title=f"{result.config.model.type} seed "
                                                   f"{result.seed}"), path)
