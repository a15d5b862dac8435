"""Training runs on machines that share no filesystem with ours.

A worker trains a run into its own scratch folder (``nnlib.lab.experiments.train_remote``) and
sends back the finished run's files - config, history, metrics, model, checkpoint, manifest,
cost - as bytes (:func:`pack`); we check them against their manifest and store them in our run
cache (:func:`store`), atomically and under the run's writer lock. So a cluster needs no shared
disk, and a run is stored once whatever the number of workers.

A worker keeps nothing once a run is handed back. A run interrupted on a worker (the process
killed) resumes from the checkpoint in that machine's scratch the next time the machine trains it,
and starts afresh on another one - with the same numbers either way: a run is a function of its
config, its seed and nnlib's source, which the run key names, so a worker running other nnlib
source is refused rather than mixed in.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath

from . import runcache
from .config import Config, load_config

#: Where a worker trains (default: ``<temp dir>/nnlib-scratch-<user>``).
SCRATCH_ENV = "NNLIB_SCRATCH"

_clients: dict = {}  # scheduler address -> dask Client, one per process


class TransferError(RuntimeError):
    """The files a worker sent back are not the run that was asked for, or not intact."""


def scratch_root() -> Path:
    """This machine's scratch folder for runs trained for someone else."""
    default = Path(tempfile.gettempdir()) / f"nnlib-scratch-{os.getuid()}"
    return Path(os.environ.get(SCRATCH_ENV) or default)


def _client_class():
    try:
        from dask.distributed import Client
    except ImportError:  # the extra is optional: only a cluster run needs it
        raise ImportError("training on a dask cluster needs dask.distributed: "
                          "pip install 'nnlib[cluster]'") from None
    return Client


#: glibc's ``mallopt`` parameters and the values its adaptive allocator settles at on 64 bits.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20


def fast_allocator() -> bool:
    """Undo, in this process, what dask's nanny sets for its workers: ``MALLOC_TRIM_THRESHOLD_``
    (64 KiB). Setting it switches off glibc's adaptive mmap threshold, so every array over 128 KiB
    is mapped and unmapped afresh - a page fault per 4 KiB on each touch: training's temporaries
    (im2col buffers, activations) cost 2-3x the time (``benchmarks/worker_allocator.py``). The
    thresholds go back to where the adaptive allocator would put them. True if it did anything
    (Linux with glibc and the variable set); the numbers never depend on it."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                    and libc.mallopt(M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD))
    except (OSError, AttributeError):  # not glibc
        return False


def task_key(run_key: str) -> str:
    """The dask key of training run ``run_key``: whoever asks for it gets the one task."""
    return f"nnlib-run-{run_key}"


def client(address: str | None):
    """A ``dask.distributed.Client`` of the scheduler at ``address``, made once per process (a
    notebook asks for runs one after another; connecting costs a fraction of a second). None:
    a new cluster of local worker processes (reachable through ``client(its address)`` too),
    for the caller to close."""
    if address is None:
        local = _client_class()(processes=True)
        _clients[local.scheduler.address] = local
        return local
    known = _clients.get(address)
    if known is None or known.status not in ("running", "connecting"):
        known = _clients[address] = _client_class()(address)
    return known


def close_clients() -> None:
    """Close this process's scheduler connections (before the cluster goes away, e.g. at the
    end of a test, instead of a client retrying to reconnect for 30 s)."""
    while _clients:
        _clients.popitem()[1].close()


def pack(run_dir) -> dict[str, bytes]:
    """Every file of a finished run folder: ``{path relative to it: bytes}``."""
    run_dir = Path(run_dir)
    return {path.relative_to(run_dir).as_posix(): path.read_bytes()
            for path in sorted(run_dir.rglob("*")) if path.is_file()}


def _relative(name: str) -> PurePosixPath:
    """A path inside a run folder, as sent: relative and without '..' (else TransferError)."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts:
        raise TransferError(f"a worker sent a file outside its run folder: {name!r}")
    return path


def store(sent: dict, key: str, config: Config, runs_dir) -> bool:
    """Put a run a worker sent back (``{"key", "files"}``: ``experiments.train_remote``) into
    the run cache ``runs_dir`` as run ``key`` of ``config`` (its seed set): written to a
    temporary folder, checked against its manifest, then renamed to ``<runs_dir>/<key>``.
    Returns False when that run was there already (kept as it is: another caller stored it).

    Raises ``TransferError`` (nothing is stored) when the worker trained another run (another
    key: other nnlib source, or another config), sent files outside the run folder, or files
    that do not match their manifest.
    """
    runs_root = Path(runs_dir)
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
            return False
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
            if load_config(stored).to_dict() != config.to_dict():
                raise TransferError(f"run {key}: the worker's config.json is another config")
            if run_dir.exists():  # an unfinished run of ours: the finished one replaces it
                shutil.rmtree(run_dir)
            os.replace(incoming, run_dir)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
    return True
