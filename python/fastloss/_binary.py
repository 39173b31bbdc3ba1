"""Binary classification losses: binary_cross_entropy (on probabilities) and
binary_cross_entropy_with_logits, plus the stable sigmoid helpers."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _core, _elementwise, _reduction
from ._arrays import GradOutput, Loss, require_ndarray
from ._elementwise import Spec

_L = _core.ElementwiseLoss

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits_with_grad",
    "sigmoid",
    "log_sigmoid",
]


# --- binary_cross_entropy -------------------------------------------------------------


def _bce_spec(input, target, weight, size_average, reduce, reduction) -> Spec:  # type: ignore[no-untyped-def]
    reduction = _reduction.resolve(size_average, reduce, reduction)
    require_ndarray(input, "input")
    require_ndarray(target, "target")
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) "
            "is deprecated. Please ensure they have the same size."
        )
    if _core.elementwise_invalid_count(_L.binary_cross_entropy, input, target):
        # Error path only: find which operand is out of range, as torch reports it.
        bad_input = not np.all((input >= 0) & (input <= 1))
        raise ValueError(f"all elements of {'input' if bad_input else 'target'} should be between 0 and 1")
    return Spec(_L.binary_cross_entropy, reduction, weight=weight)


def binary_cross_entropy(
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Loss:
    """Binary cross-entropy between probabilities ``input`` and ``target``.

    ``loss = -w * (y * max(log x, -100) + (1 - y) * max(log1p(-x), -100))``; the clamp at
    -100 is torch's. ``weight`` broadcasts to ``target``; "mean" divides by numel. Values
    outside [0, 1] (NaN included) raise ValueError.
    """
    spec = _bce_spec(input, target, weight, size_average, reduce, reduction)
    return _elementwise.forward(spec, input, target)


def binary_cross_entropy_backward(
    grad_output: GradOutput,
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Gradient of :func:`binary_cross_entropy` with respect to ``input``.

    torch's formula ``grad * (x - y) / max((1 - x) x, 1e-12) * w``: not the derivative of the
    clamped loss at x = 0 or 1, kept for parity.
    """
    spec = _bce_spec(input, target, weight, size_average, reduce, reduction)
    return _elementwise.backward(spec, grad_output, input, target, out)


def binary_cross_entropy_with_grad(
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    out: Optional[np.ndarray] = None,
) -> Tuple[Loss, np.ndarray]:
    """``(binary_cross_entropy(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    spec = _bce_spec(input, target, weight, size_average, reduce, reduction)
    return _elementwise.with_grad(spec, input, target, out)


# --- binary_cross_entropy_with_logits -------------------------------------------------


def _bce_logits_spec(input, target, weight, size_average, reduce, reduction, pos_weight) -> Spec:  # type: ignore[no-untyped-def]
    reduction = _reduction.resolve(size_average, reduce, reduction)
    require_ndarray(input, "input")
    require_ndarray(target, "target")
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    return Spec(_L.binary_cross_entropy_with_logits, reduction, weight=weight, aux=pos_weight)


def binary_cross_entropy_with_logits(
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    pos_weight: Optional[np.ndarray] = None,
) -> Loss:
    """Binary cross-entropy on logits, through the stable log-sigmoid.

    ``loss = (1 - y) x - l * log_sigmoid(x)`` with ``l = (pos_weight - 1) y + 1``, times
    ``weight``. Finite for every finite logit. ``pos_weight`` broadcasts against ``target``
    (shape (C,) for (N, C) targets).
    """
    spec = _bce_logits_spec(input, target, weight, size_average, reduce, reduction, pos_weight)
    return _elementwise.forward(spec, input, target)


def binary_cross_entropy_with_logits_backward(
    grad_output: GradOutput,
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    pos_weight: Optional[np.ndarray] = None,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Gradient of :func:`binary_cross_entropy_with_logits` with respect to ``input``."""
    spec = _bce_logits_spec(input, target, weight, size_average, reduce, reduction, pos_weight)
    return _elementwise.backward(spec, grad_output, input, target, out)


def binary_cross_entropy_with_logits_with_grad(
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    pos_weight: Optional[np.ndarray] = None,
    out: Optional[np.ndarray] = None,
) -> Tuple[Loss, np.ndarray]:
    """``(binary_cross_entropy_with_logits(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    spec = _bce_logits_spec(input, target, weight, size_average, reduce, reduction, pos_weight)
    return _elementwise.with_grad(spec, input, target, out)


# --- helpers --------------------------------------------------------------------------


def sigmoid(input: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``1 / (1 + exp(-x))``, stable for every x (exp of -|x| only); ``out`` may be ``input``."""
    return _core.unary(_core.UnaryOp.sigmoid, input, out)


def log_sigmoid(input: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``min(x, 0) - log1p(exp(-|x|))``: finite for every finite x; ``out`` may be ``input``."""
    return _core.unary(_core.UnaryOp.log_sigmoid, input, out)
