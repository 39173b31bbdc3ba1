"""Reduction arguments, with torch's legacy ``size_average``/``reduce`` rules."""

from __future__ import annotations

import warnings

REDUCTIONS = ("none", "mean", "sum")


def legacy_get_string(size_average: bool | None, reduce: bool | None, emit_warning: bool = True) -> str:
    """Map torch's deprecated flags to a reduction string (None counts as True)."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        reduction = "mean"
    elif reduce:
        reduction = "sum"
    else:
        reduction = "none"
    if emit_warning:
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
            stacklevel=3,
        )
    return reduction


def resolve(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """The reduction a call uses: the legacy flags override ``reduction`` when either is given."""
    if size_average is not None or reduce is not None:
        return legacy_get_string(size_average, reduce)
    check(reduction)
    return reduction


def check(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
