"""Shared constants and the isolation fixture for the CLI tests (test_cli.py, test_bad_input.py)."""
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
needs_mnist = pytest.mark.usefixtures("mnist_cache")  # fetched once per session (conftest.py)

#: A config small enough to train in about a second.
TINY = {"model": {"type": "mlp", "sizes": [784, 16, 10]},
        "optimizer": {"type": "sgd", "lr": 0.1},
        "train": {"epochs": 1, "batch_size": 32},
        "data": {"n_train": 500, "n_valid": 200}}


@pytest.fixture(autouse=True)
def isolated_cli(tmp_path, monkeypatch):
    """Each CLI test gets its own run cache, the project's MNIST cache, no progress bars and no
    debug tracebacks; afterwards no half-written (``*.tmp``/``*.part``) file may be left."""
    monkeypatch.setenv("NNLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("NNLIB_DATA", str(DATA_DIR))
    monkeypatch.setenv("NNLIB_PROGRESS", "off")
    monkeypatch.delenv("NNLIB_DEBUG", raising=False)
    yield
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".part"))]
    assert not leftovers, f"half-written files left behind: {leftovers}"
