"""Every registered type, walked through config → build → ``config()`` → rebuild: the registries
in the class modules are the only list of names, fields and defaults (``nnlib.nn.registry``)."""
import dataclasses

import numpy as np
import pytest

from nnlib.lab.augment import MODES, Augmentation
from nnlib.lab.callbacks import EARLY_STOPPING_CHECKS, EarlyStopping
from nnlib.lab.config import load_config, schema
from nnlib.lab.config.parse import ARG_CHECKS
from nnlib.lab.config.schema import MODEL_FIELDS, OPTIMIZER_FIELDS, SCHEDULE_FIELDS
from nnlib.lab.data import SPLIT_FIELDS, SPLITS, DataSpec
from nnlib.lab.training import History
from nnlib.nn import registry
from nnlib.nn.layers import ACTIVATIONS
from nnlib.nn.models import INITS, MODELS, build_model, from_architecture, load
from nnlib.nn.optim import OPTIMIZERS, build_optimizer
from nnlib.nn.schedules import SCHEDULES, build_schedule

# What each type needs besides its defaults (a new type must add a line here).
OPTIMIZER_EXAMPLES = {"sgd": {"lr": 0.05}, "momentum": {"lr": 0.05, "nesterov": True},
                      "adam": {"lr": 0.002, "betas": [0.8, 0.99]}}
SCHEDULE_EXAMPLES = {"none": {}, "steplr": {"step_size": 2}, "multisteplr": {"milestones": [2, 3]},
                     "exponentiallr": {"gamma": 0.9}, "cosine": {"eta_min": 0.001}}
MODEL_EXAMPLES = {
    "mlp": {"sizes": [784, 16, 10], "weight_decay": [0.001, 0.0], "dropout": 0.1},
    "cnn": {"channels": [1, 2, 3], "kernels": [[5, 5], [3, 3]], "linear_sizes": [75, 8, 10],
            "conv_decay": "double", "weight_decay": 0.001},
}


def config(model=None, optimizer=None, schedule=None, **sections):
    return load_config({"model": model or {"type": "mlp", "sizes": [784, 10]},
                        "optimizer": optimizer or {"type": "sgd", "lr": 0.1},
                        "schedule": schedule, "train": {"epochs": 4}, **sections})


def test_every_registered_type_has_an_example():
    assert set(OPTIMIZER_EXAMPLES) == set(OPTIMIZERS)
    assert set(SCHEDULE_EXAMPLES) == set(SCHEDULES)
    assert set(MODEL_EXAMPLES) == set(MODELS)


@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_optimizer_config_build_config_rebuild(kind):
    cfg = config(optimizer={"type": kind, **OPTIMIZER_EXAMPLES[kind]})
    normalised = cfg.to_dict()["optimizer"]
    # the fields are the constructor's parameters, its defaults filled in
    taken = registry.fields(OPTIMIZERS[kind], skip=("weight_decay",))
    for name, default in list(taken.items())[1:]:
        given = OPTIMIZER_EXAMPLES[kind].get(name, default)
        assert normalised[name] == given, name
    opt = build_optimizer(cfg.optimizer, build_model(cfg.model))
    assert type(opt) is OPTIMIZERS[kind]
    assert opt.config() == normalised
    again = build_optimizer(opt.config(), build_model(cfg.model))
    assert type(again) is type(opt) and again.config() == normalised


@pytest.mark.parametrize("kind", list(SCHEDULES))
def test_schedule_config_build_config_rebuild(kind):
    cfg = config(schedule={"type": kind, **SCHEDULE_EXAMPLES[kind]})
    normalised = cfg.to_dict()["schedule"]
    if kind == "cosine":
        assert normalised["T_max"] == 4  # derived from train.epochs
    opt = build_optimizer(cfg.optimizer, build_model(cfg.model))
    sched = build_schedule(cfg.schedule, opt)
    assert type(sched) is SCHEDULES[kind]
    assert sched.config() == normalised
    again = build_schedule(sched.config(), build_optimizer(cfg.optimizer, build_model(cfg.model)))
    assert again.config() == normalised
    assert [again.lr_at(e) for e in range(5)] == [sched.lr_at(e) for e in range(5)]


@pytest.mark.parametrize("kind", list(MODELS))
def test_model_config_build_architecture_rebuild(kind, tmp_path):
    cfg = config(model={"type": kind, **MODEL_EXAMPLES[kind]})
    normalised = cfg.to_dict()["model"]
    model = build_model(cfg.model, rng=np.random.default_rng(0))
    same = build_model(normalised, rng=np.random.default_rng(0))  # from the dict, too
    rebuilt = from_architecture(model.architecture())
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.architecture() == model.architecture() == same.architecture()
    x = np.random.default_rng(1).random((3, 1, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(rebuilt.predict(x), model.predict(x))
    np.testing.assert_array_equal(same.predict(x), model.predict(x))
    assert model.weight_decay and model.weight_decay == same.weight_decay
    assert model.l2 == same.l2
    model.save(tmp_path / "m.npz")  # the decay maps travel in the file's header
    loaded = load(tmp_path / "m.npz")
    assert (loaded.weight_decay, loaded.l2) == (model.weight_decay, model.l2)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_and_init_builds(name):
    for init in INITS:
        model = build_model(config(model={"sizes": [784, 8, 10], "activation": name,
                                          "init": init}).model)
        assert type(model[2]) is ACTIVATIONS[name]


@pytest.mark.parametrize("mode", MODES)
def test_every_augmentation_mode_is_the_augmentation_type(mode):
    cfg = config(train={"augmentation": {"mode": mode}})
    assert cfg.train.augmentation == Augmentation(mode=mode)
    assert load_config(cfg.to_dict()).train.augmentation == Augmentation(mode=mode)
    # the defaults are the class's
    assert config(train={"augmentation": {}}).train.augmentation == Augmentation()


@pytest.mark.parametrize("split", SPLITS)
def test_every_split_is_the_data_spec_type(split):
    cfg = config(data={"split": split, "n_train": 100, "n_valid": 50})
    assert isinstance(cfg.data, DataSpec) and cfg.data.split == split
    assert list(cfg.to_dict()["data"]) == ["split", *SPLIT_FIELDS[split]]
    assert DataSpec(**cfg.to_dict()["data"]) == cfg.data


def test_every_optimizer_and_schedule_parameter_has_a_check():
    # a new parameter without a check would reach the constructor unchecked
    fields = {f for table in (OPTIMIZER_FIELDS, SCHEDULE_FIELDS) for fs in table.values()
              for f in fs}
    assert fields <= set(ARG_CHECKS), sorted(fields - set(ARG_CHECKS))


SECTIONS = [  # (dataclass, registry, the fields each type uses, parameters that are not config)
    (schema.ModelConfig, MODELS, MODEL_FIELDS, ("rng", "dtype", "input_shape")),
    (schema.OptimizerConfig, OPTIMIZERS, OPTIMIZER_FIELDS, ("weight_decay",)),
    (schema.ScheduleConfig, SCHEDULES, SCHEDULE_FIELDS, ()),
]


@pytest.mark.parametrize("section, table, used, skip", SECTIONS,
                         ids=[s[0].__name__ for s in SECTIONS])
def test_the_written_out_schema_matches_the_constructors(section, table, used, skip):
    # The dataclasses and MODEL_FIELDS & co. are written by hand; a constructor that gains (or
    # loses, or renames) a parameter must fail here instead of silently changing every key.
    assert set(used) == set(table)
    for kind, cls in table.items():
        params = list(registry.fields(cls, skip))
        params = params if table is MODELS else params[1:]  # [0]: the optimizer's model, ...
        assert list(used[kind]) == params, kind
    names = [f.name for f in dataclasses.fields(section)]
    assert names[0] == "type"
    assert set(names[1:]) == {f for fields in used.values() for f in fields}
    assert all(f.default is None for f in dataclasses.fields(section)[1:])


def test_early_stopping_config_is_the_callbacks_parameters_with_its_defaults():
    params = registry.fields(EarlyStopping, skip=("monitor",))
    fields = {f.name: f.default for f in dataclasses.fields(schema.EarlyStoppingConfig)}
    assert fields == params and set(EARLY_STOPPING_CHECKS) == set(params)


def test_history_fields_are_written_out_and_round_trip():
    names = [f.name for f in dataclasses.fields(History)]
    assert names[:2] == ["iteration", "train_loss"] and names[-1] == "stopped_early"
    h = History(iteration=[1, 2], epoch_valid_acc=[0.5], best_epoch=0)
    assert History.from_dict({**h.to_dict(), "unknown": 1}) == h


# every field of each model type, with a value that is not the builder's default
ALL_MODEL_FIELDS = {
    "mlp": {"sizes": [784, 12, 10], "activation": "tanh", "init": "xavier",
            "weight_decay": [0.003, 0.002], "dropout": 0.3, "batchnorm": True},
    "cnn": {"channels": [1, 2, 3], "kernels": [[3, 5], [3, 3]], "linear_sizes": [126, 10],
            "activation": "sigmoid", "init": "normal0.1", "weight_decay": [0.01, 0.02],
            "linear_weight_decay": [0.03], "padding": 1, "dropout": 0.1, "conv_decay": "double",
            "batchnorm": True, "residual_blocks": [2, 1]},
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_every_model_field_is_read_from_the_config(kind):
    assert set(ALL_MODEL_FIELDS[kind]) == set(MODEL_FIELDS[kind])  # a new field needs a line
    given = ALL_MODEL_FIELDS[kind]
    defaults = registry.fields(MODELS[kind], skip=("rng", "dtype", "input_shape"))
    assert all(given[k] != defaults[k] for k in given if defaults[k] is not registry.REQUIRED)
    normalised = config(model={"type": kind, **given}).to_dict()["model"]
    assert normalised == {"type": kind, **given}


def test_fields_a_type_does_not_use_are_none():
    sgd = config(optimizer={"type": "sgd", "lr": 0.1}).optimizer
    assert (sgd.lr, sgd.momentum, sgd.nesterov, sgd.betas, sgd.eps) == (0.1, None, None, None,
                                                                         None)
    step = config(schedule={"type": "steplr", "step_size": 2}).schedule
    assert (step.gamma, step.milestones, step.T_max) == (0.1, None, None)
    mlp_cfg = config().model
    assert (mlp_cfg.channels, mlp_cfg.conv_decay, mlp_cfg.padding) == (None, None, None)
