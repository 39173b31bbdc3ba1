"""sigmoid_focal_loss: torchvision's formula written in torch ops as the referee (parity and
autograd), accuracy for confident logits where that formula cancels, gamma = 0 equals
BCE-with-logits exactly, options and errors."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
from conftest import tolerances
from loss_parity import LAYOUTS, as_torch, check_parity, torchvision_sigmoid_focal_loss

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def logit_space_reference(x, y, alpha, gamma):
    """The loss for hard labels in float64 from softplus and log-sigmoid only (no cancellation)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    ce = torch.where(y == 1, TF.softplus(-x), TF.softplus(x))
    log_q = torch.where(y == 1, TF.logsigmoid(-x), TF.logsigmoid(x))
    alpha_t = alpha * y + (1 - alpha) * (1 - y) if alpha >= 0 else torch.ones_like(x)
    return (alpha_t * ce * torch.exp(gamma * log_q)).numpy()


@pytest.mark.parametrize("shape", [(1,), (17,), (31, 7), (3, 4, 65)], ids=str)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1.0, 2.0), (0.6, 0.5), (0.25, 0.0), (0.9, 3.0)])
@pytest.mark.parametrize("soft_labels", [False, True])
def test_matches_torchvision_formula(simd_target, dtype, rng, shape, reduction, layout, alpha, gamma, soft_labels):
    # Moderate logits: there torchvision's 1 - p_t is still accurate.
    x = (2 * rng.standard_normal(shape)).astype(dtype)
    y = (rng.uniform(size=shape) if soft_labels else rng.integers(0, 2, size=shape)).astype(dtype)
    tol = {"rtol": 1e-4, "atol": 1e-6} if dtype == np.float32 else tolerances(dtype)
    check_parity("sigmoid_focal_loss", torchvision_sigmoid_focal_loss, [x, y],
                 {"alpha": alpha, "gamma": gamma, "reduction": reduction}, dtype, layout, rng, tol=tol)


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1.0, 1.0), (0.25, 0.5)])
def test_accurate_for_confident_logits_in_float32(simd_target, alpha, gamma):
    # |x| up to 80: torchvision's float32 form returns 0 (or loses all digits) beyond ~17.
    x = np.concatenate([np.linspace(-80, 80, 161), -np.linspace(-80, 80, 161)]).astype(np.float32)
    y = np.concatenate([np.ones(161), np.zeros(161)]).astype(np.float32)
    expected = logit_space_reference(x.astype(np.float64), y, alpha, gamma)
    loss = F.sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma)
    assert np.all(np.isfinite(loss))
    normal = np.abs(expected) > np.finfo(np.float32).tiny * 1e3  # away from float32 denormals
    np.testing.assert_allclose(loss[normal], expected[normal], rtol=5e-5)
    naive = torchvision_sigmoid_focal_loss(as_torch(x), as_torch(y), alpha, gamma).numpy()
    assert np.any(np.abs(naive[normal] - expected[normal]) > 0.5 * np.abs(expected[normal]))

    # The gradient against autograd of the float64 logit-space form.
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    yt = torch.tensor(y.astype(np.float64))
    ce = torch.where(yt == 1, TF.softplus(-xt), TF.softplus(xt))
    log_q = torch.where(yt == 1, TF.logsigmoid(-xt), TF.logsigmoid(xt))
    alpha_t = alpha * yt + (1 - alpha) * (1 - yt) if alpha >= 0 else torch.ones_like(xt)
    (alpha_t * ce * torch.exp(gamma * log_q)).sum().backward()
    grad = F.sigmoid_focal_loss_backward(np.ones_like(x), x, y, alpha=alpha, gamma=gamma)
    reference = xt.grad.numpy()
    big = np.abs(reference) > 1e-30
    np.testing.assert_allclose(grad[big], reference[big], rtol=5e-5, atol=1e-37)


def test_gradient_matches_finite_differences(rng):
    x = 3 * rng.standard_normal(50)
    y = rng.uniform(size=50)
    h = 1e-6
    numeric = (F.sigmoid_focal_loss(x + h, y) - F.sigmoid_focal_loss(x - h, y)) / (2 * h)
    np.testing.assert_allclose(F.sigmoid_focal_loss_backward(np.ones(50), x, y), numeric, rtol=1e-6, atol=1e-9)


def test_gamma_zero_is_bce_with_logits(simd_target, dtype, rng):
    x = (20 * rng.standard_normal(1000)).astype(dtype)
    y = rng.uniform(size=1000).astype(dtype)
    for reduction in ("none", "mean", "sum"):
        focal, focal_grad = F.sigmoid_focal_loss_with_grad(x, y, alpha=-1.0, gamma=0.0, reduction=reduction)
        bce, bce_grad = F.binary_cross_entropy_with_logits_with_grad(x, y, reduction=reduction)
        np.testing.assert_array_equal(focal_grad, bce_grad)
        if reduction == "none":
            # The same expression; targets with FMA may contract (1 - y) x - log_sigmoid(x)
            # in one kernel and not the other: one rounding of the terms apart.
            if simd_target == "baseline":
                np.testing.assert_array_equal(focal, bce)
            else:
                terms = np.abs((1 - y) * x) + np.abs(F.log_sigmoid(x))
                assert np.all(np.abs(focal - bce) <= 2 * np.finfo(dtype).eps * terms)
        else:
            # Equal terms; the vectorised sums may group them differently.
            np.testing.assert_allclose(focal, bce, rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_nn_module_and_errors(rng):
    x = rng.standard_normal((4, 3))
    y = rng.integers(0, 2, size=(4, 3)).astype(np.float64)
    module = fastloss.nn.SigmoidFocalLoss(alpha=0.4, gamma=1.5, reduction="sum")
    xt = as_torch(x, grad=True)
    expected = torchvision_sigmoid_focal_loss(xt, as_torch(y), 0.4, 1.5, "sum")
    expected.backward()
    np.testing.assert_allclose(module(x, y), expected.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(module.backward(), xt.grad.numpy(), rtol=1e-12)
    assert F.sigmoid_focal_loss(x, y).shape == x.shape  # default reduction "none"
    with pytest.raises(ValueError, match="Invalid Value for arg 'reduction': 'avg"):
        F.sigmoid_focal_loss(x, y, reduction="avg")
    with pytest.raises(ValueError, match="must be the same as input size"):
        F.sigmoid_focal_loss(x, y[0])
    with pytest.raises(TypeError, match="float64"):
        F.sigmoid_focal_loss(x, y.astype(np.float32))


@pytest.mark.parametrize("dtype,magnitude", [(np.float32, 1.8e38), (np.float32, np.finfo(np.float32).max),
                                             (np.float64, 9e307), (np.float64, np.finfo(np.float64).max)],
                         ids=["float32-1.8e38", "float32-max", "float64-9e307", "float64-max"])
@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.0])
def test_gradient_is_finite_for_the_largest_logits(simd_target, dtype, magnitude, gamma):
    # Confident and wrong: the gradient is alpha_t (sigmoid(x) - y) = 0.75 and -0.25, as
    # torchvision's formula under autograd gives wherever gamma alpha_t |x| stays below the
    # largest float (beyond, torch's own product overflows: NaN). gamma * ce once overflowed
    # to inf in fastloss too and met sigmoid(x) sigmoid(-x) = 0: NaN.
    x = np.array([magnitude, -magnitude], dtype)
    y = np.array([0, 1], dtype)
    loss, grad = F.sigmoid_focal_loss_with_grad(x, y, gamma=gamma)
    np.testing.assert_array_equal(grad, F.sigmoid_focal_loss_backward(np.ones_like(x), x, y, gamma=gamma))
    xt = as_torch(x, grad=True)
    expected = torchvision_sigmoid_focal_loss(xt, as_torch(y), 0.25, gamma)
    expected.sum().backward()
    reference = xt.grad.numpy()
    assert np.isfinite(reference).all() == (gamma * 0.75 * float(magnitude) <= float(np.finfo(dtype).max))
    finite = np.isfinite(reference)
    np.testing.assert_allclose(grad[finite], reference[finite], rtol=1e-6)
    np.testing.assert_allclose(grad, [0.75, -0.25], rtol=1e-6)
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-6)


TARGETS = (-1.0, -0.5, 0.0, 0.3, 1.0, 1.5, 2.0)
GAMMAS = (0.0, 0.5, 1.0, 2.0, 3.0)


@pytest.mark.parametrize("alpha", [0.25, -1.0])
@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("target", TARGETS)
def test_gradient_is_the_derivative_of_the_loss_for_every_target(target, gamma, alpha):
    # Targets outside [0, 1] once lost the modulator's term wherever 1 - p_t < 0 (x = 5,
    # y = 2: 0.2417 for the loss's slope 0.2905).
    x = np.linspace(-12, 12, 97)
    y = np.full_like(x, target)
    loss, grad = F.sigmoid_focal_loss_with_grad(x, y, alpha=alpha, gamma=gamma)
    # torchvision's formula under autograd: the NaN pattern everywhere, the values wherever finite.
    xt = as_torch(x, grad=True)
    expected = torchvision_sigmoid_focal_loss(xt, as_torch(y), alpha, gamma)
    expected.sum().backward()
    reference = xt.grad.numpy()
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(reference))
    np.testing.assert_array_equal(np.isnan(loss), np.isnan(expected.detach().numpy()))
    finite = np.isfinite(reference)
    np.testing.assert_allclose(grad[finite], reference[finite], rtol=1e-9, atol=1e-12)
    # Central differences of fastloss's own forward, wherever it is finite on both sides.
    h = 1e-6
    numeric = (F.sigmoid_focal_loss(x + h, y, alpha=alpha, gamma=gamma)
               - F.sigmoid_focal_loss(x - h, y, alpha=alpha, gamma=gamma)) / (2 * h)
    defined = np.isfinite(numeric)
    assert defined.sum() >= len(x) // 2
    np.testing.assert_allclose(grad[defined], numeric[defined], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("gamma,real", [(1.0, True), (2.0, True), (3.0, True), (0.5, False), (1.5, False),
                                        (2.5, False)])
def test_negative_one_minus_p_t_is_torch_pow(simd_target, dtype, gamma, real):
    # y = 2, x = 5: 1 - p_t = 2 sigmoid(-5) - sigmoid(5) = -0.98. (1 - p_t)^gamma is real
    # for an integer gamma only; fastloss, like torch's pow, gives NaN for the others.
    x = np.array([5.0, -5.0], dtype)
    y = np.array([2.0, 2.0], dtype)  # at x = -5, 1 - p_t = 1.97 > 0: finite for every gamma
    loss, grad = F.sigmoid_focal_loss_with_grad(x, y, gamma=gamma)
    xt = as_torch(x, grad=True)
    expected = torchvision_sigmoid_focal_loss(xt, as_torch(y), 0.25, gamma)
    expected.sum().backward()
    assert np.isfinite(loss[0]) == np.isfinite(grad[0]) == real
    assert np.all(np.isfinite([loss[1], grad[1]]))
    tol = {"rtol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12}
    np.testing.assert_allclose(loss, expected.detach().numpy(), **tol)
    np.testing.assert_allclose(grad, xt.grad.numpy(), **tol)
