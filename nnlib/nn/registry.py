"""Name → class tables, read from the classes themselves.

A registry maps a config ``type`` name to a class (or builder function). What a type takes is
its constructor's own signature: the parameter names are the config fields, the defaults are the
config defaults. So each class module holds its table once, and config validation, builders and
``config()`` all read the same thing.
"""
from __future__ import annotations

import inspect

#: Marks a parameter without a default (the config must give it).
REQUIRED = inspect.Parameter.empty


def fields(target, skip: tuple[str, ...] = ()) -> dict[str, object]:
    """``{parameter: default or REQUIRED}`` of ``target``'s constructor (or of a function), in
    signature order, without ``self``, ``*args``/``**kwargs`` and the names in ``skip``.
    Tuple defaults come back as lists (configs are JSON)."""
    sig = inspect.signature(target)
    out = {}
    for name, p in sig.parameters.items():
        if name == "self" or name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[name] = list(p.default) if isinstance(p.default, tuple) else p.default
    return out


def name_of(registry: dict, obj) -> str:
    """The registry name of ``obj``'s class."""
    for name, cls in registry.items():
        if type(obj) is cls:
            return name
    raise KeyError(f"{type(obj).__name__} is not registered (known: {', '.join(registry)})")


def build(registry: dict, kind: str, first, params: dict, skip: tuple[str, ...] = (),
          what: str = "type"):
    """``registry[kind](first, **params)``, passing only the fields ``kind`` takes (a missing
    required one raises ``ValueError`` naming it)."""
    if kind not in registry:
        raise ValueError(f"{what} {kind!r} is not one of {', '.join(registry)}")
    kwargs = {}
    for name, default in list(fields(registry[kind], skip=skip).items())[1:]:  # [0]: its target
        value = params.get(name)
        if value is None:
            if default is REQUIRED:
                raise ValueError(f"{what} {kind!r} needs {name!r}")
            continue
        kwargs[name] = value
    return registry[kind](first, **kwargs)


def config_of(registry: dict, obj, skip: tuple[str, ...] = ()) -> dict:
    """``{"type": name, <field>: value, ...}`` of a registered object: the fields of its class,
    read from the attributes of the same names (what :func:`build` rebuilds it from)."""
    taken = fields(type(obj), skip=skip)
    names = list(taken)[1:]  # without the first argument (optimizer, model)
    out = {"type": name_of(registry, obj)}
    for name in names:
        value = getattr(obj, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out
