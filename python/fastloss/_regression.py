"""Regression losses."""

from __future__ import annotations

import warnings
from typing import Optional, Tuple

import numpy as np

from . import _core, _reduction
from ._arrays import GradOutput, Loss, require_ndarray, sum_to_shape

_L = _core.ElementwiseLoss

__all__ = ["mse_loss", "mse_loss_backward", "mse_loss_with_grad"]


# --- mse_loss -------------------------------------------------------------------------


def _mse_checks(input: np.ndarray, target: np.ndarray, weight: Optional[np.ndarray], reduction: str) -> None:
    require_ndarray(input, "input")
    require_ndarray(target, "target")
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
            "This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=3,
        )
    if weight is not None:
        require_ndarray(weight, "weight")
        if weight.shape != input.shape:
            raise ValueError("Weights and input must have the same size.")
        if reduction not in _reduction.REDUCTIONS:
            raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")


def _mse_reduction(size_average: Optional[bool], reduce: Optional[bool], reduction: str,
                   weight: Optional[np.ndarray]) -> str:
    if size_average is not None or reduce is not None:
        return _reduction.legacy_get_string(size_average, reduce)
    if weight is None:
        _reduction.check(reduction)
    return reduction


def mse_loss(
    input: np.ndarray,
    target: np.ndarray,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    weight: Optional[np.ndarray] = None,
) -> Loss:
    """Mean squared error ``w * (x - y)^2``; weighted "mean" divides by ``sum(weight)``.

    ``target`` broadcasts against ``input`` with torch's warning; ``weight`` must have the
    input's shape.
    """
    _mse_checks(input, target, weight, reduction)
    reduction = _mse_reduction(size_average, reduce, reduction, weight)
    return _core.elementwise_forward(_L.mse_loss, input, target, weight, None, reduction)


def mse_loss_backward(
    grad_output: GradOutput,
    input: np.ndarray,
    target: np.ndarray,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    weight: Optional[np.ndarray] = None,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Gradient of :func:`mse_loss` with respect to ``input`` (summed over broadcast axes)."""
    _mse_checks(input, target, weight, reduction)
    reduction = _mse_reduction(size_average, reduce, reduction, weight)
    if input.shape == np.broadcast_shapes(input.shape, target.shape):
        return _core.elementwise_backward(_L.mse_loss, grad_output, input, target, weight, None, reduction, out=out)
    grad = _core.elementwise_backward(_L.mse_loss, grad_output, input, target, weight, None, reduction)
    return sum_to_shape(grad, input.shape, out)


def mse_loss_with_grad(
    input: np.ndarray,
    target: np.ndarray,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    weight: Optional[np.ndarray] = None,
    out: Optional[np.ndarray] = None,
) -> Tuple[Loss, np.ndarray]:
    """``(mse_loss(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    _mse_checks(input, target, weight, reduction)
    reduction = _mse_reduction(size_average, reduce, reduction, weight)
    if input.shape == np.broadcast_shapes(input.shape, target.shape):
        return _core.elementwise_with_grad(_L.mse_loss, input, target, weight, None, reduction, out=out)
    loss, grad = _core.elementwise_with_grad(_L.mse_loss, input, target, weight, None, reduction)
    return loss, sum_to_shape(grad, input.shape, out)
