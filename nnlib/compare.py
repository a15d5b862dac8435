"""Put our numbers beside the report's: mean ± std over seeds, differences, and whether a
difference the report drew a conclusion from is larger than the seed-to-seed noise."""
from __future__ import annotations

import math

import numpy as np


def seed_stats(df, by, value: str = "test_accuracy"):
    """``{label: (mean, std, n)}`` of ``value`` over the seeds, grouped by the column ``by``."""
    out = {}
    for label, g in df.groupby(by, sort=False):
        vals = g[value].dropna().to_numpy(dtype=float)
        std = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        out[label] = (float(vals.mean()) if len(vals) else float("nan"), std, len(vals))
    return out


def comparison_table(df, by: str, reference: dict, labels: dict | None = None):
    """A DataFrame with one row per ``by`` value: the report's test loss/accuracy, ours
    (mean ± std over seeds) and the differences. ``reference`` maps label → (loss, accuracy)
    or {"loss", "accuracy"}; ``labels`` renames labels for display."""
    import pandas as pd
    acc = seed_stats(df, by, "test_accuracy")
    loss = seed_stats(df, by, "test_loss")
    rows = []
    for label, (m, s, n) in acc.items():
        ref = reference.get(label)
        if isinstance(ref, dict):
            ref = (ref.get("loss"), ref.get("accuracy"))
        ref_loss, ref_acc = ref if ref is not None else (np.nan, np.nan)
        rows.append({
            by: (labels or {}).get(label, label),
            "report loss": ref_loss, "ours loss": _pm(loss[label][0], loss[label][1]),
            "report acc": ref_acc, "ours acc": _pm(m, s),
            "ours acc mean": m, "ours acc std": s, "seeds": n,
            "difference (ours − report)": m - ref_acc if ref_acc == ref_acc else np.nan,
        })
    return pd.DataFrame(rows)


def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def difference_verdict(stats: dict, a, b, reference: dict | None = None,
                       what: str = "test accuracy") -> str:
    """One plain-English sentence: is ``a`` − ``b`` (in our runs) larger than the seed noise?

    ``stats``: ``seed_stats`` output. The noise is the standard error of the difference of the
    two means, sqrt(sa²/na + sb²/nb); "larger than the noise" means |diff| > 2 of those.
    """
    ma, sa, na = stats[a]
    mb, sb, nb = stats[b]
    diff = ma - mb
    ref_txt = ""
    if reference is not None and a in reference and b in reference:
        ra, rb = reference[a], reference[b]
        ra = ra["accuracy"] if isinstance(ra, dict) else ra[1]
        rb = rb["accuracy"] if isinstance(rb, dict) else rb[1]
        ref_txt = f"The report found {a} − {b} = {ra - rb:+.4f}; "
    if na < 2 or nb < 2 or math.isnan(sa) or math.isnan(sb):
        return (f"{ref_txt}we measured {diff:+.4f} from a single seed each, so we cannot tell "
                f"it from seed-to-seed noise (run with more SEEDS).")
    se = math.sqrt(sa ** 2 / na + sb ** 2 / nb)
    if se == 0:
        verdict = "identical runs" if diff == 0 else "larger than the (zero) seed noise"
    elif abs(diff) > 2 * se:
        verdict = f"larger than the seed-to-seed noise ({abs(diff) / se:.1f} standard errors)"
    else:
        verdict = (f"within the seed-to-seed noise ({abs(diff) / se:.1f} standard errors), "
                   f"so this difference does not support a conclusion")
    return (f"{ref_txt}we measured {a} − {b} = {diff:+.4f} in {what} "
            f"(mean of {na} and {nb} seeds): {verdict}.")
