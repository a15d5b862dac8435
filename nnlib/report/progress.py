"""Progress of a report build: which notebooks run, how many are done, the time elapsed and an
estimate of the time left from the previous run's durations.

``build_report`` feeds a :class:`Progress` with ``start(name)`` and ``done(name, duration,
status)`` from its worker threads. On a terminal it draws one tqdm bar::

    report: 3/9 done |██████      | 12:31 elapsed · ~18 min left · 04_scheduler_gamma running

elsewhere (CI, pipes, ``make report`` logs) it writes one plain line per start and finish::

    [report] 04_scheduler_gamma: executing · 3/9 done · 12:31 elapsed · ~18 min left
    [report] 04_scheduler_gamma: ok in 302.1 s · 4/9 done · 17:33 elapsed · ~13 min left

The estimate replays the scheduling: ``jobs`` workers take the waiting notebooks in order, each
expected to last as long as it did last time (a running one: what is left of that). A notebook
that never ran here counts with its ``reference`` duration when there is one (a first full build
uses the dev machine's, ``notebooks/expected_durations.json``; the line says so: "~26 min left
(9 from the dev machine's times)"), else as the mean of the known ones ("(2 guessed from the
mean)"); with no duration at all the time left is "unknown".
"""
from __future__ import annotations

import sys
import threading
import time

__all__ = ["Progress", "clock_text", "left_text", "time_left"]

SEP = " · "


def clock_text(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    s = int(max(seconds, 0))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def left_text(seconds: float | None, guessed: int = 0, referenced: int = 0) -> str:
    """``~18 min left``; ``time left unknown`` for None; ``(9 from the dev machine's times)``:
    how many notebooks count with their reference duration; ``(2 guessed from the mean)``: how
    many had no duration at all and count as the mean of the others."""
    if seconds is None:
        return "time left unknown (no previous durations)"
    minutes = round(seconds / 60)
    if seconds < 60:
        text = "<1 min left"
    elif minutes >= 60:
        text = f"~{minutes // 60} h {minutes % 60:02d} min left"
    else:
        text = f"~{minutes} min left"
    notes = ([f"{referenced} from the dev machine's times"] if referenced else []) + \
        ([f"{guessed} guessed from the mean"] if guessed else [])
    return text + (f" ({'; '.join(notes)})" if notes else "")


def time_left(waiting: list[float], running: list[float], jobs: int) -> float:
    """Seconds until the last notebook finishes: ``running`` are the expected remainders of the
    notebooks under way, ``waiting`` the expected durations of the others, taken in order by
    whichever of the ``jobs`` workers is free first."""
    free = sorted([max(r, 0.0) for r in running] + [0.0] * max(jobs - len(running), 0))
    if not free:
        return 0.0
    for d in waiting:
        free[0] += d
        free.sort()
    return max(free)


class Progress:
    """The progress of executing ``names`` (in the order they are submitted) with ``jobs``
    notebooks side by side. ``previous`` maps a name to its last duration in seconds (None or
    missing: unknown), ``reference`` to a duration measured elsewhere, used for a name without a
    previous one. ``bar``: a tqdm bar on stderr (True), plain lines through ``log`` (False),
    or a bar exactly when stderr is a terminal (None). Thread-safe; ``log`` lines from anywhere
    should go through :meth:`log` while a bar is drawn, so they print above it."""

    def __init__(self, names, previous: dict | None = None, *, reference: dict | None = None,
                 jobs: int = 1, log=print, bar: bool | None = None, clock=time.monotonic,
                 tick: float = 1.0):
        self.names = list(names)
        self.jobs = max(1, min(int(jobs), len(self.names) or 1))
        self._log, self._clock = log, clock
        previous, reference = previous or {}, reference or {}
        durations = {}
        for n in self.names:
            d = previous.get(n)
            d = reference.get(n) if d is None else d
            if d is not None:
                durations[n] = float(d)
        self._referenced = {n for n in durations if previous.get(n) is None}
        mean = sum(durations.values()) / len(durations) if durations else None
        self._expected = {n: durations.get(n, mean) for n in self.names}
        self._guessed = {n for n in self.names if n not in durations}
        self._started: dict[str, float] = {}
        self._done: set[str] = set()
        self._lock = threading.RLock()
        self._t0 = clock()
        self._bar = self._ticker = None
        self._stop = threading.Event()
        if bar is None:
            bar = sys.stderr.isatty()
        if bar and self.names:
            from tqdm import tqdm
            self._bar = tqdm(total=len(self.names), file=sys.stderr, leave=False,
                             dynamic_ncols=True, bar_format=self._bar_format())
            self._ticker = threading.Thread(target=self._tick, args=(tick,), daemon=True,
                                            name="report-progress")
            self._ticker.start()

    # --- what is known --------------------------------------------------------------------

    def estimate(self) -> tuple[float | None, int, int]:
        """(seconds left or None when unknown, how many unfinished notebooks were guessed at
        the mean, how many count with their reference duration)."""
        with self._lock:
            now = self._clock()
            unfinished = [n for n in self.names if n not in self._done]
            if any(self._expected[n] is None for n in unfinished):
                return None, 0, 0
            running = [self._expected[n] - (now - self._started[n])
                       for n in unfinished if n in self._started]
            waiting = [self._expected[n] for n in unfinished if n not in self._started]
            guessed = sum(n in self._guessed for n in unfinished)
            referenced = sum(n in self._referenced for n in unfinished)
            return time_left(waiting, running, self.jobs), guessed, referenced

    def facts(self) -> str:
        """``3/9 done · 12:31 elapsed · ~18 min left`` (no estimate once all are done)."""
        with self._lock:
            parts = [f"{len(self._done)}/{len(self.names)} done",
                     f"{clock_text(self._clock() - self._t0)} elapsed"]
            if len(self._done) < len(self.names):
                parts.append(left_text(*self.estimate()))
            return SEP.join(parts)

    def running(self) -> list[str]:
        with self._lock:
            return [n for n in self._started if n not in self._done]

    # --- events ---------------------------------------------------------------------------

    def start(self, name: str) -> None:
        """``name`` starts executing."""
        with self._lock:
            self._started[name] = self._clock()
            if self._bar is None:
                self._log(f"[report] {name}: executing{SEP}{self.facts()}")
            else:
                self._refresh()

    def done(self, name: str, duration: float | None, status: str,
             error: str | None = None) -> None:
        """``name`` finished after ``duration`` seconds (None: it never ran) with ``status``
        ("ok" or "error") and, on failure, ``error`` (one line)."""
        with self._lock:
            self._started.setdefault(name, self._clock())
            self._done.add(name)
            took = f" in {duration:.1f} s" if duration is not None else ""
            self.log(f"[report] {name}: {status}{took}{SEP}{self.facts()}"
                     + (f": {error}" if error else ""))
            if self._bar is not None:
                self._bar.update(1)
                self._refresh()

    def log(self, line: str) -> None:
        """Write ``line`` through the ``log`` callback (above the bar, if one is drawn)."""
        with self._lock:
            if self._bar is None:
                self._log(line)
                return
            from tqdm import tqdm
            with tqdm.external_write_mode():
                self._log(line)

    def close(self) -> None:
        """Stop the clock and remove the bar (idempotent)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the bar --------------------------------------------------------------------------

    def _bar_format(self) -> str:
        running = self.running()
        what = f"{', '.join(running)} running" if running else "starting"
        facts = self.facts().split(SEP, 1)[1]  # the bar shows "n/total done" itself
        # the names last: a narrow terminal cuts the line's end
        text = SEP.join([facts, what]).replace("{", "{{").replace("}", "}}")
        return "report: {n_fmt}/{total_fmt} done |{bar}| " + text

    def _refresh(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.bar_format = self._bar_format()
                self._bar.refresh()

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            self._refresh()
