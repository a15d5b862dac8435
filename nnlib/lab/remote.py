"""Training runs on machines that share no filesystem with ours.

A worker trains a run into its own scratch folder (:func:`train_remote`) and sends back the
finished run's files - config, history, metrics, model, checkpoint, manifest, cost - as bytes;
we check them against their manifest and store them in our run cache (:func:`store`), atomically
and under the run's writer lock. So a cluster needs no shared disk, and a run is stored once
whatever the number of workers.

A worker keeps nothing once a run is handed back. A run interrupted on a worker (the process
killed) resumes from the checkpoint in that machine's scratch the next time the machine trains it,
and starts afresh on another one - with the same numbers either way: a run is a function of its
config, its seed and nnlib's source, which the run key names, so a worker running other nnlib
source is refused rather than mixed in.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from threadpoolctl import threadpool_limits

from ..nn import parallel
from . import runcache
from .config import load_config, with_overrides
from .experiments import run, run_key

#: Where a worker trains (default: ``<temp dir>/nnlib-scratch-<user>``).
SCRATCH_ENV = "NNLIB_SCRATCH"


class TransferError(RuntimeError):
    """The files a worker sent back are not the run that was asked for, or not intact."""


def scratch_root() -> Path:
    """This machine's scratch folder for runs trained for someone else."""
    default = Path(tempfile.gettempdir()) / f"nnlib-scratch-{os.getuid()}"
    return Path(os.environ.get(SCRATCH_ENV) or default)


def train_remote(config: dict, seed: int, data_dir=None, threads: int = 1) -> dict:
    """On a worker: train ``config`` with ``seed`` in scratch; return ``{"key": its run key,
    "files": {path in the run folder: bytes}}`` and delete the run from scratch.

    ``data_dir``: the worker's MNIST folder (None: its own default, fetched and verified there).
    """
    root = scratch_root()
    with threadpool_limits(limits=threads), parallel.threads(2 if threads >= 2 else 1):
        result = run(config, seed, runs_dir=root, data_dir=data_dir, progress="off")
    files = {path.relative_to(result.run_dir).as_posix(): path.read_bytes()
             for path in sorted(result.run_dir.rglob("*")) if path.is_file()}
    shutil.rmtree(result.run_dir, ignore_errors=True)
    return {"key": result.run_dir.name, "files": files}


def _relative(name: str) -> PurePosixPath:
    """A path inside a run folder, as sent: relative and without '..' (else TransferError)."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts:
        raise TransferError(f"a worker sent a file outside its run folder: {name!r}")
    return path


def store(sent: dict, config, seed: int, runs_dir) -> Path:
    """Put a run :func:`train_remote` sent back into the run cache ``runs_dir``: the folder it
    would have been trained in here (``<runs_dir>/<run key>``), written to a temporary folder,
    checked against its manifest and then renamed into place. Returns that folder.

    Raises ``TransferError`` (nothing is stored) when the worker trained another run (another
    key: other nnlib source, or another config), sent files outside the run folder, or files
    that do not match their manifest. A run already stored here is kept as it is.
    """
    runs_root = Path(runs_dir)
    cfg = with_overrides(load_config(config), {"train.seed": int(seed)})
    key = run_key(cfg, seed)
    if sent.get("key") != key:
        raise TransferError(f"the worker trained run {sent.get('key')!r}, not {key!r}: it runs "
                            f"other nnlib source (install the same version on every worker)")
    files = sent.get("files") or {}
    if runcache.MANIFEST not in files:
        raise TransferError(f"run {key}: the worker sent no {runcache.MANIFEST}")
    run_dir = runs_root / key
    runs_root.mkdir(parents=True, exist_ok=True)
    with runcache.writer_lock(run_dir, runs_root, wait=True):
        if runcache.has_result(run_dir):
            return run_dir
        incoming = Path(tempfile.mkdtemp(prefix=f".incoming-{key}-", dir=runs_root))
        try:
            for name, data in files.items():
                path = incoming / _relative(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            problem = runcache.verify(incoming)
            if problem is not None:
                raise TransferError(f"run {key}: {problem[0]} {problem[1]} (sent by a worker; "
                                    f"nothing stored)")
            stored = json.loads((incoming / "config.json").read_text(encoding="utf-8"))
            if load_config(stored).to_dict() != cfg.to_dict():
                raise TransferError(f"run {key}: the worker's config.json is another config")
            if run_dir.exists():  # an unfinished run of ours: the finished one replaces it
                shutil.rmtree(run_dir)
            os.replace(incoming, run_dir)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
    return run_dir
