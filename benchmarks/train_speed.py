"""Training speed of the report's final MLP / CNN (their optimizer and hyper-parameters).

    python benchmarks/train_speed.py --model mlp|cnn [--epochs N] [--batch-size 32] [--repeats R]

Trains on 50,000 MNIST images (the report's split; synthetic learnable images with --synthetic or
when MNIST can't be loaded) and prints ONE JSON line:
{"model", "epochs", "seconds", "samples_per_s", "dtype", "threads" (BLAS), "nnlib_threads", ...};
with --repeats R the figures are medians over R runs (each from a fresh model).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from nnlib.lab import recipes
from nnlib.lab.training import Trainer
from nnlib.nn import parallel
from nnlib.nn.models import build_model
from nnlib.nn.optim import build_optimizer
from nnlib.nn.schedules import build_schedule


def synthetic(n_train: int, n_valid: int, rng: np.random.Generator):
    """Learnable images: each class is a fixed sparse random template (about 15 % of the pixels
    on, like MNIST's strokes) plus noise; train and valid share the templates."""
    templates = (rng.random((10, 1, 28, 28)) < 0.15).astype(np.float32)

    def draw(n):
        y = rng.integers(0, 10, n)
        x = templates[y] + 0.2 * rng.standard_normal((n, 1, 28, 28), dtype=np.float32)
        return np.clip(x, 0, 1, out=x), y
    return draw(n_train), draw(n_valid)


def load_data(use_synthetic: bool):
    if not use_synthetic:
        try:
            from nnlib.lab.data import DataSpec, load_splits
            from nnlib.lab.experiments import default_data_dir
            d = load_splits(DataSpec(), data_dir=str(default_data_dir()))
            return d["train"], d["valid"], "mnist"
        except Exception as exc:
            print(f"# MNIST unavailable ({exc}); using synthetic data")
    return (*synthetic(50_000, 10_000, np.random.default_rng(0)), "synthetic")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("mlp", "cnn"), required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--samples", type=int, default=50_000,
                    help="training images per epoch (default: the report's 50,000)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads (the Trainer's default, 1, keeps results independent of it)")
    ap.add_argument("--nnlib-threads", type=int, choices=(1, 2), default=parallel.get_threads(),
                    help="threads for nnlib's own two-way split of large products and updates "
                         "(default: 2 on multi-core machines; results are the same either way)")
    args = ap.parse_args()

    # the CNN with nnlib's single weight decay, as torch_reference.py trains it (the recipe's
    # double decay adds one small elementwise op on the conv kernels)
    cfg = recipes.final_mlp() if args.model == "mlp" else recipes.seed_cnn("decoupled")
    if args.samples < 1:
        ap.error(f"--samples must be >= 1, got {args.samples}")
    train, valid, source = load_data(args.synthetic)
    train = (train[0][:args.samples], train[1][:args.samples])
    parallel.set_threads(args.nnlib_threads)
    times = []
    for r in range(args.repeats):
        model = build_model(cfg.model, rng=np.random.default_rng(r))
        opt = build_optimizer(cfg.optimizer, model)
        trainer = Trainer(model, opt, build_schedule(cfg.schedule, opt), seed=r, progress="off",
                          threads=args.threads)
        t0 = time.perf_counter()
        history = trainer.fit(train, valid, epochs=args.epochs, batch_size=args.batch_size)
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    print(json.dumps({
        "model": args.model, "epochs": args.epochs, "seconds": round(seconds, 3),
        "seconds_per_epoch": round(seconds / args.epochs, 3),
        "samples_per_s": round(len(train[0]) * args.epochs / seconds, 1),
        "dtype": str(model.dtype), "threads": args.threads,
        "nnlib_threads": args.nnlib_threads, "batch_size": args.batch_size,
        "repeats": args.repeats, "all_seconds": [round(t, 3) for t in times], "data": source,
        "valid_accuracy": round(history.epoch_valid_acc[-1], 4),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
    }))


if __name__ == "__main__":
    main()
