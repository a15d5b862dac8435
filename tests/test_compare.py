"""nnlib.report.compare: the verdict rule, computed by hand here, and the tables built on it."""
import math

import numpy as np
import pandas as pd
import pytest

from nnlib.report import compare, reference
from nnlib.report.compare import Verdict, comparison_table, headline_row, seed_stats, verdict


def spread(mean, std):
    return math.sqrt(std ** 2 + mean * (1 - mean) / 10_000)


# ----------------------------------------------------------------------------- verdict
def test_one_seed_uses_the_binomial_term_only():
    m = 0.9572
    s = math.sqrt(m * (1 - m) / 10_000)  # 0.002024...
    v = verdict(0.9573, m)  # the replayed LeakyReLU vs one nnlib seed
    assert v.std == 0.0 and v.n_seeds == 1
    assert v.spread == pytest.approx(s, rel=1e-12)
    assert v.label == "consistent" and v.short == "consistent"
    # 0.9423 (published) is 0.0149 below: more than 2s ≈ 0.0040
    low = verdict(0.9423, m)
    assert low.label == "lower" and low.short == "lower by 0.0149"
    assert low.difference == pytest.approx(0.9423 - m)
    assert "one seed" in str(low)
    assert verdict(0.9423, m, float("nan")).std == 0.0  # seed_stats' NaN std of one seed
    assert verdict(0.9423, m, np.float32("nan")).std == 0.0
    assert verdict(0.9423, m, 0.05, n_seeds=1).std == 0.0  # one seed has no seed spread


@pytest.mark.parametrize("offset, label", [(+1, "higher"), (-1, "lower")])
def test_both_directions_and_the_boundary(offset, label):
    m, sd = 0.95, 0.003
    tol = 2 * spread(m, sd)
    inside = verdict(m + offset * (tol - 1e-9), m, sd, 3)
    outside = verdict(m + offset * (tol + 1e-6), m, sd, 3)
    assert inside.label == "consistent"
    assert outside.label == label
    assert outside.short == f"{label} by {tol + 1e-6:.4f}"
    assert outside.tolerance == pytest.approx(tol)


def test_seed_spread_widens_the_tolerance():
    # the same gap is "higher" with a tight seed spread and "consistent" with a wide one
    assert verdict(0.9700, 0.9650, 0.0005, 3).label == "higher"
    assert verdict(0.9700, 0.9650, 0.0030, 3).label == "consistent"


@pytest.mark.parametrize("ref", [None, float("nan"), np.nan])
def test_missing_reference(ref):
    v = verdict(ref, 0.98, 0.001, 3)
    assert v.label == "none" and v.short == "–" and v.difference is None
    assert v.to_dict() == {"verdict": "none", "reference": None, "difference": None,
                           "tolerance": pytest.approx(2 * spread(0.98, 0.001))}


def test_verdict_rejects_non_accuracies():
    with pytest.raises(ValueError, match="mean"):
        verdict(0.9, 96.5)
    with pytest.raises(ValueError, match="std"):
        verdict(0.9, 0.9, -0.1, n_seeds=3)


def test_verdict_to_dict_is_json_ready():
    import json
    d = verdict(np.float64(0.9806), np.float64(0.9790), np.float64(0.0016), 3).to_dict()
    assert d["verdict"] == "consistent"
    json.dumps(d)
    assert isinstance(Verdict(0.5, 0.5), Verdict)


# ----------------------------------------------------------------------------- tables
def runs_frame():
    return pd.DataFrame([
        {"act": "relu", "seed": 0, "test_accuracy": 0.9580, "test_loss": 0.150},
        {"act": "relu", "seed": 1, "test_accuracy": 0.9590, "test_loss": 0.148},
        {"act": "relu", "seed": 2, "test_accuracy": 0.9570, "test_loss": 0.152},
        {"act": "tanh", "seed": 0, "test_accuracy": 0.9500, "test_loss": 0.170},
    ])


def test_seed_stats():
    stats = seed_stats(runs_frame(), "act")
    m, s, n = stats["relu"]
    assert (m, n) == (pytest.approx(0.958), 3) and s == pytest.approx(0.001)
    assert math.isnan(stats["tanh"][1]) and stats["tanh"][2] == 1


def test_comparison_table_columns_and_verdicts():
    table = comparison_table(runs_frame(), "act",
                             published={"relu": reference.ACTIVATION["relu"]},
                             replayed={"relu": reference.REPLAYED_ACTIVATION["relu"]},
                             labels={"relu": "ReLU"})
    assert list(table.columns) == ["act", "seeds", "published", "replayed", "nnlib",
                                   "vs published", "vs replayed", "published loss",
                                   "replayed loss", "nnlib loss"]
    relu = table.iloc[0]
    assert relu["act"] == "ReLU" and relu["seeds"] == 3
    assert (relu["published"], relu["replayed"]) == ("0.9427", "0.9580")
    assert relu["nnlib"] == "0.9580 ± 0.0010"
    assert relu["vs published"] == "lower by 0.0153"
    assert relu["vs replayed"] == "consistent"
    assert relu["published loss"] == "0.1968" and relu["nnlib loss"] == "0.1500 ± 0.0020"
    tanh = table.iloc[1]
    assert (tanh["published"], tanh["vs published"], tanh["nnlib"]) == ("–", "–", "0.9500")
    # a label whose runs all failed (NaN metrics) is shown, not judged
    failed = pd.concat([runs_frame(), pd.DataFrame([{"act": "elu", "seed": 0,
                                                     "test_accuracy": np.nan,
                                                     "test_loss": np.nan}])])
    row = comparison_table(failed, "act", published={"elu": 0.9}).iloc[2]
    assert (row["nnlib"], row["vs published"]) == ("—", "–")


def test_reference_values_accepts_each_form():
    assert compare.reference_values({"accuracy": 0.9, "loss": 0.3}) == (0.9, 0.3)
    assert compare.reference_values((0.3, 0.9)) == (0.9, 0.3)
    assert compare.reference_values(0.9) == (0.9, None)
    assert compare.reference_values(None) == (None, None)


def test_headline_row():
    row = headline_row("relu", (0.958, 0.001, 3), reference.ACTIVATION["relu"],
                       reference.REPLAYED_ACTIVATION["relu"])
    assert row == {"name": "relu", "ours": 0.958, "ours_std": 0.001, "n_seeds": 3,
                   "published": 0.9427, "replayed": 0.9580}
    one = headline_row("x", (0.9, float("nan"), 1))
    assert one["ours_std"] is None and one["published"] is None and one["replayed"] is None


def test_difference_and_its_noise():
    stats = {"a": (0.96, 0.001, 3), "b": (0.95, 0.002, 3), "one": (0.95, float("nan"), 1),
             "c": (0.9601, 0.001, 3)}
    d = compare.difference(stats, "a", "b")
    assert d.value == pytest.approx(0.01)
    assert d.se == pytest.approx(math.sqrt(0.001 ** 2 / 3 + 0.002 ** 2 / 3))
    assert d.significant is True
    assert compare.difference(stats, "a", "c").significant is False
    assert compare.difference(stats, "a", "one").se is None
    assert compare.difference(stats, "a", "one").significant is None


def test_paired_difference_removes_the_shared_seed_noise():
    # seeds move both sides together (+-0.004); the effect is a steady +0.001
    base = {0: 0.950, 1: 0.958, 2: 0.946, 3: 0.954}
    rows = [{"arm": arm, "seed": s, "test_accuracy": acc + (0.001 + 1e-5 * s if arm == "b" else 0)}
            for s, acc in base.items() for arm in ("a", "b")]
    df = pd.DataFrame(rows[::-1])  # order must not matter: pairs are matched by seed
    paired = compare.paired_difference(df, "arm", "b", "a")
    diffs = np.array([0.001 + 1e-5 * s for s in base])
    assert paired.value == pytest.approx(diffs.mean())
    assert paired.se == pytest.approx(diffs.std(ddof=1) / 2)
    assert paired.paired and paired.n_a == 4 and paired.significant is True
    unpaired = compare.difference(compare.seed_stats(df, "arm"), "b", "a")
    assert unpaired.value == pytest.approx(paired.value) and unpaired.significant is False
    assert "mean of 4 per-seed differences" in compare.describe(paired, "b", "a")
    # a seed run on one side only is left out; no common seed is an error naming both sides
    lone = pd.concat([df, pd.DataFrame([{"arm": "b", "seed": 9, "test_accuracy": 0.5}])])
    assert compare.paired_difference(lone, "arm", "b", "a").value == pytest.approx(paired.value)
    with pytest.raises(ValueError, match="'b' and 'c'"):
        compare.paired_difference(df, "arm", "b", "c")
    one = compare.paired_difference(df[df["seed"] == 0], "arm", "b", "a")
    assert one.se is None and one.significant is None


def test_verdict_counts():
    table = pd.DataFrame({"vs published": ["consistent", "higher by 0.01", "lower by 0.02",
                                           "lower by 0.03", "–"]})
    assert compare.verdict_counts(table, "vs published") == {"consistent": 1, "higher": 1,
                                                             "lower": 2}


def test_size_sweep_summary():
    rows = [{"act": act, "data.n_train": n, "seed": s,
             "test_accuracy": base + {2500: 0.0, 5000: 0.02, 10_000: 0.04}[n]}
            for act, base in (("relu", 0.91), ("tanh", 0.97)) for n in (2500, 5000, 10_000)
            for s in (0, 1)]
    sweep = compare.size_sweep(pd.DataFrame(rows), "act",
                               published={"relu": 0.94, "tanh": 0.90},
                               replayed={"relu": {"accuracy": 0.95}})
    assert sweep.sizes == (2500, 5000, 10_000)
    assert sweep.reached["relu"] == pytest.approx(7500)  # 0.93 at 5,000 -> 0.95 at 10,000
    assert sweep.reached["tanh"] is None  # 0.90 is below its whole curve
    assert sweep.replayed_reached["relu"] == pytest.approx(10_000)
    assert sweep.replayed_reached["tanh"] is None
    t = sweep.table.set_index("act")
    assert t.loc["relu", "published reached at (images)"] == "7,500"
    assert t.loc["tanh", "published reached at (images)"] == "outside the sweep"
    assert t.loc["tanh", "replayed reached at (images)"] == "–"
    assert t.loc["relu", "nnlib, 5,000 images"] == "0.9300"
    assert not sweep.supports_fewer_images()
    only_relu = compare.size_sweep(pd.DataFrame(rows[:6]), "act", published={"relu": 0.94})
    assert only_relu.supports_fewer_images()


def test_difference_verdict_sentences():
    stats = {"a": (0.96, 0.001, 3), "b": (0.95, 0.001, 3), "c": (0.9605, 0.002, 3),
             "one": (0.95, float("nan"), 1)}
    assert "larger than the seed-to-seed noise" in compare.difference_verdict(stats, "a", "b")
    assert "within the seed-to-seed noise" in compare.difference_verdict(stats, "a", "c")
    assert "single seed" in compare.difference_verdict(stats, "a", "one")
    ref = {"a": {"accuracy": 0.94}, "b": (0.3, 0.93)}
    assert "The report found a − b = +0.0100" in compare.difference_verdict(stats, "a", "b", ref)


def test_size_for_accuracy_interpolates_the_first_crossing():
    sizes, acc = [2500, 5000, 7500, 10_000], [0.90, 0.92, 0.93, 0.94]
    assert compare.size_for_accuracy(sizes, acc, 0.91) == pytest.approx(3750)
    assert compare.size_for_accuracy(sizes[::-1], acc[::-1], 0.935) == pytest.approx(8750)
    assert compare.size_for_accuracy(sizes, acc, 0.92) == pytest.approx(5000)
    assert compare.size_for_accuracy(sizes, acc, 0.94) == pytest.approx(10_000)
    assert compare.size_for_accuracy(sizes, acc, 0.95) is None  # never reached
    assert compare.size_for_accuracy(sizes, acc, 0.85) is None  # below the smallest size
    # a dip on the way: the first crossing counts
    assert compare.size_for_accuracy([1, 2, 3], [0.5, 0.7, 0.6], 0.6) == pytest.approx(1.5)


# ----------------------------------------------------------------------------- reference data
def test_reference_entries_are_accuracies_with_losses():
    tables = [reference.ACTIVATION, reference.OPTIMIZER, reference.GRID, reference.GAMMA,
              reference.WEIGHT_DECAY, reference.CNN_VS_MLP, reference.AUGMENTATION,
              reference.REPLAYED_ACTIVATION, reference.REPLAYED_OPTIMIZER,
              reference.REPLAYED_GRID, reference.REPLAYED_GAMMA, reference.REPLAYED_WEIGHT_DECAY,
              reference.REPLAYED_AUGMENTATION]
    entries = [e for t in tables for e in t.values()]
    entries += [reference.MLP_FINAL, reference.CNN, reference.REPLAYED_MLP_FINAL,
                reference.REPLAYED_CNN]
    for e in entries:
        assert 0.9 < e["accuracy"] < 1.0 and 0.0 < e["loss"] < 0.3
    # every replayed grid cell is a cell of the published grid
    assert set(reference.REPLAYED_GRID) <= set(reference.GRID)
    assert len(reference.grid_frame()) == 27 and len(reference.grid_frame(replayed=True)) == 2
