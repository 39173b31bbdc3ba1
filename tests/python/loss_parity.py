"""One parity check against torch 2.13 shared by the elementwise loss tests: forward,
``_backward`` against autograd, and the fused ``_with_grad``, on any memory layout; and
torchvision's sigmoid_focal_loss in torch ops, the referee of fastloss's."""

from __future__ import annotations

from typing import Callable, Dict, Sequence

import numpy as np
import torch

import fastloss.functional as F
from conftest import tolerances

LAYOUTS = {
    "contiguous": lambda a: a,
    "transposed": lambda a: np.ascontiguousarray(a.T).T,
    "reversed": lambda a: np.ascontiguousarray(a[::-1])[::-1],
}


def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss (0.28), verbatim in torch ops."""
    p = torch.sigmoid(inputs)
    ce_loss = torch.nn.functional.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


def as_torch(a, grad: bool = False):
    return torch.from_numpy(np.ascontiguousarray(a)).requires_grad_(grad)


def check_parity(name: str, torch_fn: Callable, operands: Sequence[np.ndarray], options: Dict,
                 dtype, layout: str, rng, grad_operands: Sequence[int] = (0,), tol: Dict | None = None) -> None:
    """``F.<name>(*operands, **options)`` against ``torch_fn`` on the same operands.

    ``grad_operands`` are the positions whose gradients ``<name>_backward`` returns (one array,
    or a tuple in this order); ``<name>_with_grad`` returns the loss then the same gradients.
    """
    tol = tol or tolerances(dtype)
    views = [LAYOUTS[layout](a) for a in operands]
    tensors = [as_torch(a, grad=i in grad_operands) for i, a in enumerate(operands)]
    # Array options (weight) reach torch as tensors and fastloss as they are.
    torch_options = {k: as_torch(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    expected = torch_fn(*tensors, **torch_options)
    actual = getattr(F, name)(*views, **options)
    assert np.asarray(actual).dtype == dtype
    assert np.shape(actual) == tuple(expected.shape)
    np.testing.assert_allclose(actual, expected.detach().numpy(), **tol)

    reduced = options.get("reduction", "mean") != "none"
    go = 2.0 if reduced else rng.uniform(0.5, 1.5, size=expected.shape).astype(dtype)
    expected.backward(torch.as_tensor(go, dtype=tensors[0].dtype))
    grads = getattr(F, name + "_backward")(go, *views, **options)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(grad_operands)
    for grad, position in zip(grads, grad_operands):
        assert grad.shape == operands[position].shape and grad.dtype == dtype
        np.testing.assert_allclose(grad, tensors[position].grad.numpy(), **tol)

    fused = getattr(F, name + "_with_grad")(*views, **options)
    np.testing.assert_allclose(fused[0], expected.detach().numpy(), **tol)
    unit_go = 1.0 if reduced else np.ones(expected.shape, dtype)
    unit = getattr(F, name + "_backward")(unit_go, *views, **options)
    unit = unit if isinstance(unit, tuple) else (unit,)
    for fused_grad, grad in zip(fused[1:], unit):
        np.testing.assert_allclose(fused_grad, grad, **tol)
