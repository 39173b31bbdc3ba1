"""binary_cross_entropy and binary_cross_entropy_with_logits: parity with torch 2.13 for every
option, gradients (torch autograd and finite differences), fused == separate, errors."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
from conftest import finite_difference_grad, tolerances

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ["none", "mean", "sum"]
SHAPES = [(0,), (1,), (7,), (33, 5), (4, 3, 17)]


def as_torch(a, grad=False):
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.requires_grad_(grad)


def assert_matches(actual, expected_tensor, dtype):
    expected = expected_tensor.detach().numpy()
    assert np.asarray(actual).dtype == dtype
    np.testing.assert_allclose(np.asarray(actual), expected, **tolerances(dtype))


def make_probs(rng, shape, dtype):
    return rng.uniform(0.0, 1.0, size=shape).astype(dtype)


def strided(a):
    """A non-contiguous view with the same values: every other element of a larger array."""
    big = np.empty(a.shape[:-1] + (2 * a.shape[-1],) if a.ndim else (2,), dtype=a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


# --- binary_cross_entropy -------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_bce_matches_torch(simd_target, dtype, rng, shape, reduction, weighted, layout):
    x = make_probs(rng, shape, dtype)
    y = make_probs(rng, shape, dtype)
    if x.size:
        x.flat[0] = 0.0  # exercise the log clamp at -100
        y.flat[-1] = 1.0
    w = rng.uniform(0.1, 2.0, size=shape[-1:]).astype(dtype) if weighted else None
    xs, ys = (strided(x), strided(y)) if layout == "strided" else (x, y)

    expected = TF.binary_cross_entropy(as_torch(x), as_torch(y), None if w is None else as_torch(w), reduction=reduction)
    assert_matches(F.binary_cross_entropy(xs, ys, w, reduction=reduction), expected, dtype)

    xt = as_torch(x, grad=True)
    loss = TF.binary_cross_entropy(xt, as_torch(y), None if w is None else as_torch(w), reduction=reduction)
    go = rng.uniform(0.5, 1.5, size=loss.shape).astype(dtype) if reduction == "none" else 0.75
    loss.backward(torch.as_tensor(go, dtype=xt.dtype))
    grad = F.binary_cross_entropy_backward(go, xs, ys, w, reduction=reduction)
    np.testing.assert_allclose(grad, xt.grad.numpy(), **tolerances(dtype))

    fused_loss, fused_grad = F.binary_cross_entropy_with_grad(xs, ys, w, reduction=reduction)
    np.testing.assert_allclose(fused_loss, expected.detach().numpy(), **tolerances(dtype))
    unit_go = np.ones(x.shape, dtype) if reduction == "none" else 1.0
    np.testing.assert_allclose(fused_grad, F.binary_cross_entropy_backward(unit_go, xs, ys, w, reduction=reduction),
                               **tolerances(dtype))


def test_bce_clamps_log_at_minus_100_like_torch(dtype):
    x = np.array([0.0, 1.0, 0.0, 1.0], dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype)
    np.testing.assert_array_equal(F.binary_cross_entropy(x, y, reduction="none"), [100.0, 100.0, 0.0, 0.0])


@pytest.mark.parametrize("bad, which", [((1.5, 0.5), "input"), ((np.nan, 0.5), "input"), ((-0.1, 0.5), "input"),
                                        ((0.5, 1.01), "target"), ((0.5, np.nan), "target")])
def test_bce_rejects_values_outside_unit_interval(bad, which):
    x = np.array([0.3, bad[0]], np.float32)
    y = np.array([0.3, bad[1]], np.float32)
    for call in (F.binary_cross_entropy, F.binary_cross_entropy_with_grad):
        with pytest.raises(ValueError, match=f"all elements of {which} should be between 0 and 1"):
            call(x, y)


def test_bce_shape_mismatch_message():
    with pytest.raises(ValueError, match=r"Using a target size \(\(4,\)\) that is different to the input size \(\(3,\)\)"):
        F.binary_cross_entropy(np.full(3, 0.5, np.float32), np.full(4, 0.5, np.float32))


# --- binary_cross_entropy_with_logits -------------------------------------------------


POS_WEIGHT = ["none", "per-class", "scalar"]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted, pos_weight", list(itertools.product([False, True], POS_WEIGHT)))
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_bce_with_logits_matches_torch(simd_target, dtype, rng, shape, reduction, weighted, pos_weight, layout):
    x = (rng.standard_normal(shape) * 8).astype(dtype)
    y = make_probs(rng, shape, dtype)
    w = rng.uniform(0.1, 2.0, size=shape).astype(dtype) if weighted else None
    pw = {"none": None, "per-class": rng.uniform(0.2, 4.0, size=shape[-1:]).astype(dtype),
          "scalar": np.array([2.5], dtype)}[pos_weight]
    xs, ys = (strided(x), strided(y)) if layout == "strided" else (x, y)
    opt = lambda a: None if a is None else as_torch(a)  # noqa: E731

    xt = as_torch(x, grad=True)
    expected = TF.binary_cross_entropy_with_logits(xt, as_torch(y), opt(w), reduction=reduction, pos_weight=opt(pw))
    assert_matches(F.binary_cross_entropy_with_logits(xs, ys, w, reduction=reduction, pos_weight=pw), expected, dtype)

    go = rng.uniform(0.5, 1.5, size=expected.shape).astype(dtype) if reduction == "none" else 1.25
    expected.backward(torch.as_tensor(go, dtype=xt.dtype))
    grad = F.binary_cross_entropy_with_logits_backward(go, xs, ys, w, reduction=reduction, pos_weight=pw)
    np.testing.assert_allclose(grad, xt.grad.numpy(), **tolerances(dtype))

    fused_loss, fused_grad = F.binary_cross_entropy_with_logits_with_grad(xs, ys, w, reduction=reduction, pos_weight=pw)
    np.testing.assert_allclose(fused_loss, expected.detach().numpy(), **tolerances(dtype))
    unit_go = np.ones(x.shape, dtype) if reduction == "none" else 1.0
    np.testing.assert_allclose(
        fused_grad, F.binary_cross_entropy_with_logits_backward(unit_go, xs, ys, w, reduction=reduction, pos_weight=pw),
        **tolerances(dtype))


def test_bce_with_logits_pos_weight_broadcasts_over_image_channels(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    y = make_probs(rng, x.shape, np.float32)
    pw = rng.uniform(0.5, 3.0, size=(3, 1, 1)).astype(np.float32)
    expected = TF.binary_cross_entropy_with_logits(as_torch(x), as_torch(y), pos_weight=as_torch(pw))
    assert_matches(F.binary_cross_entropy_with_logits(x, y, pos_weight=pw), expected, np.float32)


@pytest.mark.parametrize("magnitude", [20.0, 1e4, 1e30])
def test_bce_with_logits_is_finite_and_exact_for_huge_logits(simd_target, dtype, magnitude):
    x = np.array([magnitude, -magnitude, magnitude, -magnitude], dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    expected = TF.binary_cross_entropy_with_logits(as_torch(x), as_torch(y), reduction="none")
    assert np.all(np.isfinite(loss))
    np.testing.assert_allclose(loss, expected.numpy(), **tolerances(dtype))
    grad = F.binary_cross_entropy_with_logits_backward(np.ones(4, dtype), x, y, reduction="none")
    np.testing.assert_allclose(grad, [0.0, 0.0, 1.0, -1.0], atol=1e-6)


def test_bce_with_logits_infinities_follow_torch(dtype):
    x = np.array([np.inf, -np.inf, np.inf, -np.inf], dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0], dtype)
    expected = TF.binary_cross_entropy_with_logits(as_torch(x), as_torch(y), reduction="none").numpy()
    np.testing.assert_array_equal(F.binary_cross_entropy_with_logits(x, y, reduction="none"), expected)


def test_bce_with_logits_shape_mismatch_message():
    with pytest.raises(ValueError, match=r"Target size \(\(4,\)\) must be the same as input size \(\(3,\)\)"):
        F.binary_cross_entropy_with_logits(np.zeros(3, np.float32), np.zeros(4, np.float32))


# --- shared rules -----------------------------------------------------------------------


@pytest.mark.parametrize("size_average, reduce, expected",
                         [(None, None, "mean"), (True, None, "mean"), (False, None, "sum"), (None, False, "none"),
                          (False, False, "none"), (True, True, "mean")])
def test_legacy_flags_map_to_reduction_with_warning(rng, size_average, reduce, expected):
    x = rng.standard_normal(10)
    y = make_probs(rng, 10, np.float64)
    if size_average is None and reduce is None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = F.binary_cross_entropy_with_logits(x, y, size_average=size_average, reduce=reduce)
    else:
        with pytest.warns(UserWarning, match=f"please use reduction='{expected}' instead"):
            result = F.binary_cross_entropy_with_logits(x, y, size_average=size_average, reduce=reduce, reduction="sum")
    np.testing.assert_allclose(result, F.binary_cross_entropy_with_logits(x, y, reduction=expected))


@pytest.mark.parametrize("fn", [F.binary_cross_entropy, F.binary_cross_entropy_with_logits])
def test_bad_reduction_string(fn):
    with pytest.raises(ValueError, match="elementwise is not a valid value for reduction"):
        fn(np.full(3, 0.5), np.full(3, 0.5), reduction="elementwise")


def test_dtype_errors_name_the_expected_dtype():
    x = np.full(3, 0.5, np.float32)
    with pytest.raises(TypeError, match="target must have dtype float32"):
        F.binary_cross_entropy_with_logits(x, x.astype(np.float64))
    with pytest.raises(TypeError, match="input must be a numpy.ndarray of float32 or float64"):
        F.binary_cross_entropy_with_logits(x.astype(np.int64), x)
    with pytest.raises(TypeError, match="pos_weight must have dtype float32"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(2,\) cannot be broadcast to shape \(3,\)"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(2, np.float32))


@pytest.mark.parametrize("fn, fn_backward", [
    (F.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits_backward),
    (F.binary_cross_entropy, F.binary_cross_entropy_backward),
])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences(rng, fn, fn_backward, reduction):
    x = rng.uniform(0.05, 0.95, size=(6, 5))
    y = rng.uniform(0.0, 1.0, size=(6, 5))
    w = rng.uniform(0.5, 2.0, size=5)
    grad = fn_backward(1.0, x, y, w, reduction=reduction)
    numeric = finite_difference_grad(lambda v: fn(v, y, w, reduction=reduction), x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_helpers_sigmoid_and_log_sigmoid_match_torch(simd_target, dtype, rng):
    x = np.concatenate([(rng.standard_normal(1000) * 30), [0.0, -0.0, 1e30, -1e30, np.inf, -np.inf]]).astype(dtype)
    np.testing.assert_allclose(F.sigmoid(x), torch.sigmoid(as_torch(x)).numpy(), **tolerances(dtype))
    np.testing.assert_allclose(F.log_sigmoid(x), TF.logsigmoid(as_torch(x)).numpy(), **tolerances(dtype))
    y = x.copy()
    assert F.sigmoid(y, out=y) is y
    np.testing.assert_array_equal(y, F.sigmoid(x))


def test_package_reexports_functional():
    assert fastloss.binary_cross_entropy is F.binary_cross_entropy
    assert set(F.__all__) <= set(fastloss.__all__)
