"""What each notebook trains, listed without running it: ``requests("03_grid_search", values)``
is every (config, seed) run the notebook's cells ask for with those parameter values, built from
the same :mod:`~nnlib.lab.recipes` the notebook uses.

The report submits a build's whole list to a cluster before the kernels start
(:mod:`nnlib.lab.prefetch`), so every worker is busy from the first minute and a notebook starts
once its runs are in. A listing that drifts from its notebook costs time, never numbers: a run
the listing misses is trained when the notebook asks for it, one it lists in vain is stored
unused. ``tests/test_protocols.py`` holds each listing to the run keys its notebook asked for,
in the published report and in a quick build.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from . import recipes
from .config import Config, with_overrides
from .experiments import seeded

__all__ = ["PROTOCOLS", "Request", "requests"]


@dataclass(frozen=True)
class Request:
    """One training run a notebook asks for: ``experiments.run(config, seed)``."""

    config: Config
    seed: int

    @property
    def key(self) -> str:
        """Its run key (the run cache's folder name), as ``experiments.run`` computes it."""
        return seeded(self.config, self.seed)[1]


def _grid(base: Config, axes: dict, seeds) -> list[Request]:
    """What ``grid(base, axes, seeds=seeds)`` trains: every cell of ``axes``, for each seed."""
    names = list(axes)
    return [Request(with_overrides(base, dict(zip(names, values))), int(seed))
            for values in itertools.product(*axes.values()) for seed in seeds]


def _setup(values: dict, *names: str) -> tuple[bool, Callable, dict]:
    """``QUICK``, the notebook's ``maybe_quick`` and its seed lists (one seed each when quick)."""
    quick = bool(values.get("QUICK", False))
    seeds = {name: list(values[name])[:1] if quick else list(values[name]) for name in names}
    return quick, (recipes.quick if quick else (lambda cfg: cfg)), seeds


def _activations(values: dict) -> list[Request]:  # 01_activations
    quick, shrink, s = _setup(values, "SEEDS")
    seeds = s["SEEDS"]
    sizes = [1000, 2000] if quick else list(recipes.SWEEP_SIZES)
    base = shrink(recipes.activation_base())
    acts = ["sigmoid", "relu", "leakyrelu"]
    return (_grid(base, {"model.activation": acts}, seeds)
            + _grid(base, {"model.activation": acts, "data.n_train": sizes}, seeds)
            + [Request(shrink(recipes.mlp_improved()), seeds[0])])


def _optimizers(values: dict) -> list[Request]:  # 02_optimizers
    quick, shrink, s = _setup(values, "SEEDS")
    seeds = s["SEEDS"]
    sizes = [1000, 2000] if quick else list(recipes.SWEEP_SIZES)
    base = shrink(recipes.activation_base())
    opts = ["sgd", "momentum"]
    return (_grid(base, {"optimizer.type": opts}, seeds)
            + _grid(base, {"optimizer.type": opts, "data.n_train": sizes}, seeds)
            + [Request(shrink(recipes.mlp_improved()), seeds[0])])


def _grid_search(values: dict) -> list[Request]:  # 03_grid_search
    quick, shrink, s = _setup(values, "SEEDS", "GRID_SEEDS")
    lrs, hidden, wds = (([0.1, 0.01], [1000], [1e-3, 1e-4]) if quick else
                        ([0.1, 0.01, 0.001], [500, 1000, 2000], [1e-2, 1e-3, 1e-4]))
    axes = {"optimizer.lr": lrs, "model.sizes": [[784, h, 10] for h in hidden],
            "model.weight_decay": [[wd, wd] for wd in wds]}
    return (_grid(shrink(recipes.grid_base()), axes, s["GRID_SEEDS"])
            + _grid(shrink(recipes.grid_base(0.1, 1000, 1e-3)), {}, s["SEEDS"])
            + [Request(shrink(recipes.mlp_improved()), s["SEEDS"][0])])


def _scheduler_gamma(values: dict) -> list[Request]:  # 04_scheduler_gamma
    _, shrink, s = _setup(values, "SEEDS", "GAMMA_SEEDS")
    base = shrink(recipes.grid_base(lr=0.1, hidden=1000, wd=1e-3))
    return (_grid(base, {"schedule.gamma": [1.0, 0.5, 0.1, 0.05]}, s["GAMMA_SEEDS"])
            + _grid(base, {}, s["SEEDS"]) + _grid(shrink(recipes.final_mlp()), {}, s["SEEDS"])
            + [Request(shrink(recipes.mlp_improved()), s["SEEDS"][0])])


def _regularization(values: dict) -> list[Request]:  # 05_regularization
    quick, shrink, s = _setup(values, "SEEDS")
    seeds = s["SEEDS"]
    base = shrink(recipes.final_mlp())
    es_base = with_overrides(recipes.final_mlp(), {"train.epochs": 10})
    es_base = recipes.quick(es_base, epochs=3) if quick else es_base
    stopping = {"patience": 2, "restore_best": True}
    return (_grid(base, {"model.weight_decay": [[1e-3, 1e-3], [0.0, 0.0]]}, seeds)
            + _grid(es_base, {"train.early_stopping": [None, stopping]}, seeds)
            + _grid(base, {"model.dropout": [0.0, 0.2]}, seeds)
            + [Request(shrink(recipes.mlp_improved()), seeds[0])])


def _cnn(values: dict) -> list[Request]:  # 06_cnn
    _, shrink, s = _setup(values, "SEEDS")
    seeds = s["SEEDS"]
    cnn = shrink(recipes.seed_cnn())
    return (_grid(cnn, {"model.conv_decay": ["decoupled", "double"]}, seeds)
            + _grid(shrink(recipes.final_mlp()), {}, seeds)
            + [Request(cnn, seeds[0]), Request(shrink(recipes.cnn_improved()), seeds[0])])


def _augmentation(values: dict) -> list[Request]:  # 07_augmentation
    _, shrink, s = _setup(values, "SEEDS")
    seeds = s["SEEDS"]
    arms = {arm: shrink(recipes.augmentation_arm(arm))  # the notebook's ARMS, in its order
            for arm in ("none", "as run", "as intended", "control")}
    augmentations = [cfg.to_dict()["train"]["augmentation"] for cfg in arms.values()]
    return (_grid(shrink(recipes.final_mlp()), {"train.augmentation": augmentations}, seeds)
            + _grid(arms["as run"], {"train.empty_final_step": [False]}, seeds)
            + [Request(shrink(recipes.cnn_augmented()), seeds[0]),
               Request(shrink(recipes.cnn_improved()), seeds[0])])


def _weights(values: dict) -> list[Request]:  # 08_weights
    _, shrink, s = _setup(values, "SEEDS")
    seeds = s["SEEDS"]
    shown = [shrink(cfg()) for cfg in (recipes.final_mlp, recipes.seed_cnn, recipes.mlp_improved,
                                       recipes.cnn_improved)]
    return [Request(cfg, seeds[0]) for cfg in shown] + [r for cfg in shown[:2]
                                                        for r in _grid(cfg, {}, seeds)]


def _beyond(values: dict) -> list[Request]:  # 09_beyond
    _, shrink, s = _setup(values, "SEEDS")
    seeds = s["SEEDS"]
    all_seeds = [shrink(recipes.beyond_mlp()), shrink(recipes.beyond_cnn()),
                 shrink(recipes.final_mlp()), shrink(recipes.seed_cnn())]
    ablations = [shrink(cfg) for kind in ("mlp", "cnn")
                 for label, cfg in recipes.beyond_ablations(kind).items() if label != "recipe"]
    return ([Request(cfg, seed) for cfg in all_seeds for seed in seeds]
            + [Request(cfg, seeds[0]) for cfg in ablations])


#: Each notebook's listing, by the notebook's name (its file name without ``.ipynb``).
PROTOCOLS: dict[str, Callable[[dict], list[Request]]] = {
    "00_overview": lambda values: [],
    "01_activations": _activations,
    "02_optimizers": _optimizers,
    "03_grid_search": _grid_search,
    "04_scheduler_gamma": _scheduler_gamma,
    "05_regularization": _regularization,
    "06_cnn": _cnn,
    "07_augmentation": _augmentation,
    "08_weights": _weights,
    "09_beyond": _beyond,
}


def requests(notebook: str, values: dict) -> list[Request] | None:
    """The runs notebook ``notebook`` asks for, in its order, with a repeated run listed once;
    ``values``: the parameter values it runs with (``QUICK``, ``SEEDS``, ...: its parameters
    cell overridden by what the build passes, ``report.parameters.parameter_values``). None for
    a notebook without a listing (it asks for its runs as it goes)."""
    listing = PROTOCOLS.get(notebook)
    if listing is None:
        return None
    unique = {}
    for request in listing(values):
        unique.setdefault(request.key, request)
    return list(unique.values())
