"""Put our numbers beside the lab's: what it published, what its own code gives when replayed, and
ours (mean ± std over seeds), with a computed verdict on each comparison.

The verdict (:func:`verdict`, one rule for every table, :data:`VERDICT_RULE` in words). Two numbers
are compared: a reference (one run of the report's code: ``n_reference = 1``) and our mean over
``n`` seeds, both test accuracies on the same 10,000 test images. If both came from the same
procedure they would differ only by training noise — initial weights, shuffles, augmentation
draws — whose size for one run is the *seed standard deviation* σ. Their difference then has the
standard deviation ``σ·sqrt(1/n_reference + 1/n)``, and the reference is *consistent* with ours
when ``|reference − mean| <= 2σ·sqrt(1/n_reference + 1/n)``; otherwise the verdict says which is
above: "published 0.0154 above ours".

σ is the cell's own seed standard deviation (ddof 1) when it has two seeds or more; a one-seed cell
borrows it from its *family*: a closely related configuration on the same data trained over
several seeds (``family_std``; each notebook says which runs, e.g. the grid's chosen cell for
every grid cell). Without either there is no verdict ("unjudged").

The test-set sampling error ``sqrt(m(1 − m)/10000)`` (how far an accuracy on these 10,000 images
may sit from the accuracy on all handwritten digits) is not in the rule: every number here is
measured on the same images, so that error is shared and does not separate them; what is not
shared (two models missing different images) is part of the seed spread, measured on the same
images. Two standard deviations is a screening threshold, not a significance test: with σ
estimated from three seeds it is itself uncertain, so a verdict near the threshold is borderline.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

#: Test images every accuracy is measured on.
TEST_SIZE = 10_000

#: The verdict rule in words: shown once per notebook and under the report's summary table.
VERDICT_RULE = (
    "Verdict: σ is the seed standard deviation of one run's test accuracy (the row's own over its "
    "seeds; a one-seed row borrows it from a related configuration trained over several seeds, "
    "named in the notebook). A reference "
    "number (one run) and our mean over n seeds are *consistent* when they differ by at most "
    "2σ·√(1 + 1/n), two standard deviations of their difference if both came from the same "
    "procedure; otherwise the column says which is above (\"published 0.0154 above ours\"). "
    "The test-set sampling error √(m(1−m)/10000) ≈ 0.0014 at 98 % is not part of the rule: every "
    "number is measured on the same 10,000 test images, so that error is shared and does not "
    "separate them. Two standard deviations is a screen, not a significance test: σ from three "
    "seeds is itself uncertain, so a verdict near the threshold is borderline.")

#: Verdict labels: the reference is consistent with ours, above or below it; "unjudged" without
#: a seed spread; "none" without a reference.
LABELS = ("consistent", "above", "below", "unjudged", "none")


@dataclass(frozen=True)
class Verdict:
    """How a reference accuracy compares with ours (see the module docstring).

    ``sigma``: the seed standard deviation of one run the rule uses (None: none known);
    ``n_seeds``: the seeds behind ``mean``; ``n_reference``: the runs behind ``reference``.
    """

    reference: float | None
    mean: float
    sigma: float | None = None
    n_seeds: int = 1
    n_reference: int = 1

    @property
    def tolerance(self) -> float | None:
        """``2σ·sqrt(1/n_reference + 1/n_seeds)``, None without σ."""
        if self.sigma is None:
            return None
        return 2 * self.sigma * math.sqrt(1 / self.n_reference + 1 / self.n_seeds)

    @property
    def difference(self) -> float | None:
        """``reference − mean`` (None without a reference)."""
        return None if self.reference is None else self.reference - self.mean

    @property
    def label(self) -> str:
        """One of :data:`LABELS`."""
        d = self.difference
        if d is None:
            return "none"
        if self.tolerance is None:
            return "unjudged"
        if abs(d) <= self.tolerance:
            return "consistent"
        return "above" if d > 0 else "below"

    def text(self, who: str = "reference") -> str:
        """"consistent", "published 0.0154 above ours", "no seed spread" or "–"."""
        return verdict_text(self.to_dict(), who)

    @property
    def short(self) -> str:
        return self.text()

    def __str__(self) -> str:
        if self.label == "none":
            return "– (no reference)"
        if self.label == "unjudged":
            seeds = "one seed" if self.n_seeds < 2 else f"{self.n_seeds} seeds"
            return (f"unjudged: {seeds} and no seed spread to judge |Δ| "
                    f"{abs(self.difference):.4f} by")
        seeds = "one seed" if self.n_seeds < 2 else f"{self.n_seeds} seeds"
        return (f"{self.short} (|Δ| {abs(self.difference):.4f}, 2σ·√(1/{self.n_reference} + "
                f"1/{self.n_seeds}) = {self.tolerance:.4f} with σ {self.sigma:.4f}, {seeds})")

    def to_dict(self) -> dict:
        """JSON-able: verdict (a :data:`LABELS` entry), reference, difference (reference −
        ours), tolerance and the σ it came from."""
        return {"verdict": self.label, "reference": self.reference,
                "difference": self.difference, "tolerance": self.tolerance, "sigma": self.sigma}


def verdict_text(v: dict | None, who: str = "reference") -> str:
    """A verdict (``Verdict.to_dict()``) as a table cell: "consistent", "published 0.0154 above
    ours", "no seed spread" (unjudged) or "–" (no reference)."""
    label = (v or {}).get("verdict")
    if label in (None, "none"):
        return "–"
    if label in ("consistent", "unjudged"):
        return "consistent" if label == "consistent" else "no seed spread"
    return f"{who} {abs(v['difference']):.4f} {label} ours"


def seed_sigma(std, n_seeds: int, family_std=None) -> float | None:
    """The σ of the rule: ``std`` (a row's own seed standard deviation) when it comes from two
    seeds or more, else ``family_std``; None when neither is known."""
    if std is not None and not _isnan(std) and int(n_seeds) >= 2:
        return float(std)
    if family_std is not None and not _isnan(family_std):
        return float(family_std)
    return None


def verdict(reference, mean: float, std: float | None = None, n_seeds: int = 1,
            family_std: float | None = None, n_reference: int = 1) -> Verdict:
    """The verdict of a ``reference`` accuracy (None/NaN: none; the mean of ``n_reference``
    runs) against our ``mean`` over ``n_seeds`` seeds, whose standard deviation is ``std``
    (ignored for one seed; ``seed_stats`` gives NaN there). ``family_std``: the σ a one-seed
    row borrows (see the module docstring)."""
    mean = float(mean)
    if not 0.0 <= mean <= 1.0:
        raise ValueError(f"mean: expected an accuracy in [0, 1], got {mean!r}")
    for name, x in (("std", std), ("family_std", family_std)):
        if x is not None and not _isnan(x) and float(x) < 0:
            raise ValueError(f"{name}: expected >= 0, got {x!r}")
    ref = None if reference is None or _isnan(reference) else float(reference)
    return Verdict(ref, mean, seed_sigma(std, n_seeds, family_std), int(n_seeds),
                   int(n_reference))


def _isnan(x) -> bool:
    try:
        return math.isnan(x)
    except TypeError:
        return False


def reference_values(entry) -> tuple[float | None, float | None]:
    """``(accuracy, loss)`` of a reference entry: ``{"accuracy", "loss"}``, a ``(loss,
    accuracy)`` pair, a bare accuracy, or None."""
    if entry is None:
        return None, None
    if isinstance(entry, dict):
        return entry.get("accuracy"), entry.get("loss")
    if isinstance(entry, (tuple, list)):
        loss, acc = entry
        return acc, loss
    return float(entry), None


def seed_stats(df, by, value: str = "test_accuracy"):
    """``{label: (mean, std, n)}`` of ``value`` over the seeds, grouped by the column ``by``
    (std is NaN for a single seed)."""
    out = {}
    for label, g in df.groupby(by, sort=False):
        vals = g[value].dropna().to_numpy(dtype=float)
        std = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        out[label] = (float(vals.mean()) if len(vals) else float("nan"), std, len(vals))
    return out


def number_text(x, digits: int = 4) -> str:
    """A number as the report writes it, ``0.9806``; "–" for none (None or NaN): the one
    formatter of the tables, headlines and verdict texts."""
    return "–" if x is None or _isnan(x) else f"{x:.{digits}f}"


def _pm(mean: float, std: float) -> str:
    if _isnan(mean):
        return number_text(mean)
    return number_text(mean) if _isnan(std) else f"{number_text(mean)} ± {number_text(std)}"


def seed_text(stats: tuple) -> str:
    """One ``seed_stats`` entry ``(mean, std, n)`` as "0.9912 ± 0.0005" (the mean alone for a
    single seed)."""
    return _pm(stats[0], stats[1])


def comparison_table(df, by: str, published: dict | None = None, replayed: dict | None = None,
                     labels: dict | None = None, family_std: float | None = None):
    """One row per ``by`` value: the published, replayed and our test accuracy (mean ± std over
    seeds) with a verdict against each reference, then the three test losses.

    ``published`` / ``replayed`` map label → reference entry (see :func:`reference_values`);
    a label without one shows "–". ``labels`` renames labels for display. ``family_std``: the
    seed σ a one-seed row borrows (:func:`verdict`). Numbers are formatted for reading
    (4 decimals).
    """
    import pandas as pd
    acc = seed_stats(df, by, "test_accuracy")
    loss = seed_stats(df, by, "test_loss")
    rows = []
    for label, (m, s, n) in acc.items():
        pub_acc, pub_loss = reference_values((published or {}).get(label))
        rep_acc, rep_loss = reference_values((replayed or {}).get(label))

        def judged(ref, who, m=m, s=s, n=n):  # no runs of this label finished: nothing to judge
            return "–" if math.isnan(m) else verdict(ref, m, s, n, family_std).text(who)
        rows.append({
            by: (labels or {}).get(label, label), "seeds": n,
            "published": number_text(pub_acc), "replayed": number_text(rep_acc), "nnlib": _pm(m, s),
            "vs published": judged(pub_acc, "published"),
            "vs replayed": judged(rep_acc, "replayed"),
            "published loss": number_text(pub_loss), "replayed loss": number_text(rep_loss),
            "nnlib loss": _pm(loss[label][0], loss[label][1]),
        })
    return pd.DataFrame(rows)


def headline_row(name: str, stats: tuple, published=None, replayed=None,
                 family_std: float | None = None, summary: bool = False) -> dict:
    """A row for ``nnlib.report.headline`` from one ``seed_stats`` entry ``(mean, std, n)`` and
    the reference entries (see :func:`reference_values`); ``family_std``: the seed σ a one-seed
    row borrows for its verdicts; ``summary``: one of the lab's key results (the README's
    results summary shows these rows)."""
    m, s, n = stats
    row = {"name": name, "ours": m, "ours_std": None if _isnan(s) else s, "n_seeds": n,
           "published": reference_values(published)[0],
           "replayed": reference_values(replayed)[0]}
    if family_std is not None and not _isnan(family_std) and n < 2:
        row["family_std"] = float(family_std)
    if summary:
        row["summary"] = True
    return row


def family_std(df, value: str = "test_accuracy") -> float | None:
    """The seed standard deviation (ddof 1) of ``value`` over the runs of ``df`` — one model
    trained over several seeds, the *family* a one-seed row borrows its σ from; None with fewer
    than two runs."""
    vals = df[value].dropna().to_numpy(dtype=float)
    return float(vals.std(ddof=1)) if len(vals) > 1 else None


def size_for_accuracy(sizes, accuracies, target: float) -> float | None:
    """The training-set size at which the curve ``accuracies(sizes)`` first reaches ``target``,
    by linear interpolation between the measured sizes; None when the curve stays below it or
    starts above it (the target lies outside the measured range)."""
    pts = sorted(zip((float(s) for s in sizes), (float(a) for a in accuracies)))
    if len(pts) < 2 or target < pts[0][1]:
        return None
    for (s0, a0), (s1, a1) in itertools.pairwise(pts):
        if a0 <= target <= a1 and a1 > a0:
            return s0 + (target - a0) / (a1 - a0) * (s1 - s0)
        if a0 == target:
            return s0
    return pts[-1][0] if pts[-1][1] == target else None


@dataclass(frozen=True)
class Difference:
    """``a − b`` of our runs with the standard error of that difference (None when it cannot
    be estimated: fewer than two seeds). Unpaired (:func:`difference`): two seed means,
    ``sqrt(sa²/na + sb²/nb)``; paired (:func:`paired_difference`): the mean of per-seed
    differences and its standard error."""

    value: float
    se: float | None
    n_a: int = 1
    n_b: int = 1
    paired: bool = False

    @property
    def significant(self) -> bool | None:
        """``|value| > 2·se`` (True/False), or None when the noise cannot be estimated."""
        if self.se is None:
            return None
        return abs(self.value) > 2 * self.se if self.se > 0 else self.value != 0


def difference(stats: dict, a, b, family_std: float | None = None) -> Difference:
    """``a − b`` from ``seed_stats`` output, with its standard error (see :class:`Difference`).
    When a side has one seed, ``family_std`` (the σ of one run, see :func:`verdict`) stands for
    both sides' spread: ``σ·sqrt(1/na + 1/nb)``."""
    ma, sa, na = stats[a]
    mb, sb, nb = stats[b]
    if na >= 2 and nb >= 2 and not (math.isnan(sa) or math.isnan(sb)):
        return Difference(ma - mb, math.sqrt(sa ** 2 / na + sb ** 2 / nb), na, nb)
    if family_std is not None and not _isnan(family_std):
        return Difference(ma - mb, float(family_std) * math.sqrt(1 / na + 1 / nb), na, nb)
    return Difference(ma - mb, None, na, nb)


def runs_difference(a: float, b: float, sigma: float | None) -> Difference:
    """``a − b`` of two single runs (e.g. a recipe and its ablation on the same seed) with the
    standard error ``σ·sqrt(2)`` from the seed σ of one run (None: not estimable)."""
    se = None if sigma is None or _isnan(sigma) else float(sigma) * math.sqrt(2)
    return Difference(float(a) - float(b), se)


def paired_difference(df, by: str, a, b, value: str = "test_accuracy",
                      pair: str = "seed") -> Difference:
    """``a − b`` as the mean of per-``pair`` differences (runs of one seed share their initial
    weights and, where the data allow, their shuffles), with the standard error of that mean
    (``sd(differences)/sqrt(n)``; None with fewer than two pairs). Pairing removes the part of
    the seed noise both sides share, so it detects smaller effects than :func:`difference`."""
    sides = [df[df[by] == label].set_index(pair)[value] for label in (a, b)]
    both = sides[0].to_frame("a").join(sides[1].to_frame("b"), how="inner").dropna()
    if both.empty:
        raise ValueError(f"{by}: no {pair} has runs of both {a!r} and {b!r}")
    d = (both["a"] - both["b"]).to_numpy(dtype=float)
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else None
    return Difference(float(d.mean()), se, len(d), len(d), paired=True)


def describe(d: Difference, a, b, what: str = "test accuracy") -> str:
    """One plain-English sentence for a :class:`Difference`: larger than the noise or not."""
    how = (f"mean of {d.n_a} per-seed differences" if d.paired
           else "one run each, noise from the seed σ of one run" if d.n_a == d.n_b == 1
           else f"mean of {d.n_a} and {d.n_b} seeds")
    if d.se is None:
        return (f"we measured {a} − {b} = {d.value:+.4f} in {what} from a single seed each, so "
                f"we cannot tell it from seed-to-seed noise (run with more SEEDS).")
    if d.se == 0:
        verdict_txt = "identical runs" if d.value == 0 else "larger than the (zero) seed noise"
    elif d.significant:
        verdict_txt = (f"larger than the seed-to-seed noise ({abs(d.value) / d.se:.1f} standard "
                       f"errors)")
    else:
        verdict_txt = (f"within the seed-to-seed noise ({abs(d.value) / d.se:.1f} standard "
                       f"errors), so this difference does not support a conclusion")
    return f"we measured {a} − {b} = {d.value:+.4f} in {what} ({how}): {verdict_txt}."


def difference_verdict(stats: dict, a, b, reference: dict | None = None,
                       what: str = "test accuracy", family_std: float | None = None) -> str:
    """One plain-English sentence: is ``a`` − ``b`` (in our runs) larger than the seed noise?

    ``stats``: ``seed_stats`` output. The noise is the standard error of the difference of the
    two means (:func:`difference`; ``family_std`` for one-seed sides); "larger than the noise"
    means |diff| > 2 of those. ``reference`` (label → reference entry) adds the report's own
    difference.
    """
    d = difference(stats, a, b, family_std)
    text = describe(d, a, b, what)
    if reference is not None and a in reference and b in reference:
        ra, rb = reference_values(reference[a])[0], reference_values(reference[b])[0]
        return f"The report found {a} − {b} = {ra - rb:+.4f}; {text}"
    return text[0].upper() + text[1:]


def noise_text(d: Difference) -> str:
    """A :class:`Difference` against the seed noise in a few words, for conclusion sentences:
    "more than the seed noise", "within the seed noise" or "not separable from the seed noise
    with one seed"."""
    if d.se is None:
        return "not separable from the seed noise with one seed"
    return "more than the seed noise" if d.significant else "within the seed noise"


def verdict_label(cell: str) -> str:
    """The :data:`LABELS` entry of a verdict cell ("published 0.0154 above ours" → "above")."""
    words = str(cell).split()
    for label in ("above", "below", "consistent"):
        if label in words:
            return label
    return "unjudged" if cell == "no seed spread" else "none"


def verdict_counts(table, column: str) -> dict:
    """``{"consistent": k, "above": k, "below": k}`` of a :func:`comparison_table` column (rows
    without a reference or a seed spread are not counted)."""
    labels = table[column].map(verdict_label)
    return {k: int((labels == k).sum()) for k in ("consistent", "above", "below")}


@dataclass(frozen=True)
class SizeSweep:
    """A training-set-size sweep against reference numbers (see :func:`size_sweep`).

    ``table``: one row per label, our mean accuracy at each size, and the size at which the
    curve reaches the published and the replayed number (display strings). ``reached`` /
    ``replayed_reached``: those sizes as numbers, None outside the measured range.
    """

    table: object
    reached: dict
    replayed_reached: dict
    sizes: tuple

    def supports_fewer_images(self) -> bool:
        """Every published number is reached inside the sweep, below its largest size."""
        at = list(self.reached.values())
        return bool(at) and all(n is not None and n < max(self.sizes) for n in at)


def size_sweep(df, by: str, published: dict, replayed: dict | None = None,
               size: str = "data.n_train", value: str = "test_accuracy") -> SizeSweep:
    """Summarise a grid over (``by``, ``size``): mean ``value`` per size and label, and where
    (:func:`size_for_accuracy`) each label's curve reaches its published / replayed number."""
    import pandas as pd
    means = df.groupby([by, size], sort=False)[value].mean()
    sizes = tuple(sorted({int(n) for n in df[size]}))
    rows, reached, rep_reached = [], {}, {}
    for label in dict.fromkeys(df[by]):
        curve = means[label].sort_index()
        pub = reference_values(published.get(label))[0]
        rep = reference_values((replayed or {}).get(label))[0]
        reached[label] = None if pub is None else size_for_accuracy(curve.index, curve, pub)
        rep_reached[label] = None if rep is None else size_for_accuracy(curve.index, curve, rep)

        def where(n, ref):
            return "–" if ref is None else "outside the sweep" if n is None else f"{n:,.0f}"
        rows.append({by: label, "published": number_text(pub), "replayed": number_text(rep),
                     **{f"nnlib, {int(n):,} images": f"{m:.4f}" for n, m in curve.items()},
                     "published reached at (images)": where(reached[label], pub),
                     "replayed reached at (images)": where(rep_reached[label], rep)})
    return SizeSweep(pd.DataFrame(rows), reached, rep_reached, sizes)


__all__ = ["LABELS", "TEST_SIZE", "VERDICT_RULE", "Difference", "SizeSweep", "Verdict",
           "comparison_table", "describe", "difference", "difference_verdict", "family_std",
           "headline_row", "noise_text", "number_text", "paired_difference", "reference_values",
           "runs_difference", "seed_sigma", "seed_stats", "seed_text", "size_for_accuracy",
           "size_sweep", "verdict", "verdict_counts", "verdict_label", "verdict_text"]
