"""Conv2D and MaxPool2D as nnlib had them before the batch-innermost rewrite (commit c3f09d2,
NCHW im2col): the frozen reference that tests/test_layers_previous.py compares the current layers
with, in float32, on the report's shapes. Not used by nnlib itself."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnlib.nn.layers import Layer, as_pair, check_positive, conv_size


class PreviousConv2D(Layer):
    """2-D convolution (cross-correlation, as in PyTorch) on NCHW input via im2col + one matmul.

    x: (N, C_in, H, W) → y: (N, C_out, H_out, W_out) with
    H_out = (H + 2·pad_h − kh) // stride_h + 1 (same for W).
    ``W``: (C_out, C_in, kh, kw), ``b``: (C_out,).
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
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        self._xshape = (n, c, h, w)
        self._xpad_shape = x.shape
        # im2col as one (C·kh·kw, N·Ho·Wo) matrix: forward and both backward products are then
        # single large matmuls (BLAS reads the transposes in place), and the copy's inner loop
        # runs along Wo, contiguous in x.
        win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :ho, :wo]
        cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * ho * wo)
        self._cols = cols
        out = self.params["W"].reshape(self.out_channels, -1) @ cols  # (C_out, N·Ho·Wo)
        out += self.params["b"][:, None]
        return np.ascontiguousarray(
            out.reshape(self.out_channels, n, ho, wo).transpose(1, 0, 2, 3))

    def backward(self, dout):
        n, c, h, w = self._xshape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        ho, wo = dout.shape[2], dout.shape[3]
        d = dout.transpose(1, 0, 2, 3).reshape(self.out_channels, n * ho * wo)
        np.matmul(d, self._cols.T, out=self.grads["W"].reshape(self.out_channels, -1))
        np.sum(d, axis=1, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        if (sh, sw) == (1, 1):
            dx = self._input_grad_stride1(d, n, ho, wo)
        else:
            dcols = self.params["W"].reshape(self.out_channels, -1).T @ d
            dcols = dcols.reshape(c, kh, kw, n, ho, wo)
            dx = np.zeros(self._xpad_shape, dtype=dout.dtype)
            # col2im: one strided add per kernel offset (never np.add.at)
            for i in range(kh):
                for j in range(kw):
                    dx[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += \
                        dcols[:, i, j].transpose(1, 0, 2, 3)
        if ph or pw:
            dx = dx[:, :, ph:ph + h, pw:pw + w]
        return dx

    def _input_grad_stride1(self, d, n: int, ho: int, wo: int) -> np.ndarray:
        """col2im for stride 1 on rows as wide as the padded input: dx (N, C, Hp, Wp).

        With the gradient laid out on a (Ho, Wp) grid (zeros beyond column Wo), the window at
        kernel offset (i, j) is one contiguous run of Ho·Wp entries of each flattened (Hp·Wp)
        input plane, starting at i·Wp + j; so each of the kh·kw adds runs over long contiguous
        rows instead of Wo-long pieces (the matmul grows by Wp/Wo; the adds run ~2x faster).
        d: (C_out, N·Ho·Wo).
        """
        _, c, hp, wp = self._xpad_shape
        kh, kw = self.kernel_size
        d_wide = np.zeros((self.out_channels, n, ho, wp), dtype=d.dtype)
        d_wide[..., :wo] = d.reshape(self.out_channels, n, ho, wo)
        dcols = self.params["W"].reshape(self.out_channels, -1).T @ \
            d_wide.reshape(self.out_channels, -1)
        dcols = dcols.reshape(c, kh, kw, n, ho * wp)
        # kw − 1 spare entries: the last window's zero tail runs past the plane's end.
        dx = np.zeros((c, n, hp * wp + kw - 1), dtype=d.dtype)
        for i in range(kh):
            for j in range(kw):
                start = i * wp + j
                dx[:, :, start:start + ho * wp] += dcols[:, i, j]
        return dx[:, :, :hp * wp].reshape(c, n, hp, wp).transpose(1, 0, 2, 3)

    def config(self):
        return {"type": "Conv2D", "in_channels": self.in_channels,
                "out_channels": self.out_channels, "kernel_size": list(self.kernel_size),
                "stride": list(self.stride), "padding": list(self.padding)}

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class PreviousMaxPool2D(Layer):
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
                    out = part.copy() if out is None else np.maximum(out, part, out=out)
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
        dx = np.zeros(self._xshape, dtype=dout.dtype)
        if (kh, kw) == (sh, sw):
            # the gradient goes to the first maximum of each window (PyTorch's choice for ties)
            free = np.ones(dout.shape, dtype=bool)
            x, out = self._x, self._out
            for i in range(kh):
                for j in range(kw):
                    hit = x[:, :, i:i + kh * ho:kh, j:j + kw * wo:kw] == out
                    hit &= free
                    free &= ~hit
                    np.multiply(dout, hit, out=dx[:, :, i:i + kh * ho:kh, j:j + kw * wo:kw])
            return dx
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
