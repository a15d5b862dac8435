"""The one resampling pass behind :mod:`nnlib.lab.augment` (rotation/shift) and
:mod:`nnlib.lab.elastic` (displacement fields), and the input checks both share.

The geometry (which way angles, shifts and fields point) is set out in :mod:`nnlib.lab.augment`.

Each output pixel is sampled at its inverse-mapped source coordinates (one coordinate grid and
per-image coefficients broadcast over it for the whole batch) with bilinear interpolation
(``order=1``) or nearest neighbour (``order=0``, ties rounded half to even). No per-image Python
loop: the batch is processed in fixed-size chunks to keep temporaries in cache.
"""
from __future__ import annotations

import math

import numpy as np

# Images per vectorised block: each temporary is ~CHUNK * H * W elements, small enough to stay
# in L2 cache at 28×28 (larger blocks run slower; smaller ones pay more per-block overhead).
CHUNK = 64


# --------------------------------------------------------------------------- helpers
def as_stack(images) -> tuple[np.ndarray, tuple[int, ...]]:
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


def check_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")


def check_order(order) -> None:
    if order not in (0, 1) or isinstance(order, bool):
        raise ValueError(f"order must be 0 (nearest) or 1 (bilinear), got {order!r}")


def check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


def _warp(stack: np.ndarray, angles_deg: np.ndarray, shifts: np.ndarray, order: int,
          field=None) -> np.ndarray:
    """Rotate then shift (then displace) each image of a float ``(N, H, W)`` stack in one
    resampling pass; returns a new float stack.

    ``field(start, stop)``, if given, returns the displacement ``(dy, dx)`` of images
    ``start:stop``, each ``(stop - start, H*W)``, added to the inverse-mapped source coordinates.
    It is called once per chunk, in order, so a field that draws random numbers draws them in
    image order. Without it, the operations (and so the numbers) are those of the affine-only
    version this grew from.
    """
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
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
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
        if field is not None:
            disp_y, disp_x = field(start, stop)
            sx += disp_x
            sy += disp_y
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


def resample(stack, shape, angles, offs, order, field=None) -> np.ndarray:
    """:func:`_warp` for any accepted dtype: uint8 is processed in float32, then rounded and
    clipped back; the result takes the input's original ``shape``."""
    work = stack if stack.dtype != np.uint8 else stack.astype(np.float32)
    out = _warp(work, angles, offs, order, field)
    if stack.dtype == np.uint8:
        out = np.clip(np.rint(out, out=out), 0, 255, out=out).astype(np.uint8)
    return out.reshape(shape)


def displacement_field(dy, dx, stack: np.ndarray, shape: tuple[int, ...]):
    """Check the fields ``dy``, ``dx`` for an ``(N, H, W)`` stack (given as ``(N, H, W)`` or in
    the images' own ``shape``); return the ``field(start, stop)`` that :func:`_warp` reads them
    with, in the stack's working precision (float64 for float64 images, else float32)."""
    n, h, w = stack.shape
    ft = np.float64 if stack.dtype == np.float64 else np.float32
    flat = []
    for name, d in (("dy", dy), ("dx", dx)):
        d = np.asarray(d)
        if d.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real array, got dtype {d.dtype}")
        if d.shape not in ((n, h, w), shape):
            raise ValueError(f"{name} must have shape ({n}, {h}, {w}), got {d.shape}")
        d = d.astype(ft, copy=False).reshape(n, h * w)
        if not np.isfinite(d).all():
            raise ValueError(f"{name} must be finite")
        flat.append(d)
    fy, fx = flat
    return lambda start, stop: (fy[start:stop], fx[start:stop])
