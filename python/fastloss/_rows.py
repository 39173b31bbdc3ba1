"""Row-wise losses over the last axis: cosine_embedding_loss, multi_margin_loss, triplet_margin_loss.

Each has ``f``, ``f_backward`` (the gradient of every float input: a tuple for the
multi-input losses, as :func:`margin_ranking_loss_backward`) and ``f_with_grad`` returning
``(loss, *gradients)`` from one pass; ``out`` receives the first input's gradient and may
be that input itself.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from . import _core, _reduction
from ._arrays import GradOutput, Loss, require_ndarray

_R = _core.RowLoss

__all__ = [
    "cosine_embedding_loss", "cosine_embedding_loss_backward", "cosine_embedding_loss_with_grad",
    "multi_margin_loss", "multi_margin_loss_backward", "multi_margin_loss_with_grad",
    "triplet_margin_loss", "triplet_margin_loss_backward", "triplet_margin_loss_with_grad",
]


def _label_array(value: object, name: str) -> np.ndarray:
    """A target array of any numeric dtype (converted per loss below)."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        got = f"numpy.ndarray of dtype {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
        raise TypeError(f"{name} must be a numpy.ndarray of numbers, got {got}")
    return value


class _Call:
    """One checked call of the core: the loss, its operands and options."""

    def __init__(self, loss: _core.RowLoss, inputs: Sequence[np.ndarray], target: Optional[np.ndarray],
                 reduction: str, options: Dict[str, Any], weight: Optional[np.ndarray] = None) -> None:
        self.loss = loss
        self.inputs = list(inputs)
        self.target = target
        self.weight = weight
        self.reduction = reduction
        self.options = options

    def forward(self) -> Loss:
        return _core.row_loss_forward(self.loss, self.inputs, self.target, self.weight, self.reduction, **self.options)

    def backward(self, grad_output: GradOutput, out: Optional[np.ndarray]) -> Tuple[np.ndarray, ...]:
        return _core.row_loss_backward(self.loss, grad_output, self.inputs, self.target, self.weight,
                                       self.reduction, out=out, **self.options)

    def with_grad(self, out: Optional[np.ndarray]) -> Tuple[Any, ...]:
        return _core.row_loss_with_grad(self.loss, self.inputs, self.target, self.weight, self.reduction, out=out,
                                        **self.options)


# --- cosine_embedding_loss ------------------------------------------------------------


def _cosine(input1: np.ndarray, input2: np.ndarray, target: np.ndarray, margin: float,
            size_average: Optional[bool], reduce: Optional[bool], reduction: str) -> _Call:
    require_ndarray(input1, "input1")
    require_ndarray(input2, "input2")
    _label_array(target, "target")
    reduction = _reduction.resolve(size_average, reduce, reduction)
    if target.dtype != input1.dtype:
        # Labels of any numeric dtype, as torch: an O(rows) conversion, never of the inputs.
        target = target.astype(input1.dtype)
    return _Call(_R.cosine_embedding_loss, (input1, input2), target, reduction, {"margin": float(margin)})


def cosine_embedding_loss(input1: np.ndarray, input2: np.ndarray, target: np.ndarray, margin: float = 0.0,
                          size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                          reduction: str = "mean") -> Loss:
    """``1 - cos(x1, x2)`` for label 1, ``max(0, cos(x1, x2) - margin)`` for label -1 (other labels: 0).

    ``cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12))`` along the last axis, as torch.
    """
    return _cosine(input1, input2, target, margin, size_average, reduce, reduction).forward()


def cosine_embedding_loss_backward(grad_output: GradOutput, input1: np.ndarray, input2: np.ndarray,
                                   target: np.ndarray, margin: float = 0.0, size_average: Optional[bool] = None,
                                   reduce: Optional[bool] = None, reduction: str = "mean",
                                   out: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``(d loss / d input1, d loss / d input2)``."""
    g1, g2 = _cosine(input1, input2, target, margin, size_average, reduce, reduction).backward(grad_output, out)
    return g1, g2


def cosine_embedding_loss_with_grad(input1: np.ndarray, input2: np.ndarray, target: np.ndarray,
                                    margin: float = 0.0, size_average: Optional[bool] = None,
                                    reduce: Optional[bool] = None, reduction: str = "mean",
                                    out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray, np.ndarray]:
    """``(loss, d loss / d input1, d loss / d input2)`` in one pass; ``out`` may be ``input1``."""
    loss, g1, g2 = _cosine(input1, input2, target, margin, size_average, reduce, reduction).with_grad(out)
    return loss, g1, g2


# --- multi_margin_loss ----------------------------------------------------------------


def _multi_margin(input: np.ndarray, target: np.ndarray, p: int, margin: float, weight: Optional[np.ndarray],
                  size_average: Optional[bool], reduce: Optional[bool], reduction: str) -> _Call:
    require_ndarray(input, "input")
    _label_array(target, "target")
    reduction = _reduction.resolve(size_average, reduce, reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and require_ndarray(weight, "weight").ndim != 1:
        raise ValueError("weight must be one-dimensional")
    if target.dtype not in (np.int64, np.int32) or not target.dtype.isnative:
        raise TypeError(f"target of class indices must have dtype int64 or int32, got {target.dtype}")
    # int32 classes: an O(rows) conversion to int64, never of the input.
    target = target.astype(np.int64, copy=False)
    return _Call(_R.multi_margin_loss, (input,), target, reduction,
                 {"margin": float(margin), "margin_p": int(p)}, weight)


def multi_margin_loss(input: np.ndarray, target: np.ndarray, p: int = 1, margin: float = 1.0,
                      weight: Optional[np.ndarray] = None, size_average: Optional[bool] = None,
                      reduce: Optional[bool] = None, reduction: str = "mean") -> Loss:
    """``w[y] / C sum_{j != y} max(0, margin - x[y] + x[j])^p`` per row (p in {1, 2})."""
    return _multi_margin(input, target, p, margin, weight, size_average, reduce, reduction).forward()


def multi_margin_loss_backward(grad_output: GradOutput, input: np.ndarray, target: np.ndarray, p: int = 1,
                               margin: float = 1.0, weight: Optional[np.ndarray] = None,
                               size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                               reduction: str = "mean", out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`multi_margin_loss` with respect to ``input``."""
    (grad,) = _multi_margin(input, target, p, margin, weight, size_average, reduce, reduction).backward(
        grad_output, out)
    return grad


def multi_margin_loss_with_grad(input: np.ndarray, target: np.ndarray, p: int = 1, margin: float = 1.0,
                                weight: Optional[np.ndarray] = None, size_average: Optional[bool] = None,
                                reduce: Optional[bool] = None, reduction: str = "mean",
                                out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(multi_margin_loss(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    loss, grad = _multi_margin(input, target, p, margin, weight, size_average, reduce, reduction).with_grad(out)
    return loss, grad


# --- triplet_margin_loss --------------------------------------------------------------
# The core takes 1-d or 2-d inputs; more leading dimensions are folded into rows (a view
# whenever NumPy can reshape without copying) and the results unfolded.


class _Triplet:
    def __init__(self, anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray, margin: float, p: float,
                 eps: float, swap: bool, size_average: Optional[bool], reduce: Optional[bool],
                 reduction: str) -> None:
        inputs = [require_ndarray(a, name) for a, name in
                  ((anchor, "anchor"), (positive, "positive"), (negative, "negative"))]
        reduction = _reduction.resolve(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"margin must be greater than 0, got {margin}")
        self.shape = anchor.shape
        self.folded = len({a.ndim for a in inputs}) == 1 and anchor.ndim > 2 and all(
            a.shape == anchor.shape for a in inputs)
        if self.folded:
            inputs = [a.reshape(-1, anchor.shape[-1]) for a in inputs]
        self.call = _Call(_R.triplet_margin_loss, inputs, None, reduction,
                          {"margin": float(margin), "norm_p": float(p), "eps": float(eps), "swap": bool(swap)})

    def loss(self, loss: Loss) -> Loss:
        return loss.reshape(self.shape[:-1]) if self.folded and isinstance(loss, np.ndarray) else loss

    def grad_output(self, grad_output: GradOutput) -> GradOutput:
        if self.folded and isinstance(grad_output, np.ndarray) and self.call.reduction == "none":
            return np.broadcast_to(grad_output, self.shape[:-1]).reshape(-1)
        return grad_output

    def out(self, out: Optional[np.ndarray]) -> Optional[np.ndarray]:
        if out is None or not self.folded:
            return out
        if out.shape != self.shape or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous array of shape {self.shape} for inputs of more than 2 dimensions")
        return out.reshape(-1, self.shape[-1])

    def grads(self, grads: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        ga, gp, gn = (g.reshape(self.shape) for g in grads) if self.folded else grads
        return ga, gp, gn


def triplet_margin_loss(anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average: Optional[bool] = None,
                        reduce: Optional[bool] = None, reduction: str = "mean") -> Loss:
    """``max(0, margin + d(a, p) - d(a, n))`` with ``d(x, y) = ||x - y + eps||_p`` along the last axis.

    ``swap`` uses ``min(d(a, n), d(p, n))`` for the negative distance.
    """
    t = _Triplet(anchor, positive, negative, margin, p, eps, swap, size_average, reduce, reduction)
    return t.loss(t.call.forward())


def triplet_margin_loss_backward(grad_output: GradOutput, anchor: np.ndarray, positive: np.ndarray,
                                 negative: np.ndarray, margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                                 swap: bool = False, size_average: Optional[bool] = None,
                                 reduce: Optional[bool] = None, reduction: str = "mean",
                                 out: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(d loss / d anchor, d loss / d positive, d loss / d negative)``."""
    t = _Triplet(anchor, positive, negative, margin, p, eps, swap, size_average, reduce, reduction)
    return t.grads(t.call.backward(t.grad_output(grad_output), t.out(out)))


def triplet_margin_loss_with_grad(anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray,
                                  margin: float = 1.0, p: float = 2, eps: float = 1e-6, swap: bool = False,
                                  size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                                  reduction: str = "mean", out: Optional[np.ndarray] = None,
                                  ) -> Tuple[Loss, np.ndarray, np.ndarray, np.ndarray]:
    """``(loss, *gradients)`` in one pass; ``out`` (the anchor's gradient) may be ``anchor``."""
    t = _Triplet(anchor, positive, negative, margin, p, eps, swap, size_average, reduce, reduction)
    loss, *grads = t.call.with_grad(t.out(out))
    return (t.loss(loss), *t.grads(grads))
