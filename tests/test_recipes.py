"""nnlib.lab.recipes: every protocol of the report, on the report's own split, and the runs the
notebooks share through the cache are one configuration each."""
import pytest

from nnlib.lab import recipes
from nnlib.lab.config import with_overrides
from nnlib.lab.experiments import run_key


def test_search_protocol_is_the_reports_subset_of_its_own_split():
    cfg = recipes.grid_base()
    assert (cfg.data.split, cfg.data.n_train, cfg.data.n_valid) == ("report", 10_000, 2_000)
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.model.init) == (20, 32, "normal0.1")
    assert (cfg.schedule.step_size, cfg.schedule.gamma) == (5, 1.0)
    base = recipes.activation_base()
    assert (base.optimizer.lr, base.model.sizes, base.model.weight_decay) == (
        0.01, [784, 1000, 10], [1e-4, 1e-4])
    assert base.data == cfg.data


def test_experiments_1_2_and_the_grid_cell_are_one_run():
    leaky = recipes.activation_base()
    # 01's grid over model.activation, 02's over optimizer.type, 03's over lr/sizes/wd
    from_01 = with_overrides(recipes.activation_base("Sigmoid"), {"model.activation": "leakyrelu"})
    from_02 = with_overrides(recipes.activation_base(optimizer="SGD"),
                             {"optimizer.type": "momentum"})
    from_03 = with_overrides(recipes.grid_base(), {"optimizer.lr": 0.01,
                                                  "model.sizes": [784, 1000, 10],
                                                  "model.weight_decay": [1e-4, 1e-4]})
    keys = {run_key(c, 0) for c in (leaky, from_01, from_02, from_03)}
    assert len(keys) == 1
    # notebook 04 overrides schedule.gamma on the grid's chosen cell: the recipe's own config
    assert run_key(recipes.grid_base(0.1, 1000, 1e-3, 0.5), 0) == run_key(
        with_overrides(recipes.grid_base(), {"schedule.gamma": 0.5}), 0)
    assert recipes.grid_base(gamma=0.5).schedule.gamma == 0.5
    # ... and so does its quick version: notebook 04's gamma runs are the recipes' (and 03's cell)
    chosen = recipes.grid_base(0.1, 1000, 1e-3)
    for gamma in (1.0, 0.5, 0.1, 0.05):
        for shrink in (lambda c: c, recipes.quick):
            assert with_overrides(shrink(chosen), {"schedule.gamma": gamma}) == \
                shrink(recipes.grid_base(0.1, 1000, 1e-3, gamma))
    cell = with_overrides(recipes.grid_base(), {"optimizer.lr": 0.1, "model.sizes": [784, 1000, 10],
                                                "model.weight_decay": [1e-3, 1e-3]})
    assert run_key(cell, 0) == run_key(chosen, 0)


def test_sweep_sizes_fit_the_report_split():
    for n in recipes.SWEEP_SIZES:
        assert with_overrides(recipes.activation_base(), {"data.n_train": n}).data.n_train == n
    assert max(recipes.SWEEP_SIZES) == recipes.activation_base().data.n_train


def test_final_models_use_the_full_report_split():
    for cfg in (recipes.final_mlp(), recipes.seed_cnn()):
        assert (cfg.data.split, cfg.data.n_train, cfg.data.n_valid) == ("report", None, 10_000)
    assert recipes.seed_cnn().model.conv_decay == "double"  # notebook 06's rule (docstring)
    once = recipes.seed_cnn("decoupled")
    assert once.model.conv_decay == "decoupled" and run_key(once, 0) != run_key(
        recipes.seed_cnn(), 0)
    # our own recipes keep a random split
    assert recipes.mlp_improved().data.split == "random"


def test_augmentation_arms():
    arms = {a: recipes.augmentation_arm(a) for a in recipes.AUGMENTATION_ARMS}
    assert arms["none"] == recipes.final_mlp()
    assert arms["as run"].train.augmentation.mode == "overwrite"
    assert arms["as intended"].train.augmentation.mode == "append"
    control = arms["control"].train.augmentation
    assert (control.mode, control.p) == ("append", 0.0)
    assert len({run_key(c, 0) for c in arms.values()}) == 4
    with pytest.raises(ValueError, match="arm"):
        recipes.augmentation_arm("both")


@pytest.mark.parametrize("make", [recipes.grid_base, recipes.activation_base, recipes.final_mlp,
                                  recipes.seed_cnn, recipes.mlp_improved, recipes.cnn_improved,
                                  recipes.cnn_augmented])
def test_quick_versions_are_valid_and_distinct(make):
    cfg = make()
    q = recipes.quick(cfg)
    assert (q.train.epochs, q.data.n_train, q.data.n_valid) == (1, 2000, 500)
    assert q.data.split == cfg.data.split and run_key(q, 0) != run_key(cfg, 0)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_beyond_recipes_and_their_ablations(kind):
    variants = recipes.beyond_ablations(kind)
    recipe = variants.pop("recipe")
    assert recipe == (recipes.beyond_mlp() if kind == "mlp" else recipes.beyond_cnn())
    aug = recipe.train.augmentation
    assert (aug.mode, aug.elastic_alpha) == ("online", 34.0) and aug.elastic_sigma > 0
    assert recipe.schedule.T_max == recipe.train.epochs  # cosine decays to 0 at the last epoch
    assert recipe.data.split == "random"  # our own split: the test set never selects
    if kind == "cnn":
        assert recipe.model.batchnorm and recipe.model.residual_blocks == [0, 1]
    else:
        assert len(recipe.model.sizes) == 4 and recipe.model.dropout > 0
    assert list(variants) == list(recipes.ABLATIONS[kind])
    base = recipe.to_dict()
    for label, cfg in variants.items():  # each removes exactly the one thing its label says
        changed = {(section, k) for section, fields in cfg.to_dict().items()
                   for k, v in (fields or {}).items() if base[section].get(k) != v}
        expected = {tuple(path.split(".")[:2]) for path in recipes.ABLATIONS[kind][label]}
        if label.startswith("− depth"):
            expected.add(("model", "weight_decay"))  # one entry per Linear layer
        assert changed == expected, label
    with pytest.raises(ValueError, match="expected one of mlp, cnn"):
        recipes.beyond_ablations("rnn")
