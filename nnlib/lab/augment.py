"""Random rotation + shift and elastic distortion for MNIST-style images, vectorised over the batch.

The lab report's recipe: rotate each image by a random angle in ±10° with probability 0.5, then
shift it by a random offset within ±10% of the image size (each axis) with probability 0.5.
Optionally (``elastic_alpha > 0``), every image is also elastically distorted as in Simard,
Steinkraus & Platt (2003): a random displacement field, uniform in [-1, 1) per pixel and axis,
smoothed by a Gaussian of standard deviation σ and scaled by α (both in pixels).

This module holds the rotation/shift and the trainer's settings; the elastic distortion (fields,
``elastic``, ``displace``) lives in :mod:`nnlib.lab.elastic` and the one resampling pass both
use in ``_sampling`` (bilinear or nearest, chunked over the batch). The elastic names are
re-exported, so everything stays importable from here.

Geometry (shared by every function here and in :mod:`nnlib.lab.elastic`):

* pixel ``(row, col)`` has coordinates ``y = row`` (down) and ``x = col`` (right); the rotation
  centre is the image centre ``((H - 1) / 2, (W - 1) / 2)``, so odd-sized images rotate about
  their middle pixel;
* a positive angle turns the content **counter-clockwise as displayed** (``imshow``, row 0 at the
  top), so ``affine(x, [90], [[0, 0]])`` equals ``np.rot90(x, 1, axes=(-2, -1))`` on square images;
* a shift ``(dy, dx)`` moves the content ``dy`` pixels down and ``dx`` pixels right;
* rotation is applied first, then the shift; pixels whose source lies outside the image read 0;
* a displacement field ``(dy, dx)`` (one value per output pixel) is added to the source
  coordinates: ``out[r, c] = in(r + dy[r, c], c + dx[r, c])`` alone, and with a rotation/shift
  ``A``, ``out[p] = in(A⁻¹(p) + d(p))``: one resampling pass, not two interpolations in a row
  (the same as distorting first with the field ``d ∘ A``, which away from the borders has the
  statistics of ``d``). The field is in the input's axes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..errors import FieldError
from ._sampling import as_stack, check_number, check_order, check_rng, displacement_field, resample
from .elastic import (  # noqa: F401  (re-exported: one namespace for all augmentation)
    TRUNCATE,
    check_elastic,
    displace,
    elastic,
    elastic_field,
    gaussian_matrix,
    random_field,
)

__all__ = ["MODES", "Augmentation", "affine", "append_augmented", "displace", "elastic",
           "elastic_field", "overwrite_augmented", "random_affine"]

#: How the trainer uses augmentation (see :class:`Augmentation`).
MODES = ("online", "append", "overwrite")


def _check_params(rotate: float, shift: float, p: float) -> None:
    """Raise ``FieldError`` (a ``ValueError``) naming the first out-of-range parameter."""
    if not (0.0 <= p <= 1.0):
        raise FieldError("p", p, "must be in [0, 1]")
    if not (math.isfinite(rotate) and 0.0 <= rotate <= 180.0):
        raise FieldError("rotate", rotate, "must be an angle in [0, 180] (degrees)")
    if not (0.0 <= shift < 0.5):
        raise FieldError("shift", shift, "must be in [0, 0.5) (fraction of the image size)")


# --------------------------------------------------------------------------- public API
def affine(images, angles_deg, shifts, order: int = 1, dy=None, dx=None) -> np.ndarray:
    """Rotate each image about its centre, then shift it (and displace it, given a field);
    deterministic core of the augmentation.

    ``images``: ``(N, H, W)``, ``(N, 1, H, W)`` or flattened square ``(N, H*H)``; float32,
    float64 or uint8. ``angles_deg``: ``(N,)`` rotation angles in degrees, positive =
    counter-clockwise as displayed (row 0 at the top), so ``90`` matches ``np.rot90``.
    ``shifts``: ``(N, 2)`` pixel offsets ``(dy, dx)``, positive moves the content down / right;
    fractional offsets are interpolated. ``order``: 1 = bilinear (default), 0 = nearest neighbour.
    ``dy``, ``dx``: optional ``(N, H, W)`` displacement fields in pixels (both or neither), added
    to each output pixel's inverse-mapped source in the same pass: ``out[p] = in(A⁻¹(p) + d(p))``
    (see :func:`displace`).

    Returns an array of the same shape and dtype as ``images``; pixels mapped from outside the
    image are 0. uint8 results are rounded and clipped to [0, 255]. float32 input is processed
    in float32, float64 in float64, uint8 in float32.
    """
    check_order(order)
    stack, shape = as_stack(images)
    n = stack.shape[0]
    angles = np.asarray(angles_deg, dtype=np.float64)
    if angles.shape != (n,):
        raise ValueError(f"angles_deg must have shape ({n},), got {angles.shape}")
    offs = np.asarray(shifts, dtype=np.float64)
    if offs.shape != (n, 2):
        raise ValueError(f"shifts must have shape ({n}, 2) as (dy, dx), got {offs.shape}")
    if not (np.isfinite(angles).all() and np.isfinite(offs).all()):
        raise ValueError("angles_deg and shifts must be finite")
    if (dy is None) != (dx is None):
        raise ValueError("dy and dx must be given together (a displacement field has both)")
    field = None if dy is None else displacement_field(dy, dx, stack, shape)
    return resample(stack, shape, angles, offs, order, field)


def random_affine(images, rng, rotate: float = 10.0, shift: float = 0.1, p: float = 0.5,
                  order: int = 1, elastic_alpha: float = 0.0,
                  elastic_sigma: float = 4.0) -> np.ndarray:
    """Randomly rotate and shift each image, as in the lab report; optionally distort it too.

    For every image, independently: with probability ``p`` rotate by an angle drawn uniformly
    from ``[-rotate, rotate]`` degrees; then with probability ``p`` shift by a whole number of
    pixels drawn uniformly from ``{-k, ..., k}`` per axis, ``k = floor(shift * size)`` (``size``
    = H for dy, W for dx; 2 px for 28×28 and ``shift=0.1``). Shifts are always integers, as in
    the report, so a shift-only image is an exact zero-filled translation. ``rotate`` is the
    largest angle in degrees (in [0, 180]), ``shift`` a fraction of the image size in
    ``[0, 0.5)``, ``p`` in [0, 1]; ``order``: 1 = bilinear, 0 = nearest neighbour.

    With ``elastic_alpha > 0`` *every* image (``p`` gates only the rotation and the shift, as
    Simard distorts every training image) is also elastically distorted with a field from
    :func:`elastic_field` (``alpha=elastic_alpha``, ``sigma=elastic_sigma``), in the same
    resampling pass as its rotation and shift. Those field draws come after all the others, so
    the angles and shifts are the ones ``elastic_alpha=0`` gives.

    The random draws (masks, angles, shifts for all N images, then the fields) are taken in a
    fixed order, so the same ``rng`` state gives the same output bit for bit. Without elastic
    distortion, images that get neither transform are copied unchanged.

    ``images``: ``(N, H, W)``, ``(N, 1, H, W)`` or ``(N, H*H)``; float32, float64 or uint8.
    Returns a new array of the same shape and dtype.
    """
    check_rng(rng)
    for name, value in (("rotate", rotate), ("shift", shift), ("p", p)):
        check_number(name, value)
    _check_params(rotate, shift, p)
    check_elastic(elastic_alpha, elastic_sigma)
    check_order(order)
    stack, shape = as_stack(images)
    n, h, w = stack.shape
    do_rot = rng.random(n) < p
    angles = rng.uniform(-rotate, rotate, size=n)
    do_shift = rng.random(n) < p
    ky, kx = math.floor(shift * h), math.floor(shift * w)
    offs = np.stack([rng.integers(-ky, ky + 1, size=n), rng.integers(-kx, kx + 1, size=n)], axis=1)
    angles[~do_rot] = 0.0
    offs[~do_shift] = 0
    if elastic_alpha > 0:
        field = random_field(rng, h, w, elastic_alpha, elastic_sigma)
        return resample(stack, shape, angles, offs, order, field)

    out = stack.copy()
    sel = np.flatnonzero((angles != 0.0) | (offs != 0).any(axis=1))
    if sel.size:
        out[sel] = affine(stack[sel], angles[sel], offs[sel], order=order)
    return out.reshape(shape)


def _augmented(x, y, rng, kw: dict):
    """``(x, y, random_affine(x, rng, **kw))`` as arrays, after checking their lengths agree."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    return x, y, random_affine(x, rng, **kw)


def append_augmented(x, y, rng, **kw) -> tuple[np.ndarray, np.ndarray]:
    """The report's "append" mode: the original set followed by one augmented copy of each image.

    ``x``: images ``(N, ...)`` as accepted by :func:`random_affine`; ``y``: labels ``(N, ...)``
    (class ids or one-hot rows); ``rng``: ``numpy.random.Generator``; ``kw``: ``rotate``,
    ``shift``, ``p``, ``order``, ``elastic_alpha``, ``elastic_sigma`` for :func:`random_affine`.

    Returns ``(x2, y2)`` with ``2N`` rows: ``x2[:N] == x``, ``x2[N:]`` augmented, ``y2 = [y, y]``.
    """
    x, y, x_aug = _augmented(x, y, rng, kw)
    return np.concatenate([x, x_aug]), np.concatenate([y, y])


def overwrite_augmented(x, y, rng, **kw) -> tuple[np.ndarray, np.ndarray]:
    """The report's augmentation *as its code ran*: every image augmented once, that set used twice.

    The report meant to append an augmented copy of each image (:func:`append_augmented`), but
    its runner augmented a NumPy *view* of the training array in place, so the "originals" it
    then concatenated with the "copies" were the same augmented images. With ``A =
    random_affine(x, rng)`` the result is exactly ``[A, A]``: ``2N`` rows, no clean original
    (about a quarter of ``A`` equals its original by chance: neither rotated nor shifted).

    Arguments as :func:`append_augmented`; returns ``x2 = [A, A]``, ``y2 = [y, y]``.
    """
    _, y, x_aug = _augmented(x, y, rng, kw)
    return np.concatenate([x_aug, x_aug]), np.concatenate([y, y])


@dataclass(frozen=True)
class Augmentation:
    """Augmentation settings for the trainer.

    ``mode="online"``: the trainer calls ``aug(x_batch, rng)`` on every minibatch (fresh
    transforms each epoch). ``mode="append"``: the training set is doubled once up front with
    :func:`append_augmented` (the report's intent; see :meth:`expand`). ``mode="overwrite"``: the
    training set is replaced by :func:`overwrite_augmented` (what the report's code ran).

    ``rotate``, ``shift``, ``p``: the report's rotation/shift (:func:`random_affine`).
    ``elastic_alpha``, ``elastic_sigma``: elastic distortion of *every* augmented image, in
    pixels (Simard's MNIST values: 34 and 4); ``elastic_alpha=0`` (the default) turns it off and
    leaves every draw and every number as without these fields.
    """

    mode: str = "online"
    rotate: float = 10.0
    shift: float = 0.1
    p: float = 0.5
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0

    def __post_init__(self):
        if self.mode not in MODES:
            allowed = ", ".join(map(repr, MODES))
            raise ValueError(f"mode must be one of {allowed}; got {self.mode!r}")
        for name in ("rotate", "shift", "p"):
            check_number(name, getattr(self, name))
        _check_params(self.rotate, self.shift, self.p)
        check_elastic(self.elastic_alpha, self.elastic_sigma)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of the settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Augmentation:
        """Build from a dict such as :meth:`to_dict` output; unknown keys raise ``ValueError``."""
        allowed = {f.name for f in fields(cls)}
        unknown = set(d) - allowed
        if unknown:
            raise ValueError(
                f"unknown Augmentation keys {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        return cls(**d)

    def _kw(self) -> dict:
        return {"rotate": self.rotate, "shift": self.shift, "p": self.p,
                "elastic_alpha": self.elastic_alpha, "elastic_sigma": self.elastic_sigma}

    def __call__(self, x, rng) -> np.ndarray:
        """Return a randomly rotated/shifted (and distorted) copy of the batch ``x`` (same shape
        and dtype)."""
        return random_affine(x, rng, **self._kw())

    def append(self, x, y, rng) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x2, y2)``: the set followed by one augmented copy (``2N`` rows)."""
        return append_augmented(x, y, rng, **self._kw())

    def expand(self, x, y, rng) -> tuple[np.ndarray, np.ndarray]:
        """The training set this mode trains on, built once before training: ``(x, y)`` as is
        for "online", :func:`append_augmented` for "append", :func:`overwrite_augmented` for
        "overwrite"."""
        if self.mode == "online":
            return x, y
        build = append_augmented if self.mode == "append" else overwrite_augmented
        return build(x, y, rng, **self._kw())
