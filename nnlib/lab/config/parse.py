"""Reading a config: both schemas (the report's keys are aliases of ours), each section checked
with messages that name the key path as written, and the report's defaults where its schema is
used. The names a type may take come from the registries (see ``schema``)."""
from __future__ import annotations

from typing import Any

from ...nn import registry
from ...nn.layers import ACTIVATIONS
from ...nn.models import CONV_DECAYS, INITS, MODELS, conv_output_shape, per_layer
from ...nn.optim import OPTIMIZERS
from ...nn.schedules import SCHEDULES
from ..augment import MODES as AUG_MODES
from ..augment import Augmentation
from ..data import SPLIT_FIELDS, SPLITS, DataSpec
from . import schema
from .checks import ConfigError, Section, boolean, choice, fail, integer, is_number, listing, number

# The report's names for our keys (its schema is ours with these aliases and its defaults).
ALIASES = {"schedule": ("lr_scheduler",), "loss": ("loss function", "loss_function"),
           "sizes": ("size_list",), "channels": ("channel_list",), "kernels": ("kernel_list",),
           "linear_sizes": ("linear_size_list",), "activation": ("act_func",),
           "weight_decay": ("weight_decay_list",),
           "linear_weight_decay": ("linear_weight_decay_list",), "lr": ("init_lr",),
           "epochs": ("epoch",)}
REPORT_MARKERS = {"model": ("size_list", "channel_list", "kernel_list", "linear_size_list",
                            "act_func", "weight_decay_list", "linear_weight_decay_list"),
                  "optimizer": ("init_lr",), "train": ("epoch",)}
# The report's initialisation (N(0, 1)·0.1), its schema's default.
REPORT_INIT = "normal0.1"
# Other spellings of a type's name.
TYPE_ALIASES = {
    "optimizer": {"sgdmomentum": "momentum", "nesterov": "momentum"},
    "schedule": {"step": "steplr", "multistep": "multisteplr", "exponential": "exponentiallr",
                 "cosineannealing": "cosine", "cosineannealinglr": "cosine"},
    "activation": {"lrelu": "leakyrelu"},
    "init": {"normal": "normal0.1", "kaiming": "he", "glorot": "xavier"},
    "augmentation": {"asrun": "overwrite"},
}


def _keys(names) -> dict[str, tuple[str, ...]]:
    return {name: ALIASES.get(name, ()) for name in dict.fromkeys(names)}


def _union(fields_by_type: dict) -> list[str]:
    return [f for fields in fields_by_type.values() for f in fields]


TOP_KEYS = _keys(["model", "optimizer", "schedule", "train", "data", "metric", "loss"])
SECTION_KEYS = {
    "model": _keys(["type", *_union(schema.MODEL_FIELDS)]),
    "optimizer": _keys(["type", *_union(schema.OPTIMIZER_FIELDS)]),
    "schedule": _keys(["type", *_union(schema.SCHEDULE_FIELDS)]),
    "train": _keys(list(schema.TrainConfig.__dataclass_fields__)),
    "data": _keys(["split", *_union(SPLIT_FIELDS)]),
}
ES_KEYS = _keys(schema.EarlyStoppingConfig.__dataclass_fields__)
AUG_KEYS = _keys(Augmentation.__dataclass_fields__)


# ----------------------------------------------------------------------------- field rules
def _betas(value, path):
    betas = listing(value, path, 2)
    if len(betas) != 2:
        fail(path, betas, "must be a pair [beta1, beta2]")
    return [number(b, f"{path}[{i}]", lo=0, hi=1, hi_open=True) for i, b in enumerate(betas)]


def _milestones(value, path):
    ms = [integer(v, f"{path}[{i}]", lo=1) for i, v in enumerate(listing(value, path, 1))]
    for i in range(1, len(ms)):
        if ms[i] <= ms[i - 1]:
            fail(f"{path}[{i}]", ms[i], f"must be > {ms[i - 1]} (milestones must increase)")
    return ms


# How a value of each optimizer / schedule parameter is checked (key paths in the messages),
# and what a missing required one is told to be.
RULES = {
    "lr": lambda v, p: number(v, p, lo=0, lo_open=True),
    "momentum": lambda v, p: number(v, p, lo=0, hi=1, hi_open=True),
    "nesterov": boolean, "betas": _betas,
    "eps": lambda v, p: number(v, p, lo=0, lo_open=True),
    "step_size": lambda v, p: integer(v, p, lo=1),
    "gamma": lambda v, p: number(v, p, lo=0, lo_open=True),
    "milestones": _milestones,
    "T_max": lambda v, p: integer(v, p, lo=1),
    "eta_min": lambda v, p: number(v, p, lo=0),
}
HINTS = {"lr": "a number > 0", "gamma": "a number > 0", "step_size": "an integer >= 1 (epochs)",
         "milestones": "increasing epochs, e.g. [5, 10]"}
# A config must state these even where the class has a default (Adam's lr=1e-3): the report's
# learning rates differ by 100x between experiments, a silent default would hide a typo.
REQUIRED_IN_CONFIG = ("lr",)


def _typed(sec: Section, kind: str, defaults: dict, derived: dict) -> dict[str, Any]:
    """The fields of ``kind`` (given, derived or the constructor's default), each checked by
    its rule in ``RULES`` (every parameter of a registered class has one; a test checks)."""
    out: dict[str, Any] = {"type": kind}
    for name, default in defaults[kind].items():
        if sec.has(name):
            out[name] = RULES[name](sec.get(name), sec.where(name))
        elif name in derived:
            out[name] = RULES[name](derived[name], sec.where(name))
        elif default is registry.REQUIRED or name in REQUIRED_IN_CONFIG:
            sec.require(name, HINTS.get(name, "see the class's parameters"))
        else:
            out[name] = default
    return out


# ----------------------------------------------------------------------------- sections
def _sizes(value, path, min_len):
    return [integer(v, f"{path}[{i}]", lo=1) for i, v in enumerate(listing(value, path, min_len))]


def _decays(sec: Section, key: str, n: int, what: str):
    value = sec.get(key)
    if is_number(value):
        value = number(value, sec.where(key), lo=0)
    elif value is not None:
        value = [number(v, f"{sec.where(key)}[{i}]", lo=0)
                 for i, v in enumerate(listing(value, sec.where(key), min_len=0))]
    with sec.checked_by_library():
        return per_layer(value, n, key, what)


def parse_model(raw, path, report: bool) -> Any:
    sec = Section(raw, path, SECTION_KEYS["model"])
    kind = choice(sec.get("type", "mlp"), sec.where("type"), MODELS)
    sec.only_for(kind, "model type", schema.MODEL_FIELDS)
    default = schema.MODEL_DEFAULTS[kind]  # the builder's own defaults
    act = choice(sec.get("activation", default["activation"]), sec.where("activation"),
                 ACTIVATIONS, TYPE_ALIASES["activation"])
    init = choice(sec.get("init", REPORT_INIT if report else default["init"]), sec.where("init"),
                  INITS, TYPE_ALIASES["init"])
    dropout = number(sec.get("dropout", default["dropout"]), sec.where("dropout"), lo=0, hi=1,
                     hi_open=True)
    batchnorm = boolean(sec.get("batchnorm", default["batchnorm"]), sec.where("batchnorm"))
    if kind == "mlp":
        p = sec.where("sizes")
        sizes = _sizes(sec.require("sizes", "e.g. [784, 1000, 10]"), p, 2)
        if sizes[0] != schema.N_PIXELS:
            fail(f"{p}[0]", sizes[0], f"must be {schema.N_PIXELS} (28×28 MNIST pixels)")
        if sizes[-1] != schema.N_CLASSES:
            fail(f"{p}[{len(sizes) - 1}]", sizes[-1], f"must be {schema.N_CLASSES} (MNIST classes)")
        wd = _decays(sec, "weight_decay", len(sizes) - 1, "Linear layer")
        return schema.ModelConfig(type="mlp", sizes=sizes, activation=act, init=init,
                                  weight_decay=wd, dropout=dropout, batchnorm=batchnorm)

    p = sec.where("channels")
    channels = _sizes(sec.require("channels", "e.g. [1, 6, 16]"), p, 2)
    if channels[0] != 1:
        fail(f"{p}[0]", channels[0], "must be 1 (MNIST images have one channel)")
    p = sec.where("kernels")
    raw_kernels = listing(sec.require("kernels", "e.g. [[5, 5], [5, 5]]"), p, 1)
    if len(raw_kernels) != len(channels) - 1:
        fail(p, raw_kernels, f"must have {len(channels) - 1} entries (one per conv layer, "
                             f"len({sec.where('channels')}) - 1)")
    kernels = []
    for i, k in enumerate(raw_kernels):
        if isinstance(k, (list, tuple)):
            if len(k) != 2:
                fail(f"{p}[{i}]", k, "must be an int or an [height, width] pair")
            kernels.append([integer(v, f"{p}[{i}][{j}]", lo=1) for j, v in enumerate(k)])
        else:
            k = integer(k, f"{p}[{i}]", lo=1)
            kernels.append([k, k])
    padding = integer(sec.get("padding", default["padding"]), sec.where("padding"), lo=0)
    with sec.checked_by_library():
        c, h, w = conv_output_shape(channels, kernels, padding)
    p = sec.where("linear_sizes")
    linear = _sizes(sec.require("linear_sizes", f"e.g. [{c * h * w}, 128, 10]"), p, 2)
    if linear[0] != c * h * w:
        fail(f"{p}[0]", linear[0], f"must be {c * h * w} (flattened conv output: {c} channels "
                                   f"× {h}×{w} after {len(kernels)} conv+pool stages)")
    if linear[-1] != schema.N_CLASSES:
        fail(f"{p}[{len(linear) - 1}]", linear[-1], f"must be {schema.N_CLASSES} (MNIST classes)")
    conv_decay = choice(sec.get("conv_decay", default["conv_decay"]), sec.where("conv_decay"),
                        CONV_DECAYS)
    blocks = sec.get("residual_blocks", default["residual_blocks"])
    p = sec.where("residual_blocks")
    if isinstance(blocks, list):
        if len(blocks) != len(kernels):
            fail(p, blocks, f"must be one int or {len(kernels)} entries (one per conv stage)")
        blocks = [integer(b, f"{p}[{i}]", lo=0) for i, b in enumerate(blocks)]
    else:
        blocks = integer(blocks, p, lo=0)
    return schema.ModelConfig(
        type="cnn", channels=channels, kernels=kernels, padding=padding, linear_sizes=linear,
        activation=act, init=init, dropout=dropout, conv_decay=conv_decay, batchnorm=batchnorm,
        residual_blocks=blocks,
        weight_decay=_decays(sec, "weight_decay", len(kernels), "conv layer"),
        linear_weight_decay=_decays(sec, "linear_weight_decay", len(linear) - 1, "Linear layer"))


def parse_optimizer(raw, path) -> Any:
    sec = Section(raw, path, SECTION_KEYS["optimizer"])
    kind = choice(sec.require("type", f"one of {', '.join(OPTIMIZERS)}"), sec.where("type"),
                  OPTIMIZERS, TYPE_ALIASES["optimizer"])
    sec.only_for(kind, "optimizer type", schema.OPTIMIZER_FIELDS)
    return schema.OptimizerConfig(**_typed(sec, kind, schema.OPTIMIZER_DEFAULTS, {}))


def parse_schedule(raw, path, epochs: int) -> Any:
    if raw is None:
        return schema.ScheduleConfig()
    sec = Section(raw, path, SECTION_KEYS["schedule"])
    t = sec.get("type", "none")
    kind = "none" if t is None else choice(t, sec.where("type"), SCHEDULES,
                                           TYPE_ALIASES["schedule"])
    sec.only_for(kind, "schedule type", schema.SCHEDULE_FIELDS)
    return schema.ScheduleConfig(**_typed(sec, kind, schema.SCHEDULE_DEFAULTS, {"T_max": epochs}))


def _subsection(sec: Section, key: str, keys: dict, example: str) -> Section | None:
    """The object under ``key`` as a ``Section`` (None when it is null or false)."""
    raw = sec.get(key)
    if raw is None or raw is False:
        return None
    if not isinstance(raw, dict):
        fail(sec.where(key), raw, f"must be null or an object like {example}")
    return Section(raw, sec.where(key), keys)


def parse_train(raw, path, report: bool) -> schema.TrainConfig:
    sec = Section({} if raw is None else raw, path, SECTION_KEYS["train"])
    out: dict[str, Any] = {"empty_final_step": boolean(sec.get("empty_final_step", report),
                                                       sec.where("empty_final_step"))}
    for key in ("batch_size", "epochs", "log_iter"):
        if sec.has(key):
            out[key] = integer(sec.get(key), sec.where(key), lo=1)
    if sec.get("eval_every") is not None:
        out["eval_every"] = integer(sec.get("eval_every"), sec.where("eval_every"), lo=1)
    if sec.has("seed"):
        out["seed"] = integer(sec.get("seed"), sec.where("seed"), lo=0)
    e = _subsection(sec, "early_stopping", ES_KEYS, '{"patience": 2}')
    if e is not None:
        es = {"patience": integer(e.require("patience", "an integer >= 1"), e.where("patience"),
                                  lo=1)}
        es.update({k: boolean(e.get(k), e.where(k)) for k in ("restore_best",) if e.has(k)})
        es.update({k: number(e.get(k), e.where(k), lo=0) for k in ("min_delta",) if e.has(k)})
        out["early_stopping"] = schema.EarlyStoppingConfig(
            **{**schema.EARLY_STOPPING_DEFAULTS, **es})
    a = _subsection(sec, "augmentation", AUG_KEYS, '{"mode": "append"}')
    if a is not None:
        # every field but the mode is a number (rotate, shift, p, elastic_alpha, elastic_sigma)
        given = {k: number(a.get(k), a.where(k)) for k in AUG_KEYS if k != "mode" and a.has(k)}
        if a.has("mode"):
            given["mode"] = choice(a.get("mode"), a.where("mode"), AUG_MODES,
                                   TYPE_ALIASES["augmentation"])
        with a.checked_by_library():
            out["augmentation"] = Augmentation(**given)
    return schema.TrainConfig(**out)


def parse_data(raw, path, report: bool) -> DataSpec:
    sec = Section({} if raw is None else raw, path, SECTION_KEYS["data"])
    split = choice(sec.get("split", "report" if report else "random"), sec.where("split"), SPLITS)
    sec.only_for(split, "data split", SPLIT_FIELDS, kind_key="split")
    # n_train null means "all of them"; every other field, when given, must be an integer
    given = {k: integer(sec.get(k), sec.where(k)) for k in SPLIT_FIELDS[split]
             if sec.has(k) and not (k == "n_train" and sec.get(k) is None)}
    with sec.checked_by_library():
        return DataSpec(split=split, **given)


def _check_type_only(raw, path, options, aliases=None):
    """``metric`` / ``loss function`` sections: validated, not stored (one choice each)."""
    sec = Section(raw, path, {"type": ()})
    choice(sec.require("type", f"one of {', '.join(options)}"), sec.where("type"), options,
           aliases)


def parse(raw) -> schema.Config:
    """A ``schema.Config`` from a dict in either schema (``ConfigError`` on any mistake)."""
    top = Section(raw, "", TOP_KEYS)
    model_raw = top.require("model", "an object")
    sections = {k: top.get(k) for k in ("model", "optimizer", "train")}
    report = top.has("metric") or top.names.get("loss") == "loss function" or any(
        isinstance(sections[s], dict) and any(k in sections[s] for k in keys)
        for s, keys in REPORT_MARKERS.items())
    if top.has("metric"):
        _check_type_only(top.get("metric"), top.where("metric"), ("accuracy",), {"acc": "accuracy"})
    if top.has("loss"):
        _check_type_only(top.get("loss"), top.where("loss"), ("cross entropy",),
                         {"crossentropy": "cross entropy", "softmaxcrossentropy": "cross entropy",
                          "ce": "cross entropy"})
    model = parse_model(model_raw, top.where("model"), report)
    optimizer = parse_optimizer(top.require("optimizer", "an object"), top.where("optimizer"))
    train = parse_train(top.get("train"), top.where("train"), report)
    schedule = parse_schedule(top.get("schedule"), top.where("schedule"), train.epochs)
    data = parse_data(top.get("data"), top.where("data"), report)
    return schema.Config(model=model, optimizer=optimizer, schedule=schedule, train=train,
                         data=data)


__all__ = ["ALIASES", "SECTION_KEYS", "ConfigError", "parse"]
