"""What a cluster would give a full report: its runs scheduled on W workers, as ONE JSON line.

    python benchmarks/cluster_time.py [RUNS_JSONL] [--workers 2 4 16 64]

Reads the ``runs.jsonl`` of a build that trained its runs (``reports/executed/runs.jsonl`` right
after ``nnlib report`` from an empty run cache; a warm build trains nothing, and then
``git show <commit>:reports/executed/runs.jsonl > cold.jsonl`` gives a published cold build's).
Each trained run's CPU seconds (``cpu_s``: the work itself, whatever it shared a core with; for a
run a cluster trained, ``run_cpu_s``, the worker's, since the line's own process only waited) is
its time on a worker of one core, one BLAS thread; the runs are submitted at once, longest
first, each to the worker free first (list scheduling), as ``nnlib report --scheduler`` submits
them (``nnlib.lab.prefetch``). Prints

    {"runs_jsonl", "runs", "cpu_s", "longest_run_s" (no schedule ends before it: the critical
     path, the runs being independent), "measured_wall_s" (the build's own, from the index.json
     two folders up, when there is one), "workers": {W: {"makespan_s", "lower_bound_s"
     (max(cpu_s / W, longest_run_s)), "speedup" (cpu_s / makespan_s)}}}

It models training only: the notebooks' own work (kernel start-up, plots, tables: the
``other_s`` and ``kernel_s`` of ``report_time.py``) comes on top, on the machine that runs them.
"""
from __future__ import annotations

import argparse
import heapq
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def trained_runs(path: Path) -> list[dict]:
    """The runs a build trained (``trained`` true), from its ``runs.jsonl``; a line cut by a
    killed process is skipped."""
    runs = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("trained"):
            runs.append(row)
    return runs


def run_seconds(row: dict) -> float:
    """A trained run's CPU seconds: its worker's (``run_cpu_s``) when a cluster trained it, else
    what the process that logged it spent (``cpu_s``)."""
    key = "run_cpu_s" if row.get("cluster") else "cpu_s"
    return float(row.get(key) or 0)


def makespan(seconds: list[float], workers: int) -> float:
    """When the last of ``seconds`` ends on ``workers`` workers, longest first, each to the
    worker free first."""
    free = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + s)
    return max(free)


def simulate(path: Path, workers: list[int]) -> dict:
    runs = trained_runs(path)
    if not runs:
        sys.exit(f"cluster_time: {path} lists no trained run (a warm build trains none); use the "
                 "runs.jsonl of a build from an empty run cache")
    seconds = [run_seconds(r) for r in runs]
    total, longest = sum(seconds), max(seconds)
    index = path.parent.parent / "index.json"
    measured = None
    if index.exists():
        measured = json.loads(index.read_text()).get("duration_s")
    out = {}
    for w in workers:
        span = makespan(seconds, w)
        out[str(w)] = {"makespan_s": round(span, 1),
                       "lower_bound_s": round(max(total / w, longest), 1),
                       "speedup": round(total / span, 2)}
    return {"runs_jsonl": str(path), "runs": len(runs), "cpu_s": round(total, 1),
            "longest_run_s": round(longest, 1),
            "measured_wall_s": None if measured is None else round(float(measured), 1),
            "workers": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs_jsonl", nargs="?", default=str(ROOT / "reports" / "executed" /
                                                         "runs.jsonl"),
                    help="a build's runs.jsonl (default: the published report's)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 16, 64], metavar="W",
                    help="worker counts to schedule on (default: 1 2 4 16 64)")
    args = ap.parse_args()
    if any(w < 1 for w in args.workers):
        ap.error("--workers: every count must be >= 1")
    path = Path(args.runs_jsonl)
    if not path.is_file():
        sys.exit(f"cluster_time: no {path}; run `nnlib report` first")
    print(json.dumps(simulate(path, args.workers)))


if __name__ == "__main__":
    main()
