"""Shared constants for the CLI tests (test_cli.py, test_bad_input.py)."""
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
needs_mnist = pytest.mark.usefixtures("mnist_cache")  # fetched once per session (conftest.py)

#: A config small enough to train in about a second.
TINY = {"model": {"type": "mlp", "sizes": [784, 16, 10]},
        "optimizer": {"type": "sgd", "lr": 0.1},
        "train": {"epochs": 1, "batch_size": 32},
        "data": {"n_train": 500, "n_valid": 200}}
