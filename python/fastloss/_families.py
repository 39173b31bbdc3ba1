"""How each family of declared losses calls the compiled core (``fastloss._core``).

A family binds a declaration's checked arguments to one core call and runs its forward,
backward or fused pass. The core checks every array argument itself (bindings) and scans
array values; what stays here is assembling gradients the core computes over a broadcast
shape into each operand's own shape.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, cast

import numpy as np

from . import _checks, _core

Grads = Tuple[np.ndarray, ...]


def sum_to_shape(grad: np.ndarray, shape: Tuple[int, ...], out: Optional[np.ndarray]) -> np.ndarray:
    """A gradient computed over a broadcast shape, summed over the axes an operand of ``shape``
    was broadcast along (into ``out`` when given)."""
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, extent in enumerate(shape) if extent == 1 and grad.shape[lead + i] != 1)
    # Half-precision gradients are summed in float32 and rounded once, as torch sums them.
    accumulate = np.float32 if grad.dtype.itemsize == 2 else None
    reduced = (grad.sum(axis=axes, keepdims=True, dtype=accumulate).astype(grad.dtype, copy=False).reshape(shape)
               if axes else grad.reshape(shape))
    if out is None:
        return reduced
    out[...] = reduced
    return out


def _shape_of(value: Any) -> Optional[Tuple[int, ...]]:
    return value.shape if isinstance(value, np.ndarray) else None


def _broadcast(*operands: Any) -> Optional[Tuple[int, ...]]:
    """The operands' broadcast shape; None when one is not an array or they do not broadcast
    (the core then reports it, naming the operand)."""
    shapes = [_shape_of(a) for a in operands]
    if any(s is None for s in shapes):
        return None
    if all(s == shapes[0] for s in shapes):  # the common case, without np.broadcast_shapes' cost
        return shapes[0]
    try:
        return np.broadcast_shapes(*shapes)  # type: ignore[arg-type]
    except ValueError:
        return None


class Elementwise:
    """Losses of one value per element, over the broadcast shape of their operands.

    The input is the first argument; ``target`` and ``aux`` name the target and the
    loss-specific operand (pos_weight, var, input2). ``aux_gradient`` says
    whether ``_backward`` also returns its gradient: "negated" (margin_ranking's input2: the
    negated input gradient) or "own_pass" (gaussian_nll's var: a second pass). With
    ``scalar_aux`` the operand may be a real number (gaussian_nll's var, as torch's
    ``var * ones_like(input)``), which has no gradient (None).
    """

    half_precision = True  # float16 and bfloat16 inputs (the element engine converts them)

    def __init__(self, loss: "_core.ElementwiseLoss", aux: Optional[str] = None,
                 aux_gradient: Optional[str] = None, scalar_aux: bool = False, target: str = "target") -> None:
        self.loss = loss
        self.target = target
        self.aux = aux
        self.aux_gradient = aux_gradient
        self.scalar_aux = scalar_aux

    def bind(self, decl: Any, args: Dict[str, Any], reduction: "_core.Reduction",
             options: Dict[str, Any]) -> "ElementwiseCall":
        input, target = args[decl.names[0]], args[self.target]
        aux = args[self.aux] if self.aux else None
        aux_is_scalar = self.scalar_aux and not isinstance(aux, np.ndarray)
        if aux_is_scalar:
            value = _checks.real(str(self.aux))(aux)
            # Every element's var, without a copy: a read-only zero-stride view.
            aux = np.broadcast_to(np.asarray(value, input.dtype), input.shape) if isinstance(input, np.ndarray) else value
        return ElementwiseCall(self, input, target, args.get("weight"), aux, aux_is_scalar, reduction,
                               _core.ElementwiseOptions(**options))


class ElementwiseCall:
    def __init__(self, family: Elementwise, input: Any, target: Any, weight: Any, aux: Any, aux_is_scalar: bool,
                 reduction: "_core.Reduction", options: "_core.ElementwiseOptions") -> None:
        self.family = family
        self.core_args = (family.loss, input, target, weight, aux, reduction, options)
        self.input = input
        self.aux = aux
        self.aux_gradient = None if aux_is_scalar else family.aux_gradient
        # The shape the core computes gradients over; they are summed back to each operand's.
        self.shape = _broadcast(input, target, *([aux] if family.aux_gradient == "negated" else []))

    def forward(self) -> Any:
        return _core.elementwise_forward(*self.core_args)

    def forward_parts(self) -> Tuple[float, float]:
        return _core.elementwise_forward_parts(*self.core_args)

    def _in_place(self) -> bool:
        """Whether the core's gradient has the input's shape (so it can be written into ``out``)."""
        return self.shape is None or self.shape == self.input.shape

    def _input_grad(self, grad: np.ndarray, out: Optional[np.ndarray]) -> np.ndarray:
        return grad if self._in_place() else sum_to_shape(grad, self.input.shape, out)

    def _aux_grads(self, grad: np.ndarray) -> Tuple[Optional[np.ndarray], ...]:
        if self.aux_gradient == "negated":
            return (sum_to_shape(np.negative(grad), self.aux.shape, None),)
        return (None,) if self.family.aux_gradient else ()

    def _core_out(self, out: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """The ``out`` the core writes: ``out`` itself, or None where the gradient is summed
        back to the input's shape here (``out`` then gets the core's checks first)."""
        if self._in_place() or out is None:
            return out
        _, input, target, weight, aux, _, _ = self.core_args
        _core.check_out(out, input, (target, weight, aux))
        return None

    def backward(self, grad_output: Any, out: Optional[np.ndarray]) -> Tuple[Optional[np.ndarray], ...]:
        # var's own pass reads the operands, so it runs before out (which may be the input) is written.
        var_grad = self._var_grad(grad_output) if self.aux_gradient == "own_pass" else None
        (grad,) = _core.elementwise_backward(grad_output, *self.core_args, out=self._core_out(out))
        aux_grads = (var_grad,) if var_grad is not None else self._aux_grads(grad)
        return (self._input_grad(grad, out), *aux_grads)

    def with_grad(self, out: Optional[np.ndarray]) -> Tuple[Any, ...]:
        # As in backward: var's own pass first.
        var_grad = self._var_grad(self._unit_grad_output()) if self.aux_gradient == "own_pass" else None
        loss, core_grad = _core.elementwise_with_grad(*self.core_args, out=self._core_out(out))
        grad = cast(np.ndarray, core_grad)
        aux_grads = (var_grad,) if var_grad is not None else self._aux_grads(grad)
        return (loss, self._input_grad(grad, out), *aux_grads)

    def _unit_grad_output(self) -> Any:
        """grad_output = 1 for every loss value: a scalar, or ones over the shape for 'none'."""
        none = self.core_args[5] == _core.Reduction.none
        return np.ones(self.shape, self.input.dtype) if none and self.shape is not None else 1.0

    def _var_grad(self, grad_output: Any) -> np.ndarray:
        """gaussian_nll_loss's d loss / d var: the kernel's var gradient over the call's shape,
        summed to var's shape (var one dimension short of the input counts as var[..., None])."""
        loss, input, target, weight, var, reduction, options = self.core_args
        var_options = _core.ElementwiseOptions(full=options.full, eps=options.eps, var_gradient=True)
        (grad,) = _core.elementwise_backward(grad_output, loss, input, target, weight, var, reduction, var_options)
        short = var.ndim == input.ndim - 1 and var.shape == input.shape[:-1]
        return sum_to_shape(grad, var.shape + (1,) if short else var.shape, None).reshape(var.shape)


class ClassLosses:
    """Losses over a class axis (1, or 0 for an unbatched input) with class-index or
    probability targets."""

    half_precision = True  # float16 and bfloat16 inputs (the row engine converts them as it stages rows)

    def __init__(self, loss: "_core.ClassLoss") -> None:
        self.loss = loss

    def bind(self, decl: Any, args: Dict[str, Any], reduction: "_core.Reduction",
             options: Dict[str, Any]) -> "CoreCall":
        # softmax_focal_loss's alpha: a (C,) array is an operand, a number an option.
        alpha = options.pop("alpha", None)
        alpha_array = alpha if isinstance(alpha, np.ndarray) else None
        if alpha_array is None and alpha is not None:
            options["alpha"] = alpha
        return CoreCall(_core.class_loss_forward, _core.class_loss_backward, _core.class_loss_with_grad,
                        _core.class_loss_forward_parts, (self.loss, args["input"], args["target"], args.get("weight"), alpha_array, reduction,
                         _core.ClassLossOptions(**options)))


class RowLosses:
    """Losses of one value per row of the last axis, over any leading dimensions."""

    half_precision = True  # float16 and bfloat16 inputs (the row engine converts them as it stages rows)

    def __init__(self, loss: "_core.RowLoss", inputs: Sequence[str]) -> None:
        self.loss = loss
        self.inputs = tuple(inputs)

    def bind(self, decl: Any, args: Dict[str, Any], reduction: "_core.Reduction",
             options: Dict[str, Any]) -> "CoreCall":
        inputs = [args[name] for name in self.inputs]
        target = args.get("target")
        return CoreCall(_core.row_loss_forward, _core.row_loss_backward, _core.row_loss_with_grad,
                        _core.row_loss_forward_parts, (self.loss, inputs, target, args.get("weight"), reduction, _core.RowLossOptions(**options)))


class Ctc:
    """ctc_loss: its lengths, sequences or arrays of integers, become arrays (the core checks
    their dtype and values, with torch's messages)."""

    def bind(self, decl: Any, args: Dict[str, Any], reduction: "_core.Reduction",
             options: Dict[str, Any]) -> "CoreCall":
        lengths = [value if isinstance(value, np.ndarray) else np.asarray(value)
                   for value in (args["input_lengths"], args["target_lengths"])]
        return CoreCall(_core.ctc_loss_forward, _core.ctc_loss_backward, _core.ctc_loss_with_grad,
                        _core.ctc_loss_forward_parts, (args["log_probs"], args["targets"], *lengths, reduction, options["blank"],
                         options["zero_infinity"]))


class CoreCall:
    """A call whose core functions return every gradient the public functions return."""

    def __init__(self, forward: Any, backward: Any, with_grad: Any, forward_parts: Any,
                 core_args: Tuple[Any, ...]) -> None:
        self._forward, self._backward, self._with_grad = forward, backward, with_grad
        self._forward_parts = forward_parts
        self.core_args = core_args

    def forward(self) -> Any:
        return self._forward(*self.core_args)

    def forward_parts(self) -> Tuple[float, float]:
        """(sum, denominator) of the reduced loss: the float64 sum of the losses and what the
        reduction divides it by."""
        return self._forward_parts(*self.core_args)  # type: ignore[no-any-return]

    def backward(self, grad_output: Any, out: Optional[np.ndarray]) -> Grads:
        return tuple(self._backward(grad_output, *self.core_args, out=out))

    def with_grad(self, out: Optional[np.ndarray]) -> Tuple[Any, ...]:
        return tuple(self._with_grad(*self.core_args, out=out))
