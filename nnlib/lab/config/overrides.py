"""``with_overrides``: a new ``Config`` from dotted-path edits of the normalised schema."""
from __future__ import annotations

import copy
import os
import re
from typing import Any

from ...nn.models import MODELS
from ...nn.optim import OPTIMIZERS
from ...nn.schedules import SCHEDULES
from ..data import SPLIT_FIELDS, SPLITS
from .checks import ConfigError, choice, fmt, suggest
from .files import load_config
from .parse import RETIRED, SECTION_KEYS, parse
from .schema import MODEL_FIELDS, OPTIMIZER_FIELDS, SCHEDULE_FIELDS, Config

_PATH_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")
# section -> (the key that picks the kind, its options, the fields each kind uses)
_TYPE_TABLES = {"model": ("type", MODELS, MODEL_FIELDS),
                "optimizer": ("type", OPTIMIZERS, OPTIMIZER_FIELDS),
                "schedule": ("type", SCHEDULES, SCHEDULE_FIELDS),
                "data": ("split", SPLITS, SPLIT_FIELDS)}


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
            raise ConfigError(f"override {dotted!r}: {fmt(node)} has no key {step!r}", dotted)
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
        if section not in SECTION_KEYS:
            raise ConfigError(f"override {dotted!r}: unknown section {section!r}"
                              f"{suggest(section, SECTION_KEYS)}; allowed: "
                              f"{', '.join(SECTION_KEYS)}", dotted)
        name = rest.split(".")[0].split("[")[0]
        if name in RETIRED.get(section, {}):
            raise ConfigError(f"override {dotted!r}: no longer part of the config "
                              f"({RETIRED[section][name]})", dotted)
        if rest and name not in SECTION_KEYS[section]:
            raise ConfigError(f"override {dotted!r}: unknown key {name!r} in {section}"
                              f"{suggest(name, SECTION_KEYS[section])}; allowed: "
                              f"{', '.join(SECTION_KEYS[section])}", dotted)
    touched = {d.split("[")[0] for d in overrides}
    for dotted, value in overrides.items():
        _set_path(tree, dotted, value)

    for section, (kind_key, options, used) in _TYPE_TABLES.items():
        new = tree.get(section)
        if not isinstance(new, dict) or f"{section}.{kind_key}" not in touched:
            continue
        try:
            kind = choice(new.get(kind_key), f"{section}.{kind_key}", options)
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
    return parse(tree)
