"""ctc_loss against torch.nn.functional.ctc_loss: values and autograd gradients (float32 and
float64, every reduction, zero_infinity, padded and concatenated targets, unbatched input),
finite differences in float64, and bad inputs with torch's messages."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastloss
import fastloss.functional as F

# float64 recursions agree to rounding; float32 ones (both libraries recurse in float32, over
# up to T steps of log-sum-exp) to a few float32 ulps of the log-likelihood's magnitude.
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-5)}


def make(dtype, time=12, batch=5, classes=6, longest=4, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((time, batch, classes)) * 2
    log_probs = (logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))).astype(dtype)
    targets = rng.integers(1, classes, (batch, longest)).astype(np.int64)
    targets[0, :2] = 2  # repeated labels: a blank must separate them
    input_lengths = np.array([time, time - 2, 3, 1, time][:batch] + [time] * max(batch - 5, 0), np.int64)
    # sequence 2 cannot fit its 4 labels into 3 frames (+inf); sequence 3 has an empty target
    target_lengths = np.array([4, 3, 4, 0, 2][:batch] + [longest] * max(batch - 5, 0), np.int64)
    return log_probs, targets, input_lengths, target_lengths


def torch_ctc(log_probs, targets, input_lengths, target_lengths, grad_output=None, **options):
    x = torch.from_numpy(log_probs.copy()).requires_grad_(True)
    loss = TF.ctc_loss(x, torch.from_numpy(targets), torch.from_numpy(np.asarray(input_lengths)),
                       torch.from_numpy(np.asarray(target_lengths)), **options)
    loss.backward(torch.ones_like(loss) if grad_output is None else torch.as_tensor(grad_output, dtype=loss.dtype))
    return loss.detach().numpy(), x.grad.numpy()


def concatenated(targets, target_lengths):
    return np.concatenate([row[:n] for row, n in zip(targets, target_lengths)])


def assert_close(got, expected, dtype):
    np.testing.assert_allclose(np.asarray(got), expected, equal_nan=True, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_matches_torch(dtype, reduction, zero_infinity, layout):
    log_probs, targets, il, tl = make(dtype)
    if layout == "concatenated":
        targets = concatenated(targets, tl)
    options = dict(reduction=reduction, zero_infinity=zero_infinity)
    expected, expected_grad = torch_ctc(log_probs, targets, il, tl, **options)
    loss = F.ctc_loss(log_probs, targets, il, tl, **options)
    assert np.asarray(loss).dtype == dtype and np.shape(loss) == expected.shape
    assert_close(loss, expected, dtype)
    fused, grad = F.ctc_loss_with_grad(log_probs, targets, il, tl, **options)
    assert_close(fused, expected, dtype)
    assert_close(grad, expected_grad, dtype)
    ones = np.ones(expected.shape, dtype) if reduction == "none" else 1.0
    backward = F.ctc_loss_backward(ones, log_probs, targets, il, tl, **options)
    np.testing.assert_array_equal(backward, grad)  # the fused pass and backward agree bit for bit
    # zero_infinity=False: sequence 2's gradient is NaN (torch's too); True: 0
    assert np.isnan(grad[:3, 2]).all() != zero_infinity


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_grad_output_and_mean_scaling(dtype):
    log_probs, targets, il, tl = make(dtype)
    grad_output = np.linspace(-2, 3, len(il)).astype(dtype)
    _, expected = torch_ctc(log_probs, targets, il, tl, grad_output, reduction="none", zero_infinity=True)
    got = F.ctc_loss_backward(grad_output, log_probs, targets, il, tl, reduction="none", zero_infinity=True)
    assert_close(got, expected, dtype)
    _, expected = torch_ctc(log_probs, targets, il, tl, 0.7, reduction="mean", zero_infinity=True)
    assert_close(F.ctc_loss_backward(0.7, log_probs, targets, il, tl, zero_infinity=True), expected, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_unbatched(dtype, reduction):
    log_probs, targets, il, tl = make(dtype)
    lp, padded = log_probs[:, 0], targets[:1]
    for target in (padded, padded[0, :tl[0]]):  # (1, S) padded, or the labels alone (1-D)
        for lengths in ((il[:1], tl[:1]), ([int(il[0])], (int(tl[0]),)), (np.array(il[0]), np.array(tl[0])),
                        (int(il[0]), int(tl[0]))):
            expected, expected_grad = torch_ctc(lp, target, *(np.atleast_1d(v) for v in lengths), reduction=reduction)
            loss, grad = F.ctc_loss_with_grad(lp, target, *lengths, reduction=reduction)
            assert np.shape(loss) == expected.shape == ()
            assert_close(loss, expected, dtype)
            assert_close(grad, expected_grad, dtype)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint64])
def test_target_and_length_dtypes(dtype):
    log_probs, targets, il, tl = make(np.float64)
    expected, _ = torch_ctc(log_probs, targets, il, tl, reduction="none")
    got = F.ctc_loss(log_probs, targets.astype(dtype), il.astype(dtype), tl.astype(dtype), reduction="none")
    assert_close(got, expected, np.float64)
    got = F.ctc_loss(log_probs, targets, list(il), tuple(int(v) for v in tl), reduction="none")
    assert_close(got, expected, np.float64)


def test_strided_views_and_out():
    log_probs, targets, il, tl = make(np.float64, classes=7)
    wide = np.zeros((log_probs.shape[0], log_probs.shape[1], 2 * log_probs.shape[2]))
    wide[..., ::2] = log_probs
    view = wide[..., ::2]  # every class 2 apart
    expected, expected_grad = torch_ctc(log_probs, targets, il, tl, reduction="sum")
    out = np.zeros_like(wide)[..., 1::2]
    loss, grad = F.ctc_loss_with_grad(view, np.asfortranarray(targets), il, tl, reduction="sum", out=out)
    assert grad is out
    assert_close(loss, expected, np.float64)
    assert_close(out, expected_grad, np.float64)
    # in place: the gradient written over log_probs itself
    inplace = log_probs.copy()
    F.ctc_loss_with_grad(inplace, targets, il, tl, reduction="sum", out=inplace)
    assert_close(inplace, expected_grad, np.float64)
    # batch-major storage seen as (T, N, C)
    batch_major = np.ascontiguousarray(log_probs.transpose(1, 0, 2)).transpose(1, 0, 2)
    assert_close(F.ctc_loss(batch_major, targets, il, tl, reduction="sum"), expected, np.float64)


def test_special_lengths():
    log_probs, targets, _, _ = make(np.float64, batch=4)
    il = np.array([0, 0, 5, 12]); tl = np.array([0, 2, 0, 4])
    expected, expected_grad = torch_ctc(log_probs, targets, il, tl, reduction="none")
    loss, grad = F.ctc_loss_with_grad(log_probs, targets, il, tl, reduction="none")
    np.testing.assert_array_equal(np.signbit(loss), np.signbit(expected))  # torch's -0 for no frames, no labels
    assert_close(loss, expected, np.float64)
    assert_close(grad, expected_grad, np.float64)


def test_long_sequence_impossible_alignment_is_inf_not_nan():
    # A label repeated needs a blank between repeats: 6 repeats need 11 frames, 10 are given.
    log_probs, _, _, _ = make(np.float64, time=10, batch=1, classes=3)
    targets = np.full((1, 6), 1)
    loss = F.ctc_loss(log_probs, targets, [10], [6], reduction="none")
    assert np.isposinf(loss).all()
    assert F.ctc_loss(log_probs, targets, [10], [6], reduction="none", zero_infinity=True)[0] == 0


def test_long_sequences_in_float32_as_accurate_as_torch():
    # Both recurse in float32: the gradient's occupancies exp(alpha + beta + nll - emit) lose
    # about |nll| float32 ulps to cancellation, so each is held to the float64 truth no worse
    # than twice torch's float32 error.
    rng = np.random.default_rng(4)
    time, batch, classes, longest = 200, 3, 30, 40
    logits = rng.standard_normal((time, batch, classes)) * 3
    log_probs = (logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))).astype(np.float32)
    targets = rng.integers(1, classes, (batch, longest))
    il, tl = np.array([200, 150, 120]), np.array([40, 30, 1])
    expected, expected_grad = torch_ctc(log_probs.astype(np.float64), targets, il, tl, reduction="none")
    torch_loss, torch_grad = torch_ctc(log_probs, targets, il, tl, reduction="none")
    loss, grad = F.ctc_loss_with_grad(log_probs, targets, il, tl, reduction="none")
    assert np.abs(loss - expected).max() <= 2 * np.abs(torch_loss - expected).max() + 1e-5 * np.abs(expected).max()
    assert np.abs(grad - expected_grad).max() <= 2 * np.abs(torch_grad - expected_grad).max() + 1e-6


def _log_softmax(z):
    return z - np.log(np.exp(z).sum(axis=2, keepdims=True))


def test_finite_differences_float64():
    # torch's gradient, exp(log_probs) - occupancy, is the derivative with respect to the
    # logits z of log_probs = log_softmax(z) (each frame's occupancies sum to 1): it is
    # checked as that.
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((7, 3, 4))
    targets = np.array([[2, 2], [1, 3], [3, 0]])
    il, tl = np.array([7, 6, 5]), np.array([2, 2, 1])
    weights = np.array([0.3, -1.1, 2.0])  # distinct per-sequence scales through reduction="none"
    grad = F.ctc_loss_backward(weights, _log_softmax(logits), targets, il, tl, reduction="none")
    step = 1e-6
    numeric = np.zeros_like(logits)
    for index in np.ndindex(*logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = weights @ (F.ctc_loss(_log_softmax(plus), targets, il, tl, reduction="none") -
                                    F.ctc_loss(_log_softmax(minus), targets, il, tl, reduction="none")) / (2 * step)
    np.testing.assert_allclose(grad, numeric, atol=1e-8)


def test_threads_do_not_change_results():
    log_probs, targets, il, tl = make(np.float32, batch=9)
    before = fastloss.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            fastloss.set_num_threads(n)
            results.append(F.ctc_loss_with_grad(log_probs, targets, il, tl, zero_infinity=True))
    finally:
        fastloss.set_num_threads(before)
    for loss, grad in results[1:]:
        assert loss.tobytes() == results[0][0].tobytes()
        np.testing.assert_array_equal(grad, results[0][1])


def test_nn_module():
    log_probs, targets, il, tl = make(np.float64)
    module = fastloss.nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    assert repr(module) == "CTCLoss(blank=0, reduction='sum', zero_infinity=True)"
    expected, expected_grad = torch_ctc(log_probs, targets, il, tl, reduction="sum", zero_infinity=True)
    assert_close(module(log_probs, targets, il, tl), expected, np.float64)
    assert_close(module.backward(), expected_grad, np.float64)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        fastloss.nn.CTCLoss(reduction="avg")


def test_blank_elsewhere():
    log_probs, targets, il, tl = make(np.float64)
    targets = np.where(targets == 5, 0, targets)  # blank 5: labels from 0 to 4
    expected, expected_grad = torch_ctc(log_probs, targets, il, tl, reduction="sum", blank=5, zero_infinity=True)
    loss, grad = F.ctc_loss_with_grad(log_probs, targets, il, tl, reduction="sum", blank=5, zero_infinity=True)
    assert_close(loss, expected, np.float64)
    assert_close(grad, expected_grad, np.float64)


def _bad_cases():
    lp, tg, il, tl = make(np.float64, time=6, batch=3, classes=5, longest=3)
    il, tl = [6, 5, 4], [3, 2, 0]
    flat = tg.reshape(-1)
    return [
        ("empty", (lp[:0], tg, il, tl), {}),
        ("log_probs 4-D", (lp[None], tg, il, tl), {}),
        ("log_probs 1-D", (lp[:, 0, 0], tg, il, tl), {}),
        ("targets 3-D", (lp, tg[None], il, tl), {}),
        ("targets 0-D", (lp, np.array(tg[0, 0]), il, tl), {}),
        ("blank too large", (lp, tg, il, tl), {"blank": 5}),
        ("blank negative", (lp, tg, il, tl), {"blank": -1}),
        ("input_lengths size", (lp, tg, [6, 5], tl), {}),
        ("target_lengths size", (lp, tg, il, [3, 2]), {}),
        ("target length negative", (lp, tg, il, [-1, 2, 0]), {}),
        ("padded too short", (lp, tg, il, [4, 2, 0]), {}),
        ("padded wrong batch", (lp, tg[:2], il, tl), {}),
        ("concatenated wrong size", (lp, flat[:4], il, tl), {}),
        ("input length too long", (lp, tg, [7, 5, 4], tl), {}),
        ("input length negative", (lp, tg, [-1, 5, 4], tl), {}),
        ("lengths not integral", (lp, tg, [6.0, 5.0, 4.0], tl), {}),
    ]


def _torch_error(args, options):
    lp, tg, il, tl = args
    try:
        TF.ctc_loss(torch.from_numpy(lp), torch.from_numpy(np.asarray(tg)), torch.tensor(il), torch.tensor(tl),
                    **options)
    except RuntimeError as e:
        return str(e)
    raise AssertionError("torch accepted it")


@pytest.mark.parametrize("name,args,options", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_inputs_raise_torchs_message(name, args, options):
    message = _torch_error(args, options)
    expected_type = TypeError if "integral" in message else ValueError
    for call in (lambda: F.ctc_loss(*args, **options), lambda: F.ctc_loss_with_grad(*args, **options),
                 lambda: F.ctc_loss_backward(1.0, *args, **options)):
        with pytest.raises(expected_type, match=re.escape(message)):
            call()


def test_labels_out_of_range_and_float_targets():
    lp, tg, il, tl = make(np.float64)
    bad = tg.copy()
    bad[1, 1] = 6  # torch reads outside log_probs here
    with pytest.raises(IndexError, match="Target 6 of sequence 1 is out of bounds for 6 classes"):
        F.ctc_loss(lp, bad, il, tl)
    bad[1, 1] = -1
    with pytest.raises(IndexError, match="Target -1"):
        F.ctc_loss(lp, bad, il, tl)
    bad[1, 1] = 7
    bad[1, 3] = 1  # beyond sequence 1's length (3): never read, as torch
    F.ctc_loss(lp, np.where(bad == 7, 1, bad), il, tl)
    with pytest.raises(TypeError, match="int64, int32 or uint8"):
        F.ctc_loss(lp, tg.astype(np.float64), il, tl)  # torch truncates float targets; fastloss does not cast
    with pytest.raises(TypeError, match="float32 or float64"):
        F.ctc_loss(lp.astype(np.float16), tg, il, tl)
    with pytest.raises(TypeError, match="blank must be an integer"):
        F.ctc_loss(lp, tg, il, tl, blank=1.0)
    with pytest.raises(TypeError, match="zero_infinity must be a bool"):
        F.ctc_loss(lp, tg, il, tl, zero_infinity=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_every_simd_target_agrees(dtype):
    log_probs, targets, il, tl = make(dtype, time=30, classes=40, longest=9, batch=6)
    il = np.full(6, 30); tl = np.array([9, 8, 1, 0, 5, 9])
    expected, expected_grad = torch_ctc(log_probs, targets, il, tl, reduction="none")
    start = fastloss.simd_target()
    try:
        for target in fastloss._core.supported_targets():
            fastloss._core.force_target(target)
            loss, grad = F.ctc_loss_with_grad(log_probs, targets, il, tl, reduction="none")
            assert_close(loss, expected, dtype)
            assert_close(grad, expected_grad, dtype)
    finally:
        fastloss._core.force_target(start)
