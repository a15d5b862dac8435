"""Runs trained on a cluster before anyone asks for them: a whole report's runs as one batch.

``Prefetch(groups, scheduler, runs_dir)`` takes the runs each notebook will ask for (``{name:
[Request, ...]}``, :mod:`nnlib.lab.protocols`), submits every one not in the run cache to the
dask scheduler at once - longest first, so that W workers are all busy from the start and the
last to finish are short - and stores each run as it comes back (``experiments.run``, which
verifies it). Code that asks for one of them meanwhile (a notebook's kernel calling
``experiments.run`` under the same scheduler) gets the same dask task, so nothing trains twice.
``in_order(names)`` yields the notebooks as their runs are in: a notebook starts once it will
find every run it needs in the cache.

A run that fails on the cluster is left to the notebook, which asks for it again (it is trained
again there, and the notebook fails with the worker's error if it fails again); if the scheduler
goes away, the notebooks ask for the runs not stored yet themselves (from the same scheduler:
they fail if it does not come back). The run log's line of a run stored here names no notebook
(``"notebook": null``, trained, the cluster's address); the report counts it as trained for the
first notebook that asks for it.
"""
from __future__ import annotations

import contextlib
import logging
import statistics
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import one_line
from .experiments import run, submit_remote
from .grid import relative_cost
from .protocols import Request
from .runcache import has_result

log = logging.getLogger(__name__)

__all__ = ["Prefetch", "estimated_seconds"]


def estimated_seconds(requests: Iterable[Request], measured: dict) -> dict[str, float]:
    """CPU seconds the training of each request takes, by run key: ``measured[key]`` when known
    (a previous build's run log), else its ``grid.relative_cost`` times the median seconds per
    cost unit of the measured runs of the same model type (of all measured runs; 1 with none).
    An estimate to order the runs by, not a prediction."""
    requests = list(requests)
    ratios: dict[str, list[float]] = {}
    for r in requests:
        if measured.get(r.key):
            ratios.setdefault(r.config.model.type, []).append(
                measured[r.key] / relative_cost(r.config))
    every = [x for values in ratios.values() for x in values]
    overall = statistics.median(every) if every else 1.0
    per_type = {kind: statistics.median(values) for kind, values in ratios.items()}
    return {r.key: float(measured.get(r.key) or relative_cost(r.config)
                         * per_type.get(r.config.model.type, overall)) for r in requests}


class Prefetch:
    """The runs of ``groups`` (``{notebook: [Request, ...]}``; None for a notebook without a
    listing) trained on the workers of ``scheduler`` into the run cache ``runs_dir``, all
    submitted by :meth:`start`. ``measured``: CPU seconds of runs trained before, by run key
    (their order: :func:`estimated_seconds`). A run several notebooks list is trained once.
    ``on_arrival(run key, notebook, error or None)`` is called as each
    run is stored or has failed (from a background thread). Use as a context manager: leaving it
    early cancels what is left."""

    def __init__(self, groups: dict, scheduler: str, runs_dir, *, measured: dict | None = None,
                 on_arrival: Callable[[str, str, str | None], None] | None = None):
        self.groups = {name: list(reqs) if reqs is not None else None
                       for name, reqs in groups.items()}
        self.scheduler = scheduler
        self.runs_dir = Path(runs_dir)
        self.measured = dict(measured or {})
        self.on_arrival = on_arrival
        self.submitted: list[tuple[Request, str]] = []  # longest first
        self.seconds = 0.0  # their estimated CPU seconds (if measured_any)
        self.measured_any = False
        self.stored = 0
        self.failed: dict[str, str] = {}  # run key -> one-line error
        self._pending: dict[str, set] = {}  # notebook -> keys of its runs not in yet
        self._futures: dict = {}  # run key -> its dask future, until it is stored
        self._requests: dict[str, tuple[Request, str]] = {}  # run key -> (request, notebook)
        self._done = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    def start(self) -> Prefetch:
        first: dict[str, tuple[Request, str]] = {}
        for name, reqs in self.groups.items():
            for r in reqs or []:
                first.setdefault(r.key, (r, name))
        todo = [(r, name) for r, name in first.values() if not has_result(self.runs_dir / r.key)]
        estimate = estimated_seconds([r for r, _ in todo], self.measured)
        todo.sort(key=lambda item: -estimate[item[0].key])  # stable: ties keep the listing's order
        self.submitted, self.seconds = todo, sum(estimate.values())
        # seconds only when some were measured: else the estimates are relative work units
        self.measured_any = any(self.measured.get(r.key) for r, _ in todo)
        self._requests = {r.key: (r, name) for r, name in todo}
        keys = {r.key for r, _ in todo}
        self._pending = {name: {r.key for r in reqs or []} & keys
                         for name, reqs in self.groups.items()}
        try:
            for rank, (r, _) in enumerate(todo):  # dask runs the highest priority first
                self._futures[r.key] = submit_remote(r.config, r.seed, self.scheduler,
                                                     priority=len(todo) - rank)
        except BaseException:  # what was submitted must not train for nobody
            self.close()
            raise
        if todo:
            self._thread = threading.Thread(target=self._store_all, name="nnlib-prefetch",
                                            daemon=True)
            self._thread.start()
        return self

    def _store_all(self) -> None:
        from dask.distributed import as_completed

        by_future = {future.key: key for key, future in self._futures.items()}
        try:
            for future in as_completed(list(self._futures.values())):
                if self._closing:
                    return
                if future.status == "cancelled":  # the scheduler went away (or close())
                    raise ConnectionError(f"the scheduler {self.scheduler} cancelled run "
                                          f"{by_future[future.key]}")
                self._store(by_future[future.key], future)
        except Exception as exc:  # the notebooks ask for what is left themselves
            log.warning(f"prefetch: {one_line(f'{type(exc).__name__}: {exc}')}; the notebooks "
                        "ask for their runs not stored yet themselves")
        finally:
            with self._done:
                for pending in self._pending.values():
                    pending.clear()
                self._done.notify_all()

    def _store(self, key: str, future) -> None:
        request, name = self._requests[key]
        try:
            if future.status == "error":  # the worker's error, without asking the cluster again
                raise future.exception()
            # the finished task, held by us (run() gets it back under the same key at once):
            # verified, stored and logged as trained for the build (no notebook asked yet)
            run(request.config, request.seed, runs_dir=self.runs_dir, progress="off",
                scheduler=self.scheduler)
            self.stored += 1
        except Exception as exc:
            self.failed[key] = one_line(f"{type(exc).__name__}: {exc}")
            log.warning(f"prefetch: run {key} for {name} failed on the cluster "
                        f"({self.failed[key]}); {name} asks for it again, which trains it again")
        finally:
            self._futures.pop(key).release()  # the cluster may forget it: it is stored here
            with self._done:
                for pending in self._pending.values():
                    pending.discard(key)
                self._done.notify_all()
        if self.on_arrival is not None:
            try:
                self.on_arrival(key, name, self.failed.get(key))
            except Exception as exc:  # a report line must not stop the storing
                log.warning(f"prefetch: on_arrival: {one_line(f'{type(exc).__name__}: {exc}')}")

    def in_order(self, names: Iterable[str]) -> Iterator[str]:
        """``names`` as their runs are in (stored, or failed): those with nothing to wait for
        first, in the order given, then each as its last run arrives."""
        left = list(names)
        while left:
            with self._done:
                ready = [n for n in left if not self._pending.get(n)]
                while not ready:
                    self._done.wait(timeout=1.0)  # (a timeout keeps Ctrl-C responsive)
                    ready = [n for n in left if not self._pending.get(n)]
            for name in ready:
                left.remove(name)
                yield name

    def close(self) -> None:
        """Cancel the runs not stored yet (an interrupted build) and stop storing."""
        self._closing = True
        futures = list(self._futures.values())
        if futures:  # (a scheduler already gone has nothing to cancel)
            with contextlib.suppress(Exception):
                futures[0].client.cancel(futures)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Prefetch:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
