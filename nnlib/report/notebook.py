"""What notebooks call: ``headline`` publishes a notebook's headline numbers, with their verdicts
against the report's published and replayed numbers, for the report index to collect."""
from __future__ import annotations

from ..lab.experiments import RunResult
from ..lab.progress import kernel_front_end
from ..lab.recipes import quick as shrink
from ..logs import LOG_ENV, log_to
from .compare import number_text, verdict, verdict_text
from .plots import use_style
from .provenance import machine
from .provenance import machine_text as provenance_machine_text

HEADLINE_MIME = "application/vnd.nnlib.headline+json"


def as_number(x):
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValueError(f"headline value {x!r} is not a number") from None


def _verdicts(r: dict) -> dict:
    """``vs_published`` / ``vs_replayed``: ``compare.Verdict.to_dict()`` or None (no reference,
    or "ours" is not an accuracy)."""
    out = {}
    ours = r["ours"]
    for key in ("published", "replayed"):
        ref = r.get(key)
        ok = ref is not None and ours is not None and 0.0 <= ours <= 1.0
        out[f"vs_{key}"] = (verdict(ref, ours, r["ours_std"], r["n_seeds"] or 1,
                                    r.get("family_std")).to_dict() if ok else None)
    return out


def headline(rows) -> list[dict]:
    """Publish a notebook's headline numbers for the report index.

    ``rows``: dicts ``{"name": str, "ours": float, "ours_std": float|None, "n_seeds": int|None,
    "published": float|None, "replayed": float|None}`` and optionally ``"family_std"`` (the seed
    σ a one-seed row borrows, ``compare.headline_row``) and ``"summary": True`` (one of the lab's
    key results, shown in the README's summary) (``published``: the report's own number,
    also accepted as ``report``; ``replayed``: the report's code re-run, see
    ``nnlib.report.reference``). Each row gets its verdicts against both
    (``nnlib.report.compare.verdict``;
    ``vs_published`` / ``vs_replayed``, None without a reference). Displays them as a text
    table in the notebook and, under the ``application/vnd.nnlib.headline+json`` mime type, for
    ``build_report`` to pick up. Returns the normalised rows.
    """
    if isinstance(rows, dict):
        rows = [rows]
    clean = []
    for row in rows:
        if "name" not in row or "ours" not in row:
            raise ValueError(f"headline row needs 'name' and 'ours': {row!r}")
        n = row.get("n_seeds")
        r = {"name": str(row["name"]), "ours": as_number(row["ours"]),
             "ours_std": as_number(row.get("ours_std")), "n_seeds": None if n is None else int(n),
             "published": as_number(row.get("published", row.get("report"))),
             "replayed": as_number(row.get("replayed"))}
        if row.get("family_std") is not None:
            r["family_std"] = as_number(row["family_std"])
        if row.get("summary"):
            r["summary"] = True
        r.update(_verdicts(r))
        clean.append(r)
    width = max([len(r["name"]) for r in clean] + [4])
    lines = [(f"{'name':<{width}}  {'nnlib':>18}  {'published':>9}  {'replayed':>8}  "
              f"{'vs published':<28}  vs replayed")]
    for r in clean:
        ours = number_text(r["ours"]) + ("" if r["ours_std"] is None else f" ± {r['ours_std']:.4f}")
        vs_pub = verdict_text(r["vs_published"], "published")
        lines.append(f"{r['name']:<{width}}  {ours:>18}  {number_text(r['published']):>9}  "
                     f"{number_text(r['replayed']):>8}  {vs_pub:<28}  "
                     f"{verdict_text(r['vs_replayed'], 'replayed')}")
    from IPython.display import display
    display({HEADLINE_MIME: clean, "text/plain": "\n".join(lines)}, raw=True)
    return clean


# --- helpers the notebooks share -------------------------------------------------------------

def machine_text(facts: dict | None = None) -> str:
    """This machine in a few words, for text that quotes times: "2 cores (AMD EPYC), OpenBLAS
    0.3.31 (Haswell)". ``facts``: ``provenance.machine()`` (the default) or a recorded copy."""
    return provenance_machine_text(machine() if facts is None else facts)


def maybe_quick(cfg, quick: bool, **quick_kw):
    """``cfg``, or its smoke-run version (``recipes.quick``) when ``quick``."""
    return shrink(cfg, **quick_kw) if quick else cfg


def check_runs(df):
    """A grid's DataFrame unchanged, or ``RuntimeError`` saying how many runs failed and the
    first failure (so a notebook stops at the grid that failed, not at a later KeyError)."""
    bad = df[df["error"].notna()]
    if len(bad):
        raise RuntimeError(f"{len(bad)} run(s) failed: {bad['error'].iloc[0]}")
    return df


def histories(df) -> list:
    """The ``History`` of each run of a grid's DataFrame (from its ``run_dir``), in row order."""
    return [RunResult.from_dir(d).history for d in df["run_dir"]]


def runs_by(df, by: str) -> dict:
    """``{value of by: [History, ...]}`` over a grid's DataFrame (first-seen order)."""
    return {key: histories(g) for key, g in df.groupby(by, sort=False)}


def verdict_markdown(title: str, text: str, extra: str = "") -> str:
    """"**Verdict (title).** Text. extra" as Markdown (``text`` capitalised)."""
    return f"**Verdict ({title}).** {text[0].upper()}{text[1:]} {extra}".rstrip()


def show_verdict(title: str, text: str, extra: str = "") -> None:
    """Display :func:`verdict_markdown` in the notebook."""
    from IPython.display import Markdown, display
    display(Markdown(verdict_markdown(title, text, extra)))


def target_sentence(name: str, result, target: float) -> str:
    """One computed Markdown sentence for a "going further" run against its target accuracy."""
    met = ("**met**" if result.test_accuracy >= target
           else f"**not met** (short by {target - result.test_accuracy:.4f})")
    return (f"**{name} (seed {result.seed})**: test accuracy {result.test_accuracy:.4f}, loss "
            f"{result.test_loss:.4f}, training time {result.training_time_s:.0f} s "
            f"({result.history.epochs_run} epochs). Target {target:.3f}: {met}.")


# --- presentation: figure captions, readable tables, one plot style ---------------------------

CAPTION_CLASS = "nnlib-caption"


def caption(text: str) -> None:
    """Show the cell's open figures, then ``text`` as their caption (one line: what the figure
    shows and the run it comes from). The report numbers captions ("Figure 3.") and keeps them
    with their figure."""
    import html

    import matplotlib.pyplot as plt
    from IPython.display import display

    text = " ".join(str(text).split())
    if not text:
        raise ValueError("a figure caption needs text")
    plt.show()  # the inline backend displays (and closes) the figures drawn so far
    display({"text/html": f'<p class="{CAPTION_CLASS}">{html.escape(text)}</p>',
             "text/markdown": f"*{text}*", "text/plain": text}, raw=True)


def _column_format(name: str, values):
    """A formatter for one float column, chosen by its name and values."""
    import numpy as np
    name = str(name).lower()
    finite = values[np.isfinite(values)]
    if "loss" in name:
        return lambda v: f"{v:#.4g}"
    if "time" in name or name.endswith("_s") or "(s)" in name:
        return lambda v: f"{v:.1f}"
    if "acc" in name or (len(finite) and ((finite >= 0) & (finite <= 1)).all()):
        return lambda v: f"{v:.4f}"
    return lambda v: f"{v:#.4g}"


def format_table(df) -> str:
    """``df`` as an HTML table for reading: accuracies (and other values in [0, 1]) with 4
    decimals, losses with 4 significant digits, times with 1 decimal, other floats 4 significant
    digits; integers, strings and NaN (shown as –) untouched."""
    from pandas.api.types import is_float_dtype
    formatters = {}
    for col in df.columns:
        if is_float_dtype(df[col].dtype):
            fmt = _column_format(col if not isinstance(col, tuple) else " ".join(map(str, col)),
                                 df[col].to_numpy(dtype=float))
            formatters[col] = lambda v, f=fmt: "–" if v != v else f(v)
    return df.to_html(formatters=formatters, na_rep="–", max_rows=60, border=0)


def figure_png(fig) -> bytes:
    """A figure as the report embeds it: a PNG with one 256-colour palette, no dithering.

    Report figures are a few flat colours, anti-aliased edges and colour maps of 256 steps, so
    the palette keeps them as the eye sees them at about a quarter of the bytes of matplotlib's
    RGBA PNG - what lets the published report (every figure three times: the page, report.html
    and the executed notebook) stay small enough to commit."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    rgba = Image.open(buf).convert("RGBA")
    rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    small = io.BytesIO()
    rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                 dither=Image.Dither.NONE).save(small, format="PNG", optimize=True)
    return small.getvalue()


#: The notebooks' list-valued parameters (seed lists), read from text when papermill passed them
#: as ``-p SEEDS '[0]'`` (its ``-p`` gives a string; ``-y 'SEEDS: [0]'`` gives the list).
LIST_PARAMETERS = ("SEEDS", "GRID_SEEDS", "GAMMA_SEEDS")


def seed_list(name: str, value) -> list[int]:
    """``value`` of the seed-list parameter ``name`` as a list of distinct ints >= 0: a list, tuple
    or range as it is, one int as a list of it, a text such as ``"[0, 1]"`` or ``"0"`` read as JSON
    first; else a ValueError naming the parameter (a repeated seed would give a spread of 0)."""
    import contextlib
    import json
    import numbers

    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = [value]
    ok = isinstance(value, (list, tuple, range)) and len(value) > 0 and all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0 for s in value)
    if not ok or len(set(value)) != len(value):
        raise ValueError(f"parameter {name}: expected a non-empty list of distinct seeds (ints "
                         f">= 0) such as [0, 1, 2], got {value!r} (papermill: -y '{name}: [0, 1]')")
    return [int(s) for s in value]


def setup() -> None:
    """Once per notebook (its set-up cell): pandas tables shown with :func:`format_table`, the
    report's plot style (``plots.use_style``), figures as :func:`figure_png`, joblib's
    worker-restart warning silenced; the library's log shown on the stream ``NNLIB_LOG`` names
    (``stdout``/``stderr``/``off``; unset: stdout in a kernel a front end shows, else off -
    ``nnlib.logs``), and the seed-list parameters
    (:data:`LIST_PARAMETERS`) in the notebook's namespace read by :func:`seed_list`."""
    import os
    import warnings

    import matplotlib.pyplot as plt
    import pandas as pd
    from IPython import get_ipython
    from matplotlib.figure import Figure

    use_style()
    # load the backend now, not at the first figure: the inline backend registers its PNG
    # formatter when it loads, and figure_png has to come after it
    plt.switch_backend(plt.get_backend())
    # loky restarts a worker whose memory grew (its leak guard) and says so as a UserWarning; the
    # grid's results are checked run by run (check_runs), so to a reader it is only noise
    warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given",
                            category=UserWarning)
    # JupyterLab shows the log (epoch lines under the bars, as Keras prints them); papermill's
    # saved notebook keeps it out unless NNLIB_LOG asks (the report's kernels: stderr)
    stream = os.environ.get(LOG_ENV, "").strip().lower() or ("stdout" if kernel_front_end()
                                                              else "off")
    if stream not in ("stdout", "stderr", "off"):
        raise ValueError(f"{LOG_ENV}={stream!r}: expected 'stdout', 'stderr' or 'off'")
    if stream != "off":
        log_to(stream)
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, format_table)
        shell.display_formatter.formatters["image/png"].for_type(Figure, figure_png)
        for name in LIST_PARAMETERS:
            if name in shell.user_ns:
                shell.user_ns[name] = seed_list(name, shell.user_ns[name])
