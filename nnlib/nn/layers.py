"""Layers with an explicit forward/backward contract.

Every layer has ``params`` and ``grads`` dicts with the same keys, shapes and dtypes.
``forward(x)`` returns the output and caches what ``backward`` needs; ``backward(dout)`` writes
``grads[name]`` in place (the arrays are allocated once, so optimizers can hold on to them) and
returns ``dx``. ``training`` (set through ``Sequential.train()/eval()``) only changes Dropout.
``needs_input_grad = False`` lets a model's first layer skip computing ``dx`` nobody reads.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import parallel


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def _check_positive(value, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class Layer:
    """Base class: no parameters, identity-free; subclasses implement forward/backward."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True
        self.needs_input_grad = True
        self.weight_decay = 0.0  # applies to params["W"] only (the report's semantics)
        self.l2 = 0.0  # coupled L2: l2·W added to W's gradient (the report's Conv2D, as it ran)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def clear_cache(self) -> None:
        """Drop the arrays cached for backward (called after inference)."""
        for attr in ("_x", "_out", "_mask", "_cols", "_argmax", "_xshape", "_xpad_shape"):
            if hasattr(self, attr):
                setattr(self, attr, None)

    def config(self) -> dict:
        """JSON-able constructor arguments; ``type`` is the class name."""
        return {"type": type(self).__name__}

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def _init_grads(self) -> None:
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}


class Linear(Layer):
    """Fully connected layer ``y = x @ W + b``.

    x: (N, in_features) → y: (N, out_features); ``W``: (in_features, out_features),
    ``b``: (out_features,).
    """

    def __init__(self, in_features: int, out_features: int, dtype=np.float32):
        super().__init__()
        self.in_features = _check_positive(in_features, "in_features")
        self.out_features = _check_positive(out_features, "out_features")
        self.params = {
            "W": np.zeros((self.in_features, self.out_features), dtype=dtype),
            "b": np.zeros(self.out_features, dtype=dtype),
        }
        self._init_grads()
        self._x = None

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Linear expects input (N, {self.in_features}), got {x.shape}")
        self._x = x
        # Large products run as two halves on two cores (nnlib.nn.parallel; same numbers either
        # way).
        out = parallel.matmul(x, self.params["W"], split=1)
        out += self.params["b"]
        return out

    def backward(self, dout):
        x = self._x
        parallel.matmul(x.T, dout, out=self.grads["W"], split=0)
        np.sum(dout, axis=0, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        return parallel.matmul(dout, self.params["W"].T, split=1)

    def config(self):
        return {"type": "Linear", "in_features": self.in_features,
                "out_features": self.out_features}

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}"


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
        self.in_channels = _check_positive(in_channels, "in_channels")
        self.out_channels = _check_positive(out_channels, "out_channels")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
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
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
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


class Flatten(Layer):
    """(N, d1, d2, ...) → (N, d1·d2·...)."""

    def forward(self, x):
        self._x = x
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))

    def backward(self, dout):
        # dx in x's memory order (Conv2D's batch-innermost), so the layers below work on arrays
        # of one layout
        dx = np.empty_like(self._x, dtype=dout.dtype)
        dx[...] = dout.reshape(self._x.shape)
        return dx


class ReLU(Layer):
    """max(x, 0), elementwise; any shape."""

    def forward(self, x):
        self._mask = x > 0
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * self._mask


class LeakyReLU(Layer):
    """x for x > 0, ``negative_slope``·x otherwise; any shape."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        if not 0 <= negative_slope < 1:
            raise ValueError(f"negative_slope must be in [0, 1), got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        self._mask = x > 0
        return np.maximum(x, x * x.dtype.type(self.negative_slope))  # slope < 1

    def backward(self, dout):
        slope = dout.dtype.type(self.negative_slope)
        scale = self._mask.astype(dout.dtype)  # 1 where x > 0, then slope elsewhere
        scale *= 1 - slope
        scale += slope
        scale *= dout
        return scale

    def config(self):
        return {"type": "LeakyReLU", "negative_slope": self.negative_slope}

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Layer):
    """1 / (1 + exp(−x)), computed without overflow for large |x|; any shape."""

    def forward(self, x):
        e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self._out = out
        return out

    def backward(self, dout):
        out = self._out
        return dout * out * (1 - out)


class Tanh(Layer):
    """tanh(x), elementwise; any shape."""

    def forward(self, x):
        self._out = np.tanh(x)
        return self._out

    def backward(self, dout):
        return dout * (1 - self._out * self._out)


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``p`` and scale the rest by
    1/(1 − p); identity in eval mode. ``rng`` is a ``numpy.random.Generator`` (seeded 0 if None)."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout p must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._mask = None

    def forward(self, x):
        if not self.training or self.p == 0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self._mask = keep * x.dtype.type(1 / (1 - self.p))
        return x * self._mask

    def backward(self, dout):
        return dout if self._mask is None else dout * self._mask

    def config(self):
        return {"type": "Dropout", "p": self.p}

    def extra_repr(self):
        return f"p={self.p}"


ACTIVATIONS = {"relu": ReLU, "leakyrelu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh}

LAYER_TYPES = {cls.__name__: cls for cls in
               (Linear, Conv2D, MaxPool2D, Flatten, ReLU, LeakyReLU, Sigmoid, Tanh, Dropout)}


def activation(name: str) -> Layer:
    """Build an activation layer by case-insensitive name (relu, leakyrelu, sigmoid, tanh)."""
    key = str(name).lower().replace("_", "").replace("-", "")
    if key not in ACTIVATIONS:
        import difflib
        close = difflib.get_close_matches(key, ACTIVATIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"activation {name!r} is not one of {', '.join(ACTIVATIONS)}{hint}")
    return ACTIVATIONS[key]()


def layer_from_config(cfg: dict) -> Layer:
    """Rebuild a layer from ``Layer.config()`` output."""
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {kind!r}")
    return LAYER_TYPES[kind](**cfg)
