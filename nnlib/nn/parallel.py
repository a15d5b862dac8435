"""Fixed two-way splits of large array work, run on the calling thread and one worker thread.

NumPy releases the GIL inside ufuncs and BLAS calls, so two Python threads keep both cores of a
small machine busy on batch-32 training. BLAS's own threading is no substitute: it sums in an
order that depends on its thread count, so the same seed would give different numbers in a CLI
run and in a grid worker (the Trainer pins BLAS to one thread for that reason). Here the split
is fixed — always two halves, chosen from the shapes alone — and each half is computed on its
own, so the numbers are the same whether the halves run one after the other or side by side
(``set_threads(1)`` or ``2``).
"""
from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

#: Elementwise work on arrays with at least this many entries is split in two.
MIN_SIZE = 1 << 17
#: Matrix products with at least this many multiply-adds (m·k·n) are split in two.
MIN_MATMUL_WORK = 1 << 22

_threads = 2 if (os.cpu_count() or 1) >= 2 else 1
_pool = None
_pool_pid = None
_local = threading.local()


def get_threads() -> int:
    """Threads that run the two halves: 1 (one after the other) or 2 (side by side)."""
    return _threads


def set_threads(n: int) -> None:
    """Run the halves on ``n`` threads: 1 or 2 (default 2 on multi-core machines). Processes
    that already fill every core — parallel grid workers — set 1."""
    global _threads
    if n not in (1, 2) or isinstance(n, bool):
        raise ValueError(f"nnlib threads must be 1 or 2, got {n!r}")
    _threads = n


@contextlib.contextmanager
def threads(n: int):
    """``set_threads(n)`` for the duration of a ``with`` block."""
    old = _threads
    set_threads(n)
    try:
        yield
    finally:
        set_threads(old)


def _mark_worker() -> None:
    _local.is_worker = True


def _worker_pool():
    global _pool, _pool_pid
    # A forked child inherits the executor object but not its thread: make a new one.
    if _pool is None or _pool_pid != os.getpid():
        from concurrent.futures import ThreadPoolExecutor
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnlib-parallel",
                                   initializer=_mark_worker)
        _pool_pid = os.getpid()
    return _pool


def run_pair(first, second) -> None:
    """Call ``first()`` and ``second()``: side by side (``first`` on the worker thread) when two
    threads are enabled, else one after the other. Returns once both have finished; an
    exception from either is raised here."""
    # Called from the worker itself (nested use), submitting and waiting would deadlock.
    if _threads < 2 or getattr(_local, "is_worker", False):
        first()
        second()
        return
    future = _worker_pool().submit(first)
    try:
        second()
    finally:
        future.result()


def halves(n: int) -> tuple[slice, slice]:
    """The two halves of ``range(n)`` as slices (the first gets ``n // 2``)."""
    h = n // 2
    return slice(0, h), slice(h, n)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None,
           split: int = 1) -> np.ndarray:
    """``a @ b`` for a: (m, k), b: (k, n) → (m, n), written into ``out`` if given.

    A product of at least ``MIN_MATMUL_WORK`` multiply-adds is computed as two halves of the
    output: its rows (``split=0``, halves of ``a``'s rows) or its columns (``split=1``, halves of
    ``b``'s columns). Each output entry is the same dot product either way, so the split never
    mixes partial sums.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul expects (m, k) @ (k, n), got {a.shape} @ {b.shape}")
    if split not in (0, 1):
        raise ValueError(f"split must be 0 (rows) or 1 (columns), got {split!r}")
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), dtype=np.result_type(a, b))
    if m * k * n < MIN_MATMUL_WORK or (m, n)[split] < 2:
        return np.matmul(a, b, out=out)
    first, second = halves((m, n)[split])
    if split == 0:
        run_pair(lambda: np.matmul(a[first], b, out=out[first]),
                 lambda: np.matmul(a[second], b, out=out[second]))
    else:
        run_pair(lambda: np.matmul(a, b[:, first], out=out[:, first]),
                 lambda: np.matmul(a, b[:, second], out=out[:, second]))
    return out
