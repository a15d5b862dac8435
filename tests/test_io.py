"""nnlib.io: atomic writes never leave a half-written or temporary file; checksums of files."""
import hashlib
import os
import stat

import numpy as np
import pytest

from nnlib.io import atomic_path, file_sha256, write_json, write_npz, write_text


def test_atomic_write_replaces_the_target(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    write_text(target, "old")
    write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text('{"a": 2, "trunc')
        raise RuntimeError("disk full")
    assert target.read_text().strip().startswith("{") and '"a": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_written_files_get_umask_permissions_not_mkstemps_0600(tmp_path):
    target = tmp_path / "page.html"
    write_text(target, "<p>")
    mode = stat.S_IMODE(os.stat(target).st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask


def test_write_npz_round_trip_and_refuses_object_arrays(tmp_path):
    target = tmp_path / "m.npz"
    write_npz(target, {"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    with np.load(target, allow_pickle=False) as f:
        np.testing.assert_array_equal(f["w"], np.arange(6).reshape(2, 3))
    with pytest.raises(ValueError, match=r"m\.npz.*'bad'.*object"):
        write_npz(target, {"bad": np.array([{"x": 1}], dtype=object)})
    with np.load(target, allow_pickle=False) as f:  # the good file is still there
        assert f.files == ["w"]


def test_file_sha256_matches_hashlib_across_chunks(tmp_path):
    data = np.random.default_rng(0).bytes((1 << 20) * 2 + 12345)  # three 1 MiB reads
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()
