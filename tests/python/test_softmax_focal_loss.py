"""softmax_focal_loss against a reference written with torch ops (autograd gives its
gradient), its reduction to cross_entropy at gamma = 0, and its argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
from conftest import tolerances

torch = pytest.importorskip("torch")

C = 6
SHAPES = [(C,), (7, C), (3, C, 4), (2, C, 2, 3), (0, C)]
REDUCTIONS = ["none", "mean", "sum"]


def reference(x, t, alpha, gamma, weight, ignore_index, reduction):
    """-w[t] alpha_t (1 - p_t)^gamma log p_t; the mean divides by sum of w[t] (not alpha)."""
    unbatched = x.dim() == 1
    if unbatched:
        x, t = x.unsqueeze(0), t.unsqueeze(0)
    keep = t != ignore_index
    safe_t = torch.where(keep, t, torch.zeros_like(t))
    log_p = torch.log_softmax(x, 1).gather(1, safe_t.unsqueeze(1)).squeeze(1)
    w = torch.ones(x.shape[1], dtype=x.dtype) if weight is None else weight
    if alpha is None:
        a = torch.ones(x.shape[1], dtype=x.dtype)
    elif isinstance(alpha, float):
        a = torch.full((x.shape[1],), alpha, dtype=x.dtype)
    else:
        a = alpha
    w_t = torch.where(keep, w[safe_t], torch.zeros((), dtype=x.dtype))
    loss = -w_t * a[safe_t] * (1 - log_p.exp()) ** gamma * log_p
    if reduction == "none":
        return loss[0] if unbatched else loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w_t.sum()


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha_kind", ["none", "scalar", "per_class"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_matches_torch_reference(rng, dtype, ignore_index, weighted, alpha_kind, gamma, reduction, shape, layout):
    class_axis = 0 if len(shape) == 1 else 1
    x = rng.normal(0.0, 2.0, size=shape).astype(dtype)
    t = rng.integers(0, C, size=tuple(e for d, e in enumerate(shape) if d != class_axis))
    if ignore_index >= 0 and t.size:
        t.flat[::4] = ignore_index
    w = rng.uniform(0.3, 2.0, size=C).astype(dtype) if weighted else None
    alpha = {"none": None, "scalar": 0.25, "per_class": rng.uniform(0.1, 1.0, size=C).astype(dtype)}[alpha_kind]
    if layout == "strided":
        big = np.zeros(tuple(2 * e for e in shape), dtype=dtype)
        view = tuple(slice(None, None, 2) for _ in shape)
        big[view] = x
        x = big[view]
    options = dict(alpha=alpha, gamma=gamma, weight=w, ignore_index=ignore_index, reduction=reduction)

    tx = torch.from_numpy(np.array(x, order="C")).requires_grad_()
    talpha = torch.from_numpy(alpha) if isinstance(alpha, np.ndarray) else alpha
    expected = reference(tx, torch.from_numpy(np.array(t)), talpha, gamma,
                         None if w is None else torch.from_numpy(w), ignore_index, reduction)
    tol = tolerances(dtype)
    loss = F.softmax_focal_loss(x, t, **options)
    assert np.asarray(loss).dtype == dtype
    np.testing.assert_allclose(loss, expected.detach().numpy(), equal_nan=True, **tol)

    go = rng.uniform(0.5, 1.5, size=np.shape(expected)).astype(dtype) if reduction == "none" else 0.5
    (expected * torch.as_tensor(np.asarray(go, dtype=dtype))).sum().backward()
    grad = F.softmax_focal_loss_backward(go, x, t, **options)
    # Every target ignored: the reference's 0/0 mean has a NaN gradient; fastloss gives 0
    # there, as torch's cross_entropy does.
    all_ignored = reduction == "mean" and not np.any(t != ignore_index)
    np.testing.assert_allclose(grad, np.zeros_like(x) if all_ignored else tx.grad.numpy(), **tol)

    fused_loss, fused_grad = F.softmax_focal_loss_with_grad(x, t, **options)
    np.testing.assert_array_equal(fused_loss, loss)
    ones = np.ones(np.shape(expected), dtype=dtype) if reduction == "none" else 1.0
    np.testing.assert_allclose(fused_grad, F.softmax_focal_loss_backward(ones, x, t, **options), **tol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(9, C), (4, C, 5)], ids=str)
def test_gamma_zero_without_alpha_is_cross_entropy_exactly(rng, dtype, reduction, shape):
    x = rng.normal(0.0, 3.0, size=shape).astype(dtype)
    t = rng.integers(0, C, size=(shape[0],) + shape[2:])
    t.flat[::3] = 4
    w = rng.uniform(0.3, 2.0, size=C).astype(dtype)
    options = dict(weight=w, ignore_index=4, reduction=reduction)
    focal = F.softmax_focal_loss_with_grad(x, t, gamma=0.0, **options)
    ce = F.cross_entropy_with_grad(x, t, **options)
    np.testing.assert_array_equal(focal[0], ce[0])
    np.testing.assert_array_equal(focal[1], ce[1])


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha_kind", ["scalar", "per_class"])
def test_fused_loss_equals_the_forward_bitwise(simd_target, rng, dtype, gamma, alpha_kind):
    # The forward's small-class tiles compute only the loss, the fused pass's also the
    # gradient terms: the loss expression must be the same in both. 37 rows: whole tiles, a
    # partial one and ignored rows; 65 and 300 classes run the per-row path.
    for classes in (2, 3, 10, 17, 64, 65, 300):
        x = rng.normal(0.0, 4.0, size=(37, classes)).astype(dtype)
        t = rng.integers(0, classes, size=37)
        t[::5] = -100
        alpha = 0.25 if alpha_kind == "scalar" else rng.uniform(0.1, 1.0, size=classes).astype(dtype)
        w = rng.uniform(0.5, 1.5, size=classes).astype(dtype)
        options = dict(weight=w, alpha=alpha, gamma=gamma, reduction="none")
        loss, _ = F.softmax_focal_loss_with_grad(x, t, **options)
        np.testing.assert_array_equal(loss, F.softmax_focal_loss(x, t, **options), err_msg=f"{classes} classes")


def test_confident_rows_keep_a_finite_gradient(dtype):
    # p_t = 1 - 1.7e-6: (1 - p_t)^(gamma - 1) is large for gamma < 1 but finite, and
    # 1 - p_t = -expm1(log p_t) keeps its digits; a certain row (p_t = 1) has loss +0.
    x = np.array([[14.0, 0.0, 0.0], [0.0, 0.0, 0.0], [200.0, 0.0, 0.0]], dtype=dtype)
    t = np.array([0, 1, 0])
    for gamma in (0.5, 1.0, 2.0):
        loss, grad = F.softmax_focal_loss_with_grad(x, t, gamma=gamma, reduction="none")
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
        assert loss[0] > 0
        assert loss[2] == 0.0 and not np.signbit(loss[2])


def test_focal_loss_class(rng):
    x = rng.normal(size=(5, C))
    t = rng.integers(0, C, size=5)
    alpha = rng.uniform(0.1, 1.0, size=C)
    module = fastloss.nn.SoftmaxFocalLoss(alpha=alpha, gamma=1.5, reduction="sum")
    assert module(x, t) == F.softmax_focal_loss(x, t, alpha, 1.5, reduction="sum")
    np.testing.assert_array_equal(module.backward(), F.softmax_focal_loss_backward(1.0, x, t, alpha, 1.5,
                                                                                  reduction="sum"))


@pytest.mark.parametrize("kwargs,error,message", [
    ({"alpha": np.ones(3)}, ValueError, r"alpha must be a scalar or have shape \(6,\)"),
    ({"alpha": np.ones(C, np.float32)}, TypeError, "alpha must have dtype float64"),
    ({"gamma": -1.0}, ValueError, "gamma must be a finite number >= 0"),
    ({"reduction": "avg"}, ValueError, "avg is not a valid value for reduction"),
])
def test_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        F.softmax_focal_loss(np.zeros((2, C)), np.array([0, 1]), **kwargs)


def test_out_of_range_target():
    with pytest.raises(IndexError, match="Target 6 is out of bounds."):
        F.softmax_focal_loss(np.zeros((2, C)), np.array([0, 6]))
