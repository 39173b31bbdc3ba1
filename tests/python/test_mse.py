"""mse_loss: parity with torch 2.13 (weights, broadcasting, legacy flags), gradients, fused."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss.functional as F
from conftest import finite_difference_grad, tolerances

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def as_torch(a, grad=False):
    return torch.from_numpy(np.ascontiguousarray(a)).requires_grad_(grad)


@pytest.mark.parametrize("shape", [(0,), (1,), (9,), (31, 7), (3, 4, 65)], ids=str)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "reversed"])
def test_mse_matches_torch(simd_target, dtype, rng, shape, reduction, weighted, layout):
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(0.0, 2.0, size=shape).astype(dtype) if weighted else None
    view = {"contiguous": lambda a: a,
            "transposed": lambda a: np.ascontiguousarray(a.T).T,
            "reversed": lambda a: np.ascontiguousarray(a[::-1])[::-1]}[layout]
    xs, ys = view(x), view(y)

    xt = as_torch(x, grad=True)
    expected = TF.mse_loss(xt, as_torch(y), reduction=reduction, weight=None if w is None else as_torch(w))
    actual = F.mse_loss(xs, ys, reduction=reduction, weight=w)
    assert np.asarray(actual).dtype == dtype
    np.testing.assert_allclose(actual, expected.detach().numpy(), **tolerances(dtype))

    go = rng.uniform(0.5, 1.5, size=expected.shape).astype(dtype) if reduction == "none" else 2.0
    expected.backward(torch.as_tensor(go, dtype=xt.dtype))
    grad = F.mse_loss_backward(go, xs, ys, reduction=reduction, weight=w)
    np.testing.assert_allclose(grad, xt.grad.numpy(), **tolerances(dtype))

    loss, fused = F.mse_loss_with_grad(xs, ys, reduction=reduction, weight=w)
    np.testing.assert_allclose(loss, expected.detach().numpy(), **tolerances(dtype))
    unit_go = np.ones(x.shape, dtype) if reduction == "none" else 1.0
    np.testing.assert_allclose(fused, F.mse_loss_backward(unit_go, xs, ys, reduction=reduction, weight=w),
                               **tolerances(dtype))


def test_mse_broadcasts_target_with_torchs_warning(rng):
    x = rng.standard_normal((5, 4))
    y = rng.standard_normal((4,))
    with pytest.warns(UserWarning, match="different to the input size"):
        actual = F.mse_loss(x, y)
    with pytest.warns(UserWarning):
        expected = TF.mse_loss(as_torch(x), as_torch(y))
    np.testing.assert_allclose(actual, expected.numpy(), rtol=1e-12)


def test_mse_gradient_sums_over_broadcast_axes_of_input(rng):
    x = rng.standard_normal((1, 4))
    y = rng.standard_normal((6, 4))
    xt = as_torch(x, grad=True)
    with pytest.warns(UserWarning):
        TF.mse_loss(xt, as_torch(y), reduction="sum").backward()
    with pytest.warns(UserWarning):
        grad = F.mse_loss_backward(1.0, x, y, reduction="sum")
    assert grad.shape == x.shape
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-12)


def test_weighted_mse_errors_follow_torch():
    x = np.zeros(4)
    with pytest.raises(ValueError, match="Weights and input must have the same size."):
        F.mse_loss(x, x, weight=np.ones(3))
    with pytest.raises(ValueError, match="Invalid reduction mode: bad. Expected one of 'none', 'mean', 'sum'."):
        F.mse_loss(x, x, weight=np.ones(4), reduction="bad")
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        F.mse_loss(x, x, reduction="bad")


def test_mse_gradient_matches_finite_differences(rng):
    x = rng.standard_normal((4, 3))
    y = rng.standard_normal((4, 3))
    w = rng.uniform(0.5, 2.0, size=(4, 3))
    grad = F.mse_loss_backward(1.0, x, y, weight=w)
    numeric = finite_difference_grad(lambda v: F.mse_loss(v, y, weight=w), x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
