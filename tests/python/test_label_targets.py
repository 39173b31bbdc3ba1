"""Integer and bool targets: every loss takes them exactly where torch 2.13's forward does,
and gives torch's values and gradients with them; where torch raises, fastloss raises
TypeError.

torch is the referee of the rule: each (loss, dtype) pair is first run through torch, so the
table below only lists how to build each loss's operands. Labels are read where they lie
(strided and broadcast too) and converted a block at a time, never copied whole.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastloss.functional as F
from conftest import tolerances
from loss_parity import LAYOUTS, as_torch, check_parity

torch = pytest.importorskip("torch")
TF = torch.nn.functional

LABEL_DTYPES = [np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_]
SHAPE = (6, 5)


def _labels(rng, dtype, shape, signed):
    """±1 labels (0/1 for unsigned and bool dtypes, or where the loss wants 0/1)."""
    values = rng.integers(0, 2, shape)
    if signed and np.dtype(dtype).kind == "i":
        values = 2 * values - 1
    return values.astype(dtype)


def _operands(name, rng, x, labels):
    """(operands, grad_operands) of each loss with a label target of `labels`' dtype."""
    other = np.ascontiguousarray(x[::-1])
    if name == "margin_ranking_loss":
        return [x, other, labels(SHAPE, True)], (0, 1)
    if name == "cosine_embedding_loss":
        return [x, other, labels(SHAPE[:1], True)], (0, 1)
    if name == "gaussian_nll_loss":
        return [x, labels(SHAPE, True), np.ones(SHAPE, x.dtype)], (0, 2)
    if name in ("multilabel_soft_margin_loss", "poisson_nll_loss", "binary_cross_entropy",
                "binary_cross_entropy_with_logits", "kl_div"):
        return [x, labels(SHAPE, False)], (0,)
    return [x, labels(SHAPE, True)], (0,)


LOSSES = ["hinge_embedding_loss", "soft_margin_loss", "margin_ranking_loss", "multilabel_soft_margin_loss",
          "cosine_embedding_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "poisson_nll_loss",
          "gaussian_nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"]

# A deliberate difference: torch negates margin_ranking's target in its own dtype, so a uint8
# label 1 becomes 255 (-1 wraps); fastloss reads the label's value, 1 (tested below).
WRAPPING = {("margin_ranking_loss", np.uint8)}


def _torch_takes(name, operands):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            getattr(TF, name)(*[as_torch(o) for o in operands])
        return True
    except RuntimeError:
        return False


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("label_dtype", LABEL_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("reduction", ["none", "sum"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_label_targets_as_torch(simd_target, dtype, rng, name, label_dtype, reduction, layout):
    x = rng.standard_normal(SHAPE).astype(dtype)
    if name == "binary_cross_entropy":
        x = rng.uniform(0.05, 0.95, SHAPE).astype(dtype)
    operands, grads = _operands(name, rng, x, lambda shape, signed: _labels(rng, label_dtype, shape, signed))
    if not _torch_takes(name, operands):
        with pytest.raises(TypeError):
            getattr(F, name)(*operands)
        return
    if (name, label_dtype) in WRAPPING:
        pytest.skip("torch wraps -uint8; fastloss reads the label (see test_margin_ranking_uint8_labels)")
    # The forward with the labels as they are, then every pass against torch on the labels
    # promoted to the input's dtype, as torch's forward promotes them: some of torch's
    # backward kernels (huber_loss's, smooth_l1_loss's) reject an integer target, where
    # fastloss differentiates with respect to the input all the same.
    expected = getattr(TF, name)(*[as_torch(o) for o in operands], reduction=reduction)
    np.testing.assert_allclose(getattr(F, name)(*[LAYOUTS[layout](o) for o in operands], reduction=reduction),
                               expected.numpy(), **tolerances(dtype))

    def promoted(*tensors, **options):
        return getattr(TF, name)(*[t if t.is_floating_point() else t.to(tensors[0].dtype) for t in tensors],
                                 **options)

    check_parity(name, promoted, operands, {"reduction": reduction}, dtype, layout, rng, grad_operands=grads)


def test_margin_ranking_uint8_labels_are_their_values(dtype, rng):
    x1, x2 = rng.standard_normal((2, 7)).astype(dtype)
    labels = rng.integers(0, 2, 7)
    for reduction in ("none", "mean"):
        np.testing.assert_array_equal(F.margin_ranking_loss(x1, x2, labels.astype(np.uint8), reduction=reduction),
                                      F.margin_ranking_loss(x1, x2, labels.astype(dtype), reduction=reduction))


def test_bool_messages_are_torchs(rng):
    x = rng.standard_normal((3, 4))
    mask = rng.random((3, 4)) < 0.5
    with pytest.raises(TypeError, match=r"Subtraction, the `-` operator, with a bool tensor is not supported"):
        F.l1_loss(x, mask)
    with pytest.raises(TypeError, match=r"Subtraction, the `-` operator, with a bool tensor is not supported"):
        F.multilabel_soft_margin_loss(x, mask)
    with pytest.raises(TypeError, match=r"Negation, the `-` operator, on a bool tensor is not supported"):
        F.margin_ranking_loss(x, x, mask)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.binary_cross_entropy_with_logits(x, mask)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.soft_margin_loss(x, mask.astype(np.uint16))  # torch's uint16 is a limited type


def test_labels_broadcast_and_write_in_place(rng):
    # A broadcast int64 target (mse's torch rule, with its warning) and out=input.
    x = rng.standard_normal((4, 6))
    labels = rng.integers(-2, 3, 6)
    with pytest.warns(UserWarning, match="target size"):
        loss = F.mse_loss(x, labels, reduction="sum")
    expected = TF.mse_loss(as_torch(x), torch.from_numpy(labels).broadcast_to(4, 6), reduction="sum")
    np.testing.assert_allclose(loss, expected.numpy(), **tolerances(np.float64))
    y = rng.choice([-1, 1], (4, 6)).astype(np.int8)
    expected_grad = F.soft_margin_loss_backward(1.0, x, y.astype(np.float64))
    loss, grad = F.soft_margin_loss_with_grad(x, y, out=x)
    assert grad is x
    np.testing.assert_array_equal(grad, expected_grad)


def test_large_int64_labels_are_read_as_floats(rng):
    # Labels beyond float32's integers round like torch's promotion (int64 -> float32).
    x = np.zeros(3, np.float32)
    labels = np.array([2**40 + 1, -(2**31), 7])
    expected = TF.mse_loss(as_torch(x), torch.from_numpy(labels), reduction="none")
    np.testing.assert_array_equal(F.mse_loss(x, labels, reduction="none"), expected.numpy())
