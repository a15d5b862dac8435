"""Experiment configs: read, check and normalise JSON into frozen dataclasses.

Two input schemas are accepted and give the same ``Config``:

* the seed report's, unchanged (``configs/seed/*.json``): top-level ``model``, ``optimizer``,
  ``lr_scheduler``, ``metric``, ``"loss function"``, ``train``; keys ``size_list``, ``act_func``,
  ``weight_decay_list``, ``channel_list``, ``kernel_list``, ``linear_size_list``,
  ``linear_weight_decay_list``, ``init_lr``, ``epoch``; type names in any case ("Momentum",
  "stepLR", "CNN"); ``train.log_iter`` (the report's logging interval) is accepted and checked,
  and changes nothing. Such a config (recognised by any of those report-only keys, or by
  ``metric`` / ``"loss function"``) defaults to what the report's code did: init "normal0.1"
  (N(0,1)·0.1), ``data.split`` "report" and ``train.empty_final_step`` true. One report-only
  key is enough (e.g. ``"epoch"`` instead of ``"epochs"``); state the three fields to override
  them;
* our own, which is what ``Config.to_dict()`` writes::

    {"model":     {"type": "mlp", "sizes": [784, 1000, 10], "activation": "leakyrelu",
                   "init": "he", "weight_decay": [0.001, 0.001], "dropout": 0.0},
     "optimizer": {"type": "momentum", "lr": 0.1, "momentum": 0.9, "nesterov": false},
     "schedule":  {"type": "steplr", "step_size": 2, "gamma": 0.1},
     "train":     {"batch_size": 32, "epochs": 5, "eval_every": null, "seed": 0,
                   "early_stopping": null, "augmentation": null, "empty_final_step": false},
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
milestones, gamma; exponentiallr → gamma; cosine → T_max, eta_min). In the dataclasses a field the
chosen type does not use is None. Giving a field the type does not use is an error (it would be
silently ignored otherwise). The names a type may take and its fields are those of the class it
builds (``schema`` writes them out, a test compares them with the registries of ``nnlib.nn``),
its defaults are the class's, and each value is checked by the class's own rules; the data
section is a ``nnlib.lab.data.DataSpec``, the augmentation an ``nnlib.lab.augment.Augmentation``.

The package: ``checks`` (``ConfigError`` and the value checks), ``schema`` (the dataclasses),
``parse`` (both schemas, section by section), ``files`` (``load_config``, ``save_config``),
``overrides`` (``with_overrides``).

Every mistake raises ``ConfigError`` (a ``ValueError``) with a one-line message naming the key
path as written in the input, the bad value and what is allowed, e.g.
``configs/x.json: lr_scheduler.type: 'steplr2' is not one of steplr, multisteplr, ...``.
Build dataclasses through ``load_config`` / ``with_overrides``: direct construction is not checked.
The list fields are plain lists (compare equal to ``[784, 1000, 10]``); do not mutate them.
"""
from __future__ import annotations

from .checks import ConfigError
from .files import load_config, save_config
from .overrides import with_overrides
from .schema import (
    IMAGE_SIZE,
    N_CLASSES,
    N_PIXELS,
    Config,
    EarlyStoppingConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
)

__all__ = [
    "IMAGE_SIZE", "N_CLASSES", "N_PIXELS", "Config", "ConfigError", "EarlyStoppingConfig",
    "ModelConfig", "OptimizerConfig", "ScheduleConfig", "TrainConfig", "load_config",
    "save_config", "with_overrides",
]
