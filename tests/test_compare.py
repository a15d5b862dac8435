"""nnlib.report.compare: the verdict rule, computed by hand here, and the tables built on it."""
import math

import numpy as np
import pandas as pd
import pytest

from nnlib.report import compare, reference
from nnlib.report.compare import Verdict, comparison_table, headline_row, seed_stats, verdict


def tolerance(sigma, n, n_reference=1):
    return 2 * sigma * math.sqrt(1 / n_reference + 1 / n)


# ----------------------------------------------------------------------------- verdict
def test_three_seeds_use_their_own_seed_std():
    m, sd = 0.9576, 0.0011  # exp. 1 relu: 3 seeds
    v = verdict(0.9427, m, sd, 3)  # the published number, 0.0149 below
    assert v.sigma == sd and v.tolerance == pytest.approx(2 * sd * math.sqrt(1 + 1 / 3))
    assert v.label == "below" and v.short == "reference 0.0149 below ours"
    assert v.text("published") == "published 0.0149 below ours"
    assert v.difference == pytest.approx(0.9427 - m)
    assert "3 seeds" in str(v) and "σ 0.0011" in str(v)
    # 0.9580 (replayed) is 0.0004 above: inside 2σ·√(4/3) ≈ 0.0025
    assert verdict(0.9580, m, sd, 3).label == "consistent"


def test_the_test_set_sampling_error_is_not_in_the_rule():
    # the old rule added m(1−m)/10000 (σ ≈ 0.0013 here): 0.0030 would have been consistent
    v = verdict(0.9836, 0.9866, 0.0005, 3)
    assert v.tolerance == pytest.approx(tolerance(0.0005, 3)) and v.label == "below"


def test_one_seed_borrows_the_family_std_or_stays_unjudged():
    m = 0.9867
    alone = verdict(0.9836, m)  # one seed, no family: nothing to judge by
    assert alone.sigma is None and alone.tolerance is None
    assert alone.label == "unjudged" and alone.short == "no seed spread"
    assert "unjudged" in str(alone)
    # a one-seed row's own std (NaN from seed_stats, or anything) is never used
    assert verdict(0.9836, m, float("nan")).sigma is None
    assert verdict(0.9836, m, np.float32("nan")).sigma is None
    assert verdict(0.9836, m, 0.05, n_seeds=1).sigma is None
    borrowed = verdict(0.9836, m, float("nan"), 1, family_std=0.0013)
    assert borrowed.sigma == 0.0013 and borrowed.tolerance == pytest.approx(tolerance(0.0013, 1))
    assert borrowed.label == "consistent"  # |−0.0031| ≤ 2·0.0013·√2 = 0.0037
    # a row with its own seeds ignores the family
    assert verdict(0.9836, m, 0.0005, 3, family_std=0.0013).sigma == 0.0005


def test_n_reference_counts_the_runs_behind_the_reference():
    # two means over three seeds each (a rebuild against the build before it)
    v = verdict(0.9811, 0.9806, 0.0008, 3, n_reference=3)
    assert v.tolerance == pytest.approx(tolerance(0.0008, 3, 3))


@pytest.mark.parametrize("offset, label", [(+1, "above"), (-1, "below")])
def test_both_directions_and_the_boundary(offset, label):
    m, sd = 0.95, 0.003
    tol = tolerance(sd, 3)
    inside = verdict(m + offset * (tol - 1e-9), m, sd, 3)
    outside = verdict(m + offset * (tol + 1e-6), m, sd, 3)
    assert inside.label == "consistent"
    assert outside.label == label
    assert outside.text("replayed") == f"replayed {tol + 1e-6:.4f} {label} ours"
    assert outside.tolerance == pytest.approx(tol)


def test_seed_spread_widens_the_tolerance():
    # the same gap is "above" with a tight seed spread and "consistent" with a wide one
    assert verdict(0.9700, 0.9650, 0.0005, 3).label == "above"
    assert verdict(0.9700, 0.9650, 0.0030, 3).label == "consistent"


def test_verdict_text_and_label_of_a_cell():
    assert compare.verdict_text(None) == "–"
    assert compare.verdict_text({"verdict": "none"}) == "–"
    assert compare.verdict_text({"verdict": "unjudged", "difference": 0.01}) == "no seed spread"
    assert compare.verdict_text({"verdict": "above", "difference": 0.0154},
                                "published") == "published 0.0154 above ours"
    for cell, label in [("consistent", "consistent"), ("published 0.0154 above ours", "above"),
                        ("replayed 0.0031 below ours", "below"), ("no seed spread", "unjudged"),
                        ("–", "none")]:
        assert compare.verdict_label(cell) == label


def test_family_std():
    df = pd.DataFrame({"test_accuracy": [0.97, 0.98, 0.99]})
    assert compare.family_std(df) == pytest.approx(0.01)
    assert compare.family_std(df.iloc[:1]) is None
    row = headline_row("one", (0.97, float("nan"), 1), 0.96, family_std=0.01)
    assert row["family_std"] == 0.01
    # a row with its own seeds does not carry one
    assert "family_std" not in headline_row("three", (0.97, 0.01, 3), 0.96, family_std=0.02)


@pytest.mark.parametrize("ref", [None, float("nan"), np.nan])
def test_missing_reference(ref):
    v = verdict(ref, 0.98, 0.001, 3)
    assert v.label == "none" and v.short == "–" and v.difference is None
    assert v.to_dict() == {"verdict": "none", "reference": None, "difference": None,
                           "tolerance": pytest.approx(tolerance(0.001, 3)), "sigma": 0.001}


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
    assert relu["vs published"] == "published 0.0153 below ours"
    assert relu["vs replayed"] == "consistent"
    assert relu["published loss"] == "0.1968" and relu["nnlib loss"] == "0.1500 ± 0.0020"
    tanh = table.iloc[1]
    assert (tanh["published"], tanh["vs published"], tanh["nnlib"]) == ("–", "–", "0.9500")
    # a label whose runs all failed (NaN metrics) is shown, not judged
    failed = pd.concat([runs_frame(), pd.DataFrame([{"act": "elu", "seed": 0,
                                                     "test_accuracy": np.nan,
                                                     "test_loss": np.nan}])])
    row = comparison_table(failed, "act", published={"elu": 0.9}).iloc[2]
    assert (row["nnlib"], row["vs published"]) == ("–", "–")  # one formatter, one dash


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
    assert compare.noise_text(compare.difference(stats, "a", "one")).startswith("not separable")
    assert compare.noise_text(d) == "more than the seed noise"
    assert compare.noise_text(compare.difference(stats, "a", "c")) == "within the seed noise"
    # a one-seed side: the family's σ of one run stands for both spreads
    fam = compare.difference(stats, "a", "one", family_std=0.002)
    assert fam.se == pytest.approx(0.002 * math.sqrt(1 / 3 + 1))
    assert fam.significant is True  # 0.01 > 2·0.0023
    # two single runs (a recipe and its ablation, one seed)
    runs = compare.runs_difference(0.9940, 0.9945, 0.0001)
    assert runs.value == pytest.approx(-0.0005) and runs.se == pytest.approx(0.0001 * math.sqrt(2))
    assert runs.significant is True  # 0.0005 > 2·0.00014
    assert compare.runs_difference(0.9940, 0.9945, 0.0002).significant is False  # 2·0.00028
    assert compare.runs_difference(0.99, 0.98, None).se is None
    assert "one run each" in compare.describe(compare.runs_difference(0.99, 0.98, 0.001), "x", "y")


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
    table = pd.DataFrame({"vs published": ["consistent", "published 0.0100 above ours",
                                           "published 0.0200 below ours",
                                           "published 0.0300 below ours", "no seed spread", "–"]})
    assert compare.verdict_counts(table, "vs published") == {"consistent": 1, "above": 1,
                                                             "below": 2}


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
