"""l1, smooth_l1, huber, poisson_nll and gaussian_nll: parity with torch 2.13 for every option,
both dtypes and strided layouts; gradients vs autograd; kinks; errors in torch's words."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
from loss_parity import LAYOUTS, as_torch, check_parity

torch = pytest.importorskip("torch")
TF = torch.nn.functional

SHAPES = [(1,), (17,), (31, 7), (3, 4, 65)]
REDUCTIONS = ["none", "mean", "sum"]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("weighted", [False, True])
def test_l1_and_huber_match_torch(simd_target, dtype, rng, shape, reduction, layout, weighted):
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(0.0, 2.0, size=shape).astype(dtype) if weighted else None
    check_parity("l1_loss", TF.l1_loss, [x, y], {"reduction": reduction, "weight": w}, dtype, layout, rng)
    for delta in (0.3, 1.0, 2.5):
        check_parity("huber_loss", TF.huber_loss, [x, y], {"reduction": reduction, "delta": delta, "weight": w},
                     dtype, layout, rng)
    if w is not None:
        # The weighted rules differ: L1 divides by sum(weight), Huber by numel.
        assert np.isclose(F.l1_loss(x, y, weight=w), F.l1_loss(x, y, weight=w, reduction="sum") / w.sum(dtype=np.float64),
                          rtol=1e-5)
        assert np.isclose(F.huber_loss(x, y, weight=w), F.huber_loss(x, y, weight=w, reduction="sum") / x.size,
                          rtol=1e-5)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 3.0])
def test_smooth_l1_matches_torch(simd_target, dtype, rng, shape, reduction, layout, beta):
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    check_parity("smooth_l1_loss", TF.smooth_l1_loss, [x, y], {"reduction": reduction, "beta": beta},
                 dtype, layout, rng)


def test_kinks_take_torchs_gradient(dtype):
    # |d| exactly at beta / delta, and d = 0: the branch torch takes decides the gradient.
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], dtype)
    y = np.zeros_like(x)
    cases = [("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}), ("smooth_l1_loss", {"beta": 0.0}),
             ("huber_loss", {"delta": 0.5})]
    for name, options in cases:
        xt = as_torch(x, grad=True)
        expected = getattr(TF, name)(xt, as_torch(y), reduction="none", **options)
        expected.sum().backward()
        np.testing.assert_array_equal(getattr(F, name)(x, y, reduction="none", **options), expected.detach().numpy())
        np.testing.assert_array_equal(getattr(F, name + "_backward")(np.ones_like(x), x, y, reduction="none", **options),
                                      xt.grad.numpy())


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_matches_torch(simd_target, dtype, rng, shape, reduction, layout, log_input, full):
    x = rng.standard_normal(shape) if log_input else rng.uniform(0.0, 4.0, size=shape)
    # Counts straddle the Stirling threshold target > 1, with exact 0, 1 and 2.
    y = rng.choice([0.0, 1.0, 2.0, 0.5, 1.5, 3.0, 7.0], size=shape)
    check_parity("poisson_nll_loss", TF.poisson_nll_loss, [x.astype(dtype), y.astype(dtype)],
                 {"reduction": reduction, "log_input": log_input, "full": full, "eps": 1e-8}, dtype, layout, rng)


@pytest.mark.parametrize("var_shape", ["same", "one_fewer", "singleton"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_matches_torch(simd_target, dtype, rng, var_shape, reduction, layout, full):
    shape = (6, 5, 4)
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    v_shape = {"same": shape, "one_fewer": shape[:-1], "singleton": (6, 1, 4)}[var_shape]
    # Some variances sit below eps so the clamp is exercised.
    var = rng.choice([1e-8, 0.3, 1.0, 2.5], size=v_shape).astype(dtype)
    check_parity("gaussian_nll_loss", TF.gaussian_nll_loss, [x, y, var],
                 {"reduction": reduction, "full": full, "eps": 1e-6}, dtype, layout, rng, grad_operands=(0, 2),
                 tol={"rtol": 3e-5, "atol": 1e-5} if dtype == np.float32 else None)


def test_gaussian_nll_float_var(dtype, rng):
    x = rng.standard_normal((4, 3)).astype(dtype)
    y = rng.standard_normal((4, 3)).astype(dtype)
    expected = TF.gaussian_nll_loss(as_torch(x), as_torch(y), 0.7)
    np.testing.assert_allclose(F.gaussian_nll_loss(x, y, 0.7), expected.numpy(), rtol=1e-5)
    grad_input, grad_var = F.gaussian_nll_loss_backward(1.0, x, y, 0.7)
    assert grad_var is None and grad_input.shape == x.shape


def test_legacy_arguments_and_nn_classes(rng):
    x = rng.standard_normal((5, 3))
    y = rng.standard_normal((5, 3))
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert F.l1_loss(x, y, size_average=False) == F.l1_loss(x, y, reduction="sum")
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(F.smooth_l1_loss(x, y, reduce=False), F.smooth_l1_loss(x, y, reduction="none"))
    with pytest.warns(UserWarning):
        assert F.poisson_nll_loss(x, np.abs(y), reduce=True, size_average=False) == \
            F.poisson_nll_loss(x, np.abs(y), reduction="sum")
    modules = [(fastloss.nn.L1Loss(reduction="sum"), TF.l1_loss, {"reduction": "sum"}),
               (fastloss.nn.SmoothL1Loss(beta=0.4), TF.smooth_l1_loss, {"beta": 0.4}),
               (fastloss.nn.HuberLoss(delta=0.4), TF.huber_loss, {"delta": 0.4}),
               (fastloss.nn.PoissonNLLLoss(full=True), TF.poisson_nll_loss, {"full": True})]
    for module, torch_fn, options in modules:
        target = np.abs(y)
        xt = as_torch(x, grad=True)
        expected = torch_fn(xt, as_torch(target), **options)
        expected.backward()
        np.testing.assert_allclose(module(x, target), expected.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(module.backward(), xt.grad.numpy(), rtol=1e-12)
    var = np.full((5, 3), 0.5)
    module = fastloss.nn.GaussianNLLLoss(full=True)
    expected = TF.gaussian_nll_loss(as_torch(x), as_torch(y), as_torch(var), full=True)
    np.testing.assert_allclose(module(x, y, var), expected.numpy(), rtol=1e-12)
    assert len(module.backward()) == 2


def test_errors_in_torchs_words(rng):
    x = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.l1_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="Invalid reduction mode: avg"):
        F.l1_loss(x, x, reduction="avg", weight=np.ones_like(x))
    with pytest.raises(ValueError, match="Weights and input must have the same size."):
        F.huber_loss(x, x, weight=np.ones(3))
    with pytest.raises(ValueError, match="non-positive values for delta"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="negative values for beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        F.poisson_nll_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        F.gaussian_nll_loss(x, x, -np.ones_like(x))
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(x, x, np.ones((3, 3)))
    with pytest.raises(ValueError, match="avg is not valid"):
        F.gaussian_nll_loss(x, x, np.ones_like(x), reduction="avg")
    with pytest.raises(TypeError, match="float64"):
        F.l1_loss(x, x.astype(np.float32))
    with pytest.warns(UserWarning, match="different to the input size"):
        F.l1_loss(x, x[0])
