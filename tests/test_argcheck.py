"""One home per rule: a constructor checks its own arguments (``nnlib.argcheck``, ``FieldError``)
and a config states the very same rule at the key path the user wrote."""
import json

import numpy as np
import pytest

from nnlib import argcheck
from nnlib.errors import FieldError
from nnlib.lab.callbacks import EarlyStopping
from nnlib.lab.config import ConfigError, load_config
from nnlib.nn.models import cnn, load, mlp, save
from nnlib.nn.optim import OPTIMIZERS
from nnlib.nn.schedules import SCHEDULES


@pytest.mark.parametrize("call, field, rule", [
    (lambda: argcheck.number("x", "1"), "x", "must be a finite number"),
    (lambda: argcheck.number("x", True), "x", "must be a finite number"),
    (lambda: argcheck.number("x", float("inf")), "x", "must be a finite number"),
    (lambda: argcheck.number("x", 0, lo=0, lo_open=True), "x", "must be > 0"),
    (lambda: argcheck.number("x", 2, hi=1), "x", "must be <= 1"),
    (lambda: argcheck.number("x", 1, lo=0, hi=1, hi_open=True), "x", "must be in [0, 1)"),
    (lambda: argcheck.integer("n", 2.5), "n", "must be an integer"),
    (lambda: argcheck.integer("n", False), "n", "must be an integer"),
    (lambda: argcheck.integer("n", 0, lo=1), "n", "must be >= 1"),
    (lambda: argcheck.boolean("b", 1), "b", "must be true or false"),
    (lambda: argcheck.listing("l", 3), "l", "must be a list"),
    (lambda: argcheck.listing("l", [1], 2), "l", "must have at least 2 entries"),
])
def test_each_check_names_its_field_and_rule(call, field, rule):
    with pytest.raises(FieldError) as info:
        call()
    assert (info.value.field, info.value.rule) == (field, rule)
    assert str(info.value).startswith(f"{field}: ")


def test_checks_return_clean_values():
    assert argcheck.number("x", np.float32(0.5), lo=0) == 0.5
    assert type(argcheck.number("x", 1)) is float
    assert argcheck.integer("n", 3.0) == 3 and type(argcheck.integer("n", np.int64(3))) is int
    assert argcheck.listing("l", (1, 2)) == [1, 2]


def _model():
    return mlp([4, 3, 2])


# (section, type, field, bad value, the constructor that checks it, rule)
BAD = [
    ("optimizer", "sgd", "lr", 0, lambda v: OPTIMIZERS["sgd"](_model(), v), "must be > 0"),
    ("optimizer", "momentum", "momentum", 1.5,
     lambda v: OPTIMIZERS["momentum"](_model(), 0.1, momentum=v), "must be in [0, 1)"),
    ("optimizer", "momentum", "nesterov", "yes",
     lambda v: OPTIMIZERS["momentum"](_model(), 0.1, nesterov=v), "must be true or false"),
    ("optimizer", "adam", "betas", [0.9], lambda v: OPTIMIZERS["adam"](_model(), betas=v),
     "must have at least 2 entries"),
    ("optimizer", "adam", "eps", -1e-8, lambda v: OPTIMIZERS["adam"](_model(), eps=v),
     "must be > 0"),
    ("schedule", "steplr", "step_size", 0,
     lambda v: SCHEDULES["steplr"](OPTIMIZERS["sgd"](_model(), 0.1), v), "must be >= 1"),
    ("schedule", "steplr", "gamma", -0.5,
     lambda v: SCHEDULES["steplr"](OPTIMIZERS["sgd"](_model(), 0.1), 2, gamma=v), "must be > 0"),
    ("schedule", "cosine", "eta_min", -1.0,
     lambda v: SCHEDULES["cosine"](OPTIMIZERS["sgd"](_model(), 0.1), 4, eta_min=v),
     "must be >= 0"),
    ("schedule", "cosine", "T_max", 2.5,
     lambda v: SCHEDULES["cosine"](OPTIMIZERS["sgd"](_model(), 0.1), v), "must be an integer"),
]


def _config(section, kind, field, value):
    raw = {"model": {"type": "mlp", "sizes": [784, 10]},
           "optimizer": {"type": "sgd", "lr": 0.1}, "train": {"epochs": 4}}
    if section == "optimizer":
        raw["optimizer"] = {"type": kind, "lr": 0.1, field: value}
    else:
        raw["schedule"] = {"type": kind, "step_size": 2, field: value} if kind == "steplr" else \
            {"type": kind, field: value}
    return raw


@pytest.mark.parametrize("section, kind, field, value, construct, rule", BAD,
                         ids=[f"{b[1]}.{b[2]}" for b in BAD])
def test_a_constructor_and_a_config_state_one_rule(section, kind, field, value, construct, rule):
    with pytest.raises(FieldError) as built:
        construct(value)
    assert built.value.rule == rule
    with pytest.raises(ConfigError) as parsed:
        load_config(_config(section, kind, field, value))
    assert str(parsed.value).endswith(f" {rule}")
    assert parsed.value.path.startswith(f"{section}.{field}")


def test_the_report_schema_gets_the_rule_under_its_own_key_name():
    raw = _config("optimizer", "sgd", "lr", 0.1)
    raw["optimizer"] = {"type": "SGD", "init_lr": -0.1}
    with pytest.raises(ConfigError, match=r"^optimizer\.init_lr: -0\.1 must be > 0$"):
        load_config(raw)


def test_early_stopping_checks_once():
    with pytest.raises(FieldError, match=r"^patience: 0 must be >= 1$"):
        EarlyStopping(patience=0)
    raw = _config("optimizer", "sgd", "lr", 0.1)
    raw["train"]["early_stopping"] = {"patience": 0}
    with pytest.raises(ConfigError, match=r"^train\.early_stopping\.patience: 0 must be >= 1$"):
        load_config(raw)


@pytest.mark.parametrize("kwargs, field, rule", [
    ({"channels": [3, 6, 16]}, "channels[0]", "must be 1"),
    ({"kernels": [5]}, "kernels", "must have 2 entries"),
    ({"kernels": [5, [5, 5, 5]]}, "kernels[1]", "must be an int or an [height, width] pair"),
    ({"linear_sizes": [255, 10]}, "linear_sizes[0]", "must be 256"),
    ({"kernels": [5, 13]}, "kernels[1]", "is too big"),
])
def test_the_cnn_shape_rules_live_in_the_builder_and_reach_the_config(kwargs, field, rule):
    args = {"channels": [1, 6, 16], "kernels": [5, 5], "linear_sizes": [256, 10], **kwargs}
    with pytest.raises(FieldError) as built:
        cnn(**args)
    assert built.value.field == field and built.value.rule.startswith(rule)
    with pytest.raises(ConfigError) as parsed:
        load_config({"model": {"type": "cnn", **args}, "optimizer": {"type": "sgd", "lr": 0.1}})
    assert parsed.value.path == f"model.{field}"
    assert str(parsed.value).startswith(f"model.{field}: ") and rule in str(parsed.value)


def test_a_model_file_of_the_per_layer_format_loads_with_its_decay(tmp_path):
    # files written before the decay moved to the model kept it in each layer's config
    model = cnn([1, 2, 3], [3, 3], [3, 4, 2], input_shape=(1, 12, 10), weight_decay=[0.1, 0.2],
                linear_weight_decay=[0.3, 0.0], conv_decay="double", residual_blocks=[0, 1])
    # conv, act, pool, conv, act, pool, Residual(conv, act, conv), act, flatten, linear, ...
    assert model.weight_decay == {"0.W": 0.1, "3.W": 0.2, "6.branch.0.W": 0.2,
                                  "6.branch.2.W": 0.2, "9.W": 0.3}
    assert model.l2 == {"0.W": 0.1, "3.W": 0.2, "6.branch.0.W": 0.2, "6.branch.2.W": 0.2}
    path = tmp_path / "old.npz"
    save(model, path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["__header__"]))
    del header["weight_decay"], header["l2"]
    layers = header["architecture"]
    for i, wd in ((0, 0.1), (3, 0.2), (9, 0.3)):
        layers[i]["weight_decay"] = wd
    for i in (0, 3):
        layers[i]["l2"] = layers[i]["weight_decay"]
    for j in (0, 2):
        layers[6]["branch"][j].update(weight_decay=0.2, l2=0.2)
    arrays["__header__"] = np.array(json.dumps(header))
    np.savez(path, **arrays)
    old = load(path)
    assert (old.weight_decay, old.l2) == (model.weight_decay, model.l2)


def test_a_model_file_with_a_bad_decay_map_names_it(tmp_path):
    path = tmp_path / "m.npz"
    save(mlp([4, 3, 2], weight_decay=0.1), path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["__header__"]))
    header["weight_decay"] = {"9.W": 0.1}
    arrays["__header__"] = np.array(json.dumps(header))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"m\.npz: inconsistent.*weight_decay: '9\.W' names no "
                                         r"parameter"):
        load(path)


def test_a_huge_integer_is_a_clean_error_at_its_key_path():
    raw = _config("optimizer", "sgd", "lr", 10**400)
    with pytest.raises(ConfigError, match=r"^optimizer\.lr: 1000.*\.\.\. must be a finite number$"):
        load_config(raw)


def test_arrays_and_ranges_are_lists_to_the_builders_and_optimizers():
    a = mlp(np.array([4, 3, 2]), weight_decay=np.array([0.1, 0.0]), rng=np.random.default_rng(0))
    b = mlp(range(4, 1, -1), weight_decay=[0.1, 0.0], rng=np.random.default_rng(0))
    assert a.weight_decay == b.weight_decay == {"1.W": 0.1}
    np.testing.assert_array_equal(a[1].params["W"], b[1].params["W"])
    assert OPTIMIZERS["adam"](a, betas=np.array([0.8, 0.9])).betas == (0.8, 0.9)
    sched = SCHEDULES["multisteplr"](OPTIMIZERS["sgd"](a, 0.1), np.array([2, 4]))
    assert sched.milestones == [2, 4]


@pytest.mark.parametrize("value, field, rule", [
    ([1, 2, 3], "residual_blocks", "must be one int or 2 entries (one per conv stage)"),
    ([1, -1], "residual_blocks[1]", "must be >= 0"),
    (1.5, "residual_blocks", "must be an integer"),
])
def test_residual_blocks_have_one_rule(value, field, rule):
    args = {"channels": [1, 6, 16], "kernels": [5, 5], "linear_sizes": [256, 10],
            "residual_blocks": value}
    with pytest.raises(FieldError) as built:
        cnn(**args)
    assert (built.value.field, built.value.rule) == (field, rule)
    with pytest.raises(ConfigError) as parsed:
        load_config({"model": {"type": "cnn", **args}, "optimizer": {"type": "sgd", "lr": 0.1}})
    assert str(parsed.value).startswith(f"model.{field}: ") and str(parsed.value).endswith(rule)


def test_dropout_has_one_rule_under_each_name():
    from nnlib.nn.layers import Dropout
    with pytest.raises(FieldError, match=r"^p: 1\.0 must be in \[0, 1\)$"):
        Dropout(1.0)
    with pytest.raises(FieldError, match=r"^dropout: 1\.0 must be in \[0, 1\)$"):
        mlp([4, 3, 2], dropout=1.0)
    with pytest.raises(ConfigError, match=r"^model\.dropout: 1\.0 must be in \[0, 1\)$"):
        load_config({"model": {"type": "mlp", "sizes": [784, 10], "dropout": 1.0},
                     "optimizer": {"type": "sgd", "lr": 0.1}})


def test_weight_decay_is_the_models_and_the_optimizer_checks_the_map():
    model = mlp([4, 3, 2], weight_decay=[0.1, 0.2])
    with pytest.raises(AttributeError, match=r"model\.weight_decay"):
        model[1].weight_decay = 0.3  # a layer attribute would be read by nothing
    assert OPTIMIZERS["sgd"](model, 0.1).weight_decay == {"1.W": 0.1, "3.W": 0.2}
    model.weight_decay = {"2.W": 0.1}  # layers moved, the name went stale
    with pytest.raises(FieldError, match=r"^weight_decay: '2\.W' names no parameter"):
        OPTIMIZERS["sgd"](model, 0.1)
    model.weight_decay = {"1.b": 0.1}
    with pytest.raises(FieldError, match="is not a weight"):
        OPTIMIZERS["sgd"](model, 0.1)
    model.weight_decay = {}
    for bad in (True, float("inf"), -0.1):
        with pytest.raises(FieldError, match=r"^weight_decay: "):
            OPTIMIZERS["sgd"](model, 0.1, weight_decay=bad)
    model.l2 = {"1.W": -1.0}
    with pytest.raises(FieldError, match=r"^l2\['1\.W'\]: -1\.0 must be >= 0$"):
        OPTIMIZERS["sgd"](model, 0.1)
