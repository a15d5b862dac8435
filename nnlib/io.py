"""Atomic file writes (write to a temporary file beside the target, then rename over it) and
file checksums."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import one_line


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask() is process-wide, and flipping it later races with threads
# (the report writes pages from worker threads while kernels start).
_UMASK = _current_umask()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched, so a reader
    never sees a half-written file. ``suffix`` keeps extensions that writers insist on
    (``np.savez`` appends ``.npz`` to names without it).
    """
    path = Path(path)
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp",
                                   dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        if tmp_path.exists():  # mkstemp creates 0600; give the file the usual umask permissions
            os.chmod(tmp_path, 0o666 & ~_UMASK)
            _fsync(tmp_path)  # the data is on disk before the name points at it
        os.replace(tmp_path, path)
    except BaseException as exc:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink()
        if isinstance(exc, OSError) and exc.errno is not None \
                and not str(exc.strerror or "").startswith("could not write"):
            raise write_error(exc, path) from exc
        raise


def write_error(exc: OSError, path: Path) -> OSError:
    """``exc`` (same type and errno) saying which file could not be written and that the old
    one is untouched: "could not write runs/x/model.npz: No space left on device (model.npz
    left as it was)"."""
    kept = "left as it was" if path.exists() else "not created"
    reason = exc.strerror or one_line(exc)
    return type(exc)(exc.errno, f"could not write {path}: {reason} ({path.name} {kept})")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj) -> None:
    """Atomically write ``obj`` as indented JSON."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n")


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write ``arrays`` to an uncompressed ``.npz`` (no object arrays, no pickle)."""
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise ValueError(f"{path}: array {name!r} has dtype object; refusing to pickle it")
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
