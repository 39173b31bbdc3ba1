"""The softmax / cross-entropy family: softmax, log_softmax, nll_loss, cross_entropy and
softmax_focal_loss.

Layouts follow torch: the class axis is 1 for inputs (N, C) and (N, C, d1, ..., dk) and 0
for an unbatched (C,) input; class-index targets have the input's shape without the class
axis and dtype int64 or int32 (read in place, never converted). Strided views, the
(N, C, d1..dk) class axis included, are read in place a tile of rows at a time.

Every loss ``f`` has ``f_backward(grad_output, input, target, ...)`` and
``f_with_grad(input, target, ..., out=None)``. The fused call reads each row of logits once
for its log-sum-exp and writes its gradient once; ``out=input`` writes the gradient over
the logits, so a training step needs no second (N, C) array.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from . import _core, _reduction
from ._arrays import GradOutput, Loss

_L = _core.ClassLoss

__all__ = [
    "softmax",
    "log_softmax",
    "nll_loss",
    "nll_loss_backward",
    "nll_loss_with_grad",
    "cross_entropy",
    "cross_entropy_backward",
    "cross_entropy_with_grad",
    "softmax_focal_loss",
    "softmax_focal_loss_backward",
    "softmax_focal_loss_with_grad",
]

# alpha of softmax_focal_loss: one value for every class or a (C,) array.
Alpha = Union[float, np.ndarray, None]


def softmax(input: np.ndarray, axis: int = 1, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``exp(x - logsumexp(x))`` along ``axis``; ``out`` may be ``input``.

    The log-sum-exp is computed with an online maximum, so every finite row is stable; a row
    of all -inf (or holding +inf or NaN) gives NaN, as torch.
    """
    return _core.softmax(input, axis, False, out)


def log_softmax(input: np.ndarray, axis: int = 1, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``x - logsumexp(x)`` along ``axis``; ``out`` may be ``input``."""
    return _core.softmax(input, axis, True, out)


# --- nll_loss -------------------------------------------------------------------------


def nll_loss(
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    ignore_index: int = -100,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Loss:
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``.

    ``loss_n = -w[t_n] * input[n, t_n]`` (0 where ``t_n == ignore_index``); "mean" divides
    by the sum of ``w[t_n]`` over non-ignored elements (NaN when every target is ignored).
    """
    reduction = _reduction.resolve(size_average, reduce, reduction)
    return _core.class_loss_forward(_L.nll_loss, input, target, weight, ignore_index, reduction)


def nll_loss_backward(
    grad_output: GradOutput,
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    ignore_index: int = -100,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Gradient of :func:`nll_loss` with respect to ``input``."""
    reduction = _reduction.resolve(size_average, reduce, reduction)
    return _core.class_loss_backward(
        _L.nll_loss, grad_output, input, target, weight, ignore_index, reduction, out=out
    )


def nll_loss_with_grad(
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    ignore_index: int = -100,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    out: Optional[np.ndarray] = None,
) -> Tuple[Loss, np.ndarray]:
    """``(nll_loss(...), its gradient)``; ``out`` may be ``input``."""
    reduction = _reduction.resolve(size_average, reduce, reduction)
    return _core.class_loss_with_grad(_L.nll_loss, input, target, weight, ignore_index, reduction, out=out)


# --- cross_entropy --------------------------------------------------------------------


def cross_entropy(
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    ignore_index: int = -100,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Loss:
    """Cross-entropy between logits ``input`` and class indices or class probabilities.

    Class indices (int64/int32, the input's shape without the class axis):
    ``loss_n = (1 - e) w[t] (lse_n - x[n, t]) + (e / C) sum_c w_c (lse_n - x[n, c])`` with
    ``e = label_smoothing``; ignored elements give 0 and "mean" divides both terms by the
    sum of ``w[t_n]`` over non-ignored elements (NaN when there are none).

    Class probabilities (a float target of the input's shape): with
    ``y' = (1 - e) y + e / C``, ``loss_n = sum_c w_c y'_c (lse_n - x[n, c])``; "mean"
    divides by N * d1 * ... * dk; ``ignore_index`` must stay negative.
    """
    reduction = _reduction.resolve(size_average, reduce, reduction)
    return _core.class_loss_forward(
        _L.cross_entropy, input, target, weight, ignore_index, reduction, label_smoothing
    )


def cross_entropy_backward(
    grad_output: GradOutput,
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    ignore_index: int = -100,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to the logits.

    Class indices: ``g_j = s [((1 - e) w_t + (e / C) W) p_j - (e / C) w_j - (1 - e) w_t [j == t]]``
    with ``W = sum_c w_c`` and ``s`` = grad_output (divided by the mean's denominator);
    ignored rows get 0. Probabilities: ``g_j = s (p_j sum_c w_c y'_c - w_j y'_j)``.
    """
    reduction = _reduction.resolve(size_average, reduce, reduction)
    return _core.class_loss_backward(
        _L.cross_entropy, grad_output, input, target, weight, ignore_index, reduction, label_smoothing, out=out
    )


def cross_entropy_with_grad(
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    size_average: Optional[bool] = None,
    ignore_index: int = -100,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    out: Optional[np.ndarray] = None,
) -> Tuple[Loss, np.ndarray]:
    """``(cross_entropy(...), its gradient)`` reading each row of logits once.

    With ``out=input`` the gradient overwrites the logits: the call's extra memory is O(N)
    (the targets' scan and per-thread tiles), not O(N * C).
    """
    reduction = _reduction.resolve(size_average, reduce, reduction)
    return _core.class_loss_with_grad(
        _L.cross_entropy, input, target, weight, ignore_index, reduction, label_smoothing, out=out
    )


# --- softmax_focal_loss ---------------------------------------------------------------


def softmax_focal_loss(
    input: np.ndarray,
    target: np.ndarray,
    alpha: Alpha = None,
    gamma: float = 2.0,
    weight: Optional[np.ndarray] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Loss:
    """Multi-class focal loss over logits and class indices (Lin et al., 2017).

    ``loss_n = -w[t] alpha_t (1 - p_t)^gamma log p_t`` with ``p_t = softmax(x_n)[t]``;
    ``alpha_t`` is ``alpha`` (a scalar) or ``alpha[t]`` (a (C,) array), 1 when ``alpha`` is
    None. Shapes, ``weight`` and ``ignore_index`` are cross_entropy's, and so is the mean:
    it divides by the sum of ``w[t_n]`` over non-ignored elements (``alpha`` is not in the
    denominator). ``gamma = 0`` with ``alpha=None`` equals :func:`cross_entropy` exactly.
    ``1 - p_t`` is computed as ``-expm1(log p_t)``, accurate for well-classified rows.
    """
    _reduction.check(reduction)
    return _core.class_loss_forward(
        _L.softmax_focal_loss, input, target, weight, ignore_index, reduction, 0.0, alpha, gamma
    )


def softmax_focal_loss_backward(
    grad_output: GradOutput,
    input: np.ndarray,
    target: np.ndarray,
    alpha: Alpha = None,
    gamma: float = 2.0,
    weight: Optional[np.ndarray] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Gradient of :func:`softmax_focal_loss` with respect to the logits.

    With ``G = w[t] alpha_t (gamma (1 - p_t)^(gamma - 1) p_t log p_t - (1 - p_t)^gamma)``,
    ``g_j = s G ([j == t] - p_j)``.
    """
    _reduction.check(reduction)
    return _core.class_loss_backward(
        _L.softmax_focal_loss, grad_output, input, target, weight, ignore_index, reduction, 0.0, alpha, gamma,
        out=out,
    )


def softmax_focal_loss_with_grad(
    input: np.ndarray,
    target: np.ndarray,
    alpha: Alpha = None,
    gamma: float = 2.0,
    weight: Optional[np.ndarray] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    out: Optional[np.ndarray] = None,
) -> Tuple[Loss, np.ndarray]:
    """``(softmax_focal_loss(...), its gradient)`` in one pass; ``out`` may be ``input``."""
    _reduction.check(reduction)
    return _core.class_loss_with_grad(
        _L.softmax_focal_loss, input, target, weight, ignore_index, reduction, 0.0, alpha, gamma, out=out
    )
