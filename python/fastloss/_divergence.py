"""Kullback-Leibler divergence (kl_div) on log-probability inputs."""

from __future__ import annotations

import warnings
from typing import Optional, Tuple

import numpy as np

from . import _core, _elementwise, _reduction
from ._arrays import GradOutput, Loss, require_ndarray
from ._elementwise import Spec

__all__ = ["kl_div", "kl_div_backward", "kl_div_with_grad"]


def _kl_spec(input: np.ndarray, target: np.ndarray, size_average: Optional[bool], reduce: Optional[bool],
             reduction: str, log_target: bool) -> Tuple[Spec, float]:
    """The core call (``"batchmean"`` runs as ``"sum"``) and the divisor applied after it."""
    require_ndarray(input, "input")
    require_ndarray(target, "target")
    divisor = 1.0
    if size_average is not None or reduce is not None:
        reduction = _reduction.legacy_get_string(size_average, reduce)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size."
            "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
            "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
            stacklevel=3,
        )
    elif reduction == "batchmean":
        reduction = "sum"
        divisor = float(input.shape[0]) if input.ndim else 1.0
    else:
        _reduction.check(reduction)
    return Spec(_core.ElementwiseLoss.kl_div, reduction, params=(float(bool(log_target)),)), divisor


def kl_div(input: np.ndarray, target: np.ndarray, size_average: Optional[bool] = None,
           reduce: Optional[bool] = None, reduction: str = "mean", log_target: bool = False) -> Loss:
    """``y (log y - x)`` (``exp(y) (y - x)`` with ``log_target``); ``input`` holds log-probabilities.

    ``"batchmean"`` is the sum divided by ``input.shape[0]``; ``"mean"`` divides by numel and
    warns, as torch does.
    """
    spec, divisor = _kl_spec(input, target, size_average, reduce, reduction, log_target)
    loss = _elementwise.forward(spec, input, target)
    if divisor == 1.0:
        return loss
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty batch gives NaN, as torch
        return loss / loss.dtype.type(divisor)


def kl_div_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
                    size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                    reduction: str = "mean", log_target: bool = False,
                    out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`kl_div`: ``-y`` (``-exp(y)`` with ``log_target``), scaled by the reduction."""
    spec, divisor = _kl_spec(input, target, size_average, reduce, reduction, log_target)
    if divisor != 1.0:
        # torch's batchmean backward: grad_output / N through the sum's backward.
        dtype = input.dtype.type
        with np.errstate(divide="ignore", invalid="ignore"):  # empty batch: nothing to scale
            grad_output = float(dtype(dtype(float(grad_output)) / dtype(divisor)))  # type: ignore[arg-type]
    return _elementwise.backward(spec, grad_output, input, target, out)


def kl_div_with_grad(input: np.ndarray, target: np.ndarray, size_average: Optional[bool] = None,
                     reduce: Optional[bool] = None, reduction: str = "mean", log_target: bool = False,
                     out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(kl_div(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    spec, divisor = _kl_spec(input, target, size_average, reduce, reduction, log_target)
    loss, grad = _elementwise.with_grad(spec, input, target, out)
    if divisor == 1.0:
        return loss, grad
    # An empty batch divides by 0: NaN loss (as torch) and an empty gradient, not an error.
    with np.errstate(divide="ignore", invalid="ignore"):
        np.multiply(grad, input.dtype.type(1) / input.dtype.type(divisor), out=grad)
        return loss / loss.dtype.type(divisor), grad
