"""Checks of user-given numbers, shared by the env, the configs and the CLI.

Each returns the value as a plain Python number or raises ``ValueError`` with one line that
names the setting and what it accepts. numpy scalars count as numbers; ``bool`` does not
(``True`` is an int to Python, never a batch size or a penalty a user meant).
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np


def _not_bool(name: str, value: object) -> None:
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be a number, not a bool ({value!r})")


def real_number(name: str, value: object) -> float:
    """A finite real number (int, float or numpy scalar) as a float."""
    _not_bool(name, value)
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number; got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return result


def positive_int(name: str, value: object) -> int:
    """An integer >= 1 (Python or numpy) as an int."""
    _not_bool(name, value)
    try:
        result = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a positive int; got {value!r}") from None
    if result < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return result


MAX_LAM = 1e6
"""Largest accepted lambda. Its break-even accuracy 1 - 1e-6 is finer than any test split
can measure (ImageNet's 50,000 images resolve 2e-5), and rewards stay far inside float32:
|R| <= agents x lambda, about 1e5 x 1e6 = 1e11 on the widest registry model, where float32
overflows above 3.4e38 (lambda 1e38 gave -inf rewards before this bound)."""


def check_lam(lam: float) -> float:
    """``lam`` as a float, refusing values that make the reward meaningless or overflow."""
    value = real_number("lam", lam)
    if not 0 < value <= MAX_LAM:
        raise ValueError(
            f"lam must be > 0 and <= {MAX_LAM:g} (the penalty of a wrong prediction); got {lam}"
        )
    return value


def check_fraction(target: float) -> float:
    """A kept fraction must lie in (0, 1]."""
    value = real_number("target fraction", target)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"target fraction must be in (0, 1] (the share to keep); got {target}")
    return value
