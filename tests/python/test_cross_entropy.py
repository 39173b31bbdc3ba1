"""softmax, log_softmax, nll_loss and cross_entropy: parity with torch 2.13 over the cross
product of options (target kind x weight x ignore_index x label_smoothing x reduction x
shape x dtype x layout), gradients against torch autograd and finite differences, the
fused in-place call, determinism, and errors with torch's messages."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
from conftest import finite_difference_grad, tolerances

torch = pytest.importorskip("torch")
TF = torch.nn.functional

C = 5
# Inputs (C,), (N, C), (N, C, d1) and (N, C, d1, d2), and an empty batch.
SHAPES = [(C,), (6, C), (4, C, 3), (2, C, 3, 2), (0, C)]
REDUCTIONS = ["none", "mean", "sum"]
TARGET_KINDS = ["int64", "int32", "uint8", "probabilities"]


def class_axis(shape):
    return 0 if len(shape) == 1 else 1


def target_shape(shape):
    return tuple(e for d, e in enumerate(shape) if d != class_axis(shape))


def strided(a, axes):
    """A view of `a`'s values with every axis in `axes` at twice its natural stride."""
    big_shape = tuple(2 * e if d in axes else e for d, e in enumerate(a.shape))
    big = np.zeros(big_shape, dtype=a.dtype)
    index = tuple(slice(None, None, 2) if d in axes else slice(None) for d in range(a.ndim))
    big[index] = a
    view = big[index]
    assert not view.flags.c_contiguous or a.size <= 1
    return view


def make_case(rng, shape, dtype, kind, ignore_index):
    x = rng.normal(0.0, 3.0, size=shape).astype(dtype)
    if kind == "probabilities":
        y = rng.uniform(0.0, 1.0, size=shape).astype(dtype)
        y /= y.sum(axis=class_axis(shape), keepdims=True)
    else:
        y = rng.integers(0, C, size=target_shape(shape)).astype(kind)
        if ignore_index >= 0 and y.size:
            y.flat[::3] = ignore_index  # ignore some elements (and class 1 stays a real class)
    return x, y


def torch_target(y):
    t = torch.from_numpy(np.array(y, order="C"))
    return t.long() if not np.issubdtype(y.dtype, np.floating) else t


def batched(torch_loss):
    """torch_loss applied to an unbatched (C,) input as a batch of one: torch's own backward
    of an unbatched reduction='none' loss fails ("size mismatch"), the values are the same."""

    def call(x, y, **kwargs):
        if x.ndim != 1:
            return torch_loss(x, y, **kwargs)
        loss = torch_loss(x.unsqueeze(0), y.unsqueeze(0), **kwargs)
        return loss[0] if kwargs.get("reduction") == "none" else loss

    return call


torch_cross_entropy = batched(TF.cross_entropy)
torch_nll_loss = batched(TF.nll_loss)


def as_torch(a, grad=False):
    return torch.from_numpy(np.array(a, order="C")).requires_grad_(grad)


def assert_close(actual, expected, dtype):
    expected = expected.detach().numpy() if hasattr(expected, "detach") else expected
    assert np.asarray(actual).dtype == dtype
    np.testing.assert_allclose(np.asarray(actual), expected, equal_nan=True, **tolerances(dtype))


def grad_output_for(rng, reduction, shape, dtype):
    if reduction == "none":
        return rng.uniform(0.5, 1.5, size=target_shape(shape)).astype(dtype)
    return 0.75


def check_against_torch(name, torch_loss, x, y, options, rng):
    """fastloss.<name>, <name>_backward and <name>_with_grad against torch_loss and autograd."""
    forward, backward, with_grad = (getattr(F, name + suffix) for suffix in ("", "_backward", "_with_grad"))
    dtype = x.dtype.type
    weight = options.get("weight")
    torch_options = {**options, "weight": None if weight is None else torch.from_numpy(weight)}
    tx = as_torch(x, grad=True)
    expected = torch_loss(tx, torch_target(y), **torch_options)
    assert_close(forward(x, y, **options), expected, dtype)

    go = grad_output_for(rng, options["reduction"], x.shape, dtype)
    (expected * torch.as_tensor(np.asarray(go, dtype=dtype))).sum().backward()
    assert_close(backward(go, x, y, **options), tx.grad, dtype)

    loss, grad = with_grad(x, y, **options)
    assert_close(loss, expected, dtype)
    tx.grad = None
    torch_loss(tx, torch_target(y), **torch_options).sum().backward()
    assert_close(grad, tx.grad, dtype)


def layout_case(x, y, shape, layout):
    """(x, y) as given, or as views with the class axis and the last axes strided."""
    if layout == "contiguous":
        return x, y
    return strided(x, {class_axis(shape), x.ndim - 1}), (strided(y, {y.ndim - 1}) if y.ndim else y)


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
# Probability targets take no non-negative ignore_index (an error, see test_errors).
@pytest.mark.parametrize("kind,ignore_index", [(kind, ignore) for kind in TARGET_KINDS for ignore in (-100, 1)
                                               if kind != "probabilities" or ignore < 0])
def test_cross_entropy_matches_torch(rng, dtype, kind, ignore_index, weighted, label_smoothing, reduction,
                                     shape, layout):
    x, y = make_case(rng, shape, dtype, kind, ignore_index)
    x, y = layout_case(x, y, shape, layout)
    w = rng.uniform(0.2, 2.0, size=C).astype(dtype) if weighted else None
    options = dict(weight=w, ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
    check_against_torch("cross_entropy", torch_cross_entropy, x, y, options, rng)


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind", ["int64", "int32", "uint8"])
def test_nll_loss_matches_torch(rng, dtype, kind, weighted, ignore_index, reduction, shape, layout):
    x, y = make_case(rng, shape, dtype, kind, ignore_index)
    x, y = layout_case(F.log_softmax(x, dim=class_axis(shape)), y, shape, layout)
    w = rng.uniform(0.2, 2.0, size=C).astype(dtype) if weighted else None
    options = dict(weight=w, ignore_index=ignore_index, reduction=reduction)
    check_against_torch("nll_loss", torch_nll_loss, x, y, options, rng)


@pytest.mark.parametrize("shape,axis", [((7,), 0), ((6, 9), 1), ((6, 9), 0), ((3, 4, 5), 1), ((3, 4, 5), -1),
                                        ((2, 3, 4, 5), 2), ((4, 0), 1), ((0, 4), 1)], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_softmax_and_log_softmax_match_torch(simd_target, rng, dtype, shape, axis, layout):
    x = rng.normal(0.0, 5.0, size=shape).astype(dtype)
    if layout == "strided":
        x = strided(x, set(range(x.ndim)))
    tx = torch.from_numpy(np.ascontiguousarray(x))
    assert_close(F.softmax(x, axis), torch.softmax(tx, axis), dtype)
    assert_close(F.log_softmax(x, axis), torch.log_softmax(tx, axis), dtype)
    assert_close(fastloss.nn.Softmax(axis)(x), torch.softmax(tx, axis), dtype)
    assert_close(fastloss.nn.LogSoftmax(axis)(x), torch.log_softmax(tx, axis), dtype)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_softmax_in_place(rng, dtype, axis):
    x = rng.normal(0.0, 3.0, size=(4, 6, 5)).astype(dtype)
    expected = F.softmax(x, axis)
    logits = strided(x, {axis})
    assert F.softmax(logits, axis, out=logits) is logits
    np.testing.assert_array_equal(logits, expected)
    logits = x.copy()
    F.log_softmax(logits, axis, out=logits)
    np.testing.assert_array_equal(logits, F.log_softmax(x, axis))


def test_backward_grad_output_must_match_the_loss_shape(rng):
    x, y = make_case(rng, (4, C, 3), np.float64, "int64", -100)
    out = np.full(x.shape, 7.0)
    with pytest.raises(ValueError, match=r"grad_output of shape \(4, 2\) cannot be broadcast to shape \(4, 3\)"):
        F.cross_entropy_backward(np.ones((4, 2)), x, y, reduction="none", out=out)
    with pytest.raises(ValueError, match="grad_output must be a scalar for reduction='mean'"):
        F.cross_entropy_backward(np.ones((4, 3)), x, y, out=out)
    np.testing.assert_array_equal(out, 7.0)


def test_softmax_special_rows_match_torch(dtype):
    inf = np.inf
    x = np.array([[-inf, -inf, -inf], [-inf, 0.0, 1.0], [1e30, -1e30, 0.0], [inf, 0.0, 1.0],
                  [np.nan, 0.0, 1.0], [-1e30, -1e30, -1e30]], dtype=dtype)
    tx = torch.from_numpy(x)
    assert_close(F.softmax(x, 1), torch.softmax(tx, 1), dtype)
    assert_close(F.log_softmax(x, 1), torch.log_softmax(tx, 1), dtype)


def test_masked_and_huge_logits_match_torch(dtype):
    x = np.array([[-np.inf, 0.0, 2.0, -np.inf], [1e30, -1e30, 0.0, 5.0], [-1e30, 1e30, 1e30, 0.0]], dtype=dtype)
    y = np.array([2, 0, 1])
    tx = as_torch(x, grad=True)
    expected = TF.cross_entropy(tx, torch.from_numpy(y))
    expected.backward()
    loss, grad = F.cross_entropy_with_grad(x, y)
    assert_close(loss, expected, dtype)
    assert_close(grad, tx.grad, dtype)


@pytest.mark.parametrize("kind", TARGET_KINDS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_every_simd_target_matches_torch(simd_target, rng, dtype, kind, label_smoothing):
    # Sizes around every vector width and beyond one log-sum-exp chunk (2048).
    for classes in (1, 3, 8, 17, 33, 2500):
        x = rng.normal(0.0, 4.0, size=(9, classes)).astype(dtype)
        if kind == "probabilities":
            y = rng.uniform(size=x.shape).astype(dtype)
        else:
            y = rng.integers(0, classes, size=9).astype(kind)
        w = rng.uniform(0.5, 1.5, size=classes).astype(dtype)
        tx = as_torch(x, grad=True)
        expected = TF.cross_entropy(tx, torch_target(y), torch.from_numpy(w), label_smoothing=label_smoothing)
        expected.backward()
        loss, grad = F.cross_entropy_with_grad(x, y, w, label_smoothing=label_smoothing)
        assert_close(loss, expected, dtype)
        assert_close(grad, tx.grad, dtype)


@pytest.mark.parametrize("kind", TARGET_KINDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_fused_loss_equals_the_forward_bitwise(simd_target, rng, dtype, kind, weighted, label_smoothing):
    # The fused forward+backward sums each row as the forward does, on every target: an
    # `omp simd reduction` once let clang (the wheel's compiler) order the two loops' sums
    # differently.
    for classes in (1, 3, 8, 13, 17, 33, 65, 300, 2500):
        x = rng.normal(0.0, 4.0, size=(37, classes)).astype(dtype)
        if kind == "probabilities":
            y = rng.dirichlet(np.ones(classes), size=37).astype(dtype)
        else:
            y = rng.integers(0, classes, size=37).astype(kind)
        w = rng.uniform(0.5, 1.5, size=classes).astype(dtype) if weighted else None
        options = dict(weight=w, label_smoothing=label_smoothing, reduction="none")
        loss, _ = F.cross_entropy_with_grad(x, y, **options)
        np.testing.assert_array_equal(loss, F.cross_entropy(x, y, **options), err_msg=f"{classes} classes")


def test_gradient_matches_finite_differences(rng):
    x = rng.normal(size=(3, 4, 2))
    y = np.array([[0, 3], [-100, 2], [1, 1]])
    w = rng.uniform(0.5, 2.0, size=4)
    options = dict(weight=w, label_smoothing=0.2)
    grad = F.cross_entropy_backward(1.0, x, y, **options)
    numeric = finite_difference_grad(lambda v: F.cross_entropy(v, y, **options), x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    assert np.all(grad[1, :, 0] == 0.0)  # the ignored element


@pytest.mark.parametrize("kind", TARGET_KINDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(64, 300), (4, 300, 7)], ids=str)
def test_in_place_gradient_overwrites_logits(rng, dtype, kind, reduction, shape):
    x, y = make_case(rng, shape, dtype, kind, -100)
    expected_loss, expected_grad = F.cross_entropy_with_grad(x, y, reduction=reduction, label_smoothing=0.1)
    logits = x.copy()
    loss, grad = F.cross_entropy_with_grad(logits, y, reduction=reduction, label_smoothing=0.1, out=logits)
    assert grad is logits
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(logits, expected_grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("classes", [5, 300, 1001])  # short rows, and rows written with streaming stores
def test_nll_loss_in_place_reads_each_row_before_writing_its_gradient(rng, dtype, reduction, classes):
    x = np.log(rng.dirichlet(np.ones(classes), size=37)).astype(dtype)
    y = rng.integers(0, classes, size=37)
    y[3] = -100
    expected_loss, expected_grad = F.nll_loss_with_grad(x, y, reduction=reduction)
    log_probs = x.copy()
    loss, grad = F.nll_loss_with_grad(log_probs, y, reduction=reduction, out=log_probs)
    assert grad is log_probs
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(log_probs, expected_grad)
    np.testing.assert_array_equal(expected_loss, F.nll_loss(x, y, reduction=reduction))


def test_in_place_gradient_of_a_strided_view(rng):
    x, y = make_case(rng, (8, C, 6), np.float32, "int64", -100)
    view = strided(x, {1, 2})
    expected_loss, expected_grad = F.cross_entropy_with_grad(x, y)
    loss, grad = F.cross_entropy_with_grad(view, y, out=view)
    assert grad is view
    assert loss == expected_loss
    np.testing.assert_array_equal(view, expected_grad)
    np.testing.assert_array_equal(view.base[:, 1::2], 0.0)  # the gaps are untouched


def test_out_overlapping_an_operand_is_rejected(rng):
    x, y = make_case(rng, (4, C), np.float64, "probabilities", -100)
    with pytest.raises(ValueError, match="overlaps"):
        F.cross_entropy_with_grad(x, y, out=y)


@pytest.mark.parametrize("index_dtype", [np.int32, np.uint8])
def test_index_dtypes_agree_bitwise_with_int64(rng, index_dtype):
    x, y = make_case(rng, (50, C, 4), np.float32, "int64", 1)
    for reduction in REDUCTIONS:
        a = F.cross_entropy_with_grad(x, y, ignore_index=1, reduction=reduction, label_smoothing=0.3)
        b = F.cross_entropy_with_grad(x, y.astype(index_dtype), ignore_index=1, reduction=reduction,
                                      label_smoothing=0.3)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_uint8_targets_match_torchs_uint8_targets(rng):
    x, y = make_case(rng, (40, C), np.float64, "uint8", -100)
    for name in ("cross_entropy", "nll_loss"):
        want = getattr(TF, name)(torch.from_numpy(x), torch.from_numpy(y), reduction="none").numpy()
        np.testing.assert_allclose(getattr(F, name)(x, y, reduction="none"), want, rtol=1e-15)
    with pytest.raises(TypeError, match="int64, int32 or uint8, got int8"):
        F.cross_entropy(x, y.astype(np.int8))


def test_reductions_are_bitwise_identical_for_any_thread_count(rng):
    x, y = make_case(rng, (3000, 37), np.float32, "int64", -100)
    x = rng.normal(size=(3000, 37)).astype(np.float32)
    y = rng.integers(0, 37, size=3000)
    before = fastloss.get_num_threads()
    try:
        fastloss.set_num_threads(1)
        serial = F.cross_entropy_with_grad(x, y, label_smoothing=0.1)
        for threads in (2, 3, 7):
            fastloss.set_num_threads(threads)
            parallel = F.cross_entropy_with_grad(x, y, label_smoothing=0.1)
            assert serial[0].tobytes() == parallel[0].tobytes()
            np.testing.assert_array_equal(serial[1], parallel[1])
    finally:
        fastloss.set_num_threads(before)


def test_all_targets_ignored(dtype):
    x = np.zeros((3, C), dtype=dtype)
    y = np.full(3, -100)
    assert np.isnan(F.cross_entropy(x, y))
    assert F.cross_entropy(x, y, reduction="sum") == 0.0
    loss, grad = F.cross_entropy_with_grad(x, y, label_smoothing=0.5)
    assert np.isnan(loss)
    np.testing.assert_array_equal(grad, 0.0)


def test_legacy_reduction_flags(rng):
    x, y = make_case(rng, (6, C), np.float64, "int64", -100)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        assert F.cross_entropy(x, y, size_average=False) == F.cross_entropy(x, y, reduction="sum")
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(F.nll_loss(x, y, reduce=False), F.nll_loss(x, y, reduction="none"))


def test_loss_classes(rng):
    x, y = make_case(rng, (6, C), np.float64, "int64", -100)
    w = rng.uniform(0.5, 2.0, size=C)
    ce = fastloss.nn.CrossEntropyLoss(weight=w, ignore_index=2, label_smoothing=0.1, reduction="sum")
    assert ce(x, y) == F.cross_entropy(x, y, w, ignore_index=2, label_smoothing=0.1, reduction="sum")
    np.testing.assert_array_equal(ce.backward(2.0), F.cross_entropy_backward(2.0, x, y, w, ignore_index=2,
                                                                            label_smoothing=0.1, reduction="sum"))
    nll = fastloss.nn.NLLLoss(weight=w, ignore_index=2)
    assert nll(x, y) == F.nll_loss(x, y, w, ignore_index=2)
    assert nll.with_grad(x, y)[0] == F.nll_loss(x, y, w, ignore_index=2)


# --- errors, raised before anything is written ------------------------------------------


def _error_cases():
    x = np.zeros((3, C), dtype=np.float32)
    y = np.array([0, 1, 2])
    probs = np.full((3, C), 0.2, dtype=np.float32)
    return [
        ((x, np.array([0, 12, 1])), {}, IndexError, "Target 12 is out of bounds."),
        ((x, np.array([0, -1, 1])), {}, IndexError, "Target -1 is out of bounds."),
        ((x, np.array([0, 1, 2, 3])), {}, ValueError,
         r"Expected input batch_size \(3\) to match target batch_size \(4\)\."),
        ((np.zeros((2, C, 5), np.float32), np.zeros((2, 6), np.int64)), {}, ValueError,
         r"Expected target size \[2, 5\], got \[2, 6\]"),
        ((np.array(1.0, np.float32), np.zeros((), np.int64)), {}, ValueError,
         r"Expected 1 or more dimensions \(got 0\)"),
        ((x, y), {"weight": np.ones(3, np.float32)}, ValueError,
         r"weight tensor should be defined either for all 5 classes or no classes but got weight tensor of "
         r"shape: \[3\]"),
        ((x, y), {"label_smoothing": 1.5}, ValueError, "label_smoothing must be between 0.0 and 1.0. Got: 1.5"),
        ((x, y), {"label_smoothing": -0.1}, ValueError, "label_smoothing must be between 0.0 and 1.0"),
        ((x, probs), {"ignore_index": 0}, ValueError, "ignore_index is not supported for floating point target"),
        ((x, np.zeros((3, C), np.int64)), {}, TypeError,
         "Expected floating point type for target with class probabilities, got int64"),
        ((x, y.astype(np.float32)), {}, TypeError, "target of class indices must have dtype int64, int32 or uint8"),
        ((x, probs.astype(np.float64)), {}, TypeError, "target must have dtype float32"),
        ((x, y), {"weight": np.ones(C, np.float64)}, TypeError, "weight must have dtype float32"),
        ((x.astype(np.int32), y), {}, TypeError, "float32 or float64"),
        ((x.tolist(), y), {}, TypeError, "numpy.ndarray"),
        ((x, y), {"reduction": "avg"}, ValueError, "avg is not a valid value for reduction"),
    ]


@pytest.mark.parametrize("case", _error_cases(), ids=lambda c: c[3][:40])
def test_errors(case):
    args, kwargs, error, message = case
    with pytest.raises(error, match=message):
        F.cross_entropy(*args, **kwargs)
    if isinstance(args[0], np.ndarray) and args[0].dtype == np.float32 and args[0].ndim == 2:
        out = np.full(args[0].shape, 7.0, dtype=args[0].dtype)
        with pytest.raises(error, match=message):
            F.cross_entropy_with_grad(*args, **kwargs, out=out)
        np.testing.assert_array_equal(out, 7.0)  # nothing written


def test_torch_raises_the_same_errors():
    """The messages above are torch's own for the cases torch has."""
    x = torch.zeros(3, C)
    with pytest.raises(IndexError, match="Target 12 is out of bounds."):
        TF.cross_entropy(x, torch.tensor([0, 12, 1]))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(4\)\."):
        TF.cross_entropy(x, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0. Got: 1.5"):
        TF.cross_entropy(x, torch.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point target"):
        TF.cross_entropy(x, torch.full((3, C), 0.2), ignore_index=0)


def test_nll_loss_rejects_probability_targets(rng):
    x = np.zeros((3, C))
    with pytest.raises(TypeError, match="int64, int32 or uint8"):
        F.nll_loss(x, np.full((3, C), 0.2))


def test_softmax_dim_out_of_range():
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.softmax(np.zeros((2, 3)), dim=2)
