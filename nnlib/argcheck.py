"""Checks of one argument's value: each returns the clean value or raises ``FieldError`` naming
the argument (``"momentum: 1.5 must be in [0, 1)"``).

The library's constructors check their own arguments with these, and config parsing applies the
same checks to a config's fields and re-anchors the ``FieldError`` at the key path the user wrote
(``optimizer.momentum``), so each rule is written once, next to the class it belongs to.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import FieldError


def is_number(value) -> bool:
    """A real number that is not a bool (True is an int to Python, never a number to a config)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def number(name: str, value, lo=None, hi=None, lo_open: bool = False,
           hi_open: bool = False) -> float:
    """A finite real number in the range ``lo``..``hi`` (open ends where asked), as a float."""
    try:
        clean = float(value) if is_number(value) else math.nan
    except OverflowError:  # an int beyond float's range (1e309 written without the e)
        clean = math.inf
    if not math.isfinite(clean):
        raise FieldError(name, value, "must be a finite number")
    value = clean
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and (value >= hi if hi_open else value > hi)
    if too_low or too_high:
        if hi is None:
            raise FieldError(name, value, f"must be {'>' if lo_open else '>='} {lo:g}")
        if lo is None:
            raise FieldError(name, value, f"must be {'<' if hi_open else '<='} {hi:g}")
        raise FieldError(name, value, f"must be in {'(' if lo_open else '['}{lo:g}, {hi:g}"
                                      f"{')' if hi_open else ']'}")
    return value


def integer(name: str, value, lo=None) -> int:
    """An integer >= ``lo`` (a float with an integral value, as JSON may give, is accepted)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise FieldError(name, value, "must be an integer")
    if lo is not None and value < lo:
        raise FieldError(name, value, f"must be >= {lo}")
    return int(value)


def boolean(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise FieldError(name, value, "must be true or false")
    return value


def listing(name: str, value, min_len: int = 1) -> list:
    """A list (or tuple, range, NumPy array) with at least ``min_len`` entries, as a list (an
    array's entries as Python numbers)."""
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        value = value.tolist()
    elif isinstance(value, range):
        value = list(value)
    if not isinstance(value, (list, tuple)):
        raise FieldError(name, value, "must be a list")
    if len(value) < min_len:
        raise FieldError(name, list(value), f"must have at least {min_len} "
                                            f"entr{'y' if min_len == 1 else 'ies'}")
    return list(value)
