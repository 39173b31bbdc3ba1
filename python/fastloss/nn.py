"""Loss classes with ``torch.nn``'s names and constructor arguments.

Each class is declared by the functional it wraps (``class MSELoss(Module, wraps="mse_loss")``):
its constructor takes that function's parameters after the arrays it is called with, in
torch's order, checked as the function checks them. Calling a loss returns the loss value;
``.backward(grad_output=1.0)`` returns the gradient(s) of the last successful call, computed
from the arrays as they are when ``backward`` is called (nothing is copied, as everywhere in
fastloss: an array changed in between gives the gradient at its new values), and raises
after a call that raised.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import _checks, _docs
from . import functional as F
from ._declare import DECLARATIONS, REQUIRED, Declaration, forwarding

__all__ = ["BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss",
           "PoissonNLLLoss", "GaussianNLLLoss", "LogCoshLoss", "SoftMarginLoss", "HingeEmbeddingLoss", "MarginRankingLoss",
           "SigmoidFocalLoss", "MultiLabelSoftMarginLoss", "NLLLoss", "CrossEntropyLoss", "SoftmaxFocalLoss",
           "CosineEmbeddingLoss", "MultiMarginLoss", "MultiLabelMarginLoss", "TripletMarginLoss",
           "TripletMarginWithDistanceLoss", "CTCLoss", "Softmax", "LogSoftmax", "LinearCrossEntropyLoss"]


class Module:
    """Base of every class here: a functional (``wraps``) with its options stored as attributes.

    A loss's options are checked when the module is built and again at every call (the
    functional's own checks); torch's legacy ``size_average``/``reduce`` become ``reduction``.
    """

    _function: Callable[..., Any]
    _option_names: Tuple[str, ...]
    _declaration: Optional[Declaration]
    # A module's own checks of its constructor's arguments, for a functional without a declaration.
    _check_options: Optional[Callable[[Dict[str, Any]], None]] = None

    def __init_subclass__(cls, wraps: Optional[str] = None, constructor: Optional[Tuple[str, ...]] = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if wraps is None:  # an intermediate base (Loss, Transform)
            return
        cls._function = staticmethod(getattr(F, wraps))  # type: ignore[assignment]
        cls._declaration = DECLARATIONS.get(wraps)
        params = _constructor_params(cls._function, cls._declaration)
        if constructor is not None:  # torch's module takes only these of its functional's parameters
            params = tuple(p for p in params if p.name in constructor)
        cls._option_names = tuple(p.name for p in params if p.name not in ("size_average", "reduce"))
        cls.__init__ = _make_init(cls.__name__, params)  # type: ignore[method-assign]
        cls.__doc__ = _docs.document(cls.__doc__ or "", _docs.parameters(params, wraps))

    def _options(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in self._option_names}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._options().items())})"


def _constructor_params(function: Callable[..., Any], decl: Optional[Declaration]) -> Tuple[inspect.Parameter, ...]:
    """The function's parameters after the arrays a module is called with (and before ``out``)."""
    params = list(inspect.signature(function).parameters.values())
    # Without a declaration, the required positional parameters are the arrays.
    called = decl.call_arrays if decl is not None else sum(
        p.kind == p.POSITIONAL_OR_KEYWORD and p.default is REQUIRED for p in params)
    return tuple(p for p in params[called:] if p.name != "out")


SELF = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _make_init(class_name: str, params: Tuple[inspect.Parameter, ...]) -> Callable[..., None]:
    """An ``__init__`` with exactly these parameters."""
    return forwarding("__init__", (SELF, *params), lambda args: _init(args.pop("self"), args),
                      f"fastloss.nn.{class_name}.__init__")


def _init(module: Module, args: Dict[str, Any]) -> None:
    if args.get("size_average") is not None or args.get("reduce") is not None:
        args["reduction"] = _checks.legacy_reduction(args["size_average"], args["reduce"])
    decl = module._declaration
    if module._check_options is not None:
        module._check_options(args)
    if decl is not None:
        if "reduction" in args:
            decl.reduction_check(args["reduction"], args)
        for p in decl.options:
            p.check(args[p.name])  # type: ignore[misc]
    for name in module._option_names:
        setattr(module, name, args[name])


class Loss(Module):
    """Base of the loss classes: forward (``__call__``), ``backward`` and ``with_grad``."""

    _backward: Callable[..., Any]
    _fused: Callable[..., Any]
    _last: Optional[Tuple[Any, ...]] = None

    def forward(self, *arrays: Any) -> Any:
        """The loss of ``arrays`` (the functional's leading arrays, e.g. input and target)."""
        self._last = None  # a call that raises leaves no arrays for backward
        loss = self._function(*arrays, **self._options())
        self._last = arrays
        return loss

    __call__ = forward

    def backward(self, grad_output: Any = 1.0, out: Optional[np.ndarray] = None) -> Any:
        """The gradient(s) of the last successful call, from its arrays as they are now."""
        if self._last is None:
            raise RuntimeError("backward() called before a successful call of the loss (the last call raised, or "
                               "none was made)")
        return self._backward(grad_output, *self._last, out=out, **self._options())

    def with_grad(self, *arrays: Any, out: Optional[np.ndarray] = None) -> Tuple[Any, ...]:
        """``(loss, *gradients)`` of ``arrays`` in one pass; ``out`` may be the first array."""
        return self._fused(*arrays, out=out, **self._options())

    def __init_subclass__(cls, wraps: Optional[str] = None, **kwargs: Any) -> None:
        super().__init_subclass__(wraps=wraps, **kwargs)
        if wraps is not None:
            cls._backward = staticmethod(getattr(F, wraps + "_backward"))  # type: ignore[assignment]
            cls._fused = staticmethod(getattr(F, wraps + "_with_grad"))  # type: ignore[assignment]


class BCELoss(Loss, wraps="binary_cross_entropy"):
    """torch.nn.BCELoss."""


class BCEWithLogitsLoss(Loss, wraps="binary_cross_entropy_with_logits"):
    """torch.nn.BCEWithLogitsLoss."""


class MSELoss(Loss, wraps="mse_loss"):
    """torch.nn.MSELoss (and its functional's ``weight``)."""


class L1Loss(Loss, wraps="l1_loss"):
    """torch.nn.L1Loss (and its functional's ``weight``)."""


class SmoothL1Loss(Loss, wraps="smooth_l1_loss"):
    """torch.nn.SmoothL1Loss."""


class HuberLoss(Loss, wraps="huber_loss"):
    """torch.nn.HuberLoss (and its functional's ``weight``)."""


class KLDivLoss(Loss, wraps="kl_div"):
    """torch.nn.KLDivLoss."""


class PoissonNLLLoss(Loss, wraps="poisson_nll_loss"):
    """torch.nn.PoissonNLLLoss."""


class GaussianNLLLoss(Loss, wraps="gaussian_nll_loss"):
    """torch.nn.GaussianNLLLoss: called as ``loss(input, target, var)``; ``backward`` returns
    ``(grad_input, grad_var)``."""


class LogCoshLoss(Loss, wraps="log_cosh_loss"):
    """The log-cosh loss; see :func:`fastloss.functional.log_cosh_loss`."""


class SoftMarginLoss(Loss, wraps="soft_margin_loss"):
    """torch.nn.SoftMarginLoss."""


class HingeEmbeddingLoss(Loss, wraps="hinge_embedding_loss"):
    """torch.nn.HingeEmbeddingLoss."""


class MarginRankingLoss(Loss, wraps="margin_ranking_loss"):
    """torch.nn.MarginRankingLoss: called as ``loss(input1, input2, target)``; ``backward``
    returns both inputs' gradients."""


class SigmoidFocalLoss(Loss, wraps="sigmoid_focal_loss"):
    """torchvision's sigmoid focal loss as a module (default reduction "none")."""


class MultiLabelSoftMarginLoss(Loss, wraps="multilabel_soft_margin_loss"):
    """torch.nn.MultiLabelSoftMarginLoss."""


class NLLLoss(Loss, wraps="nll_loss"):
    """torch.nn.NLLLoss."""


class CrossEntropyLoss(Loss, wraps="cross_entropy"):
    """torch.nn.CrossEntropyLoss."""


class SoftmaxFocalLoss(Loss, wraps="softmax_focal_loss"):
    """Multi-class focal loss; see :func:`fastloss.functional.softmax_focal_loss`."""


class CosineEmbeddingLoss(Loss, wraps="cosine_embedding_loss"):
    """torch.nn.CosineEmbeddingLoss: called as ``loss(input1, input2, target)``; ``backward``
    returns both inputs' gradients."""


class MultiMarginLoss(Loss, wraps="multi_margin_loss"):
    """torch.nn.MultiMarginLoss."""


class MultiLabelMarginLoss(Loss, wraps="multilabel_margin_loss"):
    """torch.nn.MultiLabelMarginLoss."""


class TripletMarginLoss(Loss, wraps="triplet_margin_loss"):
    """torch.nn.TripletMarginLoss: called as ``loss(anchor, positive, negative)``; ``backward``
    returns the three gradients."""


def _check_triplet_with_distance(args: Dict[str, Any]) -> None:
    """torch's module checks its margin when built, with its own message."""
    margin = _checks.real("margin")(args["margin"])
    if margin <= 0:
        raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} instead")


class TripletMarginWithDistanceLoss(Loss, wraps="triplet_margin_with_distance_loss"):
    """torch.nn.TripletMarginWithDistanceLoss: called as ``loss(anchor, positive, negative)``;
    ``backward`` returns the three gradients (for the distance functions
    :func:`~fastloss.functional.triplet_margin_with_distance_loss_backward` differentiates)."""

    _check_options = staticmethod(_check_triplet_with_distance)


class CTCLoss(Loss, wraps="ctc_loss"):
    """torch.nn.CTCLoss: called as ``loss(log_probs, targets, input_lengths, target_lengths)``;
    ``backward`` returns the gradient with respect to ``log_probs``."""


class Transform(Module):
    """Base of the array transforms: ``module(input, out=None)``; ``out`` may be the input."""

    def __call__(self, input: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        return self._function(input, out=out, **self._options())  # type: ignore[no-any-return]


class _SoftmaxTransform(Transform):
    """torch's softmax modules: constructed with ``dim=None`` only (torch's default: the
    deprecated implicit choice, whose warning then points at the module's caller)."""

    dim: Optional[int]

    def __call__(self, input: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        # The frames above the functional's warning: this call's caller is the user's.
        return self._function(input, self.dim, _stacklevel=4, out=out)  # type: ignore[no-any-return]


class Softmax(_SoftmaxTransform, wraps="softmax", constructor=("dim",)):
    """torch.nn.Softmax: ``softmax`` along ``dim`` as a callable module."""


class LogSoftmax(_SoftmaxTransform, wraps="log_softmax", constructor=("dim",)):
    """torch.nn.LogSoftmax: ``log_softmax`` along ``dim`` as a callable module."""


class LinearCrossEntropyLoss:
    """torch.nn.LinearCrossEntropyLoss: a linear head and its cross-entropy, for NumPy.

    The module holds the head's parameters as arrays: ``linear_weight``, of torch's
    ``linear.weight`` shape (``num_classes * prod(out_features)``, ``in_features``), and
    ``linear_bias`` (None without ``bias``), drawn as torch's ``Linear`` draws them, from
    U(-1/sqrt(in_features), 1/sqrt(in_features)) (assign your own to them). Calling it with
    ``(input, target)`` returns :func:`fastloss.functional.linear_cross_entropy`;
    ``backward(grad_output=1.0)`` returns ``(grad_input, grad_linear_weight,
    grad_linear_bias)`` of the last successful call, the weight's in the module's layout;
    ``with_grad(input, target, out=None)`` both at once. ``dtype`` is float32 (torch's
    default) or float64; torch's ``device`` has no counterpart here.
    """

    def __init__(self, in_features: int, num_classes: int, *, out_features: Tuple[int, ...] = (), bias: bool = False,
                 dtype: Any = None, reduction: str = "mean", weight: Optional[np.ndarray] = None,
                 ignore_index: Optional[int] = None, label_smoothing: float = 0.0, options: Any = None) -> None:
        if weight is not None and weight.shape != (num_classes,):
            raise ValueError(f"expected weight shape to be {(num_classes,)}, got {tuple(weight.shape)}")
        smoothing = _checks.real("label_smoothing")(label_smoothing)
        if not 0.0 <= smoothing <= 1.0:
            raise ValueError(f"expected label_smoothing to be in range [0, 1], got {label_smoothing}")
        _checks.reduction_of(reduction, _checks.REDUCTIONS, "{} is not a valid value for reduction")
        self.in_features, self.num_classes = in_features, num_classes
        self.out_features = tuple(out_features)
        self.reduction, self.weight, self.ignore_index = reduction, weight, ignore_index
        self.label_smoothing, self.options = label_smoothing, options
        dtype = _checks.float_dtype("dtype")(dtype) or np.dtype(np.float32)
        outputs = num_classes * int(np.prod(self.out_features, dtype=np.int64))
        bound = 1.0 / np.sqrt(in_features) if in_features else 0.0
        rng = np.random.default_rng()
        self.linear_weight = rng.uniform(-bound, bound, (outputs, in_features)).astype(dtype)
        self.linear_bias = rng.uniform(-bound, bound, outputs).astype(dtype) if bias else None
        self._last: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def _head(self) -> Dict[str, Any]:
        """The functional's head arrays in its layout (views of the module's) and the options."""
        head = (self.num_classes, *self.out_features)
        return {"linear_bias": None if self.linear_bias is None else self.linear_bias.reshape(head),
                "weight": self.weight, "reduction": self.reduction, "ignore_index": self.ignore_index,
                "label_smoothing": self.label_smoothing}

    def _linear_weight(self) -> np.ndarray:
        return self.linear_weight.reshape(self.num_classes, *self.out_features, self.in_features)

    def _module_layout(self, grads: Tuple[Any, ...]) -> Tuple[Any, ...]:
        grad_input, grad_weight, grad_bias = grads
        return (grad_input, grad_weight.reshape(self.linear_weight.shape),
                None if grad_bias is None else grad_bias.reshape(-1))

    def __call__(self, input: np.ndarray, target: np.ndarray) -> Any:
        self._last = None  # a call that raises leaves no arrays for backward
        loss = F.linear_cross_entropy(input, self._linear_weight(), target, **self._head())
        self._last = (input, target)
        return loss

    forward = __call__

    def backward(self, grad_output: Any = 1.0) -> Tuple[Any, ...]:
        """The three gradients of the last successful call, from its arrays as they are now."""
        if self._last is None:
            raise RuntimeError("backward() called before a successful call of the loss (the last call raised, or "
                               "none was made)")
        input, target = self._last
        return self._module_layout(
            F.linear_cross_entropy_backward(grad_output, input, self._linear_weight(), target, **self._head()))

    def with_grad(self, input: np.ndarray, target: np.ndarray) -> Tuple[Any, Tuple[Any, ...]]:
        """``(loss, (grad_input, grad_linear_weight, grad_linear_bias))`` in one sweep."""
        loss, grads = F.linear_cross_entropy_with_grad(input, self._linear_weight(), target, **self._head())
        return loss, self._module_layout(grads)

    def __repr__(self) -> str:
        return (f"LinearCrossEntropyLoss(in_features={self.in_features}, num_classes={self.num_classes}, "
                f"out_features={self.out_features}, bias={self.linear_bias is not None}, "
                f"reduction={self.reduction!r}, ignore_index={self.ignore_index}, "
                f"label_smoothing={self.label_smoothing})")
