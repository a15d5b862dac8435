"""Many runs at once: ``grid`` (every combination of a few config values, for each seed) and
``runs`` (several whole configs, for each seed), on parallel workers, resumable through the run
cache; and ``summarize`` (mean and std over seeds).
"""
from __future__ import annotations

import itertools
import logging
import os
import time
import traceback
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import one_line
from ..nn import parallel
from ..paths import default_data_dir, default_runs_dir
from . import remote
from .config import Config, ConfigError, load_config, with_overrides
from .experiments import METRICS, run, scheduler_address, seeded, submit_remote
from .mnist import load_mnist
from .progress import progress_mode
from .runcache import has_result

log = logging.getLogger(__name__)


def _cell(base: dict, overrides: dict, seed: int, runs_dir, data_dir, threads: int,
          scheduler: str = "") -> dict:
    """Run one grid cell in a worker; never raises (a failure is recorded in the row).

    ``scheduler``: the dask scheduler that trains the run (its task already submitted by
    :func:`_on_cluster`; ``run`` asks for the same task and stores what it sends back), or ""
    to train here."""
    row = {**overrides, "seed": seed}
    t0 = time.perf_counter()
    try:
        cfg = with_overrides(load_config(base), overrides)
        with threadpool_limits(limits=threads), parallel.threads(2 if threads >= 2 else 1):
            result = run(cfg, seed, runs_dir=runs_dir, data_dir=data_dir, progress="off",
                         scheduler=scheduler)
        row.update({k: result.metrics[k] for k in METRICS})
        row.update({"run_dir": str(result.run_dir), "error": None})
    except Exception as exc:
        row.update(dict.fromkeys(METRICS, np.nan))
        row.update({"run_dir": None,
                    "error": one_line(f"{type(exc).__name__}: {exc}"),
                    "traceback": traceback.format_exc(limit=3)})
    row["cell_time_s"] = time.perf_counter() - t0
    return row


def grid(base_config, axes: dict, seeds=(0,), n_jobs: int = 1, *, runs_dir=None, data_dir=None,
         backend: str | None = None, scheduler: str | None = None, progress="auto"):
    """Run every combination of ``axes`` (``{"optimizer.lr": [...], "model.sizes": [...]}``,
    dotted paths of the normalised config) for each seed; returns a pandas DataFrame with one
    row per (cell, seed): the axis values, the seed, the test metrics and ``error`` (None, or
    the one-line error of a failed cell). Finished cells come from the run cache, so an
    interrupted grid resumes where it stopped.

    ``n_jobs`` workers run in parallel through joblib - no more than there are runs left to
    train, each with ``cores // workers`` threads - and get the runs to train longest first
    (``relative_cost``), so they finish together; rows keep the axes' order. ``backend="dask"``
    sends the runs to a ``dask.distributed`` cluster (``scheduler`` = its address, e.g.
    ``tcp://host:8786``, default ``$NNLIB_SCHEDULER``, else a local one; needs ``pip install
    nnlib[cluster]``); it is the default when a scheduler is named, else joblib's ``"loky"``.

    ``progress``: a tqdm bar over the runs (``"bar"``/True), one logged line per finished run
    (``"epoch"``, logger ``nnlib.lab.grid``), nothing (``"off"``/False), or ``"auto"`` (as the
    trainer chooses: ``NNLIB_PROGRESS``, else a bar on a terminal or in JupyterLab).
    """
    base = load_config(base_config).to_dict()
    for path, values in axes.items():
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__") \
                or len(values) == 0:
            raise ConfigError(f"grid axis {path!r}: expected a non-empty list of values, "
                              f"got {values!r}", path)
    names = list(axes)
    cells = [dict(zip(names, values)) for values in itertools.product(*axes.values())]
    for cell in cells:  # fail fast on a bad axis path or value, before any training
        with_overrides(load_config(base), cell)
    rows = _execute([(base, cell, s) for cell in cells for s in seeds], n_jobs, runs_dir,
                    data_dir, backend, scheduler, progress,
                    [_describe(cell, s) for cell in cells for s in seeds])
    df = _frame(rows)
    for name in names:  # lists (e.g. model.sizes) as tuples so the columns group and sort
        df[name] = df[name].map(lambda v: tuple(v) if isinstance(v, list) else v)
    return df


def _describe(overrides: dict, seed) -> str:
    """``optimizer.lr=0.1, seed 0``: a run of a grid or of :func:`runs` in a progress line."""
    return ", ".join([f"{k}={v}" for k, v in overrides.items()] + [f"seed {seed}"])


def _reported(rows, descriptions: list, progress):
    """``rows`` (an iterator of ``_cell`` rows, in submission order) passed on as they arrive,
    with a tqdm bar or one logged line each (``progress``: see :func:`grid`)."""
    mode, n = progress_mode(progress), len(descriptions)
    bar = None
    if mode == "bar":
        from tqdm.auto import tqdm
        bar = tqdm(total=n, desc="runs", unit="run")
    failed = 0
    try:
        for i, (row, what) in enumerate(zip(rows, descriptions), 1):
            failed += bool(row.get("error"))
            if bar is not None:
                if failed:
                    bar.set_postfix(failed=failed, refresh=False)
                bar.update(1)
            elif mode == "epoch":
                result = (f"failed: {row['error']}" if row.get("error") else
                          f"test accuracy {row['test_accuracy']:.4f}, {row['cell_time_s']:.1f} s")
                log.info(f"grid: run {i}/{n} done ({what}): {result}")
            yield row
    finally:
        if bar is not None:
            bar.close()


def _execute(jobs: list, n_jobs: int, runs_dir, data_dir, backend: str, scheduler, progress,
             descriptions: list):
    """Run ``jobs`` = [(config dict, overrides, seed)] (``_cell`` each) on ``n_jobs`` workers;
    the rows come back in the jobs' order."""
    from joblib import Parallel, delayed

    runs_dir = str(Path(runs_dir or default_runs_dir()).resolve())
    data_dir = str(Path(data_dir or default_data_dir()).resolve())
    scheduler = scheduler_address(scheduler)
    backend = backend or ("dask" if scheduler else "loky")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    # Longest runs first (the workers then finish together), and no more workers than runs
    # left to train: a lone run gets every core's nnlib threads (same numbers on 1 or 2).
    order, pending = _schedule(jobs, Path(runs_dir))
    n_jobs = max(1, min(n_jobs, pending))
    threads = max(1, (os.cpu_count() or 1) // n_jobs)
    ordered = [jobs[i] for i in order]
    if backend == "dask":
        rows = list(_reported(_on_cluster(ordered, runs_dir, data_dir, scheduler),
                              [descriptions[i] for i in order], progress))
    else:
        if n_jobs > 1:
            _data_warmup(data_dir)
        # rows as they finish, for the progress; joblib's multiprocessing backend returns lists only
        returns = "list" if backend == "multiprocessing" and n_jobs > 1 else "generator"
        rows = list(_reported(
            Parallel(n_jobs=n_jobs, backend=backend, return_as=returns)(
                delayed(_cell)(b, c, s, runs_dir, data_dir, threads) for b, c, s in ordered),
            [descriptions[i] for i in order], progress))
    return [row for _, row in sorted(zip(order, rows), key=lambda pair: pair[0])]


def _on_cluster(jobs: list, runs_dir: str, data_dir: str, scheduler):
    """The rows of ``jobs`` (longest first) with their runs trained on a ``dask.distributed``
    cluster (``scheduler``: its address; None: a local one for this call), in the jobs' order.
    Every run not in our cache is submitted at once, with dask priorities in the jobs' order (so
    the workers start with the longest); a worker trains in its own scratch and sends the run's
    files back, which are verified and stored in ``runs_dir`` (:mod:`nnlib.lab.remote`: no
    shared filesystem needed). A worker lost mid-run is dask's to handle: it runs the task again
    on another worker."""
    client = remote.client(scheduler)
    try:
        futures = []  # held until the rows are in: dask forgets a task nobody holds
        for i, (base, cell, seed) in enumerate(jobs):
            cfg, key = seeded(with_overrides(load_config(base), cell), seed)
            if not has_result(Path(runs_dir) / key):  # the same task experiments.run submits
                futures.append(submit_remote(cfg, seed, client.scheduler.address,
                                             priority=len(jobs) - i))
        for base, cell, seed in jobs:
            yield _cell(base, cell, seed, runs_dir, data_dir, 1, client.scheduler.address)
    finally:
        if scheduler is None:  # ours, for this call
            client.close()


def runs(configs: dict, seeds=(0,), n_jobs: int = 1, *, runs_dir=None, data_dir=None,
         backend: str | None = None, scheduler: str | None = None, progress="auto"):
    """Run several whole configs (``{label: config}``, e.g. two recipes and an ablation's
    variants) on the same workers as :func:`grid`, all in one pass (so the workers stay busy to
    the end); ``seeds``: the seeds of every config, or ``{label: seeds}``. Returns a DataFrame
    with one row per (config, seed) in that order: ``label``, the seed, the test metrics,
    ``run_dir`` and ``error``."""
    if not configs:
        raise ValueError("runs() needs at least one config")
    if isinstance(seeds, dict):
        missing = [label for label in configs if label not in seeds]
        if missing:
            raise ValueError(f"runs(): no seeds given for {', '.join(map(repr, missing))}")
    seeds_of = {label: list(seeds[label] if isinstance(seeds, dict) else seeds)
                for label in configs}
    bases = {label: load_config(cfg).to_dict() for label, cfg in configs.items()}
    labels = [label for label in bases for _ in seeds_of[label]]
    rows = _execute([(bases[label], {}, s) for label in bases for s in seeds_of[label]], n_jobs,
                    runs_dir, data_dir, backend, scheduler, progress,
                    [f"{label}, seed {s}" for label in bases for s in seeds_of[label]])
    return _frame([{"label": label, **row} for label, row in zip(labels, rows)])


def _frame(rows: list):
    """The rows of ``_cell`` as a DataFrame, ``error`` None for the good ones (pandas >= 3
    stores a str column's None as NaN)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    return df


def relative_cost(config: Config) -> float:
    """A rough relative cost of training ``config``: epochs × images × weights of the dense
    layers (for ordering a grid's cells, which share a model type)."""
    images = config.data.n_train or 50_000
    aug = config.train.augmentation
    if aug is not None and aug.mode in ("append", "overwrite"):
        images *= 2
    sizes = getattr(config.model, "sizes", None) or getattr(config.model, "linear_sizes", None)
    width = sum(a * b for a, b in itertools.pairwise(sizes)) if sizes else 1
    return float(config.train.epochs * images * width)


def _schedule(jobs: list, runs_root: Path) -> tuple[list[int], int]:
    """The order to submit ``jobs`` = [(config dict, overrides, seed)] in (runs to train,
    longest first; then the finished ones) and how many runs are left to train."""
    todo, done = [], []
    for i, (base, cell, seed) in enumerate(jobs):
        cfg, key = seeded(with_overrides(load_config(base), cell), seed)
        if has_result(runs_root / key):
            done.append(i)
        else:
            todo.append((-relative_cost(cfg), i))
    return [i for _, i in sorted(todo)] + done, len(todo)


def _data_warmup(data_dir: str) -> None:
    """Fetch/verify MNIST once in the parent so workers don't race to build the cache."""
    load_mnist(data_dir)


def summarize(df, by, metrics=("test_accuracy", "test_loss")):
    """Mean and std over seeds of ``metrics`` grouped by the columns ``by``."""
    agg = df.groupby(list(by), dropna=False)[list(metrics)].agg(["mean", "std", "count"])
    agg.columns = [f"{m}_{s}" for m, s in agg.columns]
    return agg.reset_index()
