"""The layer types: dense, activations, dropout and flatten here, convolution and pooling in
``conv``, batch normalisation in ``norm``, residual blocks in ``residual`` (all re-exported), the
forward/backward contract they all follow in ``base``; and the registry that rebuilds a layer
from its ``config()``.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from .. import argcheck
from . import parallel, registry
from .base import Layer, as_pair, check_positive, walk  # noqa: F401  (re-exported)
from .conv import (  # noqa: F401  (re-exported: the layer types live in one namespace)
    MATMUL_BLOCK,
    Conv2D,
    MaxPool2D,
    batch_innermost,
    conv_size,
    matmul_blocked,
    matmul_nt_blocked,
)
from .norm import BatchNorm
from .residual import Residual


class Linear(Layer):
    """Fully connected layer ``y = x @ W + b``.

    x: (N, in_features) → y: (N, out_features); ``W``: (in_features, out_features),
    ``b``: (out_features,).
    """

    def __init__(self, in_features: int, out_features: int, dtype=np.float32):
        super().__init__()
        self.in_features = check_positive(in_features, "in_features")
        self.out_features = check_positive(out_features, "out_features")
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


#: Dropout's rule for its rate (``FieldError`` naming the argument: ``p`` here, ``dropout`` in
#: the model builders and configs).
DROPOUT_RATE = partial(argcheck.number, lo=0, hi=1, hi_open=True)


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``p`` and scale the rest by
    1/(1 − p); identity in eval mode. ``rng`` is a ``numpy.random.Generator`` (seeded 0 if None)."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        self.p = DROPOUT_RATE("p", p)
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
               (Linear, Conv2D, MaxPool2D, Flatten, ReLU, LeakyReLU, Sigmoid, Tanh, Dropout,
                BatchNorm, Residual)}


def activation(name: str) -> Layer:
    """Build an activation layer by case-insensitive name (relu, leakyrelu, sigmoid, tanh)."""
    key = str(name).lower().replace("_", "").replace("-", "")
    if key not in ACTIVATIONS:
        import difflib
        close = difflib.get_close_matches(key, ACTIVATIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"activation {name!r} is not one of {', '.join(ACTIVATIONS)}{hint}")
    return ACTIVATIONS[key]()


def layer_from_config(cfg: dict, dtype=None, decays: dict | None = None) -> Layer:
    """Rebuild a layer from ``Layer.config()`` output; ``dtype``: its parameters' dtype (the
    constructor's default if None).

    Model files written before the weight decay moved to the model (``Sequential.weight_decay``)
    carry a layer's ``weight_decay`` and ``l2`` in its config: they go into ``decays``
    (``{"weight_decay" or "l2": {id of the W array: value}}``) when given, else are dropped.
    """
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {kind!r}")
    old = {key: float(cfg.pop(key)) for key in ("weight_decay", "l2") if key in cfg}
    cls = LAYER_TYPES[kind]
    if hasattr(cls, "from_config"):  # made of layers: it rebuilds them through this function
        layer = cls.from_config(cfg, lambda c: layer_from_config(c, dtype, decays))
    else:
        if dtype is not None and "dtype" in registry.fields(cls):
            cfg["dtype"] = dtype
        layer = cls(**cfg)
    if decays is not None and "W" in layer.params:
        for key, value in old.items():
            decays.setdefault(key, {})[id(layer.params["W"])] = value
    return layer
