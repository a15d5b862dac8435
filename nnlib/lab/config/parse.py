"""Reading a config: both schemas (the report's keys are aliases of ours), each section checked
with messages that name the key path as written, and the report's defaults where its schema is
used. The names a type may take come from the registries (see ``schema``)."""
from __future__ import annotations

from typing import Any

from ...nn import optim, registry, schedules
from ...nn.layers import ACTIVATIONS, DROPOUT_RATE
from ...nn.models import (
    CONV_DECAYS,
    INITS,
    MODELS,
    conv_stages,
    linear_widths,
    per_layer,
    residual_counts,
    widths,
)
from ...nn.optim import OPTIMIZERS
from ...nn.schedules import SCHEDULES
from ..augment import MODES as AUG_MODES
from ..augment import Augmentation
from ..callbacks import EARLY_STOPPING_CHECKS
from ..data import SPLIT_FIELDS, SPLITS, DataSpec
from . import schema
from .checks import ConfigError, Section, boolean, choice, fail, integer, number

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
    "train": _keys(schema.TrainConfig.__dataclass_fields__),
    "data": _keys(["split", *_union(SPLIT_FIELDS)]),
}
# Keys a config file may still carry but that no longer mean anything: accepted and checked (the
# report's configs and older runs' config.json carry them), never stored; overrides refuse them.
RETIRED = {"train": {"log_iter": "the report's logging interval; nnlib logs once per epoch"}}
ES_KEYS = _keys(schema.EarlyStoppingConfig.__dataclass_fields__)
AUG_KEYS = _keys(Augmentation.__dataclass_fields__)


# ----------------------------------------------------------------------------- field rules
# An optimizer's or schedule's parameter is checked by the class's own rule (``ARG_CHECKS`` of
# ``nnlib.nn.optim`` / ``nnlib.nn.schedules``, which its constructor applies too); what a missing
# required one is told to be:
ARG_CHECKS = {**optim.ARG_CHECKS, **schedules.ARG_CHECKS}
HINTS = {"lr": "a number > 0", "gamma": "a number > 0", "step_size": "an integer >= 1 (epochs)",
         "milestones": "increasing epochs, e.g. [5, 10]"}
# A config must state these even where the class has a default (Adam's lr=1e-3): the report's
# learning rates differ by 100x between experiments, a silent default would hide a typo.
REQUIRED_IN_CONFIG = ("lr",)


def _typed(sec: Section, kind: str, defaults: dict, derived: dict) -> dict[str, Any]:
    """The fields of ``kind`` (given, derived or the constructor's default), each checked by
    its class's rule in ``ARG_CHECKS`` (every parameter of a registered class has one; a test
    checks)."""
    out: dict[str, Any] = {"type": kind}
    for name, default in defaults[kind].items():
        if sec.has(name) or name in derived:
            with sec.checked_by_library():
                out[name] = ARG_CHECKS[name](name, sec.get(name, derived.get(name)))
        elif default is registry.REQUIRED or name in REQUIRED_IN_CONFIG:
            sec.require(name, HINTS.get(name, "see the class's parameters"))
        else:
            out[name] = default
    return out


# ----------------------------------------------------------------------------- sections
def _decays(sec: Section, key: str, n: int, what: str):
    with sec.checked_by_library():
        return per_layer(sec.get(key), n, key, what)


def _mnist_classes(sec: Section, key: str, sizes: list[int]) -> None:
    # The shape rules are the builders' (mlp, cnn); these are MNIST's: 784 pixels, 10 classes.
    if sizes[-1] != schema.N_CLASSES:
        fail(f"{sec.where(key)}[{len(sizes) - 1}]", sizes[-1],
             f"must be {schema.N_CLASSES} (MNIST classes)")


def parse_model(raw, path, report: bool) -> Any:
    sec = Section(raw, path, SECTION_KEYS["model"])
    kind = choice(sec.get("type", "mlp"), sec.where("type"), MODELS)
    sec.only_for(kind, "model type", schema.MODEL_FIELDS)
    default = schema.MODEL_DEFAULTS[kind]  # the builder's own defaults
    act = choice(sec.get("activation", default["activation"]), sec.where("activation"),
                 ACTIVATIONS, TYPE_ALIASES["activation"])
    init = choice(sec.get("init", REPORT_INIT if report else default["init"]), sec.where("init"),
                  INITS, TYPE_ALIASES["init"])
    with sec.checked_by_library():
        dropout = DROPOUT_RATE("dropout", sec.get("dropout", default["dropout"]))
    batchnorm = boolean(sec.get("batchnorm", default["batchnorm"]), sec.where("batchnorm"))
    if kind == "mlp":
        raw_sizes = sec.require("sizes", "e.g. [784, 1000, 10]")
        with sec.checked_by_library():
            sizes = widths("sizes", raw_sizes)
        if sizes[0] != schema.N_PIXELS:
            fail(f"{sec.where('sizes')}[0]", sizes[0],
                 f"must be {schema.N_PIXELS} (28×28 MNIST pixels)")
        _mnist_classes(sec, "sizes", sizes)
        wd = _decays(sec, "weight_decay", len(sizes) - 1, "Linear layer")
        return schema.ModelConfig(type="mlp", sizes=sizes, activation=act, init=init,
                                  weight_decay=wd, dropout=dropout, batchnorm=batchnorm)

    raw_channels = sec.require("channels", "e.g. [1, 6, 16]")
    raw_kernels = sec.require("kernels", "e.g. [[5, 5], [5, 5]]")
    with sec.checked_by_library():
        channels, kernels, padding, (c, h, w) = conv_stages(
            raw_channels, raw_kernels, sec.get("padding", default["padding"]),
            (1, schema.IMAGE_SIZE, schema.IMAGE_SIZE))
    raw_linear = sec.require("linear_sizes", f"e.g. [{c * h * w}, 128, 10]")
    with sec.checked_by_library():
        linear = linear_widths(raw_linear, (c, h, w), len(kernels))
    _mnist_classes(sec, "linear_sizes", linear)
    conv_decay = choice(sec.get("conv_decay", default["conv_decay"]), sec.where("conv_decay"),
                        CONV_DECAYS)
    with sec.checked_by_library():
        blocks = residual_counts(sec.get("residual_blocks", default["residual_blocks"]),
                                 len(kernels))
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
    sec = Section({} if raw is None else raw, path,
                  {**SECTION_KEYS["train"], **_keys(RETIRED["train"])})
    out: dict[str, Any] = {"empty_final_step": boolean(sec.get("empty_final_step", report),
                                                       sec.where("empty_final_step"))}
    for key in ("batch_size", "epochs", "log_iter"):
        if sec.has(key):
            out[key] = integer(sec.get(key), sec.where(key), lo=1)
    out.pop("log_iter", None)
    if sec.get("eval_every") is not None:
        out["eval_every"] = integer(sec.get("eval_every"), sec.where("eval_every"), lo=1)
    if sec.has("seed"):
        out["seed"] = integer(sec.get("seed"), sec.where("seed"), lo=0)
    e = _subsection(sec, "early_stopping", ES_KEYS, '{"patience": 2}')
    if e is not None:
        e.require("patience", "an integer >= 1")
        with e.checked_by_library():
            out["early_stopping"] = schema.EarlyStoppingConfig(
                **{k: EARLY_STOPPING_CHECKS[k](k, e.get(k)) for k in ES_KEYS if e.has(k)})
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
