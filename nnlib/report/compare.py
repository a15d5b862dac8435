"""Put our numbers beside the lab's: what it published, what its own code gives when replayed, and
ours (mean ± std over seeds), with a computed verdict on each comparison.

The verdict (:func:`verdict`): with m our mean test accuracy, sd its standard deviation over the
seeds (ddof 1; 0 with one seed) and ``s = sqrt(sd² + m(1 − m)/10000)``, a reference number is
*consistent* with ours when ``|reference − m| <= 2s``, otherwise *higher* (the reference is above
ours) or *lower*, by ``|reference − m|``. The binomial term is the spread a single accuracy
measured on the 10,000 test images carries from run to run even with the test set fixed; it
keeps one-seed verdicts from being over-confident.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

#: Test images every accuracy is measured on (the binomial term of the verdict).
TEST_SIZE = 10_000

#: One sentence for the notebooks: the verdict rule in words.
VERDICT_RULE = ("Verdict: with m our mean test accuracy over the seeds, sd its standard deviation "
                "(0 with one seed) and s = √(sd² + m(1−m)/10000), a reference number is "
                "*consistent* when |reference − m| ≤ 2s, otherwise *higher* or *lower* than ours "
                "by the amount shown. The binomial term m(1−m)/10000 is the run-to-run spread a "
                "single accuracy on the 10,000 test images carries; with one seed it is the only "
                "spread we have, so one-seed verdicts are a weaker check.")


@dataclass(frozen=True)
class Verdict:
    """How a reference accuracy compares with ours (see the module docstring)."""

    reference: float | None
    mean: float
    std: float = 0.0
    n_seeds: int = 1
    n_test: int = TEST_SIZE

    @property
    def spread(self) -> float:
        """``s = sqrt(sd² + m(1 − m)/n_test)``."""
        return math.sqrt(self.std ** 2 + self.mean * (1 - self.mean) / self.n_test)

    @property
    def tolerance(self) -> float:
        return 2 * self.spread

    @property
    def difference(self) -> float | None:
        """``reference − mean`` (None without a reference)."""
        return None if self.reference is None else self.reference - self.mean

    @property
    def label(self) -> str:
        """"consistent", "higher", "lower", or "none" (no reference to compare with)."""
        d = self.difference
        if d is None:
            return "none"
        if abs(d) <= self.tolerance:
            return "consistent"
        return "higher" if d > 0 else "lower"

    @property
    def short(self) -> str:
        """"consistent", "higher by 0.0151", "lower by 0.0031", or "–"."""
        label = self.label
        if label in ("none", "consistent"):
            return "–" if label == "none" else label
        return f"{label} by {abs(self.difference):.4f}"

    def __str__(self) -> str:
        if self.label == "none":
            return "– (no reference)"
        seeds = "one seed" if self.n_seeds < 2 else f"{self.n_seeds} seeds"
        return f"{self.short} (|Δ| {abs(self.difference):.4f}, 2s = {self.tolerance:.4f}, {seeds})"

    def to_dict(self) -> dict:
        """JSON-able: verdict, reference, difference (reference − ours), tolerance (2s)."""
        return {"verdict": self.label, "reference": self.reference,
                "difference": self.difference, "tolerance": self.tolerance}


def verdict(reference, mean: float, std: float | None = None, n_seeds: int = 1,
            n_test: int = TEST_SIZE) -> Verdict:
    """The verdict of a ``reference`` accuracy (None/NaN: none) against our ``mean`` ± ``std``
    over ``n_seeds`` seeds. With one seed the spread is counted as 0 whatever ``std`` says
    (``seed_stats`` gives NaN there)."""
    mean = float(mean)
    if not 0.0 <= mean <= 1.0:
        raise ValueError(f"mean: expected an accuracy in [0, 1], got {mean!r}")
    std = 0.0 if std is None or _isnan(std) or int(n_seeds) < 2 else float(std)
    if std < 0:
        raise ValueError(f"std: expected >= 0, got {std!r}")
    ref = None if reference is None or _isnan(reference) else float(reference)
    return Verdict(ref, mean, std, int(n_seeds), int(n_test))


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


def _num(x, digits: int = 4) -> str:
    return "–" if x is None or _isnan(x) else f"{x:.{digits}f}"


def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def seed_text(stats: tuple) -> str:
    """One ``seed_stats`` entry ``(mean, std, n)`` as "0.9912 ± 0.0005" (the mean alone for a
    single seed)."""
    return _pm(stats[0], stats[1])


def comparison_table(df, by: str, published: dict | None = None, replayed: dict | None = None,
                     labels: dict | None = None):
    """One row per ``by`` value: the published, replayed and our test accuracy (mean ± std over
    seeds) with a verdict against each reference, then the three test losses.

    ``published`` / ``replayed`` map label → reference entry (see :func:`reference_values`);
    a label without one shows "–". ``labels`` renames labels for display. Numbers are formatted
    for reading (4 decimals).
    """
    import pandas as pd
    acc = seed_stats(df, by, "test_accuracy")
    loss = seed_stats(df, by, "test_loss")
    rows = []
    for label, (m, s, n) in acc.items():
        pub_acc, pub_loss = reference_values((published or {}).get(label))
        rep_acc, rep_loss = reference_values((replayed or {}).get(label))

        def judged(ref, m=m, s=s, n=n):  # no runs of this label finished: nothing to judge
            return "–" if math.isnan(m) else verdict(ref, m, s, n).short
        rows.append({
            by: (labels or {}).get(label, label), "seeds": n,
            "published": _num(pub_acc), "replayed": _num(rep_acc), "nnlib": _pm(m, s),
            "vs published": judged(pub_acc), "vs replayed": judged(rep_acc),
            "published loss": _num(pub_loss), "replayed loss": _num(rep_loss),
            "nnlib loss": _pm(loss[label][0], loss[label][1]),
        })
    return pd.DataFrame(rows)


def headline_row(name: str, stats: tuple, published=None, replayed=None) -> dict:
    """A row for ``nnlib.report.headline`` from one ``seed_stats`` entry ``(mean, std, n)`` and
    the reference entries (see :func:`reference_values`)."""
    m, s, n = stats
    return {"name": name, "ours": m, "ours_std": None if _isnan(s) else s, "n_seeds": n,
            "published": reference_values(published)[0],
            "replayed": reference_values(replayed)[0]}


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


def difference(stats: dict, a, b) -> Difference:
    """``a − b`` from ``seed_stats`` output, with its standard error (see :class:`Difference`)."""
    ma, sa, na = stats[a]
    mb, sb, nb = stats[b]
    if na < 2 or nb < 2 or math.isnan(sa) or math.isnan(sb):
        return Difference(ma - mb, None, na, nb)
    return Difference(ma - mb, math.sqrt(sa ** 2 / na + sb ** 2 / nb), na, nb)


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
                       what: str = "test accuracy") -> str:
    """One plain-English sentence: is ``a`` − ``b`` (in our runs) larger than the seed noise?

    ``stats``: ``seed_stats`` output. The noise is the standard error of the difference of the
    two means, sqrt(sa²/na + sb²/nb); "larger than the noise" means |diff| > 2 of those.
    ``reference`` (label → reference entry) adds the report's own difference.
    """
    d = difference(stats, a, b)
    text = describe(d, a, b, what)
    if reference is not None and a in reference and b in reference:
        ra, rb = reference_values(reference[a])[0], reference_values(reference[b])[0]
        return f"The report found {a} − {b} = {ra - rb:+.4f}; {text}"
    return text[0].upper() + text[1:]


def verdict_counts(table, column: str) -> dict:
    """``{"consistent": k, "higher": k, "lower": k}`` of a :func:`comparison_table` column
    (rows without a reference are not counted)."""
    labels = table[column].map(lambda v: v.split()[0])
    return {k: int((labels == k).sum()) for k in ("consistent", "higher", "lower")}


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
        rows.append({by: label, "published": _num(pub), "replayed": _num(rep),
                     **{f"nnlib, {int(n):,} images": f"{m:.4f}" for n, m in curve.items()},
                     "published reached at (images)": where(reached[label], pub),
                     "replayed reached at (images)": where(rep_reached[label], rep)})
    return SizeSweep(pd.DataFrame(rows), reached, rep_reached, sizes)


__all__ = ["TEST_SIZE", "VERDICT_RULE", "Difference", "SizeSweep", "Verdict", "comparison_table",
           "describe", "difference", "difference_verdict", "headline_row", "paired_difference",
           "reference_values", "seed_stats", "size_for_accuracy", "size_sweep", "verdict",
           "verdict_counts"]
