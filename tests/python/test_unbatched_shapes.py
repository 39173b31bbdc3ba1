"""Unbatched inputs (1-D or 0-d) and their targets: every loss returns torch's shapes and values,
for each reduction, and its backward takes a grad_output of torch's shape and returns torch's
gradients. torch's rules are not uniform: nll_loss and cross_entropy read a (1,) target of a
(C,) input as its one class index (loss shape ()), while multi_margin_loss's losses take the
target's shape ((1,) target -> (1,), (1, C) input with a 0-d target -> ())."""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

import fastloss.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

C = 4
_rng = np.random.default_rng(7)


def _r(*shape: int) -> np.ndarray:
    return _rng.standard_normal(shape)


# loss -> [(arrays, options)]; the arrays at DIFFERENTIABLE[loss] (default: the input) are differentiated.
CASES: Dict[str, List[Tuple[Tuple[np.ndarray, ...], Dict[str, Any]]]] = {
    "mse_loss": [((_r(5), _r(5)), {}), ((_r(), _r()), {})],
    "l1_loss": [((_r(), _r()), {})],
    "smooth_l1_loss": [((_r(), _r()), {})],
    "huber_loss": [((_r(), _r()), {})],
    "binary_cross_entropy": [((np.array(0.3), np.array(1.0)), {})],
    "binary_cross_entropy_with_logits": [((_r(), np.array(1.0)), {})],
    "kl_div": [((_r(), np.array(0.5)), {})],
    "poisson_nll_loss": [((_r(), np.array(2.0)), {})],
    "gaussian_nll_loss": [((_r(), _r(), np.array(0.5)), {}), ((_r(5), _r(5), np.abs(_r(5))), {})],
    "soft_margin_loss": [((_r(), np.array(1.0)), {})],
    "hinge_embedding_loss": [((_r(), np.array(-1.0)), {})],
    "margin_ranking_loss": [((_r(), _r(), np.array(1.0)), {})],
    "cross_entropy": [((_r(C), np.array(2)), {}), ((_r(C), np.array([2])), {}), ((_r(1, C), np.array(2)), {}),
                      ((_r(C), np.abs(_r(C)) / 4), {}), ((_r(C), np.array(2)), {"label_smoothing": 0.1})],
    "nll_loss": [((_r(C), np.array(2)), {}), ((_r(C), np.array([2])), {}), ((_r(1, C), np.array(2)), {})],
    "multi_margin_loss": [((_r(C), np.array(2)), {}), ((_r(C), np.array([2])), {}), ((_r(1, C), np.array(2)), {}),
                          ((_r(1, C), np.array([2])), {}), ((_r(C), np.array([1])), {"p": 2, "margin": 0.5}),
                          ((_r(), np.array(0)), {})],
    "multilabel_margin_loss": [((_r(C), np.array([1, 3, -1, 0])), {}), ((_r(1, C), np.array([1, 3, -1, 0])), {}),
                               ((_r(C), np.array([[1, 3, -1, 0]])), {}), ((_r(), np.array(0)), {})],
    "multilabel_soft_margin_loss": [((_r(C), np.array([1.0, 0, 1, 0])), {})],
    "cosine_embedding_loss": [((_r(C), _r(C), np.array(1)), {}), ((_r(C), _r(C), np.array(-1.0)), {})],
    "triplet_margin_loss": [((_r(C), _r(C), _r(C)), {})],
    "triplet_margin_with_distance_loss": [((_r(C), _r(C), _r(C)), {})],
}
DIFFERENTIABLE = {"margin_ranking_loss": (0, 1), "cosine_embedding_loss": (0, 1), "triplet_margin_loss": (0, 1, 2),
                  "triplet_margin_with_distance_loss": (0, 1, 2), "gaussian_nll_loss": (0, 2)}
# torch's forward accepts these and its backward raises ("size mismatch (got input: [4],
# target: [1])"); fastloss's backward returns the gradient of torch's forward, checked below
# against the same loss with the equivalent 0-d target.
TORCH_BACKWARD_RAISES = {("cross_entropy", (C,), (1,)), ("nll_loss", (C,), (1,))}

PARAMS = [pytest.param(name, k, red, id=f"{name}-{k}-{red}")
          for name, cases in CASES.items() for k in range(len(cases)) for red in ("none", "mean", "sum")]


def _torch_call(name: str, arrays: Tuple[np.ndarray, ...], options: Dict[str, Any], reduction: str) -> Any:
    tensors = [torch.tensor(a) for a in arrays]
    for k in DIFFERENTIABLE.get(name, (0,)):
        tensors[k].requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean' warning; fastloss's is tested elsewhere
        try:
            return tensors, getattr(TF, name)(*tensors, reduction=reduction, **options)
        except (RuntimeError, ValueError, IndexError) as e:
            return tensors, e


@pytest.mark.parametrize("name,case,reduction", PARAMS)
def test_unbatched_matches_torch(name: str, case: int, reduction: str) -> None:
    arrays, options = CASES[name][case]
    tensors, expected = _torch_call(name, arrays, options, reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(expected, Exception):  # torch refuses: so does fastloss
            with pytest.raises((ValueError, IndexError, TypeError)):
                getattr(F, name)(*arrays, reduction=reduction, **options)
            return
        got = np.asarray(getattr(F, name)(*arrays, reduction=reduction, **options))
        assert got.shape == tuple(expected.shape)
        np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-12, atol=1e-14)

        grad_output = np.asarray(_rng.standard_normal(tuple(expected.shape)))
        grads = getattr(F, name + "_backward")(grad_output, *arrays, reduction=reduction, **options)
        grads = grads if isinstance(grads, tuple) else (grads,)
        with_grad = getattr(F, name + "_with_grad")(*arrays, reduction=reduction, **options)
    differentiable = [t for t in tensors if t.requires_grad]
    assert np.asarray(with_grad[0]).shape == tuple(expected.shape)
    if (name, arrays[0].shape, arrays[1].shape) in TORCH_BACKWARD_RAISES:
        with pytest.raises(RuntimeError, match="size mismatch"):
            torch.autograd.grad(expected, differentiable, torch.tensor(grad_output))
        scalar_target = (arrays[0], arrays[1].reshape(()))
        want = (getattr(F, name + "_backward")(grad_output, *scalar_target, reduction=reduction, **options),)
    else:
        want = tuple(g.numpy() for g in torch.autograd.grad(expected, differentiable, torch.tensor(grad_output)))
    assert len(grads) == len(want)
    for g, w in zip(grads, want):
        assert np.asarray(g).shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def test_unbatched_message_for_a_longer_target() -> None:
    with pytest.raises(ValueError, match=r"^For 1D input, 1D target must have size 1, but got target size: 3$"):
        F.nll_loss(_r(C), np.array([0, 1, 2]))


def test_fastloss_torch_multi_margin_takes_the_target_shape() -> None:
    FT = pytest.importorskip("fastloss.torch")
    x = torch.tensor(_r(C), requires_grad=True)
    for target in (torch.tensor([2]), torch.tensor(2)):
        got = FT.multi_margin_loss(x, target, reduction="none")
        assert got.shape == TF.multi_margin_loss(x, target, reduction="none").shape
        compiled = torch.compile(lambda a, t: FT.multi_margin_loss(a, t, reduction="none"), fullgraph=True,
                                 backend="eager")
        assert compiled(x, target).shape == got.shape
