"""Optimizers that walk ``model.parameters()`` and update the arrays in place.

Weight decay has the lab report's semantics: decoupled and per parameter, applied to weights
only, *before* the update: ``p *= 1 − lr·wd``. By default the model's ``weight_decay`` map
(``{qualified weight name: wd}``, set by the builders from the config's per-layer lists) is read
once, when the optimizer is built; pass a float to decay every weight matrix alike, or a
``{qualified_name: wd}`` dict.

A coupled L2 term (``g += l2·p``, PyTorch's ``weight_decay``; it then feeds momentum) is applied
to the weights in the model's ``l2`` map: the report's conv layers as they ran, which had both
(``conv_decay="double"``). It uses the weights before the decoupled decay, as the
report's backward pass did.

State (velocities, moments) is keyed by the qualified parameter name (``"1.W"``), so
``state_dict()`` is a flat ``{key: array}`` dict that saves to ``.npz`` without pickle.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from .. import argcheck
from ..errors import FieldError
from . import parallel, registry
from .models import decay_map

FLUSH_EVERY = 64
FLUSH_THRESHOLD = 1e-20
#: Entries per block of the update: p, g, its state and scratch (4–5 × 256 KB) stay in cache.
CHUNK = 1 << 16


def _betas(name: str, value) -> list[float]:
    betas = argcheck.listing(name, value, 2)
    if len(betas) != 2:
        raise FieldError(name, betas, "must be a pair [beta1, beta2]")
    return [argcheck.number(f"{name}[{i}]", b, lo=0, hi=1, hi_open=True)
            for i, b in enumerate(betas)]


#: How each constructor argument is checked (``FieldError`` naming it) and normalised: the
#: constructors apply these, and so does config parsing (``nnlib.lab.config``), at the key path.
ARG_CHECKS = {
    "lr": partial(argcheck.number, lo=0, lo_open=True),
    "momentum": partial(argcheck.number, lo=0, hi=1, hi_open=True),
    "nesterov": argcheck.boolean,
    "betas": _betas,
    "eps": partial(argcheck.number, lo=0, lo_open=True),
}


class Optimizer:
    """Base class. ``lr`` is a public attribute (the schedules set it each epoch)."""

    def __init__(self, model, lr: float, weight_decay=None):
        self.lr = ARG_CHECKS["lr"]("lr", lr)
        self._params = [(name, p, g) for name, p, g in model.parameters()]
        names = [name for name, _, _ in self._params]
        if not names:
            raise ValueError("the model has no parameters to optimize")
        if weight_decay is None or isinstance(weight_decay, dict):
            decay = decay_map("weight_decay", getattr(model, "weight_decay", {})
                              if weight_decay is None else weight_decay, names)
        else:
            wd = argcheck.number("weight_decay", weight_decay, lo=0)
            decay = {name: wd for name in names if name.endswith(".W")}
        self.weight_decay = {name: wd for name, wd in decay.items() if wd > 0}
        self.l2 = {name: v for name, v in decay_map("l2", getattr(model, "l2", {}), names).items()
                   if v > 0}
        self.steps = 0
        self._scratch = {name: np.empty_like(p) for name, p, _ in self._params}
        self._plan = None

    def step(self) -> None:
        """One update of every parameter from its current gradient.

        The update is elementwise, so it runs block by block (``CHUNK`` entries: its several
        passes over a block then hit the core's cache instead of main memory), and a large
        parameter's two halves run on two cores (``nnlib.nn.parallel``). Either way each entry
        sees the same operations, so the numbers are those of one whole-array update.
        """
        self.steps += 1
        if self._plan is None:
            self._plan = self._make_plan()
        first, second = self._plan
        if first:
            parallel.run_pair(partial(self._run, first), partial(self._run, second))
        else:
            self._run(second)
        if self.steps % FLUSH_EVERY == 0:
            self._flush_tiny()

    def _make_plan(self) -> tuple[list, list]:
        """The update's blocks, as two lists for the two threads: a large parameter's first half
        goes to the first, everything else to the second. Each block is ``(p, g, buf, state)``
        views of the flat arrays (allocated once, updated in place) and the parameter's coupled
        L2 (typed) and decoupled decay, looked up once here instead of at every step."""
        first, second = [], []
        for name, p, g in self._params:
            l2, wd = self.l2.get(name), self.weight_decay.get(name)
            l2 = p.dtype.type(l2) if l2 else None
            if p.size >= parallel.MIN_SIZE:
                pieces = zip(parallel.halves(p.size), (first, second))
            else:
                pieces = [(slice(0, p.size), second)]
            for part, todo in pieces:
                for lo in range(part.start, part.stop, CHUNK):
                    block = slice(lo, min(lo + CHUNK, part.stop))

                    def flat(a, block=block):
                        return a.reshape(-1)[block]
                    state = {key: flat(getattr(self, key)[name]) for key in self._buffers}
                    todo.append((flat(p), flat(g), flat(self._scratch[name]), state, l2, wd))
        return first, second

    def _run(self, blocks: list) -> None:
        """(Coupled L2,) decoupled decay, then the update, of each block in turn."""
        lr = self.lr
        for p, g, buf, state, l2, wd in blocks:
            if l2 is not None:  # in place, like a backward pass that adds the penalty's gradient
                g += l2 * p
            if wd:
                p *= p.dtype.type(1 - lr * wd)
            self._update(p, g, buf, state)

    def _flush_tiny(self) -> None:
        """Set state entries below ~1e-27 in magnitude to exactly 0.

        Momentum-like buffers of weights whose gradient is (almost) always 0 — MNIST's border
        pixels — decay geometrically into denormal numbers, which x86 CPUs process ~100x slower
        (NumPy cannot switch on flush-to-zero). ``(b + T) − T`` rounds such entries to 0 and
        changes larger ones by at most ulp(T) ≈ 1e-27. Run every ``FLUSH_EVERY`` steps, so the
        cost is negligible; at momentum 0.9 an entry needs > 200 steps to fall from 1e-27 to the
        denormal range.
        """
        for key in self._buffers:
            for arr in getattr(self, key).values():
                t = arr.dtype.type(FLUSH_THRESHOLD)
                arr += t
                arr -= t

    def _update(self, p, g, buf, state: dict) -> None:
        """Update ``p`` in place from ``g``; ``buf`` is scratch, ``state`` this slice's buffers."""
        raise NotImplementedError

    # --- state -----------------------------------------------------------------------------
    _buffers: tuple[str, ...] = ()

    def state_dict(self) -> dict:
        """``{"lr", "steps", "buffers": {"<param>/<buffer>": array}}`` (copies)."""
        bufs = {}
        for key in self._buffers:
            for name, arr in getattr(self, key).items():
                bufs[f"{name}/{key}"] = arr.copy()
        return {"type": type(self).__name__, "lr": self.lr, "steps": self.steps, "buffers": bufs}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` output; shapes and names must match this model."""
        if state.get("type", type(self).__name__) != type(self).__name__:
            raise ValueError(f"optimizer state is for {state.get('type')}, "
                             f"not {type(self).__name__}")
        expected = {f"{name}/{key}" for key in self._buffers for name in getattr(self, key)}
        given = set(state["buffers"])
        if given != expected:
            raise ValueError(f"optimizer state buffers differ: missing {sorted(expected - given)}, "
                             f"unexpected {sorted(given - expected)}")
        for full, arr in state["buffers"].items():
            name, key = full.rsplit("/", 1)
            target = getattr(self, key)[name]
            if target.shape != np.shape(arr):
                raise ValueError(f"optimizer buffer {full}: shape {np.shape(arr)}, "
                                 f"expected {target.shape}")
            target[...] = arr
        # a saved state may hold lr 0 (a cosine schedule's last epoch)
        self.lr = argcheck.number("lr", state["lr"], lo=0)
        self.steps = int(state["steps"])

    def config(self) -> dict:
        """``{"type": <name in OPTIMIZERS>, "lr": ..., <parameter>: value}``: what
        ``build_optimizer`` rebuilds this optimizer from (the weight decay comes from the model)."""
        return registry.config_of(OPTIMIZERS, self, skip=NOT_CONFIG)

    def zero_grad(self) -> None:
        """Set every gradient to zero (layers overwrite gradients each backward anyway)."""
        for _, _, g in self._params:
            g.fill(0)

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr:g}{self._extra_repr()})"

    def _extra_repr(self):
        return ""


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``p −= lr·g``."""

    def _update(self, p, g, buf, state):
        np.multiply(g, p.dtype.type(self.lr), out=buf)
        p -= buf


class Momentum(Optimizer):
    """SGD with momentum (PyTorch's form): ``v = μ·v + g; p −= lr·v``.

    Nesterov: ``v = μ·v + g; p −= lr·(g + μ·v)``.
    """

    _buffers = ("velocity",)

    def __init__(self, model, lr: float, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay=None):
        super().__init__(model, lr, weight_decay)
        self.momentum = ARG_CHECKS["momentum"]("momentum", momentum)
        self.nesterov = ARG_CHECKS["nesterov"]("nesterov", nesterov)
        self.velocity = {name: np.zeros_like(p) for name, p, _ in self._params}

    def _update(self, p, g, buf, state):
        v = state["velocity"]
        mu = p.dtype.type(self.momentum)
        lr = p.dtype.type(self.lr)
        v *= mu
        v += g
        if self.nesterov:
            np.multiply(v, mu, out=buf)
            buf += g
            buf *= lr
        else:
            np.multiply(v, lr, out=buf)
        p -= buf

    def _extra_repr(self):
        return f", momentum={self.momentum}, nesterov={self.nesterov}"


class Adam(Optimizer):
    """Adam (Kingma & Ba; PyTorch's bias-corrected form) with decoupled weight decay."""

    _buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, model, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay=None):
        super().__init__(model, lr, weight_decay)
        self.betas = tuple(ARG_CHECKS["betas"]("betas", betas))
        self.eps = ARG_CHECKS["eps"]("eps", eps)
        self.exp_avg = {name: np.zeros_like(p) for name, p, _ in self._params}
        self.exp_avg_sq = {name: np.zeros_like(p) for name, p, _ in self._params}

    def _update(self, p, g, buf, state):
        b1, b2 = self.betas
        t = self.steps
        m, v = state["exp_avg"], state["exp_avg_sq"]
        dt = p.dtype.type
        m *= dt(b1)
        m += dt(1 - b1) * g
        v *= dt(b2)
        np.multiply(g, g, out=buf)
        buf *= dt(1 - b2)
        v += buf
        step_size = self.lr / (1 - b1 ** t)
        np.sqrt(v, out=buf)
        buf /= dt(math.sqrt(1 - b2 ** t))
        buf += dt(self.eps)
        np.divide(m, buf, out=buf)
        buf *= dt(step_size)
        p -= buf

    def _extra_repr(self):
        return f", betas={self.betas}, eps={self.eps}"


#: The optimizer types a config names, and the class each builds. What a type takes (and its
#: defaults) is its constructor's signature, without ``weight_decay`` (that comes from the
#: model's ``weight_decay`` map): see ``nnlib.nn.registry``.
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}
NOT_CONFIG = ("weight_decay",)


def build_optimizer(cfg, model) -> Optimizer:
    """Build from an ``OptimizerConfig`` (or a dict with its normalised fields, e.g.
    ``optimizer.config()``)."""
    params = dict(cfg) if isinstance(cfg, dict) else vars(cfg)
    return registry.build(OPTIMIZERS, params.get("type", "sgd"), model, params, skip=NOT_CONFIG,
                          what="optimizer type")
