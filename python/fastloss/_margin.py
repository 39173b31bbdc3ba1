"""Margin losses on ±1 labels: soft_margin, hinge_embedding and margin_ranking."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _core, _elementwise, _reduction
from ._arrays import GradOutput, Loss, require_ndarray, sum_to_shape
from ._elementwise import Spec

_L = _core.ElementwiseLoss

__all__ = [
    "soft_margin_loss", "soft_margin_loss_backward", "soft_margin_loss_with_grad",
    "hinge_embedding_loss", "hinge_embedding_loss_backward", "hinge_embedding_loss_with_grad",
    "margin_ranking_loss", "margin_ranking_loss_backward", "margin_ranking_loss_with_grad",
]


def _spec(loss: _core.ElementwiseLoss, input: np.ndarray, target: np.ndarray, size_average: Optional[bool],
          reduce: Optional[bool], reduction: str, params: Tuple[float, ...] = (),
          aux: Optional[np.ndarray] = None) -> Spec:
    require_ndarray(input, "input")
    require_ndarray(target, "target")
    return Spec(loss, _reduction.resolve(size_average, reduce, reduction), aux=aux, params=params)


# --- soft_margin_loss -----------------------------------------------------------------


def soft_margin_loss(input: np.ndarray, target: np.ndarray, size_average: Optional[bool] = None,
                     reduce: Optional[bool] = None, reduction: str = "mean") -> Loss:
    """``log(1 + exp(-y x))``, computed as ``softplus(-y x)`` (finite for every finite x)."""
    return _elementwise.forward(_spec(_L.soft_margin_loss, input, target, size_average, reduce, reduction),
                                input, target)


def soft_margin_loss_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
                              size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                              reduction: str = "mean", out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`soft_margin_loss`: ``-y sigmoid(-y x)``."""
    spec = _spec(_L.soft_margin_loss, input, target, size_average, reduce, reduction)
    return _elementwise.backward(spec, grad_output, input, target, out)


def soft_margin_loss_with_grad(input: np.ndarray, target: np.ndarray, size_average: Optional[bool] = None,
                               reduce: Optional[bool] = None, reduction: str = "mean",
                               out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(soft_margin_loss(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    spec = _spec(_L.soft_margin_loss, input, target, size_average, reduce, reduction)
    return _elementwise.with_grad(spec, input, target, out)


# --- hinge_embedding_loss -------------------------------------------------------------


def hinge_embedding_loss(input: np.ndarray, target: np.ndarray, margin: float = 1.0,
                         size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                         reduction: str = "mean") -> Loss:
    """``x`` where ``y = 1``, ``max(0, margin - x)`` where ``y = -1`` (other labels: both terms)."""
    spec = _spec(_L.hinge_embedding_loss, input, target, size_average, reduce, reduction, (float(margin),))
    return _elementwise.forward(spec, input, target)


def hinge_embedding_loss_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
                                  margin: float = 1.0, size_average: Optional[bool] = None,
                                  reduce: Optional[bool] = None, reduction: str = "mean",
                                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`hinge_embedding_loss` (the hinge passes gradient at ``x = margin``, as torch)."""
    spec = _spec(_L.hinge_embedding_loss, input, target, size_average, reduce, reduction, (float(margin),))
    return _elementwise.backward(spec, grad_output, input, target, out)


def hinge_embedding_loss_with_grad(input: np.ndarray, target: np.ndarray, margin: float = 1.0,
                                   size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                                   reduction: str = "mean",
                                   out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(hinge_embedding_loss(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    spec = _spec(_L.hinge_embedding_loss, input, target, size_average, reduce, reduction, (float(margin),))
    return _elementwise.with_grad(spec, input, target, out)


# --- margin_ranking_loss --------------------------------------------------------------


def _ranking_spec(input1, input2, target, margin, size_average, reduce, reduction) -> Spec:  # type: ignore[no-untyped-def]
    require_ndarray(input2, "input2")
    if not (input1.ndim == input2.ndim == target.ndim):
        raise ValueError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} "
        )
    return _spec(_L.margin_ranking_loss, input1, target, size_average, reduce, reduction, (float(margin),),
                 aux=input2)


def margin_ranking_loss(input1: np.ndarray, input2: np.ndarray, target: np.ndarray, margin: float = 0.0,
                        size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                        reduction: str = "mean") -> Loss:
    """``max(0, -y (x1 - x2) + margin)``."""
    spec = _ranking_spec(input1, input2, target, margin, size_average, reduce, reduction)
    return _elementwise.forward(spec, input1, target)


def margin_ranking_loss_backward(grad_output: GradOutput, input1: np.ndarray, input2: np.ndarray,
                                 target: np.ndarray, margin: float = 0.0, size_average: Optional[bool] = None,
                                 reduce: Optional[bool] = None, reduction: str = "mean",
                                 out: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``(d loss / d input1, d loss / d input2)``; the second is the negation of the first."""
    spec = _ranking_spec(input1, input2, target, margin, size_average, reduce, reduction)
    if input1.shape == np.broadcast_shapes(input1.shape, target.shape):
        grad1 = _elementwise.backward(spec, grad_output, input1, target, out)
        return grad1, sum_to_shape(np.negative(grad1), input2.shape, None)
    grad = _elementwise.backward(spec, grad_output, input1, target, shape=np.broadcast_shapes(input1.shape, target.shape))
    return sum_to_shape(grad, input1.shape, out), sum_to_shape(np.negative(grad), input2.shape, None)


def margin_ranking_loss_with_grad(input1: np.ndarray, input2: np.ndarray, target: np.ndarray,
                                  margin: float = 0.0, size_average: Optional[bool] = None,
                                  reduce: Optional[bool] = None, reduction: str = "mean",
                                  out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray, np.ndarray]:
    """``(loss, d loss / d input1, d loss / d input2)``; ``out`` (for input1's gradient) may be ``input1``."""
    spec = _ranking_spec(input1, input2, target, margin, size_average, reduce, reduction)
    if input1.shape != np.broadcast_shapes(input1.shape, target.shape):
        loss = _elementwise.forward(spec, input1, target)
        return (loss, *margin_ranking_loss_backward(1.0 if reduction != "none" else np.ones_like(loss), input1,
                                                    input2, target, margin, size_average, reduce, reduction, out))
    loss, grad1 = _elementwise.with_grad(spec, input1, target, out)
    return loss, grad1, sum_to_shape(np.negative(grad1), input2.shape, None)
