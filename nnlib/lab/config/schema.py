"""Our config schema as frozen dataclasses, and ``Config`` with ``to_dict()`` and ``key()``.

The model, optimizer and schedule sections are generated from the registries of what they
build (``nnlib.nn.models.MODELS``, ``nnlib.nn.optim.OPTIMIZERS``, ``nnlib.nn.schedules.SCHEDULES``):
their fields are the constructors' parameters and their defaults the constructors' defaults, so
adding a type or a parameter there is all it takes. A field the chosen type does not use keeps
its default (None where the constructor has none). The data section is a
``nnlib.lab.data.DataSpec``, the augmentation a ``nnlib.lab.augment.Augmentation``.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ...nn import registry
from ...nn.models import BUILD_ARGS, MODELS, conv_output_shape
from ...nn.optim import NOT_CONFIG, OPTIMIZERS
from ...nn.schedules import SCHEDULES
from ..augment import Augmentation
from ..callbacks import EarlyStopping
from ..data import SPLIT_FIELDS, DataSpec

IMAGE_SIZE = 28
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
N_CLASSES = 10


def _fields_by_type(table: dict, skip=(), target_first: bool = True) -> dict[str, dict]:
    """``{type: {field: default}}``; ``target_first``: the constructor's first parameter is what
    it works on (the model, the optimizer), not a config field."""
    return {kind: dict(list(registry.fields(cls, skip).items())[1 if target_first else 0:])
            for kind, cls in table.items()}


MODEL_DEFAULTS = _fields_by_type(MODELS, BUILD_ARGS, target_first=False)
OPTIMIZER_DEFAULTS = _fields_by_type(OPTIMIZERS, NOT_CONFIG)
SCHEDULE_DEFAULTS = _fields_by_type(SCHEDULES)
# Fields each type uses (besides "type"); drives to_dict(), "not used by" errors and overrides.
MODEL_FIELDS = {k: tuple(v) for k, v in MODEL_DEFAULTS.items()}
OPTIMIZER_FIELDS = {k: tuple(v) for k, v in OPTIMIZER_DEFAULTS.items()}
SCHEDULE_FIELDS = {k: tuple(v) for k, v in SCHEDULE_DEFAULTS.items()}


def _describe(by_type: dict[str, dict]) -> str:
    """One line per type: its fields with their defaults (what ``help()`` shows)."""
    def show(default):
        return "required" if default is registry.REQUIRED else repr(default)
    return "\n".join(f"    {kind}: " + (", ".join(f"{k}={show(d)}" for k, d in fields.items())
                                          or "(no fields)")
                     for kind, fields in by_type.items())


def _section(name: str, by_type: dict[str, dict], kind_default: str, doc: str,
             namespace: dict | None = None):
    """A frozen dataclass with ``type`` and the union of the types' fields. Config parsing fills
    in the fields of the chosen type (given or the type's default); the others stay None."""
    names = list(dict.fromkeys(k for fields in by_type.values() for k in fields))
    spec: list = [("type", str, field(default=kind_default))]
    spec += [(key, Any, field(default=None)) for key in names]
    cls = dataclasses.make_dataclass(name, spec, frozen=True, namespace=namespace or {})
    cls.__doc__ = f"{doc}\n\nFields by type (with the class's defaults):\n{_describe(by_type)}"
    cls.__module__ = __name__
    return cls


def _conv_output_shape(self) -> tuple[int, int, int]:
    """(C, H, W) after the last conv+pool stage of a cnn (its flatten size is C·H·W)."""
    if self.type != "cnn":
        raise ValueError("conv_output_shape() needs a cnn model")
    return conv_output_shape(self.channels, self.kernels, self.padding)


ModelConfig = _section(
    "ModelConfig", MODEL_DEFAULTS, "mlp",
    "Network shape: the parameters of ``nnlib.mlp`` (``sizes``, ...) or ``nnlib.cnn``\n"
    "(``channels``, ``kernels``, ``padding``, ``linear_sizes``, ...). ``weight_decay`` has one\n"
    "entry per Linear layer (mlp) or per conv layer (cnn); ``linear_weight_decay`` one per Linear\n"
    "layer of a cnn; ``conv_decay`` \"double\" decays the conv kernels as the report's code did.",
    {"conv_output_shape": _conv_output_shape})
OptimizerConfig = _section(
    "OptimizerConfig", OPTIMIZER_DEFAULTS, "sgd",
    "sgd, momentum (v = μ·v + g; p -= lr·v; optional Nesterov) or adam: the parameters of the\n"
    "``nnlib.nn.optim.OPTIMIZERS`` classes.")
ScheduleConfig = _section(
    "ScheduleConfig", SCHEDULE_DEFAULTS, "none",
    "Learning-rate schedule stepped once per epoch: the parameters of the\n"
    "``nnlib.nn.schedules.SCHEDULES`` classes (cosine's ``T_max`` defaults to train.epochs).")


# train.early_stopping: the parameters of the EarlyStopping callback it builds (its ``monitor``
# stays the validation accuracy, the report's criterion).
EARLY_STOPPING_DEFAULTS = registry.fields(EarlyStopping, skip=("monitor",))
EarlyStoppingConfig = dataclasses.make_dataclass(
    "EarlyStoppingConfig",
    [(k, Any, field(default=None if d is registry.REQUIRED else d))
     for k, d in EARLY_STOPPING_DEFAULTS.items()], frozen=True)
EarlyStoppingConfig.__module__ = __name__
EarlyStoppingConfig.__doc__ = ("Stop after ``patience`` epochs without a validation improvement "
                               "> ``min_delta``: the parameters of "
                               "``nnlib.lab.callbacks.EarlyStopping``.")


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
    log_iter: int = 100
    eval_every: int | None = None
    seed: int = 0
    early_stopping: EarlyStoppingConfig | None = None
    augmentation: Augmentation | None = None
    empty_final_step: bool = False


@dataclass(frozen=True)
class Config:
    """A whole experiment. ``to_dict()`` is our schema; ``key()`` a short stable hash of it."""
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

    def key(self, length: int = 12) -> str:
        """First ``length`` hex digits of sha256 over the canonical JSON of ``to_dict()``."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]

    def __hash__(self) -> int:
        return hash(self.key())


def _pick(obj, names) -> dict[str, Any]:
    return {k: copy.deepcopy(getattr(obj, k)) for k in names}
