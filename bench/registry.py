"""The benchmark's registry: one declarative entry per fastloss function.

An entry says how to make the inputs, the loss as one formula written against an array
module (NumPy evaluates it as the NumPy peer, ``jax.numpy`` as the JAX peer, with
``jax.grad`` for its gradient), the stable NumPy gradient, the torch call, and which
inputs the kernel must read. The fastloss calls follow from the name: ``name(*inputs)``,
``name_backward(1.0, *inputs, out=)`` and ``name_with_grad(*inputs, out=)``. Adding a loss
is one ``register(Case(...))``, and every script (quick.py, run.py, bench_cross_entropy.py)
times it through the one harness, measure.py. A case may add torch variants (peers of their
own: linear_cross_entropy's chunked path) and a floor: calls that bound fastloss from below
(its GEMMs alone), timed in the same rounds and reported next to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

Inputs = Tuple[np.ndarray, ...]

ELEMENTWISE = "elementwise"  # sized by element count
CLASSES = "classes"  # sized by (N, C): logits and class indices
SEQUENCES = "sequences"  # sized by (T, N, C, S): CTC's time steps, batch, classes, longest target
LM_HEAD = "lm_head"  # sized by (N, V, d): hidden states (N, d), a (V, d) head, N class indices

ELEMENTWISE_SIZES = [1 << 16, 1 << 24, 1 << 26]
CLASS_SHAPES = [(65536, 10), (8192, 1000), (1024, 32000), (64, 128256)]
# --quick: one size each, past L2 (2^21 float32 is 8 MiB an array), so the whole suite stays
# under a minute on 2 cores (run.case_sizes adds the out-of-cache size for memory-bound losses).
QUICK_ELEMENTWISE_SIZES = [1 << 21]
QUICK_CLASS_SHAPES = [(4096, 1000)]
SEQUENCE_SHAPES = [(500, 32, 32, 100), (500, 32, 5000, 100)]  # the CTC issue's shapes
QUICK_SEQUENCE_SHAPES = [(200, 16, 32, 40)]
LM_HEAD_SHAPES = [(4096, 32000, 1024), (1024, 128256, 2048)]  # the linear_cross_entropy issue's shapes
QUICK_LM_HEAD_SHAPES = [(512, 8000, 256)]
PASSES = ("forward", "backward", "with_grad")
FORWARD_ONLY = ("forward",)
FORWARD_AND_FUSED = ("forward", "with_grad")  # quick.py's and bench_cross_entropy.py's passes
# A memory-bound loss, an exp/log-bound one and the class loss: what quick.py times, and what
# run.py --quick measures thread scaling, per-target times and peak memory on.
REPRESENTATIVE_CASES = ("binary_cross_entropy_with_logits", "mse_loss", "cross_entropy")


@dataclass(frozen=True)
class Case:
    name: str  # the fastloss.functional name
    kind: str  # ELEMENTWISE, CLASSES, SEQUENCES or LM_HEAD
    make: Callable[[np.random.Generator, Any], Inputs]  # size (int) or shape (N, C) -> inputs
    value: Callable[..., Any]  # value(xp, *inputs): the loss (or output) with array module xp
    # Stable NumPy gradient: d value / d inputs[0], or a tuple with one per index in `grads`.
    numpy_grad: Optional[Callable[..., Any]]
    torch_call: Optional[Callable[..., Any]]  # torch_call(torch, *tensors)
    kwargs: Dict[str, Any] = field(default_factory=dict)  # fastloss keyword arguments
    passes: Sequence[str] = PASSES
    memory_bound: bool = False  # a speed target: >= 85% of memory bound out of cache
    # Bytes the forward pass must read beyond the inputs' sizes (None: all inputs, whole).
    forward_bytes: Optional[Callable[[Inputs], int]] = None
    # The inputs whose gradients fastloss's `_backward` returns (margin_ranking: both inputs);
    # every peer's backward differentiates the same ones, so all do the same work.
    grads: Tuple[int, ...] = (0,)
    # --quick's size for this case instead of the kind's (cross_entropy: its 8192x1000 target).
    quick_size: Optional[Any] = None
    # Whether JAX jits `value` (False where the formula is a Python loop over time steps, which
    # jit would unroll: the case then has no JAX peer).
    jax_formula: bool = True
    # Multiplies the correctness check's tolerances (measure.check_case) for this case.
    check_tolerance: float = 1.0
    # fastloss's ``out=`` is a tuple of one array per input in `grads` and None for each of
    # `out_nones` more (linear_cross_entropy: (grad_input, grad_linear_weight, None)).
    out_nones: int = 0
    # More torch peers, each a torch_call of its own: {library name: torch_call}.
    torch_variants: Dict[str, Callable[..., Any]] = field(default_factory=dict)
    # floor(inputs) -> {pass: call}: what bounds the pass from below, timed in its rounds and
    # reported as "floor ms" instead of a % of memory bound (which then is not measured).
    floor: Optional[Callable[[Inputs], Dict[str, Callable[[], Any]]]] = None
    # Peak memory is measured at each timed size, in --quick too (not only out of cache):
    # the memory is what the case is about.
    memory_at_sizes: bool = False
    # fastloss takes float16 and bfloat16 inputs (run.py --dtype times the case in them).
    half_precision: bool = True

    @property
    def transform(self) -> bool:
        """A function of the input (sigmoid, softmax), not a loss: its output is an array."""
        return self.passes == FORWARD_ONLY

    @property
    def fused_pass(self) -> str:
        """The pass that does the whole job: loss and gradient, or a transform's forward."""
        return "forward" if self.transform else "with_grad"

    def sizes(self, quick: bool) -> List[Any]:
        """The registry's sizes for this case (a new list: callers may extend it)."""
        if quick and self.quick_size is not None:
            return [self.quick_size]
        if self.kind == ELEMENTWISE:
            return list(QUICK_ELEMENTWISE_SIZES if quick else ELEMENTWISE_SIZES)
        if self.kind == CLASSES:
            return list(QUICK_CLASS_SHAPES if quick else CLASS_SHAPES)
        if self.kind == LM_HEAD:
            return list(QUICK_LM_HEAD_SHAPES if quick else LM_HEAD_SHAPES)
        return list(QUICK_SEQUENCE_SHAPES if quick else SEQUENCE_SHAPES)

    def main_input_elements(self, size: Any) -> int:
        """Elements of inputs[0] at this size (an int, (N, C) or (T, N, C, S)); for an (N, V, d)
        LM head those of the (N, V) logits the loss is defined on, as the (N, C) losses'."""
        if self.kind == ELEMENTWISE:
            return size
        return math.prod(size[:3] if self.kind == SEQUENCES else size[:2] if self.kind == LM_HEAD else size)

    def bytes_moved(self, inputs: Inputs, pass_name: str) -> int:
        """What must cross the memory bus at least: inputs read once, outputs written once."""
        read = self.forward_bytes(inputs) if self.forward_bytes else sum(a.nbytes for a in inputs)
        if self.transform:
            return read + inputs[0].nbytes
        if pass_name == "forward":
            return read
        if self.name.startswith("nll_loss"):  # the gradient is written, the input never read
            return inputs[1].nbytes + inputs[0].nbytes
        return sum(a.nbytes for a in inputs) + sum(inputs[i].nbytes for i in self.grads)


CASES: Dict[str, Case] = {}


def register(case: Case) -> Case:
    if case.name in CASES:
        raise ValueError(f"benchmark case {case.name!r} registered twice")
    CASES[case.name] = case
    return case


# --- inputs --------------------------------------------------------------------------------


def _normal(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    x = rng.standard_normal(n, dtype=np.float32)
    if scale != 1.0:
        x *= np.float32(scale)
    return x


def _unit(rng: np.random.Generator, n: int, low: float = 0.0) -> np.ndarray:
    u = rng.random(n, dtype=np.float32)
    if low:
        u = np.maximum(u, np.float32(low), out=u)
    return u


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.random(n, dtype=np.float32) < 0.5, np.float32(-1), np.float32(1))


def _logits_labels(rng: np.random.Generator, shape: Tuple[int, int]) -> Inputs:
    n, c = shape
    return _normal(rng, n * c, 2.0).reshape(n, c), rng.integers(0, c, n)


def _log_probs_labels(rng: np.random.Generator, shape: Tuple[int, int]) -> Inputs:
    logits, labels = _logits_labels(rng, shape)
    logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True, dtype=np.float32))
    return logits, labels


def _pair(rng: np.random.Generator, n: int) -> Inputs:
    return _normal(rng, n), _normal(rng, n)


def _logits_and_probs(rng: np.random.Generator, n: int) -> Inputs:
    return _normal(rng, n, 2.0), _unit(rng, n)


def _probs_and_probs(rng: np.random.Generator, n: int) -> Inputs:
    return _unit(rng, n, 1e-3), _unit(rng, n)


def _logits_and_signs(rng: np.random.Generator, n: int) -> Inputs:
    return _normal(rng, n, 2.0), _signs(rng, n)


def _mean(xp: Any, values: Any) -> Any:
    """NumPy accumulates in float64 (the stable peer); JAX keeps its own float32 reduction."""
    return values.mean(dtype=np.float64) if xp is np else xp.mean(values)


# --- elementwise losses ------------------------------------------------------------------------


def _sigmoid(xp: Any, x: Any) -> Any:
    return 0.5 * (xp.tanh(0.5 * x) + 1)  # stable for any x, one transcendental


def _softplus(xp: Any, x: Any) -> Any:
    # Stable in both libraries, and jax.grad of it is exactly sigmoid (max/abs would give
    # JAX's tie-split subgradients at x = 0).
    return xp.logaddexp(0, x)


register(Case(
    "binary_cross_entropy", ELEMENTWISE, lambda rng, n: (_unit(rng, n, 1e-3), _unit(rng, n)),
    value=lambda xp, p, y: _mean(xp, -(y * xp.maximum(xp.log(p), -100) + (1 - y) * xp.maximum(xp.log1p(-p), -100))),
    numpy_grad=lambda p, y: (p - y) / np.maximum(p * (1 - p), np.float32(1e-12)) / p.size,
    torch_call=lambda torch, p, y: torch.nn.functional.binary_cross_entropy(p, y),
))
register(Case(
    "binary_cross_entropy_with_logits", ELEMENTWISE, _logits_and_probs,
    value=lambda xp, x, y: _mean(xp, _softplus(xp, x) - x * y),
    numpy_grad=lambda x, y: (_sigmoid(np, x) - y) / x.size,
    torch_call=lambda torch, x, y: torch.nn.functional.binary_cross_entropy_with_logits(x, y),
))
register(Case(
    "mse_loss", ELEMENTWISE, _pair, memory_bound=True,
    value=lambda xp, x, y: _mean(xp, (x - y) * (x - y)),
    numpy_grad=lambda x, y: (2 / x.size) * (x - y),
    torch_call=lambda torch, x, y: torch.nn.functional.mse_loss(x, y),
))
register(Case(
    "l1_loss", ELEMENTWISE, _pair, memory_bound=True,
    value=lambda xp, x, y: _mean(xp, xp.abs(x - y)),
    numpy_grad=lambda x, y: np.sign(x - y) / x.size,
    torch_call=lambda torch, x, y: torch.nn.functional.l1_loss(x, y),
))
register(Case(
    "smooth_l1_loss", ELEMENTWISE, _pair,
    value=lambda xp, x, y: _mean(xp, xp.where(xp.abs(x - y) < 1, 0.5 * (x - y) ** 2, xp.abs(x - y) - 0.5)),
    numpy_grad=lambda x, y: np.clip(x - y, -1, 1) / x.size,
    torch_call=lambda torch, x, y: torch.nn.functional.smooth_l1_loss(x, y),
))
register(Case(
    "huber_loss", ELEMENTWISE, _pair, kwargs={"delta": 1.5},
    value=lambda xp, x, y: _mean(xp, xp.where(xp.abs(x - y) < 1.5, 0.5 * (x - y) ** 2, 1.5 * (xp.abs(x - y) - 0.75))),
    numpy_grad=lambda x, y: np.clip(x - y, -1.5, 1.5) / x.size,
    torch_call=lambda torch, x, y: torch.nn.functional.huber_loss(x, y, delta=1.5),
))
register(Case(
    "log_cosh_loss", ELEMENTWISE, _pair,
    value=lambda xp, x, y: _mean(xp, xp.logaddexp(x - y, y - x) - np.float32(np.log(2))),
    numpy_grad=lambda x, y: np.tanh(x - y) / x.size,
    torch_call=lambda torch, x, y: torch.mean(torch.logaddexp(x - y, y - x) - np.log(2)),
))
register(Case(
    "poisson_nll_loss", ELEMENTWISE, lambda rng, n: (_normal(rng, n), _unit(rng, n) * 4),
    value=lambda xp, x, y: _mean(xp, xp.exp(x) - y * x),
    numpy_grad=lambda x, y: (np.exp(x) - y) / x.size,
    torch_call=lambda torch, x, y: torch.nn.functional.poisson_nll_loss(x, y),
))
def _gaussian_nll_grads(x: np.ndarray, y: np.ndarray, v: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    d = x - y
    v = np.maximum(v, np.float32(1e-6))
    return d / v / x.size, 0.5 * (1 - d * d / v) / v / x.size


register(Case(
    "gaussian_nll_loss", ELEMENTWISE, lambda rng, n: (*_pair(rng, n), _unit(rng, n, 0.05)),
    value=lambda xp, x, y, v: _mean(xp, 0.5 * (xp.log(xp.maximum(v, 1e-6)) + (x - y) ** 2 / xp.maximum(v, 1e-6))),
    numpy_grad=_gaussian_nll_grads, grads=(0, 2),
    torch_call=lambda torch, x, y, v: torch.nn.functional.gaussian_nll_loss(x, y, v),
))
register(Case(
    "kl_div", ELEMENTWISE, lambda rng, n: (np.log(_unit(rng, n, 1e-3)), _unit(rng, n)),
    kwargs={"reduction": "batchmean"},  # on 1-D inputs the same as "mean", without torch's warning
    value=lambda xp, x, y: _mean(xp, xp.where(y > 0, y * (xp.log(xp.where(y > 0, y, 1)) - x), 0)),
    numpy_grad=lambda x, y: -y / x.size,
    torch_call=lambda torch, x, y: torch.nn.functional.kl_div(x, y, reduction="batchmean"),
))
register(Case(
    "soft_margin_loss", ELEMENTWISE, _logits_and_signs,
    value=lambda xp, x, y: _mean(xp, _softplus(xp, -y * x)),
    numpy_grad=lambda x, y: -y * _sigmoid(np, -y * x) / x.size,
    torch_call=lambda torch, x, y: torch.nn.functional.soft_margin_loss(x, y),
))
register(Case(
    "hinge_embedding_loss", ELEMENTWISE, _logits_and_signs,
    value=lambda xp, x, y: _mean(xp, xp.where(y == 1, x, xp.maximum(1 - x, 0))),
    numpy_grad=lambda x, y: np.where(y == 1, np.float32(1), -(1 - x > 0).astype(np.float32)) / x.size,
    torch_call=lambda torch, x, y: torch.nn.functional.hinge_embedding_loss(x, y),
))
def _margin_ranking_grads(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    g = np.where(-y * (a - b) + np.float32(0.1) > 0, -y, np.float32(0)) / a.size
    return g, -g


register(Case(
    "margin_ranking_loss", ELEMENTWISE, lambda rng, n: (*_pair(rng, n), _signs(rng, n)), kwargs={"margin": 0.1},
    value=lambda xp, a, b, y: _mean(xp, xp.maximum(-y * (a - b) + 0.1, 0)),
    numpy_grad=_margin_ranking_grads, grads=(0, 1),
    torch_call=lambda torch, a, b, y: torch.nn.functional.margin_ranking_loss(a, b, y, margin=0.1),
))


def _sigmoid_focal(xp: Any, x: Any, y: Any) -> Any:
    p = _sigmoid(xp, x)
    one_minus_pt = p + y - 2 * p * y
    alpha_t = 0.25 * y + 0.75 * (1 - y)
    return _mean(xp, alpha_t * (_softplus(xp, x) - x * y) * one_minus_pt * one_minus_pt)


def _sigmoid_focal_grad(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = _sigmoid(np, x)
    one_minus_pt = p + y - 2 * p * y
    alpha_t = 0.25 * y + 0.75 * (1 - y)
    ce = _softplus(np, x) - x * y
    d_one_minus_pt = (1 - 2 * y) * p * (1 - p)
    return alpha_t * ((p - y) * one_minus_pt ** 2 + ce * 2 * one_minus_pt * d_one_minus_pt) / x.size


def _torch_sigmoid_focal(torch: Any, x: Any, y: Any) -> Any:  # torchvision.ops.sigmoid_focal_loss
    p = torch.sigmoid(x)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    return ((0.25 * y + 0.75 * (1 - y)) * ce * (1 - p_t) ** 2).mean()


register(Case(
    "sigmoid_focal_loss", ELEMENTWISE, _logits_and_probs, kwargs={"reduction": "mean"},
    value=_sigmoid_focal, numpy_grad=_sigmoid_focal_grad, torch_call=_torch_sigmoid_focal,
))
register(Case(
    "multilabel_soft_margin_loss", CLASSES,
    lambda rng, shape: (_normal(rng, shape[0] * shape[1], 2.0).reshape(shape),
                        (_unit(rng, shape[0] * shape[1]) < 0.1).astype(np.float32).reshape(shape)),
    value=lambda xp, x, y: _mean(xp, _softplus(xp, x) - x * y),  # row mean of C terms, then batch mean
    numpy_grad=lambda x, y: (_sigmoid(np, x) - y) / x.size,
    torch_call=lambda torch, x, y: torch.nn.functional.multilabel_soft_margin_loss(x, y),
))
register(Case(
    "sigmoid", ELEMENTWISE, lambda rng, n: (_normal(rng, n, 4.0),), passes=FORWARD_ONLY,
    value=_sigmoid, numpy_grad=None, torch_call=lambda torch, x: torch.sigmoid(x),
))
register(Case(
    "log_sigmoid", ELEMENTWISE, lambda rng, n: (_normal(rng, n, 4.0),), passes=FORWARD_ONLY,
    value=lambda xp, x: -_softplus(xp, -x), numpy_grad=None,
    torch_call=lambda torch, x: torch.nn.functional.logsigmoid(x),
))
register(Case(
    "sigmoid_backward", ELEMENTWISE, lambda rng, n: (_normal(rng, n), _sigmoid(np, _normal(rng, n, 4.0))),
    passes=FORWARD_ONLY, value=lambda xp, g, y: g * (1 - y) * y, numpy_grad=None,
    torch_call=lambda torch, g, y: torch.ops.aten.sigmoid_backward(g, y),
))

# aten's log_sigmoid_backward reads the buffer its forward saved (exp(-|x|)): made once per
# input outside the timing, as autograd has it at hand.
_LOG_SIGMOID_BUFFERS: Dict[int, Any] = {}


def _torch_log_sigmoid_backward(torch: Any, g: Any, x: Any) -> Any:
    buffer = _LOG_SIGMOID_BUFFERS.get(id(x))
    if buffer is None or buffer[0] is not x:
        buffer = _LOG_SIGMOID_BUFFERS[id(x)] = (x, torch.ops.aten.log_sigmoid_forward(x)[1])
    return torch.ops.aten.log_sigmoid_backward(g, x, buffer[1])


register(Case(
    "log_sigmoid_backward", ELEMENTWISE, lambda rng, n: (_normal(rng, n), _normal(rng, n, 4.0)),
    passes=FORWARD_ONLY, value=lambda xp, g, x: g * _sigmoid(xp, -x), numpy_grad=None,
    torch_call=_torch_log_sigmoid_backward,
))


# --- the cross-entropy family ------------------------------------------------------------------


def _take(xp: Any, rows: Any, labels: Any) -> Any:
    return xp.take_along_axis(rows, labels[:, None], axis=1)[:, 0]


def _log_softmax(xp: Any, x: Any) -> Any:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def _one_hot(labels: np.ndarray, classes: int, dtype: Any) -> np.ndarray:
    hot = np.zeros((labels.size, classes), dtype)
    hot[np.arange(labels.size), labels] = 1
    return hot


def _cross_entropy_grad(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    grad = np.exp(_log_softmax(np, x))
    grad[np.arange(labels.size), labels] -= 1
    return grad / labels.size


def _softmax_focal(xp: Any, x: Any, labels: Any) -> Any:
    log_pt = _take(xp, _log_softmax(xp, x), labels)
    return _mean(xp, -(1 - xp.exp(log_pt)) ** 2 * log_pt)


def _softmax_focal_grad(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    p = np.exp(_log_softmax(np, x))
    p_t = _take(np, p, labels)
    log_pt = np.log(p_t)
    g = 2 * (1 - p_t) * p_t * log_pt - (1 - p_t) ** 2  # d loss_n / d log p_t, times -1
    return (g[:, None] * (_one_hot(labels, x.shape[1], x.dtype) - p)) / labels.size


def _torch_softmax_focal(torch: Any, x: Any, labels: Any) -> Any:
    log_pt = torch.nn.functional.log_softmax(x, dim=1).gather(1, labels[:, None])[:, 0]
    return (-(1 - log_pt.exp()) ** 2 * log_pt).mean()


def _gathered_bytes(inputs: Inputs) -> int:
    """nll_loss reads one cache line of each row (and the labels), not the whole input."""
    x, labels = inputs
    return labels.nbytes + labels.size * min(64, x.shape[1] * x.itemsize)


register(Case(
    "cross_entropy", CLASSES, _logits_labels, quick_size=(8192, 1000),
    value=lambda xp, x, t: _mean(xp, -_take(xp, _log_softmax(xp, x), t)),
    numpy_grad=_cross_entropy_grad,
    torch_call=lambda torch, x, t: torch.nn.functional.cross_entropy(x, t),
))
register(Case(
    "nll_loss", CLASSES, _log_probs_labels, memory_bound=True, forward_bytes=_gathered_bytes,
    value=lambda xp, x, t: _mean(xp, -_take(xp, x, t)),
    numpy_grad=lambda x, t: -_one_hot(t, x.shape[1], x.dtype) / t.size,
    torch_call=lambda torch, x, t: torch.nn.functional.nll_loss(x, t),
))
register(Case(
    "softmax_focal_loss", CLASSES, _logits_labels,
    value=_softmax_focal, numpy_grad=_softmax_focal_grad, torch_call=_torch_softmax_focal,
))
register(Case(
    "softmax", CLASSES, lambda rng, shape: _logits_labels(rng, shape)[:1], passes=FORWARD_ONLY, kwargs={"dim": 1},
    value=lambda xp, x: xp.exp(_log_softmax(xp, x)), numpy_grad=None,
    torch_call=lambda torch, x: torch.softmax(x, dim=1),
))
register(Case(
    "log_softmax", CLASSES, lambda rng, shape: _logits_labels(rng, shape)[:1], passes=FORWARD_ONLY, kwargs={"dim": 1},
    value=_log_softmax, numpy_grad=None,
    torch_call=lambda torch, x: torch.log_softmax(x, dim=1),
))


# The gradients of the transforms are array -> array functions too (FORWARD_ONLY): their
# inputs are grad_output and the forward's output (or input); torch's peer is the aten op
# its autograd runs.
def _grad_and_output(log: bool) -> Callable[[np.random.Generator, Tuple[int, int]], Inputs]:
    def make(rng: np.random.Generator, shape: Tuple[int, int]) -> Inputs:
        x = _logits_labels(rng, shape)[0]
        y = x - np.log(np.exp(x).sum(axis=1, keepdims=True, dtype=np.float32))
        return _normal(rng, x.size).reshape(x.shape), y if log else np.exp(y)

    return make


register(Case(
    "softmax_backward", CLASSES, _grad_and_output(False), passes=FORWARD_ONLY, kwargs={"dim": 1},
    value=lambda xp, g, y: y * (g - (g * y).sum(axis=1, keepdims=True)), numpy_grad=None,
    torch_call=lambda torch, g, y: torch.ops.aten._softmax_backward_data(g, y, 1, y.dtype),
))
register(Case(
    "log_softmax_backward", CLASSES, _grad_and_output(True), passes=FORWARD_ONLY, kwargs={"dim": 1},
    value=lambda xp, g, y: g - xp.exp(y) * g.sum(axis=1, keepdims=True), numpy_grad=None,
    torch_call=lambda torch, g, y: torch.ops.aten._log_softmax_backward_data(g, y, 1, y.dtype),
))


# --- row losses (rows of D features; sized like the class losses, (N, D)) -------------------


def _rows(xp: Any, values: Any) -> Any:
    return values.sum(axis=1, dtype=np.float64) if xp is np else values.sum(axis=1)


def _cosine_parts(xp: Any, a: Any, b: Any) -> Tuple[Any, Any, Any]:
    """(cos, |a|^2 + 1e-12, |b|^2 + 1e-12) per row, as torch."""
    aa = _rows(xp, a * a) + 1e-12
    bb = _rows(xp, b * b) + 1e-12
    return _rows(xp, a * b) / xp.sqrt(aa * bb), aa, bb


def _cosine_embedding(xp: Any, a: Any, b: Any, y: Any) -> Any:
    cos = _cosine_parts(xp, a, b)[0]
    return _mean(xp, xp.where(y == 1, 1 - cos, xp.maximum(cos - 0.2, 0)))


def _cosine_embedding_grads(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    cos, aa, bb = _cosine_parts(np, a, b)
    denominator = np.sqrt(aa * bb)
    coefficient = (np.where(y == 1, -1.0, np.where(cos > 0.2, 1.0, 0.0)) / len(a))[:, None]
    d_a = b / denominator[:, None] - (cos / aa)[:, None] * a
    d_b = a / denominator[:, None] - (cos / bb)[:, None] * b
    return (coefficient * d_a).astype(a.dtype), (coefficient * d_b).astype(b.dtype)


def _multi_margin_terms(xp: Any, x: Any, t: Any) -> Any:
    """max(0, 1 - x[t] + x[i]) for every i, 0 at i = t. A select rather than xp.maximum:
    jax.grad splits maximum's gradient 0.5 / 0.5 at an exact tie, torch passes 0."""
    margins = 1 - _take(xp, x, t)[:, None] + x
    terms = xp.where(margins > 0, margins, 0)
    return xp.where(xp.arange(x.shape[1])[None, :] == t[:, None], 0, terms)


def _multi_margin(xp: Any, x: Any, t: Any) -> Any:
    return _mean(xp, _rows(xp, _multi_margin_terms(xp, x, t)) / x.shape[1])


def _multi_margin_grad(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    active = (_multi_margin_terms(np, x, t) > 0).astype(x.dtype)
    active[np.arange(len(t)), t] = -active.sum(axis=1)
    return active / (x.shape[1] * len(t))


# multilabel_margin's inputs: every row lists _LISTED distinct classes, then -1s.
_LISTED = 4


def _logits_class_lists(rng: np.random.Generator, shape: Tuple[int, int]) -> Inputs:
    n, c = shape
    lists = np.full((n, c), -1, np.int64)
    lists[:, :_LISTED] = (rng.integers(0, c, (n, 1)) + np.arange(_LISTED)) % c  # distinct classes
    return _normal(rng, n * c, 2.0).reshape(n, c), lists


def _multilabel_margin_terms(xp: Any, x: Any, t: Any) -> Any:
    """(N, listed, C) hinges max(0, 1 - x[t_j] + x[i]), 0 where i is listed (selects, not
    xp.maximum: see _multi_margin_terms)."""
    listed = t[:, :_LISTED]
    margins = 1 - xp.take_along_axis(x, listed, axis=1)[:, :, None] + x[:, None, :]
    is_listed = (xp.arange(x.shape[1])[None, None, :] == listed[:, :, None]).any(axis=1)[:, None, :]
    return xp.where(is_listed | (margins <= 0), 0, margins)


def _multilabel_margin(xp: Any, x: Any, t: Any) -> Any:
    return _mean(xp, _rows(xp, _multilabel_margin_terms(xp, x, t).sum(axis=1)) / x.shape[1])


def _multilabel_margin_grad(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    open_ = (_multilabel_margin_terms(np, x, t) > 0).astype(x.dtype)
    grad = open_.sum(axis=1)
    np.add.at(grad, (np.arange(len(t))[:, None], t[:, :_LISTED]), -open_.sum(axis=2))
    return grad / (x.shape[1] * len(t))


def _distance(xp: Any, u: Any, v: Any) -> Any:
    return xp.sqrt(_rows(xp, (u - v + 1e-6) ** 2))


def _triplet(xp: Any, a: Any, p: Any, n: Any) -> Any:
    return _mean(xp, xp.maximum(_distance(xp, a, p) - _distance(xp, a, n) + 1, 0))


def _triplet_grads(a: np.ndarray, p: np.ndarray, n: np.ndarray) -> Tuple[np.ndarray, ...]:
    d_ap, d_an = _distance(np, a, p), _distance(np, a, n)
    active = ((d_ap - d_an + 1 > 0) / len(a))[:, None]
    unit_ap = (a - p + 1e-6) / d_ap[:, None]
    unit_an = (a - n + 1e-6) / d_an[:, None]
    return tuple((active * g).astype(a.dtype) for g in (unit_ap - unit_an, -unit_ap, unit_an))


def _row_pair(rng: np.random.Generator, shape: Tuple[int, int]) -> Inputs:
    n, d = shape
    return _normal(rng, n * d).reshape(n, d), _normal(rng, n * d).reshape(n, d), _signs(rng, n)


register(Case(
    "cosine_embedding_loss", CLASSES, _row_pair, kwargs={"margin": 0.2},
    value=_cosine_embedding, numpy_grad=_cosine_embedding_grads, grads=(0, 1),
    torch_call=lambda torch, a, b, y: torch.nn.functional.cosine_embedding_loss(a, b, y, margin=0.2),
))
register(Case(
    "multi_margin_loss", CLASSES, _logits_labels,
    value=_multi_margin, numpy_grad=_multi_margin_grad,
    torch_call=lambda torch, x, t: torch.nn.functional.multi_margin_loss(x, t),
))
register(Case(
    "multilabel_margin_loss", CLASSES, _logits_class_lists,
    value=_multilabel_margin, numpy_grad=_multilabel_margin_grad,
    torch_call=lambda torch, x, t: torch.nn.functional.multilabel_margin_loss(x, t),
))
register(Case(
    "triplet_margin_loss", CLASSES,
    lambda rng, shape: tuple(_normal(rng, shape[0] * shape[1]).reshape(shape) for _ in range(3)),
    value=_triplet, numpy_grad=_triplet_grads, grads=(0, 1, 2),
    torch_call=lambda torch, a, p, n: torch.nn.functional.triplet_margin_loss(a, p, n),
))
register(Case(
    "triplet_margin_with_distance_loss", CLASSES,
    lambda rng, shape: tuple(_normal(rng, shape[0] * shape[1]).reshape(shape) for _ in range(3)),
    value=_triplet, numpy_grad=_triplet_grads, grads=(0, 1, 2),  # distance_function=None: pairwise_distance
    torch_call=lambda torch, a, p, n: torch.nn.functional.triplet_margin_with_distance_loss(a, p, n),
))


# --- sequences ----------------------------------------------------------------------------------


def _ctc_inputs(rng: np.random.Generator, shape: Tuple[int, int, int, int]) -> Inputs:
    """Log-softmaxed normal logits, padded targets without blanks, input lengths T-50..T and
    target lengths S-20..S (every alignment feasible)."""
    time_steps, batch, classes, longest = shape
    logits = rng.standard_normal((time_steps, batch, classes), dtype=np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    targets = rng.integers(1, classes, (batch, longest))
    input_lengths = rng.integers(max(time_steps - 50, 2 * longest + 1), time_steps + 1, batch)
    target_lengths = rng.integers(max(longest - 20, 1), longest + 1, batch)
    return log_probs, targets, input_lengths, target_lengths


def _ctc_lattice(log_probs: np.ndarray, targets: np.ndarray, target_lengths: np.ndarray) -> Tuple[np.ndarray, ...]:
    """The extended labels (blank, l1, blank, l2, ..., blank: blank 0) of every sequence, their
    float64 log-probabilities (T, N, 2S+1) with -inf past each sequence's 2*length+1 labels,
    and where the two-step move onto a label is allowed (a label differing from the one two back)."""
    batch, longest = targets.shape
    extended = np.zeros((batch, 2 * longest + 1), np.int64)
    extended[:, 1::2] = targets
    emit = log_probs.astype(np.float64)[:, np.arange(batch)[:, None], extended]
    emit[:, np.arange(2 * longest + 1)[None, :] > 2 * target_lengths[:, None]] = -np.inf
    skip = np.zeros(extended.shape, bool)
    skip[:, 2:] = (extended[:, 2:] != 0) & (extended[:, 2:] != extended[:, :-2])
    return extended, emit, skip


def _shifted(values: np.ndarray, by: int, allowed: Optional[np.ndarray] = None) -> np.ndarray:
    """values moved `by` labels along the last axis (right for by > 0), -inf where nothing comes
    in or the move is not allowed."""
    moved = np.full_like(values, -np.inf)
    if by > 0:
        moved[..., by:] = values[..., :-by]
    else:
        moved[..., :by] = values[..., -by:]
    return moved if allowed is None else np.where(allowed, moved, -np.inf)


def _ctc_forward(log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray,
                 target_lengths: np.ndarray) -> Tuple[np.ndarray, ...]:
    """The float64 log-space alpha recursion, vectorised over batch and labels: (alpha (T, N,
    2S+1), each sequence's negative log-likelihood, extended labels, emit, skip)."""
    extended, emit, skip = _ctc_lattice(log_probs, targets, target_lengths)
    alpha = np.full(emit.shape, -np.inf)
    alpha[0, :, :2] = emit[0, :, :2]
    for t in range(1, len(emit)):
        previous = alpha[t - 1]
        alpha[t] = np.logaddexp(np.logaddexp(previous, _shifted(previous, 1)), _shifted(previous, 2, skip)) + emit[t]
    batch = np.arange(len(targets))
    last = alpha[input_lengths - 1, batch]
    nll = -np.logaddexp(last[batch, 2 * target_lengths], last[batch, 2 * target_lengths - 1])
    return alpha, nll, extended, emit, skip


def _ctc(xp: Any, log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any) -> Any:
    """torch's reduction="mean": each sequence's loss over its target length, then their mean."""
    nll = _ctc_forward(log_probs, targets, input_lengths, target_lengths)[1]
    return np.mean(nll / np.maximum(target_lengths, 1))


def _ctc_grad(log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray,
              target_lengths: np.ndarray) -> np.ndarray:
    """torch's ctc_loss_backward: exp(lp) - exp(log sum_{s: l'_s = c} alpha beta + nll - lp)
    for t < input length (0 after), scaled by the mean's 1 / (length N)."""
    alpha, nll, extended, emit, skip = _ctc_forward(log_probs, targets, input_lengths, target_lengths)
    time_steps, batch, classes = log_probs.shape
    labels = np.arange(extended.shape[1])[None, :]
    skip_onto = np.zeros_like(skip)  # the two-step move from label s onto s + 2
    skip_onto[:, :-2] = skip[:, 2:]
    beta = np.full(emit.shape, -np.inf)
    ends = (labels == 2 * target_lengths[:, None]) | (labels == 2 * target_lengths[:, None] - 1)
    for t in range(time_steps - 1, -1, -1):
        following = beta[t + 1] if t + 1 < time_steps else beta[t]  # (all -inf at the last step)
        onward = np.logaddexp(np.logaddexp(following, _shifted(following, -1)), _shifted(following, -2, skip_onto))
        last = (t == input_lengths - 1)[:, None]
        beta[t] = np.where(last, np.where(ends, 0.0, -np.inf), onward) + emit[t]
        beta[t][t >= input_lengths] = -np.inf
    both = alpha + beta
    peak = np.max(both, axis=2, keepdims=True)
    peak[~np.isfinite(peak)] = 0.0
    rows = (np.arange(time_steps)[:, None, None] * batch + np.arange(batch)[None, :, None]) * classes
    summed = np.bincount((rows + extended[None]).ravel(), np.exp(both - peak).ravel(), time_steps * batch * classes)
    with np.errstate(divide="ignore"):
        log_summed = np.log(summed.reshape(log_probs.shape)) + peak
    lp = log_probs.astype(np.float64)
    grad = np.exp(lp) - np.exp(log_summed + nll[None, :, None] - lp)
    grad[np.arange(time_steps)[:, None] >= input_lengths[None, :]] = 0.0
    return (grad / (np.maximum(target_lengths, 1) * batch)[None, :, None]).astype(log_probs.dtype)


def _ctc_forward_bytes(inputs: Inputs) -> int:
    """The forward reads, of each (t, n) row of log-probabilities, the cache lines holding the
    blank and the target's labels (at most S + 1 lines of 64 bytes), not the whole row."""
    log_probs, targets, input_lengths, target_lengths = inputs
    time_steps, batch, classes = log_probs.shape
    lines = min(targets.shape[1] + 1, -(-classes * log_probs.itemsize // 64))
    return time_steps * batch * lines * 64 + targets.nbytes + input_lengths.nbytes + target_lengths.nbytes


register(Case(
    "ctc_loss", SEQUENCES, _ctc_inputs, value=_ctc, numpy_grad=_ctc_grad, jax_formula=False, half_precision=False,
    # float32 recursions (fastloss's and torch's alike) leave gradients off by up to 3e-3 of
    # the largest one where exp(lp) - exp(...) cancels (the float64 reference's measure).
    check_tolerance=50.0, forward_bytes=_ctc_forward_bytes,
    torch_call=lambda torch, lp, tg, il, tl: torch.nn.functional.ctc_loss(lp, tg, il, tl),
))

# --- language-model heads (sized (N, V, d)) ------------------------------------------------------

_IGNORE_INDEX = -100  # torch's default: padded positions


def _lm_head_inputs(rng: np.random.Generator, shape: Tuple[int, int, int]) -> Inputs:
    """Hidden states (N, d), a (V, d) head scaled by 1/sqrt(d) (logits of unit size) and
    next-token ids, every 17th one padding (ignore_index)."""
    n, v, d = shape
    hidden = rng.standard_normal((n, d), dtype=np.float32)
    head = rng.standard_normal((v, d), dtype=np.float32)
    head *= np.float32(1 / math.sqrt(d))
    target = rng.integers(0, v, n)
    target[::17] = _IGNORE_INDEX
    return hidden, head, target


def _linear_cross_entropy(xp: Any, hidden: Any, head: Any, target: Any) -> Any:
    """cross_entropy(hidden @ head.T, target): the mean over the targets not ignored."""
    kept = target != _IGNORE_INDEX
    nll = xp.where(kept, -_take(xp, _log_softmax(xp, hidden @ head.T), xp.where(kept, target, 0)), 0)
    return (nll.sum(dtype=np.float64) if xp is np else nll.sum()) / kept.sum()


def _linear_cross_entropy_grads(hidden: np.ndarray, head: np.ndarray, target: np.ndarray) -> Tuple[np.ndarray, ...]:
    """(grad_input, grad_linear_weight) = (G W, G^T H), G the logits' gradient."""
    kept = target != _IGNORE_INDEX
    grad = np.exp(_log_softmax(np, hidden @ head.T))
    grad[np.flatnonzero(kept), target[kept]] -= 1
    grad[~kept] = 0
    grad /= np.float32(kept.sum())
    return grad @ head, grad.T @ hidden


def _gemm_floor(inputs: Inputs) -> Dict[str, Callable[[], Any]]:
    """The matrix products alone, through NumPy's BLAS (fastloss's too) into paged-in arrays:
    the logits H W^T (forward), then with them standing in for their gradient G, G W and G^T H
    (with_grad: the three products of the fused pass)."""
    hidden, head, _ = inputs
    logits = np.zeros((len(hidden), len(head)), hidden.dtype)
    grad_input, grad_head = np.zeros_like(hidden), np.zeros_like(head)

    def forward() -> None:
        np.matmul(hidden, head.T, out=logits)

    def with_grad() -> None:
        forward()
        np.matmul(logits, head, out=grad_input)
        np.matmul(logits.T, hidden, out=grad_head)

    return {"forward": forward, "with_grad": with_grad}


register(Case(
    "linear_cross_entropy", LM_HEAD, _lm_head_inputs, passes=FORWARD_AND_FUSED, grads=(0, 1), out_nones=1,
    half_precision=False,
    value=_linear_cross_entropy, numpy_grad=_linear_cross_entropy_grads,
    # torch's reference path (options=None: the logits materialised) and its chunked path.
    torch_call=lambda torch, h, w, t: torch.nn.functional.linear_cross_entropy(h, w, t),
    torch_variants={"torch_chunked": lambda torch, h, w, t: torch.nn.functional.linear_cross_entropy(
        h, w, t, options=torch.nn.LinearCrossEntropyOptions())},
    floor=_gemm_floor, memory_at_sizes=True,
))

# NumPy compositions with nothing of fastloss's own to time (triplet_margin_with_distance_loss's
# distance functions, written after torch's formulas).
COMPOSED = ("pairwise_distance", "cosine_similarity")


def available_cases(functional: Any) -> List[Case]:
    """The registered cases whose fastloss functions exist in this build."""
    names = set(functional.__all__)
    return [case for case in CASES.values() if case.name in names]


def unregistered(functional: Any) -> List[str]:
    """fastloss functions without a benchmark entry yet (the report lists them)."""
    suffixes = ("_backward", "_with_grad")
    return [name for name in functional.__all__
            if not name.endswith(suffixes) and name not in CASES and name not in COMPOSED]
