"""Validation helpers shared by the regularizers' constructors.

Each returns the checked value (converted to float/int) or raises ``ValueError`` with a
message that names the parameter, the rule and the value received.
"""

import math
from numbers import Integral, Real


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def positive_float(name: str, value) -> float:
    """A finite number > 0."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def positive_int(name: str, value) -> int:
    """An integer > 0 (not a bool)."""
    if not isinstance(value, Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be an integer > 0, got {value!r}")
    return int(value)


def wasserstein_order(name: str, value) -> float:
    """The order p >= 1 of a Wasserstein distance (a finite number)."""
    order = positive_float(name, value)
    if order < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return order


def momentum(name: str, value) -> float:
    """A number in [0, 1)."""
    if not _is_number(value) or not math.isfinite(value) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def open_unit_interval(name: str, value) -> float:
    """A number in (0, 1)."""
    if not _is_number(value) or not math.isfinite(value) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def one_of(name: str, value, choices) -> object:
    """One of ``choices``."""
    if value not in choices:
        known = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {known}, got {value!r}")
    return value
