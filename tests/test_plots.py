"""nnlib.report.plots: the comparison figures draw what they are given (Agg backend, no display)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from nnlib.report import plots


def sweep_frame():
    rows = []
    for act, base in (("sigmoid", 0.90), ("relu", 0.94)):
        for n in (2500, 5000, 10_000):
            for seed in (0, 1):
                rows.append({"act": act, "data.n_train": n, "seed": seed,
                             "test_accuracy": base + n / 1e6 + seed * 1e-3})
    return pd.DataFrame(rows)


def test_size_sweep_lines_and_reference_levels():
    fig = plots.plot_size_sweep(sweep_frame(), "act", published={"sigmoid": 0.9124},
                                replayed={"sigmoid": 0.9245, "relu": 0.9580}, title="t")
    ax = fig.axes[0]
    hlines = {(round(line.get_ydata()[0], 4), line.get_linestyle()) for line in ax.get_lines()
              if len(set(line.get_ydata())) == 1 and len(line.get_ydata()) == 2}
    assert hlines == {(0.9124, "--"), (0.9245, ":"), (0.958, ":")}
    # the mean lines: one point per size, mean over the two seeds
    means = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(means) == 2
    np.testing.assert_allclose(np.asarray(means[0].get_ydata(), float), [0.9030, 0.9055, 0.9105])
    assert ax.get_xlabel() == "training images" and ax.get_title() == "t"
    labels = ax.get_legend_handles_labels()[1]
    assert "sigmoid: published" in labels and "relu: replayed" in labels
    assert "relu: published" not in labels


def test_comparison_marks_published_and_replayed():
    df = pd.DataFrame({"opt": ["sgd", "sgd", "momentum", "momentum"],
                       "test_accuracy": [0.938, 0.940, 0.957, 0.958]})
    fig = plots.plot_comparison(df, "opt", reference={"sgd": 0.9225, "momentum": 0.9423},
                                replayed={"sgd": 0.9374})
    ax = fig.axes[0]
    markers = {line.get_label(): line.get_ydata() for line in ax.get_lines()
               if line.get_linestyle() == "None"}
    np.testing.assert_allclose(markers["report (published)"], [0.9225, 0.9423])
    np.testing.assert_allclose(markers["report's code, replayed"], [0.9374, np.nan])
    lo, hi = ax.get_ylim()
    assert lo <= 0.9225 and hi >= 0.958


def test_time_accuracy_points_means_colours_and_targets():
    rows = [{"recipe": name, "seed": s, "training_time_s": t + 10 * s,
             "test_accuracy": a + 0.001 * s}
            for name, t, a in [(f"r{i}", 100 + 10 * i, 0.98 + 0.001 * i) for i in range(12)]
            for s in (0, 1)]
    fig = plots.plot_time_accuracy(pd.DataFrame(rows), "recipe",
                                   targets={"target CNN": 0.996}, title="t")
    ax = fig.axes[0]
    # per group: the runs (small) and their mean (large, in the legend), one colour per group
    means = [c for c in ax.collections if c.get_label().startswith("r")]
    assert len(means) == 12
    np.testing.assert_allclose(means[3].get_offsets()[0], [135.0, 0.9835])
    colours = {tuple(np.round(c.get_facecolor()[0], 3)) for c in means}
    assert len(colours) == 12, "two groups share a colour"
    assert [round(line.get_ydata()[0], 4) for line in ax.get_lines()] == [0.996]
    assert ax.get_xlabel().startswith("training time") and ax.get_title() == "t"
