"""Throughput of nnlib.lab.augment.random_affine on 28×28 float32 images; prints one JSON line.

* ``images_per_s``: one call on a large batch (default 10,000 images), median over repeats;
* ``batch32_images_per_s``: on-the-fly use, successive calls on 32-image minibatches covering the
  same images, median over repeats.

Usage: ``python benchmarks/augment_speed.py [--n 10000] [--repeats 5] [--seed 0]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from nnlib.lab.augment import random_affine


def _threads() -> int:
    """Number of BLAS threads in use (falls back to the CPU count)."""
    try:
        from threadpoolctl import threadpool_info

        infos = threadpool_info()
        counts = [i["num_threads"] for i in infos if i.get("user_api") == "blas"]
        if counts:
            return max(counts)
    except ImportError:
        pass
    return os.cpu_count() or 1


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="images in the large batch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x = rng.random((args.n, 28, 28), dtype=np.float32)
    random_affine(x[:256], rng)  # warm-up

    big, small = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        random_affine(x, rng)
        big.append(args.n / (time.perf_counter() - t0))

        t0 = time.perf_counter()
        for start in range(0, args.n, 32):
            random_affine(x[start : start + 32], rng)
        small.append(args.n / (time.perf_counter() - t0))

    result = {
        "benchmark": "augment",
        "n": args.n,
        "images_per_s": round(statistics.median(big)),
        "batch32_images_per_s": round(statistics.median(small)),
        "repeats": args.repeats,
        "threads": _threads(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
