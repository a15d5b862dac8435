"""Elastic distortion for MNIST-style images, vectorised over the batch (Simard, Steinkraus &
Platt 2003): a random displacement field, uniform in [-1, 1) per pixel and axis, smoothed by a
Gaussian of standard deviation σ and scaled by α (both in pixels), and the resampling of images
along given or random fields. The geometry and the sampler are those of :mod:`nnlib.lab.augment`
(shared through ``_sampling``), so a field and a rotation/shift can be applied in one pass.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import FieldError
from ._sampling import (
    CHUNK,
    as_stack,
    check_number,
    check_order,
    check_rng,
    displacement_field,
    resample,
)

__all__ = ["TRUNCATE", "displace", "elastic", "elastic_field"]

#: Gaussian kernels are truncated at ``int(TRUNCATE · σ + 0.5)`` pixels (SciPy's
#: ``gaussian_filter`` default, so fields match the usual ``gaussian_filter(..., mode="constant")``
#: recipes).
TRUNCATE = 4.0
# Kernel radius up to which the normalising sum is summed term by term (beyond: its integral).
_DIRECT_SUM_MAX = 1 << 22


def check_elastic(alpha, sigma, names=("elastic_alpha", "elastic_sigma")) -> None:
    """Type-check ``alpha`` and ``sigma`` (``TypeError``), then raise ``FieldError`` naming the
    first out-of-range one (``names``: how the caller spells them)."""
    for name, value in zip(names, (alpha, sigma)):
        check_number(name, value)
    if not (math.isfinite(alpha) and alpha >= 0.0):
        raise FieldError(names[0], alpha, "must be a finite number >= 0 (pixels; 0 = no elastic "
                                          "distortion)")
    if not (math.isfinite(sigma) and sigma > 0.0):
        raise FieldError(names[1], sigma, "must be a finite number > 0 (pixels)")


@functools.lru_cache(maxsize=32)
def gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """The ``(n, n)`` float64 matrix ``G`` of a 1-D Gaussian smoothing with zero padding:
    ``(G @ f)[i] = Σ_j k[j - i] f[j]`` over the pixels ``j`` of the image only.

    ``k`` is the Gaussian of standard deviation ``sigma`` truncated at radius
    ``R = int(TRUNCATE · sigma + 0.5)`` and normalised to sum 1 over ``-R..R`` *before* the
    border cuts it, so a constant field stays constant where the whole kernel fits and fades
    toward the borders (what zero padding means), rather than being re-normalised per pixel.
    """
    radius = int(TRUNCATE * sigma + 0.5)
    if radius <= _DIRECT_SUM_MAX:
        t = np.arange(-radius, radius + 1, dtype=np.float64)
        total = np.exp(-0.5 * (t / sigma) ** 2).sum()
    else:  # a huge sigma: the sum equals its midpoint-rule integral to double precision
        total = math.sqrt(2 * math.pi) * sigma * math.erf((radius + 0.5) / (sigma * math.sqrt(2)))
    offset = np.arange(n)[None, :] - np.arange(n)[:, None]  # j - i
    g = np.exp(-0.5 * (offset / sigma) ** 2) / total
    g[np.abs(offset) > radius] = 0.0
    g.flags.writeable = False
    return g


def _field_chunk(m: int, rng: np.random.Generator, gh: np.ndarray, gw2: np.ndarray) -> np.ndarray:
    """Draw and smooth the displacement fields of ``m`` images: ``(m, 2, H, W)`` float32,
    ``[:, 0]`` = dy, ``[:, 1]`` = dx, each ``α · G_h U G_wᵀ`` with ``U`` uniform in [-1, 1).

    ``gh``: ``(H, H)`` float32 ``G_h``; ``gw2``: ``(W, W)`` float32 ``2α G_wᵀ``. The draws are
    image after image (dy then dx), and each field is smoothed by its own two products, so a
    field depends on the generator's state and the image's index only, not on the chunking.
    """
    h, w = gh.shape[0], gw2.shape[0]
    u = rng.random((m, 2, h, w), dtype=np.float32)
    u -= 0.5  # exact; the factor 2 of 2u - 1 is folded into gw2
    # One small (H, H) @ (H, W) @ (W, W) product per field, never one big product over the
    # chunk: BLAS never threads products this small, so the numbers cannot depend on its thread
    # count, and no product stalls waiting for a busy core (a big threaded one does, badly, when
    # the trainer or another process keeps the other core busy).
    return np.matmul(gh, np.matmul(u.reshape(2 * m, h, w), gw2)).reshape(m, 2, h, w)


def _elastic_matrices(h: int, w: int, alpha: float, sigma: float):
    gh = gaussian_matrix(h, float(sigma)).astype(np.float32)
    gw2 = (2.0 * float(alpha) * gaussian_matrix(w, float(sigma)).T).astype(np.float32)
    return gh, gw2


def random_field(rng: np.random.Generator, h: int, w: int, alpha: float, sigma: float):
    """A ``field(start, stop)`` for :func:`_warp` that draws each chunk's fields when asked."""
    gh, gw2 = _elastic_matrices(h, w, alpha, sigma)

    def field(start: int, stop: int):
        f = _field_chunk(stop - start, rng, gh, gw2)
        return f[:, 0].reshape(stop - start, h * w), f[:, 1].reshape(stop - start, h * w)

    return field


# --------------------------------------------------------------------------- public API
def displace(images, dy, dx, order: int = 1) -> np.ndarray:
    """Resample each image at its pixels moved by a given displacement field; deterministic core
    of :func:`elastic`: ``out[n, r, c] = images[n](r + dy[n, r, c], c + dx[n, r, c])``.

    ``images`` as for :func:`affine`. ``dy``, ``dx``: ``(N, H, W)`` (or the shape of ``images``)
    displacements in pixels, any real dtype; ``dx = 1`` everywhere moves the content one pixel
    left. Sources between pixels are interpolated (``order=1``, bilinear) or rounded
    (``order=0``); sources outside the image read 0.

    Returns an array of the same shape and dtype as ``images`` (uint8 rounded and clipped).
    """
    check_order(order)
    stack, shape = as_stack(images)
    n = stack.shape[0]
    return resample(stack, shape, np.zeros(n), np.zeros((n, 2)), order,
                     displacement_field(dy, dx, stack, shape))


def elastic_field(n: int, h: int, w: int, rng, alpha: float = 34.0,
                  sigma: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Random elastic displacement fields ``(dy, dx)``, each ``(n, h, w)`` float32 (pixels).

    Per image and axis: ``U`` uniform in [-1, 1) for every pixel, smoothed by a separable
    Gaussian of standard deviation ``sigma`` (kernel truncated at ``int(4 · sigma + 0.5)``
    pixels and normalised to sum 1 there; zero padding beyond the image, so the field fades
    toward the borders), times ``alpha``: ``alpha · G_h U G_wᵀ``. Where the whole kernel fits,
    each value has mean 0 and standard deviation ``alpha · Σk² / √3``.

    These are exactly the fields :func:`elastic` draws from the same ``rng`` state for ``n``
    images of ``h × w``: ``elastic(x, rng) == displace(x, *elastic_field(n, h, w, rng))``.
    """
    check_rng(rng)
    for name, value in (("n", n), ("h", h), ("w", w)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    check_elastic(alpha, sigma, ("alpha", "sigma"))
    out = np.empty((n, 2, h, w), dtype=np.float32)
    gh, gw2 = _elastic_matrices(h, w, alpha, sigma)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        out[start:stop] = _field_chunk(stop - start, rng, gh, gw2)
    return out[:, 0], out[:, 1]


def elastic(images, rng, alpha: float = 34.0, sigma: float = 4.0, order: int = 1) -> np.ndarray:
    """Elastically distort every image (Simard, Steinkraus & Platt 2003).

    Each image is resampled (:func:`displace`) along its own random field from
    :func:`elastic_field`: ``alpha`` is the displacement scale and ``sigma`` the smoothing, both
    in pixels (Simard's MNIST values: ``alpha=34``, ``sigma=4``). ``alpha=0`` returns a copy of
    ``images`` and draws nothing from ``rng``.

    ``images``: ``(N, H, W)``, ``(N, 1, H, W)`` or ``(N, H*H)``; float32, float64 or uint8.
    Returns a new array of the same shape and dtype; the same ``rng`` state gives the same output
    bit for bit.
    """
    check_rng(rng)
    check_elastic(alpha, sigma, ("alpha", "sigma"))
    check_order(order)
    stack, shape = as_stack(images)
    if alpha == 0:
        return stack.copy().reshape(shape)
    n, h, w = stack.shape
    return resample(stack, shape, np.zeros(n), np.zeros((n, 2)), order,
                     random_field(rng, h, w, alpha, sigma))
