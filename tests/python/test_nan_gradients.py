"""NaN and ±inf in gradients, compared with torch autograd element by element.

For every loss of the spec table (reliability_specs.py) and the option sets that select
different code (VARIANTS, plus each optional operand left out), NaN, +inf and -inf are placed
in each float array argument in turn (inputs, targets, weights, pos_weight, var, float labels,
class probabilities; with class-index targets, at a picked and at an unpicked class). The
gradient of every operand fastloss differentiates, from ``f_backward`` and from the fused
``f_with_grad``, must then have torch's NaN / +inf / -inf pattern element for element (and
the fused loss the pattern of torch's loss), for the reductions "none", "mean" and "sum", in
float32 and float64. Where torch rejects the values (ValueError / RuntimeError), fastloss
must raise ValueError.

The losses torch.nn.functional lacks are written in torch here: torchvision's
sigmoid_focal_loss, and softmax_focal_loss from its definition. Where fastloss differs from
torch on purpose, the case is listed in DIVERGENCES with the reason (a strict xfail).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pytest
import torch

import fastloss.functional as F
from loss_parity import torchvision_sigmoid_focal_loss
from reliability_specs import LOSSES, Kwargs, LossSpec, grad_output_for

TF = torch.nn.functional
SPECIALS = (("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf))
REDUCTIONS = ("none", "mean", "sum")
PATHS = ("backward", "with_grad")
DTYPES = (("float32", np.float32), ("float64", np.float64))


def torch_softmax_focal_loss(input, target, alpha=None, gamma=2.0, weight=None, reduction="mean"):
    """fastloss's documented softmax_focal_loss in torch ops (no ignore_index: the table sets none)."""
    log_p_t = TF.log_softmax(input, 1).gather(1, target.unsqueeze(1)).squeeze(1)
    w_t = torch.ones_like(log_p_t) if weight is None else weight[target]
    alpha_t = 1.0 if alpha is None else alpha[target] if isinstance(alpha, torch.Tensor) else alpha
    loss = -w_t * alpha_t * (-torch.expm1(log_p_t)) ** gamma * log_p_t
    return {"none": loss, "mean": loss.sum() / w_t.sum(), "sum": loss.sum()}[reduction]


def torch_log_cosh_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """log(cosh(x - y)) written stably in torch (it has no log-cosh loss)."""
    d = input - target
    loss = torch.logaddexp(d, -d) - math.log(2.0)
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


REFEREES: Dict[str, Callable[..., torch.Tensor]] = {
    spec.name: getattr(TF, spec.torch_name) for spec in LOSSES if spec.torch_name is not None
}
REFEREES["sigmoid_focal_loss"] = torchvision_sigmoid_focal_loss
REFEREES["softmax_focal_loss"] = torch_softmax_focal_loss
REFEREES["log_cosh_loss"] = torch_log_cosh_loss


def probabilities(kw: Kwargs) -> np.ndarray:
    """Class-probability targets for cross_entropy: rows of the input's shape summing to 1."""
    logits = np.random.default_rng(5).standard_normal(kw["input"].shape)
    return (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(kw["input"].dtype)


# Option sets whose kernels differ from the defaults' (each optional operand is also left
# out in turn, see _variants). A callable value is applied to the keyword arguments.
VARIANTS: Dict[str, Tuple[Kwargs, ...]] = {
    "smooth_l1_loss": ({"beta": 0.0}, {"beta": 0.5}),
    "huber_loss": ({"delta": 0.5},),
    "poisson_nll_loss": ({"log_input": False}, {"full": True}, {"log_input": False, "full": True}),
    "gaussian_nll_loss": ({"full": True},),
    "kl_div": ({"log_target": True},),
    "hinge_embedding_loss": ({"margin": 0.0},),
    "margin_ranking_loss": ({"margin": 0.5},),
    "sigmoid_focal_loss": ({"gamma": 0.0}, {"gamma": 0.5}, {"gamma": 3.0}, {"alpha": -1.0}),
    "cross_entropy": ({"label_smoothing": 0.1}, {"target": probabilities},
                      {"target": probabilities, "label_smoothing": 0.1}),
    "cosine_embedding_loss": ({"margin": 0.5},),
    "multi_margin_loss": ({"p": 2},),
    "triplet_margin_loss": ({"swap": True}, {"p": 1.0}),
    "softmax_focal_loss": ({"gamma": 0.0}, {"gamma": 0.5}, {"alpha": 0.25}),
}


def _variants(spec: LossSpec) -> Iterator[Tuple[str, Kwargs]]:
    yield "default", {}
    for options in VARIANTS.get(spec.name, ()):
        yield ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in options.items()), options
    for op in spec.optional:
        yield f"no-{op}", {op: None}


def _call_kwargs(spec: LossSpec, options: Kwargs, dtype: type) -> Kwargs:
    kw = spec.make(np.random.default_rng(3), dtype, (4, 5))
    kw.update({k: v(kw) if callable(v) else v for k, v in options.items()})
    return kw


# Where fastloss differs from torch on purpose: (the case's fields that must all match, reason).
# Fields: loss, variant, operand, position, special, reduction, path, dtype.
_SOFT_MARGIN = ("torch's -y exp(-y x) / (1 + exp(-y x)) is inf / inf = NaN wherever exp(-y x) overflows, finite x "
                "included (test_soft_margin_gradient_where_torch_overflows); fastloss's -y sigmoid(-y x) is the "
                "derivative there, -y (element 1 has y = 1 and x < 0)")
DIVERGENCES: List[Tuple[Dict[str, str], str]] = [
    ({"loss": "soft_margin_loss", "operand": "input", "special": "-inf"}, _SOFT_MARGIN),
    ({"loss": "soft_margin_loss", "operand": "target", "special": "inf"}, _SOFT_MARGIN),
]


def _divergence(fields: Dict[str, str]) -> Optional[str]:
    for match, reason in DIVERGENCES:
        if all(fields[k] == v for k, v in match.items()):
            return reason
    return None


def _index_target(spec: LossSpec, kw: Kwargs) -> Optional[np.ndarray]:
    target = kw.get(spec.index_target) if spec.index_target else None
    return target if target is not None and target.dtype.kind == "i" else None


def _positions(spec: LossSpec, kw: Kwargs) -> Tuple[str, ...]:
    """Where the special value goes: element 1, or for class-index targets the element of row
    0's target class ("picked") and that of a class no row picks ("unpicked"), along the class
    axis of the input and of per-class operands alike."""
    return ("picked", "unpicked") if _index_target(spec, kw) is not None else ("element1",)


def _flat_index(spec: LossSpec, kw: Kwargs, position: str) -> int:
    if position == "element1":
        return 1
    target = _index_target(spec, kw)
    if position == "picked":
        return int(target.flat[0])
    return next(c for c in range(kw[spec.input].shape[1]) if c not in target)


def _cases() -> Iterator[Any]:
    for spec in LOSSES:
        for variant, options in _variants(spec):
            kw = _call_kwargs(spec, options, np.float64)
            # Every float array: the spec's float operands and float labels (cosine_embedding_loss's
            # target, any numeric dtype; cross_entropy's probabilities).
            for op in (k for k, v in kw.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"):
                for position in _positions(spec, kw):
                    for special, value in SPECIALS:
                        for reduction in REDUCTIONS:
                            for path in PATHS:
                                for dtype_name, dtype in DTYPES:
                                    fields = {"loss": spec.name, "variant": variant, "operand": op,
                                              "position": position, "special": special, "reduction": reduction,
                                              "path": path, "dtype": dtype_name}
                                    reason = _divergence(fields)
                                    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                                    yield pytest.param(spec, options, op, position, value, reduction, path, dtype,
                                                       marks=marks, id="-".join(fields.values()))


CASES = list(_cases())


@pytest.fixture(scope="module", autouse=True)
def _torch_single_threaded():
    """Thousands of tiny autograd graphs: torch's thread pool only adds wake-up latency."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_matrix_size():
    # A floor so cases are not silently lost.
    assert len(CASES) >= 5000, len(CASES)


def _torch_grads(spec: LossSpec, kw: Kwargs, grad_output: Any) -> Tuple[np.ndarray, List[np.ndarray]]:
    tensors = {k: torch.from_numpy(v.copy()) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    for op in spec.differentiated:
        tensors[op].requires_grad_(True)
    loss = REFEREES[spec.name](**tensors)
    loss.backward(torch.as_tensor(grad_output, dtype=loss.dtype))
    return loss.detach().numpy(), [tensors[op].grad.numpy() for op in spec.differentiated]


def _assert_same_specials(got: Any, expected: np.ndarray, what: str) -> None:
    got = np.asarray(got)
    assert got.shape == expected.shape, what
    for name, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        np.testing.assert_array_equal(test(got), test(expected), err_msg=f"{what}: {name} pattern differs")


@pytest.mark.parametrize("spec,options,op,position,value,reduction,path,dtype", CASES)
def test_gradient_specials_follow_torch(spec: LossSpec, options: Kwargs, op: str, position: str, value: float,
                                        reduction: str, path: str, dtype: type):
    kw = _call_kwargs(spec, options, dtype)
    kw["reduction"] = reduction
    grad_output = grad_output_for(spec, kw)  # ones, before the special value goes in
    kw[op] = kw[op].copy()
    kw[op].flat[_flat_index(spec, kw, position)] = value

    def call() -> Tuple[Any, Tuple[np.ndarray, ...]]:
        """(the loss or None, the gradients) from the path under test."""
        if path == "backward":
            grads = getattr(F, spec.name + "_backward")(grad_output, **kw)
            return None, grads if isinstance(grads, tuple) else (grads,)
        loss, *grads = getattr(F, spec.name + "_with_grad")(**kw)
        return loss, tuple(grads)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected_loss, expected_grads = _torch_grads(spec, kw, grad_output)
        except (RuntimeError, ValueError):  # torch rejects the value (BCE's range, a negative var)
            with pytest.raises(ValueError):
                call()
            return
        loss, grads = call()
    if loss is not None:
        _assert_same_specials(loss, expected_loss, "loss")
    # gaussian_nll_loss_with_grad returns the input's gradient only.
    assert 1 <= len(grads) <= len(expected_grads)
    for name, grad, expected in zip(spec.differentiated, grads, expected_grads):
        _assert_same_specials(grad, expected, f"gradient of {name}")


@pytest.mark.parametrize("dtype,logit", [(np.float32, 100.0), (np.float64, 800.0)], ids=["float32", "float64"])
def test_soft_margin_gradient_where_torch_overflows(dtype, logit):
    # -y x beyond exp's range: torch's exp(-y x) / (1 + exp(-y x)) is inf / inf = NaN for these
    # finite inputs; the derivative of softplus(-y x) there is -y.
    x = np.array([-logit, logit], dtype)
    y = np.array([1, -1], dtype)
    xt = torch.from_numpy(x).requires_grad_(True)
    TF.soft_margin_loss(xt, torch.from_numpy(y), reduction="sum").backward()
    assert np.isnan(xt.grad.numpy()).all()
    np.testing.assert_array_equal(F.soft_margin_loss_backward(1.0, x, y, reduction="sum"), -y)
    np.testing.assert_array_equal(F.soft_margin_loss_with_grad(x, y, reduction="sum")[1], -y)
