"""fastloss.nn classes: torch.nn's constructor arguments, call returns the loss, backward()
returns the last call's gradient."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss.functional as F
from fastloss import nn

torch = pytest.importorskip("torch")


def test_classes_match_torch_modules(rng):
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (8, 3)).astype(np.float32)
    w = rng.uniform(0.5, 2, 3).astype(np.float32)
    pw = rng.uniform(0.5, 2, 3).astype(np.float32)
    p = 1 / (1 + np.exp(-x))
    t = torch.from_numpy
    cases = [
        (nn.BCELoss(weight=w, reduction="sum"), torch.nn.BCELoss(weight=t(w), reduction="sum"), p),
        (nn.BCEWithLogitsLoss(weight=w, pos_weight=pw), torch.nn.BCEWithLogitsLoss(weight=t(w), pos_weight=t(pw)), x),
        (nn.MSELoss(reduction="none"), torch.nn.MSELoss(reduction="none"), x),
    ]
    for ours, theirs, inp in cases:
        xt = t(inp.copy()).requires_grad_(True)
        expected = theirs(xt, t(y))
        np.testing.assert_allclose(ours(inp, y), expected.detach().numpy(), rtol=2e-5, atol=1e-6)
        go = np.full(expected.shape, 0.5, np.float32) if expected.ndim else 0.5
        expected.backward(torch.as_tensor(go))
        np.testing.assert_allclose(ours.backward(go), xt.grad.numpy(), rtol=2e-5, atol=1e-7)
        loss, grad = ours.with_grad(inp, y)
        np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=2e-5, atol=1e-6)


def test_legacy_constructor_arguments():
    with pytest.warns(UserWarning, match="reduction='sum'"):
        loss = nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"
    x = np.arange(4.0)
    assert loss(x, np.zeros(4)) == F.mse_loss(x, np.zeros(4), reduction="sum")


def test_backward_before_call_is_an_error():
    with pytest.raises(RuntimeError, match="backward\\(\\) called before"):
        nn.MSELoss().backward()
