"""float16 and bfloat16 inputs of the elementwise losses, sigmoid and log_sigmoid (issue #13,
phase 1), the class losses and the softmax family (phase 2): parity with torch computing in float32 on the upcast values (losses within float32
rounding, gradients within one half-precision ULP after rounding), the dtype rule, out= and
in place, thread-count determinism, NaN and infinity, and that ``import fastloss`` does not
import ml_dtypes."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
import fastloss.objectives
from fastloss import _core

torch = pytest.importorskip("torch")
TF = torch.nn.functional

HALVES = ["float16", "bfloat16"]


def half_dtype(name: str) -> np.dtype:
    if name == "float16":
        return np.dtype(np.float16)
    return np.dtype(pytest.importorskip("ml_dtypes").bfloat16)


def ordered(a: np.ndarray) -> np.ndarray:
    """Half-precision bit patterns as integers in the values' order (-0 and +0 both 0)."""
    bits = a.view(np.uint16).astype(np.int32)
    return np.where(bits & 0x8000, -(bits & 0x7FFF), bits)


def assert_within_one_ulp(got: np.ndarray, reference_float32: np.ndarray, dtype: np.dtype) -> None:
    """got (of the half dtype) equals the float32 reference rounded to it, or is one ULP away;
    NaN exactly where the reference is NaN."""
    assert got.dtype == dtype
    expected = np.asarray(reference_float32, np.float32).astype(dtype)
    nan = np.isnan(expected.astype(np.float32))
    np.testing.assert_array_equal(np.isnan(got.astype(np.float32)), nan)
    distance = np.abs(ordered(got) - ordered(expected))[~nan]
    assert distance.size == 0 or distance.max() <= 1, f"{distance.max()} ULP apart"


def _log_cosh(x, y):
    return torch.log(torch.cosh(x - y))


def _focal(x, y, alpha=0.25, gamma=2.0):
    # torchvision's sigmoid_focal_loss, elementwise.
    p = torch.sigmoid(x)
    ce = TF.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    return (alpha * y + (1 - alpha) * (1 - y)) * ce * (1 - p_t) ** gamma


def _reduce(values, reduction):
    return values if reduction == "none" else getattr(values, reduction)()


SHAPE = (37, 19)


def _normal(rng, scale=1.0):
    return rng.normal(0.0, scale, SHAPE)


def _signs(rng):
    return np.where(rng.random(SHAPE) < 0.5, -1.0, 1.0)


# name: (make(rng) -> (positional arrays, keyword arrays, options), torch reference, reductions)
CASES = {
    "mse_loss": (lambda r: ((_normal(r), _normal(r)), {}, {}), TF.mse_loss, None),
    "l1_loss": (lambda r: ((_normal(r), _normal(r)), {}, {}), TF.l1_loss, None),
    "smooth_l1_loss": (lambda r: ((_normal(r), _normal(r)), {}, {"beta": 0.5}), TF.smooth_l1_loss, None),
    "huber_loss": (lambda r: ((_normal(r), _normal(r)), {}, {"delta": 0.7}), TF.huber_loss, None),
    "binary_cross_entropy": (
        lambda r: ((r.uniform(0.02, 0.98, SHAPE), r.uniform(0, 1, SHAPE)), {"weight": r.uniform(0.5, 2, SHAPE)}, {}),
        TF.binary_cross_entropy, None),
    "binary_cross_entropy_with_logits": (
        lambda r: ((_normal(r, 3), r.uniform(0, 1, SHAPE)), {"pos_weight": r.uniform(0.5, 2, SHAPE[1])}, {}),
        TF.binary_cross_entropy_with_logits, None),
    "soft_margin_loss": (lambda r: ((_normal(r, 2), _signs(r)), {}, {}), TF.soft_margin_loss, None),
    "hinge_embedding_loss": (lambda r: ((_normal(r, 2), _signs(r)), {}, {}), TF.hinge_embedding_loss, None),
    "poisson_nll_loss": (lambda r: ((_normal(r), r.integers(0, 5, SHAPE).astype(float)), {}, {}),
                         TF.poisson_nll_loss, None),
    "gaussian_nll_loss": (lambda r: ((_normal(r), _normal(r), r.uniform(0.5, 2, SHAPE)), {}, {}),
                          TF.gaussian_nll_loss, None),
    "kl_div": (lambda r: ((np.log(r.dirichlet(np.ones(SHAPE[1]), SHAPE[0])), r.dirichlet(np.ones(SHAPE[1]), SHAPE[0])),
                          {}, {}), TF.kl_div, ("batchmean", "sum", "none")),
    "margin_ranking_loss": (lambda r: ((_normal(r), _normal(r), _signs(r)), {}, {"margin": 0.1}),
                            TF.margin_ranking_loss, None),
    "log_cosh_loss": (lambda r: ((_normal(r), _normal(r)), {}, {}),
                      lambda x, y, reduction: _reduce(_log_cosh(x, y), reduction), None),
    "sigmoid_focal_loss": (lambda r: ((_normal(r, 3), r.uniform(0, 1, SHAPE)), {}, {}),
                           lambda x, y, reduction: _reduce(_focal(x, y), reduction), None),
}


def _cast(arrays, dtype):
    return tuple(a.astype(dtype) for a in arrays)


def _torch(a):
    """A half array's values upcast to a float32 tensor."""
    return torch.from_numpy(np.asarray(a).astype(np.float32))


def _params(name):
    return [(name, r) for r in (CASES[name][2] or ("mean", "sum", "none"))]


@pytest.mark.parametrize("half", HALVES)
@pytest.mark.parametrize("name,reduction", [p for name in CASES for p in _params(name)])
def test_losses_and_gradients_match_torch_in_float32(rng, half, name, reduction):
    dtype = half_dtype(half)
    make, reference, _ = CASES[name]
    args, arrays, options = make(rng)
    args, arrays = _cast(args, dtype), {k: v.astype(dtype) for k, v in arrays.items()}
    fn = getattr(F, name)
    loss = fn(*args, **arrays, **options, reduction=reduction)

    tensors = [_torch(a).requires_grad_(i == 0) for i, a in enumerate(args)]
    expected = reference(*tensors, **{k: _torch(v) for k, v in arrays.items()}, **options, reduction=reduction)
    grad_output = rng.uniform(0.5, 1.5, expected.shape).astype(dtype) if reduction == "none" else 1.0
    expected.backward(_torch(grad_output) if reduction == "none" else None)
    expected_grad = tensors[0].grad.numpy()

    if reduction == "none":
        assert_within_one_ulp(loss, expected.detach().numpy(), dtype)
    else:
        assert isinstance(loss, np.float32)  # the float64 sum, rounded once to float32
        np.testing.assert_allclose(loss, expected.item(), rtol=3e-5, atol=1e-6)
    backward = getattr(F, name + "_backward")

    def first(grads):
        return grads[0] if isinstance(grads, tuple) else grads

    assert_within_one_ulp(first(backward(grad_output, *args, **arrays, **options, reduction=reduction)),
                          expected_grad, dtype)
    # The fused pass: the same loss, and the gradient of grad_output = 1 bit for bit.
    fused = getattr(F, name + "_with_grad")(*args, **arrays, **options, reduction=reduction)
    unit = np.ones(expected.shape, dtype) if reduction == "none" else 1.0
    unit_grad = first(backward(unit, *args, **arrays, **options, reduction=reduction))
    np.testing.assert_array_equal(fused[1].view(np.uint16), unit_grad.view(np.uint16))
    if reduction == "none":
        np.testing.assert_array_equal(fused[0].view(np.uint16), loss.view(np.uint16))
    else:
        assert isinstance(fused[0], np.float32) and fused[0] == loss


@pytest.mark.parametrize("half", HALVES)
def test_half_equals_float32_on_the_upcast_values(rng, half):
    dtype = half_dtype(half)
    x, y = (a.astype(dtype) for a in (_normal(rng, 2), _normal(rng)))
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    assert F.huber_loss(x, y).tobytes() == F.huber_loss(x32, y32).tobytes()
    loss, grad = F.huber_loss_with_grad(x, y, reduction="sum")
    loss32, grad32 = F.huber_loss_with_grad(x32, y32, reduction="sum")
    assert loss.tobytes() == loss32.tobytes()
    np.testing.assert_array_equal(grad.view(np.uint16), grad32.astype(dtype).view(np.uint16))


@pytest.mark.parametrize("half", HALVES)
def test_mixed_operand_dtypes(rng, half):
    dtype = half_dtype(half)
    x = _normal(rng).astype(dtype)
    x32 = x.astype(np.float32)
    y = rng.uniform(0, 1, SHAPE)
    # float32 targets, weights and pos_weights beside half logits: float32's result exactly.
    for target in (y.astype(dtype), y.astype(np.float32)):
        pw = rng.uniform(0.5, 2, SHAPE[1])
        for pos_weight in (pw.astype(dtype), pw.astype(np.float32)):
            got = F.binary_cross_entropy_with_logits(x, target, pos_weight=pos_weight, weight=np.float32(2) * target)
            want = F.binary_cross_entropy_with_logits(x32, target.astype(np.float32),
                                                      pos_weight=pos_weight.astype(np.float32),
                                                      weight=np.float32(2) * target.astype(np.float32))
            assert got.tobytes() == want.tobytes()
    # Integer and bool labels where torch takes them.
    labels = rng.integers(0, 3, SHAPE)
    for target in (labels, labels.astype(np.int8), labels > 0):
        assert F.mse_loss(x, target).tobytes() == F.mse_loss(x32, target.astype(np.float32)).tobytes()
    grad = F.mse_loss_backward(1.0, x, labels)
    assert grad.dtype == dtype
    # grad_output of reduction="none": the input's dtype or float32.
    go = rng.uniform(0.5, 1.5, SHAPE).astype(dtype)
    np.testing.assert_array_equal(F.mse_loss_backward(go, x, labels, reduction="none").view(np.uint16),
                                  F.mse_loss_backward(go.astype(np.float32), x, labels, reduction="none").view(np.uint16))
    # Values are checked after conversion, with torch's messages.
    with pytest.raises(ValueError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(np.array([0.5, 1.5], dtype), np.array([0.5, 0.5], dtype))
    with pytest.raises(ValueError, match="all elements of target should be between 0 and 1"):
        F.binary_cross_entropy(np.array([0.5, 0.5], dtype), np.array([0.5, np.nan], np.float32))


@pytest.mark.parametrize("half", HALVES)
def test_bad_dtype_combinations_name_the_argument(rng, half):
    dtype = half_dtype(half)
    other = half_dtype("bfloat16" if half == "float16" else "float16")
    x = _normal(rng).astype(dtype)
    with pytest.raises(TypeError, match=f"target must have dtype {half} \\(the input's dtype\\) or float32, got float64"):
        F.mse_loss(x, x.astype(np.float64))
    with pytest.raises(TypeError, match=f"target must have dtype {half} \\(the input's dtype\\) or float32, "
                                        f"got {other.name}"):
        F.mse_loss(x, x.astype(other))
    with pytest.raises(TypeError, match=f"weight must have dtype {half} \\(the input's dtype\\) or float32"):
        F.binary_cross_entropy(np.full(3, 0.5, dtype), np.full(3, 0.5, dtype), weight=np.ones(3))
    with pytest.raises(TypeError, match="target must have dtype float32 \\(the input's dtype\\), got " + half):
        F.mse_loss(x.astype(np.float32), x)
    with pytest.raises(TypeError, match=f"out must have dtype {half} \\(the input's dtype\\) or float32, got float64"):
        F.mse_loss_with_grad(x, x, out=np.empty(SHAPE))
    with pytest.raises(TypeError, match=f"grad_output must have dtype {half} \\(the input's dtype\\) or float32"):
        F.mse_loss_backward(np.ones(SHAPE), x, x, reduction="none")
    with pytest.raises(TypeError, match="target must be a numpy.ndarray"):
        F.binary_cross_entropy_with_logits(x, rng.integers(0, 2, SHAPE))  # torch wants a float target here
    # The functions that take no half inputs say so, pointing at why.
    with pytest.raises(TypeError, match="this function takes no float16 or bfloat16 input: its docstring"):
        F.ctc_loss(x.reshape(37, 1, 19), np.ones((1, 3), np.int64), [37], [3])
    with pytest.raises(TypeError, match="x1 must be float32 or float64, got " + half):
        F.pairwise_distance(x, x)


@pytest.mark.parametrize("half", HALVES)
def test_out_float32_and_in_place(rng, half):
    dtype = half_dtype(half)
    x, y = _normal(rng).astype(dtype), _normal(rng).astype(dtype)
    loss, grad = F.smooth_l1_loss_with_grad(x, y)
    assert isinstance(loss, np.float32) and grad.dtype == dtype
    # A float32 out receives float32's gradient of the upcast values, unrounded.
    out = np.empty(SHAPE, np.float32)
    loss32, grad32 = F.smooth_l1_loss_with_grad(x.astype(np.float32), y.astype(np.float32))
    result = F.smooth_l1_loss_with_grad(x, y, out=out)
    assert result[1] is out and result[0] == loss32
    np.testing.assert_array_equal(out, grad32)
    assert F.smooth_l1_loss_backward(1.0, x, y, out=out) is out
    np.testing.assert_array_equal(out, grad32)
    # out=input: the gradient overwrites the input.
    x_copy = x.copy()
    result = F.smooth_l1_loss_with_grad(x_copy, y, out=x_copy)
    assert result[1] is x_copy and result[0] == loss
    np.testing.assert_array_equal(x_copy.view(np.uint16), grad.view(np.uint16))
    # reduction="none" into a float32 out; a transposed (strided) half out.
    # (the binding's out=, which fastloss.nn's losses use).
    none = _core.Reduction.none
    out = _core.elementwise_forward(_core.ElementwiseLoss.mse_loss, x, y, reduction=none, out=np.empty(SHAPE, np.float32))
    np.testing.assert_array_equal(out, F.mse_loss(x.astype(np.float32), y.astype(np.float32), reduction="none"))
    transposed = np.empty(SHAPE[::-1], dtype).T
    F.mse_loss_backward(1.0, x.T.copy().T, y, out=transposed)
    np.testing.assert_array_equal(transposed.view(np.uint16), F.mse_loss_backward(1.0, x, y).view(np.uint16))


def _on_one_and_two_threads(compute):
    """compute() run with 1 thread and with 2 (the thread count restored after)."""
    before = fastloss.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            fastloss.set_num_threads(threads)
            results.append(compute())
        return results
    finally:
        fastloss.set_num_threads(before)


@pytest.mark.parametrize("half", HALVES)
def test_bitwise_identical_for_one_and_two_threads(rng, half):
    dtype = half_dtype(half)
    n = 5 * 8192 + 77
    x, y = rng.normal(0, 2, n).astype(dtype), rng.uniform(0, 1, n).astype(dtype)

    def results():
        loss, grad = F.binary_cross_entropy_with_logits_with_grad(x, y)
        return loss.tobytes(), grad.tobytes(), F.mse_loss(x, y, reduction="sum").tobytes()

    one, two = _on_one_and_two_threads(results)
    assert one == two


@pytest.mark.parametrize("half", HALVES)
def test_nan_and_infinity_propagate(half):
    dtype = half_dtype(half)
    x = np.array([np.nan, np.inf, -np.inf, 1.0, -np.nan, 0.5], np.float32).astype(dtype)
    y = np.array([0.0, 1.0, 1.0, np.nan, 0.0, np.inf], np.float32).astype(dtype)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    for name in ("l1_loss", "huber_loss", "binary_cross_entropy_with_logits", "soft_margin_loss"):
        loss, grad = getattr(F, name + "_with_grad")(x, y, reduction="none")
        loss32, grad32 = getattr(F, name + "_with_grad")(x32, y32, reduction="none")
        # float32's results on the same values, rounded once (NaN stays NaN).
        np.testing.assert_array_equal(loss.view(np.uint16), loss32.astype(dtype).view(np.uint16))
        np.testing.assert_array_equal(grad.view(np.uint16), grad32.astype(dtype).view(np.uint16))
        if name == "soft_margin_loss":
            continue  # its gradient at y x = -inf is finite here, NaN in torch (test_nan_gradients.py)
        tx = _torch(x).requires_grad_(True)
        expected = getattr(TF, name)(tx, _torch(y), reduction="none")
        expected.sum().backward()
        assert_within_one_ulp(loss, expected.detach().numpy(), dtype)
        assert_within_one_ulp(grad, tx.grad.numpy(), dtype)
    assert np.isnan(F.mse_loss(x, y))


@pytest.mark.parametrize("half", HALVES)
def test_sigmoid_and_log_sigmoid(rng, half):
    dtype = half_dtype(half)
    x = np.concatenate([rng.normal(0, 6, 1000), [np.nan, np.inf, -np.inf, 0.0]]).astype(dtype)
    tx = _torch(x)
    assert_within_one_ulp(F.sigmoid(x), torch.sigmoid(tx).numpy(), dtype)
    assert_within_one_ulp(F.log_sigmoid(x), TF.logsigmoid(tx).numpy(), dtype)
    go = rng.uniform(0.5, 1.5, x.shape).astype(dtype)
    y = F.sigmoid(x)
    assert_within_one_ulp(F.sigmoid_backward(go, y), (_torch(go) * (1 - _torch(y)) * _torch(y)).numpy(), dtype)
    assert_within_one_ulp(F.log_sigmoid_backward(go, x), (_torch(go) * torch.sigmoid(-tx)).numpy(), dtype)
    in_place = x.copy()
    assert F.sigmoid(in_place, out=in_place) is in_place
    np.testing.assert_array_equal(in_place.view(np.uint16), y.view(np.uint16))
    np.testing.assert_array_equal(F.sigmoid(x, out=np.empty(x.shape, np.float32)), F.sigmoid(x.astype(np.float32)))


@pytest.mark.parametrize("half", HALVES)
def test_objectives_grad_hess(rng, half):
    dtype = half_dtype(half)
    x, y = rng.normal(0, 2, 1000).astype(dtype), rng.uniform(0, 1, 1000).astype(dtype)
    grad, hess = fastloss.objectives.grad_hess("binary_cross_entropy_with_logits", x, y)
    grad32, hess32 = fastloss.objectives.grad_hess("binary_cross_entropy_with_logits", x.astype(np.float32),
                                                   y.astype(np.float32))
    np.testing.assert_array_equal(grad.view(np.uint16), grad32.astype(dtype).view(np.uint16))
    np.testing.assert_array_equal(hess.view(np.uint16), hess32.astype(dtype).view(np.uint16))


def test_broadcast_half_input_sums_its_gradient_in_float32(rng):
    # mse with an input broadcast against its target (torch warns): the gradient is summed
    # back to the input's shape in float32 and rounded once, as torch sums half gradients.
    x = rng.normal(0, 1, (1, 19)).astype(np.float16)
    y = rng.normal(0, 1, (37, 19)).astype(np.float16)
    tx = _torch(x).requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TF.mse_loss(tx, _torch(y)).backward()
        grad = F.mse_loss_backward(1.0, x, y)
    assert grad.shape == x.shape
    assert_within_one_ulp(grad, tx.grad.numpy(), np.dtype(np.float16))


def test_import_fastloss_does_not_import_ml_dtypes():
    program = ("import sys, numpy as np, fastloss.functional as F\n"
               "assert 'ml_dtypes' not in sys.modules, 'import fastloss imported ml_dtypes'\n"
               "x = np.ones(4, np.float16)\n"
               "assert F.mse_loss_with_grad(x, x)[1].dtype == np.float16\n"
               "assert 'ml_dtypes' not in sys.modules, 'a float16 call imported ml_dtypes'\n"
               "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


# --- The class losses and the softmax family (phase 2): the row engine converts half rows as
# it stages them; math in float32 exactly as for float32 input.

def _logits(rng, shape, scale=3.0):
    return rng.normal(0.0, scale, shape)


def _ce(r, shape=(41, 13)):
    return _logits(r, shape), r.integers(0, shape[1], (shape[0],) + shape[2:])


# name: (make(rng) -> (input, target, keyword arrays, options), torch reference)
CLASS_CASES = {
    "cross_entropy": (lambda r: (*_ce(r), {}, {}), TF.cross_entropy),
    "cross_entropy_weighted_ignored": (
        lambda r: (*_ce(r), {"weight": r.uniform(0.5, 2, 13)}, {"ignore_index": 3}), TF.cross_entropy),
    "cross_entropy_smoothed": (lambda r: (*_ce(r), {}, {"label_smoothing": 0.1}), TF.cross_entropy),
    "cross_entropy_probabilities": (
        lambda r: (_logits(r, (41, 13)), r.dirichlet(np.ones(13), 41), {}, {}), TF.cross_entropy),
    "cross_entropy_spatial": (lambda r: (*_ce(r, (5, 7, 3, 4)), {}, {}), TF.cross_entropy),
    "cross_entropy_wide": (lambda r: (*_ce(r, (9, 3000)), {}, {}), TF.cross_entropy),
    "nll_loss": (
        lambda r: (np.log(r.dirichlet(np.ones(13), 41)), r.integers(0, 13, 41), {"weight": r.uniform(0.5, 2, 13)}, {}),
        TF.nll_loss),
}


def _class_args(case, rng, dtype):
    x, target, arrays, options = CLASS_CASES[case][0](rng)
    if target.dtype.kind == "f":
        target = target.astype(dtype)
    return x.astype(dtype), target, {k: v.astype(dtype) for k, v in arrays.items()}, options


def _function(case):
    return "nll_loss" if case == "nll_loss" else "cross_entropy"


@pytest.mark.parametrize("half", HALVES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", list(CLASS_CASES))
def test_class_losses_match_torch_in_float32(rng, half, case, reduction):
    dtype = half_dtype(half)
    x, target, arrays, options = _class_args(case, rng, dtype)
    name = _function(case)
    loss = getattr(F, name)(x, target, **arrays, **options, reduction=reduction)

    tx = _torch(x).requires_grad_(True)
    ttarget = _torch(target) if target.dtype.kind != "i" else torch.from_numpy(target)
    expected = CLASS_CASES[case][1](tx, ttarget, **{k: _torch(v) for k, v in arrays.items()}, **options,
                                    reduction=reduction)
    grad_output = rng.uniform(0.5, 1.5, expected.shape).astype(dtype) if reduction == "none" else 1.0
    expected.backward(_torch(grad_output) if reduction == "none" else None)
    if reduction == "none":
        assert_within_one_ulp(loss, expected.detach().numpy(), dtype)
    else:
        assert isinstance(loss, np.float32)
        np.testing.assert_allclose(loss, expected.item(), rtol=3e-5, atol=1e-6)
    grad = getattr(F, name + "_backward")(grad_output, x, target, **arrays, **options, reduction=reduction)
    assert_within_one_ulp(grad, tx.grad.numpy(), dtype)
    fused_loss, fused_grad = getattr(F, name + "_with_grad")(x, target, **arrays, **options, reduction=reduction)
    unit = np.ones(expected.shape, dtype) if reduction == "none" else 1.0
    unit_grad = getattr(F, name + "_backward")(unit, x, target, **arrays, **options, reduction=reduction)
    np.testing.assert_array_equal(fused_grad.view(np.uint16), unit_grad.view(np.uint16))
    if reduction == "none":
        np.testing.assert_array_equal(fused_loss.view(np.uint16), loss.view(np.uint16))
    else:
        assert isinstance(fused_loss, np.float32) and fused_loss == loss


def _bitwise_rounded(got, float32_result, dtype):
    """got is float32's result on the upcast values, rounded once to the half dtype."""
    if isinstance(float32_result, np.ndarray):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.view(np.uint16), float32_result.astype(dtype).view(np.uint16))
    else:
        assert isinstance(got, np.float32) and got.tobytes() == np.float32(float32_result).tobytes()


@pytest.mark.parametrize("half", HALVES)
@pytest.mark.parametrize("classes", [2, 10, 64, 300])
def test_class_losses_equal_float32_on_the_upcast_values(rng, half, classes):
    # Contiguous rows, a class axis of stride != 1, and small-class tiles alike: the half input
    # is float32's computation on its values, the results rounded once.
    dtype = half_dtype(half)
    rows = 67
    x = _logits(rng, (rows, classes)).astype(dtype)
    target = rng.integers(0, classes, rows)
    weight = rng.uniform(0.5, 2, classes).astype(dtype)
    for xh in (x, np.asfortranarray(x), x.T.copy().T[:, ::-1]):
        x32 = xh.astype(np.float32)
        for reduction in ("mean", "none"):
            for name, kwargs in (("cross_entropy", {"weight": weight, "label_smoothing": 0.05}),
                                 ("softmax_focal_loss", {"gamma": 1.5}), ("nll_loss", {})):
                kw32 = {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
                fn = getattr(F, name)
                _bitwise_rounded(fn(xh, target, **kwargs, reduction=reduction),
                                 fn(x32, target, **kw32, reduction=reduction), dtype)
                loss, grad = getattr(F, name + "_with_grad")(xh, target, **kwargs, reduction=reduction)
                loss32, grad32 = getattr(F, name + "_with_grad")(x32, target, **kw32, reduction=reduction)
                _bitwise_rounded(loss, loss32, dtype)
                _bitwise_rounded(grad, grad32, dtype)
        for dim in (0, 1):
            for log in (False, True):
                fn = F.log_softmax if log else F.softmax
                y, y32 = fn(xh, dim=dim), fn(x32, dim=dim)
                _bitwise_rounded(y, y32, dtype)
                go = rng.uniform(-1, 1, x.shape).astype(dtype)
                backward = F.log_softmax_backward if log else F.softmax_backward
                _bitwise_rounded(backward(go, y, dim=dim), backward(go.astype(np.float32), y.astype(np.float32), dim=dim),
                                 dtype)
    grad, hess = fastloss.objectives.grad_hess("cross_entropy", x, target)
    grad32, hess32 = fastloss.objectives.grad_hess("cross_entropy", x.astype(np.float32), target)
    _bitwise_rounded(grad, grad32, dtype)
    _bitwise_rounded(hess, hess32, dtype)


@pytest.mark.parametrize("half", HALVES)
def test_class_losses_mixed_dtypes_out_and_in_place(rng, half):
    dtype = half_dtype(half)
    x = _logits(rng, (50, 7)).astype(dtype)
    x32 = x.astype(np.float32)
    target = rng.integers(0, 7, 50).astype(np.int32)
    weight = rng.uniform(0.5, 2, 7)
    # A float32 weight or probability target beside half logits: float32's result exactly.
    assert (F.cross_entropy(x, target, weight=weight.astype(np.float32)).tobytes()
            == F.cross_entropy(x32, target, weight=weight.astype(np.float32)).tobytes())
    probabilities = rng.dirichlet(np.ones(7), 50).astype(np.float32)
    assert F.cross_entropy(x, probabilities).tobytes() == F.cross_entropy(x32, probabilities).tobytes()
    with pytest.raises(TypeError, match=f"weight must have dtype {half} \\(the input's dtype\\) or float32, got float64"):
        F.cross_entropy(x, target, weight=weight)
    with pytest.raises(TypeError, match=f"target must have dtype {half} \\(the input's dtype\\) or float32"):
        F.cross_entropy(x, probabilities.astype(np.float64))
    with pytest.raises(TypeError, match=f"output must have dtype {half} \\(grad_output's dtype\\) or float32"):
        F.softmax_backward(x, x.astype(np.float64), dim=1)
    # A float32 out gets float32's gradient unrounded; out=input overwrites the logits.
    out = np.empty(x.shape, np.float32)
    loss, grad = F.cross_entropy_with_grad(x, target, out=out)
    loss32, grad32 = F.cross_entropy_with_grad(x32, target)
    assert grad is out and loss == loss32
    np.testing.assert_array_equal(out, grad32)
    in_place = x.copy()
    _, grad = F.cross_entropy_with_grad(in_place, target, out=in_place)
    assert grad is in_place
    np.testing.assert_array_equal(in_place.view(np.uint16), grad32.astype(dtype).view(np.uint16))
    y = x.copy()
    assert F.log_softmax(y, dim=1, out=y) is y
    np.testing.assert_array_equal(y.view(np.uint16), F.log_softmax(x32, dim=1).astype(dtype).view(np.uint16))
    # grad_output of reduction="none" as half or float32; losses into a float32 out.
    go = rng.uniform(0.5, 1.5, 50).astype(dtype)
    np.testing.assert_array_equal(F.cross_entropy_backward(go, x, target, reduction="none").view(np.uint16),
                                  F.cross_entropy_backward(go.astype(np.float32), x, target,
                                                           reduction="none").view(np.uint16))
    none = _core.Reduction.none
    losses = _core.class_loss_forward(_core.ClassLoss.cross_entropy, x, target, reduction=none,
                                      out=np.empty(50, np.float32))
    np.testing.assert_array_equal(losses, F.cross_entropy(x32, target, reduction="none"))


@pytest.mark.parametrize("half", HALVES)
def test_class_losses_bitwise_identical_for_one_and_two_threads(rng, half):
    dtype = half_dtype(half)
    x = _logits(rng, (3000, 37)).astype(dtype)
    target = rng.integers(0, 37, 3000)

    def results():
        loss, grad = F.cross_entropy_with_grad(x, target)
        return loss.tobytes(), grad.tobytes(), F.softmax(x, dim=1).tobytes()

    one, two = _on_one_and_two_threads(results)
    assert one == two


@pytest.mark.parametrize("half", HALVES)
def test_class_losses_nan_and_infinity_propagate(half):
    dtype = half_dtype(half)
    x = np.array([[np.nan, 0.0, 1.0], [np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0], [1.0, 2.0, 3.0]], np.float32)
    target = np.array([1, 1, 1, 0])
    tx = torch.from_numpy(x).requires_grad_(True)
    expected = TF.cross_entropy(tx, torch.from_numpy(target), reduction="none")
    expected.sum().backward()
    loss, grad = F.cross_entropy_with_grad(x.astype(dtype), target, reduction="none")
    assert_within_one_ulp(loss, expected.detach().numpy(), dtype)
    assert_within_one_ulp(grad, tx.grad.numpy(), dtype)
    assert np.isnan(F.cross_entropy(x.astype(dtype), target))


def _row_cases(rng, dtype):
    """(name, half arguments, float32 arguments on the same values, torch reference or None)."""
    x = rng.normal(0, 1, (45, 12)).astype(dtype)
    x2, x3 = x[::-1].copy(), x[:, ::-1]  # a reversed class axis: strided rows
    classes = rng.integers(0, 12, 45)
    lists = np.where(rng.random((45, 12)) < 0.3, classes[:, None], -1)
    signs = np.where(classes > 5, 1, -1)
    labels = (rng.random((45, 12)) < 0.5).astype(dtype)
    weight = rng.uniform(0.5, 2, 12).astype(dtype)
    f32 = lambda a: a.astype(np.float32) if a.dtype == dtype else a  # noqa: E731
    cases = [
        ("multi_margin_loss", (x, classes), {"weight": weight}, TF.multi_margin_loss),
        ("multilabel_margin_loss", (x, lists), {}, TF.multilabel_margin_loss),
        ("multilabel_soft_margin_loss", (x, labels), {"weight": weight}, TF.multilabel_soft_margin_loss),
        ("cosine_embedding_loss", (x, x2, signs), {}, TF.cosine_embedding_loss),
        ("triplet_margin_loss", (x, x2, x3), {}, TF.triplet_margin_loss),
    ]
    return [(name, args, kwargs, tuple(f32(a) for a in args), {k: f32(v) for k, v in kwargs.items()}, ref)
            for name, args, kwargs, ref in cases]


@pytest.mark.parametrize("half", HALVES)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_row_losses_equal_float32_and_match_torch(rng, half, reduction):
    dtype = half_dtype(half)
    for name, args, kwargs, args32, kwargs32, reference in _row_cases(rng, dtype):
        fn, fused = getattr(F, name), getattr(F, name + "_with_grad")
        _bitwise_rounded(fn(*args, **kwargs, reduction=reduction), fn(*args32, **kwargs32, reduction=reduction), dtype)
        got, got32 = fused(*args, **kwargs, reduction=reduction), fused(*args32, **kwargs32, reduction=reduction)
        for a, b in zip(got, got32):
            _bitwise_rounded(a, b, dtype)
        # torch in float32 on the upcast values: the input's gradient within one half ULP.
        tensors = [_torch(a).requires_grad_(a.dtype == dtype) if a.dtype == dtype else torch.from_numpy(a)
                   for a in args]
        expected = reference(*tensors, **{k: _torch(v) for k, v in kwargs.items()}, reduction=reduction)
        expected.sum().backward()
        assert_within_one_ulp(got[1], tensors[0].grad.numpy(), dtype)
        if reduction == "none":
            assert_within_one_ulp(got[0], expected.detach().numpy(), dtype)
        else:
            np.testing.assert_allclose(got[0], expected.item(), rtol=3e-5, atol=1e-6)
    # triplet_margin_with_distance_loss with its default distance runs the same core path.
    x = rng.normal(0, 1, (9, 4)).astype(dtype)
    assert F.triplet_margin_with_distance_loss(x, x[::-1], 2 * x) == F.triplet_margin_loss(x, x[::-1], 2 * x)
