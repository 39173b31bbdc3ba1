"""A declarative description of every public function of ``fastloss.functional``.

The bad-input matrix (test_bad_inputs.py), the property tests (test_properties.py), the
concurrency tests and the fuzzer (tests/fuzz/) are all driven by this table, so a function
added to ``functional.__all__`` without a spec here fails test_every_public_function_has_a_spec.

A :class:`LossSpec` describes one loss; its three public functions (``f``, ``f_backward``,
``f_with_grad``) are derived from it by :func:`public_calls`. A :class:`MapSpec` describes an
array -> array function (sigmoid, softmax, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

import fastloss.functional as F

Kwargs = Dict[str, Any]
# make(rng, dtype, shape) -> the keyword arguments of a valid forward call.
Maker = Callable[[np.random.Generator, type, Tuple[int, ...]], Kwargs]


@dataclass(frozen=True)
class LossSpec:
    name: str
    make: Maker
    # Float array arguments, the differentiated one first; all must share its dtype.
    float_operands: Tuple[str, ...]
    # Float operands that may be None (optional weights) or a Python float.
    optional: Tuple[str, ...] = ()
    scalar_ok: Tuple[str, ...] = ()
    # The class-index target (int64/int32), for the class losses.
    index_target: Optional[str] = None
    # Float operands that must match (or broadcast to) the input's shape.
    shaped: Tuple[str, ...] = ()
    # Operands of one length per class (wrong length -> ValueError).
    per_class: Tuple[str, ...] = ()
    # (keyword overrides, expected exception, word the message must contain).
    invalid_options: Tuple[Tuple[Kwargs, type, str], ...] = ()
    # NumPy float64 reference: the per-element loss (reduction "none").
    reference: Optional[Callable[[Kwargs], np.ndarray]] = None
    # Divisor of "mean" given float64 kwargs (default: the number of loss elements).
    mean_divisor: Optional[Callable[[Kwargs], float]] = None
    # The torch.nn.functional counterpart (None when torch has none).
    torch_name: Optional[str] = None
    # The loss has kinks where finite differences are not meaningful for tiny steps
    # (they are skipped only within `kink_margin` of a kink, see kink_distance).
    kink_distance: Optional[Callable[[Kwargs], np.ndarray]] = None
    # backward returns a tuple (grad of input, grad of a second operand).
    backward_tuple: bool = False
    default_reduction: str = "mean"
    # The operands backward differentiates, in the order of its gradients (default: the input).
    grad_operands: Tuple[str, ...] = ()
    # The integer and bool dtypes the target takes besides the input's (README: "Targets of
    # integers and bools"), as the bad-input matrix names them.
    labels: Tuple[str, ...] = ()

    @property
    def input(self) -> str:
        return self.float_operands[0]

    @property
    def differentiated(self) -> Tuple[str, ...]:
        return self.grad_operands or (self.input,)


@dataclass(frozen=True)
class MapSpec:
    """An array -> array function: ``f(*float_operands, [dim], out=None)`` (the transforms and
    their gradients, ``sigmoid_backward(grad_output, output)``, ...)."""

    name: str
    make: Maker
    reference: Callable[[Kwargs], np.ndarray]
    torch_name: str  # torch.nn.functional's name, or aten's for the gradients
    float_operands: Tuple[str, ...] = ("input",)
    invalid_options: Tuple[Tuple[Kwargs, type, str], ...] = ()
    # Float operands that must have (or broadcast to) the first's shape.
    shaped: Tuple[str, ...] = ()


# --- value generators -----------------------------------------------------------------


# np.asarray: shape () gives a 0-d array, not a NumPy scalar.
def _normal(rng, dtype, shape, scale=1.0):
    return np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)


def _uniform(rng, dtype, shape, lo, hi):
    return np.asarray(rng.uniform(lo, hi, shape), dtype=dtype)


def _signs(rng, dtype, shape):
    return np.asarray(np.where(rng.random(shape) < 0.5, -1.0, 1.0), dtype=dtype)


def _class_shape(shape):
    """(N, C, ...) shapes for the class losses: at least two dimensions."""
    return shape if len(shape) >= 2 else (max(shape[0] if shape else 3, 1), 4)


def _classes(rng, shape):
    shape = _class_shape(shape)
    target_shape = (shape[0],) + tuple(shape[2:])
    return shape, rng.integers(0, shape[1], target_shape).astype(np.int64)


# --- NumPy float64 references -----------------------------------------------------------


def _log_sigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x):
    return np.exp(_log_sigmoid(x))


def _w(kw, name="weight"):
    w = kw.get(name)
    return 1.0 if w is None else w


def _ref_bce(kw):
    x, y = kw["input"], kw["target"]
    with np.errstate(divide="ignore"):
        return -_w(kw) * (y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log1p(-x), -100))


def _ref_bce_logits(kw):
    x, y = kw["input"], kw["target"]
    pw = kw.get("pos_weight")
    l = 1.0 if pw is None else (pw - 1) * y + 1
    return _w(kw) * ((1 - y) * x - l * _log_sigmoid(x))


def _weight_sum_mean(kw):
    w = kw.get("weight")
    return float(np.sum(np.broadcast_to(w, kw["input"].shape))) if w is not None else float(kw["input"].size)


def _ref_smooth_l1(kw):
    d = np.abs(kw["input"] - kw["target"])
    beta = kw.get("beta", 1.0)
    if beta == 0:
        return d
    return np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def _ref_huber(kw):
    d = np.abs(kw["input"] - kw["target"])
    delta = kw.get("delta", 1.0)
    return _w(kw) * np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def _ref_poisson(kw):
    x, y = kw["input"], kw["target"]
    eps = kw.get("eps", 1e-8)
    loss = np.exp(x) - y * x if kw.get("log_input", True) else x - y * np.log(x + eps)
    if kw.get("full", False):
        with np.errstate(divide="ignore", invalid="ignore"):
            stirling = y * np.log(y) - y + 0.5 * np.log(2 * np.pi * y)
        loss = loss + np.where(y > 1, stirling, 0.0)
    return loss


def _ref_gaussian(kw):
    x, y = kw["input"], kw["target"]
    v = np.maximum(kw["var"], kw.get("eps", 1e-6))
    if np.ndim(v) and v.shape != x.shape and v.shape == x.shape[:-1]:
        v = v[..., None]
    loss = 0.5 * (np.log(v) + (x - y) ** 2 / v)
    return loss + (0.5 * math.log(2 * math.pi) if kw.get("full", False) else 0.0)


def _ref_kl(kw):
    x, y = kw["input"], kw["target"]
    if kw.get("log_target", False):
        return np.exp(y) * (y - x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * (np.log(y) - x), 0.0)


def _ref_hinge(kw):
    x, y, m = kw["input"], kw["target"], kw.get("margin", 1.0)
    return np.where(y != -1, x, 0.0) + np.where(y != 1, np.maximum(m - x, 0.0), 0.0)


def _ref_sigmoid_focal(kw):
    x, y = kw["inputs"], kw["targets"]
    alpha, gamma = kw.get("alpha", 0.25), kw.get("gamma", 2.0)
    p = _sigmoid(x)
    ce = (1 - y) * x - _log_sigmoid(x)
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def _log_softmax(x, axis=1):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def _picked(kw, values):
    """values[n, t_n, ...] along the class axis 1, and the class weights w[t_n]."""
    t = kw["target"]
    idx = np.expand_dims(t, 1)
    picked = np.take_along_axis(values, idx, axis=1).squeeze(1)
    w = kw.get("weight")
    wt = np.ones(t.shape) if w is None else w[t]
    return picked, wt


def _ref_nll(kw):
    picked, wt = _picked(kw, kw["input"])
    return -wt * picked


def _ref_cross_entropy(kw):
    logp = _log_softmax(kw["input"])
    picked, wt = _picked(kw, logp)
    e = kw.get("label_smoothing", 0.0)
    w = kw.get("weight")
    wc = np.ones(kw["input"].shape[1]) if w is None else w
    smooth = -np.sum(logp * wc.reshape((1, -1) + (1,) * (logp.ndim - 2)), axis=1)
    return (1 - e) * -wt * picked + e / kw["input"].shape[1] * smooth


def _ref_softmax_focal(kw):
    logp_t, wt = _picked(kw, _log_softmax(kw["input"]))
    alpha = kw.get("alpha")
    a = 1.0 if alpha is None else (alpha[kw["target"]] if isinstance(alpha, np.ndarray) else alpha)
    return -wt * a * (-np.expm1(logp_t)) ** kw.get("gamma", 2.0) * logp_t


def _class_weight_mean(kw):
    w = kw.get("weight")
    return float(np.sum(w[kw["target"]])) if w is not None else float(kw["target"].size)


# --- the table ----------------------------------------------------------------------------

_REDUCTION = (({"reduction": "bogus"}, ValueError, "reduction"),)
# torch's exact message for gaussian_nll_loss and multilabel_soft_margin_loss, kept for parity.
_TORCH_TERSE_REDUCTION = (({"reduction": "bogus"}, ValueError, "bogus is not valid"),)
_SHAPE = (4, 5)


def _make_bce(rng, dtype, shape):
    return {"input": _uniform(rng, dtype, shape, 0.05, 0.95), "target": _uniform(rng, dtype, shape, 0, 1),
            "weight": _uniform(rng, dtype, shape, 0.5, 2)}


def _make_bce_logits(rng, dtype, shape):
    return {"input": _normal(rng, dtype, shape, 2), "target": _uniform(rng, dtype, shape, 0, 1),
            "weight": _uniform(rng, dtype, shape, 0.5, 2), "pos_weight": _uniform(rng, dtype, shape[-1:], 0.5, 2)}


def _make_weighted(rng, dtype, shape):
    return {"input": _normal(rng, dtype, shape), "target": _normal(rng, dtype, shape),
            "weight": _uniform(rng, dtype, shape, 0.5, 2)}


def _make_pair(rng, dtype, shape):
    return {"input": _normal(rng, dtype, shape), "target": _normal(rng, dtype, shape)}


def _make_poisson(rng, dtype, shape):
    return {"input": _normal(rng, dtype, shape), "target": _uniform(rng, dtype, shape, 0, 4)}


def _make_gaussian(rng, dtype, shape):
    return {"input": _normal(rng, dtype, shape), "target": _normal(rng, dtype, shape),
            "var": _uniform(rng, dtype, shape, 0.5, 2)}


def _make_kl(rng, dtype, shape):
    return {"input": _normal(rng, dtype, shape), "target": _uniform(rng, dtype, shape, 0.05, 1)}


def _make_margin(rng, dtype, shape):
    return {"input": _normal(rng, dtype, shape), "target": _signs(rng, dtype, shape)}


def _make_ranking(rng, dtype, shape):
    return {"input1": _normal(rng, dtype, shape), "input2": _normal(rng, dtype, shape),
            "target": _signs(rng, dtype, shape)}


def _make_multilabel(rng, dtype, shape):
    shape = _class_shape(shape)
    return {"input": _normal(rng, dtype, shape, 2), "target": np.asarray(rng.random(shape) < 0.5, dtype=dtype),
            "weight": _uniform(rng, dtype, shape[-1:], 0.5, 2)}


def _ref_multilabel(kw):
    x, y = kw["input"], kw["target"]
    terms = _w(kw) * (y * _log_sigmoid(x) + (1 - y) * _log_sigmoid(-x))
    return -terms.mean(axis=-1)


def _make_sigmoid_focal(rng, dtype, shape):
    return {"inputs": _normal(rng, dtype, shape, 2),
            "targets": np.asarray(rng.random(shape) < 0.5, dtype=dtype)}


def _make_nll(rng, dtype, shape):
    shape, target = _classes(rng, shape)
    return {"input": _log_softmax(_normal(rng, np.float64, shape)).astype(dtype), "target": target,
            "weight": _uniform(rng, dtype, (shape[1],), 0.5, 2)}


def _make_cross_entropy(rng, dtype, shape):
    shape, target = _classes(rng, shape)
    return {"input": _normal(rng, dtype, shape, 2), "target": target,
            "weight": _uniform(rng, dtype, (shape[1],), 0.5, 2)}


def _make_softmax_focal(rng, dtype, shape):
    kw = _make_cross_entropy(rng, dtype, shape)
    kw["alpha"] = _uniform(rng, dtype, (kw["input"].shape[1],), 0.1, 0.9)
    return kw


def _row_shape(shape):
    """(rows, dim) shapes for the row-wise losses."""
    return shape if len(shape) == 2 else _class_shape(shape)


def _make_cosine(rng, dtype, shape):
    shape = _row_shape(shape)
    return {"input1": _normal(rng, dtype, shape), "input2": _normal(rng, dtype, shape),
            "target": _signs(rng, dtype, shape[:1])}


def _make_multi_margin(rng, dtype, shape):
    shape, target = _classes(rng, _row_shape(shape))
    return {"input": _normal(rng, dtype, shape), "target": target,
            "weight": _uniform(rng, dtype, (shape[1],), 0.5, 2)}


def _make_triplet(rng, dtype, shape):
    shape = _row_shape(shape)
    return {"anchor": _normal(rng, dtype, shape), "positive": _normal(rng, dtype, shape),
            "negative": _normal(rng, dtype, shape)}


def _make_ctc(rng, dtype, shape):
    """(T, N, C) log-probabilities, N = the shape's first extent, with padded targets."""
    batch, time, classes, longest = max(shape[0] if shape else 1, 1), 8, 5, 3
    logits = rng.standard_normal((time, batch, classes))
    log_probs = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    return {"log_probs": np.asarray(log_probs, dtype=dtype),
            "targets": rng.integers(1, classes, (batch, longest)).astype(np.int64),
            "input_lengths": rng.integers(longest * 2, time + 1, batch).astype(np.int64),
            "target_lengths": rng.integers(0, longest + 1, batch).astype(np.int64)}


def _make_multilabel_margin(rng, dtype, shape):
    """Rows of class lists: a few distinct classes, a -1, then any -1s and classes."""
    shape = _row_shape(shape)
    rows, classes = shape[0], shape[-1]  # (N, C): torch takes no more dimensions
    shape = (rows, classes)
    target = rng.integers(-1, classes, shape).astype(np.int64)
    for r in range(rows):
        k = int(rng.integers(0, classes + 1))
        target[r, :k] = rng.permutation(classes)[:k]
        if k < classes:
            target[r, k] = -1
    return {"input": _normal(rng, dtype, shape), "target": target}


def _ref_multilabel_margin(kw):
    x, t = kw["input"], kw["target"]
    losses = np.zeros(x.shape[0])
    for r, (row, classes) in enumerate(zip(x, t)):
        end = int(np.argmax(classes < 0)) if (classes < 0).any() else classes.size
        listed = classes[:end]
        others = np.setdiff1d(np.arange(row.size), listed)
        losses[r] = sum(np.maximum(0.0, 1 - row[y] + row[others]).sum() for y in listed) / row.size
    return losses


def _multilabel_margin_kinks(kw):
    """Each element's distance to its nearest hinge point 1 - x[y] + x[i] = 0."""
    x, t = kw["input"], kw["target"]
    distance = np.full(x.shape, np.inf)
    for r, (row, classes) in enumerate(zip(x, t)):
        end = int(np.argmax(classes < 0)) if (classes < 0).any() else classes.size
        for y in classes[:end]:
            z = np.abs(1 - row[y] + row)
            distance[r] = np.minimum(distance[r], z)
            distance[r, y] = min(distance[r, y], z.min())
    return distance


_INTEGERS = ("int32", "int64")
_INTEGERS_AND_BOOL = _INTEGERS + ("bool",)

LOSSES: Tuple[LossSpec, ...] = (
    LossSpec("binary_cross_entropy", _make_bce, ("input", "target", "weight"), optional=("weight",),
             shaped=("target",), invalid_options=_REDUCTION, reference=_ref_bce,
             torch_name="binary_cross_entropy"),
    LossSpec("binary_cross_entropy_with_logits", _make_bce_logits, ("input", "target", "weight", "pos_weight"),
             optional=("weight", "pos_weight"), shaped=("target", "weight", "pos_weight"),
             invalid_options=_REDUCTION, reference=_ref_bce_logits,
             torch_name="binary_cross_entropy_with_logits"),
    LossSpec("mse_loss", _make_weighted, ("input", "target", "weight"), labels=_INTEGERS_AND_BOOL, optional=("weight",),
             shaped=("target", "weight"), invalid_options=_REDUCTION,
             reference=lambda kw: _w(kw) * (kw["input"] - kw["target"]) ** 2, mean_divisor=_weight_sum_mean,
             torch_name="mse_loss"),
    LossSpec("l1_loss", _make_weighted, ("input", "target", "weight"), labels=_INTEGERS, optional=("weight",),
             shaped=("target", "weight"), invalid_options=_REDUCTION,
             reference=lambda kw: _w(kw) * np.abs(kw["input"] - kw["target"]), mean_divisor=_weight_sum_mean,
             torch_name="l1_loss", kink_distance=lambda kw: np.abs(kw["input"] - kw["target"])),
    LossSpec("smooth_l1_loss", _make_pair, ("input", "target"), labels=_INTEGERS_AND_BOOL, shaped=("target",),
             invalid_options=_REDUCTION + (({"beta": -1.0}, ValueError, "beta"),), reference=_ref_smooth_l1,
             torch_name="smooth_l1_loss",
             kink_distance=lambda kw: np.abs(np.abs(kw["input"] - kw["target"]) - kw.get("beta", 1.0))),
    LossSpec("huber_loss", _make_weighted, ("input", "target", "weight"),
             labels=_INTEGERS_AND_BOOL, optional=("weight",),
             shaped=("target", "weight"),
             invalid_options=_REDUCTION + (({"delta": 0.0}, ValueError, "delta"),), reference=_ref_huber,
             torch_name="huber_loss",
             kink_distance=lambda kw: np.abs(np.abs(kw["input"] - kw["target"]) - kw.get("delta", 1.0))),
    LossSpec("poisson_nll_loss", _make_poisson, ("input", "target"), labels=_INTEGERS_AND_BOOL, shaped=("target",),
             invalid_options=_REDUCTION, reference=_ref_poisson, torch_name="poisson_nll_loss"),
    LossSpec("gaussian_nll_loss", _make_gaussian, ("input", "target", "var"), labels=_INTEGERS, scalar_ok=("var",),
             shaped=("target", "var"), invalid_options=_TORCH_TERSE_REDUCTION, reference=_ref_gaussian,
             torch_name="gaussian_nll_loss", backward_tuple=True, grad_operands=("input", "var")),
    LossSpec("log_cosh_loss", _make_pair, ("input", "target"),
             labels=_INTEGERS, shaped=("target",), invalid_options=_REDUCTION,
             reference=lambda kw: np.log1p(2 * np.sinh((kw["input"] - kw["target"]) / 2) ** 2)),
    LossSpec("kl_div", _make_kl, ("input", "target"), shaped=("target",),
             invalid_options=_REDUCTION, reference=_ref_kl, torch_name="kl_div", default_reduction="sum"),
    LossSpec("soft_margin_loss", _make_margin, ("input", "target"), labels=_INTEGERS_AND_BOOL, shaped=("target",),
             invalid_options=_REDUCTION, reference=lambda kw: np.log1p(np.exp(-kw["target"] * kw["input"])),
             torch_name="soft_margin_loss"),
    LossSpec("hinge_embedding_loss", _make_margin, ("input", "target"), labels=_INTEGERS_AND_BOOL, shaped=("target",),
             invalid_options=_REDUCTION, reference=_ref_hinge, torch_name="hinge_embedding_loss",
             kink_distance=lambda kw: np.abs(kw.get("margin", 1.0) - kw["input"])),
    LossSpec("margin_ranking_loss", _make_ranking, ("input1", "input2", "target"),
             labels=_INTEGERS, shaped=("input2", "target"),
             invalid_options=_REDUCTION,
             reference=lambda kw: np.maximum(0.0, -kw["target"] * (kw["input1"] - kw["input2"])
                                             + kw.get("margin", 0.0)),
             torch_name="margin_ranking_loss", backward_tuple=True, grad_operands=("input1", "input2"),
             kink_distance=lambda kw: np.abs(-kw["target"] * (kw["input1"] - kw["input2"]) + kw.get("margin", 0.0))),
    LossSpec("multilabel_soft_margin_loss", _make_multilabel, ("input", "target", "weight"),
             labels=_INTEGERS, optional=("weight",),
             shaped=("target", "weight"), invalid_options=_TORCH_TERSE_REDUCTION, reference=_ref_multilabel,
             torch_name="multilabel_soft_margin_loss"),
    LossSpec("sigmoid_focal_loss", _make_sigmoid_focal, ("inputs", "targets"), shaped=("targets",),
             invalid_options=_REDUCTION, reference=_ref_sigmoid_focal, default_reduction="none"),
    LossSpec("nll_loss", _make_nll, ("input", "weight"), optional=("weight",), index_target="target",
             per_class=("weight",), invalid_options=_REDUCTION, reference=_ref_nll,
             mean_divisor=_class_weight_mean, torch_name="nll_loss"),
    LossSpec("cross_entropy", _make_cross_entropy, ("input", "weight"), optional=("weight",),
             index_target="target", per_class=("weight",),
             invalid_options=_REDUCTION + (({"label_smoothing": 1.5}, ValueError, "label_smoothing"),
                                           ({"label_smoothing": float("nan")}, ValueError, "label_smoothing")),
             reference=_ref_cross_entropy, mean_divisor=_class_weight_mean, torch_name="cross_entropy"),
    LossSpec("cosine_embedding_loss", _make_cosine, ("input1", "input2"), invalid_options=_REDUCTION,
             torch_name="cosine_embedding_loss", backward_tuple=True, grad_operands=("input1", "input2")),
    LossSpec("multi_margin_loss", _make_multi_margin, ("input", "weight"), optional=("weight",),
             index_target="target", per_class=("weight",),
             invalid_options=_REDUCTION + (({"p": 3}, ValueError, "p == 1"),), torch_name="multi_margin_loss"),
    LossSpec("multilabel_margin_loss", _make_multilabel_margin, ("input",), invalid_options=_REDUCTION,
             reference=_ref_multilabel_margin, torch_name="multilabel_margin_loss",
             kink_distance=_multilabel_margin_kinks),
    LossSpec("triplet_margin_loss", _make_triplet, ("anchor", "positive", "negative"),
             invalid_options=_REDUCTION + (({"margin": 0.0}, ValueError, "margin"),),
             torch_name="triplet_margin_loss", backward_tuple=True,
             grad_operands=("anchor", "positive", "negative")),
    LossSpec("softmax_focal_loss", _make_softmax_focal, ("input", "weight", "alpha"), optional=("weight", "alpha"),
             scalar_ok=("alpha",), index_target="target", per_class=("weight", "alpha"),
             invalid_options=_REDUCTION + (({"gamma": -1.0}, ValueError, "gamma"),
                                           ({"gamma": float("inf")}, ValueError, "gamma")),
             reference=_ref_softmax_focal, mean_divisor=_class_weight_mean),
    # Value parity with torch, finite differences and torch's messages: test_ctc.py.
    LossSpec("ctc_loss", _make_ctc, ("log_probs",), torch_name="ctc_loss",
             invalid_options=_REDUCTION + (({"blank": 5}, ValueError, "blank"),)),
)


def _make_map(rng, dtype, shape):
    return {"input": _normal(rng, dtype, shape, 3)}


def _softmax_dim(shape):
    return len(shape) - 1 if len(shape) < 2 else 1


def _make_softmax(rng, dtype, shape):
    return {"input": _normal(rng, dtype, shape, 3), "dim": _softmax_dim(shape)}


def _ref_softmax(kw):
    return np.exp(_log_softmax(kw["input"], kw["dim"]))


def _make_softmax_backward(log):
    def make(rng, dtype, shape):
        dim = _softmax_dim(shape)
        y = _log_softmax(_normal(rng, np.float64, shape, 3), dim) if shape else np.zeros(())
        return {"grad_output": _normal(rng, dtype, shape), "output": np.asarray(y if log else np.exp(y), dtype),
                "dim": dim}

    return make


def _ref_softmax_backward(kw):
    g, y, dim = kw["grad_output"], kw["output"], kw["dim"]
    return y * (g - np.sum(g * y, axis=dim, keepdims=True))


def _ref_log_softmax_backward(kw):
    g, y, dim = kw["grad_output"], kw["output"], kw["dim"]
    return g - np.exp(y) * np.sum(g, axis=dim, keepdims=True)


def _make_sigmoid_backward(rng, dtype, shape):
    return {"grad_output": _normal(rng, dtype, shape), "output": _sigmoid(_normal(rng, np.float64, shape, 3)).astype(dtype)}


def _make_log_sigmoid_backward(rng, dtype, shape):
    return {"grad_output": _normal(rng, dtype, shape), "input": _normal(rng, dtype, shape, 3)}


_DIM = (({"dim": 7}, IndexError, "Dimension out of range"), ({"dim": 1.5}, TypeError, "dim"),
        ({"dim": None}, TypeError, "dim"))
_DTYPE = (({"dtype": "int32"}, TypeError, "dtype"), ({"dtype": "float16"}, TypeError, "dtype"),
          ({"dtype": "no-such-type"}, TypeError, "dtype"))

MAPS: Tuple[MapSpec, ...] = (
    MapSpec("sigmoid", _make_map, lambda kw: _sigmoid(kw["input"]), "sigmoid"),
    MapSpec("log_sigmoid", _make_map, lambda kw: _log_sigmoid(kw["input"]), "logsigmoid"),
    MapSpec("softmax", _make_softmax, _ref_softmax, "softmax", invalid_options=_DIM[:2] + _DTYPE),
    MapSpec("log_softmax", _make_softmax, lambda kw: _log_softmax(kw["input"], kw["dim"]), "log_softmax",
            invalid_options=_DIM[:2] + _DTYPE),
    MapSpec("sigmoid_backward", _make_sigmoid_backward,
            lambda kw: kw["grad_output"] * (1 - kw["output"]) * kw["output"], "sigmoid_backward",
            float_operands=("grad_output", "output"), shaped=("output",)),
    MapSpec("log_sigmoid_backward", _make_log_sigmoid_backward,
            lambda kw: kw["grad_output"] * _sigmoid(-kw["input"]), "log_sigmoid_backward",
            float_operands=("grad_output", "input"), shaped=("input",)),
    MapSpec("softmax_backward", _make_softmax_backward(False), _ref_softmax_backward, "_softmax_backward_data",
            float_operands=("grad_output", "output"), invalid_options=_DIM, shaped=("output",)),
    MapSpec("log_softmax_backward", _make_softmax_backward(True), _ref_log_softmax_backward,
            "_log_softmax_backward_data", float_operands=("grad_output", "output"), invalid_options=_DIM,
            shaped=("output",)),
)

LOSS_BY_NAME = {s.name: s for s in LOSSES}
MAP_BY_NAME = {s.name: s for s in MAPS}


# --- public calls derived from the specs ----------------------------------------------------


@dataclass(frozen=True)
class PublicCall:
    """One public function with a way to build a valid call."""

    name: str  # the public function's name in fastloss.functional
    spec: Any  # LossSpec or MapSpec
    variant: str  # "forward", "backward", "with_grad" or "map"
    has_out: bool = field(default=True)

    @property
    def fn(self) -> Callable[..., Any]:
        return getattr(F, self.name)

    def make(self, rng: np.random.Generator, dtype=np.float64, shape: Tuple[int, ...] = _SHAPE,
             reduction: Optional[str] = None) -> Kwargs:
        """Keyword arguments of a valid call (reduction defaults to the spec's default)."""
        kw = self.spec.make(rng, dtype, shape)
        if self.variant == "map":
            return kw
        kw["reduction"] = reduction or self.spec.default_reduction
        if self.variant == "backward":
            kw["grad_output"] = grad_output_for(self.spec, kw)
        return kw


def grad_output_for(spec: LossSpec, kw: Kwargs, scale: float = 1.0) -> Any:
    """A grad_output for the backward call: a scalar for "mean"/"sum", else an array of the
    loss's shape."""
    if kw["reduction"] != "none":
        return scale
    loss = getattr(F, spec.name)(**kw)
    return np.full(loss.shape, scale, dtype=loss.dtype)


def public_calls() -> Tuple[PublicCall, ...]:
    calls = []
    for spec in LOSSES:
        calls.append(PublicCall(spec.name, spec, "forward", has_out=False))
        calls.append(PublicCall(spec.name + "_backward", spec, "backward"))
        calls.append(PublicCall(spec.name + "_with_grad", spec, "with_grad"))
    for spec in MAPS:
        calls.append(PublicCall(spec.name, spec, "map"))
    return tuple(calls)


PUBLIC_CALLS = public_calls()
CALL_BY_NAME = {c.name: c for c in PUBLIC_CALLS}

# Public functions the specs cannot describe: the distances take no ``out=`` and the triplet
# loss takes a Python ``distance_function`` (and has no Declaration, which the streaming,
# dask and fastloss.torch tests driven by LOSSES need). Their torch parity (values and
# gradients, every option), finite differences and bad inputs with torch's messages are in
# test_distances.py.
DEDICATED_TESTS = {
    name: "test_distances.py" for name in (
        "pairwise_distance", "pairwise_distance_backward", "cosine_similarity", "cosine_similarity_backward",
        "triplet_margin_with_distance_loss", "triplet_margin_with_distance_loss_backward",
        "triplet_margin_with_distance_loss_with_grad")
}
# linear_cross_entropy is NumPy's matmul and cross_entropy's core, whose own arrays are checked
# there; its linear operands' bad inputs are tested in its own file.
DEDICATED_TESTS.update({
    name: "test_linear_cross_entropy.py" for name in (
        "linear_cross_entropy", "linear_cross_entropy_backward", "linear_cross_entropy_with_grad")
})


def array_leaves(value: Any) -> Sequence[np.ndarray]:
    """Every NumPy array in an argument value (arrays inside lists/tuples included)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in array_leaves(v)]
    return []


def fingerprint(arrays: Sequence[np.ndarray]) -> Tuple[Any, ...]:
    """A hash of every array's bytes, shape, strides and flags (to prove nothing changed)."""
    import hashlib

    out = []
    for a in arrays:
        h = hashlib.sha256()
        # Through a contiguous copy: the logical contents of strided views too.
        h.update(np.ascontiguousarray(a).tobytes())
        out.append((h.hexdigest(), a.shape, a.strides, a.dtype.str, a.flags.writeable))
    return tuple(out)
