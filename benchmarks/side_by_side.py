"""nnlib beside PyTorch, interleaved: on a shared VM the machine's speed drifts by tens of per
cent over minutes, so figures taken minutes apart do not compare; rounds that alternate the two
do.

    python benchmarks/side_by_side.py --torch-python /tmp/tv/bin/python --model mlp --rounds 5

Each round runs ``train_speed.py`` (with this interpreter) and ``torch_reference.py`` (with
``--torch-python``, an environment that has torch; never a dependency of nnlib), in alternating
order, each as a fresh process timing ``--repeats`` one-epoch runs and reporting their median
(so one warm-up epoch does not count). Prints ONE JSON line: both medians, the median per-round
ratio
nnlib/torch, and every round.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _one(python: str, script: str, args) -> float:
    proc = subprocess.run([python, str(HERE / script), "--model", args.model, "--repeats",
                           str(args.repeats), "--samples", str(args.samples)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"side_by_side: {script} failed:\n{proc.stderr.strip()}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    return float(json.loads(line)["seconds_per_epoch"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torch-python", required=True, help="python of an environment with torch")
    ap.add_argument("--model", choices=("mlp", "cnn"), required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3, help="one-epoch runs per process")
    ap.add_argument("--samples", type=int, default=50_000, help="training images per epoch")
    args = ap.parse_args()
    rounds = []
    for r in range(args.rounds):
        order = [("nnlib", sys.executable, "train_speed.py"),
                 ("torch", args.torch_python, "torch_reference.py")]
        if r % 2:
            order.reverse()
        secs = {name: _one(py, script, args) for name, py, script in order}
        rounds.append(secs)
    nn = [r["nnlib"] for r in rounds]
    th = [r["torch"] for r in rounds]
    print(json.dumps({
        "model": args.model, "rounds": args.rounds, "repeats": args.repeats,
        "samples": args.samples,
        "nnlib_s_per_epoch": round(statistics.median(nn), 3),
        "torch_s_per_epoch": round(statistics.median(th), 3),
        "ratio_nnlib_over_torch": round(statistics.median(a / b for a, b in zip(nn, th)), 3),
        "nnlib_all": nn, "torch_all": th,
    }))


if __name__ == "__main__":
    main()
