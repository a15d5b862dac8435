"""Throughput of nnlib.lab.augment on 28×28 float32 images; prints one JSON line.

Three augmentations, each timed as one call on a large batch (default 10,000 images) and as
on-the-fly use (successive calls on 32- and 64-image minibatches covering the same images),
median over repeats, in images per second:

* ``images_per_s``, ``batch32_images_per_s``, ``batch64_images_per_s``: the report's random
  rotation + shift (``random_affine`` defaults: ±10°, ±10 %, p = 0.5);
* ``elastic_*``: elastic distortion alone (``elastic``, α = 34, σ = 4: Simard's MNIST values);
* ``elastic_affine_*``: both in one pass, as ``Augmentation(elastic_alpha=34, elastic_sigma=4)``
  runs them (rotation/shift with p = 0.5, every image distorted).

Usage: ``python benchmarks/augment_speed.py [--n 10000] [--repeats 5] [--seed 0]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from nnlib.lab.augment import elastic, random_affine

ALPHA, SIGMA = 34.0, 4.0


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


def _rate(augment, x, rng, batch: int | None) -> float:
    """Images per second of ``augment(images, rng)`` over ``x``: one call, or calls on
    ``batch``-image minibatches."""
    n = len(x)
    t0 = time.perf_counter()
    if batch is None:
        augment(x, rng)
    else:
        for start in range(0, n, batch):
            augment(x[start : start + batch], rng)
    return n / (time.perf_counter() - t0)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="images in the large batch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x = rng.random((args.n, 28, 28), dtype=np.float32)
    augmentations = {
        "": random_affine,
        "elastic_": lambda images, r: elastic(images, r, alpha=ALPHA, sigma=SIGMA),
        "elastic_affine_": lambda images, r: random_affine(images, r, elastic_alpha=ALPHA,
                                                           elastic_sigma=SIGMA),
    }
    for augment in augmentations.values():
        augment(x[:256], rng)  # warm-up

    rates: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for prefix, augment in augmentations.items():
            for label, batch in (("images_per_s", None), ("batch32_images_per_s", 32),
                                 ("batch64_images_per_s", 64)):
                rates.setdefault(prefix + label, []).append(_rate(augment, x, rng, batch))

    result = {"benchmark": "augment", "n": args.n}
    result.update({key: round(statistics.median(v)) for key, v in rates.items()})
    result.update({"elastic_alpha": ALPHA, "elastic_sigma": SIGMA, "repeats": args.repeats,
                   "threads": _threads()})
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
