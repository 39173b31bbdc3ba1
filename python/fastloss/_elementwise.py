"""The calls every elementwise loss makes into the core, with the broadcast handling shared.

A loss's public triple (forward, ``_backward``, ``_with_grad``) checks its arguments, then
hands the core a :class:`Spec` through these three functions. Gradients computed over the
broadcast shape are summed back to the differentiated operand's shape.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _core
from ._arrays import GradOutput, Loss, sum_to_shape


class Spec(NamedTuple):
    """One core call: the loss, its optional operands and its scalar options."""

    loss: _core.ElementwiseLoss
    reduction: str
    weight: Optional[np.ndarray] = None
    aux: Optional[np.ndarray] = None
    params: Sequence[float] = ()


def _broadcast_shape(input: np.ndarray, target: np.ndarray) -> Tuple[int, ...]:
    if input.shape == target.shape:  # the common case, without np.broadcast_shapes' cost
        return input.shape
    try:
        return np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(
            f"target of shape {target.shape} cannot be broadcast against input of shape {input.shape}"
        ) from None


def forward(spec: Spec, input: np.ndarray, target: np.ndarray) -> Loss:
    return _core.elementwise_forward(spec.loss, input, target, spec.weight, spec.aux, spec.reduction,
                                     list(spec.params))


def backward(spec: Spec, grad_output: GradOutput, input: np.ndarray, target: np.ndarray,
             out: Optional[np.ndarray] = None, shape: Optional[Tuple[int, ...]] = None) -> np.ndarray:
    """The kernel's gradient summed to ``shape`` (default: the input's shape)."""
    shape = input.shape if shape is None else shape
    args = (spec.loss, grad_output, input, target, spec.weight, spec.aux, spec.reduction, list(spec.params))
    if shape == _broadcast_shape(input, target):
        return _core.elementwise_backward(*args, out=out)
    return sum_to_shape(_core.elementwise_backward(*args), shape, out)


def with_grad(spec: Spec, input: np.ndarray, target: np.ndarray,
              out: Optional[np.ndarray] = None) -> Tuple[Loss, np.ndarray]:
    """``(loss, gradient)`` from one fused pass; ``out`` may be ``input``."""
    args = (spec.loss, input, target, spec.weight, spec.aux, spec.reduction, list(spec.params))
    if input.shape == _broadcast_shape(input, target):
        return _core.elementwise_with_grad(*args, out=out)
    loss, grad = _core.elementwise_with_grad(*args)
    return loss, sum_to_shape(grad, input.shape, out)
