"""Regression losses: mse, l1, smooth_l1, huber, poisson_nll and gaussian_nll."""

from __future__ import annotations

import warnings
from typing import Optional, Tuple, Union

import numpy as np

from . import _core, _elementwise, _reduction
from ._arrays import GradOutput, Loss, require_ndarray
from ._elementwise import Spec

_L = _core.ElementwiseLoss

__all__ = [
    "mse_loss", "mse_loss_backward", "mse_loss_with_grad",
    "l1_loss", "l1_loss_backward", "l1_loss_with_grad",
    "smooth_l1_loss", "smooth_l1_loss_backward", "smooth_l1_loss_with_grad",
    "huber_loss", "huber_loss_backward", "huber_loss_with_grad",
    "poisson_nll_loss", "poisson_nll_loss_backward", "poisson_nll_loss_with_grad",
    "gaussian_nll_loss", "gaussian_nll_loss_backward", "gaussian_nll_loss_with_grad",
]


def _warn_if_broadcast(input: np.ndarray, target: np.ndarray) -> None:
    require_ndarray(input, "input")
    require_ndarray(target, "target")
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
            "This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=4,
        )


def _weighted_spec(loss: _core.ElementwiseLoss, input: np.ndarray, target: np.ndarray,
                   weight: Optional[np.ndarray], reduction: str, params: Tuple[float, ...] = ()) -> Spec:
    """torch's rules for the losses with an optional same-shape ``weight`` (MSE, L1, Huber)."""
    _warn_if_broadcast(input, target)
    if weight is None:
        _reduction.check(reduction)
    else:
        require_ndarray(weight, "weight")
        if weight.shape != input.shape:
            raise ValueError("Weights and input must have the same size.")
        if reduction not in _reduction.REDUCTIONS:
            raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")
    return Spec(loss, reduction, weight=weight, params=params)


def _legacy(size_average: Optional[bool], reduce: Optional[bool], reduction: str) -> str:
    if size_average is not None or reduce is not None:
        return _reduction.legacy_get_string(size_average, reduce)
    return reduction


# --- mse_loss -------------------------------------------------------------------------


def _mse_spec(input, target, size_average, reduce, reduction, weight) -> Spec:  # type: ignore[no-untyped-def]
    return _weighted_spec(_L.mse_loss, input, target, weight, _legacy(size_average, reduce, reduction))


def mse_loss(input: np.ndarray, target: np.ndarray, size_average: Optional[bool] = None,
             reduce: Optional[bool] = None, reduction: str = "mean",
             weight: Optional[np.ndarray] = None) -> Loss:
    """Mean squared error ``w * (x - y)^2``; weighted "mean" divides by ``sum(weight)``.

    ``target`` broadcasts against ``input`` with torch's warning; ``weight`` must have the
    input's shape.
    """
    return _elementwise.forward(_mse_spec(input, target, size_average, reduce, reduction, weight), input, target)


def mse_loss_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
                      size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                      reduction: str = "mean", weight: Optional[np.ndarray] = None,
                      out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`mse_loss` with respect to ``input`` (summed over broadcast axes)."""
    spec = _mse_spec(input, target, size_average, reduce, reduction, weight)
    return _elementwise.backward(spec, grad_output, input, target, out)


def mse_loss_with_grad(input: np.ndarray, target: np.ndarray, size_average: Optional[bool] = None,
                       reduce: Optional[bool] = None, reduction: str = "mean",
                       weight: Optional[np.ndarray] = None,
                       out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(mse_loss(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    return _elementwise.with_grad(_mse_spec(input, target, size_average, reduce, reduction, weight),
                                  input, target, out)


# --- l1_loss --------------------------------------------------------------------------


def _l1_spec(input, target, size_average, reduce, reduction, weight) -> Spec:  # type: ignore[no-untyped-def]
    return _weighted_spec(_L.l1_loss, input, target, weight, _legacy(size_average, reduce, reduction))


def l1_loss(input: np.ndarray, target: np.ndarray, size_average: Optional[bool] = None,
            reduce: Optional[bool] = None, reduction: str = "mean",
            weight: Optional[np.ndarray] = None) -> Loss:
    """Mean absolute error ``w * |x - y|``; weighted "mean" divides by ``sum(weight)``."""
    return _elementwise.forward(_l1_spec(input, target, size_average, reduce, reduction, weight), input, target)


def l1_loss_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
                     size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                     reduction: str = "mean", weight: Optional[np.ndarray] = None,
                     out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`l1_loss`: ``w * sign(x - y)`` (0 where x = y), scaled by the reduction."""
    spec = _l1_spec(input, target, size_average, reduce, reduction, weight)
    return _elementwise.backward(spec, grad_output, input, target, out)


def l1_loss_with_grad(input: np.ndarray, target: np.ndarray, size_average: Optional[bool] = None,
                      reduce: Optional[bool] = None, reduction: str = "mean",
                      weight: Optional[np.ndarray] = None,
                      out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(l1_loss(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    return _elementwise.with_grad(_l1_spec(input, target, size_average, reduce, reduction, weight),
                                  input, target, out)


# --- smooth_l1_loss -------------------------------------------------------------------


def _smooth_l1_spec(input, target, size_average, reduce, reduction, beta) -> Spec:  # type: ignore[no-untyped-def]
    _warn_if_broadcast(input, target)
    reduction = _reduction.resolve(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError("smooth_l1_loss does not support negative values for beta.")
    return Spec(_L.smooth_l1_loss, reduction, params=(float(beta),))


def smooth_l1_loss(input: np.ndarray, target: np.ndarray, size_average: Optional[bool] = None,
                   reduce: Optional[bool] = None, reduction: str = "mean", beta: float = 1.0) -> Loss:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = x - y``); beta = 0 is L1."""
    spec = _smooth_l1_spec(input, target, size_average, reduce, reduction, beta)
    return _elementwise.forward(spec, input, target)


def smooth_l1_loss_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
                            size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                            reduction: str = "mean", beta: float = 1.0,
                            out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`smooth_l1_loss`: ``d / beta`` inside, ``sign(d)`` outside."""
    spec = _smooth_l1_spec(input, target, size_average, reduce, reduction, beta)
    return _elementwise.backward(spec, grad_output, input, target, out)


def smooth_l1_loss_with_grad(input: np.ndarray, target: np.ndarray, size_average: Optional[bool] = None,
                             reduce: Optional[bool] = None, reduction: str = "mean", beta: float = 1.0,
                             out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(smooth_l1_loss(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    spec = _smooth_l1_spec(input, target, size_average, reduce, reduction, beta)
    return _elementwise.with_grad(spec, input, target, out)


# --- huber_loss -----------------------------------------------------------------------


def _huber_spec(input, target, reduction, delta, weight) -> Spec:  # type: ignore[no-untyped-def]
    if delta <= 0:
        raise ValueError("huber_loss does not support non-positive values for delta.")
    return _weighted_spec(_L.huber_loss, input, target, weight, reduction, (float(delta),))


def huber_loss(input: np.ndarray, target: np.ndarray, reduction: str = "mean", delta: float = 1.0,
               weight: Optional[np.ndarray] = None) -> Loss:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, times ``weight``.

    Weighted "mean" divides by numel (torch's ``mean(w * e)``), unlike MSE and L1.
    """
    return _elementwise.forward(_huber_spec(input, target, reduction, delta, weight), input, target)


def huber_loss_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
                        reduction: str = "mean", delta: float = 1.0, weight: Optional[np.ndarray] = None,
                        out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`huber_loss`: ``d`` inside, ``delta sign(d)`` outside, times ``weight``."""
    spec = _huber_spec(input, target, reduction, delta, weight)
    return _elementwise.backward(spec, grad_output, input, target, out)


def huber_loss_with_grad(input: np.ndarray, target: np.ndarray, reduction: str = "mean", delta: float = 1.0,
                         weight: Optional[np.ndarray] = None,
                         out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(huber_loss(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    return _elementwise.with_grad(_huber_spec(input, target, reduction, delta, weight), input, target, out)


# --- poisson_nll_loss -----------------------------------------------------------------


def _poisson_spec(input, target, log_input, full, size_average, eps, reduce, reduction) -> Spec:  # type: ignore[no-untyped-def]
    require_ndarray(input, "input")
    require_ndarray(target, "target")
    reduction = _legacy(size_average, reduce, reduction)
    _reduction.check(reduction)
    return Spec(_L.poisson_nll_loss, reduction, params=(float(bool(log_input)), float(bool(full)), float(eps)))


def poisson_nll_loss(input: np.ndarray, target: np.ndarray, log_input: bool = True, full: bool = False,
                     size_average: Optional[bool] = None, eps: float = 1e-8, reduce: Optional[bool] = None,
                     reduction: str = "mean") -> Loss:
    """Poisson negative log-likelihood: ``exp(x) - y x`` (log_input) or ``x - y log(x + eps)``.

    ``full`` adds Stirling's approximation ``y log y - y + 0.5 log(2 pi y)`` where ``y > 1``.
    """
    spec = _poisson_spec(input, target, log_input, full, size_average, eps, reduce, reduction)
    return _elementwise.forward(spec, input, target)


def poisson_nll_loss_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
                              log_input: bool = True, full: bool = False, size_average: Optional[bool] = None,
                              eps: float = 1e-8, reduce: Optional[bool] = None, reduction: str = "mean",
                              out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`poisson_nll_loss`: ``exp(x)`` or ``1 - y / (x + eps)``."""
    spec = _poisson_spec(input, target, log_input, full, size_average, eps, reduce, reduction)
    return _elementwise.backward(spec, grad_output, input, target, out)


def poisson_nll_loss_with_grad(input: np.ndarray, target: np.ndarray, log_input: bool = True,
                               full: bool = False, size_average: Optional[bool] = None, eps: float = 1e-8,
                               reduce: Optional[bool] = None, reduction: str = "mean",
                               out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(poisson_nll_loss(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    spec = _poisson_spec(input, target, log_input, full, size_average, eps, reduce, reduction)
    return _elementwise.with_grad(spec, input, target, out)


# --- gaussian_nll_loss ----------------------------------------------------------------


def _gaussian_var(input: np.ndarray, var: Union[np.ndarray, float]) -> np.ndarray:
    """``var`` as an operand that broadcasts to ``input`` (torch's homoscedastic shapes)."""
    if not isinstance(var, np.ndarray):
        if not isinstance(var, (int, float, np.number)) or isinstance(var, bool):
            raise TypeError(f"var must be a numpy.ndarray or a float, got {type(var).__name__}")
        if var < 0:
            raise ValueError("var has negative entry/entries")
        return np.full((1,) * input.ndim, var, dtype=input.dtype)
    if np.any(var < 0):
        raise ValueError("var has negative entry/entries")
    if var.shape == input.shape:
        return var
    if input.shape[:-1] == var.shape:
        return var[..., np.newaxis]
    if input.ndim == var.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1:
        return var
    raise ValueError("var is of incorrect size")


def _gaussian_spec(input, target, var, full, eps, reduction, grad_wrt_var=False) -> Spec:  # type: ignore[no-untyped-def]
    require_ndarray(input, "input")
    require_ndarray(target, "target")
    var = _gaussian_var(input, var)
    if reduction not in _reduction.REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    return Spec(_L.gaussian_nll_loss, reduction, aux=var,
                params=(float(bool(full)), float(eps), float(grad_wrt_var)))


def gaussian_nll_loss(input: np.ndarray, target: np.ndarray, var: Union[np.ndarray, float],
                      full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> Loss:
    """Gaussian negative log-likelihood ``0.5 (log v + (x - y)^2 / v)``, ``v = max(var, eps)``.

    ``var`` has the input's shape, or one fewer trailing dimension, or a 1 in one dimension
    (homoscedastic); ``full`` adds ``0.5 log(2 pi)``.
    """
    spec = _gaussian_spec(input, target, var, full, eps, reduction)
    return _elementwise.forward(spec, input, target)


def gaussian_nll_loss_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
                               var: Union[np.ndarray, float], full: bool = False, eps: float = 1e-6,
                               reduction: str = "mean",
                               out: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """``(d loss / d input, d loss / d var)``; the second is None when ``var`` is a float.

    The gradient reaches ``var`` through torch's clamp unchanged: ``0.5 (1 - d^2 / v) / v``,
    summed over the axes ``var`` broadcasts along.
    """
    spec = _gaussian_spec(input, target, var, full, eps, reduction)
    grad_input = _elementwise.backward(spec, grad_output, input, target, out)
    if not isinstance(var, np.ndarray):
        return grad_input, None
    var_spec = spec._replace(params=(*spec.params[:2], 1.0))
    grad_var = _elementwise.backward(var_spec, grad_output, input, target, shape=spec.aux.shape)
    return grad_input, grad_var.reshape(var.shape)


def gaussian_nll_loss_with_grad(input: np.ndarray, target: np.ndarray, var: Union[np.ndarray, float],
                                full: bool = False, eps: float = 1e-6, reduction: str = "mean",
                                out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(gaussian_nll_loss(...), d loss / d input)`` in one pass; ``out`` may be ``input``."""
    spec = _gaussian_spec(input, target, var, full, eps, reduction)
    return _elementwise.with_grad(spec, input, target, out)
