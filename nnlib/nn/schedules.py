"""Learning-rate schedules stepped once per epoch, with PyTorch's closed forms.

``lr_at(epoch)`` is the learning rate for 0-based ``epoch``; ``step()`` (call it at the end of each
epoch) advances the epoch counter and sets ``optimizer.lr``.
"""
from __future__ import annotations

import bisect
import math
from functools import partial

from .. import argcheck
from ..errors import FieldError
from . import registry


class LRSchedule:
    """Base class: subclasses implement ``lr_at``."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> float:
        """Advance one epoch; returns the new learning rate."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)
        return self.optimizer.lr

    def get_last_lr(self) -> float:
        return self.optimizer.lr

    def config(self) -> dict:
        """``{"type": <name in SCHEDULES>, <parameter>: value, ...}``: what ``build_schedule``
        rebuilds this schedule from."""
        return registry.config_of(SCHEDULES, self)

    def state_dict(self) -> dict:
        return {"type": type(self).__name__, "base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        if state.get("type", type(self).__name__) != type(self).__name__:
            raise ValueError(f"schedule state is for {state.get('type')}, "
                             f"not {type(self).__name__}")
        self.base_lr = float(state["base_lr"])
        self.last_epoch = int(state["last_epoch"])
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                         if k not in ("optimizer", "last_epoch"))
        return f"{type(self).__name__}({args})"


def _milestones(name: str, value) -> list[int]:
    ms = [argcheck.integer(f"{name}[{i}]", v, lo=1)
          for i, v in enumerate(argcheck.listing(name, value, 1))]
    for i in range(1, len(ms)):
        if ms[i] <= ms[i - 1]:
            raise FieldError(f"{name}[{i}]", ms[i], f"must be > {ms[i - 1]} (milestones must "
                                                    f"increase)")
    return ms


#: How each constructor argument is checked (``FieldError`` naming it) and normalised: the
#: constructors apply these, and so does config parsing (``nnlib.lab.config``), at the key path.
ARG_CHECKS = {
    "step_size": partial(argcheck.integer, lo=1),
    "gamma": partial(argcheck.number, lo=0, lo_open=True),
    "milestones": _milestones,
    "T_max": partial(argcheck.integer, lo=1),
    "eta_min": partial(argcheck.number, lo=0),
}


def _checked(**args) -> list:
    return [ARG_CHECKS[name](name, value) for name, value in args.items()]


class ConstantLR(LRSchedule):
    """No decay: the learning rate stays at its initial value."""

    def lr_at(self, epoch):
        return self.base_lr


class StepLR(LRSchedule):
    """``lr = base_lr · gamma^(epoch // step_size)``."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        step_size, gamma = _checked(step_size=step_size, gamma=gamma)
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRSchedule):
    """``lr = base_lr · gamma^(number of milestones <= epoch)``."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1):
        milestones, gamma = _checked(milestones=milestones, gamma=gamma)
        super().__init__(optimizer)
        self.milestones, self.gamma = milestones, gamma

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRSchedule):
    """``lr = base_lr · gamma^epoch``."""

    def __init__(self, optimizer, gamma: float):
        (gamma,) = _checked(gamma=gamma)
        super().__init__(optimizer)
        self.gamma = gamma

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


class CosineLR(LRSchedule):
    """Cosine annealing (PyTorch's ``CosineAnnealingLR`` closed form):
    ``lr = eta_min + (base_lr − eta_min)·(1 + cos(π·epoch/T_max))/2``."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        T_max, eta_min = _checked(T_max=T_max, eta_min=eta_min)
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def lr_at(self, epoch):
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * epoch / self.T_max)) / 2


#: The schedule types a config names, and the class each builds. What a type takes (and its
#: defaults) is its constructor's signature: see ``nnlib.nn.registry``.
SCHEDULES = {"steplr": StepLR, "multisteplr": MultiStepLR, "exponentiallr": ExponentialLR,
             "cosine": CosineLR, "none": ConstantLR}


def build_schedule(cfg, optimizer) -> LRSchedule:
    """Build from a ``ScheduleConfig`` (or a dict with its normalised fields, e.g.
    ``schedule.config()``); None or type "none" gives a constant learning rate."""
    if cfg is None:
        return ConstantLR(optimizer)
    params = dict(cfg) if isinstance(cfg, dict) else vars(cfg)
    return registry.build(SCHEDULES, params.get("type") or "none", optimizer, params,
                          what="schedule type")
