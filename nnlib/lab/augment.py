"""Random rotation + shift augmentation for MNIST-style images, vectorised over the batch.

The lab report's recipe: rotate each image by a random angle in ±10° with probability 0.5, then
shift it by a random offset within ±10% of the image size (each axis) with probability 0.5.

Geometry (shared by every function here):

* pixel ``(row, col)`` has coordinates ``y = row`` (down) and ``x = col`` (right); the rotation
  centre is the image centre ``((H - 1) / 2, (W - 1) / 2)``, so odd-sized images rotate about
  their middle pixel;
* a positive angle turns the content **counter-clockwise as displayed** (``imshow``, row 0 at the
  top), so ``affine(x, [90], [[0, 0]])`` equals ``np.rot90(x, 1, axes=(-2, -1))`` on square images;
* a shift ``(dy, dx)`` moves the content ``dy`` pixels down and ``dx`` pixels right;
* rotation is applied first, then the shift; pixels whose source lies outside the image read 0.

Each output pixel is sampled at its inverse-mapped source coordinates (one coordinate grid and
per-image coefficients broadcast over it for the whole batch) with bilinear interpolation
(``order=1``) or nearest neighbour (``order=0``, ties rounded half to even). No per-image Python
loop: the batch is processed in fixed-size chunks to keep temporaries in cache.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..errors import FieldError

__all__ = ["MODES", "Augmentation", "affine", "append_augmented", "overwrite_augmented",
           "random_affine"]

_CHUNK = 256  # images per vectorised block; bounds temporaries to ~chunk * H * W elements
#: How the trainer uses augmentation (see :class:`Augmentation`).
MODES = ("online", "append", "overwrite")


# --------------------------------------------------------------------------- helpers
def _as_stack(images) -> tuple[np.ndarray, tuple[int, ...]]:
    """View ``images`` as ``(N, H, W)``; return it with the original shape.

    Accepts ``(N, H, W)``, ``(N, 1, H, W)`` and flattened square images ``(N, H * H)``.
    """
    x = np.asarray(images)
    if x.dtype not in (np.float32, np.float64, np.uint8):
        raise TypeError(f"images must be float32, float64 or uint8, got dtype {x.dtype}")
    if x.ndim == 3:
        stack = x
    elif x.ndim == 4 and x.shape[1] == 1:
        stack = x.reshape(x.shape[0], x.shape[2], x.shape[3])
    elif x.ndim == 2 and math.isqrt(x.shape[1]) ** 2 == x.shape[1]:
        side = math.isqrt(x.shape[1])
        stack = x.reshape(x.shape[0], side, side)
    else:
        raise ValueError(
            "images must have shape (N, H, W), (N, 1, H, W) or (N, H*H) for square images, "
            f"got {x.shape}"
        )
    return stack, x.shape


def _check_params(rotate: float, shift: float, p: float) -> None:
    """Raise ``FieldError`` (a ``ValueError``) naming the first out-of-range parameter."""
    if not (0.0 <= p <= 1.0):
        raise FieldError("p", p, "must be in [0, 1]")
    if not (math.isfinite(rotate) and 0.0 <= rotate <= 180.0):
        raise FieldError("rotate", rotate, "must be an angle in [0, 180] (degrees)")
    if not (0.0 <= shift < 0.5):
        raise FieldError("shift", shift, "must be in [0, 0.5) (fraction of the image size)")


def _warp(stack: np.ndarray, angles_deg: np.ndarray, shifts: np.ndarray, order: int) -> np.ndarray:
    """Rotate then shift each image of a float ``(N, H, W)`` stack; returns a new float stack."""
    n, h, w = stack.shape
    ft = stack.dtype
    out = np.empty_like(stack)
    if n == 0:
        return out
    theta = np.deg2rad(angles_deg.astype(np.float64))
    cos, sin = np.cos(theta), np.sin(theta)
    dy, dx = shifts[:, 0].astype(np.float64), shifts[:, 1].astype(np.float64)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    # Inverse map of "rotate by theta (CCW on screen) about the centre, then shift":
    #   src_x = cx + cos*(x - cx - dx) - sin*(y - cy - dy)
    #   src_y = cy + sin*(x - cx - dx) + cos*(y - cy - dy)
    # i.e. per-image (N, 1) coefficients broadcast against the (1, H*W) grids x - cx, y - cy.
    # (Elementwise rather than a K=3 matmul: multithreaded BLAS stalls on such thin products.)
    cos_c, sin_c = cos.astype(ft)[:, None], sin.astype(ft)[:, None]
    off_x = (cx - cos * dx + sin * dy).astype(ft)[:, None]
    off_y = (cy - sin * dx - cos * dy).astype(ft)[:, None]
    yy, xx = np.mgrid[0:h, 0:w]
    gx = (xx.ravel() - cx).astype(ft)[None]
    gy = (yy.ravel() - cy).astype(ft)[None]

    # Zero-padded copy: one ring of zeros on top/left, two on bottom/right, so clipped source
    # coordinates in [-1, H] (and their +1 neighbours) always index padding or the image.
    hp, wp = h + 3, w + 3
    flat_out = out.reshape(n, h * w)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        m = stop - start
        padded = np.zeros((m, hp, wp), dtype=ft)
        padded[:, 1 : h + 1, 1 : w + 1] = stack[start:stop]
        src = padded.reshape(-1)
        c, s = cos_c[start:stop], sin_c[start:stop]
        sx = c * gx  # (m, H*W)
        tmp = s * gy
        sx -= tmp
        sx += off_x[start:stop]
        sy = np.multiply(s, gx, out=tmp)
        sy += c * gy
        sy += off_y[start:stop]
        np.clip(sx, -1, w, out=sx)
        np.clip(sy, -1, h, out=sy)
        # Per-image offset into the flattened padded chunk, including the +1 padding ring.
        base = (np.arange(m, dtype=ft) * (hp * wp) + (wp + 1))[:, None]
        if order == 0:
            np.rint(sx, out=sx)
            np.rint(sy, out=sy)
            sy *= wp
            sy += sx
            sy += base
            np.take(src, sy.astype(np.intp), out=flat_out[start:stop])
            continue
        x0 = np.floor(sx)
        y0 = np.floor(sy)
        sx -= x0  # now the fractional weights fx, fy in [0, 1)
        sy -= y0
        y0 *= wp
        y0 += x0
        y0 += base
        idx = y0.astype(np.intp)
        v00 = np.take(src, idx)
        v01 = np.take(src, idx + 1)
        idx += wp
        v10 = np.take(src, idx)
        v11 = np.take(src, idx + 1)
        v01 -= v00  # top = v00 + fx * (v01 - v00)
        v01 *= sx
        v00 += v01
        v11 -= v10  # bottom = v10 + fx * (v11 - v10)
        v11 *= sx
        v10 += v11
        v10 -= v00  # out = top + fy * (bottom - top)
        v10 *= sy
        np.add(v00, v10, out=flat_out[start:stop])
    return out


# --------------------------------------------------------------------------- public API
def affine(images, angles_deg, shifts, order: int = 1) -> np.ndarray:
    """Rotate each image about its centre, then shift it; deterministic core of the augmentation.

    Args:
        images: ``(N, H, W)``, ``(N, 1, H, W)`` or flattened square ``(N, H*H)``; float32,
            float64 or uint8.
        angles_deg: ``(N,)`` rotation angles in degrees, positive = counter-clockwise as
            displayed (row 0 at the top), e.g. ``90`` matches ``np.rot90``.
        shifts: ``(N, 2)`` pixel offsets ``(dy, dx)``; positive moves the content down / right.
            Fractional offsets are interpolated.
        order: 1 = bilinear (default), 0 = nearest neighbour.

    Returns:
        Array of the same shape and dtype as ``images``; pixels mapped from outside the image
        are 0. uint8 results are rounded and clipped to [0, 255]. float32 input is processed
        in float32, float64 in float64, uint8 in float32.
    """
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (bilinear), got {order!r}")
    stack, shape = _as_stack(images)
    n = stack.shape[0]
    angles = np.asarray(angles_deg, dtype=np.float64)
    if angles.shape != (n,):
        raise ValueError(f"angles_deg must have shape ({n},), got {angles.shape}")
    offs = np.asarray(shifts, dtype=np.float64)
    if offs.shape != (n, 2):
        raise ValueError(f"shifts must have shape ({n}, 2) as (dy, dx), got {offs.shape}")
    if not (np.isfinite(angles).all() and np.isfinite(offs).all()):
        raise ValueError("angles_deg and shifts must be finite")
    work = stack if stack.dtype != np.uint8 else stack.astype(np.float32)
    out = _warp(work, angles, offs, order)
    if stack.dtype == np.uint8:
        out = np.clip(np.rint(out, out=out), 0, 255, out=out).astype(np.uint8)
    return out.reshape(shape)


def random_affine(images, rng, rotate: float = 10.0, shift: float = 0.1, p: float = 0.5,
                  order: int = 1) -> np.ndarray:
    """Randomly rotate and shift each image, as in the lab report.

    For every image, independently: with probability ``p`` rotate by an angle drawn uniformly
    from ``[-rotate, rotate]`` degrees; then with probability ``p`` shift by a whole number of
    pixels drawn uniformly from ``{-k, ..., k}`` per axis, ``k = floor(shift * size)`` (``size``
    = H for dy, W for dx; 2 px for 28×28 and ``shift=0.1``). Shifts are always integers, as in
    the report, so a shift-only image is an exact zero-filled translation.

    The random draws (masks, angles, shifts for all N images) are taken in a fixed order, so the
    same ``rng`` state gives the same output bit for bit. Images that get neither transform are
    copied unchanged.

    Args:
        images: ``(N, H, W)``, ``(N, 1, H, W)`` or ``(N, H*H)``; float32, float64 or uint8.
        rng: ``numpy.random.Generator``.
        rotate: maximum absolute angle in degrees (>= 0).
        shift: maximum offset as a fraction of the image size, in ``[0, 0.5)``.
        p: probability of each of the two transforms, in ``[0, 1]``.
        order: 1 = bilinear, 0 = nearest neighbour.

    Returns:
        A new array of the same shape and dtype as ``images``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    _check_params(rotate, shift, p)
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (bilinear), got {order!r}")
    stack, shape = _as_stack(images)
    n, h, w = stack.shape
    do_rot = rng.random(n) < p
    angles = rng.uniform(-rotate, rotate, size=n)
    do_shift = rng.random(n) < p
    ky, kx = math.floor(shift * h), math.floor(shift * w)
    offs = np.stack([rng.integers(-ky, ky + 1, size=n), rng.integers(-kx, kx + 1, size=n)], axis=1)
    angles[~do_rot] = 0.0
    offs[~do_shift] = 0

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

    Args:
        x: images ``(N, ...)`` as accepted by :func:`random_affine`.
        y: labels ``(N, ...)`` (class ids or one-hot rows).
        rng: ``numpy.random.Generator``.
        **kw: ``rotate``, ``shift``, ``p``, ``order`` for :func:`random_affine`.

    Returns:
        ``(x2, y2)`` with ``2N`` rows: ``x2[:N] == x``, ``x2[N:]`` augmented, ``y2 = [y, y]``.
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

    Args and returns as :func:`append_augmented`; ``x2 = [A, A]``, ``y2 = [y, y]``.
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
    """

    mode: str = "online"
    rotate: float = 10.0
    shift: float = 0.1
    p: float = 0.5

    def __post_init__(self):
        if self.mode not in MODES:
            allowed = ", ".join(map(repr, MODES))
            raise ValueError(f"mode must be one of {allowed}; got {self.mode!r}")
        for name in ("rotate", "shift", "p"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise TypeError(f"{name} must be a number, got {value!r}")
        _check_params(self.rotate, self.shift, self.p)

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

    def __call__(self, x, rng) -> np.ndarray:
        """Return a randomly rotated/shifted copy of the batch ``x`` (same shape and dtype)."""
        return random_affine(x, rng, rotate=self.rotate, shift=self.shift, p=self.p)

    def append(self, x, y, rng) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x2, y2)``: the set followed by one augmented copy (``2N`` rows)."""
        return append_augmented(x, y, rng, rotate=self.rotate, shift=self.shift, p=self.p)

    def expand(self, x, y, rng) -> tuple[np.ndarray, np.ndarray]:
        """The training set this mode trains on, built once before training: ``(x, y)`` as is
        for "online", :func:`append_augmented` for "append", :func:`overwrite_augmented` for
        "overwrite"."""
        if self.mode == "online":
            return x, y
        build = append_augmented if self.mode == "append" else overwrite_augmented
        return build(x, y, rng, rotate=self.rotate, shift=self.shift, p=self.p)
