"""kl_div: parity with torch 2.13 (log_target, batchmean, the "mean" warning, legacy flags),
gradients vs autograd, xlogy at target 0."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
from loss_parity import LAYOUTS, as_torch, check_parity

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _distributions(rng, shape, dtype):
    x = np.log(rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]))
    y = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    y[..., 0] = 0.0  # xlogy(0, 0) = 0
    return x.astype(dtype), y.astype(dtype)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("shape", [(1, 3), (8, 17), (3, 4, 33)], ids=str)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(simd_target, dtype, rng, shape, reduction, layout, log_target):
    x, y = _distributions(rng, shape, dtype)
    if log_target:
        y = np.log(np.maximum(y, 1e-6)).astype(dtype)
    check_parity("kl_div", TF.kl_div, [x, y], {"reduction": reduction, "log_target": log_target}, dtype, layout, rng)


def test_mean_warns_like_torch_and_batchmean_divides_by_batch(rng):
    x, y = _distributions(rng, (6, 5), np.float64)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        mean = F.kl_div(x, y)
    np.testing.assert_allclose(mean, F.kl_div(x, y, reduction="sum") / x.size, rtol=1e-14)
    np.testing.assert_allclose(F.kl_div(x, y, reduction="batchmean"), F.kl_div(x, y, reduction="sum") / 6, rtol=1e-15)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        assert F.kl_div(x, y, size_average=False) == F.kl_div(x, y, reduction="sum")
    module = fastloss.nn.KLDivLoss(reduction="batchmean", log_target=False)
    xt = as_torch(x, grad=True)
    expected = TF.kl_div(xt, as_torch(y), reduction="batchmean")
    expected.backward()
    np.testing.assert_allclose(module(x, y), expected.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(module.backward(), xt.grad.numpy(), rtol=1e-14)


def test_negative_target_gives_nan_as_torch(dtype):
    x = np.zeros(3, dtype)
    y = np.array([-1.0, 0.0, 1.0], dtype)
    expected = TF.kl_div(as_torch(x), as_torch(y), reduction="none").numpy()
    np.testing.assert_array_equal(F.kl_div(x, y, reduction="none"), expected)


def test_errors(rng):
    x, y = _distributions(rng, (2, 3), np.float64)
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        F.kl_div(x, y, reduction="avg")
    with pytest.raises(TypeError, match="float64"):
        F.kl_div(x, y.astype(np.float32), reduction="sum")
    with pytest.raises(TypeError, match="ndarray"):
        F.kl_div([0.0], y, reduction="sum")


def test_batchmean_of_an_empty_batch_is_nan_like_torch():
    x = np.zeros((0, 3), np.float32)
    expected = torch.nn.functional.kl_div(torch.from_numpy(x), torch.from_numpy(x), reduction="batchmean")
    assert np.isnan(expected.item())
    assert np.isnan(F.kl_div(x, x, reduction="batchmean"))
    loss, grad = F.kl_div_with_grad(x, x, reduction="batchmean")
    assert np.isnan(loss) and grad.shape == (0, 3)
    assert F.kl_div_backward(1.0, x, x, reduction="batchmean").shape == (0, 3)
