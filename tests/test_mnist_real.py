"""End to end on the real MNIST: whatever source works here (on this machine and CI, the package
registry), cached in the repo's git-ignored data/ folder."""
import logging
from pathlib import Path

import numpy as np
import pytest

from nnlib.lab.mnist import MNIST_SHA256, array_sha256, load_mnist

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.slow
def test_real_mnist_loads_and_verifies(caplog):
    caplog.set_level(logging.DEBUG, logger="nnlib.lab.mnist")
    x_train, y_train, x_test, y_test = load_mnist(DATA_DIR)
    lines = caplog.messages
    print("\n".join(lines))
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert all(a.dtype == np.uint8 for a in (x_train, y_train, x_test, y_test))
    assert "ok, checksums verified" in lines[-1] or "ok, checksums verified" in lines[-2]
    for y, n in ((y_train, 60000), (y_test, 10000)):
        counts = np.bincount(y, minlength=10)
        assert len(counts) == 10 and counts.sum() == n and counts.min() > 0.08 * n
    assert np.bincount(y_test, minlength=10).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert 30 < x_train.mean() < 36  # MNIST mean pixel ~33.3
    assert (DATA_DIR / "mnist.npz").is_file()
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    assert {name: array_sha256(a) for name, a in arrays.items()} == MNIST_SHA256
