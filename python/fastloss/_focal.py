"""torchvision's sigmoid_focal_loss, computed in logit space."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _core, _elementwise
from ._arrays import GradOutput, Loss, require_ndarray
from ._elementwise import Spec

__all__ = ["sigmoid_focal_loss", "sigmoid_focal_loss_backward", "sigmoid_focal_loss_with_grad"]


def _focal_spec(inputs: np.ndarray, targets: np.ndarray, alpha: float, gamma: float, reduction: str) -> Spec:
    require_ndarray(inputs, "inputs")
    require_ndarray(targets, "targets")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(
            f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: 'none', 'mean', 'sum'"
        )
    if inputs.shape != targets.shape:
        raise ValueError(f"Target size ({targets.shape}) must be the same as input size ({inputs.shape})")
    return Spec(_core.ElementwiseLoss.sigmoid_focal_loss, reduction, params=(float(alpha), float(gamma)))


def sigmoid_focal_loss(inputs: np.ndarray, targets: np.ndarray, alpha: float = 0.25, gamma: float = 2.0,
                       reduction: str = "none") -> Loss:
    """Focal loss ``alpha_t * BCE-with-logits * (1 - p_t)^gamma`` (torchvision's semantics).

    ``alpha < 0`` drops the alpha term; the default reduction is "none". ``1 - p_t`` is
    formed from stable sigmoids, so the loss stays accurate for any finite logit; gamma = 0
    gives exactly (alpha_t times) binary_cross_entropy_with_logits.

    Any real target is accepted. Outside [0, 1], ``1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x)``
    can be negative (y = 2, x = 5: -0.98); ``(1 - p_t)^gamma`` is then torch's ``pow``: real
    for an integer gamma, NaN (loss and gradient) for any other.
    """
    spec = _focal_spec(inputs, targets, alpha, gamma, reduction)
    return _elementwise.forward(spec, inputs, targets)


def sigmoid_focal_loss_backward(grad_output: GradOutput, inputs: np.ndarray, targets: np.ndarray,
                                alpha: float = 0.25, gamma: float = 2.0, reduction: str = "none",
                                out: Optional[np.ndarray] = None) -> np.ndarray:
    """Gradient of :func:`sigmoid_focal_loss` with respect to ``inputs``.

    The derivative of the loss for every real target, wherever the loss is finite, and finite
    for every finite logit where the loss is (torchvision's formula under autograd overflows to
    NaN once ``gamma * alpha_t * |x|`` exceeds the largest float). At ``1 - p_t = 0`` exactly,
    which a target outside [0, 1] reaches at one logit, the modulator's slope
    ``gamma (1 - p_t)^(gamma - 1)`` is taken as 1 for gamma = 1 and 0 otherwise (the limit for
    gamma > 1; for gamma < 1 the slope is unbounded there).
    """
    spec = _focal_spec(inputs, targets, alpha, gamma, reduction)
    return _elementwise.backward(spec, grad_output, inputs, targets, out)


def sigmoid_focal_loss_with_grad(inputs: np.ndarray, targets: np.ndarray, alpha: float = 0.25,
                                 gamma: float = 2.0, reduction: str = "none",
                                 out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(sigmoid_focal_loss(...), its gradient)`` in one pass; ``out`` may be ``inputs``."""
    spec = _focal_spec(inputs, targets, alpha, gamma, reduction)
    return _elementwise.with_grad(spec, inputs, targets, out)
