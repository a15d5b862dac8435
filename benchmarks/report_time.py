"""Where a report's time went: per notebook and per training run, as ONE JSON line.

    python benchmarks/report_time.py [REPORT_DIR]          # reports/ by default
    python benchmarks/report_time.py --run -- --only 06 07  # run `nnlib report ARGS` first

Reads what ``nnlib report`` leaves in the output folder: ``index.json`` (the build's wall time),
``executed/NN_*.json`` (each notebook's start and duration), ``executed/NN_*.ipynb`` (papermill's
per-cell durations) and ``executed/runs.jsonl`` (one line per training run a notebook asked for,
with the notebook it ran for, whether it trained or came from the run cache, its training and
evaluation seconds). Prints

    {"wall_s", "notebooks_s" (sum of notebook walls), "cores", "core_use" (training CPU seconds
     / (wall × cores)), "training_cpu_s", "training_core_s", "evaluation_core_s", "runs_trained",
     "runs_cached",
     "notebooks": {name: {"wall_s", "kernel_s" (start-up and export: wall − cells), "cells_s",
                          "runs_trained", "training_cpu_s", "training_core_s",
                          "evaluation_core_s",
                          "waited_s" (for another notebook's run of the same key),
                          "other_s" (cells − training on this notebook's critical path:
                          plotting, tables, cached loads; an estimate when runs overlap)}},
     "runs": [the 15 longest trained runs: notebook, model, n_train, epochs, augmentation, seconds]}

so the next regression shows up in a number. ``training_core_s`` adds up each trained run's own
wall time in ``fit`` (several run at once, so it can exceed the notebook's wall time, and a run
sharing a core takes longer); ``training_cpu_s`` the CPU time of the processes while they trained
(all threads), i.e. the work itself.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cells_seconds(executed: Path) -> float | None:
    try:
        nb = json.loads(executed.read_text())
    except (OSError, ValueError):
        return None
    return sum(float(c.get("metadata", {}).get("papermill", {}).get("duration") or 0)
               for c in nb.get("cells", []))


def _runs(log: Path) -> list[dict]:
    if not log.exists():
        return []
    runs = []
    for line in log.read_text().splitlines():
        try:
            runs.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a killed process
    return runs


def summarize(report_dir: Path) -> dict:
    index_path = report_dir / "index.json"
    if not index_path.exists():
        sys.exit(f"report_time: no {index_path}; run `nnlib report` first (or pass --run)")
    index = json.loads(index_path.read_text())
    runs = _runs(report_dir / "executed" / "runs.jsonl")
    notebooks = {}
    for row in index["notebooks"]:
        if row.get("skipped"):
            continue
        name = row["name"]
        mine = [r for r in runs if r.get("notebook") == name]
        trained = [r for r in mine if r.get("trained")]
        cells = _cells_seconds(report_dir / row.get("executed", f"executed/{name}.ipynb"))
        wall = float(row.get("duration_s") or 0)
        train = sum(r.get("training_time_s") or 0 for r in trained)
        cpu = sum(r.get("cpu_s") or 0 for r in trained)
        evaluation = sum(r.get("evaluation_time_s") or 0 for r in trained)
        waited = sum(r.get("lock_wait_s") or 0 for r in mine)
        # seconds this notebook's cells spent waiting on its own runs: their union over time
        spans = sorted((r["started"], r["started"] + r["wall_s"]) for r in mine)
        busy, end = 0.0, None
        for a, b in spans:
            if end is None or a > end:
                busy += b - a
                end = b
            elif b > end:
                busy += b - end
                end = b
        notebooks[name] = {
            "wall_s": round(wall, 1),
            "kernel_s": round(wall - cells, 1) if cells is not None else None,
            "cells_s": round(cells, 1) if cells is not None else None,
            "runs_trained": len(trained), "runs_cached": len(mine) - len(trained),
            "training_cpu_s": round(cpu, 1), "training_core_s": round(train, 1),
            "evaluation_core_s": round(evaluation, 1),
            "waited_s": round(waited, 1),
            "other_s": round(cells - busy, 1) if cells is not None else None,
        }
    trained = [r for r in runs if r.get("trained")]
    wall = float(index.get("duration_s") or 0)
    cores = os.cpu_count() or 1
    training = sum(r.get("training_time_s") or 0 for r in trained)
    cpu = sum(r.get("cpu_s") or 0 for r in trained)
    longest = sorted(trained, key=lambda r: -(r.get("wall_s") or 0))[:15]
    return {
        "report": str(report_dir), "mode": index.get("mode"), "commit": index.get("commit"),
        "wall_s": round(wall, 1),
        "notebooks_s": round(sum(n["wall_s"] for n in notebooks.values()), 1),
        "cores": cores, "core_use": round(cpu / (wall * cores), 3) if wall else None,
        "training_cpu_s": round(cpu, 1), "training_core_s": round(training, 1),
        "evaluation_core_s": round(sum(r.get("evaluation_time_s") or 0 for r in trained), 1),
        "runs_trained": len(trained), "runs_cached": len(runs) - len(trained),
        "notebooks": notebooks,
        "runs": [{"notebook": r.get("notebook"), "model": r.get("model"),
                  "n_train": r.get("n_train"), "epochs": r.get("epochs"),
                  "augmentation": r.get("augmentation"), "seed": r.get("seed"),
                  "wall_s": round(r.get("wall_s") or 0, 1),
                  "cpu_s": round(r.get("cpu_s") or 0, 1),
                  "training_time_s": round(r.get("training_time_s") or 0, 1),
                  "evaluation_time_s": round(r.get("evaluation_time_s") or 0, 1)}
                 for r in longest],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report_dir", nargs="?", default=str(ROOT / "reports"),
                    help="the report's output folder (default: reports/)")
    ap.add_argument("--run", nargs=argparse.REMAINDER, metavar="-- ARGS",
                    help="first run `nnlib report ARGS` (its --out, if any, is read)")
    args = ap.parse_args()
    report_dir = Path(args.report_dir)
    if args.run is not None:
        report_args = [a for a in args.run if a != "--"]
        if "--out" in report_args:
            report_dir = Path(report_args[report_args.index("--out") + 1])
        elif "--quick" in report_args:
            report_dir = report_dir / "quick"
        proc = subprocess.run([sys.executable, "-m", "nnlib", "report", *report_args],
                              check=False)
        if proc.returncode != 0:
            sys.exit(f"report_time: nnlib report exited {proc.returncode}")
    print(json.dumps(summarize(report_dir)))


if __name__ == "__main__":
    main()
