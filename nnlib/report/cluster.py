"""A build's training runs on a dask cluster, all at once: what each notebook to execute will ask
for (``nnlib.lab.protocols``, from its parameter values), ordered by what the runs cost in earlier
builds (their run logs), handed to a :class:`~nnlib.lab.prefetch.Prefetch` before any kernel
starts; the build then starts each notebook once its runs are in.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import one_line
from ..lab.experiments import run_cost
from ..lab.prefetch import Prefetch
from ..lab.protocols import requests
from .parameters import parameter_values

__all__ = ["measured_run_seconds", "prefetch_for"]


def measured_run_seconds(*run_logs: Path) -> dict[str, float]:
    """``{run key: CPU seconds its training took}`` from the ``runs.jsonl`` of earlier builds
    (the first log that knows a key wins; a missing log or a cut line says nothing)."""
    seconds: dict[str, float] = {}
    for path in run_logs:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                key, cpu = entry.get("key"), entry.get("run_cpu_s")
            except (ValueError, AttributeError):
                continue
            if isinstance(key, str) and isinstance(cpu, (int, float)) and cpu > 0:
                seconds.setdefault(key, float(cpu))
    return seconds


def prefetch_for(notebooks: dict, scheduler: str, runs_root: Path, run_logs=(),
                 log=None) -> Prefetch:
    """The (unstarted) :class:`Prefetch` of ``notebooks`` (``{path: the parameters the build
    passes it}``) on ``scheduler``: each notebook's listing with its parameter values, ordered
    by the seconds ``run_logs`` measured; ``log`` gets one line per run that comes back."""
    import nbformat

    groups = {}
    for path, passed in notebooks.items():
        try:
            groups[path.stem] = requests(path.stem, parameter_values(
                nbformat.read(path, as_version=4), passed))
        except Exception as exc:  # a listing costs time, never the build: it asks as it goes
            groups[path.stem] = None
            if log is not None:
                log(f"[report] {path.stem}: its runs cannot be listed ahead "
                    f"({one_line(f'{type(exc).__name__}: {exc}')}); it asks for them as it goes")
    prefetch = Prefetch(groups, scheduler, runs_root, measured=measured_run_seconds(*run_logs))
    if log is not None:
        def arrived(key: str, notebook: str, error: str | None) -> None:
            done = prefetch.stored + len(prefetch.failed)
            cost = run_cost(Path(runs_root) / key) or {}
            what = (f"failed ({error})" if error else
                    f"in, {cost['cpu_s'] / 60:.1f} CPU min" if cost.get("cpu_s") else "in")
            log(f"[report] run {done}/{len(prefetch.submitted)} for {notebook} {what}")
        prefetch.on_arrival = arrived
    return prefetch
