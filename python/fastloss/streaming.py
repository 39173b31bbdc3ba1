"""Reduced losses over data that arrives in batches: :class:`LossAccumulator`.

``acc = LossAccumulator("cross_entropy", weight=w, ignore_index=-100)`` takes a loss's
options once; ``acc.update(logits, target)`` adds one batch (the C++ kernels, zero-copy, GIL
released); ``acc.merge(other)`` adds another accumulator's batches (another thread's, process's
or machine's, through :meth:`LossAccumulator.state`); ``acc.result()`` is the loss over
everything seen, with torch's denominators over the whole stream: the weighted mean's
``sum(w[t])`` over non-ignored targets, ``"batchmean"``'s total batch size, MSE's
``sum(weight)``; NaN when every target was ignored, as torch.

How the result is exact and reproducible: every batch contributes the kernel's float64 sum
of its losses and its float64 denominator (before the division a one-call loss makes). The
accumulator keeps both sums *exactly*, as a list of non-overlapping float64 partials
(Shewchuk's algorithm, the one behind :func:`math.fsum`), and rounds once in
:meth:`~LossAccumulator.result`. So the result is the correctly rounded quotient of the exact
sums of the per-batch values: bitwise the same for any order of updates and merges, any
grouping of accumulators and any thread count (each batch's own sum is thread-count
independent), and equal to the one-call loss of the concatenated arrays up to the float64
rounding of each batch's sum.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from . import _checks
from ._declare import DECLARATIONS, Declaration


class ExactSum:
    """A sum of float64 values kept exactly: non-overlapping partials whose exact sum is the
    exact sum of every value added (non-finite values are summed apart: they decide the
    result alone). Adding the same values in any order gives the same partials' sum."""

    __slots__ = ("partials", "special")

    def __init__(self, partials: Sequence[float] = (), special: float = 0.0) -> None:
        self.partials: List[float] = []
        self.special = float(special)
        for value in partials:
            self.add(value)

    def add(self, value: float) -> None:
        value = float(value)
        if not math.isfinite(value):
            self.special += value  # inf + -inf is NaN, as in the plain sum
            return
        kept = 0
        for partial in self.partials:
            if abs(value) < abs(partial):
                value, partial = partial, value
            high = value + partial
            low = partial - (high - value)
            if low:
                self.partials[kept] = low
                kept += 1
            value = high
        self.partials[kept:] = [value]

    def merge(self, other: "ExactSum") -> None:
        for value in other.partials:
            self.add(value)
        self.special += other.special

    def value(self) -> float:
        """The exact sum, rounded once to float64."""
        return self.special if self.special != 0.0 else math.fsum(self.partials)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and bool(
            np.array_equal(a, b, equal_nan=True))
    return bool(a == b) or (a != a and b != b)


class LossAccumulator:
    """A reduced loss (``"mean"``, ``"sum"``, or kl_div's ``"batchmean"``) accumulated over
    batches: see the module's documentation.

    ``options`` are the loss's keyword arguments that stay the same for every batch: scalar
    options (``ignore_index``, ``label_smoothing``, ``margin``, ...) and per-class arrays
    (cross_entropy's ``weight``). Every other array argument of the loss comes with each
    batch to :meth:`update`, positionally in the loss's order or by name.
    """

    def __init__(self, loss: str, *, reduction: str = "mean", **options: Any) -> None:
        if loss not in DECLARATIONS:
            raise ValueError(f"unknown loss {loss!r}; the reduced losses are: {', '.join(sorted(DECLARATIONS))}")
        decl = DECLARATIONS[loss]
        if reduction == "none":
            raise ValueError("LossAccumulator needs a reduction ('mean' or 'sum'; kl_div: also 'batchmean'), not "
                             "'none': per-element losses of a stream are the loss function's own output")
        # torch's message for a bad one (it may depend on the other arguments)
        decl.reduction_check(reduction, {**{p.name: p.default for p in decl.params}, **options})
        known = {p.name for p in decl.params if p.kind in ("array", "option")}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"{loss}() got an unexpected keyword argument {unknown[0]!r}")
        self.loss = loss
        self.reduction = reduction
        self.options = dict(options)
        self._decl: Declaration = decl
        # The arrays each batch brings, in the loss's order.
        self.batch_arrays: Tuple[str, ...] = tuple(
            p.name for p in decl.params if p.kind == "array" and p.name not in options)
        self._sum = ExactSum()
        self._denominator = ExactSum()
        self.batches = 0

    def update(self, *arrays: Any, **named: Any) -> "LossAccumulator":
        """Add one batch (the loss's per-batch arrays, positionally or by name). An empty
        batch (its first array has no elements) counts as a batch and adds nothing."""
        if len(arrays) > len(self.batch_arrays):
            raise TypeError(f"update() takes at most {len(self.batch_arrays)} arrays "
                            f"({', '.join(self.batch_arrays)}), got {len(arrays)}")
        given = dict(zip(self.batch_arrays, arrays))
        for name, value in named.items():
            if name not in self.batch_arrays:
                raise TypeError(f"update() got an unexpected keyword argument {name!r}")
            if name in given:
                raise TypeError(f"update() got multiple values for argument {name!r}")
            given[name] = value
        values = []
        for p in self._decl.params:
            if p.kind == "reduction":
                values.append(self.reduction)
            elif p.name in self.options:
                values.append(self.options[p.name])
            elif p.name in given:
                values.append(given[p.name])
            elif p.kind == "array" and p.default is not None:
                raise TypeError(f"update() missing required argument {p.name!r}")
            else:
                values.append(p.default)
        if getattr(values[0], "size", None) != 0:  # an empty batch adds nothing (ctc_loss would refuse it)
            total, denominator = self._decl.bind(values).forward_parts()
            self._sum.add(total)
            self._denominator.add(denominator)
        self.batches += 1
        return self

    def merge(self, other: "LossAccumulator") -> "LossAccumulator":
        """Add every batch of ``other`` (the same loss, reduction and options)."""
        if (other.loss, other.reduction) != (self.loss, self.reduction) or set(other.options) != set(
                self.options) or not all(_same(self.options[k], other.options[k]) for k in self.options):
            raise ValueError("merge() needs accumulators of the same loss, reduction and options")
        self._sum.merge(other._sum)
        self._denominator.merge(other._denominator)
        self.batches += other.batches
        return self

    def denominator(self) -> float:
        """What the sum over every batch is divided by: the reduction's denominator over the
        whole stream (1 for "sum")."""
        return 1.0 if self.reduction == "sum" else self._denominator.value()

    def result(self) -> float:
        """The loss over every batch seen (a Python float, float64). NaN for a mean over no
        weight (every target ignored, or no batch), as torch."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(self._sum.value()) / np.float64(self.denominator()))

    def state(self) -> Dict[str, Any]:
        """A small picklable record: the loss, reduction and options, and the exact sums as
        float64 partials (a few floats, whatever the number of batches)."""
        return {"loss": self.loss, "reduction": self.reduction, "options": dict(self.options),
                "sum": (list(self._sum.partials), self._sum.special),
                "denominator": (list(self._denominator.partials), self._denominator.special),
                "batches": self.batches}

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> "LossAccumulator":
        acc = cls(state["loss"], reduction=state["reduction"], **state["options"])
        acc._sum = ExactSum(*state["sum"])
        acc._denominator = ExactSum(*state["denominator"])
        acc.batches = _checks.integer("batches")(state["batches"])
        return acc

    def __reduce__(self) -> Tuple[Any, ...]:
        return (LossAccumulator.from_state, (self.state(),))

    def __repr__(self) -> str:
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"LossAccumulator({self.loss!r}, reduction={self.reduction!r}{options}; {self.batches} batches)"

