"""soft_margin, hinge_embedding and margin_ranking: parity with torch 2.13 (every option, both
dtypes, strided layouts), gradients vs autograd including the hinge points, errors."""

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


def _labels(rng, shape, dtype):
    return rng.choice([-1.0, 1.0], size=shape).astype(dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_soft_margin_and_hinge_match_torch(simd_target, dtype, rng, shape, reduction, layout):
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    y = _labels(rng, shape, dtype)
    check_parity("soft_margin_loss", TF.soft_margin_loss, [x, y], {"reduction": reduction}, dtype, layout, rng)
    for margin in (0.0, 1.0, 2.5):
        check_parity("hinge_embedding_loss", TF.hinge_embedding_loss, [x, y],
                     {"reduction": reduction, "margin": margin}, dtype, layout, rng)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_margin_ranking_matches_torch(simd_target, dtype, rng, shape, reduction, layout, margin):
    x1 = rng.standard_normal(shape).astype(dtype)
    x2 = rng.standard_normal(shape).astype(dtype)
    y = _labels(rng, shape, dtype)
    check_parity("margin_ranking_loss", TF.margin_ranking_loss, [x1, x2, y],
                 {"reduction": reduction, "margin": margin}, dtype, layout, rng, grad_operands=(0, 1))


def test_hinge_points_and_odd_labels_take_torchs_gradient(dtype):
    x = np.array([1.0, 1.0, 1.0, 0.5, 2.0, -3.0], dtype)
    y = np.array([1.0, -1.0, 0.5, -1.0, -1.0, 0.0], dtype)
    xt = as_torch(x, grad=True)
    expected = TF.hinge_embedding_loss(xt, as_torch(y), reduction="none")
    expected.sum().backward()
    np.testing.assert_array_equal(F.hinge_embedding_loss(x, y, reduction="none"), expected.detach().numpy())
    np.testing.assert_array_equal(F.hinge_embedding_loss_backward(np.ones_like(x), x, y, reduction="none"),
                                  xt.grad.numpy())
    # margin_ranking with the argument exactly 0.
    x1, x2, t = (np.array(v, dtype) for v in ([1.0, 0.0, 2.0], [1.0, 1.0, 1.0], [1.0, 1.0, -1.0]))
    a, b = as_torch(x1, grad=True), as_torch(x2, grad=True)
    TF.margin_ranking_loss(a, b, as_torch(t), reduction="sum").backward()
    g1, g2 = F.margin_ranking_loss_backward(1.0, x1, x2, t, reduction="sum")
    np.testing.assert_array_equal(g1, a.grad.numpy())
    np.testing.assert_array_equal(g2, b.grad.numpy())


def test_soft_margin_is_finite_for_large_logits(dtype):
    x = np.array([-1e4, -100.0, 50.0, 1e4], dtype)
    y = np.ones_like(x)
    loss = F.soft_margin_loss(x, y, reduction="none")
    np.testing.assert_allclose(loss, [1e4, 100.0, np.exp(-50.0), 0.0], rtol=1e-6)


def test_legacy_nn_and_errors(rng):
    x = rng.standard_normal((4, 3))
    y = _labels(rng, (4, 3), np.float64)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        assert F.hinge_embedding_loss(x, y, size_average=False) == F.hinge_embedding_loss(x, y, reduction="sum")
    module = fastloss.nn.MarginRankingLoss(margin=0.2)
    a, b = as_torch(x, grad=True), as_torch(x[::-1].copy(), grad=True)
    expected = TF.margin_ranking_loss(a, b, as_torch(y), margin=0.2)
    expected.backward()
    np.testing.assert_allclose(module(x, x[::-1], y), expected.detach().numpy(), rtol=1e-14)
    g1, g2 = module.backward()
    np.testing.assert_allclose(g1, a.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(g2, b.grad.numpy(), rtol=1e-14)
    for module, torch_fn in [(fastloss.nn.SoftMarginLoss(), TF.soft_margin_loss),
                             (fastloss.nn.HingeEmbeddingLoss(margin=0.3), lambda a, b: TF.hinge_embedding_loss(a, b, 0.3))]:
        np.testing.assert_allclose(module(x, y), torch_fn(as_torch(x), as_torch(y)).numpy(), rtol=1e-14)
    with pytest.raises(ValueError, match="All input tensors should have same dimension"):
        F.margin_ranking_loss(x, x[0], y)
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        F.soft_margin_loss(x, y, reduction="avg")
    with pytest.raises(TypeError, match="float64"):
        F.hinge_embedding_loss(x, y.astype(np.float32))


@pytest.mark.parametrize("shape", [(5,), (8, 3), (31, 17), (2, 3, 9)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("weight", [None, "class", "full"])
def test_multilabel_soft_margin_matches_torch(simd_target, dtype, rng, shape, reduction, layout, weight):
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    y = rng.integers(0, 2, size=shape).astype(dtype)
    w = {None: None, "class": rng.uniform(0.5, 2, size=shape[-1:]),
         "full": rng.uniform(0.5, 2, size=shape)}[weight]
    options = {"reduction": reduction, "weight": None if w is None else w.astype(dtype)}
    check_parity("multilabel_soft_margin_loss", TF.multilabel_soft_margin_loss, [x, y], options, dtype, layout, rng)


def test_multilabel_soft_margin_legacy_nn_and_errors(rng):
    x = rng.standard_normal((6, 4))
    y = rng.integers(0, 2, size=(6, 4)).astype(np.float64)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        legacy = F.multilabel_soft_margin_loss(x, y, reduce=False)
    np.testing.assert_array_equal(legacy, F.multilabel_soft_margin_loss(x, y, reduction="none"))
    module = fastloss.nn.MultiLabelSoftMarginLoss(weight=np.linspace(0.5, 2, 4), reduction="sum")
    xt = as_torch(x, grad=True)
    expected = TF.multilabel_soft_margin_loss(xt, as_torch(y), weight=as_torch(np.linspace(0.5, 2, 4)), reduction="sum")
    expected.backward()
    np.testing.assert_allclose(module(x, y), expected.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(module.backward(), xt.grad.numpy(), rtol=1e-14)
    with pytest.raises(ValueError, match="avg is not valid"):
        F.multilabel_soft_margin_loss(x, y, reduction="avg")
    with pytest.raises(TypeError, match="float64"):
        F.multilabel_soft_margin_loss(x, y.astype(np.float32))
