"""Figures for the notebooks and run directories. Every function returns a matplotlib Figure and
never selects a backend (the notebook's inline backend or Agg in scripts does the drawing)."""
from __future__ import annotations

import math

import numpy as np

from ..io import atomic_path


def _plt():
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, dpi: int = 100) -> None:
    """Save ``fig`` atomically as PNG and close it."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    _plt().close(fig)


def _smooth(values, window: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_history(history, title: str | None = None, smooth: int = 50):
    """Loss and accuracy curves: per iteration (train, smoothed over ``smooth`` iterations;
    validation evaluations as points) on top, per epoch below; epochs where the learning rate
    changed are marked with dotted lines."""
    plt = _plt()
    h = history
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    ipe = max(h.iterations_per_epoch, 1)
    it = np.asarray(h.iteration)
    decays = [e for e in range(1, len(h.lr)) if h.lr[e] != h.lr[e - 1]]
    for col, (tr, va, name) in enumerate(((h.train_loss, h.valid_loss, "loss"),
                                          (h.train_acc, h.valid_acc, "accuracy"))):
        ax = axes[0, col]
        if len(it):
            sm = _smooth(tr, smooth)
            ax.plot(it[len(it) - len(sm):] / ipe, sm, lw=1, label=f"train (mean of {smooth} it.)")
        if h.eval_iteration:
            ax.plot(np.asarray(h.eval_iteration) / ipe, va, "o-", ms=3, label="validation")
        ax.set_xlabel("epoch (per iteration)")
        ax.set_ylabel(name)
        ax2 = axes[1, col]
        ep = np.arange(1, h.epochs_run + 1)
        tr_ep = h.epoch_train_loss if name == "loss" else h.epoch_train_acc
        va_ep = h.epoch_valid_loss if name == "loss" else h.epoch_valid_acc
        ax2.plot(ep, tr_ep, "o-", label="train")
        ax2.plot(ep, va_ep, "s-", label="validation")
        ax2.set_xlabel("epoch")
        ax2.set_ylabel(name)
        for a in (ax, ax2):
            for d in decays:
                a.axvline(d + (0.5 if a is ax2 else 0), color="grey", ls=":", lw=1)
            a.grid(alpha=0.3)
        if name == "loss":
            ax.set_yscale("log")
            ax2.set_yscale("log")
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(fontsize=8)
    if decays:
        axes[0, 1].plot([], [], color="grey", ls=":", label="lr decay")
        axes[0, 1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_histories(histories: dict, metric: str = "valid_acc", per: str = "epoch",
                   title: str | None = None, ax=None):
    """Overlay one metric of several runs: ``histories`` maps label → History or list of
    Histories (several seeds: mean line with a min–max band; runs may differ in length)."""
    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    key = {"valid_acc": "epoch_valid_acc", "valid_loss": "epoch_valid_loss",
           "train_acc": "epoch_train_acc", "train_loss": "epoch_train_loss"}[metric]
    for label, hs in histories.items():
        hs = hs if isinstance(hs, (list, tuple)) else [hs]
        n = max(len(getattr(h, key)) for h in hs)
        # runs of different lengths (early stopping): NaN-pad, average what each epoch has
        vals = np.full((len(hs), n), np.nan)
        for i, h in enumerate(hs):
            vals[i, :len(getattr(h, key))] = getattr(h, key)
        ep = np.arange(1, n + 1)
        (line,) = ax.plot(ep, np.nanmean(vals, 0), "o-", ms=3, label=label)
        if len(hs) > 1:
            ax.fill_between(ep, np.nanmin(vals, 0), np.nanmax(vals, 0), color=line.get_color(),
                            alpha=0.2)
    ax.set_xlabel(per)
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig if fig is not None else ax.figure


def plot_comparison(df, label_col: str, value: str = "test_accuracy", reference=None,
                    title: str | None = None, replayed=None):
    """Bars of mean ± std over seeds per ``label_col`` value, with the report's published
    numbers (``reference``: label → value) as black markers and its code's replayed numbers
    (``replayed``: label → value) as orange ones."""
    plt = _plt()
    g = df.groupby(label_col, sort=False)[value]
    mean, std = g.mean(), g.std().fillna(0)
    fig, ax = plt.subplots(figsize=(1.6 * len(mean) + 2, 4))
    x = np.arange(len(mean))
    ax.bar(x, mean.values, yerr=std.values, capsize=5, color="tab:blue", alpha=0.8,
           label="nnlib (mean ± std over seeds)")
    refs = []
    for values, style, label in ((reference, {"color": "k", "marker": "_", "ms": 30, "mew": 3},
                                  "report (published)"),
                                 (replayed, {"color": "tab:orange", "marker": "_", "ms": 22,
                                             "mew": 3}, "report's code, replayed")):
        if values:
            ref = np.array([values.get(k, np.nan) for k in mean.index], dtype=float)
            ax.plot(x, ref, ls="none", label=label, **style)
            refs.append(ref)
    ax.set_xticks(x, [str(k) for k in mean.index])
    lo = np.nanmin(np.concatenate([mean.values - std.values, *refs]))
    hi = np.nanmax(np.concatenate([mean.values + std.values, *refs]))
    ax.set_ylim(max(0, lo - 0.01), min(1.0, hi + 0.01)
                if value.endswith("accuracy") else None)
    ax.set_ylabel(value.replace("_", " "))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_time_accuracy(df, label_col: str, time: str = "training_time_s",
                       value: str = "test_accuracy", targets: dict | None = None,
                       title: str | None = None):
    """Test accuracy against training seconds: one point per run, one colour per
    ``label_col`` value, its seeds' mean as a larger marker; ``targets``: {label: accuracy}
    drawn as dashed horizontal lines. The time-to-accuracy view of what each idea costs."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5))
    groups = list(df.groupby(label_col, sort=False))
    cmap = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")  # one colour per group
    colors = [cmap(i % cmap.N) for i in range(len(groups))]
    for i, (label, g) in enumerate(groups):
        c = colors[i % len(colors)]
        ax.scatter(g[time], g[value], s=18, color=c, alpha=0.5)
        ax.scatter(g[time].mean(), g[value].mean(), s=80, color=c, edgecolor="k",
                   label=f"{label} ({len(g)} run{'s' if len(g) > 1 else ''})")
    for name, acc in (targets or {}).items():
        ax.axhline(acc, color="grey", ls="--", lw=1)
        ax.annotate(name, (ax.get_xlim()[0], acc), fontsize=8, color="grey",
                    xytext=(4, 2), textcoords="offset points")
    ax.set_xlabel("training time (s, this machine)")
    ax.set_ylabel(value.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_size_sweep(df, by: str, size: str = "data.n_train", value: str = "test_accuracy",
                    published: dict | None = None, replayed: dict | None = None,
                    title: str | None = None):
    """``value`` against the training-set size, one line (mean ± std over seeds) per ``by``
    value, with the published (dashed) and replayed (dotted) numbers of the same configuration
    as horizontal reference lines in its colour. ``published`` / ``replayed``: label → value."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, g) in enumerate(df.groupby(by, sort=False)):
        c = colors[i % len(colors)]
        stats = g.groupby(size)[value].agg(["mean", "std"]).sort_index()
        sizes = stats.index.to_numpy(dtype=float)
        std = stats["std"].fillna(0).to_numpy()
        ax.errorbar(sizes, stats["mean"], yerr=std, color=c, marker="o", ms=4, capsize=3,
                    label=f"{label}: nnlib (mean ± std)")
        for refs, ls, what in ((published, "--", "published"), (replayed, ":", "replayed")):
            if refs and refs.get(label) is not None:
                ax.axhline(refs[label], color=c, ls=ls, lw=1.2, label=f"{label}: {what}")
    ax.set_xlabel("training images")
    ax.set_ylabel(value.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_grid_heatmaps(df, row: str, col: str, panel: str, value: str = "test_accuracy",
                       reference_df=None, fmt: str = ".4f"):
    """One seaborn heatmap of ``value`` (row × col) per ``panel`` value; with ``reference_df``
    (same columns) a second row of heatmaps shows the report's numbers."""
    import seaborn as sns
    plt = _plt()
    panels = sorted(df[panel].unique(), reverse=True)
    nrows = 2 if reference_df is not None else 1
    fig, axes = plt.subplots(nrows, len(panels), figsize=(4.6 * len(panels), 3.8 * nrows),
                             squeeze=False)
    vmin = df[value].min()
    vmax = df[value].max()
    if reference_df is not None:
        vmin, vmax = min(vmin, reference_df[value].min()), max(vmax, reference_df[value].max())
    for r, (source, name) in enumerate(((df, "nnlib"), (reference_df, "report"))[:nrows]):
        for c, p in enumerate(panels):
            sub = source[source[panel] == p].pivot_table(index=row, columns=col, values=value)
            sns.heatmap(sub, annot=True, fmt=fmt, cmap="viridis", vmin=vmin, vmax=vmax,
                        ax=axes[r, c], cbar=c == len(panels) - 1, annot_kws={"size": 8})
            axes[r, c].set_title(f"{name}: {panel} = {p:g}")
    fig.tight_layout()
    return fig


def plot_confusion(cm: np.ndarray, title: str | None = None):
    """Confusion matrix (rows true, columns predicted) with counts."""
    import seaborn as sns
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", ax=ax, cbar=False,
                annot_kws={"size": 8}, norm=None)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def image_grid(images, titles=None, ncols: int = 10, cmap: str = "gray", size: float = 1.1,
               title: str | None = None, symmetric: bool = False):
    """Show images (N, H, W) or (N, 1, H, W) as a grid with optional per-image titles.
    ``symmetric`` centres a diverging colour map on 0 per image (for weights)."""
    plt = _plt()
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    n = len(images)
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        if symmetric:
            m = np.abs(img).max() or 1
            ax.imshow(img, cmap="RdBu_r", vmin=-m, vmax=m)
        else:
            ax.imshow(img, cmap=cmap)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_misclassified(x, y_true, y_pred, n: int = 30, ncols: int = 10):
    """The first ``n`` misclassified images titled "true→pred"."""
    wrong = np.flatnonzero(y_true != y_pred)[:n]
    titles = [f"{y_true[i]}→{y_pred[i]}" for i in wrong]
    return image_grid(x[wrong], titles, ncols=ncols,
                      title=f"misclassified ({len(np.flatnonzero(y_true != y_pred))} in total)")


def plot_linear_weights(W: np.ndarray, n: int = 100, ncols: int = 10, shape=(28, 28)):
    """First-layer MLP weights W (784, hidden): the first ``n`` hidden units as 28×28 tiles."""
    tiles = W[:, :n].T.reshape(-1, *shape)
    return image_grid(tiles, ncols=ncols, symmetric=True, size=0.9,
                      title=f"first-layer weights: {min(n, W.shape[1])} of {W.shape[1]} units")


def plot_conv_kernels(W: np.ndarray, title: str | None = None):
    """Conv weights W (C_out, C_in, kh, kw): one row per output channel, one column per input."""
    c_out, c_in = W.shape[:2]
    tiles = W.reshape(c_out * c_in, *W.shape[2:])
    return image_grid(tiles, ncols=c_in, symmetric=True, size=0.7 if c_in > 1 else 1.0,
                      title=title or f"conv kernels {tuple(W.shape)}")


#: The one look of every report figure: readable at the page width (about 1000 px), no top/right
#: spines, a light grid, the same font sizes everywhere.
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.facecolor": "white",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.6,
    "figure.constrained_layout.use": False,
}


def use_style() -> None:
    """Apply :data:`STYLE` to matplotlib's global settings (what ``notebook.setup`` calls)."""
    _plt().rcParams.update(STYLE)
