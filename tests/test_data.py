"""Tests for nnlib.lab.data: float conversion, the random and the report's splits, DataSpec, cached
splits and minibatches (small generated data; MNIST itself is faked)."""
import numpy as np
import pytest
from fake_data import fake_mnist

from nnlib.lab import data
from nnlib.lab.data import (
    DataSpec,
    batches,
    load_splits,
    report_split,
    report_split_indices,
    subset,
    to_float,
    train_valid_split,
)

NAMES = ("x_train", "y_train", "x_test", "y_test")


@pytest.fixture(autouse=True)
def fresh_split_cache():
    load_splits.cache_clear()
    yield
    load_splits.cache_clear()


# ----------------------------------------------------------------------------- conversion
def test_to_float_range_dtype_shape():
    x = np.array([[[0, 255], [128, 1]]], dtype=np.uint8)
    x = np.pad(x, ((0, 0), (0, 26), (0, 26)))
    out = to_float(x)
    assert out.dtype == np.float32 and out.shape == (1, 1, 28, 28)
    assert out.min() == 0.0 and out.max() == 1.0
    assert out[0, 0, 1, 0] == np.float32(128) / np.float32(255)
    assert to_float(x[:, None]).shape == (1, 1, 28, 28)
    with pytest.raises(ValueError, match="uint8"):
        to_float(out)
    with pytest.raises(ValueError, match="shape"):
        to_float(np.zeros((2, 3, 28, 28), np.uint8))


# ----------------------------------------------------------------------------- splits
def ids(n):
    """Samples whose value is their index, to check disjointness."""
    return np.arange(n).reshape(n, 1), np.arange(n)


def test_train_valid_split_sizes_disjoint_deterministic():
    x, y = ids(1000)
    (xt, yt), (xv, yv) = train_valid_split(x, y, n_valid=200, seed=3)
    assert len(xt) == 800 and len(xv) == 200
    assert set(yt).isdisjoint(yv) and set(yt) | set(yv) == set(range(1000))
    np.testing.assert_array_equal(xt[:, 0], yt)
    (_, yt2), (_, yv2) = train_valid_split(x, y, n_valid=200, seed=3)
    np.testing.assert_array_equal(yt, yt2)
    np.testing.assert_array_equal(yv, yv2)
    _, (_, yv3) = train_valid_split(x, y, n_valid=200, seed=4)
    assert not np.array_equal(yv, yv3)
    (_, yt4), (_, yv4) = train_valid_split(x, y, n_valid=200, seed=3, n_train=100)
    assert len(yt4) == 100 and set(yt4).isdisjoint(yv4)
    np.testing.assert_array_equal(yv4, yv)  # same held-out set whatever n_train


def test_report_and_grid_protocol_sizes():
    x, y = ids(60000)
    spec = DataSpec()
    (xt, _), (xv, _) = train_valid_split(x, y, spec.n_valid, spec.split_seed, spec.n_train)
    assert (len(xt), len(xv)) == (50000, 10000)
    grid = DataSpec(n_train=10000, n_valid=2000)
    (xt, yt), (xv, yv) = train_valid_split(x, y, grid.n_valid, grid.split_seed, grid.n_train)
    assert (len(xt), len(xv)) == (10000, 2000) and set(yt).isdisjoint(yv)


def _lab_permutation():
    # the lab's scripts: np.random.seed(123); idx = np.random.permutation(60000)
    saved = np.random.get_state()
    np.random.seed(123)
    try:
        return np.random.permutation(60000)
    finally:
        np.random.set_state(saved)


@pytest.mark.parametrize("n_valid, n_train", [
    (10_000, None), (2_000, 10_000), (2_000, 2_500), (2_000, 5_000), (2_000, 7_500),
    (10_000, 50_000), (500, 2_000), (1, 1)])
def test_report_split_is_the_labs_permutation(n_valid, n_train):
    perm = _lab_permutation()
    valid, train = report_split_indices(n_valid, n_train)
    np.testing.assert_array_equal(valid, perm[:n_valid])
    n = 50_000 if n_train is None else n_train
    np.testing.assert_array_equal(train, perm[10_000:10_000 + n])  # always from position 10,000
    assert set(valid).isdisjoint(train)
    # the data itself: x[i] == i, so the split returns exactly those rows
    x, y = ids(60000)
    (xt, yt), (xv, yv) = report_split(x, y, n_valid, n_train)
    np.testing.assert_array_equal(yt, perm[10_000:10_000 + n])
    np.testing.assert_array_equal(yv, perm[:n_valid])
    np.testing.assert_array_equal(xv[:, 0], yv)
    np.testing.assert_array_equal(xt[:, 0], yt)


def test_report_split_known_positions():
    # pinned: image indices of the lab's permutation (NumPy's legacy stream is frozen, so these
    # hold on every NumPy version; a change of generator or of the position rule breaks them)
    valid, train = report_split_indices(2_000, 10_000)
    assert valid[:5].tolist() == [29561, 26640, 24498, 24594, 24249] and valid[-1] == 53023
    assert train[0] == 10376 and train[-1] == 28660
    full_valid, full_train = report_split_indices()
    assert full_valid[:5].tolist() == valid[:5].tolist() and full_train[-1] == 52734
    # the search subset's training images are not the 10,000 right after its validation images
    perm = _lab_permutation()
    assert not np.array_equal(train, perm[2_000:12_000])


@pytest.mark.parametrize("kwargs, arg", [
    ({"n_valid": 0}, "n_valid"), ({"n_valid": 10_001}, "n_valid"), ({"n_valid": 2.0}, "n_valid"),
    ({"n_train": 0}, "n_train"), ({"n_train": 50_001}, "n_train")])
def test_report_split_bad_sizes(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        report_split_indices(**kwargs)
    x, y = ids(100)
    with pytest.raises(ValueError, match="60,000"):
        report_split(x, y)


def test_load_splits_report_split(tmp_path, monkeypatch):
    arrays = fake_mnist(n_train=60000, n_test=10)
    arrays["x_train"] = (np.arange(60000) % 256).astype(np.uint8)[:, None, None] * np.ones(
        (1, 28, 28), np.uint8)
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: tuple(
        arrays[n] for n in ("x_train", "y_train", "x_test", "y_test")))
    load_splits.cache_clear()
    try:
        s = load_splits(DataSpec(n_train=10_000, n_valid=2_000, split="report"), tmp_path)
        valid, train = report_split_indices(2_000, 10_000)
        assert len(s["train"][1]) == 10_000 and len(s["valid"][1]) == 2_000
        np.testing.assert_array_equal(s["train"][1], arrays["y_train"][train])
        np.testing.assert_array_equal(s["valid"][0][:, 0, 0, 0] * 255,
                                      (valid % 256).astype(np.float32))
        r = load_splits(DataSpec(n_train=10_000, n_valid=2_000), tmp_path)
        assert not np.array_equal(r["train"][1], s["train"][1])
    finally:
        load_splits.cache_clear()


@pytest.mark.parametrize("kwargs, arg", [
    ({"n_valid": -1}, "n_valid"), ({"n_valid": 100}, "n_valid"), ({"n_valid": 2.5}, "n_valid"),
    ({"n_valid": 10, "n_train": 0}, "n_train"), ({"n_valid": 10, "n_train": 91}, "n_train"),
])
def test_train_valid_split_bad_args(kwargs, arg):
    x, y = ids(100)
    with pytest.raises(ValueError, match=arg):
        train_valid_split(x, y, **kwargs)
    with pytest.raises(ValueError, match="same length"):
        train_valid_split(x, y[:-1])


def test_subset():
    x, y = ids(100)
    xs, ys = subset(x, y, 30, seed=1)
    assert len(ys) == 30 and len(set(ys)) == 30
    np.testing.assert_array_equal(ys, subset(x, y, 30, seed=1)[1])
    np.testing.assert_array_equal(xs[:, 0], ys)
    for bad in (0, 101, 1.5):
        with pytest.raises(ValueError, match="n"):
            subset(x, y, bad, seed=1)


def test_data_spec():
    spec = DataSpec(n_train=10000, n_valid=2000)
    assert spec.to_dict() == {"n_train": 10000, "n_valid": 2000, "split_seed": 0,
                              "split": "random"}
    assert DataSpec.from_dict(spec.to_dict()) == spec
    assert hash(spec) == hash(DataSpec(10000, 2000, 0))
    assert DataSpec(split="report") != DataSpec()
    for kwargs, arg in [({"n_train": 0}, "n_train"), ({"n_valid": -5}, "n_valid"),
                        ({"split_seed": "0"}, "split_seed"), ({"split": "lab"}, "split"),
                        ({"split": "report", "n_valid": 10_001}, "n_valid"),
                        ({"split": "report", "n_train": 50_001}, "n_train"),
                        ({"split": "report", "split_seed": 1}, "split_seed")]:
        with pytest.raises(ValueError, match=arg):
            DataSpec(**kwargs)
    with pytest.raises(ValueError, match="unknown"):
        DataSpec.from_dict({"n_train": 5, "ntrain": 5})


def test_load_splits_converts_caches_and_is_read_only(tmp_path, monkeypatch):
    arrays = fake_mnist(n_train=300, n_test=40)
    calls = []

    def fake_load(data_dir):
        calls.append(data_dir)
        return tuple(arrays[n] for n in NAMES)

    monkeypatch.setattr(data, "load_mnist", fake_load)
    spec = DataSpec(n_train=100, n_valid=50, split_seed=1)
    splits = load_splits(spec, tmp_path)
    assert set(splits) == {"train", "valid", "test"}
    for key, n in [("train", 100), ("valid", 50), ("test", 40)]:
        x, y = splits[key]
        assert x.shape == (n, 1, 28, 28) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert not x.flags.writeable and not y.flags.writeable
        with pytest.raises(ValueError):
            x[0, 0, 0, 0] = 5.0
    again = load_splits(spec, str(tmp_path))  # same resolved folder -> cached
    assert again["train"][0] is splits["train"][0] and len(calls) == 1
    again["train"] = None  # replacing a key does not touch the cache
    assert load_splits(spec, tmp_path)["train"][0] is splits["train"][0]
    load_splits(DataSpec(n_train=10, n_valid=5), tmp_path)
    assert len(calls) == 2
    with pytest.raises(TypeError, match="spec"):
        load_splits({"n_train": 10}, tmp_path)


# ----------------------------------------------------------------------------- batches
@pytest.mark.parametrize("n, bs", [(103, 10), (100, 10), (5, 8), (7, 1)])
def test_batches_cover_every_index_once(n, bs):
    x, y = ids(n)
    rng = np.random.default_rng(0)
    for _ in range(2):  # two epochs
        seen = [yb for xb, yb in batches(x, y, bs, rng=rng)]
        assert [len(b) for b in seen[:-1]] == [bs] * (len(seen) - 1)
        assert 1 <= len(seen[-1]) <= bs and len(seen) == -(-n // bs)
        flat = np.concatenate(seen)
        assert sorted(flat) == list(range(n))
    in_order = np.concatenate([yb for _, yb in batches(x, y, bs)])
    np.testing.assert_array_equal(in_order, np.arange(n))


def test_batches_shuffle_is_seeded_and_pairs_match():
    x, y = ids(50)
    a = [yb for _, yb in batches(x, y, 7, rng=np.random.default_rng(5))]
    b = [yb for _, yb in batches(x, y, 7, rng=np.random.default_rng(5))]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(np.concatenate(a), np.arange(50))
    for xb, yb in batches(x, y, 7, rng=np.random.default_rng(5)):
        np.testing.assert_array_equal(xb[:, 0], yb)
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="batch_size"):
            next(batches(x, y, bad))
