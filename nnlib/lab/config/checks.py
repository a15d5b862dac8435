"""The checks config validation is made of: ``ConfigError`` (one line naming the key path as the
user wrote it), value checks that return the clean value or raise, and ``Section``, a JSON
object read with aliases that rejects unknown and doubled keys."""
from __future__ import annotations

import contextlib
import difflib
import re
from typing import Any

from ... import argcheck
from ...errors import FieldError, one_line


class ConfigError(ValueError):
    """A config mistake; the message is one line: ``key.path: value problem``.

    ``path`` holds the key path (or None) for programs that want it.
    """

    def __init__(self, message: str, path: str | None = None):
        super().__init__(one_line(message, limit=None))
        self.path = path


# Names people reach for that difflib would not match: offered as "did you mean".
SYNONYMS = {"learning_rate": "lr", "learningrate": "lr", "scheduler": "schedule",
            "lr_schedule": "schedule", "activation_function": "activation", "act": "activation",
            "wd": "weight_decay", "layers": "sizes", "hidden_sizes": "sizes",
            "n_epochs": "epochs", "num_epochs": "epochs", "batchsize": "batch_size"}


def fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(path: str, value: Any, rule: str):
    raise ConfigError(f"{path}: {fmt(value)} {rule}", path)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@contextlib.contextmanager
def _at_key_path():
    """A check's ``FieldError`` (its field is the key path) as a ``ConfigError``."""
    try:
        yield
    except FieldError as exc:
        fail(exc.field, exc.value, exc.rule)


def integer(value, path, lo=None):
    with _at_key_path():
        return argcheck.integer(path, value, lo)


def number(value, path, lo=None, hi=None, lo_open=False, hi_open=False):
    with _at_key_path():
        return argcheck.number(path, value, lo, hi, lo_open, hi_open)


def boolean(value, path):
    with _at_key_path():
        return argcheck.boolean(path, value)


def listing(value, path, min_len=1):
    with _at_key_path():
        return argcheck.listing(path, value, min_len)


def squash(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


def choice(value, path, options, aliases=None):
    """Case-, space-, '_'- and '-'-insensitive choice; returns the canonical name."""
    options = list(options)
    if not isinstance(value, str):
        fail(path, value, f"must be a string, one of {', '.join(options)}")
    key = squash(value)
    table = {squash(o): o for o in options}
    table.update(aliases or {})
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.6)
    hint = f" (did you mean {table[close[0]]!r}?)" if close else ""
    fail(path, value, f"is not one of {', '.join(options)}{hint}")


def suggest(name: str, options) -> str:
    """' (did you mean 'x'?)' for a close or synonymous option, else ''."""
    options = list(options)
    guess = SYNONYMS.get(name.lower())
    if guess not in options:
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
        guess = close[0] if close else None
    return f" (did you mean {guess!r}?)" if guess else ""


class Section:
    """A dict read with aliases: rejects unknown and doubled keys, remembers the names used."""

    def __init__(self, raw, path: str, keys: dict[str, tuple[str, ...]]):
        if not isinstance(raw, dict):
            fail(path or "config", raw, "must be a JSON object")
        self.path = path
        lookup = {k: k for k in keys}
        lookup.update({a: k for k, aliases in keys.items() for a in aliases})
        self.values: dict[str, Any] = {}
        self.names: dict[str, str] = {}
        unknown = []
        for name, value in raw.items():
            canon = lookup.get(name)
            if canon is None:
                unknown.append(name)
            elif canon in self.values:
                raise ConfigError(f"{join(path, name)}: given twice (also as "
                                  f"{self.names[canon]!r})", join(path, name))
            else:
                self.values[canon], self.names[canon] = value, name
        if unknown:
            hints = [f"{name!r}{suggest(str(name), lookup)}" for name in unknown]
            where = path or "config"
            raise ConfigError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(hints)}; allowed: {', '.join(lookup)}",
                              join(path, str(unknown[0])))

    def has(self, key):
        return key in self.values

    def where(self, key):
        """Key path as the user wrote it."""
        return join(self.path, self.names.get(key, key))

    def get(self, key, default=None):
        return self.values.get(key, default)

    def require(self, key, rule):
        if key not in self.values:
            raise ConfigError(f"{self.where(key)}: missing (required; {rule})", self.where(key))
        return self.values[key]

    def only_for(self, kind: str, kind_name: str, used: dict[str, tuple[str, ...]],
                 kind_key: str = "type"):
        """Reject keys that the chosen type (the value of ``kind_key``) does not use."""
        for key in self.values:
            if key != kind_key and key not in used[kind]:
                users = [t for t, fields in used.items() if key in fields]
                raise ConfigError(f"{self.where(key)}: {fmt(self.values[key])} is not used by "
                                  f"{kind_name} {kind!r} (only by {', '.join(users)})",
                                  self.where(key))

    @contextlib.contextmanager
    def checked_by_library(self):
        """Turn a ``FieldError`` raised by a library constructor (whose rules live with the
        class) into a ``ConfigError`` at the key path the user wrote."""
        try:
            yield
        except FieldError as exc:
            name, bracket, rest = exc.field.partition("[")
            fail(self.where(name) + (bracket + rest), exc.value, exc.rule)
