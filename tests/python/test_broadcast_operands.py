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


@pytest.mark.parametrize("variant", ["_backward", "_with_grad"])
def test_out_beside_a_broadcast_input_gets_the_core_checks(rng, variant):
    # An input broadcast against its target has its gradient summed back to its own shape
    # after the kernel: out still gets every check out gets elsewhere, before anything runs.
    x = rng.standard_normal((1, 5))
    target = rng.standard_normal((4, 5))
    call = getattr(F, "mse_loss" + variant)
    args = (1.0, x, target) if variant == "_backward" else (x, target)
    target_before = target.copy()
    bad_outs = [
        (np.empty((4, 5)), ValueError, r"out must have shape \(1, 5\), got \(4, 5\)"),
        (np.empty((1, 5), np.float32), TypeError, "out must have dtype float64"),
        (target[:1], ValueError, "out overlaps an operand it would overwrite"),
    ]
    for out, error, message in bad_outs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's warning about MSE's broadcast target
            with pytest.raises(error, match=message):
                call(*args, out=out)
    np.testing.assert_array_equal(target, target_before)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = call(*args)
        grad = expected if variant == "_backward" else expected[1]
        x_in_place = x.copy()
        args_in_place = (1.0, x_in_place, target) if variant == "_backward" else (x_in_place, target)
        result = call(*args_in_place, out=x_in_place)
    assert (result if variant == "_backward" else result[1]) is x_in_place
    _assert_bitwise(grad, x_in_place, "gradient into the input itself")


@pytest.mark.parametrize("var_shape", [(6, 3), (6, 1), (6,)], ids=str)
@pytest.mark.parametrize("variant", ["_backward", "_with_grad"])
def test_gaussian_nll_var_gradient_with_out_the_input(rng, var_shape, variant):
    # var's gradient reads the input: out=input must not change it (its pass runs first).
    x = rng.standard_normal((6, 3))
    target = rng.standard_normal((6, 3))
    var = rng.uniform(0.5, 2.0, var_shape)
    call = getattr(F, "gaussian_nll_loss" + variant)
    head = (0.5,) if variant == "_backward" else ()
    expected = call(*head, x, target, var, reduction="sum")
    x_in_place = x.copy()
    got = call(*head, x_in_place, target, var, reduction="sum", out=x_in_place)
    for k, (e, g) in enumerate(zip(expected, got)):
        _assert_bitwise(e, g, f"result {k}")
    # out=var is an operand it would overwrite: rejected, var untouched (a fuzzing finding,
    # for a 0-d var beside a 0-d input broadcast against its target).
    x0, target0, var0 = np.full((), 0.5), rng.standard_normal(3), np.ones(())
    with pytest.raises(ValueError, match="out overlaps an operand"):
        call(*head, x0, target0, var0, reduction="sum", out=var0)
    assert var0 == 1.0
