"""Experiment configs: read, check and normalise JSON into frozen dataclasses.

Two input schemas are accepted and give the same ``Config``:

* the seed report's, unchanged (``configs/seed/*.json``): top-level ``model``, ``optimizer``,
  ``lr_scheduler``, ``metric``, ``"loss function"``, ``train``; keys ``size_list``, ``act_func``,
  ``weight_decay_list``, ``channel_list``, ``kernel_list``, ``linear_size_list``,
  ``linear_weight_decay_list``, ``init_lr``, ``epoch``; type names in any case ("Momentum",
  "stepLR", "CNN"). Such a config (recognised by any of those report-only keys, or by ``metric`` /
  ``"loss function"``) defaults to what the report's code did: init "normal0.1" (N(0,1)·0.1),
  ``data.split`` "report" and ``train.empty_final_step`` true. One report-only key is enough
  (e.g. ``"epoch"`` instead of ``"epochs"``); state the three fields to override them;
* our own, which is what ``Config.to_dict()`` writes::

    {"model":     {"type": "mlp", "sizes": [784, 1000, 10], "activation": "leakyrelu",
                   "init": "he", "weight_decay": [0.001, 0.001], "dropout": 0.0},
     "optimizer": {"type": "momentum", "lr": 0.1, "momentum": 0.9, "nesterov": false},
     "schedule":  {"type": "steplr", "step_size": 2, "gamma": 0.1},
     "train":     {"batch_size": 32, "epochs": 5, "log_iter": 100, "eval_every": null, "seed": 0,
                   "early_stopping": null, "augmentation": null},
     "data":      {"split": "random", "n_train": null, "n_valid": 10000, "split_seed": 0}}

  A cnn model has ``channels``, ``kernels`` ([kh, kw] pairs; a bare int k means [k, k]),
  ``padding``, ``linear_sizes``, ``weight_decay`` (one per conv layer) and
  ``linear_weight_decay`` (one per Linear layer) instead of ``sizes``. ``lr_scheduler`` is also
  accepted for ``schedule`` (alone it does not switch to the report's init default).

``data.split`` is "random" (``n_valid`` images held out at random by ``split_seed``) or "report"
(the lab report's own split, reproduced exactly: see ``nnlib.lab.data.report_split_indices``). A
config in the report's schema defaults to "report", ours to "random". A cnn's ``conv_decay`` is
"decoupled" (default: ``W *= 1 − lr·wd`` before each update, as for every layer) or "double" (the
report's Conv2D as it ran: the same decay *and* ``wd·W`` added to the kernel gradient, which then
also feeds the momentum).

Either schema may use the other's key names and our additions (init, dropout, padding, seed,
eval_every, early_stopping, augmentation, adam, cosine, data). A weight-decay list may be given as
one number, meaning the same value for every layer; missing means zeros.

``to_dict()`` keeps only the fields the chosen ``type`` uses (optimizer: sgd → lr; momentum → lr,
momentum, nesterov; adam → lr, betas, eps. schedule: steplr → step_size, gamma; multisteplr →
milestones, gamma; exponentiallr → gamma; cosine → T_max, eta_min). In the dataclasses the unused
optimizer fields keep their defaults and the unused schedule fields are None. Giving a field the
type does not use is an error (it would be silently ignored otherwise).

Every mistake raises ``ConfigError`` (a ``ValueError``) with a one-line message naming the key
path as written in the input, the bad value and what is allowed, e.g.
``configs/x.json: lr_scheduler.type: 'steplr2' is not one of steplr, multisteplr, ...``.
Build dataclasses through ``load_config`` / ``with_overrides``: direct construction is not checked.
The list fields are plain lists (compare equal to ``[784, 1000, 10]``); do not mutate them.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .augment import MODES as AUG_MODES
from .data import N_TRAIN_IMAGES as N_TRAIN_TOTAL
from .data import REPORT_TRAIN_START, SPLITS
from ..nn.models import CONV_DECAYS

__all__ = [
    "IMAGE_SIZE",
    "N_CLASSES",
    "N_PIXELS",
    "N_TRAIN_TOTAL",
    "AugmentationConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "EarlyStoppingConfig",
    "ModelConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "TrainConfig",
    "conv_output_shape",
    "load_config",
    "save_config",
    "with_overrides",
]

IMAGE_SIZE = 28
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
N_CLASSES = 10

ACTIVATIONS = ("relu", "leakyrelu", "sigmoid", "tanh")
INITS = ("normal0.1", "he", "xavier")
OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("steplr", "multisteplr", "exponentiallr", "cosine", "none")
MODELS = ("mlp", "cnn")

# Fields each type uses (besides "type"); drives to_dict(), "not used by" errors and overrides.
OPTIMIZER_FIELDS = {"sgd": ("lr",), "momentum": ("lr", "momentum", "nesterov"),
                    "adam": ("lr", "betas", "eps")}
SCHEDULE_FIELDS = {"steplr": ("step_size", "gamma"), "multisteplr": ("milestones", "gamma"),
                   "exponentiallr": ("gamma",), "cosine": ("T_max", "eta_min"), "none": ()}
MODEL_FIELDS = {"mlp": ("sizes", "activation", "init", "weight_decay", "dropout"),
                "cnn": ("channels", "kernels", "padding", "linear_sizes", "activation", "init",
                        "weight_decay", "linear_weight_decay", "conv_decay", "dropout")}
DATA_FIELDS = {"random": ("n_train", "n_valid", "split_seed"), "report": ("n_train", "n_valid")}

# canonical key -> aliases accepted in input (the report's names first)
_TOP_KEYS = {"model": (), "optimizer": (), "schedule": ("lr_scheduler",), "train": (),
             "data": (), "metric": (), "loss": ("loss function", "loss_function")}
_MODEL_KEYS = {"type": (), "sizes": ("size_list",), "channels": ("channel_list",),
               "kernels": ("kernel_list",), "padding": (), "linear_sizes": ("linear_size_list",),
               "activation": ("act_func",), "init": (), "weight_decay": ("weight_decay_list",),
               "linear_weight_decay": ("linear_weight_decay_list",), "conv_decay": (),
               "dropout": ()}
_OPT_KEYS = {"type": (), "lr": ("init_lr",), "momentum": (), "nesterov": (), "betas": (),
             "eps": ()}
_SCHED_KEYS = {"type": (), "step_size": (), "gamma": (), "milestones": (), "T_max": (),
               "eta_min": ()}
_TRAIN_KEYS = {"batch_size": (), "epochs": ("epoch",), "log_iter": (), "eval_every": (),
               "seed": (), "early_stopping": (), "augmentation": (), "empty_final_step": ()}
_ES_KEYS = {"patience": (), "restore_best": (), "min_delta": ()}
_AUG_KEYS = {"mode": (), "rotate": (), "shift": (), "p": ()}
_DATA_KEYS = {"split": (), "n_train": (), "n_valid": (), "split_seed": ()}
# Names people reach for that difflib would not match: offered as "did you mean".
_SYNONYMS = {"learning_rate": "lr", "learningrate": "lr", "scheduler": "schedule",
             "lr_schedule": "schedule", "activation_function": "activation", "act": "activation",
             "wd": "weight_decay", "layers": "sizes", "hidden_sizes": "sizes",
             "n_epochs": "epochs", "num_epochs": "epochs", "batchsize": "batch_size"}
_SECTIONS = {"model": _MODEL_KEYS, "optimizer": _OPT_KEYS, "schedule": _SCHED_KEYS,
             "train": _TRAIN_KEYS, "data": _DATA_KEYS}
_REPORT_MARKERS = {"model": ("size_list", "channel_list", "kernel_list", "linear_size_list",
                             "act_func", "weight_decay_list", "linear_weight_decay_list"),
                   "optimizer": ("init_lr",), "train": ("epoch",)}


class ConfigError(ValueError):
    """A config mistake; the message is one line: ``key.path: value problem``.

    ``path`` holds the key path (or None) for programs that want it.
    """

    def __init__(self, message: str, path: str | None = None):
        message = " ".join(str(message).split("\n"))
        super().__init__(message)
        self.path = path


# ----------------------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class ModelConfig:
    """Network shape. mlp uses ``sizes``; cnn uses channels/kernels/padding/linear_sizes.

    ``weight_decay`` has one entry per Linear layer (mlp) or per conv layer (cnn);
    ``linear_weight_decay`` one per Linear layer of a cnn. ``conv_decay`` (cnn): "decoupled",
    or "double" for the report's conv layers (decoupled decay plus the L2 term in the gradient).
    Unused fields are None.
    """
    type: str = "mlp"
    sizes: list[int] | None = None
    channels: list[int] | None = None
    kernels: list[list[int]] | None = None
    padding: int = 0
    linear_sizes: list[int] | None = None
    activation: str = "relu"
    init: str = "he"
    weight_decay: list[float] = field(default_factory=list)
    linear_weight_decay: list[float] | None = None
    conv_decay: str | None = None
    dropout: float = 0.0

    def conv_output_shape(self) -> tuple[int, int, int]:
        """(C, H, W) after the last conv+pool stage of a cnn (its flatten size is C·H·W)."""
        if self.type != "cnn":
            raise ValueError("conv_output_shape() needs a cnn model")
        return conv_output_shape(self.channels, self.kernels, self.padding)


@dataclass(frozen=True)
class OptimizerConfig:
    """sgd, momentum (v = μ·v + g; p -= lr·v; optional Nesterov) or adam."""
    type: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule stepped once per epoch; fields the type does not use are None.

    cosine: ``T_max`` in epochs (defaults to train.epochs), ``eta_min`` the floor.
    """
    type: str = "none"
    step_size: int | None = None
    gamma: float | None = None
    milestones: list[int] | None = None
    T_max: int | None = None
    eta_min: float | None = None


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Stop after ``patience`` evaluations without a validation improvement > ``min_delta``."""
    patience: int
    restore_best: bool = True
    min_delta: float = 0.0


@dataclass(frozen=True)
class AugmentationConfig:
    """Random rotation (±rotate degrees) then shift (±shift·28 px), each with probability p.

    mode "append": one augmented copy per image is added to the training set (the report's
    intent: the originals plus a copy each, 2N samples); "overwrite": what the report's code ran
    (its copies overwrote the originals): each image augmented once and that set used twice, 2N
    samples and no clean originals; "online": each batch is augmented afresh. "append" with
    p = 0 is the control for both: every original image twice.
    """
    mode: str = "append"
    rotate: float = 10.0
    shift: float = 0.1
    p: float = 0.5


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
    augmentation: AugmentationConfig | None = None
    empty_final_step: bool = False


@dataclass(frozen=True)
class DataConfig:
    """``split`` "random": ``n_valid`` images held out of the 60,000 (seeded by ``split_seed``),
    ``n_train`` of the rest used for training (None: all of them, 50,000 with the default
    hold-out). "report": the lab report's exact split (validation = the first ``n_valid`` <=
    10,000 positions of its permutation, training = ``n_train`` positions from 10,000 on)."""
    n_train: int | None = None
    n_valid: int = 10_000
    split_seed: int = 0
    split: str = "random"


@dataclass(frozen=True)
class Config:
    """A whole experiment. ``to_dict()`` is our schema; ``key()`` a short stable hash of it."""
    model: ModelConfig
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict[str, Any]:
        """Normalised, JSON-serialisable dict in a fixed key order (fresh copies of lists)."""
        m, o, s, d = self.model, self.optimizer, self.schedule, self.data
        return {
            "model": {"type": m.type, **_pick(m, MODEL_FIELDS[m.type])},
            "optimizer": {"type": o.type, **_pick(o, OPTIMIZER_FIELDS[o.type])},
            "schedule": {"type": s.type, **_pick(s, SCHEDULE_FIELDS[s.type])},
            "train": dataclasses.asdict(self.train),  # nested dataclasses → dicts
            "data": {"split": d.split, **_pick(d, DATA_FIELDS[d.split])},
        }

    def key(self, length: int = 12) -> str:
        """First ``length`` hex digits of sha256 over the canonical JSON of ``to_dict()``."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]

    def __hash__(self) -> int:
        return hash(self.key())


def _pick(obj, names) -> dict[str, Any]:
    return {k: copy.deepcopy(getattr(obj, k)) for k in names}


# ----------------------------------------------------------------------------- value checks
def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(path: str, value: Any, rule: str):
    raise ConfigError(f"{path}: {_fmt(value)} {rule}", path)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int(value, path, lo=None):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(path, value, "must be an integer")
    if lo is not None and value < lo:
        _fail(path, value, f"must be >= {lo}")
    return value


def _float(value, path, lo=None, hi=None, lo_open=False, hi_open=False):
    if not _is_number(value) or not math.isfinite(value):
        _fail(path, value, "must be a finite number")
    value = float(value)
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and (value >= hi if hi_open else value > hi)
    if too_low or too_high:
        if hi is None:
            _fail(path, value, f"must be {'>' if lo_open else '>='} {lo:g}")
        if lo is None:
            _fail(path, value, f"must be {'<' if hi_open else '<='} {hi:g}")
        _fail(path, value, f"must be in {'(' if lo_open else '['}{lo:g}, {hi:g}"
                           f"{')' if hi_open else ']'}")
    return value


def _bool(value, path):
    if not isinstance(value, bool):
        _fail(path, value, "must be true or false")
    return value


def _list(value, path, min_len=1):
    if not isinstance(value, (list, tuple)):
        _fail(path, value, "must be a list")
    if len(value) < min_len:
        plural = "y" if min_len == 1 else "ies"
        _fail(path, list(value), f"must have at least {min_len} entr{plural}")
    return list(value)


def _squash(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


def _choice(value, path, options, aliases=None):
    """Case-, space-, '_'- and '-'-insensitive choice; returns the canonical name."""
    if not isinstance(value, str):
        _fail(path, value, f"must be a string, one of {', '.join(options)}")
    key = _squash(value)
    table = {_squash(o): o for o in options}
    table.update(aliases or {})
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.6)
    hint = f" (did you mean {table[close[0]]!r}?)" if close else ""
    _fail(path, value, f"is not one of {', '.join(options)}{hint}")


def _suggest(name: str, options) -> str:
    """' (did you mean 'x'?)' for a close or synonymous option, else ''."""
    options = list(options)
    guess = _SYNONYMS.get(name.lower())
    if guess not in options:
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
        guess = close[0] if close else None
    return f" (did you mean {guess!r}?)" if guess else ""


class _Section:
    """A dict read with aliases: rejects unknown and doubled keys, remembers the names used."""

    def __init__(self, raw, path: str, keys: dict[str, tuple[str, ...]]):
        if not isinstance(raw, dict):
            _fail(path or "config", raw, "must be a JSON object")
        self.path = path
        lookup = {k: k for k in keys}
        lookup.update({a: k for k, aliases in keys.items() for a in aliases})
        self.values: dict[str, Any] = {}
        self.names: dict[str, str] = {}
        unknown = []
        for name, value in raw.items():
            canon = lookup.get(name)
            if canon is None:
                unknown.append(name)
            elif canon in self.values:
                raise ConfigError(f"{_join(path, name)}: given twice (also as "
                                  f"{self.names[canon]!r})", _join(path, name))
            else:
                self.values[canon], self.names[canon] = value, name
        if unknown:
            hints = []
            for name in unknown:
                hints.append(f"{name!r}{_suggest(str(name), lookup)}")
            where = path or "config"
            raise ConfigError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(hints)}; allowed: {', '.join(lookup)}",
                              _join(path, str(unknown[0])))

    def has(self, key):
        return key in self.values

    def where(self, key):
        """Key path as the user wrote it."""
        return _join(self.path, self.names.get(key, key))

    def get(self, key, default=None):
        return self.values.get(key, default)

    def require(self, key, rule):
        if key not in self.values:
            raise ConfigError(f"{self.where(key)}: missing (required; {rule})", self.where(key))
        return self.values[key]

    def only_for(self, kind: str, kind_name: str, used: dict[str, tuple[str, ...]],
                 kind_key: str = "type"):
        """Reject keys that the chosen type (the value of ``kind_key``) does not use."""
        for key in self.values:
            if key != kind_key and key not in used[kind]:
                users = [t for t, fields in used.items() if key in fields]
                raise ConfigError(f"{self.where(key)}: {_fmt(self.values[key])} is not used by "
                                  f"{kind_name} {kind!r} (only by {', '.join(users)})",
                                  self.where(key))


# ----------------------------------------------------------------------------- sections
def _conv_pool(h, w, kernel, padding):
    """Spatial size after conv (stride 1) + 2×2 max-pool (floor); None when too small."""
    ch, cw = h + 2 * padding - kernel[0] + 1, w + 2 * padding - kernel[1] + 1
    return None if ch < 2 or cw < 2 else (ch // 2, cw // 2)


def conv_output_shape(channels, kernels, padding=0, size=(IMAGE_SIZE, IMAGE_SIZE)):
    """(C, H, W) after stages of conv (stride 1, ``padding``) + 2×2 max-pool (floor).

    ``kernels`` holds [kh, kw] pairs or ints. Raises ValueError when a stage gets too small.
    E.g. channels [1, 6, 16], kernels 5, 5 → (16, 4, 4); [1, 32, 64], 3, 3, padding 1 → (64, 7, 7).
    """
    h, w = size
    for i, k in enumerate(kernels):
        k = (k, k) if isinstance(k, int) else tuple(k)
        out = _conv_pool(h, w, k, padding)
        if out is None:
            raise ValueError(f"kernel {k[0]}×{k[1]} of conv stage {i + 1} is too big for its "
                             f"{h}×{w} input (padding {padding})")
        h, w = out
    return channels[-1], h, w


def _sizes(value, path, min_len):
    sizes = _list(value, path, min_len)
    return [_int(v, f"{path}[{i}]", lo=1) for i, v in enumerate(sizes)]


def _decays(sec: _Section, key: str, n: int, what: str):
    path = sec.where(key)
    value = sec.get(key)
    if value is None:
        return [0.0] * n
    if _is_number(value):
        return [_float(value, path, lo=0)] * n
    values = _list(value, path, min_len=0)
    if len(values) != n:
        _fail(path, values, f"must have {n} entr{'y' if n == 1 else 'ies'} (one per {what})")
    return [_float(v, f"{path}[{i}]", lo=0) for i, v in enumerate(values)]


def _parse_model(raw, path, report: bool) -> ModelConfig:
    sec = _Section(raw, path, _MODEL_KEYS)
    kind = _choice(sec.get("type", "mlp"), sec.where("type"), MODELS)
    sec.only_for(kind, "model type", MODEL_FIELDS)
    act = _choice(sec.get("activation", "relu"), sec.where("activation"), ACTIVATIONS,
                  {"lrelu": "leakyrelu"})
    init = _choice(sec.get("init", "normal0.1" if report else "he"), sec.where("init"), INITS,
                   {"normal": "normal0.1", "kaiming": "he", "glorot": "xavier"})
    dropout = _float(sec.get("dropout", 0.0), sec.where("dropout"), lo=0, hi=1, hi_open=True)
    if kind == "mlp":
        p = sec.where("sizes")
        sizes = _sizes(sec.require("sizes", "e.g. [784, 1000, 10]"), p, 2)
        if sizes[0] != N_PIXELS:
            _fail(f"{p}[0]", sizes[0], f"must be {N_PIXELS} (28×28 MNIST pixels)")
        if sizes[-1] != N_CLASSES:
            _fail(f"{p}[{len(sizes) - 1}]", sizes[-1], f"must be {N_CLASSES} (MNIST classes)")
        wd = _decays(sec, "weight_decay", len(sizes) - 1, "Linear layer")
        return ModelConfig(type="mlp", sizes=sizes, activation=act, init=init, weight_decay=wd,
                           dropout=dropout)

    p = sec.where("channels")
    channels = _sizes(sec.require("channels", "e.g. [1, 6, 16]"), p, 2)
    if channels[0] != 1:
        _fail(f"{p}[0]", channels[0], "must be 1 (MNIST images have one channel)")
    p = sec.where("kernels")
    raw_kernels = _list(sec.require("kernels", "e.g. [[5, 5], [5, 5]]"), p, 1)
    if len(raw_kernels) != len(channels) - 1:
        _fail(p, raw_kernels, f"must have {len(channels) - 1} entries (one per conv layer, "
                              f"len({sec.where('channels')}) - 1)")
    kernels = []
    for i, k in enumerate(raw_kernels):
        if isinstance(k, (list, tuple)):
            if len(k) != 2:
                _fail(f"{p}[{i}]", k, "must be an int or an [height, width] pair")
            kernels.append([_int(v, f"{p}[{i}][{j}]", lo=1) for j, v in enumerate(k)])
        else:
            k = _int(k, f"{p}[{i}]", lo=1)
            kernels.append([k, k])
    padding = _int(sec.get("padding", 0), sec.where("padding"), lo=0)
    h = w = IMAGE_SIZE
    for i, k in enumerate(kernels):
        out = _conv_pool(h, w, k, padding)
        if out is None:
            _fail(f"{p}[{i}]", k, f"is too big for the {h}×{w} input of conv stage {i + 1} "
                                  f"(padding {padding}; the 2×2 pool needs a conv output of at "
                                  f"least 2×2)")
        h, w = out
    c = channels[-1]
    p = sec.where("linear_sizes")
    linear = _sizes(sec.require("linear_sizes", f"e.g. [{c * h * w}, 128, 10]"), p, 2)
    if linear[0] != c * h * w:
        _fail(f"{p}[0]", linear[0], f"must be {c * h * w} (flattened conv output: {c} channels "
                                    f"× {h}×{w} after {len(kernels)} conv+pool stages)")
    if linear[-1] != N_CLASSES:
        _fail(f"{p}[{len(linear) - 1}]", linear[-1], f"must be {N_CLASSES} (MNIST classes)")
    conv_decay = _choice(sec.get("conv_decay", "decoupled"), sec.where("conv_decay"),
                         CONV_DECAYS)
    return ModelConfig(
        type="cnn", channels=channels, kernels=kernels, padding=padding, linear_sizes=linear,
        activation=act, init=init, dropout=dropout, conv_decay=conv_decay,
        weight_decay=_decays(sec, "weight_decay", len(kernels), "conv layer"),
        linear_weight_decay=_decays(sec, "linear_weight_decay", len(linear) - 1, "Linear layer"))


def _parse_optimizer(raw, path) -> OptimizerConfig:
    sec = _Section(raw, path, _OPT_KEYS)
    kind = _choice(sec.require("type", f"one of {', '.join(OPTIMIZERS)}"), sec.where("type"),
                   OPTIMIZERS, {"sgdmomentum": "momentum", "nesterov": "momentum"})
    sec.only_for(kind, "optimizer type", OPTIMIZER_FIELDS)
    lr = _float(sec.require("lr", "a number > 0"), sec.where("lr"), lo=0, lo_open=True)
    out = {"type": kind, "lr": lr}
    if sec.has("momentum"):
        out["momentum"] = _float(sec.get("momentum"), sec.where("momentum"), lo=0, hi=1,
                                 hi_open=True)
    if sec.has("nesterov"):
        out["nesterov"] = _bool(sec.get("nesterov"), sec.where("nesterov"))
    if sec.has("betas"):
        p = sec.where("betas")
        betas = _list(sec.get("betas"), p, 2)
        if len(betas) != 2:
            _fail(p, betas, "must be a pair [beta1, beta2]")
        out["betas"] = [_float(b, f"{p}[{i}]", lo=0, hi=1, hi_open=True)
                        for i, b in enumerate(betas)]
    if sec.has("eps"):
        out["eps"] = _float(sec.get("eps"), sec.where("eps"), lo=0, lo_open=True)
    return OptimizerConfig(**out)


def _parse_schedule(raw, path, epochs: int) -> ScheduleConfig:
    if raw is None:
        return ScheduleConfig()
    sec = _Section(raw, path, _SCHED_KEYS)
    t = sec.get("type", "none")
    kind = "none" if t is None else _choice(
        t, sec.where("type"), SCHEDULES,
        {"step": "steplr", "multistep": "multisteplr", "exponential": "exponentiallr",
         "cosineannealing": "cosine", "cosineannealinglr": "cosine"})
    sec.only_for(kind, "schedule type", SCHEDULE_FIELDS)
    out: dict[str, Any] = {"type": kind}
    if kind in ("steplr", "multisteplr", "exponentiallr"):
        gamma = sec.require("gamma", "a number > 0") if kind == "exponentiallr" \
            else sec.get("gamma", 0.1)
        out["gamma"] = _float(gamma, sec.where("gamma"), lo=0, lo_open=True)
    if kind == "steplr":
        out["step_size"] = _int(sec.require("step_size", "an integer >= 1 (epochs)"),
                                sec.where("step_size"), lo=1)
    if kind == "multisteplr":
        p = sec.where("milestones")
        ms = _list(sec.require("milestones", "increasing epochs, e.g. [5, 10]"), p, 1)
        ms = [_int(v, f"{p}[{i}]", lo=1) for i, v in enumerate(ms)]
        for i in range(1, len(ms)):
            if ms[i] <= ms[i - 1]:
                _fail(f"{p}[{i}]", ms[i], f"must be > {ms[i - 1]} (milestones must increase)")
        out["milestones"] = ms
    if kind == "cosine":
        out["T_max"] = _int(sec.get("T_max", epochs), sec.where("T_max"), lo=1)
        out["eta_min"] = _float(sec.get("eta_min", 0.0), sec.where("eta_min"), lo=0)
    return ScheduleConfig(**out)


def _parse_train(raw, path, report: bool) -> TrainConfig:
    sec = _Section({} if raw is None else raw, path, _TRAIN_KEYS)
    out: dict[str, Any] = {"empty_final_step": _bool(sec.get("empty_final_step", report),
                                                     sec.where("empty_final_step"))}
    for key in ("batch_size", "epochs", "log_iter"):
        if sec.has(key):
            out[key] = _int(sec.get(key), sec.where(key), lo=1)
    if sec.get("eval_every") is not None:
        out["eval_every"] = _int(sec.get("eval_every"), sec.where("eval_every"), lo=1)
    if sec.has("seed"):
        out["seed"] = _int(sec.get("seed"), sec.where("seed"), lo=0)
    es = sec.get("early_stopping")
    if es is not None and es is not False:
        p = sec.where("early_stopping")
        if not isinstance(es, dict):
            _fail(p, es, 'must be null or an object like {"patience": 2}')
        es_sec = _Section(es, p, _ES_KEYS)
        out["early_stopping"] = EarlyStoppingConfig(
            patience=_int(es_sec.require("patience", "an integer >= 1"),
                          es_sec.where("patience"), lo=1),
            restore_best=_bool(es_sec.get("restore_best", True), es_sec.where("restore_best")),
            min_delta=_float(es_sec.get("min_delta", 0.0), es_sec.where("min_delta"), lo=0))
    aug = sec.get("augmentation")
    if aug is not None and aug is not False:
        p = sec.where("augmentation")
        if not isinstance(aug, dict):
            _fail(p, aug, 'must be null or an object like {"mode": "append"}')
        a = _Section(aug, p, _AUG_KEYS)
        out["augmentation"] = AugmentationConfig(
            mode=_choice(a.get("mode", "append"), a.where("mode"), AUG_MODES,
                         {"asrun": "overwrite"}),
            rotate=_float(a.get("rotate", 10.0), a.where("rotate"), lo=0, hi=180),
            shift=_float(a.get("shift", 0.1), a.where("shift"), lo=0, hi=0.5, hi_open=True),
            p=_float(a.get("p", 0.5), a.where("p"), lo=0, hi=1))
    return TrainConfig(**out)


def _parse_data(raw, path, report: bool) -> DataConfig:
    sec = _Section({} if raw is None else raw, path, _DATA_KEYS)
    split = _choice(sec.get("split", "report" if report else "random"), sec.where("split"), SPLITS)
    sec.only_for(split, "data split", DATA_FIELDS, kind_key="split")
    n_valid = _int(sec.get("n_valid", 10_000), sec.where("n_valid"), lo=1)
    if split == "report" and n_valid > REPORT_TRAIN_START:
        _fail(sec.where("n_valid"), n_valid, f"must be <= {REPORT_TRAIN_START} with split "
                                             f"'report' (its validation images are the first "
                                             f"n_valid of its first {REPORT_TRAIN_START})")
    if n_valid >= N_TRAIN_TOTAL:
        _fail(sec.where("n_valid"), n_valid, f"must be < {N_TRAIN_TOTAL} (MNIST training images)")
    n_train = sec.get("n_train")
    if n_train is not None:
        n_train = _int(n_train, sec.where("n_train"), lo=1)
        most, why = ((N_TRAIN_TOTAL - REPORT_TRAIN_START,
                      f"split 'report' trains on positions {REPORT_TRAIN_START} on")
                     if split == "report" else
                     (N_TRAIN_TOTAL - n_valid, f"{N_TRAIN_TOTAL} minus n_valid {n_valid}"))
        if n_train > most:
            _fail(sec.where("n_train"), n_train, f"must be <= {most} ({why})")
    split_seed = _int(sec.get("split_seed", 0), sec.where("split_seed"), lo=0)
    return DataConfig(n_train=n_train, n_valid=n_valid, split_seed=split_seed, split=split)


def _check_type_only(raw, path, options, aliases=None):
    """``metric`` / ``loss function`` sections: validated, not stored (one choice each)."""
    sec = _Section(raw, path, {"type": ()})
    _choice(sec.require("type", f"one of {', '.join(options)}"), sec.where("type"), options,
            aliases)


def _parse(raw) -> Config:
    top = _Section(raw, "", _TOP_KEYS)
    model_raw = top.require("model", "an object")
    sections = {k: top.get(k) for k in ("model", "optimizer", "train")}
    report = top.has("metric") or top.names.get("loss") == "loss function" or any(
        isinstance(sections[s], dict) and any(k in sections[s] for k in keys)
        for s, keys in _REPORT_MARKERS.items())
    if top.has("metric"):
        _check_type_only(top.get("metric"), top.where("metric"), ("accuracy",), {"acc": "accuracy"})
    if top.has("loss"):
        _check_type_only(top.get("loss"), top.where("loss"), ("cross entropy",),
                         {"crossentropy": "cross entropy", "softmaxcrossentropy": "cross entropy",
                          "ce": "cross entropy"})
    model = _parse_model(model_raw, top.where("model"), report)
    optimizer = _parse_optimizer(top.require("optimizer", "an object"), top.where("optimizer"))
    train = _parse_train(top.get("train"), top.where("train"), report)
    schedule = _parse_schedule(top.get("schedule"), top.where("schedule"), train.epochs)
    data = _parse_data(top.get("data"), top.where("data"), report)
    return Config(model=model, optimizer=optimizer, schedule=schedule, train=train, data=data)


# ----------------------------------------------------------------------------- public API
def _reject_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ConfigError(f"key {k!r} appears twice in one object", k)
        out[k] = v
    return out


def load_config(source: str | os.PathLike | dict | Config) -> Config:
    """Read a config from a JSON file path, a dict (either schema) or a ``Config`` (as is).

    Raises ConfigError; for files the message starts with the file name.
    """
    if isinstance(source, Config):
        return source
    if isinstance(source, dict):
        return _parse(copy.deepcopy(source))
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"load_config: expected a path, dict or Config, got "
                          f"{type(source).__name__}")
    name = os.fspath(source)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such config file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read config file ({type(exc).__name__})") from None
    try:
        raw = json.loads(text, object_pairs_hook=_reject_duplicates)
        return _parse(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg}") from None
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}", exc.path) from None


def save_config(config: Config, path: str | os.PathLike) -> None:
    """Write ``config.to_dict()`` as indented JSON (e.g. a run's ``params.json``)."""
    from ..io import write_json
    write_json(path, config.to_dict())


_PATH_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")
# section -> (the key that picks the kind, its options, the fields each kind uses)
_TYPE_TABLES = {"model": ("type", MODELS, MODEL_FIELDS),
                "optimizer": ("type", OPTIMIZERS, OPTIMIZER_FIELDS),
                "schedule": ("type", SCHEDULES, SCHEDULE_FIELDS),
                "data": ("split", SPLITS, DATA_FIELDS)}


def _set_path(tree: dict, dotted: str, value):
    parts = dotted.split(".")
    node: Any = tree
    steps: list = []
    for part in parts:
        m = _PATH_PART.match(part)
        if not m:
            raise ConfigError(f"override {dotted!r}: bad path segment {part!r}", dotted)
        steps.append(m.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                size = len(node) if isinstance(node, list) else 0
                raise ConfigError(f"override {dotted!r}: index {step} out of range "
                                  f"(list of length {size})", dotted)
        elif not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {_fmt(node)} has no key {step!r}", dotted)
        if last:
            node[step] = copy.deepcopy(value)
        else:
            if isinstance(step, str) and node.get(step) is None:
                node[step] = {}
            node = node[step]


def with_overrides(config: Config | dict | str | os.PathLike, overrides: dict[str, Any]) -> Config:
    """A new Config with dotted-path overrides on the normalised schema, re-validated.

    Paths: ``"optimizer.lr"``, ``"model.sizes"``, ``"model.sizes[1]"``,
    ``"train.early_stopping.patience"`` (creates the object), ``"train.early_stopping": None``.
    Changing a ``type`` (or ``data.split``) drops the fields the new kind does not use (unless
    also overridden).
    Derived values follow their source unless overridden: a uniform weight-decay list is
    re-spread over the new layer count, and a cosine ``T_max`` equal to ``train.epochs`` follows
    a new epoch count.
    """
    config = load_config(config)
    tree = config.to_dict()
    for dotted in overrides:
        if not isinstance(dotted, str):
            raise ConfigError(f"override key {dotted!r} must be a dotted string")
        head, _, rest = dotted.partition(".")
        section = head.split("[")[0]
        if section not in _SECTIONS:
            raise ConfigError(f"override {dotted!r}: unknown section {section!r}"
                              f"{_suggest(section, _SECTIONS)}; allowed: "
                              f"{', '.join(_SECTIONS)}", dotted)
        name = rest.split(".")[0].split("[")[0]
        if rest and name not in _SECTIONS[section]:
            raise ConfigError(f"override {dotted!r}: unknown key {name!r} in {section}"
                              f"{_suggest(name, _SECTIONS[section])}; allowed: "
                              f"{', '.join(_SECTIONS[section])}", dotted)
    touched = {d.split("[")[0] for d in overrides}
    for dotted, value in overrides.items():
        _set_path(tree, dotted, value)

    for section, (kind_key, options, used) in _TYPE_TABLES.items():
        new = tree.get(section)
        if not isinstance(new, dict) or f"{section}.{kind_key}" not in touched:
            continue
        try:
            kind = _choice(new.get(kind_key), f"{section}.{kind_key}", options)
        except ConfigError:
            continue  # reported by the validation below
        for key in list(new):
            if key != kind_key and key not in used[kind] and f"{section}.{key}" not in touched:
                del new[key]
    model = tree.get("model")
    if isinstance(model, dict):
        for key in ("weight_decay", "linear_weight_decay"):
            wd = model.get(key)
            if f"model.{key}" not in touched and isinstance(wd, list) and wd \
                    and all(v == wd[0] for v in wd):
                model[key] = wd[0]
    sched = tree.get("schedule")
    if (config.schedule.type == "cosine" and isinstance(sched, dict)
            and "schedule.T_max" not in touched and config.schedule.T_max == config.train.epochs):
        sched.pop("T_max", None)
    return _parse(tree)
