"""cosine_embedding, multi_margin and triplet_margin: parity with torch 2.13 (every option,
both dtypes, contiguous and strided layouts, every reduction and the legacy arguments),
gradients vs autograd and finite differences, corner cases, errors and the nn classes."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
import fastloss.nn as nn
from conftest import finite_difference_grad, tolerances
from loss_parity import LAYOUTS, as_torch, check_parity

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ["none", "mean", "sum"]
# 1-d inputs (a 0-d target) are tested on their own: check_parity hands torch 1-d copies.
ROW_SHAPES = [(1, 5), (9, 17), (33, 64)]


def _cosine_operands(rng, shape, dtype):
    x1 = rng.standard_normal(shape).astype(dtype)
    x2 = (0.5 * x1 + rng.standard_normal(shape)).astype(dtype)
    labels = rng.choice([-1.0, 1.0], size=shape[:-1]).astype(dtype)
    return x1, x2, labels


@pytest.mark.parametrize("shape", ROW_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("margin", [0.0, 0.25, -0.5])
def test_cosine_embedding_matches_torch(simd_target, dtype, rng, shape, reduction, layout, margin):
    operands = list(_cosine_operands(rng, shape, dtype))
    check_parity("cosine_embedding_loss", TF.cosine_embedding_loss, operands,
                 {"reduction": reduction, "margin": margin}, dtype, layout, rng, grad_operands=(0, 1))


@pytest.mark.parametrize("shape", [(1, 4), (9, 17), (33, 64)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_matches_torch(simd_target, dtype, rng, shape, reduction, layout, p, weighted):
    x = rng.standard_normal(shape).astype(dtype)
    target = rng.integers(0, shape[-1], size=shape[:-1])
    options = {"reduction": reduction, "p": p, "margin": 0.7}
    if weighted:
        options["weight"] = rng.uniform(0.2, 2.0, size=shape[-1]).astype(dtype)
    check_parity("multi_margin_loss", TF.multi_margin_loss, [x, target], options, dtype, layout, rng)


@pytest.mark.parametrize("shape", [(9,), (9, 17), (33, 64), (2, 3, 5)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("p", [2, 1, 3, 1.5, float("inf")])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_matches_torch(simd_target, dtype, rng, shape, reduction, layout, p, swap):
    a, pos, neg = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    # The loss is a difference of two distances of size ~dim: torch's float32 sums (ours are
    # float64) leave it float32 rounding of the distances, not of the difference.
    tol = {"rtol": 2e-5, "atol": 2e-4} if dtype == np.float32 else None
    # A margin that leaves some rows inside and some outside the hinge.
    check_parity("triplet_margin_loss", TF.triplet_margin_loss, [a, pos, neg],
                 {"reduction": reduction, "p": p, "swap": swap, "margin": 0.5, "eps": 1e-6},
                 dtype, layout, rng, grad_operands=(0, 1, 2), tol=tol)


def test_cosine_zero_vectors_and_odd_labels_take_torchs_values(dtype):
    x1 = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]], dtype)
    x2 = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 2.0, 3.0]], dtype)
    labels = np.array([1.0, -1.0, 0.0, 2.0], dtype)
    a, b = as_torch(x1, grad=True), as_torch(x2, grad=True)
    expected = TF.cosine_embedding_loss(a, b, as_torch(labels), reduction="none")
    expected.sum().backward()
    loss, g1, g2 = F.cosine_embedding_loss_with_grad(x1, x2, labels, reduction="none")
    np.testing.assert_allclose(loss, expected.detach().numpy(), **tolerances(dtype))
    # Row 1 sits on the hinge (cos = margin = 0): the gradient passes, of size 1 / sqrt(14e-12),
    # which torch's autograd chain rounds to a few 1e-9 relative.
    np.testing.assert_allclose(g1, a.grad.numpy(), rtol=1e-5 if dtype == np.float32 else 1e-8)
    np.testing.assert_allclose(g2, b.grad.numpy(), rtol=1e-5 if dtype == np.float32 else 1e-8)
    assert g2[1, 0] != 0.0
    assert loss[0] == 1.0  # cos of zero vectors is 0 thanks to the 1e-12


def test_cosine_integer_labels_and_one_dimensional_inputs(dtype, rng):
    x1, x2 = rng.standard_normal(6).astype(dtype), rng.standard_normal(6).astype(dtype)
    expected = TF.cosine_embedding_loss(as_torch(x1), as_torch(x2), torch.tensor(-1), margin=-1.0, reduction="none")
    actual = F.cosine_embedding_loss(x1, x2, np.array(-1), margin=-1.0, reduction="none")
    assert actual.shape == () and actual.dtype == dtype
    np.testing.assert_allclose(actual, expected.numpy(), **tolerances(dtype))


def test_multi_margin_hinge_point_passes_no_gradient():
    # z = margin - x_y + x_j = 0 exactly for j = 1: torch's kernel takes z > 0 only.
    x = np.array([[1.0, 0.0, -5.0]])
    t = np.array([0])
    xt = as_torch(x, grad=True)
    TF.multi_margin_loss(xt, torch.tensor(t), reduction="sum").backward()
    np.testing.assert_array_equal(F.multi_margin_loss_backward(1.0, x, t, reduction="sum"), xt.grad.numpy())


def test_multi_margin_vector_and_scalar_inputs(dtype, rng):
    x = rng.standard_normal(5).astype(dtype)
    expected = TF.multi_margin_loss(as_torch(x), torch.tensor(3), reduction="none")
    actual = F.multi_margin_loss(x, np.array(3), reduction="none")
    assert actual.shape == ()
    np.testing.assert_allclose(actual, expected.numpy(), **tolerances(dtype))
    # An int32 target is the same classes.
    np.testing.assert_allclose(F.multi_margin_loss(x[None], np.array([3], np.int32)), expected.numpy(),
                               **tolerances(dtype))


def test_triplet_tie_and_zero_distance_take_torchs_gradient():
    # margin + d(a, p) - d(a, n) == 0: torch's clamp_min passes the gradient; d(a, p) == 0
    # (eps = 0) has a zero gradient; under swap d(a, n) == d(p, n) splits it in halves.
    a = np.array([[0.0, 0.0]])
    p = np.array([[0.0, 0.0]])
    n = np.array([[1.0, 0.0]])
    tensors = [as_torch(v, grad=True) for v in (a, p, n)]
    TF.triplet_margin_loss(*tensors, margin=1.0, eps=0.0, swap=True).backward()
    grads = F.triplet_margin_loss_backward(1.0, a, p, n, margin=1.0, eps=0.0, swap=True)
    for grad, tensor in zip(grads, tensors):
        np.testing.assert_array_equal(grad, tensor.grad.numpy())
    assert grads[2][0, 0] != 0.0


@pytest.mark.parametrize("p", [1, 2, 3, float("inf")])
def test_triplet_nan_and_inf_follow_torch(p):
    a, pos, neg = (np.linspace(-1, 1, 12).reshape(3, 4) * k for k in (1.0, 0.5, -0.7))
    a = a.copy()
    a[0, 1], a[1, 2] = np.nan, np.inf
    expected = TF.triplet_margin_loss(as_torch(a), as_torch(pos), as_torch(neg), p=p, reduction="none")
    np.testing.assert_array_equal(F.triplet_margin_loss(a, pos, neg, p=p, reduction="none"), expected.numpy())


def test_gradients_match_finite_differences(rng):
    x1, x2, y = _cosine_operands(rng, (3, 4), np.float64)
    numeric = finite_difference_grad(lambda v: F.cosine_embedding_loss(v, x2, y, margin=-0.3, reduction="sum"), x1)
    np.testing.assert_allclose(F.cosine_embedding_loss_backward(1.0, x1, x2, y, margin=-0.3, reduction="sum")[0],
                               numeric, rtol=1e-6, atol=1e-8)
    x = rng.standard_normal((3, 5))
    t = np.array([0, 4, 2])
    numeric = finite_difference_grad(lambda v: F.multi_margin_loss(v, t, p=2), x)
    np.testing.assert_allclose(F.multi_margin_loss_backward(1.0, x, t, p=2), numeric, rtol=1e-6, atol=1e-8)
    a, p, n = (rng.standard_normal((3, 4)) for _ in range(3))
    numeric = finite_difference_grad(lambda v: F.triplet_margin_loss(a, p, v, p=3, swap=True, margin=2.0), n)
    np.testing.assert_allclose(F.triplet_margin_loss_backward(1.0, a, p, n, p=3, swap=True, margin=2.0)[2],
                               numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("size_average,reduce", [(None, False), (False, None), (True, True), (False, True)])
def test_legacy_reduction_arguments(rng, size_average, reduce):
    x1, x2, y = _cosine_operands(rng, (5, 3), np.float64)
    with pytest.warns(UserWarning):
        actual = F.cosine_embedding_loss(x1, x2, y, size_average=size_average, reduce=reduce)
    with pytest.warns(UserWarning):
        expected = TF.cosine_embedding_loss(as_torch(x1), as_torch(x2), as_torch(y), size_average=size_average,
                                            reduce=reduce)
    np.testing.assert_allclose(actual, expected.numpy(), rtol=1e-12)
    t = np.array([0, 1, 2, 0, 1])
    with pytest.warns(UserWarning):
        actual = F.multi_margin_loss(x1, t, size_average=size_average, reduce=reduce)
    with pytest.warns(UserWarning):
        expected = TF.multi_margin_loss(as_torch(x1), torch.tensor(t), size_average=size_average, reduce=reduce)
    np.testing.assert_allclose(actual, expected.numpy(), rtol=1e-12)
    with pytest.warns(UserWarning):
        actual = F.triplet_margin_loss(x1, x2, x1[::-1], size_average=size_average, reduce=reduce)
    with pytest.warns(UserWarning):
        expected = TF.triplet_margin_loss(as_torch(x1), as_torch(x2), as_torch(x1[::-1]),
                                          size_average=size_average, reduce=reduce)
    np.testing.assert_allclose(actual, expected.numpy(), rtol=1e-12)


def test_with_grad_writes_into_the_first_input(rng):
    x1, x2, y = _cosine_operands(rng, (6, 5), np.float64)
    expected = F.cosine_embedding_loss_backward(1.0, x1, x2, y)
    loss, g1, g2 = F.cosine_embedding_loss_with_grad(x1.copy(), x2, y, out=None)
    buffer = x1.copy()
    _, g1_in_place, _ = F.cosine_embedding_loss_with_grad(buffer, x2, y, out=buffer)
    assert g1_in_place is buffer
    np.testing.assert_array_equal(g1_in_place, expected[0])
    x = rng.standard_normal((4, 6))
    t = np.array([5, 0, 3, 3])
    expected_grad = F.multi_margin_loss_backward(1.0, x, t)
    view = np.asfortranarray(x)
    _, grad = F.multi_margin_loss_with_grad(view, t, out=view)
    assert grad is view
    np.testing.assert_array_equal(grad, expected_grad)


def test_errors_use_torchs_messages():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="1D target tensor expects 2D input tensors"):
        F.cosine_embedding_loss(x[0], x[0], np.ones(3))
    with pytest.raises(ValueError, match="0D or 1D target tensor expected, multi-target not supported"):
        F.cosine_embedding_loss(x, x, np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"The size of tensor a \(4\) must match the size of tensor b \(5\)"):
        F.cosine_embedding_loss(x, np.zeros((3, 5)), np.ones(3))
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        F.multi_margin_loss(x, np.array([0, 1, 2]), p=3)
    with pytest.raises(IndexError, match="target out of range"):
        F.multi_margin_loss(x, np.array([0, 4, 2]))
    with pytest.raises(ValueError, match=r"Expected target size \[3\], but got \[2\]"):
        F.multi_margin_loss(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"inconsistent weight size, expected 4 but got \[3\]"):
        F.multi_margin_loss(x, np.array([0, 1, 2]), weight=np.ones(3))
    with pytest.raises(ValueError, match="Expected non-empty vector or matrix"):
        F.multi_margin_loss(np.zeros((3, 4, 2)), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="int64, int32 or uint8"):
        F.multi_margin_loss(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="anchor 2D, positive 2D, and negative 1D inputs"):
        F.triplet_margin_loss(x, x, x[0])
    with pytest.raises(ValueError, match="margin must be greater than 0, got -1"):
        F.triplet_margin_loss(x, x, x, margin=-1)
    with pytest.raises(TypeError, match="float64"):
        F.triplet_margin_loss(x, x, x.astype(np.float32))
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.cosine_embedding_loss(x, x, np.ones(3), reduction="avg")


def test_nn_classes_match_functional(rng):
    x1, x2, y = _cosine_operands(rng, (5, 3), np.float64)
    loss = nn.CosineEmbeddingLoss(margin=0.2, reduction="sum")
    assert loss(x1, x2, y) == F.cosine_embedding_loss(x1, x2, y, margin=0.2, reduction="sum")
    for got, want in zip(loss.backward(), F.cosine_embedding_loss_backward(1.0, x1, x2, y, margin=0.2,
                                                                          reduction="sum")):
        np.testing.assert_array_equal(got, want)
    w = np.array([1.0, 2.0, 0.5])
    t = np.array([0, 2, 1, 1, 0])
    mm = nn.MultiMarginLoss(p=2, margin=0.5, weight=w)
    assert mm(x1, t) == F.multi_margin_loss(x1, t, p=2, margin=0.5, weight=w)
    np.testing.assert_array_equal(mm.with_grad(x1, t)[1], F.multi_margin_loss_backward(1.0, x1, t, p=2, margin=0.5,
                                                                                       weight=w))
    tm = nn.TripletMarginLoss(margin=2.0, p=1, swap=True)
    assert tm(x1, x2, x1[::-1]) == F.triplet_margin_loss(x1, x2, x1[::-1], margin=2.0, p=1, swap=True)
    assert len(tm.backward()) == 3
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        nn.TripletMarginLoss(margin=0.0)


def test_results_are_bitwise_identical_for_any_thread_count(rng):
    # Enough rows for many chunks: partial sums combine in chunk order whatever the threads.
    x1, x2, y = _cosine_operands(rng, (4000, 33), np.float32)
    t = rng.integers(0, 33, size=4000)
    calls = [lambda: F.cosine_embedding_loss_with_grad(x1, x2, y),
             lambda: F.multi_margin_loss_with_grad(x1, t, p=2),
             lambda: F.triplet_margin_loss_with_grad(x1, x2, x1[::-1], swap=True)]
    previous = fastloss.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            fastloss.set_num_threads(threads)
            results.append([call() for call in calls])
    finally:
        fastloss.set_num_threads(previous)
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            for a, b in zip(got, want):
                assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def _class_lists(rng, shape):
    """multilabel_margin targets: each row a few classes (one repeated now and then), a -1,
    then any classes and -1s (ignored)."""
    rows = shape[0] if len(shape) == 2 else 1
    classes = shape[-1]
    target = rng.integers(-1, classes, (rows, classes))
    for r in range(rows):
        k = int(rng.integers(0, classes + 1))
        target[r, :k] = rng.integers(0, classes, k) if r % 3 == 2 else rng.permutation(classes)[:k]
        if k < classes:
            target[r, k] = -1
    return target.reshape(shape)


@pytest.mark.parametrize("shape", [(6,), (1, 4), (9, 17), (33, 300)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_multilabel_margin_matches_torch(simd_target, dtype, rng, shape, reduction, layout):
    x = rng.standard_normal(shape).astype(dtype)
    check_parity("multilabel_margin_loss", TF.multilabel_margin_loss, [x, _class_lists(rng, shape)],
                 {"reduction": reduction}, dtype, layout, rng)


def test_multilabel_margin_corner_cases_take_torchs_values(dtype):
    # Row 0: NaN and inf non-targets (a NaN hinge adds nothing, as torch's z > 0); row 1: an
    # infinite target (inf - inf hinges are NaN: nothing); row 2: a class listed twice and a
    # hinge exactly at 0 (no gradient); row 3: no classes at all.
    x = np.array([[0.1, np.nan, 2.0, np.inf], [np.inf, 0.0, 2.0, np.inf], [0.5, -0.5, 0.2, 0.0],
                  [1.0, 2.0, 3.0, 4.0]], dtype)
    t = np.array([[0, -1, 3, 3], [0, -1, 0, 0], [0, 0, -1, 2], [-1, 1, 2, 3]])
    xt = as_torch(x, grad=True)
    expected = TF.multilabel_margin_loss(xt, torch.tensor(t), reduction="none")
    expected.sum().backward()
    loss, grad = F.multilabel_margin_loss_with_grad(x, t, reduction="none")
    np.testing.assert_allclose(loss, expected.detach().numpy(), **tolerances(dtype))
    np.testing.assert_allclose(grad, xt.grad.numpy(), **tolerances(dtype))
    np.testing.assert_allclose(F.multilabel_margin_loss_backward(np.ones(4, dtype), x, t, reduction="none"),
                               xt.grad.numpy(), **tolerances(dtype))


def test_multilabel_margin_shapes_dtypes_and_errors(dtype, rng):
    x = rng.standard_normal(5).astype(dtype)
    t = np.array([3, 1, -1, 0, 0])
    expected = TF.multilabel_margin_loss(as_torch(x), torch.tensor(t), reduction="none")
    for target in (t, t.astype(np.int32)):
        actual = F.multilabel_margin_loss(x, target, reduction="none")
        assert actual.shape == () == tuple(expected.shape)  # torch: a 0-d loss for a (C,) input
        np.testing.assert_allclose(actual, expected.numpy(), **tolerances(dtype))
    # A 0-d input is one row of one class.
    scalar = np.asarray(0.5, dtype)
    for target in (np.array(0), np.array([0]), np.array(-1)):
        assert F.multilabel_margin_loss(scalar, target, reduction="none") == 0.0
    # An empty batch: "sum" 0, "none" (0,), "mean" NaN (torch reads uninitialised memory).
    empty, no_classes = np.zeros((0, 4), dtype), np.zeros((0, 4), np.int64)
    assert F.multilabel_margin_loss(empty, no_classes, reduction="sum") == 0.0
    assert F.multilabel_margin_loss(empty, no_classes, reduction="none").shape == (0,)
    assert np.isnan(F.multilabel_margin_loss(empty, no_classes))
    xs = rng.standard_normal((3, 4)).astype(dtype)
    ts = np.array([[3, 0, -1, 1], [1, 2, 3, -1], [-1, 0, 0, 0]])
    with pytest.raises(IndexError, match="argument #2 'target' is out of range"):
        F.multilabel_margin_loss(xs, np.where(ts == 0, 4, ts))
    with pytest.raises(IndexError, match="out of range"):
        F.multilabel_margin_loss_backward(1.0, xs, np.where(ts == 1, -2, ts))  # after the -1 too
    with pytest.raises(ValueError, match=r"inconsistent target size: \[2, 4\] for input of size: \[3, 4\]"):
        F.multilabel_margin_loss(xs, ts[:2])
    with pytest.raises(ValueError, match=r"inconsistent target size: \[1, 4\] for input of size: \[4\]"):
        F.multilabel_margin_loss(xs[0], ts[:1])
    with pytest.raises(ValueError, match=r"Expected non-empty vector or matrix .* but got: \[2, 3, 4\]"):
        F.multilabel_margin_loss(np.zeros((2, 3, 4), dtype), np.zeros((2, 3, 4), np.int64))
    with pytest.raises(ValueError, match="Expected non-empty vector"):
        F.multilabel_margin_loss(np.zeros((3, 0), dtype), np.zeros((3, 0), np.int64))
    with pytest.raises(TypeError, match="int64, int32 or uint8"):
        F.multilabel_margin_loss(xs, ts.astype(dtype))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.multilabel_margin_loss(xs, ts, reduction="avg")


def test_multilabel_margin_nn_and_legacy(rng):
    x = rng.standard_normal((4, 6))
    t = _class_lists(rng, (4, 6))
    module = nn.MultiLabelMarginLoss(reduction="sum")
    expected = TF.multilabel_margin_loss(as_torch(x), torch.tensor(t), reduction="sum")
    np.testing.assert_allclose(module(x, t), expected.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(module.backward(), F.multilabel_margin_loss_backward(1.0, x, t, reduction="sum"))
    with pytest.warns(UserWarning, match="size_average and reduce"):
        legacy = F.multilabel_margin_loss(x, t, reduce=False)
    np.testing.assert_array_equal(legacy, F.multilabel_margin_loss(x, t, reduction="none"))
