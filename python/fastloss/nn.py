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

__all__ = ["BCELoss", "BCEWithLogitsLoss", "MSELoss", "NLLLoss", "CrossEntropyLoss", "SoftmaxFocalLoss", "Softmax", "LogSoftmax",
           "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss",
           "SoftMarginLoss", "HingeEmbeddingLoss", "MarginRankingLoss", "SigmoidFocalLoss",
           "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss", "MultiMarginLoss", "TripletMarginLoss"]


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


# --- the cross-entropy family ---------------------------------------------------------


class NLLLoss(_Loss):
    _forward = staticmethod(F.nll_loss)
    _backward = staticmethod(F.nll_loss_backward)
    _with_grad = staticmethod(F.nll_loss_with_grad)

    def __init__(self, weight: Optional[np.ndarray] = None, size_average: Optional[bool] = None,
                 ignore_index: int = -100, reduce: Optional[bool] = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight = weight
        self.ignore_index = ignore_index

    def _options(self) -> Dict[str, Any]:
        return {"weight": self.weight, "ignore_index": self.ignore_index, "reduction": self.reduction}


class CrossEntropyLoss(NLLLoss):
    _forward = staticmethod(F.cross_entropy)
    _backward = staticmethod(F.cross_entropy_backward)
    _with_grad = staticmethod(F.cross_entropy_with_grad)

    def __init__(self, weight: Optional[np.ndarray] = None, size_average: Optional[bool] = None,
                 ignore_index: int = -100, reduce: Optional[bool] = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        self.label_smoothing = label_smoothing

    def _options(self) -> Dict[str, Any]:
        return {**super()._options(), "label_smoothing": self.label_smoothing}


class SoftmaxFocalLoss(_Loss):
    """Multi-class focal loss; see :func:`fastloss.functional.softmax_focal_loss`."""

    _forward = staticmethod(F.softmax_focal_loss)
    _backward = staticmethod(F.softmax_focal_loss_backward)
    _with_grad = staticmethod(F.softmax_focal_loss_with_grad)

    def __init__(self, alpha: Optional[Any] = None, gamma: float = 2.0, weight: Optional[np.ndarray] = None,
                 ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.alpha = alpha
        self.gamma = gamma
        self.weight = weight
        self.ignore_index = ignore_index

    def _options(self) -> Dict[str, Any]:
        return {"alpha": self.alpha, "gamma": self.gamma, "weight": self.weight,
                "ignore_index": self.ignore_index, "reduction": self.reduction}


class Softmax:
    """``softmax`` along ``axis`` as a callable module."""

    def __init__(self, axis: int = 1) -> None:
        self.axis = axis

    def __call__(self, input: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        return F.softmax(input, self.axis, out)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(axis={self.axis})"


class LogSoftmax(Softmax):
    """``log_softmax`` along ``axis`` as a callable module."""

    def __call__(self, input: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        return F.log_softmax(input, self.axis, out)


# --- regression, divergence, margin and focal losses ----------------------------------


class _OptionsLoss(_Loss):
    """A loss whose constructor options (beyond the reduction) are passed through by name."""

    _option_names: Tuple[str, ...] = ()

    def _options(self) -> Dict[str, Any]:
        return {"reduction": self.reduction, **{name: getattr(self, name) for name in self._option_names}}


class _ThreeOperandLoss(_OptionsLoss):
    """A loss called on three arrays (gaussian_nll: input, target, var; margin_ranking: x1, x2, y)."""

    def forward(self, a: np.ndarray, b: np.ndarray, c: Any) -> Any:  # type: ignore[override]
        loss = type(self)._forward(a, b, c, **self._options())
        self._last3 = (a, b, c)
        return loss

    __call__ = forward

    def backward(self, grad_output: GradOutput = 1.0, out: Optional[np.ndarray] = None) -> Any:
        """Gradients with respect to the differentiable operands of the last call."""
        if getattr(self, "_last3", None) is None:
            raise RuntimeError("backward() called before the loss was computed")
        return type(self)._backward(grad_output, *self._last3, out=out, **self._options())

    def with_grad(self, a: np.ndarray, b: np.ndarray, c: Any,  # type: ignore[override]
                  out: Optional[np.ndarray] = None) -> Any:
        return type(self)._with_grad(a, b, c, out=out, **self._options())


class L1Loss(MSELoss):
    _forward = staticmethod(F.l1_loss)
    _backward = staticmethod(F.l1_loss_backward)
    _with_grad = staticmethod(F.l1_loss_with_grad)


class SmoothL1Loss(_OptionsLoss):
    _forward = staticmethod(F.smooth_l1_loss)
    _backward = staticmethod(F.smooth_l1_loss_backward)
    _with_grad = staticmethod(F.smooth_l1_loss_with_grad)
    _option_names = ("beta",)

    def __init__(self, size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                 reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta


class HuberLoss(_OptionsLoss):
    _forward = staticmethod(F.huber_loss)
    _backward = staticmethod(F.huber_loss_backward)
    _with_grad = staticmethod(F.huber_loss_with_grad)
    _option_names = ("delta",)

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta


class KLDivLoss(_OptionsLoss):
    _forward = staticmethod(F.kl_div)
    _backward = staticmethod(F.kl_div_backward)
    _with_grad = staticmethod(F.kl_div_with_grad)
    _option_names = ("log_target",)

    def __init__(self, size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                 reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target


class PoissonNLLLoss(_OptionsLoss):
    _forward = staticmethod(F.poisson_nll_loss)
    _backward = staticmethod(F.poisson_nll_loss_backward)
    _with_grad = staticmethod(F.poisson_nll_loss_with_grad)
    _option_names = ("log_input", "full", "eps")

    def __init__(self, log_input: bool = True, full: bool = False, size_average: Optional[bool] = None,
                 eps: float = 1e-8, reduce: Optional[bool] = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps


class GaussianNLLLoss(_ThreeOperandLoss):
    """Called as ``loss(input, target, var)``; ``backward`` returns ``(grad_input, grad_var)``."""

    _forward = staticmethod(F.gaussian_nll_loss)
    _backward = staticmethod(F.gaussian_nll_loss_backward)
    _with_grad = staticmethod(F.gaussian_nll_loss_with_grad)
    _option_names = ("full", "eps")

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full = full
        self.eps = eps


class SoftMarginLoss(MSELoss):
    _forward = staticmethod(F.soft_margin_loss)
    _backward = staticmethod(F.soft_margin_loss_backward)
    _with_grad = staticmethod(F.soft_margin_loss_with_grad)


class HingeEmbeddingLoss(_OptionsLoss):
    _forward = staticmethod(F.hinge_embedding_loss)
    _backward = staticmethod(F.hinge_embedding_loss_backward)
    _with_grad = staticmethod(F.hinge_embedding_loss_with_grad)
    _option_names = ("margin",)

    def __init__(self, margin: float = 1.0, size_average: Optional[bool] = None,
                 reduce: Optional[bool] = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class MarginRankingLoss(_ThreeOperandLoss):
    """Called as ``loss(input1, input2, target)``; ``backward`` returns both inputs' gradients."""

    _forward = staticmethod(F.margin_ranking_loss)
    _backward = staticmethod(F.margin_ranking_loss_backward)
    _with_grad = staticmethod(F.margin_ranking_loss_with_grad)
    _option_names = ("margin",)

    def __init__(self, margin: float = 0.0, size_average: Optional[bool] = None,
                 reduce: Optional[bool] = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class SigmoidFocalLoss(_OptionsLoss):
    """torchvision's sigmoid focal loss as a module (default reduction "none")."""

    _forward = staticmethod(F.sigmoid_focal_loss)
    _backward = staticmethod(F.sigmoid_focal_loss_backward)
    _with_grad = staticmethod(F.sigmoid_focal_loss_with_grad)
    _option_names = ("alpha", "gamma")

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "none") -> None:
        super().__init__(reduction=reduction)
        self.alpha = alpha
        self.gamma = gamma


class MultiLabelSoftMarginLoss(BCELoss):
    _forward = staticmethod(F.multilabel_soft_margin_loss)
    _backward = staticmethod(F.multilabel_soft_margin_loss_backward)
    _with_grad = staticmethod(F.multilabel_soft_margin_loss_with_grad)


# --- row-wise losses --------------------------------------------------------------------


class CosineEmbeddingLoss(_ThreeOperandLoss):
    """Called as ``loss(input1, input2, target)``; ``backward`` returns both inputs' gradients."""

    _forward = staticmethod(F.cosine_embedding_loss)
    _backward = staticmethod(F.cosine_embedding_loss_backward)
    _with_grad = staticmethod(F.cosine_embedding_loss_with_grad)
    _option_names = ("margin",)

    def __init__(self, margin: float = 0.0, size_average: Optional[bool] = None,
                 reduce: Optional[bool] = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class MultiMarginLoss(_OptionsLoss):
    _forward = staticmethod(F.multi_margin_loss)
    _backward = staticmethod(F.multi_margin_loss_backward)
    _with_grad = staticmethod(F.multi_margin_loss_with_grad)
    _option_names = ("p", "margin", "weight")

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Optional[np.ndarray] = None,
                 size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if p != 1 and p != 2:
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.ndim != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be None or 1D tensor, got {weight.ndim}D instead")
        self.p = p
        self.margin = margin
        self.weight = weight


class TripletMarginLoss(_ThreeOperandLoss):
    """Called as ``loss(anchor, positive, negative)``; ``backward`` returns the three gradients."""

    _forward = staticmethod(F.triplet_margin_loss)
    _backward = staticmethod(F.triplet_margin_loss_backward)
    _with_grad = staticmethod(F.triplet_margin_loss_with_grad)
    _option_names = ("margin", "p", "eps", "swap")

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead")
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap
