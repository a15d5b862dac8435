"""``nnlib search``: a grid over config values from a JSON spec, its table printed and written as
CSV."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from ..io import write_text
from ..lab.config import ConfigError, load_config
from ..lab.grid import grid
from ..paths import default_runs_dir
from .common import EXIT_FAILED, EXIT_OK, UsageError, data_dir, err


def _read_spec(path: Path):
    """(base, axes, seeds) from a search spec; UsageError naming the key on a mistake."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such search spec") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read search spec ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: must be a JSON object with base, axes and seeds")
    unknown = sorted(set(raw) - {"base", "axes", "seeds"})
    if unknown:
        raise UsageError(f"{path}: unknown key {unknown[0]!r}; allowed: base, axes, seeds")
    if "base" not in raw:
        raise UsageError(f"{path}: base: missing (a config path or an inline config object)")
    base = raw["base"]
    if isinstance(base, str):
        candidate = path.parent / base
        base = candidate if candidate.exists() or Path(base).is_absolute() else Path(base)
    elif not isinstance(base, dict):
        raise UsageError(f"{path}: base: must be a config path or an inline config object")
    axes = raw.get("axes")
    if not isinstance(axes, dict) or not axes:
        raise UsageError(f"{path}: axes: must be a non-empty object "
                         f'like {{"optimizer.lr": [0.1, 0.01]}}')
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise UsageError(f"{path}: axes.{name}: must be a non-empty list of values")
    seeds = raw.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise UsageError(f"{path}: seeds: must be a non-empty list of integers >= 0")
    return base, axes, seeds


def cmd_search(args) -> int:
    spec_path = Path(args.spec)
    base, axes, seeds = _read_spec(spec_path)
    try:
        base = load_config(base)
    except ConfigError as exc:
        raise ConfigError(f"{spec_path}: base: {exc}", exc.path) from None
    out = Path(args.out) if args.out else default_runs_dir() / f"search-{spec_path.stem}.csv"
    df = grid(base, axes, seeds=seeds, n_jobs=args.jobs, data_dir=data_dir(args),
              scheduler=args.scheduler)
    write_text(out, df.to_csv(index=False))
    shown = [c for c in df.columns if c not in ("traceback", "run_dir")]
    with pd.option_context("display.width", 200, "display.max_columns", None,
                           "display.max_colwidth", 80):
        print(df[shown].fillna({"error": ""}).to_string(index=False))
    print(f"-> {out}")
    failed = df[df["error"].notna()]
    if len(failed):
        err(f"{len(failed)} of {len(df)} search cells failed:")
        for _, row in failed.iterrows():
            cell = ", ".join(f"{name}={row[name]!r}" for name in axes)
            print(f"  {cell}, seed={row['seed']}: {row['error']}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
