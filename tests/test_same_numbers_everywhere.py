"""One seed, one set of numbers: a small report-CNN run trained in this process on 1 and on 2
threads, in a grid worker process, and by the ``nnlib train`` command gives bit-identical weights
and metrics (the faster kernels must not make results depend on where a run executes)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnlib.lab import recipes
from nnlib.lab.config import with_overrides
from nnlib.lab.experiments import run
from nnlib.lab.grid import grid
from nnlib.nn import parallel
from nnlib.nn.models import load as load_model

pytestmark = pytest.mark.slow  # reads the real MNIST


def small_cnn():
    # the report's CNN, 1 epoch on 640 images (a multiple of the batch: the empty final step runs)
    # with a momentum update large enough to use nnlib's two-way split (MIN_SIZE) on Linear 1
    cfg = recipes.quick(recipes.seed_cnn(), epochs=1, n_train=640, n_valid=200)
    return with_overrides(cfg, {"model.linear_sizes": [256, 512, 64, 10]})


def _weights(run_dir):
    return load_model(run_dir / "model.npz").state_dict()


def _assert_same(a, b, what):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=f"{what}: {name}")


def test_cnn_run_is_bit_identical_in_process_grid_worker_and_cli(tmp_path):
    cfg = small_cnn()
    assert parallel.MIN_SIZE <= 256 * 512
    with parallel.threads(1):
        one = run(cfg, 7, runs_dir=tmp_path / "one", progress="off")
    with parallel.threads(2):
        two = run(cfg, 7, runs_dir=tmp_path / "two", progress="off")
    df = grid(cfg, {"train.seed": [0]}, seeds=[7, 8], n_jobs=2, runs_dir=tmp_path / "grid",
              progress=False)
    assert df["error"].map(lambda e: e is None).all(), df["error"].tolist()
    worker_dir = df.loc[df["seed"] == 7, "run_dir"].item()
    cfg_file = tmp_path / "cnn.json"
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    proc = subprocess.run([sys.executable, "-m", "nnlib", "train", str(cfg_file), "--seed", "7",
                           "--out", str(tmp_path / "cli"), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr

    ref = _weights(one.run_dir)
    _assert_same(ref, _weights(two.run_dir), "2 threads")
    _assert_same(ref, _weights(Path(worker_dir)), "grid worker")
    _assert_same(ref, _weights(tmp_path / "cli"), "nnlib train")
    cli_metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    for key in ("test_loss", "test_accuracy", "best_valid_accuracy"):
        assert one.metrics[key] == two.metrics[key] == cli_metrics[key], key
