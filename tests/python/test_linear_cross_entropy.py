"""linear_cross_entropy: parity with torch 2.13's reference path (linear, then cross_entropy)
over every option, its three gradients against torch autograd and finite differences, the
blocks (V not a multiple of anything, blocks of one row), determinism across thread counts,
ignored and all-ignored targets, N = 1, unbatched and K-dimensional heads, ``out``, the
module, and errors with torch's messages."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
from fastloss import _linear
from conftest import finite_difference_grad, tolerances

torch = pytest.importorskip("torch")
TF = torch.nn.functional

D, V = 6, 13  # V prime: no block or vector width divides it


@pytest.fixture(params=[None, 1, 3], ids=["one-block", "row-blocks", "three-row-blocks"])
def block_rows(request, monkeypatch):
    """The logits block: the whole batch, one row, or three rows (a short last block)."""
    if request.param is not None:
        monkeypatch.setattr(_linear, "_BLOCK_BYTES", request.param * V * 8)
        monkeypatch.setattr(_linear, "_WEIGHT_CHUNK_BYTES", 4 * D * 8)  # class chunks of 4 or 8 rows
    return request.param


def make_case(rng, dtype, n, target_kind, ignore=True, bias=True, weight=False, out_features=()):
    batch = (n,) if n is not None else ()
    input = rng.standard_normal((*batch, D)).astype(dtype)
    linear_weight = rng.standard_normal((V, *out_features, D)).astype(dtype)
    linear_bias = rng.standard_normal((V, *out_features)).astype(dtype) if bias else None
    class_weight = rng.uniform(0.5, 2.0, V).astype(dtype) if weight else None
    if target_kind == "probabilities":
        target = rng.dirichlet(np.ones(V), size=(*batch, *out_features)).astype(dtype)
        target = np.moveaxis(target, -1, 1 if batch else 0)
    else:
        target = rng.integers(0, V, (*batch, *out_features)).astype(target_kind)
        if ignore and target.ndim:
            target.reshape(-1)[::3] = -100
    return input, linear_weight, target, linear_bias, class_weight


def torch_reference(input, linear_weight, target, linear_bias, class_weight, reduction, label_smoothing,
                    ignore_index=None, grad_output=None):
    """torch's reference path (options=None): loss and the three gradients (float64 autograd)."""
    ts = [None if a is None else torch.tensor(a, requires_grad=a.dtype.kind == "f")
          for a in (input, linear_weight, linear_bias)]
    t = torch.tensor(target.astype(np.int64) if target.dtype.kind == "i" else target)
    loss = TF.linear_cross_entropy(ts[0], ts[1], t, linear_bias=ts[2],
                                   weight=None if class_weight is None else torch.tensor(class_weight),
                                   reduction=reduction, ignore_index=ignore_index, label_smoothing=label_smoothing)
    go = torch.ones_like(loss) if grad_output is None else torch.as_tensor(grad_output)
    loss.backward(go)
    return loss.detach().numpy(), tuple(None if a is None else a.grad.numpy() for a in ts)


def assert_close(actual, expected, dtype):
    tol = tolerances(dtype)
    if dtype == np.float32:  # the logits themselves are rounded to float32 (d terms)
        tol = {"rtol": 2e-4, "atol": 2e-5}
    np.testing.assert_allclose(actual, expected, **tol)


OPTIONS = list(itertools.product(["mean", "sum", "none"], [0.0, 0.2], [False, True], [False, True]))


@pytest.mark.parametrize("reduction,label_smoothing,weight,bias", OPTIONS)
@pytest.mark.parametrize("target_kind", ["int64", "int32", "probabilities"])
def test_parity_with_torch_reference_path(rng, dtype, block_rows, reduction, label_smoothing, weight, bias,
                                          target_kind):
    case = make_case(rng, dtype, 7, target_kind, bias=bias, weight=weight)
    input, linear_weight, target, linear_bias, class_weight = case
    kwargs = dict(linear_bias=linear_bias, weight=class_weight, reduction=reduction, label_smoothing=label_smoothing)
    ref_loss, ref_grads = torch_reference(*(a.astype(np.float64) if a is not None and a.dtype.kind == "f" else a
                                            for a in case), reduction, label_smoothing)
    loss = F.linear_cross_entropy(input, linear_weight, target, **kwargs)
    fused_loss, grads = F.linear_cross_entropy_with_grad(input, linear_weight, target, **kwargs)
    unit = 1.0 if reduction != "none" else np.ones(loss.shape, dtype)
    backward = F.linear_cross_entropy_backward(unit, input, linear_weight, target, **kwargs)
    assert np.asarray(loss).dtype == dtype and np.asarray(loss).shape == ref_loss.shape
    assert_close(loss, ref_loss, dtype)
    np.testing.assert_array_equal(fused_loss, loss)
    for grad, same, ref in zip(grads, backward, ref_grads):
        if ref is None:
            assert grad is None and same is None
            continue
        assert grad.dtype == dtype
        np.testing.assert_array_equal(grad, same)  # the fused sweep and the backward agree bitwise
        assert_close(grad, ref, dtype)


@pytest.mark.parametrize("n", [None, 1, 5], ids=["unbatched", "N=1", "N=5"])
@pytest.mark.parametrize("target_kind", ["int64", "probabilities"])
def test_unbatched_and_single_row(rng, block_rows, n, target_kind):
    case = make_case(rng, np.float64, n, target_kind, ignore=False)
    ref_loss, ref_grads = torch_reference(*case, "mean", 0.1)
    input, linear_weight, target, linear_bias, _ = case
    loss, grads = F.linear_cross_entropy_with_grad(input, linear_weight, target, linear_bias=linear_bias,
                                                   label_smoothing=0.1)
    assert_close(loss, ref_loss, np.float64)
    for grad, ref in zip(grads, ref_grads):
        assert grad.shape == ref.shape
        assert_close(grad, ref, np.float64)
    losses = F.linear_cross_entropy(input, linear_weight, target, linear_bias=linear_bias, reduction="none")
    assert losses.shape == (() if n is None else (n,))


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("target_kind", ["int64", "probabilities"])
def test_k_dimensional_head(rng, block_rows, reduction, target_kind):
    case = make_case(rng, np.float64, 4, target_kind, weight=target_kind == "int64", out_features=(3,))
    ref_loss, ref_grads = torch_reference(*case, reduction, 0.1, grad_output=None)
    input, linear_weight, target, linear_bias, class_weight = case
    loss, grads = F.linear_cross_entropy_with_grad(input, linear_weight, target, linear_bias=linear_bias,
                                                   weight=class_weight, reduction=reduction, label_smoothing=0.1)
    assert_close(loss, ref_loss, np.float64)
    for grad, ref in zip(grads, ref_grads):
        assert_close(grad, ref, np.float64)


def test_backward_scales_by_grad_output(rng, block_rows):
    case = make_case(rng, np.float64, 7, "int64", weight=True)
    input, linear_weight, target, linear_bias, class_weight = case
    for reduction, grad_output in [("mean", 2.5), ("sum", -0.5), ("none", rng.standard_normal(7))]:
        _, ref_grads = torch_reference(*case, reduction, 0.0, grad_output=grad_output)
        grads = F.linear_cross_entropy_backward(grad_output, input, linear_weight, target, linear_bias=linear_bias,
                                                weight=class_weight, reduction=reduction)
        for grad, ref in zip(grads, ref_grads):
            assert_close(grad, ref, np.float64)


@pytest.mark.parametrize("target_kind", ["int64", "probabilities"])
def test_finite_differences_of_the_three_gradients(rng, block_rows, target_kind):
    input, linear_weight, target, linear_bias, class_weight = make_case(
        rng, np.float64, 4, target_kind, weight=target_kind == "int64")
    kwargs = dict(weight=class_weight, label_smoothing=0.15)
    _, grads = F.linear_cross_entropy_with_grad(input, linear_weight, target, linear_bias=linear_bias, **kwargs)
    numeric = (
        finite_difference_grad(lambda x: F.linear_cross_entropy(x, linear_weight, target, linear_bias=linear_bias,
                                                                **kwargs), input),
        finite_difference_grad(lambda w: F.linear_cross_entropy(input, w, target, linear_bias=linear_bias, **kwargs),
                               linear_weight),
        finite_difference_grad(lambda b: F.linear_cross_entropy(input, linear_weight, target, linear_bias=b, **kwargs),
                               linear_bias),
    )
    for grad, approx in zip(grads, numeric):
        np.testing.assert_allclose(grad, approx, rtol=1e-6, atol=1e-8)


def test_ignored_rows_contribute_nothing(rng, block_rows):
    input, linear_weight, target, linear_bias, _ = make_case(rng, np.float64, 6, "int64", ignore=False)
    target[[1, 4]] = 7
    _, (gi, gw, gb) = F.linear_cross_entropy_with_grad(input, linear_weight, target, linear_bias=linear_bias,
                                                       ignore_index=7, reduction="sum")
    kept = [0, 2, 3, 5]
    loss, (gi_kept, gw_kept, gb_kept) = F.linear_cross_entropy_with_grad(
        input[kept], linear_weight, target[kept], linear_bias=linear_bias, reduction="sum")
    np.testing.assert_array_equal(gi[[1, 4]], 0)
    np.testing.assert_allclose(gi[kept], gi_kept, rtol=1e-14)
    np.testing.assert_allclose(gw, gw_kept, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gb, gb_kept, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n", [0, 5])
def test_every_target_ignored_gives_nan_mean_and_zero_gradients(rng, block_rows, dtype, n):
    input, linear_weight, target, linear_bias, _ = make_case(rng, dtype, n, "int64")
    target[...] = -100
    ref_loss, ref_grads = torch_reference(input, linear_weight, target, linear_bias, None, "mean", 0.1)
    loss, grads = F.linear_cross_entropy_with_grad(input, linear_weight, target, linear_bias=linear_bias,
                                                   label_smoothing=0.1)
    assert np.isnan(loss) and np.isnan(ref_loss)
    for grad, ref in zip(grads, ref_grads):
        np.testing.assert_array_equal(grad, ref)
        np.testing.assert_array_equal(grad, 0)


def test_bitwise_identical_for_any_thread_count(rng, block_rows):
    input, linear_weight, target, linear_bias, class_weight = make_case(rng, np.float32, 9, "int64", weight=True)
    previous = fastloss.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3, 7):
            fastloss.set_num_threads(threads)
            results.append(F.linear_cross_entropy_with_grad(input, linear_weight, target, linear_bias=linear_bias,
                                                            weight=class_weight, label_smoothing=0.1))
    finally:
        fastloss.set_num_threads(previous)
    for loss, grads in results[1:]:
        assert loss.tobytes() == results[0][0].tobytes()
        for grad, first in zip(grads, results[0][1]):
            assert grad.tobytes() == first.tobytes()


def test_out_receives_the_gradients_and_may_be_the_input(rng, block_rows):
    input, linear_weight, target, linear_bias, _ = make_case(rng, np.float64, 7, "int64")
    loss, expected = F.linear_cross_entropy_with_grad(input, linear_weight, target, linear_bias=linear_bias)
    out = (input.copy(), np.empty_like(linear_weight), np.empty_like(linear_bias))
    in_place = out[0]
    loss2, grads = F.linear_cross_entropy_with_grad(in_place, linear_weight, target, linear_bias=linear_bias, out=out)
    assert loss2 == loss
    for grad, given, ref in zip(grads, out, expected):
        assert grad is given
        np.testing.assert_array_equal(grad, ref)
    no_bias = F.linear_cross_entropy_backward(1.0, input, linear_weight, target,
                                              out=(np.empty_like(input), np.empty_like(linear_weight), None))
    assert no_bias[2] is None


def test_module(rng):
    input, _, target, _, class_weight = make_case(rng, np.float64, 5, "int64")
    module = fastloss.nn.LinearCrossEntropyLoss(D, V, bias=True, weight=class_weight, label_smoothing=0.1,
                                                dtype=np.float64)
    assert module.linear_weight.shape == (V, D) and module.linear_bias.shape == (V,)
    assert np.abs(module.linear_weight).max() <= 1 / np.sqrt(D)
    loss = module(input, target)
    kwargs = dict(linear_bias=module.linear_bias, weight=class_weight, label_smoothing=0.1)
    assert loss == F.linear_cross_entropy(input, module.linear_weight, target, **kwargs)
    grads = module.backward()
    expected = F.linear_cross_entropy_backward(1.0, input, module.linear_weight, target, **kwargs)
    for grad, ref in zip(grads, expected):
        np.testing.assert_array_equal(grad, ref)
    with pytest.raises(ValueError, match=r"expected label_smoothing to be in range \[0, 1\], got 1.5"):
        fastloss.nn.LinearCrossEntropyLoss(D, V, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"expected weight shape to be \(13,\), got \(3,\)"):
        fastloss.nn.LinearCrossEntropyLoss(D, V, weight=np.ones(3))


def test_errors_with_torch_messages(rng):
    input, linear_weight, target, linear_bias, _ = make_case(rng, np.float64, 4, "int64")
    lce = F.linear_cross_entropy
    with pytest.raises(ValueError, match="expected input with dimensionality 1 or 2, got 3"):
        lce(input[None], linear_weight, target)
    with pytest.raises(ValueError, match="expected linear_weight with dimensionality at least 2, got 1"):
        lce(input, linear_weight[0], target)
    with pytest.raises(ValueError, match=r"expected equal input and linear_weight last dimensions \(in_features\), "
                                         r"got 5 and 6, respectively"):
        lce(input[:, :5], linear_weight, target)
    with pytest.raises(ValueError, match=r"expected linear_bias shape \(13,\), got \(12,\)"):
        lce(input, linear_weight, target, linear_bias=linear_bias[:12])
    with pytest.raises(ValueError, match="requires batched input"):
        lce(input[0], linear_weight[:, None], target[0])
    probabilities = np.full((4, V), 1.0 / V)
    with pytest.raises(ValueError, match="ignore_index cannot be specified when target contains probabilities"):
        lce(input, linear_weight, probabilities, ignore_index=-100)
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        lce(input, linear_weight, target, reduction="bad")
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0. Got: 2.0"):
        lce(input, linear_weight, target, label_smoothing=2.0)
    with pytest.raises(TypeError, match="linear_weight must have the input's dtype float64, got float32"):
        lce(input, linear_weight.astype(np.float32), target)
    with pytest.raises(TypeError, match="input must be a numpy.ndarray of float32 or float64"):
        lce(input.tolist(), linear_weight, target)
    # Targets and class weights: cross_entropy's checks, before any product.
    bad = target.copy()
    bad[2] = V
    with pytest.raises(IndexError, match="Target 13 is out of bounds."):
        lce(input, linear_weight, bad)
    with pytest.raises(ValueError, match="Expected input batch_size"):
        lce(input, linear_weight, target[:3])
    with pytest.raises(TypeError):
        lce(input, linear_weight, probabilities.astype(np.float32))
    with pytest.raises(ValueError, match="read-only"):
        readonly = np.empty_like(linear_weight)
        readonly.flags.writeable = False
        F.linear_cross_entropy_with_grad(input, linear_weight, target, out=(np.empty_like(input), readonly, None))
    with pytest.raises(ValueError, match="overlaps an operand"):
        F.linear_cross_entropy_with_grad(input, linear_weight, target,
                                         out=(np.empty_like(input), linear_weight, None))


def test_probability_targets_accept_no_explicit_ignore_index_but_torch_default(rng):
    """torch maps ignore_index=None to -100; cross_entropy's own default then applies."""
    input, linear_weight, target, linear_bias, _ = make_case(rng, np.float64, 3, "int64", ignore=False)
    target[0] = -100
    ref_loss, _ = torch_reference(input, linear_weight, target, linear_bias, None, "sum", 0.0)
    assert_close(F.linear_cross_entropy(input, linear_weight, target, linear_bias=linear_bias, reduction="sum"),
                 ref_loss, np.float64)
