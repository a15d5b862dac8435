"""MNIST as the experiments use it: float32 images, train/valid splits (a seeded random split,
or the lab report's own split reproduced exactly) and minibatches. ``load_splits`` turns the
verified arrays of ``nnlib.lab.mnist`` into train/valid/test sets following a ``DataSpec``.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import FieldError
from ..paths import default_data_dir
from .mnist import load_mnist

__all__ = [
    "REPORT_SPLIT_SEED", "REPORT_TRAIN_START", "SPLITS", "DataSpec", "batches", "load_splits",
    "report_split", "report_split_indices", "subset", "to_float", "train_valid_split",
]


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


#: How the 60,000 training images are divided into training and validation images, and the
#: ``DataSpec`` fields each way uses.
SPLITS = ("random", "report")
SPLIT_FIELDS = {"random": ("n_train", "n_valid", "split_seed"), "report": ("n_train", "n_valid")}
#: The lab's scripts permute the training images once with ``np.random.seed(123)``.
REPORT_SPLIT_SEED = 123
#: ... and always take their training images from this position of that permutation on.
REPORT_TRAIN_START = 10_000
N_TRAIN_IMAGES = 60_000


def _rule(ok: bool, field: str, value, rule: str) -> None:
    if not ok:
        raise FieldError(field, value, rule)


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Which data to train on (a config's ``data`` section).

    ``split="random"`` (our default): ``n_valid`` random training images held out (seed
    ``split_seed``), then ``n_train`` of the rest (None: all of them). ``split="report"``: the
    lab report's own split, exactly (:func:`report_split_indices`; ``split_seed`` is not used and
    must stay 0). Report: DataSpec(split="report") -> 50,000 / 10,000; its grid search:
    DataSpec(n_train=10000, n_valid=2000, split="report"). A bad value raises ``FieldError``.
    """

    n_train: int | None = None
    n_valid: int = 10000
    split_seed: int = 0
    split: str = "random"

    def __post_init__(self):
        n_train, n_valid, seed = self.n_train, self.n_valid, self.split_seed
        _rule(self.split in SPLITS, "split", self.split, f"is not one of {', '.join(SPLITS)}")
        _rule(_is_int(n_valid), "n_valid", n_valid, "must be an integer")
        _rule(_is_int(seed) and seed >= 0, "split_seed", seed, "must be an integer >= 0")
        if self.split == "report":
            _rule(1 <= n_valid <= REPORT_TRAIN_START, "n_valid", n_valid,
                  f"must be in [1, {REPORT_TRAIN_START}] with split 'report' (its validation "
                  f"images are the first n_valid of its first {REPORT_TRAIN_START})")
            _rule(seed == 0, "split_seed", seed,
                  f"is not used by split 'report' (its permutation is fixed by seed "
                  f"{REPORT_SPLIT_SEED})")
            most = N_TRAIN_IMAGES - REPORT_TRAIN_START
            why = f"split 'report' trains on positions {REPORT_TRAIN_START} on"
        else:
            _rule(1 <= n_valid < N_TRAIN_IMAGES, "n_valid", n_valid,
                  f"must be in [1, {N_TRAIN_IMAGES}) (MNIST training images)")
            most, why = N_TRAIN_IMAGES - n_valid, f"{N_TRAIN_IMAGES} minus n_valid {n_valid}"
        if n_train is not None:
            _rule(_is_int(n_train), "n_train", n_train, "must be an integer or null (all)")
            _rule(1 <= n_train <= most, "n_train", n_train, f"must be in [1, {most}] ({why})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"DataSpec: unknown keys {sorted(unknown)}")
        return cls(**d)


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
    DataSpec(n_train=n_train, n_valid=n_valid, split="report")  # checks the sizes
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
