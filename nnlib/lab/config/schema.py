"""Our config schema as frozen dataclasses, and ``Config`` with ``to_dict()``.

The model, optimizer and schedule sections hold the union of the fields of the types they may
name; ``MODEL_FIELDS``, ``OPTIMIZER_FIELDS`` and ``SCHEDULE_FIELDS`` say which fields each type
uses. Those fields are the parameters of the classes the registries build
(``nnlib.nn.models.MODELS``, ``nnlib.nn.optim.OPTIMIZERS``, ``nnlib.nn.schedules.SCHEDULES``), and
a type's defaults are its constructor's own (``*_DEFAULTS``, read from the signatures):
``tests/test_registry.py`` fails when a constructor gains a parameter the schema does not name,
so a new parameter changes no config key until it is written here. A field the chosen type does
not use stays None. The data section is a ``nnlib.lab.data.DataSpec``, the augmentation a
``nnlib.lab.augment.Augmentation``.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ...nn import registry
from ...nn.models import BUILD_ARGS, MODELS, conv_output_shape
from ...nn.optim import NOT_CONFIG, OPTIMIZERS
from ...nn.schedules import SCHEDULES
from ..augment import Augmentation
from ..data import SPLIT_FIELDS, DataSpec

IMAGE_SIZE = 28
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
N_CLASSES = 10

#: The fields each type uses (besides ``type``), in its constructor's parameter order; drives
#: ``to_dict()``, the "not used by" errors and overrides.
MODEL_FIELDS = {
    "mlp": ("sizes", "activation", "init", "weight_decay", "dropout", "batchnorm"),
    "cnn": ("channels", "kernels", "linear_sizes", "activation", "init", "weight_decay",
            "linear_weight_decay", "padding", "dropout", "conv_decay", "batchnorm",
            "residual_blocks"),
}
OPTIMIZER_FIELDS = {"sgd": ("lr",), "momentum": ("lr", "momentum", "nesterov"),
                    "adam": ("lr", "betas", "eps")}
SCHEDULE_FIELDS = {"steplr": ("step_size", "gamma"), "multisteplr": ("milestones", "gamma"),
                   "exponentiallr": ("gamma",), "cosine": ("T_max", "eta_min"), "none": ()}


def _defaults(table: dict, fields: dict, skip=(), target_first: bool = True) -> dict[str, dict]:
    """``{type: {field: the constructor's default or registry.REQUIRED}}``; ``target_first``:
    the constructor's first parameter is what it works on (the model, the optimizer)."""
    out = {}
    for kind, cls in table.items():
        params = registry.fields(cls, skip)
        if target_first:
            params.pop(next(iter(params)))
        out[kind] = {name: params[name] for name in fields[kind]}
    return out


MODEL_DEFAULTS = _defaults(MODELS, MODEL_FIELDS, BUILD_ARGS, target_first=False)
OPTIMIZER_DEFAULTS = _defaults(OPTIMIZERS, OPTIMIZER_FIELDS, NOT_CONFIG)
SCHEDULE_DEFAULTS = _defaults(SCHEDULES, SCHEDULE_FIELDS)


@dataclass(frozen=True)
class ModelConfig:
    """Network shape: the parameters of ``nnlib.mlp`` or ``nnlib.cnn`` (``MODEL_FIELDS``; their
    defaults are the builders', ``MODEL_DEFAULTS``).

    mlp: ``sizes`` (required), ``activation``, ``init``, ``weight_decay`` (one entry per Linear
    layer), ``dropout``, ``batchnorm``.
    cnn: ``channels``, ``kernels`` ([kh, kw] pairs), ``linear_sizes`` (required),
    ``activation``, ``init``, ``weight_decay`` (one entry per conv layer),
    ``linear_weight_decay`` (one per Linear layer), ``padding``, ``dropout``, ``conv_decay``
    ("double" decays the conv kernels as the report's code did), ``batchnorm``,
    ``residual_blocks`` (one count for every conv stage, or one per stage).
    """
    type: str = "mlp"
    sizes: list[int] | None = None
    activation: str | None = None
    init: str | None = None
    weight_decay: list[float] | None = None
    dropout: float | None = None
    batchnorm: bool | None = None
    channels: list[int] | None = None
    kernels: list[list[int]] | None = None
    linear_sizes: list[int] | None = None
    linear_weight_decay: list[float] | None = None
    padding: int | None = None
    conv_decay: str | None = None
    residual_blocks: int | list[int] | None = None

    def conv_output_shape(self) -> tuple[int, int, int]:
        """(C, H, W) after the last conv+pool stage of a cnn (its flatten size is C·H·W)."""
        if self.type != "cnn":
            raise ValueError("conv_output_shape() needs a cnn model")
        return conv_output_shape(self.channels, self.kernels, self.padding)


@dataclass(frozen=True)
class OptimizerConfig:
    """The parameters of the ``nnlib.nn.optim.OPTIMIZERS`` classes (``OPTIMIZER_FIELDS``, with
    the classes' defaults).

    sgd: ``lr``. momentum (v = μ·v + g; p −= lr·v; optional Nesterov): ``lr``, ``momentum``,
    ``nesterov``. adam: ``lr``, ``betas``, ``eps``. A config must state ``lr`` for every type.
    """
    type: str = "sgd"
    lr: float | None = None
    momentum: float | None = None
    nesterov: bool | None = None
    betas: list[float] | None = None
    eps: float | None = None


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule stepped once per epoch: the parameters of the
    ``nnlib.nn.schedules.SCHEDULES`` classes (``SCHEDULE_FIELDS``).

    steplr: ``step_size``, ``gamma``. multisteplr: ``milestones``, ``gamma``. exponentiallr:
    ``gamma``. cosine: ``T_max`` (defaults to train.epochs), ``eta_min``. none: no fields.
    """
    type: str = "none"
    step_size: int | None = None
    gamma: float | None = None
    milestones: list[int] | None = None
    T_max: int | None = None
    eta_min: float | None = None


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """train.early_stopping: stop after ``patience`` epochs without a validation-accuracy
    improvement > ``min_delta``; the parameters of ``nnlib.lab.callbacks.EarlyStopping`` and
    its defaults (a test keeps them equal; its ``monitor`` stays the validation accuracy, the
    report's criterion)."""
    patience: int = 2
    restore_best: bool = True
    min_delta: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """``eval_every``: iterations between validation evaluations (None: at epoch end only).

    ``empty_final_step``: end each epoch whose sample count is a multiple of ``batch_size`` with
    one update from a zero gradient (only momentum and weight decay move the weights). The
    report's runner ran ``N // batch_size + 1`` iterations, so its last batch was empty then;
    a config in the report's schema sets it, ours default to False.
    """
    batch_size: int = 32
    epochs: int = 5
    eval_every: int | None = None
    seed: int = 0
    early_stopping: EarlyStoppingConfig | None = None
    augmentation: Augmentation | None = None
    empty_final_step: bool = False


@dataclass(frozen=True)
class Config:
    """A whole experiment. ``to_dict()`` is our schema (a run's key hashes it)."""
    model: ModelConfig
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataSpec = field(default_factory=DataSpec)

    def to_dict(self) -> dict[str, Any]:
        """Normalised, JSON-serialisable dict in a fixed key order (fresh copies of lists)."""
        m, o, s, d = self.model, self.optimizer, self.schedule, self.data
        return {
            "model": {"type": m.type, **_pick(m, MODEL_FIELDS[m.type])},
            "optimizer": {"type": o.type, **_pick(o, OPTIMIZER_FIELDS[o.type])},
            "schedule": {"type": s.type, **_pick(s, SCHEDULE_FIELDS[s.type])},
            "train": dataclasses.asdict(self.train),  # nested dataclasses → dicts
            "data": {"split": d.split, **_pick(d, SPLIT_FIELDS[d.split])},
        }

    def __hash__(self) -> int:  # the dataclass's own would hash the (unhashable) lists
        return hash(json.dumps(self.to_dict(), sort_keys=True))


def _pick(obj, names) -> dict[str, Any]:
    return {k: copy.deepcopy(getattr(obj, k)) for k in names}
