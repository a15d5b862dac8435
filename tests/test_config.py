"""nnlib.lab.config: the report's configs load unchanged; every mistake names its key path."""
import copy
import dataclasses
import json
from pathlib import Path

import pytest

from nnlib.lab.augment import Augmentation
from nnlib.lab.config import (
    Config,
    ConfigError,
    EarlyStoppingConfig,
    ScheduleConfig,
    load_config,
    save_config,
    with_overrides,
)

ROOT = Path(__file__).resolve().parents[1]
SEED_MLP = ROOT / "configs" / "seed" / "mlp_final.json"
SEED_CNN = ROOT / "configs" / "seed" / "cnn.json"
OWN_CONFIGS = [ROOT / "configs" / "mlp_800_adam.json", ROOT / "configs" / "cnn_improved.json"]

# The report's two configs, as printed in SEED_REPORT.md.
REPORT_MLP = {
    "model": {"size_list": [784, 1000, 10], "act_func": "LeakyReLU",
              "weight_decay_list": [0.001, 0.001]},
    "optimizer": {"type": "Momentum", "init_lr": 0.1},
    "lr_scheduler": {"type": "stepLR", "step_size": 2, "gamma": 0.1},
    "metric": {"type": "accuracy"}, "loss function": {"type": "cross entropy"},
    "train": {"batch_size": 32, "epoch": 5, "log_iter": 100}}
REPORT_CNN = {
    "model": {"type": "CNN", "channel_list": [1, 6, 16], "kernel_list": [[5, 5], [5, 5]],
              "linear_size_list": [256, 128, 64, 10], "act_func": "LeakyReLU",
              "weight_decay_list": [0.001, 0.001],
              "linear_weight_decay_list": [0.001, 0.001, 0.001]},
    "optimizer": {"type": "Momentum", "init_lr": 0.01},
    "lr_scheduler": {"type": "stepLR", "step_size": 5, "gamma": 0.1},
    "metric": {"type": "accuracy"}, "loss function": {"type": "cross entropy"},
    "train": {"batch_size": 32, "epoch": 5, "log_iter": 100}}


def report_mlp(**model_changes):
    raw = copy.deepcopy(REPORT_MLP)
    raw["model"].update(model_changes)
    return raw


# ----------------------------------------------------------------------------- seed configs
def test_seed_files_are_the_report_configs_verbatim():
    assert json.loads(SEED_MLP.read_text()) == REPORT_MLP
    assert json.loads(SEED_CNN.read_text()) == REPORT_CNN


def test_seed_mlp_normalises():
    cfg = load_config(SEED_MLP)
    m, o, s, t, d = cfg.model, cfg.optimizer, cfg.schedule, cfg.train, cfg.data
    assert (m.type, m.sizes, m.activation, m.init) == ("mlp", [784, 1000, 10], "leakyrelu",
                                                      "normal0.1")
    assert m.weight_decay == [0.001, 0.001] and m.dropout == 0.0
    assert m.channels is None and m.linear_sizes is None
    assert (o.type, o.lr, o.momentum, o.nesterov) == ("momentum", 0.1, 0.9, False)
    assert (s.type, s.step_size, s.gamma, s.milestones, s.T_max) == ("steplr", 2, 0.1, None, None)
    assert (t.batch_size, t.epochs, t.eval_every, t.seed) == (32, 5, None, 0)
    assert t.early_stopping is None and t.augmentation is None
    # the report's schema implies the report's own split and its runner's iteration count
    assert (d.split, d.n_train, d.n_valid, d.split_seed) == ("report", None, 10_000, 0)
    assert t.empty_final_step is True


def test_own_schema_defaults_to_a_random_split():
    ours = load_config({"model": {"sizes": [784, 10]}, "optimizer": {"type": "sgd", "lr": 0.1}})
    assert (ours.data.split, ours.data.split_seed) == ("random", 0)
    assert ours.train.empty_final_step is False
    assert ours.to_dict()["data"] == {"split": "random", "n_train": None, "n_valid": 10_000,
                                      "split_seed": 0}
    # the report split has no seed, so its normalised form has none
    report = load_config(SEED_MLP).to_dict()["data"]
    assert report == {"split": "report", "n_train": None, "n_valid": 10_000}
    # either can be asked for explicitly, in either schema
    raw = copy.deepcopy(REPORT_MLP)
    raw["data"] = {"split": "random", "split_seed": 4}
    raw["train"]["empty_final_step"] = False
    cfg = load_config(raw)
    assert (cfg.data.split, cfg.data.split_seed, cfg.train.empty_final_step) == ("random", 4,
                                                                                 False)
    ours_report = load_config({"model": {"sizes": [784, 10]}, "optimizer": {"type": "sgd",
                              "lr": 0.1}, "data": {"split": "Report", "n_train": 10_000,
                                                   "n_valid": 2_000}})
    assert (ours_report.data.split, ours_report.data.n_train) == ("report", 10_000)


@pytest.mark.parametrize("section, key, value", [
    ("train", "epoch", 5), ("optimizer", "init_lr", 0.1), ("model", "act_func", "relu")])
def test_one_report_key_implies_all_three_report_defaults(section, key, value):
    raw = {"model": {"sizes": [784, 10]}, "optimizer": {"type": "sgd", "lr": 0.1},
           "train": {"epochs": 5}}
    own = load_config(raw)
    assert (own.model.init, own.data.split, own.train.empty_final_step) == ("he", "random", False)
    alias = {"epoch": "epochs", "init_lr": "lr", "act_func": "activation"}[key]
    raw[section].pop(alias, None)
    raw[section][key] = value
    cfg = load_config(raw)
    assert (cfg.model.init, cfg.data.split, cfg.train.empty_final_step) == (
        "normal0.1", "report", True)
    # each default can be overridden explicitly
    raw.update(data={"split": "random"})
    raw["model"]["init"] = "he"
    raw["train"]["empty_final_step"] = False
    assert load_config(raw).to_dict() == with_overrides(own, {
        "optimizer.lr": cfg.optimizer.lr, "model.activation": cfg.model.activation}).to_dict()


def test_switching_the_split_drops_the_seed_and_changes_the_key():
    report = load_config(SEED_MLP)
    random = with_overrides(report, {"data.split": "random"})
    assert random.data.split == "random" and random.to_dict() != report.to_dict()
    seeded = with_overrides(random, {"data.split_seed": 3})
    back = with_overrides(seeded, {"data.split": "report"})  # split_seed no longer applies
    assert back == report and back.to_dict() == report.to_dict() and hash(back) == hash(report)
    with pytest.raises(ConfigError, match=r"data\.split_seed.*not used by data split 'report'"):
        with_overrides(seeded, {"data.split": "report", "data.split_seed": 3})


def test_seed_cnn_normalises():
    cfg = load_config(SEED_CNN)
    m = cfg.model
    assert (m.type, m.channels, m.kernels, m.padding) == ("cnn", [1, 6, 16], [[5, 5], [5, 5]], 0)
    assert m.linear_sizes == [256, 128, 64, 10] and m.sizes is None
    assert m.weight_decay == [0.001, 0.001] and m.linear_weight_decay == [0.001] * 3
    assert (m.activation, m.init) == ("leakyrelu", "normal0.1")
    assert m.conv_output_shape() == (16, 4, 4)
    assert (cfg.optimizer.type, cfg.optimizer.lr) == ("momentum", 0.01)
    assert (cfg.schedule.type, cfg.schedule.step_size, cfg.schedule.gamma) == ("steplr", 5, 0.1)
    assert cfg.train.epochs == 5
    assert m.conv_decay == "decoupled"  # the report's double decay is an option, not implied
    double = load_config(copy.deepcopy(REPORT_CNN) | {"model": {**REPORT_CNN["model"],
                                                                "conv_decay": "double"}})
    assert double.model.conv_decay == "double" and double != cfg
    assert load_config(double.to_dict()) == double


def test_to_dict_is_our_schema_in_fixed_order():
    d = load_config(SEED_MLP).to_dict()
    assert list(d) == ["model", "optimizer", "schedule", "train", "data"]
    assert list(d["model"]) == ["type", "sizes", "activation", "init", "weight_decay", "dropout",
                              "batchnorm"]
    assert d["optimizer"] == {"type": "momentum", "lr": 0.1, "momentum": 0.9, "nesterov": False}
    assert d["schedule"] == {"type": "steplr", "step_size": 2, "gamma": 0.1}
    assert d["train"]["epochs"] == 5
    json.dumps(d)  # serialisable


@pytest.mark.parametrize("path", [SEED_MLP, SEED_CNN, *OWN_CONFIGS], ids=lambda p: p.name)
def test_round_trip(path, tmp_path):
    cfg = load_config(path)
    assert load_config(cfg.to_dict()) == cfg
    assert load_config(cfg) is cfg
    save_config(cfg, tmp_path / "params.json")
    assert load_config(tmp_path / "params.json") == cfg
    assert load_config(str(tmp_path / "params.json")).to_dict() == cfg.to_dict()


def test_own_example_configs_are_normalised_and_consistent():
    for path in OWN_CONFIGS:
        assert load_config(path).to_dict() == json.loads(path.read_text()), path.name
    cnn = load_config(OWN_CONFIGS[1]).model
    assert cnn.conv_output_shape() == (64, 7, 7) and cnn.linear_sizes[0] == 3136


def test_load_does_not_mutate_input():
    raw = copy.deepcopy(REPORT_CNN)
    load_config(raw)
    assert raw == REPORT_CNN


# ----------------------------------------------------------------------------- leniency
@pytest.mark.parametrize("name, expected", [
    ("LeakyReLU", "leakyrelu"), ("leaky_relu", "leakyrelu"), ("LEAKYRELU", "leakyrelu"),
    ("ReLU", "relu"), ("relu", "relu"), ("Sigmoid", "sigmoid"), ("Tanh", "tanh")])
def test_activation_any_case(name, expected):
    assert load_config(report_mlp(act_func=name)).model.activation == expected


@pytest.mark.parametrize("section, name, expected", [
    ("optimizer", "SGD", "sgd"), ("optimizer", "momentum", "momentum"),
    ("optimizer", "Momentum", "momentum"), ("optimizer", "ADAM", "adam"),
    ("lr_scheduler", "StepLR", "steplr"), ("lr_scheduler", "steplr", "steplr"),
    ("lr_scheduler", "STEPLR", "steplr")])
def test_type_names_any_case(section, name, expected):
    raw = copy.deepcopy(REPORT_MLP)
    raw[section]["type"] = name  # init_lr is the only optimizer key: valid for every type
    cfg = load_config(raw)
    got = cfg.optimizer.type if section == "optimizer" else cfg.schedule.type
    assert got == expected


def test_other_schedules_from_report_schema():
    raw = copy.deepcopy(REPORT_MLP)
    raw["lr_scheduler"] = {"type": "MultiStepLR", "milestones": [2, 4], "gamma": 0.5}
    s = load_config(raw).schedule
    assert (s.type, s.milestones, s.gamma, s.step_size) == ("multisteplr", [2, 4], 0.5, None)
    raw["lr_scheduler"] = {"type": "ExponentialLR", "gamma": 0.9}
    assert load_config(raw).schedule == ScheduleConfig("exponentiallr", gamma=0.9)
    raw["lr_scheduler"] = {"type": "cosine"}  # T_max defaults to the epoch count
    s = load_config(raw).schedule
    assert (s.type, s.T_max, s.eta_min) == ("cosine", 5, 0.0)


@pytest.mark.parametrize("name", ["CNN", "cnn", "Cnn"])
def test_model_type_any_case(name):
    raw = copy.deepcopy(REPORT_CNN)
    raw["model"]["type"] = name
    assert load_config(raw).model.type == "cnn"


@pytest.mark.parametrize("name", ["cross entropy", "crossentropy", "cross_entropy",
                                  "Cross Entropy", "CrossEntropy"])
def test_loss_name_any_case(name):
    raw = copy.deepcopy(REPORT_MLP)
    raw["loss function"]["type"] = name
    # the section is checked, then dropped: the config is the report's, whatever the spelling
    assert load_config(raw) == load_config(REPORT_MLP)
    assert load_config(raw).data.split == "report"  # and it still marks the report's schema


def test_defaults_and_our_additions():
    # our schema defaults to he init; missing weight decay means zeros; int kernels → pairs
    cfg = load_config({"model": {"type": "cnn", "channels": [1, 32, 64], "kernels": [3, 3],
                                 "padding": 1, "linear_sizes": [3136, 10]},
                       "optimizer": {"type": "sgd", "lr": 0.1}})
    m = cfg.model
    assert m.init == "he" and m.kernels == [[3, 3], [3, 3]]
    assert m.weight_decay == [0.0, 0.0] and m.linear_weight_decay == [0.0]
    assert cfg.schedule.type == "none" and cfg.train.batch_size == 32 and cfg.train.epochs == 5
    # report schema with our additions
    raw = report_mlp(init="Xavier", dropout=0.5, weight_decay_list=1e-4)
    raw["train"].update(seed=3, eval_every=500, early_stopping={"patience": 2},
                        augmentation={"mode": "append"})
    raw["data"] = {"n_train": 10_000, "n_valid": 2_000}
    cfg = load_config(raw)
    assert (cfg.model.init, cfg.model.dropout, cfg.model.weight_decay) == ("xavier", 0.5,
                                                                            [1e-4, 1e-4])
    assert cfg.train.early_stopping == EarlyStoppingConfig(patience=2)
    assert cfg.train.augmentation == Augmentation("append", 10.0, 0.1, 0.5)
    assert (cfg.train.seed, cfg.train.eval_every) == (3, 500)
    assert (cfg.data.n_train, cfg.data.n_valid) == (10_000, 2_000)
    assert load_config(cfg.to_dict()) == cfg
    # the model type defaults to mlp; the report-style schema defaults to the report's init
    assert load_config(REPORT_MLP).model.type == "mlp"
    ours = {"model": {"sizes": [784, 10]}, "optimizer": {"type": "sgd", "lr": 0.1}}
    assert load_config(ours).model.init == "he"
    assert load_config({**ours, "schedule": {"type": "none"}}).schedule.type == "none"


def test_augmentation_with_elastic_distortion():
    raw = copy.deepcopy(REPORT_MLP)
    raw["train"]["augmentation"] = {"mode": "online", "rotate": 10, "shift": 0.1, "p": 0.5,
                                    "elastic_alpha": 34, "elastic_sigma": 4}
    cfg = load_config(raw)
    assert cfg.train.augmentation == Augmentation("online", 10.0, 0.1, 0.5, 34.0, 4.0)
    assert cfg.to_dict()["train"]["augmentation"]["elastic_alpha"] == 34.0
    assert load_config(cfg.to_dict()) == cfg
    # an augmentation written before elastic distortion existed loads with it off
    raw["train"]["augmentation"] = {"mode": "append"}
    aug = load_config(raw).train.augmentation
    assert (aug.elastic_alpha, aug.elastic_sigma) == (0.0, 4.0)


def test_conv_output_shape():
    from nnlib.nn.models import conv_output_shape
    assert conv_output_shape([1, 6, 16], [5, 5]) == (16, 4, 4)
    assert conv_output_shape([1, 32, 64], [[3, 3], [3, 3]], padding=1) == (64, 7, 7)
    with pytest.raises(ValueError, match="stage 3"):
        conv_output_shape([1, 4, 4, 4], [5, 5, 5])


# ----------------------------------------------------------------------------- mistakes
def _edit(base, edit):
    raw = copy.deepcopy(base)
    edit(raw)
    return raw


def _set(section, key, value, base=REPORT_MLP):
    def edit(raw):
        raw[section][key] = value
    return _edit(base, edit)


def _drop(section, key, base=REPORT_MLP):
    def edit(raw):
        del raw[section][key]
    return _edit(base, edit)


MISTAKES = [
    # id, raw config, strings the message must contain
    ("bad scheduler type", _set("lr_scheduler", "type", "steplr2"),
     ["lr_scheduler.type", "'steplr2'", "steplr, multisteplr, exponentiallr, cosine, none"]),
    ("negative lr", _set("optimizer", "init_lr", -0.1), ["optimizer.init_lr", "-0.1", "> 0"]),
    ("zero lr own schema", {"model": {"sizes": [784, 10]}, "optimizer": {"type": "sgd", "lr": 0}},
     ["optimizer.lr", "0.0", "> 0"]),
    ("lr as string", _set("optimizer", "init_lr", "0.1"), ["optimizer.init_lr", "'0.1'", "number"]),
    ("unknown optimizer", _set("optimizer", "type", "adamw"),
     ["optimizer.type", "'adamw'", "sgd, momentum, adam", "did you mean 'adam'"]),
    ("size_list[0] != 784", _set("model", "size_list", [783, 1000, 10]),
     ["model.size_list[0]", "783", "784"]),
    ("last size != 10", _set("model", "size_list", [784, 1000, 9]),
     ["model.size_list[2]", "9", "must be 10"]),
    ("zero hidden size", _set("model", "size_list", [784, 0, 10]),
     ["model.size_list[1]", "0", ">= 1"]),
    ("weight_decay length", _set("model", "weight_decay_list", [0.001]),
     ["model.weight_decay_list", "[0.001]", "2 entries"]),
    ("negative weight_decay", _set("model", "weight_decay_list", [0.001, -1]),
     ["model.weight_decay_list[1]", "-1", ">= 0"]),
    ("cnn weight_decay length", _set("model", "weight_decay_list", [0.1] * 3, REPORT_CNN),
     ["model.weight_decay_list", "[0.1, 0.1, 0.1]", "2 entries", "conv layer"]),
    ("linear_weight_decay length",
     _set("model", "linear_weight_decay_list", [0.001, 0.001], REPORT_CNN),
     ["model.linear_weight_decay_list", "[0.001, 0.001]", "3 entries"]),
    ("linear_sizes[0] mismatch", _set("model", "linear_size_list", [400, 120, 10], REPORT_CNN),
     ["model.linear_size_list[0]", "400", "must be 256", "16 channels", "4×4"]),
    ("linear_sizes last", _set("model", "linear_size_list", [256, 11], REPORT_CNN),
     ["model.linear_size_list[1]", "11", "10"]),
    ("channels[0] != 1", _set("model", "channel_list", [3, 6, 16], REPORT_CNN),
     ["model.channel_list[0]", "3", "must be 1"]),
    ("kernel count", _set("model", "kernel_list", [5], REPORT_CNN),
     ["model.kernel_list", "[5]", "2 entries"]),
    ("kernel too big", _set("model", "kernel_list", [[5, 5], [13, 13]], REPORT_CNN),
     ["model.kernel_list[1]", "[13, 13]", "too big", "12×12"]),
    ("kernel bigger than image", _set("model", "kernel_list", [29, 3], REPORT_CNN),
     ["model.kernel_list[0]", "[29, 29]", "too big", "28×28"]),
    ("unknown model key", _edit(REPORT_MLP, lambda r: r["model"].update(sise_list=[784, 10])),
     ["model", "'sise_list'", "did you mean 'size_list'"]),
    ("unknown top key", _edit(REPORT_MLP, lambda r: r.update(trian={})),
     ["'trian'", "did you mean 'train'"]),
    ("unknown train key", _edit(REPORT_MLP, lambda r: r["train"].update(epochz=3)),
     ["train", "'epochz'", "did you mean"]),
    ("unknown activation", _set("model", "act_func", "Relu2"),
     ["model.act_func", "'Relu2'", "relu, leakyrelu, sigmoid, tanh", "did you mean 'relu'"]),
    ("unknown init", _set("model", "init", "uniform"), ["model.init", "'uniform'", "he"]),
    ("dropout 1", _set("model", "dropout", 1.0), ["model.dropout", "1.0", "[0, 1)"]),
    ("early_stopping patience 0",
     _edit(REPORT_MLP, lambda r: r["train"].update(early_stopping={"patience": 0})),
     ["train.early_stopping.patience", "0", ">= 1"]),
    ("early_stopping not an object",
     _edit(REPORT_MLP, lambda r: r["train"].update(early_stopping=2)),
     ["train.early_stopping", "2", "patience"]),
    ("augmentation bad mode",
     _edit(REPORT_MLP, lambda r: r["train"].update(augmentation={"mode": "double"})),
     ["train.augmentation.mode", "'double'", "online, append"]),
    ("augmentation p", _edit(REPORT_MLP, lambda r: r["train"].update(augmentation={"p": 2})),
     ["train.augmentation.p", "2.0", "[0, 1]"]),
    ("augmentation elastic_sigma 0",
     _edit(REPORT_MLP, lambda r: r["train"].update(augmentation={"elastic_sigma": 0})),
     ["train.augmentation.elastic_sigma", "0.0", "> 0"]),
    ("augmentation elastic_alpha string",
     _edit(REPORT_MLP, lambda r: r["train"].update(augmentation={"elastic_alpha": "x"})),
     ["train.augmentation.elastic_alpha", "'x'", "number"]),
    ("augmentation elastic_alpha negative",
     _edit(REPORT_MLP, lambda r: r["train"].update(augmentation={"elastic_alpha": -1})),
     ["train.augmentation.elastic_alpha", "-1.0", ">= 0"]),
    ("epoch 0", _set("train", "epoch", 0), ["train.epoch", "0", ">= 1"]),
    ("batch size float", _set("train", "batch_size", 32.5),
     ["train.batch_size", "32.5", "integer"]),
    ("step_size missing", _drop("lr_scheduler", "step_size"),
     ["lr_scheduler.step_size", "missing"]),
    ("gamma 0", _set("lr_scheduler", "gamma", 0), ["lr_scheduler.gamma", "0.0", "> 0"]),
    ("milestones not increasing",
     _edit(REPORT_MLP, lambda r: r.update(lr_scheduler={"type": "MultiStepLR",
                                                         "milestones": [3, 2]})),
     ["lr_scheduler.milestones[1]", "2", "must be > 3"]),
    ("field not used by type",
     _edit(REPORT_MLP, lambda r: r.update(lr_scheduler={"type": "cosine", "step_size": 2})),
     ["lr_scheduler.step_size", "2", "not used", "'cosine'"]),
    ("momentum on sgd", _edit(REPORT_MLP, lambda r: r["optimizer"].update(type="SGD",
                                                                           momentum=0.5)),
     ["optimizer.momentum", "0.5", "not used", "'sgd'"]),
    ("cnn key on mlp", _set("model", "channel_list", [1, 6])
     , ["model.channel_list", "[1, 6]", "not used", "'mlp'"]),
    ("alias given twice", _set("model", "sizes", [784, 10]), ["model.sizes", "twice"]),
    ("bad metric", _set("metric", "type", "f1"), ["metric.type", "'f1'", "accuracy"]),
    ("bad loss", _set("loss function", "type", "mse"),
     ["loss function.type", "'mse'", "cross entropy"]),
    ("n_train too big", _edit(REPORT_MLP, lambda r: r.update(data={"n_train": 55_000})),
     ["data.n_train", "55000", "50000"]),
    ("report split, n_valid too big",
     _edit(REPORT_MLP, lambda r: r.update(data={"n_valid": 12_000})),
     ["data.n_valid", "12000", "10000", "split 'report'"]),
    ("adam without lr", _edit(REPORT_MLP, lambda r: r.update(optimizer={"type": "adam"})),
     ["optimizer.lr", "missing", "> 0"]),
    ("n_valid null", _edit(REPORT_MLP, lambda r: r.update(data={"n_valid": None})),
     ["data.n_valid", "None", "integer"]),
    ("random split, n_train too big",
     _edit(REPORT_MLP, lambda r: r.update(data={"split": "random", "n_valid": 20_000,
                                                "n_train": 45_000})),
     ["data.n_train", "45000", "40000"]),
    ("split_seed with the report split",
     _edit(REPORT_MLP, lambda r: r.update(data={"split_seed": 2})),
     ["data.split_seed", "2", "not used", "'report'"]),
    ("unknown split", _edit(REPORT_MLP, lambda r: r.update(data={"split": "lab"})),
     ["data.split", "'lab'", "random, report"]),
    ("bad conv_decay", _edit(REPORT_CNN, lambda r: r["model"].update(conv_decay="triple")),
     ["model.conv_decay", "'triple'", "decoupled, double"]),
    ("conv_decay on mlp", _set("model", "conv_decay", "double"),
     ["model.conv_decay", "not used", "'mlp'"]),
    ("empty_final_step not a bool",
     _edit(REPORT_MLP, lambda r: r["train"].update(empty_final_step="yes")),
     ["train.empty_final_step", "'yes'", "true or false"]),
    ("unknown augmentation mode",
     _edit(REPORT_MLP, lambda r: r["train"].update(augmentation={"mode": "replace"})),
     ["train.augmentation.mode", "'replace'", "online, append, overwrite"]),
    ("model missing", _edit(REPORT_MLP, lambda r: r.pop("model")), ["model", "missing"]),
    ("model not an object", _edit(REPORT_MLP, lambda r: r.update(model=[784, 10])),
     ["model", "[784, 10]", "object"]),
]


@pytest.mark.parametrize("raw, fragments", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_mistakes_name_path_and_value(raw, fragments):
    with pytest.raises(ConfigError) as info:
        load_config(raw)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_config_error_is_value_error_with_path():
    with pytest.raises(ValueError) as info:
        load_config(_set("optimizer", "init_lr", -1))
    assert info.value.path == "optimizer.init_lr"


def test_file_errors_are_prefixed_with_the_file_name(tmp_path):
    bad = tmp_path / "bad_value.json"
    bad.write_text(json.dumps(_set("lr_scheduler", "type", "steplr2")))
    with pytest.raises(ConfigError, match=r"^.*bad_value\.json: lr_scheduler\.type: 'steplr2'"):
        load_config(bad)


def test_invalid_json_names_file_line_and_column(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"model": {"size_list": [784, 10]},\n "optimizer": {"type": "sgd",, }}\n')
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    message = str(info.value)
    assert "broken.json" in message and "line 2" in message and "column" in message
    assert "\n" not in message


def test_duplicate_json_key_is_an_error(tmp_path):
    bad = tmp_path / "dup.json"
    bad.write_text('{"model": {"size_list": [784, 10], "size_list": [784, 5, 10]}}')
    with pytest.raises(ConfigError, match=r"dup\.json.*'size_list' appears twice"):
        load_config(bad)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.json: no such config file"):
        load_config(tmp_path / "nope.json")


def test_not_a_config():
    with pytest.raises(ConfigError):
        load_config(42)


# ----------------------------------------------------------------------------- overrides
def test_with_overrides_grid_search_style():
    base = load_config(SEED_MLP)
    cfg = with_overrides(base, {"optimizer.lr": 0.01, "model.sizes": [784, 500, 10],
                                "model.weight_decay": [1e-4, 1e-4], "schedule.gamma": 0.5,
                                "train.epochs": 3})
    assert cfg.optimizer.lr == 0.01 and cfg.model.sizes == [784, 500, 10]
    assert cfg.model.weight_decay == [1e-4, 1e-4] and cfg.schedule.gamma == 0.5
    assert cfg.train.epochs == 3
    assert cfg.model.init == "normal0.1"  # kept from the seed config
    assert base.optimizer.lr == 0.1 and base.model.sizes == [784, 1000, 10]  # unchanged


def test_with_overrides_nested_index_and_derived():
    base = load_config(SEED_MLP)
    cfg = with_overrides(base, {"model.sizes[1]": 2000, "train.early_stopping.patience": 2})
    assert cfg.model.sizes == [784, 2000, 10]
    assert cfg.train.early_stopping == EarlyStoppingConfig(patience=2)
    assert with_overrides(cfg, {"train.early_stopping": None}).train.early_stopping is None
    # a uniform weight decay follows the layer count
    deeper = with_overrides(base, {"model.sizes": [784, 500, 500, 10]})
    assert deeper.model.weight_decay == [0.001] * 3
    # changing a type drops the fields the new type does not use; cosine T_max follows epochs
    cos = with_overrides(base, {"schedule.type": "cosine", "optimizer.type": "adam"})
    assert (cos.schedule.type, cos.schedule.T_max, cos.schedule.step_size) == ("cosine", 5, None)
    assert cos.optimizer.type == "adam" and cos.optimizer.betas == [0.9, 0.999]
    assert with_overrides(cos, {"train.epochs": 12}).schedule.T_max == 12
    pinned = with_overrides(cos, {"schedule.T_max": 4})
    assert with_overrides(pinned, {"train.epochs": 12}).schedule.T_max == 4


@pytest.mark.parametrize("overrides, fragments", [
    ({"optimizer.learning_rate": 0.1}, ["optimizer.learning_rate", "did you mean 'lr'"]),
    ({"optimiser.lr": 0.1}, ["optimiser", "did you mean 'optimizer'"]),
    ({"optimizer.lr": -1}, ["optimizer.lr", "-1.0", "> 0"]),
    ({"model.sizes": [784, 500, 100, 10], "model.weight_decay": [0.1, 0.2]},
     ["model.weight_decay", "3 entries"]),
    ({"model.sizes[7]": 5}, ["model.sizes[7]", "out of range"]),
    ({"schedule.step_size": 0}, ["schedule.step_size", "0", ">= 1"]),
    ({"train.early_stopping.patience": 0}, ["train.early_stopping.patience", ">= 1"]),
])
def test_with_overrides_errors(overrides, fragments):
    with pytest.raises(ConfigError) as info:
        with_overrides(load_config(SEED_MLP), overrides)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_with_overrides_accepts_a_path():
    assert with_overrides(SEED_CNN, {"train.epochs": 1}).train.epochs == 1


# ----------------------------------------------------------------------------- equality
def test_equal_configs_compare_and_hash_alike_and_any_change_shows():
    a, b = load_config(SEED_MLP), load_config(copy.deepcopy(REPORT_MLP))
    assert hash(a) == hash(b) and a == b
    # equal values written differently give the same config
    assert load_config(_set("optimizer", "init_lr", 1e-1)) == a
    assert load_config(report_mlp(act_func="leaky_relu")) == a
    # any change gives another config (and another run key: experiments.run_key hashes to_dict())
    texts = {json.dumps(a.to_dict(), sort_keys=True)}
    for overrides in ({"optimizer.lr": 0.2}, {"train.seed": 1}, {"model.weight_decay": 0.0},
                      {"schedule.gamma": 0.5}, {"data.n_train": 10_000}, {"train.epochs": 6},
                      {"model.dropout": 0.1}, {"data.split": "random"},
                      {"train.empty_final_step": False}):
        texts.add(json.dumps(with_overrides(a, overrides).to_dict(), sort_keys=True))
    assert len(texts) == 10
    assert json.dumps(load_config(SEED_CNN).to_dict(), sort_keys=True) not in texts


def test_log_iter_of_the_reports_schema_is_accepted_checked_and_dropped():
    # the report's runner logged every log_iter iterations; nnlib logs per epoch, so the key is
    # read (the report's configs carry it) and checked, but changes nothing
    cfg = load_config(SEED_MLP)
    assert "log_iter" not in cfg.to_dict()["train"]
    raw = copy.deepcopy(REPORT_MLP)
    del raw["train"]["log_iter"]
    assert load_config(raw) == cfg
    raw["train"]["log_iter"] = 0
    with pytest.raises(ConfigError, match=r"train\.log_iter: 0 must be >= 1"):
        load_config(raw)
    with pytest.raises(ConfigError, match=r"'train\.log_iter': no longer part of the config"):
        with_overrides(cfg, {"train.log_iter": 5})


def test_config_is_frozen():
    cfg = load_config(SEED_MLP)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.optimizer.lr = 1.0  # type: ignore[misc]
    assert isinstance(cfg, Config)
