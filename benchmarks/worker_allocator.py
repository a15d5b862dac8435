"""What dask's worker environment costs nnlib, and what ``remote.fast_allocator`` gives back;
prints one JSON line.

A dask nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which switches off glibc's
adaptive mmap threshold: every array over 128 KiB is mapped afresh and faults in page by page. This
trains one epoch of notebook 09's residual CNN (``recipes.beyond_cnn``, 3,000 images, one thread)
in a fresh process for each of three settings - plain, dask's variable, dask's variable then
``fast_allocator()`` - and reports the median epoch time and the minor page faults of the run.

Usage: ``python benchmarks/worker_allocator.py [--repeats 3] [--n-train 3000]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, resource, sys, tempfile
from pathlib import Path
from threadpoolctl import threadpool_limits
from nnlib.lab import recipes, remote
from nnlib.lab.experiments import train_run
from nnlib.nn import parallel
if sys.argv[1] == "fix":
    remote.fast_allocator()
cfg = recipes.quick(recipes.beyond_cnn(), epochs=1, n_train=int(sys.argv[2]), n_valid=200)
with threadpool_limits(1), parallel.threads(1):
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    result = train_run(cfg, Path(tempfile.mkdtemp()) / "run", 0, progress="off")
print(json.dumps({"epoch_s": result.history.epoch_time[0],
                  "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults}))
"""

SETTINGS = {"plain": ({}, "none"), "dask_env": ({"MALLOC_TRIM_THRESHOLD_": "65536"}, "none"),
            "dask_env_fixed": ({"MALLOC_TRIM_THRESHOLD_": "65536"}, "fix")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=3000)
    args = ap.parse_args()
    out = {"n_train": args.n_train, "repeats": args.repeats, "cpu_count": os.cpu_count()}
    runs: dict[str, list] = {name: [] for name in SETTINGS}
    for _ in range(args.repeats):  # interleaved, so a busy moment hits every setting alike
        for name, (env, mode) in SETTINGS.items():
            base = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
            done = subprocess.run([sys.executable, "-c", CHILD, mode, str(args.n_train)],
                                  env={**base, **env}, capture_output=True, text=True,
                                  check=True)
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for name, results in runs.items():
        out[name] = {"epoch_s": round(statistics.median(r["epoch_s"] for r in results), 3),
                     "minor_faults": int(statistics.median(r["minor_faults"] for r in results))}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
