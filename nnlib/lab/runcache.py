"""What a run directory guarantees: its files are the ones it finished with, and one process
writes it at a time.

- **Manifest.** A finished run ends by writing ``manifest.json``: size and SHA-256 of
  ``config.json``, ``history.json``, ``model.npz``, ``metrics.json`` and every file of
  ``checkpoint/``. :func:`verify` checks sizes always and hashes once per process (again when a
  file's mtime or size changed). A run finished before manifests existed is verified once by
  loading its files and then given one (never retrained for that).
- **Quarantine.** :func:`quarantine` moves a damaged run aside to
  ``<runs>/.damaged/<name>-<time>/`` (kept for inspection); :func:`salvage_checkpoint` brings back
  its checkpoint when the manifest vouches for it, so the run resumes instead of retraining.
- **One writer.** :func:`writer_lock` is an exclusive lock per run directory, kept in
  ``<runs>/.locks/`` (not beside or inside the run: deleting or moving a run keeps its lock), with a
  note of the holder (pid, host, since when) for the one-line refusal a second writer gets.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import socket
import warnings
from pathlib import Path

from ..io import file_sha256, write_json

MANIFEST = "manifest.json"
#: The files a finished run's manifest covers (plus everything under ``checkpoint/``).
ARTEFACTS = ("config.json", "history.json", "model.npz", "metrics.json")
LOCKS, DAMAGED = ".locks", ".damaged"

_hashes: dict[str, tuple[int, int, str]] = {}  # path -> (mtime_ns, size, sha256), this process


class RunBusy(RuntimeError):
    """Another live process is writing this run directory."""


class RunCacheWarning(UserWarning):
    """A damaged run was moved aside, or a stale lock taken over."""


def _files(run_dir: Path) -> list[str]:
    names = [n for n in ARTEFACTS if (run_dir / n).is_file()]
    ckpt = run_dir / "checkpoint"
    if ckpt.is_dir():
        names += sorted(p.relative_to(run_dir).as_posix() for p in ckpt.iterdir()
                        if p.is_file() and not p.name.startswith("."))
    return names


def _sha256(path: Path) -> str:
    """The file's SHA-256, computed once per process unless its mtime or size changed."""
    st = path.stat()
    key = str(path.resolve())
    cached = _hashes.get(key)
    if cached and cached[:2] == (st.st_mtime_ns, st.st_size):
        return cached[2]
    digest = file_sha256(path)
    _hashes[key] = (st.st_mtime_ns, st.st_size, digest)
    return digest


def remove_leftovers(run_dir) -> list[Path]:
    """Delete the temporary files (``.<name>.*.tmp``) a writer killed mid-write left in
    ``run_dir`` (the caller holds its writer lock, so no live writer owns them)."""
    run_dir = Path(run_dir)
    found = [p for p in (*run_dir.glob(".*.tmp"), *run_dir.glob("checkpoint/.*.tmp"))
             if p.is_file()]
    for p in found:
        p.unlink(missing_ok=True)
    return found


def write_manifest(run_dir) -> dict:
    """Record size and SHA-256 of the run's files (the run's last write)."""
    run_dir = Path(run_dir)
    files = {n: {"size": (run_dir / n).stat().st_size, "sha256": _sha256(run_dir / n)}
             for n in _files(run_dir)}
    manifest = {"format": 1, "files": files}
    write_json(run_dir / MANIFEST, manifest)
    return manifest


def has_result(run_dir) -> bool:
    """A finished run's files are in ``run_dir``: its manifest, or a legacy run's metrics.json
    (whether they verify is :func:`verify`'s question)."""
    run_dir = Path(run_dir)
    return (run_dir / "metrics.json").exists() or (run_dir / MANIFEST).exists()


def is_finished(run_dir) -> bool:
    """``run_dir`` holds a finished run whose files verify."""
    return has_result(run_dir) and verify(run_dir) is None


def _load_check(path: Path) -> None:
    """Read ``path`` the way its users will (JSON parsed, npz arrays read), or raise."""
    if path.suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif path.suffix == ".npz":
        import numpy as np
        with np.load(path, allow_pickle=False) as z:
            for name in z.files:  # reading every array is the check
                np.asarray(z[name])


def _legacy_problem(run_dir: Path) -> tuple[str, str] | None:
    """A run without a manifest: load every file once; on success write its manifest."""
    for name in [*ARTEFACTS, *[n for n in _files(run_dir) if n.startswith("checkpoint/")]]:
        path = run_dir / name
        if not path.is_file():
            return name, "is missing"
        try:
            _load_check(path)
        except Exception as exc:  # any failure to read it: damaged
            return name, f"is unreadable ({type(exc).__name__})"
    write_manifest(run_dir)
    return None


def verify(run_dir) -> tuple[str, str] | None:
    """None if the finished run in ``run_dir`` is intact, else ``(file, what is wrong)``."""
    run_dir = Path(run_dir)
    if not (run_dir / MANIFEST).is_file():
        return _legacy_problem(run_dir)
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if not all(n in files for n in ARTEFACTS):
            raise ValueError("incomplete")
    except (OSError, ValueError, KeyError, TypeError):
        return MANIFEST, "is unreadable"
    for name, want in files.items():
        path = run_dir / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return name, "is missing"
        if size != want["size"]:
            return name, f"has {size:,} bytes, not {want['size']:,}"
        if _sha256(path) != want["sha256"]:
            return name, "does not match its checksum"
    return None


def _now() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def quarantine(run_dir, runs_root) -> Path:
    """Move ``run_dir`` to ``<runs_root>/.damaged/<name>-<time>/`` and return the new path."""
    run_dir = Path(run_dir)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    dest = Path(runs_root) / DAMAGED / f"{run_dir.name}-{stamp}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(run_dir), str(dest))
    return dest


def salvage_checkpoint(damaged: Path, run_dir: Path) -> bool:
    """Copy ``damaged/checkpoint/`` back into a fresh ``run_dir`` when the damaged run's manifest
    vouches for every checkpoint file (size and hash); True if it did."""
    try:
        files = json.loads((damaged / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    ckpt = {n: w for n, w in files.items() if n.startswith("checkpoint/")}
    if "checkpoint/state.npz" not in ckpt:
        return False
    for name, want in ckpt.items():
        path = damaged / name
        if not path.is_file() or path.stat().st_size != want["size"] \
                or file_sha256(path) != want["sha256"]:
            return False
    (run_dir / "checkpoint").mkdir(parents=True, exist_ok=True)
    for name in ckpt:
        shutil.copy2(damaged / name, run_dir / name)
    return True


# --- one writer per run directory --------------------------------------------------------------

def _lock_name(run_dir: Path, runs_root: Path) -> str:
    run_dir = run_dir.resolve()
    if run_dir.parent == runs_root.resolve():
        return run_dir.name  # a run-cache key
    return "dir-" + hashlib.sha256(str(run_dir).encode()).hexdigest()[:16]


def _holder_text(info: dict) -> str:
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"


@contextlib.contextmanager
def writer_lock(run_dir, runs_root, *, wait: bool = True):
    """Hold the exclusive writer lock of ``run_dir`` (kept in ``<runs_root>/.locks/``).

    ``wait``: block until the holder finishes (what a notebook asking for a run a grid worker is
    training wants); else raise :class:`RunBusy` naming the holder. A lock left by a process that
    died is taken over, with a warning.
    """
    from filelock import FileLock, Timeout

    run_dir, runs_root = Path(run_dir), Path(runs_root)
    locks = runs_root / LOCKS
    locks.mkdir(parents=True, exist_ok=True)
    name = _lock_name(run_dir, runs_root)
    holder = locks / f"{name}.holder.json"
    lock = FileLock(str(locks / f"{name}.lock"), thread_local=False)
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        try:
            info = json.loads(holder.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        raise RunBusy(f"{run_dir} is being written by another process ({_holder_text(info)}); "
                      "wait for it to finish or stop it") from None
    try:
        # a writer killed while writing its holder note leaves the note's temporary file
        for leftover in locks.glob(f".{holder.name}.*.tmp"):
            leftover.unlink(missing_ok=True)
        try:  # a holder note that survived its lock: that process died while writing
            stale = json.loads(holder.read_text(encoding="utf-8"))
            warnings.warn(f"{run_dir}: taking over the writer lock of {_holder_text(stale)}, "
                          "which is gone", RunCacheWarning, stacklevel=3)
        except (OSError, ValueError):
            pass
        write_json(holder, {"pid": os.getpid(), "host": socket.gethostname(), "since": _now(),
                            "run_dir": str(run_dir.resolve())})
        yield
    finally:
        with contextlib.suppress(OSError):
            holder.unlink()
        lock.release()
