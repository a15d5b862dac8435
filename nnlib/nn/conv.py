"""Convolution and pooling layers (NCHW API, batch-innermost work) and their blocked products."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import Layer, as_pair, check_positive


def conv_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution along one axis of length ``n`` (floor, like PyTorch)."""
    return (n + 2 * padding - kernel) // stride + 1


#: Columns per block of a product along its long axis (a conv's Ho·Wo·N): OpenBLAS runs skinny
#: products (a few rows, ≤ 4,096 columns) on its small-matrix kernels, 1.5–3× faster than in one
#: call (measured on the first conv layer: forward 200 → 115 µs, kernel gradient 400 → 127 µs).
MATMUL_BLOCK = 4096


def matmul_blocked(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = a @ b`` (a: (m, k), b: (k, M)), in blocks of ``MATMUL_BLOCK`` columns of b; each
    output column is the same dot product as in one call."""
    for lo in range(0, b.shape[1], MATMUL_BLOCK):
        np.matmul(a, b[:, lo:lo + MATMUL_BLOCK], out=out[:, lo:lo + MATMUL_BLOCK])
    return out


def matmul_nt_blocked(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = a @ b.T`` (a: (m, M), b: (k, M)), summed over blocks of ``MATMUL_BLOCK`` of the
    long shared axis M, in a fixed order (so the same shapes always give the same numbers).

    A tiny output (m·k < 256, the first conv's kernel gradient) is fastest as ``a @ b.T``; a
    larger one as ``(b @ a.T).T`` with ``a.T`` copied contiguous (1.2–1.7× faster, measured on
    the report's and the improved CNN's second conv).
    """
    transposed = a.shape[0] * b.shape[0] >= 256
    for lo in range(0, a.shape[1], MATMUL_BLOCK):
        block = slice(lo, lo + MATMUL_BLOCK)
        if transposed:
            prod = (b[:, block] @ np.ascontiguousarray(a[:, block].T)).T
        else:
            prod = a[:, block] @ b[:, block].T
        if lo == 0:
            out[...] = prod
        else:
            out += prod
    return out


def batch_innermost(x: np.ndarray) -> np.ndarray:
    """x: (N, C, H, W) → the same values as a C-contiguous (C, H, W, N) array: a free view when
    ``x`` is itself a transposed view of such memory (what Conv2D returns), else one copy."""
    xt = x.transpose(1, 2, 3, 0)
    return xt if xt.flags.c_contiguous else np.ascontiguousarray(xt)


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in PyTorch) via im2col + one matmul.

    x: (N, C_in, H, W) → y: (N, C_out, H_out, W_out) with
    H_out = (H + 2·pad_h − kh) // stride_h + 1 (same for W).
    ``W``: (C_out, C_in, kh, kw), ``b``: (C_out,).

    The work runs batch-innermost: the input is read as (C, H, W, N) and y is computed as
    (C_out, H_out, W_out, N) in memory and returned as an (N, C_out, H_out, W_out) view of it.
    Elementwise layers and MaxPool2D keep that memory order (NumPy's ``K`` order), so the next
    Conv2D reads its input without a copy, and every im2col / col2im copy and add runs over rows
    of W_out·N contiguous values instead of W_out (5–10× longer at batch 32).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dtype=np.float32):
        super().__init__()
        self.in_channels = check_positive(in_channels, "in_channels")
        self.out_channels = check_positive(out_channels, "out_channels")
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = as_pair(stride, "stride")
        self.padding = as_pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"Conv2D needs kernel_size >= 1, stride >= 1, padding >= 0; got "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}")
        kh, kw = self.kernel_size
        self.params = {
            "W": np.zeros((self.out_channels, self.in_channels, kh, kw), dtype=dtype),
            "b": np.zeros(self.out_channels, dtype=dtype),
        }
        self._init_grads()
        self._cols = None

    def output_shape(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        ho, wo = conv_size(h, kh, sh, ph), conv_size(w, kw, sw, pw)
        if ho < 1 or wo < 1:
            raise ValueError(f"Conv2D kernel {self.kernel_size} does not fit a {h}×{w} input "
                             f"with padding {self.padding}")
        return ho, wo

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2D expects input (N, {self.in_channels}, H, W), got {x.shape}")
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        ho, wo = self.output_shape(h, w)
        xt = batch_innermost(x)
        if ph or pw:
            xt = np.pad(xt, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
        self._xshape = (n, c, h, w)
        self._xpad_shape = xt.shape  # (C, Hp, Wp, N)
        # im2col as one (C·kh·kw, Ho·Wo·N) matrix: forward and both backward products are then
        # single matmuls (BLAS reads the transposes in place).
        win = sliding_window_view(xt, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :ho, :wo]
        cols = win.transpose(0, 4, 5, 1, 2, 3).reshape(c * kh * kw, ho * wo * n)
        self._cols = cols
        out = matmul_blocked(self.params["W"].reshape(self.out_channels, -1), cols,
                             np.empty((self.out_channels, cols.shape[1]),
                                      dtype=np.result_type(self.params["W"], cols)))
        out += self.params["b"][:, None]
        return out.reshape(self.out_channels, ho, wo, n).transpose(3, 0, 1, 2)

    def backward(self, dout):
        n, c, h, w = self._xshape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        ho, wo = dout.shape[2], dout.shape[3]
        d = batch_innermost(dout).reshape(self.out_channels, ho * wo * n)
        matmul_nt_blocked(d, self._cols, self.grads["W"].reshape(self.out_channels, -1))
        np.sum(d, axis=1, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        if (sh, sw) == (1, 1):
            dxt = self._input_grad_stride1(d, n, ho, wo)
        else:
            dcols = self.params["W"].reshape(self.out_channels, -1).T @ d
            dcols = dcols.reshape(c, kh, kw, ho, wo, n)
            dxt = np.zeros(self._xpad_shape, dtype=dout.dtype)
            # col2im: one strided add per kernel offset (never np.add.at)
            for i in range(kh):
                for j in range(kw):
                    dxt[:, i:i + sh * ho:sh, j:j + sw * wo:sw] += dcols[:, i, j]
        return dxt[:, ph:ph + h, pw:pw + w].transpose(3, 0, 1, 2)

    def _input_grad_stride1(self, d, n: int, ho: int, wo: int) -> np.ndarray:
        """col2im for stride 1 on rows as wide as the padded input: dx as (C, Hp, Wp, N).

        With the gradient laid out on a (Ho, Wp, N) grid (zeros beyond column Wo), the window
        at kernel offset (i, j) is one contiguous run of Ho·Wp·N entries of each flattened
        (Hp·Wp·N) input plane, starting at (i·Wp + j)·N; so each of the kh·kw adds is a few
        long contiguous rows (the matmul grows by Wp/Wo, the adds run many times faster).
        d: (C_out, Ho·Wo·N).
        """
        c, hp, wp, _ = self._xpad_shape
        kh, kw = self.kernel_size
        d_wide = np.zeros((self.out_channels, ho, wp, n), dtype=d.dtype)
        d_wide[:, :, :wo] = d.reshape(self.out_channels, ho, wo, n)
        dcols = self.params["W"].reshape(self.out_channels, -1).T @ \
            d_wide.reshape(self.out_channels, -1)
        dcols = dcols.reshape(c, kh, kw, ho * wp * n)
        # (kw − 1)·N spare entries: the last window's zero tail runs past the plane's end.
        dx = np.zeros((c, (hp * wp + kw - 1) * n), dtype=d.dtype)
        run = ho * wp * n
        for i in range(kh):
            for j in range(kw):
                start = (i * wp + j) * n
                dx[:, start:start + run] += dcols[:, i, j]
        return dx[:, :hp * wp * n].reshape(c, hp, wp, n)

    def config(self):
        return {"type": "Conv2D", "in_channels": self.in_channels,
                "out_channels": self.out_channels, "kernel_size": list(self.kernel_size),
                "stride": list(self.stride), "padding": list(self.padding)}

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class MaxPool2D(Layer):
    """Max pooling over (kh, kw) windows; stride defaults to the kernel size.

    x: (N, C, H, W) → (N, C, (H − kh)//sh + 1, (W − kw)//sw + 1). Gradients of tied maxima
    go to the first maximum (as in PyTorch); ``window == stride`` takes a strided-slice fast path.
    """

    def __init__(self, kernel_size=2, stride=None):
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride")
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"MaxPool2D needs kernel_size and stride >= 1, got "
                             f"{self.kernel_size}, {self.stride}")

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"MaxPool2D expects input (N, C, H, W), got {x.shape}")
        n, c, h, w = x.shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
        if ho < 1 or wo < 1:
            raise ValueError(f"MaxPool2D window {self.kernel_size} does not fit a {h}×{w} input")
        self._xshape = x.shape
        if (kh, kw) == (sh, sw):
            # non-overlapping windows: one strided slice per window offset, elementwise maximum
            self._x = x
            out = None
            for i in range(kh):
                for j in range(kw):
                    part = x[:, :, i:i + kh * ho:kh, j:j + kw * wo:kw]
                    # order "K": the output keeps x's memory order (e.g. Conv2D's batch-innermost)
                    out = part.copy(order="K") if out is None else np.maximum(out, part, out=out)
            self._out = out
            return out
        win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :ho, :wo]
        win = win.reshape(n, c, ho, wo, kh * kw)
        argmax = win.argmax(axis=-1)
        self._argmax = argmax
        return np.take_along_axis(win, argmax[..., None], axis=-1)[..., 0]

    def backward(self, dout):
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ho, wo = dout.shape[2], dout.shape[3]
        if (kh, kw) == (sh, sw):
            x, out = self._x, self._out
            # every entry of dx is written below when the windows tile x exactly
            tiled = self._xshape[2:] == (kh * ho, kw * wo)
            dx = (np.empty_like if tiled else np.zeros_like)(x, dtype=dout.dtype)
            # the gradient goes to the first maximum of each window (PyTorch's choice for ties)
            free = None
            for k in range(kh * kw):
                i, j = divmod(k, kw)
                hit = np.equal(x[:, :, i:i + kh * ho:kh, j:j + kw * wo:kw], out)
                if free is None:
                    free = np.logical_not(hit)
                else:
                    hit &= free
                    if k < kh * kw - 1:
                        np.greater(free, hit, out=free)  # free &= ~hit
                np.multiply(dout, hit, out=dx[:, :, i:i + kh * ho:kh, j:j + kw * wo:kw])
            return dx
        dx = np.zeros(self._xshape, dtype=dout.dtype)
        argmax = self._argmax
        for i in range(kh):
            for j in range(kw):
                dx[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += dout * (argmax == i * kw + j)
        return dx

    def config(self):
        return {"type": "MaxPool2D", "kernel_size": list(self.kernel_size),
                "stride": list(self.stride)}

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"
