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
    "multilabel_soft_margin_loss", "multilabel_soft_margin_loss_backward", "multilabel_soft_margin_loss_with_grad",
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
    require_ndarray(input1, "input1")
    require_ndarray(input2, "input2")
    require_ndarray(target, "target")
    _elementwise._broadcast_shape(input1, target)  # ValueError naming target, before any work
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


# --- multilabel_soft_margin_loss -------------------------------------------------------
# -(y log_sigmoid(x) + (1 - y) log_sigmoid(-x)) is binary_cross_entropy_with_logits' term, so
# the loss is that kernel with the class weight, averaged over the last (class) axis: "mean"
# and "sum" are its "mean" and "sum" / C exactly; "none" sums the per-element terms by row.


def _multilabel_spec(input: np.ndarray, target: np.ndarray, weight: Optional[np.ndarray],
                     size_average: Optional[bool], reduce: Optional[bool], reduction: str) -> Tuple[Spec, int]:
    require_ndarray(input, "input")
    require_ndarray(target, "target")
    if size_average is not None or reduce is not None:
        reduction = _reduction.legacy_get_string(size_average, reduce)
    if reduction not in _reduction.REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    if weight is not None:
        require_ndarray(weight, "weight")
    classes = input.shape[-1] if input.ndim else 1
    core_reduction = "mean" if reduction == "mean" else "sum" if reduction == "sum" else "none"
    return Spec(_L.binary_cross_entropy_with_logits, core_reduction, weight=weight, params=(0.0,)), classes


def multilabel_soft_margin_loss(input: np.ndarray, target: np.ndarray, weight: Optional[np.ndarray] = None,
                                size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                                reduction: str = "mean") -> Loss:
    """``-(1/C) sum_c w_c (y log sigmoid(x) + (1 - y) log sigmoid(-x))`` per row, then reduced."""
    spec, classes = _multilabel_spec(input, target, weight, size_average, reduce, reduction)
    loss = _elementwise.forward(spec, input, target)
    if spec.reduction == "none":
        return np.asarray(loss.sum(axis=-1, dtype=np.float64) / classes, dtype=input.dtype)
    return loss / loss.dtype.type(classes) if spec.reduction == "sum" else loss


def multilabel_soft_margin_loss_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
                                         weight: Optional[np.ndarray] = None, size_average: Optional[bool] = None,
                                         reduce: Optional[bool] = None, reduction: str = "mean",
                                         out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`multilabel_soft_margin_loss`: ``w (sigmoid(x) - y) / C`` times the row's grad_output."""
    spec, classes = _multilabel_spec(input, target, weight, size_average, reduce, reduction)
    if spec.reduction == "none":
        if require_ndarray(grad_output, "grad_output").dtype != input.dtype:  # never a silent cast
            raise TypeError(f"grad_output must have dtype {input.dtype} (the input's dtype), got {grad_output.dtype}")
        # The row's grad_output / C, broadcast along the class axis (no full-size copy).
        grad_output = (grad_output / input.dtype.type(classes))[..., np.newaxis]
    elif spec.reduction == "sum":
        if np.size(grad_output) != 1:
            raise ValueError("grad_output must be a scalar for reduction='sum'")
        grad_output = float(grad_output) / max(classes, 1)  # type: ignore[arg-type]  # C = 0: empty gradient
    return _elementwise.backward(spec, grad_output, input, target, out)


def multilabel_soft_margin_loss_with_grad(input: np.ndarray, target: np.ndarray,
                                          weight: Optional[np.ndarray] = None, size_average: Optional[bool] = None,
                                          reduce: Optional[bool] = None, reduction: str = "mean",
                                          out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(multilabel_soft_margin_loss(...), its gradient)``; one fused pass for "mean"."""
    if reduction == "mean" and size_average is None and reduce is None:
        spec, _ = _multilabel_spec(input, target, weight, size_average, reduce, reduction)
        return _elementwise.with_grad(spec, input, target, out)
    loss = multilabel_soft_margin_loss(input, target, weight, size_average, reduce, reduction)
    # "none" gives an array (0-d for a 1-d input), whose grad_output is an array too.
    unit = np.ones_like(loss) if isinstance(loss, np.ndarray) else 1.0
    return loss, multilabel_soft_margin_loss_backward(unit, input, target, weight, size_average, reduce, reduction, out)
