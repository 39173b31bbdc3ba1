"""Broadcast operands of the elementwise losses: read where they lie, never gathered.

A (C,) operand over (N, C) data is read from a tile laid out once per call, an (N, 1) one is
broadcast along each row, and the contiguous operands beside them stream in place. Each way
must give, bitwise, what the fully materialised operands (np.broadcast_to(...).copy()) give:
forward for every reduction, backward, the fused pass, float32 and float64, shapes around
the vector widths and the engine's chunk of 8192 elements, on every SIMD target; and the
reductions must not depend on the thread count.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastloss
import fastloss.functional as F

# (rows, classes): C below, at and off the vector widths; N * C below one chunk, across a few
# and with a period longer than a chunk (C > 8192, read in place or gathered where a chunk
# wraps around a row).
SHAPES = [(1, 1), (3, 5), (7, 16), (5, 17), (300, 37), (64, 1024), (3, 8192), (2, 10001)]
REDUCTIONS = ["none", "mean", "sum"]


def _cases(rng, dtype, rows, classes):
    """(name, loss, input, target, keyword operands) of each broadcast the losses take."""
    x = rng.standard_normal((rows, classes)).astype(dtype)
    probs = rng.uniform(0.01, 0.99, (rows, classes)).astype(dtype)
    labels = (rng.random((rows, classes)) < 0.5).astype(dtype)
    per_class = rng.uniform(0.5, 2.0, classes).astype(dtype)
    per_row = rng.uniform(0.5, 2.0, (rows, 1)).astype(dtype)
    bcel = "binary_cross_entropy_with_logits"
    return [
        ("pos_weight (C,)", bcel, x, labels, {"pos_weight": per_class}),
        ("weight (C,)", bcel, x, labels, {"weight": per_class}),
        ("weight (N, 1)", bcel, x, labels, {"weight": per_row}),
        ("weight (N, 1) and pos_weight (C,)", bcel, x, labels, {"weight": per_row, "pos_weight": per_class}),
        ("weight (1,)", bcel, x, labels, {"weight": per_class[:1]}),
        ("bce weight (C,)", "binary_cross_entropy", probs, labels, {"weight": per_class}),
        ("mse target (C,)", "mse_loss", x, per_class, {}),
        ("mse target (N, 1)", "mse_loss", x, per_row, {}),
        ("mse int target (C,)", "mse_loss", x, np.arange(classes, dtype=np.int16) % 5, {}),
        ("mse bool target (N, 1)", "mse_loss", x, (per_row > 1.2), {}),
        ("gaussian_nll var (N, 1)", "gaussian_nll_loss", x, probs, {"var": per_row}),
    ]


def _materialised(x, target, operands):
    shape = x.shape
    return np.broadcast_to(target, shape).copy(), {k: np.broadcast_to(v, shape).copy() for k, v in operands.items()}


def _assert_bitwise(expected, actual, what):
    expected, actual = np.asarray(expected), np.asarray(actual)
    assert expected.dtype == actual.dtype and expected.shape == actual.shape, what
    assert expected.tobytes() == actual.tobytes(), what


def _all_results(loss, x, target, operands, reduction):
    """Forward, the input's gradient from backward, and the fused loss and gradient of one call."""
    forward = getattr(F, loss)
    backward = getattr(F, loss + "_backward")
    fused = getattr(F, loss + "_with_grad")
    grad_output = (np.linspace(-1.0, 1.0, x.size).reshape(x.shape).astype(x.dtype) if reduction == "none"
                   else np.asarray(0.75, dtype=x.dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's warning about MSE's broadcast target
        grads = backward(grad_output, x, target, reduction=reduction, **operands)
        # The input's gradient (gaussian_nll's var gradient is summed to var's own shape).
        return ([forward(x, target, reduction=reduction, **operands), grads[0] if isinstance(grads, tuple) else grads]
                + list(fused(x, target, reduction=reduction, **operands))[:2])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_broadcast_operands_equal_materialised_bitwise(simd_target, dtype, rng, shape):
    for name, loss, x, target, operands in _cases(rng, dtype, *shape):
        full_target, full_operands = _materialised(x, target, operands)
        for reduction in REDUCTIONS:
            expected = _all_results(loss, x, full_target, full_operands, reduction)
            actual = _all_results(loss, x, target, operands, reduction)
            assert len(expected) == len(actual)
            for k, (e, a) in enumerate(zip(expected, actual)):
                _assert_bitwise(e, a, f"{name} {reduction} result {k}")


def test_fused_none_equals_forward_and_backward_bitwise(dtype, rng):
    # reduction "none"'s fused pass is one pass: the losses of the forward and the gradient
    # of the backward with a grad_output of ones, bitwise.
    x = rng.standard_normal((300, 37)).astype(dtype)
    y = (rng.random((300, 37)) < 0.5).astype(dtype)
    pos_weight = rng.uniform(0.5, 2.0, 37).astype(dtype)
    weight = rng.uniform(0.5, 2.0, (300, 1)).astype(dtype)
    kw = {"pos_weight": pos_weight, "weight": weight, "reduction": "none"}
    losses, grad = F.binary_cross_entropy_with_logits_with_grad(x, y, **kw)
    _assert_bitwise(F.binary_cross_entropy_with_logits(x, y, **kw), losses, "losses")
    _assert_bitwise(F.binary_cross_entropy_with_logits_backward(np.ones_like(x), x, y, **kw), grad, "gradient")
    # In place: the gradient over the input itself.
    x_copy = x.copy()
    in_place = F.binary_cross_entropy_with_logits_with_grad(x_copy, y, out=x_copy, **kw)
    _assert_bitwise(losses, in_place[0], "losses in place")
    _assert_bitwise(grad, x_copy, "gradient in place")


@pytest.mark.parametrize("operand", ["pos_weight", "weight_rows"])
def test_broadcast_reductions_do_not_depend_on_the_thread_count(rng, operand):
    x = rng.standard_normal((1000, 131)).astype(np.float32)
    y = (rng.random((1000, 131)) < 0.5).astype(np.float32)
    kw = ({"pos_weight": rng.uniform(0.5, 2.0, 131).astype(np.float32)} if operand == "pos_weight"
          else {"weight": rng.uniform(0.5, 2.0, (1000, 1)).astype(np.float32)})
    previous = fastloss.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3, 5):
            fastloss.set_num_threads(threads)
            results.append([F.binary_cross_entropy_with_logits(x, y, reduction=r, **kw) for r in ("mean", "sum")]
                           + list(F.binary_cross_entropy_with_logits_with_grad(x, y, **kw)))
    finally:
        fastloss.set_num_threads(previous)
    for other in results[1:]:
        for e, a in zip(results[0], other):
            _assert_bitwise(e, a, "thread count")
