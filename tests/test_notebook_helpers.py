"""nnlib.report.notebook and nnlib.report.weights: the helpers the notebooks call."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import nnlib
from nnlib.lab import recipes
from nnlib.report import notebook as nb
from nnlib.report import weights


def test_maybe_quick():
    cfg = recipes.final_mlp()
    assert nb.maybe_quick(cfg, False) is cfg
    q = nb.maybe_quick(cfg, True, epochs=3)
    assert q == recipes.quick(cfg, epochs=3) and q.train.epochs == 3


def test_check_runs_passes_good_grids_and_names_the_first_failure():
    good = pd.DataFrame({"error": [None, None], "test_accuracy": [0.9, 0.8]})
    assert nb.check_runs(good) is good
    bad = pd.DataFrame({"error": [None, "ValueError: boom", "OSError: disk"]})
    with pytest.raises(RuntimeError, match=r"^2 run\(s\) failed: ValueError: boom$"):
        nb.check_runs(bad)


def test_histories_and_runs_by_read_the_run_dirs(tmp_path, mnist_cache):
    from nnlib.lab import experiments as ex
    from nnlib.lab.config import with_overrides
    cfg = recipes.quick(recipes.final_mlp(), epochs=1, n_train=64, n_valid=32)
    cfg = with_overrides(cfg, {"model.sizes": [784, 8, 10]})
    runs = [ex.run(cfg, s, runs_dir=tmp_path, progress="off") for s in (0, 1)]
    df = pd.DataFrame({"arm": ["a", "b"], "run_dir": [str(r.run_dir) for r in runs]})
    hs = nb.histories(df)
    assert [h.to_dict() for h in hs] == [r.history.to_dict() for r in runs]
    by = nb.runs_by(df, "arm")
    assert list(by) == ["a", "b"] and by["b"][0].to_dict() == runs[1].history.to_dict()


def test_verdict_and_target_sentences():
    assert nb.verdict_markdown("dropout", "we measured -0.0021.") == \
        "**Verdict (dropout).** We measured -0.0021."
    assert nb.verdict_markdown("x", "a", "(note)").endswith("A (note)")
    run = SimpleNamespace(test_accuracy=0.9891, test_loss=0.0321, training_time_s=73.2, seed=0,
                          history=SimpleNamespace(epochs_run=20))
    text = nb.target_sentence("mlp_improved", run, 0.984)
    assert text.startswith("**mlp_improved (seed 0)**: test accuracy 0.9891, loss 0.0321")
    assert "73 s (20 epochs). Target 0.984: **met**." in text
    short = nb.target_sentence("m", SimpleNamespace(**{**vars(run), "test_accuracy": 0.98}), 0.984)
    assert "**not met** (short by 0.0040)" in short


def test_weight_arrays_and_unit_activity():
    model = nnlib.mlp([4, 3, 2], rng=np.random.default_rng(0))
    ws = weights.weight_arrays(model)
    assert [w.shape for w in ws] == [(4, 3), (3, 2)] and ws[0] is model[1].params["W"]
    W = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    x = np.array([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    stats = weights.unit_activity(W, np.zeros_like(W), np.zeros(3), x)
    # unit 0 fires on 2 of 4 inputs, unit 1 on 1, unit 2 never
    assert stats["never active (%)"] == pytest.approx(100 / 3)
    assert stats["mean fraction of digits a unit fires on"] == pytest.approx((0.5 + 0.25) / 3)
    assert stats["‖w‖ per unit (median)"] == pytest.approx(1.0)


def test_kernel_orientations_of_ideal_edges():
    horizontal = np.zeros((5, 5))
    horizontal[2] = 1.0  # a horizontal stroke
    vertical = horizontal.T.copy()
    flat = np.ones((5, 5))
    W = np.stack([horizontal, vertical, flat])[:, None]
    table = weights.kernel_orientations(W)
    assert list(table["orientation"]) == ["horizontal", "vertical", "no clear direction"]
    assert table["coherence"].iloc[0] == pytest.approx(1.0) and table["coherence"].iloc[2] == 0
    assert table["stroke angle (°)"].iloc[1] == pytest.approx(90.0)
    assert weights.orientation_counts(table, "the test's") == (
        "2 of the test's 3 first-layer kernels (1 horizontal, 1 vertical)")
    assert weights.orientation_counts(table.iloc[2:], "its") == "0 of its 1 first-layer kernels"


@pytest.mark.parametrize("given, seeds", [([0, 1], [0, 1]), ((2,), [2]), ("[0, 1]", [0, 1]),
                                          ("3", [3]), (3, [3]), (" [4] ", [4]),
                                          (range(3), [0, 1, 2]), ([np.int64(5)], [5])])
def test_seed_list_reads_papermill_strings(given, seeds):
    assert nb.seed_list("SEEDS", given) == seeds


@pytest.mark.parametrize("given", ["zero", "[]", "[-1]", "[0.5]", [True], "{'a': 1}", None, True,
                                   "[0, 0]", "0,1"])
def test_seed_list_names_the_parameter_and_how_to_pass_one(given):
    with pytest.raises(ValueError,
                       match=r"parameter GRID_SEEDS: expected .*distinct.*-y 'GRID_SEEDS: \["):
        nb.seed_list("GRID_SEEDS", given)
