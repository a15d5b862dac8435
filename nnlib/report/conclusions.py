"""Each notebook's conclusion as Markdown bullets, from the numbers the notebook computed: one
call per conclusion cell, so that the wording and its branches (reproduced or not, larger than
the seed noise or not) are written once and tested (``tests/test_conclusions.py``).

Arguments are the notebook's own results: ``seed_stats`` entries ``(mean, std, n)``, comparison
tables (``compare.comparison_table``), size sweeps, runs (anything with ``seed`` and
``test_accuracy``). Every function returns the Markdown the cell displays.
"""
from __future__ import annotations

import math

from ..lab.data import REPORT_SPLIT_SEED
from . import compare, reference

__all__ = ["activations", "augmentation", "beyond", "bullets", "cnn", "counted", "gain_share",
           "gap_text",
           "grid", "judged", "optimizers", "overview", "regularization", "scheduler",
           "sweep_finding", "target_words", "weights"]


def bullets(items) -> str:
    """Markdown bullets, one per item."""
    return "\n".join(f"- {b}" for b in items)


def target_words(accuracy: float, target: float) -> str:
    """"meeting" or "missing" a target accuracy."""
    return "meeting" if accuracy >= target else "missing"


def counted(counts: dict, total: int, what: str) -> str:
    """"2 of 3 activations consistent" from ``compare.verdict_counts``, or "none of the 3
    activations could be judged (no seed spread)" when no row had a σ."""
    judged = sum(counts.values())
    if not judged:
        return f"none of the {total} {what} could be judged (no seed spread)"
    return f"{counts['consistent']} of {judged} {what} consistent"


def _reached(summary) -> tuple[list, int, int]:
    """A size sweep's sizes at which the published numbers are reached (those inside the sweep),
    the stated (largest) size, and how many are reached below it."""
    at = [n for n in summary.reached.values() if n is not None]
    stated = max(summary.sizes)
    return at, stated, sum(n < stated for n in at)


def _fewer_images(summary) -> str:
    at, stated, below = _reached(summary)
    if summary.supports_fewer_images():
        return (f"On the training-set-size sweep the published numbers are reached with "
                f"{min(at):,.0f}–{max(at):,.0f} training images ({min(at) / stated:.0%}–"
                f"{max(at) / stated:.0%} of the stated {stated:,}), which supports the hypothesis "
                "that they came from runs on fewer images.")
    return (f"Only {below} of {len(summary.reached)} published numbers are reached below the "
            f"stated {stated:,} images on the training-set-size sweep: it does not support the "
            "fewer-images hypothesis.")


def sweep_finding(summary) -> str:
    """What a training-set-size sweep (``compare.size_sweep``) says about the hypothesis that the
    published numbers of experiments 1–2 came from runs on fewer images (notebooks 01–02)."""
    at, stated, _ = _reached(summary)
    if summary.supports_fewer_images():
        return (f"On our curves the published numbers are reached with **{min(at):,.0f}–"
                f"{max(at):,.0f} training images** ({min(at) / stated:.0%}–{max(at) / stated:.0%} "
                f"of the stated {stated:,}). This supports the hypothesis that the published "
                "numbers of experiments 1–2 came from runs on fewer images than the report "
                "states. It is a hypothesis supported by numbers, not a certainty: the earlier "
                "script state is not available, and a smaller subset is not the only change that "
                "could lower the numbers (fewer epochs would too).")
    if at:
        return (f"Only {len(at)} of {len(summary.reached)} published numbers are reached inside "
                "the measured range of sizes: weak support for the hypothesis.")
    return ("None of the published numbers falls inside the measured range of sizes, so this "
            "sweep neither supports nor rules out the hypothesis.")


def activations(stats: dict, table, summary, improved, target: float) -> str:
    """Notebook 01: ReLU vs LeakyReLU vs Sigmoid against the seed noise, the verdicts, the size
    sweep and mlp_improved. ``stats``: ``seed_stats`` by activation (sigmoid, relu, leakyrelu)."""
    pm, noise = compare.seed_text, compare.noise_text
    twins = compare.difference(stats, "relu", "leakyrelu")
    sig = {a: compare.difference(stats, "sigmoid", a) for a in ("relu", "leakyrelu")}
    sig_worse = all(d.significant and d.value < 0 for d in sig.values())
    vs_rep = compare.verdict_counts(table, "vs replayed")
    vs_pub = compare.verdict_counts(table, "vs published")
    n_seeds = max(n for _, _, n in stats.values())
    best = max(stats, key=lambda a: stats[a][0])
    return bullets([
        f"**Activation functions (the report's experiment 1, {n_seeds} seed(s) each):** ReLU and "
        f"LeakyReLU differ by {twins.value:+.4f} in test accuracy ({pm(stats['relu'])} vs "
        f"{pm(stats['leakyrelu'])}), {noise(twins)}"
        + (" — the report's \"equally good\" holds." if twins.significant is False else "."),
        (f"Sigmoid ({pm(stats['sigmoid'])}) is worse than both by more than the seed noise "
         f"({sig['relu'].value:+.4f} vs ReLU, {sig['leakyrelu'].value:+.4f} vs LeakyReLU), as the "
         "report found." if sig_worse else
         f"Sigmoid ({pm(stats['sigmoid'])}) vs ReLU: {sig['relu'].value:+.4f} "
         f"({noise(sig['relu'])}); vs LeakyReLU: {sig['leakyrelu'].value:+.4f} "
         f"({noise(sig['leakyrelu'])})."),
        f"Against the report's code replayed on its stated protocol: "
        f"{counted(vs_rep, len(table), 'activations')}; against the published "
        f"numbers: {counted(vs_pub, len(table), 'activations')}, the published number "
        f"below ours for {vs_pub['below']}.",
        _fewer_images(summary),
        f"Going further, mlp_improved (seed {improved.seed}) reaches "
        f"{improved.test_accuracy:.4f} test accuracy, "
        f"{target_words(improved.test_accuracy, target)} the {target:.3f} MLP target "
        f"({improved.test_accuracy - stats[best][0]:+.4f} against the best activation, {best}).",
    ])


def optimizers(stats: dict, table, summary, gaps, momentum: float, one_run: bool) -> str:
    """Notebook 02: momentum − SGD against the seed noise, the gap across training-set sizes
    (``gaps``: momentum − SGD per size, a Series indexed by size), the verdicts, and whether the
    configuration three notebooks ask for is one run."""
    pm, noise = compare.seed_text, compare.noise_text
    gain = compare.difference(stats, "momentum", "sgd")
    ref_gain = (reference.OPTIMIZER["momentum"]["accuracy"]
                - reference.OPTIMIZER["sgd"]["accuracy"])
    rep = compare.verdict_counts(table, "vs replayed")
    pub = compare.verdict_counts(table, "vs published")
    _, stated, below = _reached(summary)
    n_seeds = max(n for _, _, n in stats.values())
    return bullets([
        f"**Optimizers (the report's experiment 2, {n_seeds} seed(s) each):** SGD with momentum "
        f"{momentum:g} − plain SGD = {gain.value:+.4f} test accuracy ({pm(stats['momentum'])} vs "
        f"{pm(stats['sgd'])}), {noise(gain)}; the report found {ref_gain:+.4f}"
        + (" — momentum is better, as it concluded." if gain.significant and gain.value > 0
           else "."),
        f"On the training-set-size sweep ({min(summary.sizes):,}–{stated:,} images), "
        f"{gap_text(gaps)}.",
        f"Against the report's code replayed on its stated protocol: "
        f"{counted(rep, len(table), 'optimizers')}; the published number is below "
        f"ours for {pub['below']} of {len(table)}, and {below} of {len(summary.reached)} "
        "published numbers are reached below the stated "
        f"{stated:,} training images on our size sweep"
        + (" (support for the fewer-images hypothesis of notebook 01)."
           if summary.supports_fewer_images() else "."),
        "The LeakyReLU + momentum configuration asked for by notebooks 01, 02 and 03 "
        + ("normalises to one configuration and one cached run." if one_run else
           "gives **different** runs: the protocols drifted apart."),
    ])


def gap_text(gaps) -> str:
    """Momentum − SGD per training-set size in words (``gaps``: a Series indexed by size)."""
    if (gaps > 0).all():
        return f"momentum is ahead of SGD at every size ({gaps.min():+.4f} to {gaps.max():+.4f})"
    return ("the momentum − SGD gap changes sign across sizes ("
            + ", ".join(f"{n:,}: {g:+.4f}" for n, g in gaps.items()) + ")")


def scheduler(gstats: dict, gtable, sigma, step_size: int, final: tuple, final_verdict,
              times: tuple, improved, target: float) -> str:
    """Notebook 04: the gamma sweep (``gstats`` by gamma label, one-seed cells judged with the
    family ``sigma``), its verdicts, the final MLP (``final``: its ``seed_stats`` entry,
    ``final_verdict`` against the published number, ``times``: (ours, the report's) seconds) and
    mlp_improved."""
    ranked = sorted(gstats, key=lambda g: gstats[g][0], reverse=True)
    extremes = compare.difference(gstats, ranked[0], ranked[-1], sigma)
    g_pub = compare.verdict_counts(gtable, "vs published")
    g_rep = compare.verdict_counts(gtable, "vs replayed")
    m, s, n = final
    t_ours, t_ref = times
    n_gamma_seeds = max(k for _, _, k in gstats.values())
    return bullets([
        f"**Learning-rate decay (the report's experiment 4, StepLR step {step_size}, "
        f"{n_gamma_seeds} seed(s) per gamma):** test accuracy "
        + ", ".join(f"{g}: {gstats[g][0]:.4f}" for g in gstats)
        + f"; the best ({ranked[0]}) and the worst ({ranked[-1]}) differ by "
        f"{extremes.value:+.4f}, {compare.noise_text(extremes)}"
        + (", so this sweep does not show that decay helps or hurts."
           if not extremes.significant else "."),
        f"Against the published numbers: {counted(g_pub, len(gtable), 'gamma values')}; "
        "against the report's code replayed: "
        f"{counted(g_rep, sum(1 for r in gtable['replayed'] if r != '–'), 'gamma values')}.",
        {"consistent": f"The report's final MLP is reproduced: {m:.4f}",
         "unjudged": f"Whether the report's final MLP is reproduced cannot be judged with one "
                     f"seed: {m:.4f}"}.get(final_verdict.label,
                                           f"The report's final MLP is **not** reproduced: {m:.4f}")
        + ("" if math.isnan(s) else f" ± {s:.4f}")
        + f" over {n} seed(s) against the published (= replayed) "
        f"{reference.MLP_FINAL['accuracy']:.4f} ({final_verdict.text('published')}). One run "
        f"takes {t_ours:.1f} s here, {t_ref:.1f} s in the report ({t_ref / t_ours:.0f}× as long; "
        "other hardware and code).",
        f"Going further, mlp_improved (seed {improved.seed}) reaches "
        f"{improved.test_accuracy:.4f}, {target_words(improved.test_accuracy, target)} the "
        f"{target:.3f} MLP target ({improved.test_accuracy - m:+.4f} against our final MLP).",
    ])


def regularization(weight_decay: tuple, early_stopping: tuple, dropout: tuple,
                   reference_gain: float, n_seeds: int) -> str:
    """Notebook 05. Each argument but the last two is ``(stats, on, off, ...)``: the
    ``seed_stats`` of an experiment and its two labels — ``early_stopping`` also carries
    ``(patience, epochs, mean epochs run)``; ``reference_gain``: the report's wd 1e-3 − wd 0."""
    pm, noise = compare.seed_text, compare.noise_text
    stats_wd, wd_on, wd_off = weight_decay
    stats_es, es_on, es_off, patience, epochs, ran = early_stopping
    stats_do, do_on, do_off = dropout
    d_wd = compare.difference(stats_wd, wd_on, wd_off)
    d_es = compare.difference(stats_es, es_on, es_off)
    d_do = compare.difference(stats_do, do_on, do_off)
    helped = [name for name, d in (("weight decay", d_wd), ("early stopping", d_es),
                                   ("dropout", d_do)) if d.significant and d.value > 0]
    return bullets([
        f"**Regularizing the final MLP (notebook 05, {n_seeds} seed(s) each):** weight decay "
        f"({wd_on} vs {wd_off}) changes the test accuracy by {d_wd.value:+.4f} "
        f"({pm(stats_wd[wd_on])} vs {pm(stats_wd[wd_off])}), {noise(d_wd)}; the report found "
        f"{reference_gain:+.4f}.",
        f"Early stopping (patience {patience}) ends the {epochs}-epoch runs after {ran:.1f} epochs "
        f"on average ({100 * (1 - ran / epochs):.0f} % fewer) and changes the test accuracy by "
        f"{d_es.value:+.4f} ({pm(stats_es[es_on])} vs {pm(stats_es[es_off])}), {noise(d_es)}.",
        f"Adding {do_on} after the hidden layer changes the test accuracy by {d_do.value:+.4f} "
        f"({pm(stats_do[do_on])} vs {pm(stats_do[do_off])}), {noise(d_do)}.",
        ("With one seed, none of the three can be told from the seed noise."
         if all(d.se is None for d in (d_wd, d_es, d_do)) else
         "None of the three regularizers improves the final MLP by more than the seed noise."
         if not helped else
         f"Improving the final MLP by more than the seed noise: {', '.join(helped)}."),
    ])


def cnn(stats: dict, decay: tuple, train_s: float, errors: tuple, improved) -> str:
    """Notebook 06. ``stats``: ``seed_stats`` of "cnn" and "mlp"; ``decay``: ``(dstats, twice,
    once, v_once, v_twice)`` — the decay variants' stats and labels and their verdicts against
    the replay; ``train_s``: our mean seconds per CNN run; ``errors``: ``(seed, misclassified,
    n_test, worst_pair or None, worst_digit, its error rate)``."""
    pm, noise = compare.seed_text, compare.noise_text
    dstats, twice_label, once_label, v_once, v_twice = decay
    seed, wrong, n_test, pair, digit, rate = errors
    v_cnn = compare.verdict(reference.CNN["accuracy"], *stats["cnn"])
    cnn_mlp = compare.difference(stats, "cnn", "mlp")
    ref_gap = reference.CNN_VS_MLP["cnn"]["accuracy"] - reference.CNN_VS_MLP["mlp"]["accuracy"]
    twice = compare.difference(dstats, twice_label, once_label)
    worst = (f"; the most frequent confusion is {pair[1]}→{pair[2]} ({pair[0]}×)" if pair
             else "")
    cnn_target = reference.TARGETS["cnn"]
    return bullets([
        f"**The report's CNN (notebook 06, {stats['cnn'][2]} seed(s)):** nnlib "
        f"{pm(stats['cnn'])} test accuracy against the published {reference.CNN['accuracy']:.4f} "
        f"({v_cnn.text('published')}); one run trains in {train_s:.0f} s here vs "
        f"{reference.CNN['training_time_s']:.0f} s in the report.",
        f"CNN − final MLP = {cnn_mlp.value:+.4f} test accuracy ({pm(stats['cnn'])} vs "
        f"{pm(stats['mlp'])}), {noise(cnn_mlp)}; the report found {ref_gap:+.4f}"
        + (" — the CNN is better." if cnn_mlp.significant and cnn_mlp.value > 0 else "."),
        f"Decaying the conv layers twice, as the report's code did, changes the test accuracy by "
        f"{twice.value:+.4f}, {noise(twice)}, and "
        + ("does not change" if v_once.label == v_twice.label else "changes")
        + f" the verdict against the replayed {reference.REPLAYED_CNN['accuracy']:.4f}.",
        f"The seed-{seed} CNN misclassifies {wrong:,} of {n_test:,} test digits{worst}; digit "
        f"{digit} has the highest error rate ({100 * rate:.1f} %).",
        f"Going further, cnn_improved (seed {improved.seed}) reaches "
        f"{improved.test_accuracy:.4f}, {target_words(improved.test_accuracy, cnn_target)} the "
        f"{cnn_target:.3f} CNN target ({improved.test_accuracy - stats['cnn'][0]:+.4f} against "
        "the report's CNN).",
    ])


def judged(d: compare.Difference) -> str:
    """A difference with its noise verdict, for a sentence: "**+0.0021** (within the seed
    noise)"."""
    return f"**{d.value:+.4f}** ({compare.noise_text(d)})"


def gain_share(total: compare.Difference, doubling: compare.Difference) -> str:
    """How much of an augmentation gain (``total``) doubling the updates alone (``doubling``)
    accounts for, in words."""
    if not (total.significant and total.value > 0):
        return "there is no measurable gain to split"
    if not doubling.significant:
        return "not a measurable share of the gain"
    if doubling.value >= total.value:
        return "as much as the whole gain, or more"
    return f"{100 * doubling.value / total.value:.0f} % of the whole gain"


def augmentation(stats: dict, diff: dict, step: compare.Difference, changed: list, augmented,
                 plain) -> str:
    """Notebook 07. ``stats``: ``seed_stats`` by arm ("(a) none", "(b) as run", "(c) as
    intended", "(d) control"); ``diff``: paired differences keyed by ``(arm, arm)``; ``step``: arm
    (b) with − without the empty final step, ``changed``: the references whose verdict it changes;
    ``augmented`` / ``plain``: the cnn_augmented and cnn_improved runs."""
    none, as_run, intended, control = "(a) none", "(b) as run", "(c) as intended", "(d) control"
    pub_gain = (reference.AUGMENTATION["with"]["accuracy"]
                - reference.AUGMENTATION["without"]["accuracy"])
    v_b = compare.verdict(reference.AUGMENTATION["with"]["accuracy"], *stats[as_run])
    target = reference.TARGETS["cnn_augmented"]
    share = gain_share(diff[as_run, none], diff[control, none])
    return bullets([
        f"**Data augmentation of the final MLP (notebook 07, {stats[as_run][2]} seed(s) per "
        "arm):** the report's augmentation as its code ran it (each image augmented once and seen "
        f"twice per epoch, no clean originals) gives {judged(diff[as_run, none])} over no "
        f"augmentation; the report published {pub_gain:+.4f} (against our arm (b): "
        f"{v_b.text('published')}).",
        f"Doubling the updates without any augmentation (the control) gives "
        f"{judged(diff[control, none])} — {share}.",
        f"At an equal number of updates, the report's augmentation adds "
        f"{judged(diff[as_run, control])} and the intended protocol (clean originals + one "
        f"augmented copy) {judged(diff[intended, control])}.",
        f"The report's empty final step per epoch changes arm (b) by {step.value:+.4f} and "
        + ("changes no verdict." if not changed else
           f"changes the verdict against the {' and '.join(changed)} number."),
        f"Going further, cnn_augmented (seed {augmented.seed}) reaches "
        f"{augmented.test_accuracy:.4f}, {target_words(augmented.test_accuracy, target)} the "
        f"{target:.3f} target, {augmented.test_accuracy - plain.test_accuracy:+.4f} against "
        "cnn_improved without augmentation (one seed each).",
    ])


def _idea(variant: str) -> str:
    """"MLP: − elastic (rotation/shift only)" → "elastic (rotation/shift only) (MLP)"."""
    kind, _, what = variant.partition(": ")
    return f"{what.lstrip('− ')} ({kind})"


def beyond(stats: dict, ensembles: dict, slowest: dict, targets: dict, ablation, not_helped: list,
           judged_any: bool, seed: int) -> str:
    """Notebook 09. ``stats``: ``seed_stats`` of the recipes ("deeper MLP", "residual CNN") and
    the report's models ("report's final MLP", "report's CNN"); ``ensembles``: their seed
    ensembles; ``slowest``: the slowest seed's training seconds per recipe; ``ablation``: rows
    with "variant" and "Δ test"; ``not_helped``: the variants whose idea is not shown to help;
    ``judged_any``: whether there was a σ to judge them by."""
    def recipe(name):
        mean = stats[name][0]
        return (f"{compare.seed_text(stats[name])} ({target_words(mean, targets[name])} the "
                f"{targets[name]:.4f} target)")
    idle = (", ".join(_idea(v) for v in not_helped) if not_helped
            else "none" if judged_any else "not judged (one seed: no σ)")
    return bullets([
        f"**Beyond the report (notebook 09, {stats['residual CNN'][2]} seed(s)):** the residual "
        f"CNN with BatchNorm and elastic distortions reaches {recipe('residual CNN')} at its last "
        f"epoch, {slowest['residual CNN']:.0f} s of training for its slowest seed; its seed "
        f"ensemble {ensembles['residual CNN']['test_accuracy']:.4f}.",
        f"The deeper MLP with Dropout and elastic distortions reaches {recipe('deeper MLP')} in "
        f"{slowest['deeper MLP']:.0f} s for its slowest seed; seed ensemble "
        f"{ensembles['deeper MLP']['test_accuracy']:.4f}.",
        "Against the report's own models over the same seeds: final MLP "
        + compare.seed_text(stats["report's final MLP"]) + ", CNN "
        + compare.seed_text(stats["report's CNN"]) + ".",
        f"Ablation (seed {seed}, test accuracy without each idea minus the recipe's): "
        + "; ".join(f"{r['variant']} {r['Δ test']:+.4f}" for _, r in ablation.iterrows())
        + ". Not shown to help (no larger drop than 2σ·√2, σ the recipe's seed standard "
        f"deviation): {idle}.",
    ])


def overview(checks, shares, x_train, x_test, split: tuple) -> str:
    """Notebook 00. ``checks``: the arrays' digest table ("matches nnlib's digest"); ``shares``:
    each digit's share of "train" and "test"; ``split``: ``(same validation positions, same
    training positions, largest class-share deviation per split)`` of the report's split."""
    import numpy as np

    same_valid, same_train, dev = split
    verified = bool(checks["matches nnlib's digest"].all())
    tr, te = shares["train"], shares["test"]
    never = int((x_train.max(axis=0) == 0).sum())
    differ = " and ".join(k for k, ok in (("validation", same_valid), ("training", same_train))
                          if not ok)
    return bullets([
        f"**MNIST data (notebook 00):** the {len(x_train):,} training and {len(x_test):,} test "
        "images " + ("match nnlib's SHA-256 digests, so every experiment trains and tests on the "
                     "verified MNIST." if verified else
                     "do **not** match nnlib's SHA-256 digests: these are not the verified MNIST "
                     "arrays."),
        f"The classes are close to balanced but not exactly: a class's share ranges from "
        f"{tr.min():.2%} (digit {tr.idxmin()}) to {tr.max():.2%} (digit {tr.idxmax()}) of the "
        f"training set and from {te.min():.2%} to {te.max():.2%} of the test set, so always "
        f"answering digit {te.idxmax()} would score {te.max():.2%} on the test set.",
        f"{never} of the {x_train[0].size} pixel positions are 0 in every training image and "
        f"{np.mean(x_train == 0):.0%} of all training pixels are background (0): the border "
        "carries no information.",
        ("The report's split is reproduced exactly: the search subset's validation and training "
         "positions both equal" if not differ else
         f"The report's split is **not** reproduced: the search subset's {differ} positions "
         "differ from")
        + f" those of the lab's `np.random.seed({REPORT_SPLIT_SEED})` permutation; in the full "
        f"split no class share is more than {dev.max():.2%} from an even share.",
    ])


def grid(ranked, label, tstats: dict, sigma, df, grid_table, diffs, rho: float,
         n_seeds: int) -> str:
    """Notebook 03. ``ranked``: the cells by mean validation accuracy (columns lr, hidden, wd,
    best_valid_accuracy_mean, test_accuracy_mean); ``label(lr, hidden, wd)``: a cell's name;
    ``tstats``: test ``seed_stats`` by cell, ``sigma`` the family σ for one-seed cells; ``df``:
    one row per run; ``grid_table``: the comparison table; ``diffs``: ours − published per cell
    with a published number; ``rho``: their rank correlation (NaN: none)."""
    knobs = {"lr": "learning rate", "hidden": "hidden size", "wd": "weight decay"}
    best = ranked.iloc[0]
    best_label = label(best["lr"], best["hidden"], best["wd"])
    runner_up = label(*ranked.iloc[1][["lr", "hidden", "wd"]])
    tied = int((ranked["best_valid_accuracy_mean"].iloc[1:]
                == best["best_valid_accuracy_mean"]).sum())
    c = reference.GRID_CHOICE
    hit = ranked[(ranked["lr"] == c["lr"]) & (ranked["hidden"] == c["hidden"])
                 & (ranked["wd"] == c["wd"])]
    top = compare.difference(tstats, best_label, runner_up, sigma)
    spread = {k: float(df.groupby(k)["test_accuracy"].mean().agg(lambda v: v.max() - v.min()))
              for k in knobs}
    most = max(spread, key=spread.get)
    counts = compare.verdict_counts(grid_table, "vs published")
    rep_rows = grid_table[grid_table["replayed"] != "–"]
    rep = compare.verdict_counts(rep_rows, "vs replayed")
    choice = (f"; the report's choice {label(c['lr'], c['hidden'], c['wd'])} ranks "
              f"{hit.index[0] + 1} of {len(ranked)} (test "
              f"{hit.iloc[0]['test_accuracy_mean']:.4f})." if len(hit) else
              "; the report's choice is not in this grid.")
    return bullets([
        f"**Grid search (the report's experiment 3, {len(grid_table)} cells × {n_seeds} "
        f"seed(s)):** the best cell by validation accuracy is {best_label} (validation "
        f"{best['best_valid_accuracy_mean']:.4f}, test {best['test_accuracy_mean']:.4f})"
        + (f", tied on validation with {tied} other cell(s)" if tied else "") + choice,
        f"The best cell and the runner-up ({runner_up}) differ by {top.value:+.4f} in test "
        f"accuracy, {compare.noise_text(top)}"
        + (": the grid cannot tell its top two cells apart." if not top.significant else "."),
        f"Of the three knobs, the {knobs[most]} moves the mean test accuracy most (range of the "
        "per-value means: " + ", ".join(f"{knobs[k]} {v:.4f}" for k, v in spread.items()) + ").",
        f"Against the published grid: {counted(counts, len(grid_table), 'cells')}, "
        f"the published number below ours for {counts['below']} (ours − published "
        f"{diffs.mean():+.4f} on average"
        + ("" if math.isnan(rho) else f", rank correlation {rho:.2f}")
        + f"); against the report's code replayed: "
        f"{counted(rep, len(rep_rows), 'cells with a replay')}.",
    ])


def weights(seed: int, rebuilt: dict, moved, activity: dict, n_digits: int,
            orientations: list[str]) -> str:
    """Notebook 08. ``rebuilt``: ``{"exact": bool, "pixels": int, "mean": float, "std": float,
    "expected": float}`` — the final MLP's W/W₀ on always-blank pixels against the decay's
    prediction; ``moved``: ‖W − W₀‖/‖W₀‖ by (model, layer); ``activity``: ``unit_activity``
    of "final MLP" and "mlp_improved"; ``orientations``: one ``weights.orientation_counts``
    sentence per CNN."""
    n, m = activity["final MLP"], activity["mlp_improved"]
    fires = "mean fraction of digits a unit fires on"
    first = moved[("final MLP", 0)]
    return bullets([
        f"**What the networks learned (notebook 08, seed {seed}):** the initial weights are "
        f"rebuilt {'exactly' if rebuilt['exact'] else '**not** exactly'} — on the "
        f"{rebuilt['pixels']} pixels blank in every training image the final MLP's W/W₀ is "
        f"{rebuilt['mean']:.6f} ± {rebuilt['std']:.1e}, the weight decay alone predicts "
        f"{rebuilt['expected']:.6f} — so W − W₀ is what training changed.",
        f"Training moved the final MLP's first layer by {first:.0%} of its initial norm "
        f"(mlp_improved: {moved[('mlp_improved', 0)]:.0%})"
        + (": the change is smaller than the random start, so pictures of W (as in the report) "
           "mostly show the initialisation." if first < 1 else
           ": the change is larger than the random start, so pictures of W mostly show what was "
           "learned."),
        f"{n['never active (%)']:.1f} % of the final MLP's LeakyReLU hidden units never fire on "
        f"{n_digits:,} test digits and its units fire on {100 * n[fires]:.0f} % of them on "
        f"average; mlp_improved (ReLU, He init): {m['never active (%)']:.1f} % never fire, "
        f"{100 * m[fires]:.0f} % on average.",
        "Kernels with a clear stroke orientation: " + "; ".join(orientations) + ".",
    ])
