"""nnlib.report.conclusions: each notebook's conclusion bullets, both sides of their branches."""
from types import SimpleNamespace

import pandas as pd
import pytest

from nnlib.report import compare, conclusions, reference


def _frame(by: str, values: dict) -> pd.DataFrame:
    """One row per (label, seed): ``values`` maps label → test accuracies over seeds."""
    return pd.DataFrame([{by: label, "seed": s, "test_accuracy": a, "test_loss": 0.1}
                         for label, accs in values.items() for s, a in enumerate(accs)])


def _sweep(reached: dict, sizes=(1000, 5000, 10000)) -> compare.SizeSweep:
    return compare.SizeSweep(None, reached, dict.fromkeys(reached), tuple(sizes))


def _run(acc, seed=0):
    return SimpleNamespace(seed=seed, test_accuracy=acc)


def test_bullets_and_target_words():
    assert conclusions.bullets(["a", "b"]) == "- a\n- b"
    assert conclusions.target_words(0.99, 0.99) == "meeting"
    assert conclusions.target_words(0.98, 0.99) == "missing"


@pytest.mark.parametrize("sigmoid, worse", [([0.92, 0.921, 0.919], True),
                                             ([0.957, 0.958, 0.959], False)])
def test_activations(sigmoid, worse):
    df = _frame("model.activation", {"sigmoid": sigmoid, "relu": [0.957, 0.958, 0.959],
                                     "leakyrelu": [0.9572, 0.9578, 0.9586]})
    stats = compare.seed_stats(df, "model.activation")
    table = compare.comparison_table(df, "model.activation", published=reference.ACTIVATION,
                                     replayed=reference.REPLAYED_ACTIVATION)
    text = conclusions.activations(stats, table, _sweep({"relu": 4800, "sigmoid": 6000}),
                                   _run(0.9887), 0.984)
    lines = text.splitlines()
    assert len(lines) == 5 and all(line.startswith("- ") for line in lines)
    assert "3 seed(s) each" in lines[0] and "within the seed noise" in lines[0]
    assert "\"equally good\" holds" in lines[0]
    assert ("is worse than both by more than the seed noise" in lines[1]) is worse
    assert "supports the hypothesis" in lines[3] and "4,800–6,000" in lines[3]
    assert "meeting the 0.984 MLP target" in lines[4]
    # a sweep that never reaches the published numbers does not support it
    text = conclusions.activations(stats, table, _sweep({"relu": None, "sigmoid": None}),
                                   _run(0.98), 0.984)
    assert "does not support the fewer-images hypothesis" in text and "missing the" in text


def test_optimizers_and_gap_text():
    df = _frame("optimizer.type", {"sgd": [0.937, 0.938, 0.940], "momentum": [0.957, 0.958,
                                                                               0.958]})
    stats = compare.seed_stats(df, "optimizer.type")
    table = compare.comparison_table(df, "optimizer.type", published=reference.OPTIMIZER,
                                     replayed=reference.REPLAYED_OPTIMIZER)
    gaps = pd.Series({1000: 0.02, 10000: 0.019})
    text = conclusions.optimizers(stats, table, _sweep({"sgd": 5000, "momentum": 4800}), gaps,
                                  0.9, one_run=True)
    assert "momentum is better, as it concluded" in text
    assert "ahead of SGD at every size (+0.0190 to +0.0200)" in text
    assert "one configuration and one cached run" in text
    mixed = conclusions.gap_text(pd.Series({1000: -0.01, 10000: 0.02}))
    assert mixed == ("the momentum − SGD gap changes sign across sizes (1,000: -0.0100, "
                     "10,000: +0.0200)")
    assert "**different** runs" in conclusions.optimizers(
        stats, table, _sweep({"sgd": None}), gaps, 0.9, one_run=False)


@pytest.mark.parametrize("final, reproduced", [((0.9811, 0.0008, 3), True),
                                               ((0.9700, 0.0008, 3), False)])
def test_scheduler(final, reproduced):
    df = _frame("gamma", {"gamma 1": [0.9680], "gamma 0.1": [0.9654]})
    gstats = compare.seed_stats(df, "gamma")
    gtable = compare.comparison_table(df, "gamma", published={"gamma 1": reference.GAMMA[1.0]},
                                      family_std=0.0001)
    v = compare.verdict(reference.MLP_FINAL["accuracy"], *final)
    text = conclusions.scheduler(gstats, gtable, 0.0001, 5, final, v, (20.0, 2104.7),
                                 _run(0.9887), 0.984)
    # one seed per gamma, judged with the family's σ: 0.0026 > 2·0.0001·√2
    assert "differ by +0.0026, more than the seed noise." in text
    assert ("final MLP is reproduced" in text) is reproduced
    assert ("final MLP is **not** reproduced" in text) is not reproduced
    assert "(105× as long" in text
    # without a family σ, one seed per gamma cannot be told from the noise
    text = conclusions.scheduler(gstats, gtable, None, 5, final, v, (20.0, 2104.7),
                                 _run(0.9887), 0.984)
    assert "does not show that decay helps or hurts" in text


def test_regularization():
    wd = compare.seed_stats(_frame("wd", {"on": [0.981, 0.982, 0.980],
                                          "off": [0.979, 0.980, 0.9795]}), "wd")
    es = compare.seed_stats(_frame("es", {"with": [0.9812, 0.9810, 0.9815],
                                          "without": [0.9812, 0.9810, 0.9815]}), "es")
    do = compare.seed_stats(_frame("do", {"dropout 0.2": [0.990, 0.991, 0.990],
                                          "dropout 0": [0.981, 0.982, 0.980]}), "do")
    text = conclusions.regularization((wd, "on", "off"), (es, "with", "without", 2, 10, 6.0),
                                      (do, "dropout 0.2", "dropout 0"), 0.0003, 3)
    assert "after 6.0 epochs on average (40 % fewer)" in text
    assert "Improving the final MLP by more than the seed noise: weight decay, dropout." in text
    none = conclusions.regularization((wd, "off", "on"), (es, "with", "without", 2, 10, 10.0),
                                      (do, "dropout 0", "dropout 0.2"), 0.0003, 3)
    assert "None of the three regularizers improves the final MLP" in none


def test_cnn():
    stats = compare.seed_stats(_frame("model", {"cnn": [0.9869, 0.9855, 0.9880],
                                                "mlp": [0.9803, 0.9818, 0.9813]}), "model")
    dstats = compare.seed_stats(_frame("v", {"twice": [0.9869, 0.9855, 0.9880],
                                             "once": [0.9878, 0.9860, 0.9895]}), "v")
    v_once = compare.verdict(0.9836, *dstats["once"])
    v_twice = compare.verdict(0.9836, *dstats["twice"])
    text = conclusions.cnn(stats, (dstats, "twice", "once", v_once, v_twice), 60.0,
                           (0, 131, 10000, (7, 4, 9), 9, 0.021), _run(0.9944))
    assert "the CNN is better" in text
    assert "the most frequent confusion is 4→9 (7×)" in text and "(2.1 %)" in text
    assert ("does not change the verdict" in text) is (v_once.label == v_twice.label)
    assert "meeting the" in text
    assert "confusion" not in conclusions.cnn(
        stats, (dstats, "twice", "once", v_once, v_twice), 60.0,
        (0, 131, 10000, None, 9, 0.021), _run(0.99))


def test_unjudged_rows_say_so():
    """A quick build runs one seed with no family σ: every verdict is unjudged, and the
    conclusions say that instead of "0 of 3 consistent" or "not reproduced"."""
    assert conclusions.counted({"consistent": 2, "above": 0, "below": 1}, 4, "cells") == \
        "2 of 3 cells consistent"
    assert conclusions.counted({"consistent": 0, "above": 0, "below": 0}, 3, "activations") == \
        "none of the 3 activations could be judged (no seed spread)"
    df = _frame("model.activation", {"sigmoid": [0.74], "relu": [0.87], "leakyrelu": [0.873]})
    stats = compare.seed_stats(df, "model.activation")
    table = compare.comparison_table(df, "model.activation", published=reference.ACTIVATION,
                                     replayed=reference.REPLAYED_ACTIVATION)
    text = conclusions.activations(stats, table, _sweep({"relu": None}), _run(0.76), 0.984)
    assert "none of the 3 activations could be judged (no seed spread)" in text
    final = (0.9806, float("nan"), 1)
    v = compare.verdict(reference.MLP_FINAL["accuracy"], *final)
    gstats = compare.seed_stats(_frame("gamma", {"gamma 1": [0.86]}), "gamma")
    gtable = compare.comparison_table(_frame("gamma", {"gamma 1": [0.86]}), "gamma",
                                      published={"gamma 1": reference.GAMMA[1.0]})
    text = conclusions.scheduler(gstats, gtable, None, 5, final, v, (1.0, 2104.7), _run(0.8),
                                 0.984)
    assert "cannot be judged with one seed: 0.9806" in text and "not** reproduced" not in text
    one = compare.seed_stats(_frame("x", {"a": [0.86], "b": [0.87]}), "x")
    text = conclusions.regularization((one, "a", "b"), (one, "a", "b", 2, 3, 3.0),
                                      (one, "a", "b"), 0.0003, 1)
    assert "With one seed, none of the three can be told from the seed noise." in text


def test_gain_share_and_judged():
    sig = compare.Difference(0.0020, 0.0005)      # larger than 2 standard errors
    noise = compare.Difference(0.0004, 0.0005)
    assert conclusions.gain_share(noise, sig) == "there is no measurable gain to split"
    assert conclusions.gain_share(sig, noise) == "not a measurable share of the gain"
    assert conclusions.gain_share(sig, compare.Difference(0.0030, 0.0005)) == \
        "as much as the whole gain, or more"
    assert conclusions.gain_share(sig, compare.Difference(0.0015, 0.0005)) == \
        "75 % of the whole gain"
    assert conclusions.judged(sig) == "**+0.0020** (more than the seed noise)"


def test_augmentation():
    arms = {"(a) none": [0.981, 0.9818, 0.9813], "(b) as run": [0.9832, 0.9827, 0.9837],
            "(c) as intended": [0.9853, 0.9848, 0.9858], "(d) control": [0.9834, 0.9820, 0.9848]}
    df = _frame("arm", arms)
    stats = compare.seed_stats(df, "arm")
    diff = {(a, b): compare.paired_difference(df, "arm", a, b)
            for a, b in [("(b) as run", "(a) none"), ("(d) control", "(a) none"),
                         ("(b) as run", "(d) control"), ("(c) as intended", "(d) control")]}
    step = compare.Difference(0.0001, 0.0002)
    text = conclusions.augmentation(stats, diff, step, [], _run(0.9952), _run(0.9944))
    assert "3 seed(s) per arm" in text and "changes no verdict." in text
    assert "the report published +0.0020" in text and "+0.0008 against cnn_improved" in text
    text = conclusions.augmentation(stats, diff, step, ["replayed"], _run(0.99), _run(0.9944))
    assert "changes the verdict against the replayed number." in text and "missing the" in text


def test_beyond():
    stats = {"deeper MLP": (0.9923, 0.0005, 3), "residual CNN": (0.9945, 0.0002, 3),
             "report's final MLP": (0.9811, 0.0008, 3), "report's CNN": (0.9869, 0.0013, 3)}
    ens = {k: {"test_accuracy": v} for k, v in (("deeper MLP", 0.9924), ("residual CNN", 0.9960))}
    ablation = pd.DataFrame({"variant": ["MLP: − dropout", "CNN: − BatchNorm"],
                             "Δ test": [0.0004, 0.0]})
    text = conclusions.beyond(stats, ens, {"deeper MLP": 383, "residual CNN": 347},
                              {"deeper MLP": 0.992, "residual CNN": 0.996}, ablation,
                              ["MLP: − dropout", "CNN: − BatchNorm"], True, 0)
    assert "0.9945 ± 0.0002 (missing the 0.9960 target)" in text
    assert "0.9923 ± 0.0005 (meeting the 0.9920 target)" in text
    assert "dropout (MLP), BatchNorm (CNN)." in text
    assert "none." in conclusions.beyond(stats, ens, {"deeper MLP": 1, "residual CNN": 1},
                                         {"deeper MLP": 0.9, "residual CNN": 0.9}, ablation, [],
                                         True, 0)
    assert "not judged (one seed: no σ)." in conclusions.beyond(
        stats, ens, {"deeper MLP": 1, "residual CNN": 1}, {"deeper MLP": 0.9, "residual CNN": 0.9},
        ablation, [], False, 0)


def test_overview():
    import numpy as np
    checks = pd.DataFrame({"matches nnlib's digest": [True, True]})
    shares = pd.DataFrame({"train": [0.09, 0.11], "test": [0.08, 0.12]})
    x = np.zeros((4, 1, 2, 2), dtype=np.uint8)
    x[:, 0, 0, 0] = 255
    dev = pd.Series({"train": 0.002, "valid": 0.004})
    text = conclusions.overview(checks, shares, x, x[:2], (True, True, dev))
    assert "match nnlib's SHA-256 digests" in text and "3 of the 4 pixel positions" in text
    assert "reproduced exactly" in text and "more than 0.40%" in text
    checks["matches nnlib's digest"] = [True, False]
    text = conclusions.overview(checks, shares, x, x[:2], (True, False, dev))
    assert "do **not** match" in text and "subset's training positions differ" in text


def test_grid():
    label = "lr={:g}, hidden={:.0f}, wd={:g}".format
    ranked = pd.DataFrame({"lr": [0.1, 0.1, 0.01], "hidden": [1000, 500, 1000],
                           "wd": [1e-3, 1e-3, 1e-4], "best_valid_accuracy_mean": [0.97, 0.97, 0.96],
                           "test_accuracy_mean": [0.968, 0.967, 0.957]})
    tstats = {label(*r[["lr", "hidden", "wd"]]): (r["test_accuracy_mean"], float("nan"), 1)
              for _, r in ranked.iterrows()}
    df = ranked.rename(columns={"test_accuracy_mean": "test_accuracy"})
    table = pd.DataFrame({"vs published": ["published 0.0085 below ours", "consistent",
                                           "published 0.0100 below ours"],
                          "replayed": ["0.9688", "–", "–"],
                          "vs replayed": ["replayed 0.0008 above ours", "–", "–"]})
    text = conclusions.grid(ranked, label, tstats, 0.0001, df, table, pd.Series([-0.01, 0.0]),
                            0.5, 1)
    assert "3 cells × 1 seed(s)" in text and "tied on validation with 1 other cell(s)" in text
    assert "the report's choice lr=0.1, hidden=1000, wd=0.001 ranks 1 of 3" in text
    assert "more than the seed noise." in text  # 0.001 > 2·0.0001·√2
    assert "1 of 3 cells consistent, the published number below ours for 2" in text
    assert "rank correlation 0.50" in text
    assert "replayed: 0 of 1 cells with a replay consistent." in text
    assert "cannot tell its top two cells apart" in conclusions.grid(
        ranked, label, tstats, None, df, table, pd.Series([-0.01]), float("nan"), 1)


def test_weights():
    rebuilt = {"exact": True, "pixels": 67, "mean": 0.990050, "std": 2e-7, "expected": 0.990050}
    moved = pd.Series({("final MLP", 0): 0.4, ("mlp_improved", 0): 1.5})
    unit = {"never active (%)": 3.0, "mean fraction of digits a unit fires on": 0.25}
    text = conclusions.weights(0, rebuilt, moved, {"final MLP": unit, "mlp_improved": unit},
                               2000, ["5 of 6 kernels", "10 of 16 kernels"])
    assert "rebuilt exactly" in text and "mostly show the initialisation" in text
    assert "5 of 6 kernels; 10 of 16 kernels." in text
    moved[("final MLP", 0)] = 1.2
    text = conclusions.weights(0, {**rebuilt, "exact": False}, moved,
                               {"final MLP": unit, "mlp_improved": unit}, 2000, [])
    assert "**not** exactly" in text and "mostly show what was learned" in text


def test_sweep_finding():
    assert "**4,800–6,000 training images** (48%–60% of the stated 10,000)" in \
        conclusions.sweep_finding(_sweep({"relu": 4800, "sigmoid": 6000}))
    assert "Only 1 of 2 published numbers" in conclusions.sweep_finding(
        _sweep({"relu": 10000, "sigmoid": None}))
    assert "neither supports nor rules out" in conclusions.sweep_finding(
        _sweep({"relu": None, "sigmoid": None}))
