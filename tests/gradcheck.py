"""Numerical gradient helpers for the gradient tests (not a test module: pytest does not collect
it).

``numerical_grad(f, x)`` perturbs ``x`` in place, one entry at a time, and returns the central
difference (f(x + eps) − f(x − eps)) / (2·eps) in float64. ``rel_error`` is the normwise relative
error ||a − b|| / (||a|| + ||b||).
"""
from __future__ import annotations

import numpy as np


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` w.r.t. the float64 array ``x``.

    ``f`` takes no arguments and reads ``x`` (which is modified in place and restored), so it
    works for inputs and for parameter arrays a layer holds by reference.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_grad needs a float64 array, got {x.dtype}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + eps
        fp = float(f())
        x[idx] = old - eps
        fm = float(f())
        x[idx] = old
        grad[idx] = (fp - fm) / (2 * eps)
        it.iternext()
    return grad


def rel_error(a, b) -> float:
    """Normwise relative error ||a − b|| / max(||a|| + ||b||, 1e-12) in float64 (0 if both are 0).

    Normwise rather than elementwise: entries whose true gradient is ~0 would otherwise turn the
    ~1e-10 rounding noise of the central difference into a large "relative" error.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    if denom == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / max(denom, 1e-12))


#: Below this every entry of both gradients is the central difference's rounding noise
#: (~1e-10 for eps = 1e-6 and f of order 1): the true gradient is zero.
ZERO = 1e-8


def assert_close_grad(analytic, numeric, what: str, tol: float = 1e-6) -> None:
    """Fail with a message naming ``what`` (layer and tensor), the error and the worst entry."""
    analytic = np.asarray(analytic)
    assert analytic.shape == numeric.shape, (
        f"{what}: analytic gradient has shape {analytic.shape}, expected {numeric.shape}")
    assert np.all(np.isfinite(analytic)), f"{what}: analytic gradient is not finite"
    if np.abs(analytic).max(initial=0) < ZERO and np.abs(numeric).max(initial=0) < ZERO:
        return  # a gradient that is exactly zero (a conv bias right before a BatchNorm)
    err = rel_error(analytic, numeric)
    if not err < tol:
        diff = np.abs(analytic.astype(np.float64) - numeric)
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
        raise AssertionError(
            f"{what}: relative error {err:.3e} >= {tol:g}; worst entry {worst}: "
            f"analytic {float(analytic[worst]):.8g} vs numerical {float(numeric[worst]):.8g}")
