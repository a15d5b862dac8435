"""Experiments: one training run as a cached, resumable unit (grids of runs: ``nnlib.lab.grid``).

``run(config, seed)`` trains (or returns the cached result of) one configuration. Its directory
``runs/<key>/`` is keyed by the normalised config (data spec included), the seed and a hash of the
source a run executes (``nnlib.lab.train`` and what it imports), so a repeated call returns at
once and a change to that code never serves stale numbers.
A run killed mid-way resumes from its last finished epoch the next time it is asked for; a
finished run is verified before it is served (``runcache``: a damaged one is moved aside and
resumed from its checkpoint, or retrained), and one process at a time writes a run directory.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from threadpoolctl import threadpool_limits

from .. import codehash
from ..io import write_json
from ..nn import parallel
from ..nn.ensemble import Ensemble
from ..nn.models import load as load_model

# default_data_dir is here for the notebooks (ex.default_data_dir())
from ..paths import NOTEBOOK_ENV, RUN_LOG_ENV, default_data_dir, default_runs_dir  # noqa: F401
from . import remote, runcache
from .config import Config, load_config, with_overrides
from .train import CONFIG_FILE, fit_run, load_data
from .training import History

#: The dask scheduler runs train on (``tcp://host:8786``) when set; see :func:`run`.
SCHEDULER_ENV = "NNLIB_SCHEDULER"
METRICS = ("test_loss", "test_accuracy", "training_time_s", "best_valid_accuracy", "epochs_run")

#: The module a run's numbers come from: the run cache keys runs by a hash of it and of every
#: nnlib module it imports (``nnlib.codehash``); editing anything else never retrains.
TRAINING_ROOT = "nnlib.lab.train"


@lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 of the source a run executes: ``codehash.source_hash([TRAINING_ROOT])``."""
    return codehash.source_hash([TRAINING_ROOT])


def seeded(config, seed: int) -> tuple[Config, str]:
    """What :func:`run` trains for ``(config, seed)``: the config (a path, dict or ``Config``)
    with ``train.seed`` set to ``seed``, and its run key (the run cache's folder name)."""
    config = with_overrides(load_config(config), {"train.seed": int(seed)})
    return config, run_key(config, seed)


def run_key(config: Config, seed: int) -> str:
    payload = {"config": config.to_dict(), "seed": int(seed), "source": source_hash()}
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# --- one run -----------------------------------------------------------------------------------

@dataclass
class RunResult:
    """The outcome of one run: its history, test metrics and where its files are."""

    config: Config
    seed: int
    history: History
    metrics: dict
    run_dir: Path

    @property
    def test_accuracy(self) -> float:
        return self.metrics["test_accuracy"]

    @property
    def test_loss(self) -> float:
        return self.metrics["test_loss"]

    @property
    def training_time_s(self) -> float:
        return self.metrics["training_time_s"]

    @property
    def model_path(self) -> Path:
        return self.run_dir / "model.npz"

    def model(self):
        """Load the trained model (best-by-validation weights when early stopping restored them)."""
        return load_model(self.model_path)

    def row(self) -> dict:
        return {"seed": self.seed, **{k: self.metrics[k] for k in METRICS}}

    @classmethod
    def from_dir(cls, run_dir) -> RunResult:
        run_dir = Path(run_dir)
        meta = json.loads((run_dir / "metrics.json").read_text())
        config = load_config(json.loads((run_dir / "config.json").read_text()))
        return cls(config=config, seed=int(meta.get("seed", config.train.seed)),
                   history=History.load(run_dir / "history.json"), metrics=meta,
                   run_dir=run_dir)


def _finished(out_dir: Path, runs_root) -> RunResult | None:
    """The finished run in ``out_dir`` if it verifies (``runcache.verify``); None when there is
    none - or when it was damaged: then it is moved aside (one warning line) and its checkpoint
    brought back if the manifest vouches for it, so the caller resumes (else retrains)."""
    if not runcache.has_result(out_dir):
        return None
    problem = runcache.verify(out_dir)
    if problem is None:
        return RunResult.from_dir(out_dir)
    name, what = problem
    dest = runcache.quarantine(out_dir, runs_root or default_runs_dir())
    out_dir.mkdir(parents=True)
    resumed = runcache.salvage_checkpoint(dest, out_dir)
    warnings.warn(f"run {out_dir.name}: {name} {what}; moved aside to {dest}; "
                  + ("resuming from its checkpoint" if resumed else "retraining it"),
                  runcache.RunCacheWarning, stacklevel=3)
    return None


def train_run(config, out_dir, seed: int | None = None, *, data: dict | None = None,
              data_dir=None, progress="auto", resume: bool = True,
              runs_root=None) -> RunResult:
    """Train ``config`` into ``out_dir`` and evaluate on the test set.

    Writes ``config.json`` (normalised), ``checkpoint/`` (state at every epoch end, best model),
    then ``history.json``, ``model.npz``, ``metrics.json`` and, last, ``manifest.json`` (sizes
    and hashes: ``runcache``). With ``resume`` an unfinished run in ``out_dir`` continues from
    its last finished epoch; a finished one is returned as it is once it verifies (a damaged one
    goes to ``<runs_root>/.damaged/`` and is resumed or retrained).
    The caller holds the directory's writer lock (``runcache.writer_lock``).
    """
    config = load_config(config)
    out_dir = Path(out_dir)
    seed = config.train.seed if seed is None else int(seed)
    config = with_overrides(config, {"train.seed": seed})
    runcache.remove_leftovers(out_dir)
    if resume:
        done = _finished(out_dir, runs_root)
        if done is not None:
            return done
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = out_dir / CONFIG_FILE
    if saved.exists() and resume:
        previous = load_config(json.loads(saved.read_text()))
        if previous.to_dict() != config.to_dict():
            raise ValueError(f"{out_dir}: holds a run of a different config; "
                             f"use another --out folder or delete it")
    write_json(saved, config.to_dict())

    history, metrics, _ = fit_run(config, out_dir, seed, data=data, data_dir=data_dir,
                                  progress=progress, resume=resume)
    result = RunResult(config=config, seed=seed, history=history, metrics=metrics,
                       run_dir=out_dir)
    write_json(out_dir / "metrics.json", metrics)
    runcache.write_manifest(out_dir)
    return result


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The dask scheduler runs train on: ``scheduler``, else ``$NNLIB_SCHEDULER``; None (or "")
    means here."""
    address = os.environ.get(SCHEDULER_ENV) if scheduler is None else scheduler
    return address or None


def submit_remote(config: Config, seed: int, scheduler: str, priority: int = 0):
    """The dask future of training ``config`` with ``seed`` on a worker of ``scheduler``
    (:func:`train_remote`): one task per run key, so every caller asking for the same run - in
    this process or another - gets the same task."""
    config, key = seeded(config, seed)
    return remote.client(scheduler).submit(train_remote, config.to_dict(), int(seed),
                                           key=remote.task_key(key), priority=priority,
                                           pure=False)


def run(config, seed: int = 0, *, runs_dir=None, data_dir=None, force: bool = False,
        progress="auto", scheduler: str | None = None) -> RunResult:
    """Train ``config`` with ``seed`` once; later calls return the cached ``RunResult``.

    ``force`` retrains from scratch even when a finished run exists. ``scheduler``: the address
    of a ``dask.distributed`` scheduler (default ``$NNLIB_SCHEDULER``; "" trains here): a run
    not in the cache is trained on one of its workers and stored here (``nnlib.lab.remote``).
    """
    config, key = seeded(config, seed)
    runs_root = Path(runs_dir or default_runs_dir())
    run_dir = runs_root / key
    started, t0, cpu0 = time.time(), time.perf_counter(), time.process_time()
    address = scheduler_address(scheduler)
    on_cluster = bool(address) and not force and not runcache.has_result(run_dir)
    if on_cluster:  # (two callers asking at once share the task; one of them stores it)
        sent = submit_remote(config, seed, address).result()
        on_cluster = remote.store(sent, key, config, runs_root)
    # Notebooks executed in parallel (and grid workers) may ask for the same run: the first
    # trains it, the others wait for its writer lock and then read the finished result.
    t_lock = time.perf_counter()
    with runcache.writer_lock(run_dir, runs_root, wait=True):
        waited = time.perf_counter() - t_lock
        if force and run_dir.exists():
            shutil.rmtree(run_dir)
        trained = on_cluster or not runcache.has_result(run_dir)
        result = train_run(config, run_dir, seed, data_dir=data_dir, progress=progress,
                           runs_root=runs_root)
        if trained and not on_cluster:  # a worker's cost came with its files
            _write_cost(run_dir, time.perf_counter() - t0 - waited, time.process_time() - cpu0)
    _log_run(result, trained, started, time.perf_counter() - t0, waited,
             time.process_time() - cpu0, address if on_cluster else None)
    return result


def train_remote(config: dict, seed: int, data_dir=None) -> dict:
    """On a cluster worker (one core per task): train ``config`` with ``seed`` on one thread in
    this machine's scratch folder (``remote.scratch_root()``, where an interrupted run resumes);
    return ``{"key": its run key, "files": every file of the finished run}`` for
    ``remote.store`` and delete the run from scratch. ``data_dir``: the worker's MNIST folder
    (None: its own default, fetched and verified there)."""
    remote.fast_allocator()
    with threadpool_limits(limits=1), parallel.threads(1):
        result = run(config, seed, runs_dir=remote.scratch_root(), data_dir=data_dir,
                     progress="off", scheduler="")
    sent = {"key": result.run_dir.name, "files": remote.pack(result.run_dir)}
    shutil.rmtree(result.run_dir, ignore_errors=True)
    return sent


#: What training a cached run cost, beside its files (not part of its manifest: a record, not a
#: result), so that a report served from the cache can still say how much compute it stands on.
COST_FILE = "cost.json"


def _write_cost(run_dir: Path, wall: float, cpu: float) -> None:
    write_json(run_dir / COST_FILE, {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                                     "trained_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                                     "cpu_count": os.cpu_count()})


def run_cost(run_dir) -> dict | None:
    """``cost.json`` of a cached run (wall and CPU seconds its training took), None if absent."""
    try:
        cost = json.loads((Path(run_dir) / COST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cost if isinstance(cost, dict) else None


def _log_run(result: RunResult, trained: bool, started: float, wall: float,
             waited: float, cpu: float, cluster: str | None) -> None:
    path = os.environ.get(RUN_LOG_ENV)
    if not path:
        return
    cfg, m = result.config, result.metrics
    line = {"key": result.run_dir.name, "trained": trained, "started": round(started, 3),
            "wall_s": round(wall, 3), "lock_wait_s": round(waited, 3),
            "cpu_s": round(cpu, 3),  # this process, all threads (less than wall when it shared)
            # what training it took, whether this call trained it or read it from the cache
            "run_cpu_s": (run_cost(result.run_dir) or {}).get("cpu_s"),
            "training_time_s": m["training_time_s"] if trained else None,
            "evaluation_time_s": m.get("evaluation_time_s") if trained else None,
            "model": cfg.model.type, "n_train": cfg.data.n_train, "epochs": cfg.train.epochs,
            "augmentation": cfg.train.augmentation.mode if cfg.train.augmentation else None,
            "seed": result.seed, "notebook": os.environ.get(NOTEBOOK_ENV),
            "cluster": cluster,  # the scheduler of the worker that trained it, if one did
            "pid": os.getpid()}
    try:  # one write() on an O_APPEND file: lines of concurrent processes do not interleave
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # a timing log must never fail a run


def ensemble(results, *, data_dir=None) -> dict:
    """The seed ensemble of finished runs (averaged softmax outputs of their saved models, no
    extra training), evaluated on the test set: ``{"test_accuracy", "test_loss", "members",
    "seeds"}``. Every config tests on the MNIST test set, so any finished runs combine."""
    results = list(results)
    if not results:
        raise ValueError("ensemble() needs at least one finished run")
    x, y = load_data(results[0].config, data_dir)["test"]
    scores = Ensemble(r.model() for r in results).evaluate(x, y)
    return {"test_accuracy": scores["accuracy"], "test_loss": scores["loss"],
            "members": len(results), "seeds": [r.seed for r in results]}
