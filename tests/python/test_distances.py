"""pairwise_distance, cosine_similarity and triplet_margin_with_distance_loss against torch 2.13
(values and autograd gradients, float32 and float64, every option and reduction, swap, each
kind of distance function), finite differences, NaN propagation and torch's messages.

These functions are not described by reliability_specs (a Python ``distance_function``, no
``out=``: see DEDICATED_TESTS there), so this module holds all their checks.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastloss.functional as F
from conftest import finite_difference_grad, tolerances
from fastloss import nn


def _leaves(*arrays):
    return [torch.tensor(a, requires_grad=True) for a in arrays]


def _grads(tensors):
    return [np.zeros(t.shape) if t.grad is None else t.grad.numpy() for t in tensors]


def _assert_close(actual, expected, dtype, what=""):
    expected = np.asarray(expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected)
    assert np.shape(actual) == expected.shape, what
    assert np.asarray(actual).dtype == np.dtype(dtype), what
    np.testing.assert_allclose(np.asarray(actual), expected, err_msg=what, **tolerances(dtype))


def _check_distance(name, x1, x2, rng, **options):
    """fastloss's ``name`` and ``name_backward`` against torch's function and autograd."""
    dtype = x1.dtype.type
    a, b = _leaves(x1, x2)
    expected = getattr(TF, name)(a, b, **options)
    grad_output = np.asarray(rng.uniform(0.5, 1.5, tuple(expected.shape)), dtype)
    expected.backward(torch.tensor(grad_output))
    _assert_close(getattr(F, name)(x1, x2, **options), expected, dtype, "value")
    for got, want in zip(getattr(F, name + "_backward")(grad_output, x1, x2, **options), _grads((a, b))):
        _assert_close(got, want.astype(dtype), dtype, "gradient")


# --- pairwise_distance ----------------------------------------------------------------------

NORMS = [2.0, 1.0, 3.0, 1.5, 0.5, 0.0, -1.0, math.inf, -math.inf]
SHAPES = [((5, 7), (5, 7)), ((5, 7), (1, 7)), ((3, 1, 4), (2, 4)), ((4,), (4,)), ((), ())]


@pytest.mark.parametrize("p", NORMS)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_matches_torch(dtype, rng, p, shapes, keepdim):
    x1 = np.asarray(rng.standard_normal(shapes[0]), dtype)
    x2 = np.asarray(rng.standard_normal(shapes[1]), dtype)
    if x1.ndim == 2:  # a difference of exactly -eps: a zero element (p < 1, p = 0, p = inf ties)
        x1[0, 0] = x2[0, 0] - dtype(1e-6)
    _check_distance("pairwise_distance", x1, x2, rng, p=p, keepdim=keepdim)


def test_pairwise_distance_zero_norm_passes_no_gradient():
    x = np.zeros((2, 3))
    g1, g2 = F.pairwise_distance_backward(1.0, x, x, eps=0.0)
    assert not g1.any() and not g2.any()


def test_pairwise_distance_finite_differences(rng):
    x1, x2 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    for p in (2.0, 3.0, 1.5):
        g1, g2 = F.pairwise_distance_backward(1.0, x1, x2, p=p)
        np.testing.assert_allclose(g1, finite_difference_grad(lambda v: F.pairwise_distance(v, x2, p=p).sum(), x1),
                                   rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(g2, finite_difference_grad(lambda v: F.pairwise_distance(x1, v, p=p).sum(), x2),
                                   rtol=1e-6, atol=1e-8)


def test_pairwise_distance_nan_propagates():
    x1 = np.array([[1.0, np.nan], [1.0, 2.0]])
    got = F.pairwise_distance(x1, np.zeros((2, 2)))
    expected = TF.pairwise_distance(torch.tensor(x1), torch.zeros(2, 2, dtype=torch.float64)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))


# --- cosine_similarity ----------------------------------------------------------------------

COSINE_CASES = [((5, 7), (5, 7), 1, 1e-8), ((5, 7), (5, 7), 0, 1e-8), ((5, 7), (5, 7), -1, 0.5),
                ((1, 2, 3), (2, 1, 3), -2, 1e-8), ((2, 3), (2, 1, 3), -1, 1e-8), ((4,), (4,), 0, 1e-8),
                ((), (), 0, 1e-8)]


@pytest.mark.parametrize("shape1,shape2,dim,eps", COSINE_CASES, ids=str)
def test_cosine_similarity_matches_torch(dtype, rng, shape1, shape2, dim, eps):
    x1 = np.asarray(rng.standard_normal(shape1), dtype)
    x2 = np.asarray(rng.standard_normal(shape2), dtype)
    if x1.ndim == 2 and dim == 1:  # a zero row, and a row whose norm is clamped by eps
        x1[1] = 0
        x2[2] *= 1e-9
    _check_distance("cosine_similarity", x1, x2, rng, dim=dim, eps=eps)


def test_cosine_similarity_finite_differences(rng):
    x1, x2 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    g1, _ = F.cosine_similarity_backward(1.0, x1, x2)
    np.testing.assert_allclose(g1, finite_difference_grad(lambda v: F.cosine_similarity(v, x2).sum(), x1),
                               rtol=1e-6, atol=1e-8)


# --- triplet_margin_with_distance_loss --------------------------------------------------------

# (torch's distance function, fastloss's): fastloss differentiates all but the lambda.
DISTANCES = {
    "None": (None, None),
    "pairwise_distance": (TF.pairwise_distance, F.pairwise_distance),
    "cosine_similarity": (TF.cosine_similarity, F.cosine_similarity),
    "partial_p1": (functools.partial(TF.pairwise_distance, p=1.0), functools.partial(F.pairwise_distance, p=1.0)),
    "lambda": (lambda x, y: 1.0 - TF.cosine_similarity(x, y), lambda x, y: 1.0 - F.cosine_similarity(x, y)),
}


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_triplet_with_distance_matches_torch(dtype, rng, distance, swap, reduction):
    torch_distance, distance_function = DISTANCES[distance]
    arrays = [np.asarray(rng.standard_normal((6, 5)), dtype) for _ in range(3)]
    tensors = _leaves(*arrays)
    options = dict(swap=swap, reduction=reduction, margin=0.5)
    expected = TF.triplet_margin_with_distance_loss(*tensors, distance_function=torch_distance, **options)
    _assert_close(F.triplet_margin_with_distance_loss(*arrays, distance_function=distance_function, **options),
                  expected, dtype, "value")
    if distance == "lambda":
        with pytest.raises(TypeError, match="cannot differentiate distance_function"):
            F.triplet_margin_with_distance_loss_backward(1.0, *arrays, distance_function=distance_function,
                                                         **options)
        with pytest.raises(TypeError, match="forward only"):
            F.triplet_margin_with_distance_loss_with_grad(*arrays, distance_function=distance_function, **options)
        return
    grad_output = np.asarray(rng.uniform(0.5, 1.5, tuple(expected.shape)), dtype)
    torch_grads = torch.autograd.grad(expected, tensors, torch.tensor(grad_output), retain_graph=True)
    grads = F.triplet_margin_with_distance_loss_backward(grad_output, *arrays, distance_function=distance_function,
                                                         **options)
    for got, want in zip(grads, torch_grads):
        _assert_close(got, want, dtype, "backward")
    loss, *fused = F.triplet_margin_with_distance_loss_with_grad(*arrays, distance_function=distance_function,
                                                                 **options)
    _assert_close(loss, expected, dtype, "with_grad value")
    for got, want in zip(fused, torch.autograd.grad(expected, tensors, torch.ones_like(expected))):
        _assert_close(got, want, dtype, "with_grad")


def test_triplet_swap_tie_splits_the_gradient_as_torch():
    # positive == anchor: d(a, n) == d(p, n), torch's minimum gives each half the gradient.
    a = np.array([[0.0, 1.0], [2.0, 0.5]])
    n = np.array([[0.3, 0.2], [1.0, 1.0]])
    tensors = _leaves(a, a.copy(), n)
    loss = TF.triplet_margin_with_distance_loss(*tensors, distance_function=TF.pairwise_distance, swap=True,
                                                margin=5.0)
    loss.backward()
    grads = F.triplet_margin_with_distance_loss_backward(1.0, a, a.copy(), n, distance_function=F.pairwise_distance,
                                                         swap=True, margin=5.0)
    for got, want in zip(grads, _grads(tensors)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_triplet_with_distance_out_receives_the_anchor_gradient(rng):
    arrays = [rng.standard_normal((4, 3)) for _ in range(3)]
    out = np.empty((4, 3))
    loss, grad_a, *_ = F.triplet_margin_with_distance_loss_with_grad(
        *arrays, distance_function=F.cosine_similarity, out=out)
    assert grad_a is out
    np.testing.assert_array_equal(out, F.triplet_margin_with_distance_loss_backward(
        1.0, *arrays, distance_function=F.cosine_similarity)[0])


def test_triplet_with_distance_out_is_checked_as_the_core_checks_it(rng):
    arrays = [rng.standard_normal((4, 3)) for _ in range(3)]
    positive_before = arrays[1].copy()
    for out, error, message in [(np.empty((1, 3)), ValueError, r"out must have shape \(4, 3\), got \(1, 3\)"),
                                (np.empty((4, 3), np.float32), TypeError, "out must have dtype float64"),
                                (arrays[1], ValueError, "out overlaps an operand it would overwrite")]:
        with pytest.raises(error, match=message):
            F.triplet_margin_with_distance_loss_backward(1.0, *arrays, distance_function=F.cosine_similarity,
                                                         out=out)
    np.testing.assert_array_equal(arrays[1], positive_before)


def test_triplet_with_distance_nan_propagates():
    a = np.array([[np.nan, 1.0], [0.0, 1.0]])
    p, n = np.zeros((2, 2)), np.ones((2, 2))
    got = F.triplet_margin_with_distance_loss(a, p, n, distance_function=F.pairwise_distance, reduction="none")
    want = TF.triplet_margin_with_distance_loss(*map(torch.tensor, (a, p, n)), reduction="none").numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


def test_module(rng):
    arrays = [rng.standard_normal((4, 3)) for _ in range(3)]
    module = nn.TripletMarginWithDistanceLoss(distance_function=F.cosine_similarity, swap=True, reduction="sum")
    torch_module = torch.nn.TripletMarginWithDistanceLoss(distance_function=TF.cosine_similarity, swap=True,
                                                          reduction="sum")
    tensors = _leaves(*arrays)
    expected = torch_module(*tensors)
    expected.backward()
    np.testing.assert_allclose(module(*arrays), expected.item(), rtol=1e-12)
    for got, want in zip(module.backward(), _grads(tensors)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
    assert "swap=True" in repr(module)


# --- bad inputs, with torch's messages --------------------------------------------------------

_A = np.ones((3, 4))


@pytest.mark.parametrize("call,error,message", [
    (lambda: F.triplet_margin_with_distance_loss(_A, _A, _A, reduction="avg"), ValueError,
     "avg is not a valid value for reduction"),
    (lambda: F.triplet_margin_with_distance_loss(_A, _A, _A, margin=0.0), ValueError,
     "margin must be greater than 0, got 0.0"),
    (lambda: F.triplet_margin_with_distance_loss(_A, _A, _A, margin=-1), ValueError, "margin must be greater than 0"),
    (lambda: F.triplet_margin_with_distance_loss(_A, np.ones(4), _A, distance_function=F.pairwise_distance),
     ValueError, "anchor 2D, positive 1D, and negative 2D inputs"),
    (lambda: F.triplet_margin_with_distance_loss(_A, _A, _A, distance_function=3), TypeError,
     "distance_function must be callable or None"),
    (lambda: F.triplet_margin_with_distance_loss(_A, _A, _A, swap="yes"), TypeError, "swap"),
    (lambda: F.triplet_margin_with_distance_loss(_A, _A, _A, F.pairwise_distance), TypeError, "positional"),
    (lambda: F.triplet_margin_with_distance_loss_backward(
        1.0, _A, _A, _A, distance_function=functools.partial(F.pairwise_distance, np.ones(4))), TypeError,
     "cannot differentiate"),
    (lambda: nn.TripletMarginWithDistanceLoss(margin=0.0), ValueError,
     "TripletMarginWithDistanceLoss: expected margin to be greater than 0, got 0.0 instead"),
    (lambda: F.pairwise_distance(np.ones((3, 4)), np.ones((2, 4))), ValueError,
     r"The size of tensor a \(3\) must match the size of tensor b \(2\) at non-singleton dimension 0"),
    (lambda: F.cosine_similarity(np.ones((3, 4)), np.ones((3, 4)), dim=5), IndexError,
     r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 5\)"),
    (lambda: F.pairwise_distance(np.ones(3), np.ones(3, np.float32)), TypeError, "x2 must have dtype float64"),
    (lambda: F.pairwise_distance(np.ones(3, np.int64), np.ones(3, np.int64)), TypeError, "x1 must be float32"),
    (lambda: F.cosine_similarity([1.0], np.ones(1), dim=0), TypeError, "x1 must be a numpy.ndarray"),
    (lambda: F.pairwise_distance(_A, _A, p="2"), TypeError, "p must be a real number"),
    (lambda: F.cosine_similarity(_A, _A, dim=1.5), TypeError, "dim must be an integer"),
])
def test_bad_inputs(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_torch_raises_the_same_messages():
    t = torch.ones(3, 4)
    with pytest.raises(ValueError, match="margin must be greater than 0, got 0.0"):
        TF.triplet_margin_with_distance_loss(t, t, t, margin=0.0)
    with pytest.raises(ValueError, match="TripletMarginWithDistanceLoss: expected margin to be greater than 0"):
        torch.nn.TripletMarginWithDistanceLoss(margin=0.0)
    with pytest.raises(RuntimeError, match="anchor 2D, positive 1D, and negative 2D inputs"):
        TF.triplet_margin_with_distance_loss(t, torch.ones(4), t)
    with pytest.raises(IndexError, match=r"expected to be in range of \[-2, 1\], but got 5"):
        TF.cosine_similarity(t, t, dim=5)
