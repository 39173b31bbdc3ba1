"""Checks of scalar arguments, with torch's messages.

fastloss checks each kind of argument in one layer (CONTRIBUTING.md): scalar arguments
(reductions, options) here, in Python, where torch's signatures and messages live; array
arguments (type, dtype, shape, ``out``) in the bindings; values inside arrays (class indices,
probabilities) in the core's scans. Each checker takes the value and returns what the core
receives, or raises ValueError / TypeError naming the argument.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Callable, Optional, Tuple

import numpy as np

from . import _core

Checker = Callable[[Any], Any]

REDUCTIONS: Tuple[str, ...] = ("none", "mean", "sum")
_CORE_REDUCTIONS = {name: getattr(_core.Reduction, name) for name in (*REDUCTIONS, "batchmean")}
_INT64 = (-(2**63), 2**63)


def reduction_of(value: Any, allowed: Tuple[str, ...], message: str) -> "_core.Reduction":
    """The core's reduction for ``value``, or ValueError with ``message.format(value)``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(message.format(value))
    return _CORE_REDUCTIONS[value]


def legacy_reduction(size_average: Optional[bool], reduce: Optional[bool], emit_warning: bool = True) -> str:
    """torch's deprecated flags as a reduction (None counts as True), with torch's warning."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = ("mean" if size_average else "sum") if reduce else "none"
    if emit_warning:
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
            stacklevel=4,
        )
    return reduction


def _describe(value: Any) -> str:
    return type(value).__name__


def real(name: str) -> Checker:
    """A real number (int, float, NumPy scalar, bool) as a float."""

    def check(value: Any) -> float:
        if not isinstance(value, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"{name} must be a real number, got {_describe(value)}")
        return float(value)

    return check


def real_where(name: str, accepts: Callable[[float], bool], message: str) -> Checker:
    """A real number that ``accepts`` (False for NaN, unless it says otherwise); else ValueError
    with torch's ``message``, in which ``{value}`` is the value given."""
    as_real = real(name)

    def check(value: Any) -> float:
        number = as_real(value)
        if not accepts(number):
            raise ValueError(message.format(value=number))
        return number

    return check


def flag(name: str) -> Checker:
    """A bool (Python, NumPy, or the integers 0 and 1)."""

    def check(value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
            return bool(value)
        raise TypeError(f"{name} must be a bool, got {_describe(value)} {value!r}")

    return check


def integer(name: str) -> Checker:
    """A Python or NumPy integer that fits int64."""

    def check(value: Any) -> int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {_describe(value)}")
        number = int(value)
        if not _INT64[0] <= number < _INT64[1]:
            raise ValueError(f"{name} must fit a 64-bit integer, got {number}")
        return number

    return check


def one_of(name: str, choices: Tuple[int, ...], message: str) -> Checker:
    """A real number equal to one of the integers ``choices`` (multi_margin_loss's p), as an int."""
    as_real = real(name)

    def check(value: Any) -> int:
        number = as_real(value)
        if number not in choices:
            raise ValueError(message)
        return int(number)

    return check


def is_finite_non_negative(value: float) -> bool:
    return value >= 0 and math.isfinite(value)


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(name: str) -> Checker:
    """None, or a float32/float64 dtype as NumPy spells it (``np.float64``, ``"float32"``,
    ``np.dtype(...)``) or as torch does (``torch.float64``), as a ``numpy.dtype``."""

    def check(value: Any) -> Optional[np.dtype]:  # type: ignore[type-arg]
        if value is None:
            return None
        spelled = str(value).replace("torch.", "", 1) if type(value).__module__ == "torch" else value
        try:
            dtype = np.dtype(spelled)
        except TypeError:
            raise TypeError(f"{name} must be a float dtype (float32 or float64), got {value!r}") from None
        if dtype not in _FLOAT_DTYPES:
            raise TypeError(f"{name} must be float32 or float64, got {dtype}")
        return dtype

    return check


def softmax_dim(name: str, dim: Any, input: Any, stacklevel: int) -> int:
    """softmax's ``dim``: an integer (its range is checked with the array), or None for
    torch's deprecated implicit choice (``_get_softmax_dim``: 0 for 0-, 1- and 3-dimensional
    input, else 1) with torch's warning. The warning points ``stacklevel`` frames up, as
    torch's (1 is this function)."""
    if dim is not None:
        return integer("dim")(dim)
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    ndim = getattr(input, "ndim", 0)  # an ndarray's, or a torch tensor's (fastloss.torch)
    return 0 if ndim in (0, 1, 3) else 1


def optional(check: Checker) -> Checker:
    """``check``, letting None through (torch's ``Optional`` scalars)."""

    def check_optional(value: Any) -> Any:
        return None if value is None else check(value)

    return check_optional
