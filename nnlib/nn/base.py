"""The layer contract every nnlib layer follows, and the argument checks layers share.

Every layer has ``params`` and ``grads`` dicts with the same keys, shapes and dtypes.
``forward(x)`` returns the output and caches what ``backward`` needs; ``backward(dout)`` writes
``grads[name]`` in place (the arrays are allocated once, so optimizers can hold on to them) and
returns ``dx``. ``training`` (set through ``Sequential.train()/eval()``) changes Dropout and
BatchNorm. ``buffers`` holds state that is saved with the model but not trained (BatchNorm's
running statistics). ``needs_input_grad = False`` lets a model's first layer skip computing
``dx`` nobody reads. A layer made of layers (``Residual``) lists them in ``sublayers()`` and
exposes their params, grads and buffers under prefixed names (``"branch.0.W"``).
"""
from __future__ import annotations

import numpy as np

from .. import argcheck


def as_pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def check_positive(value, name: str) -> int:
    """A layer size: an integer >= 1 (``FieldError`` naming it otherwise)."""
    return argcheck.integer(name, value, lo=1)


def _the_models(name: str) -> property:
    def fail(self, *value):
        raise AttributeError(f"a layer has no {name}: it is the model's, "
                             f"model.{name} = {{'<layer index>.W': value}} (or pass "
                             f"weight_decay to the optimizer)")
    return property(fail, fail)


class Layer:
    """Base class: no parameters, identity-free; subclasses implement forward/backward."""

    # Weight decay and coupled L2 are the model's maps (``Sequential.weight_decay`` / ``.l2``):
    # a layer attribute of that name would be read by nothing, so it is an error.
    weight_decay = _the_models("weight_decay")
    l2 = _the_models("l2")

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True
        self.needs_input_grad = True

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

    def sublayers(self) -> list[Layer]:
        """The layers this one is made of (none for a plain layer)."""
        return []

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def _init_grads(self) -> None:
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}


def walk(layers):
    """Every layer of ``layers`` and, depth first, of their sublayers."""
    for layer in layers:
        yield layer
        yield from walk(layer.sublayers())
