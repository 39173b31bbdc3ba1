"""Loss classes with ``torch.nn``'s names and constructor arguments.

Calling a loss returns the loss value; ``.backward(grad_output=1.0)`` returns the gradient
with respect to the input of the last call.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import _reduction
from ._arrays import GradOutput
from . import functional as F

__all__ = ["BCELoss", "BCEWithLogitsLoss", "MSELoss"]


class _Loss:
    """Holds the reduction and remembers the last call's arguments for ``backward``."""

    _forward: Callable[..., Any]
    _backward: Callable[..., np.ndarray]
    _with_grad: Callable[..., Tuple[Any, np.ndarray]]

    def __init__(self, size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                 reduction: str = "mean") -> None:
        if size_average is not None or reduce is not None:
            reduction = _reduction.legacy_get_string(size_average, reduce)
        self.reduction = reduction
        self._last: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def _options(self) -> Dict[str, Any]:
        return {"reduction": self.reduction}

    def forward(self, input: np.ndarray, target: np.ndarray) -> Any:
        loss = type(self)._forward(input, target, **self._options())
        self._last = (input, target)
        return loss

    __call__ = forward

    def backward(self, grad_output: GradOutput = 1.0, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Gradient with respect to the input of the last call."""
        if self._last is None:
            raise RuntimeError("backward() called before the loss was computed")
        input, target = self._last
        return type(self)._backward(grad_output, input, target, out=out, **self._options())

    def with_grad(self, input: np.ndarray, target: np.ndarray,
                  out: Optional[np.ndarray] = None) -> Tuple[Any, np.ndarray]:
        """``(loss, grad_input)`` in one pass; ``out`` may be ``input``."""
        return type(self)._with_grad(input, target, out=out, **self._options())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class BCELoss(_Loss):
    _forward = staticmethod(F.binary_cross_entropy)
    _backward = staticmethod(F.binary_cross_entropy_backward)
    _with_grad = staticmethod(F.binary_cross_entropy_with_grad)

    def __init__(self, weight: Optional[np.ndarray] = None, size_average: Optional[bool] = None,
                 reduce: Optional[bool] = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight = weight

    def _options(self) -> Dict[str, Any]:
        return {"weight": self.weight, "reduction": self.reduction}


class BCEWithLogitsLoss(_Loss):
    _forward = staticmethod(F.binary_cross_entropy_with_logits)
    _backward = staticmethod(F.binary_cross_entropy_with_logits_backward)
    _with_grad = staticmethod(F.binary_cross_entropy_with_logits_with_grad)

    def __init__(self, weight: Optional[np.ndarray] = None, size_average: Optional[bool] = None,
                 reduce: Optional[bool] = None, reduction: str = "mean",
                 pos_weight: Optional[np.ndarray] = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight = weight
        self.pos_weight = pos_weight

    def _options(self) -> Dict[str, Any]:
        return {"weight": self.weight, "reduction": self.reduction, "pos_weight": self.pos_weight}


class MSELoss(_Loss):
    _forward = staticmethod(F.mse_loss)
    _backward = staticmethod(F.mse_loss_backward)
    _with_grad = staticmethod(F.mse_loss_with_grad)
