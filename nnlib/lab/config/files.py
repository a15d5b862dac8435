"""Config files: ``load_config`` (a path, a dict in either schema, or a ``Config``) and
``save_config``."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from ...io import write_json
from .checks import ConfigError
from .parse import parse
from .schema import Config


def _reject_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ConfigError(f"key {k!r} appears twice in one object", k)
        out[k] = v
    return out


def load_config(source: str | os.PathLike | dict | Config) -> Config:
    """Read a config from a JSON file path, a dict (either schema) or a ``Config`` (as is).

    Raises ConfigError; for files the message starts with the file name.
    """
    if isinstance(source, Config):
        return source
    if isinstance(source, dict):
        return parse(copy.deepcopy(source))
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"load_config: expected a path, dict or Config, got "
                          f"{type(source).__name__}")
    name = os.fspath(source)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such config file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read config file ({type(exc).__name__})") from None
    try:
        raw = json.loads(text, object_pairs_hook=_reject_duplicates)
        return parse(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg}") from None
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}", exc.path) from None


def save_config(config: Config, path: str | os.PathLike) -> None:
    """Write ``config.to_dict()`` as indented JSON (e.g. a run's ``params.json``)."""
    write_json(path, config.to_dict())
