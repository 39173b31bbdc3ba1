"""Loss functions with ``torch.nn.functional``'s names, arguments and semantics.

Every loss ``f`` comes with ``f_backward(grad_output, input, target, ...)``, the gradient
with respect to ``input`` (a tuple for losses with several differentiable inputs), and
``f_with_grad(input, target, ..., out=None)``, returning ``(loss, *gradients)`` from one
pass over memory (``out`` receives the first gradient and may be ``input`` itself). Inputs
are float32 or float64 NumPy arrays (strided views are read in place); reduced losses are
NumPy scalars of the input's dtype, accumulated in float64. The elementwise losses, sigmoid
and log_sigmoid also take float16 and bfloat16 inputs (their Notes, and the README's "Half
precision"); the others do not yet (TypeError).

Each loss is declared once below (its torch signature, family and checks); its three
functions and its ``fastloss.nn`` class derive from that declaration (``_declare.py``).
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from . import _checks, _core, _linear
from ._distances import (  # noqa: F401  (public: torch's distances and the triplet loss over them)
    cosine_similarity, cosine_similarity_backward, pairwise_distance, pairwise_distance_backward,
    triplet_margin_with_distance_loss, triplet_margin_with_distance_loss_backward,
    triplet_margin_with_distance_loss_with_grad)
from ._declare import REDUCE, SIZE_AVERAGE, TORCH_REDUCTION_MESSAGE, Declaration, array, functions, option, reduction
from ._families import ClassLosses, Ctc, Elementwise, RowLosses

_E = _core.ElementwiseLoss
_C = _core.ClassLoss
_R = _core.RowLoss
LEGACY = (SIZE_AVERAGE, REDUCE)


def _warn_if_broadcast(args: Dict[str, Any]) -> None:
    """torch's warning when a regression target's shape differs from the input's."""
    input, target = args["input"], args["target"]
    if isinstance(input, np.ndarray) and isinstance(target, np.ndarray) and input.shape != target.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
            "This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=5,
        )


def _weighted_reduction_message(args: Dict[str, Any]) -> str:
    """torch's message for a bad reduction of MSE, L1 and Huber: it depends on the weight."""
    if args["weight"] is None:
        return TORCH_REDUCTION_MESSAGE
    return "Invalid reduction mode: {}. Expected one of 'none', 'mean', 'sum'."


def _warn_kl_div_mean(args: Dict[str, Any]) -> None:
    """torch's warning that kl_div's "mean" is not the KL divergence's batch mean."""
    if args["reduction"] == "mean" and args["size_average"] is None and args["reduce"] is None:
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size."
            "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
            "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
            stacklevel=5,
        )


# --- binary classification ------------------------------------------------------------------

binary_cross_entropy, binary_cross_entropy_backward, binary_cross_entropy_with_grad = functions(Declaration(
    "binary_cross_entropy", Elementwise(_E.binary_cross_entropy),
    (array("input"), array("target"), array("weight", optional=True), *LEGACY, reduction()),
    """Binary cross-entropy between probabilities ``input`` and ``target``.

    ``loss = -w * (y * max(log x, -100) + (1 - y) * max(log1p(-x), -100))``; the clamp at
    -100 is torch's. ``target`` has the input's shape, ``weight`` broadcasts to it; "mean"
    divides by numel. Values outside [0, 1] (NaN included) raise ValueError. The gradient is
    torch's ``(x - y) / max((1 - x) x, 1e-12) * w``: not the derivative of the clamped loss at
    x = 0 or 1, kept for parity.
    """))

(binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_backward,
 binary_cross_entropy_with_logits_with_grad) = functions(Declaration(
    "binary_cross_entropy_with_logits", Elementwise(_E.binary_cross_entropy_with_logits, aux="pos_weight"),
    (array("input"), array("target"), array("weight", optional=True), *LEGACY, reduction(),
     array("pos_weight", optional=True)),
    """Binary cross-entropy on logits, through the stable log-sigmoid.

    ``loss = (1 - y) x - l * log_sigmoid(x)`` with ``l = (pos_weight - 1) y + 1``, times
    ``weight``. Finite for every finite logit. ``target`` has the input's shape; ``weight``
    and ``pos_weight`` broadcast against it (``pos_weight`` of shape (C,) for (N, C) targets).
    """))

sigmoid_focal_loss, sigmoid_focal_loss_backward, sigmoid_focal_loss_with_grad = functions(Declaration(
    "sigmoid_focal_loss", Elementwise(_E.sigmoid_focal_loss, target="targets"),
    (array("inputs"), array("targets"), option("alpha", 0.25, _checks.real("alpha")),
     option("gamma", 2.0, _checks.real("gamma")),
     reduction("none", message="Invalid Value for arg 'reduction': '{} \n Supported reduction modes: 'none', "
               "'mean', 'sum'")),
    """Focal loss ``alpha_t * BCE-with-logits * (1 - p_t)^gamma`` (torchvision's semantics).

    ``alpha < 0`` drops the alpha term; the default reduction is "none". ``1 - p_t`` is
    formed from stable sigmoids, so the loss stays accurate for any finite logit; gamma = 0
    gives exactly (alpha_t times) binary_cross_entropy_with_logits.

    Any real target is accepted. Outside [0, 1], ``1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x)``
    can be negative (y = 2, x = 5: -0.98); ``(1 - p_t)^gamma`` is then torch's ``pow``: real
    for an integer gamma, NaN (loss and gradient) for any other.

    The gradient is the derivative of the loss for every real target, wherever the loss is
    finite, and finite for every finite logit where the loss is (torchvision's formula under
    autograd overflows to NaN once ``gamma * alpha_t * |x|`` exceeds the largest float). At
    ``1 - p_t = 0`` exactly, which a target outside [0, 1] reaches at one logit, the
    modulator's slope ``gamma (1 - p_t)^(gamma - 1)`` is taken as 1 for gamma = 1 and 0
    otherwise (the limit for gamma > 1; for gamma < 1 the slope is unbounded there).
    """, grads=("inputs",)))

# -(y log_sigmoid(x) + (1 - y) log_sigmoid(-x)) per element, averaged over the last axis.
(multilabel_soft_margin_loss, multilabel_soft_margin_loss_backward,
 multilabel_soft_margin_loss_with_grad) = functions(Declaration(
    "multilabel_soft_margin_loss", RowLosses(_R.multilabel_soft_margin_loss, ("input",)),
    (array("input"), array("target"), array("weight", optional=True), *LEGACY,
     reduction(message="{} is not valid")),
    """``-(1/C) sum_c w_c (y log sigmoid(x) + (1 - y) log sigmoid(-x))`` per row of the last
    axis, then reduced over the rows. ``target`` has the input's shape; ``weight`` broadcasts
    to it (one weight per class: shape (C,)).
    """))

# --- regression -----------------------------------------------------------------------------

mse_loss, mse_loss_backward, mse_loss_with_grad = functions(Declaration(
    "mse_loss", Elementwise(_E.mse_loss),
    (array("input"), array("target"), *LEGACY, reduction(message=_weighted_reduction_message),
     array("weight", optional=True)),
    """Mean squared error ``w * (x - y)^2``; weighted "mean" divides by ``sum(weight)``.

    ``target`` broadcasts against ``input`` with torch's warning; ``weight`` must have the
    input's shape. The gradient of an input smaller than the broadcast shape is summed over
    the broadcast axes.
    """, warn=_warn_if_broadcast))

l1_loss, l1_loss_backward, l1_loss_with_grad = functions(Declaration(
    "l1_loss", Elementwise(_E.l1_loss),
    (array("input"), array("target"), *LEGACY, reduction(message=_weighted_reduction_message),
     array("weight", optional=True)),
    """Mean absolute error ``w * |x - y|``; weighted "mean" divides by ``sum(weight)``.

    The gradient is ``w * sign(x - y)`` (0 where x = y), scaled by the reduction.
    """, warn=_warn_if_broadcast))

smooth_l1_loss, smooth_l1_loss_backward, smooth_l1_loss_with_grad = functions(Declaration(
    "smooth_l1_loss", Elementwise(_E.smooth_l1_loss),
    (array("input"), array("target"), *LEGACY, reduction(),
     option("beta", 1.0, _checks.real_where("beta", lambda b: b >= 0,
                                            "smooth_l1_loss does not support negative values for beta. Got beta={value}."))),
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = x - y``); beta = 0 is L1.

    The gradient is ``d / beta`` inside, ``sign(d)`` outside. A negative or NaN beta raises
    ValueError (torch rejects both).
    """, warn=_warn_if_broadcast))

huber_loss, huber_loss_backward, huber_loss_with_grad = functions(Declaration(
    "huber_loss", Elementwise(_E.huber_loss),
    (array("input"), array("target"), reduction(message=_weighted_reduction_message),
     option("delta", 1.0, _checks.real_where("delta", lambda d: d > 0,
                                             "huber_loss does not support non-positive values for delta. Got delta={value}.")),
     array("weight", optional=True)),
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, times ``weight``.

    Weighted "mean" divides by numel (torch's ``mean(w * e)``), unlike MSE and L1. A delta
    that is not positive (NaN included) raises ValueError.
    """, warn=_warn_if_broadcast))

poisson_nll_loss, poisson_nll_loss_backward, poisson_nll_loss_with_grad = functions(Declaration(
    "poisson_nll_loss", Elementwise(_E.poisson_nll_loss),
    (array("input"), array("target"), option("log_input", True, _checks.flag("log_input")),
     option("full", False, _checks.flag("full")), SIZE_AVERAGE, option("eps", 1e-8, _checks.real("eps")), REDUCE,
     reduction()),
    """Poisson negative log-likelihood: ``exp(x) - y x`` (log_input) or ``x - y log(x + eps)``.

    ``full`` adds Stirling's approximation ``y log y - y + 0.5 log(2 pi y)`` where ``y > 1``.
    """))

gaussian_nll_loss, gaussian_nll_loss_backward, gaussian_nll_loss_with_grad = functions(Declaration(
    "gaussian_nll_loss", Elementwise(_E.gaussian_nll_loss, aux="var", aux_gradient="own_pass", scalar_aux=True),
    (array("input"), array("target"), array("var"), option("full", False, _checks.flag("full")),
     option("eps", 1e-6, _checks.real("eps")), reduction(message="{} is not valid")),
    """Gaussian negative log-likelihood ``0.5 (log v + (x - y)^2 / v)``, ``v = max(var, eps)``.

    ``var`` has the input's shape, or one fewer trailing dimension, or a 1 in one dimension
    (homoscedastic), or is a float; ``full`` adds ``0.5 log(2 pi)``. A negative var raises
    ValueError. The gradients are ``(d loss / d input, d loss / d var)``, the second None
    for a float var; the gradient reaches var through torch's clamp unchanged:
    ``0.5 (1 - d^2 / v) / v``, summed over the axes var broadcasts along.
    """, grads=("input", "var"), call_arrays=3))

kl_div, kl_div_backward, kl_div_with_grad = functions(Declaration(
    "kl_div", Elementwise(_E.kl_div),
    (array("input"), array("target"), *LEGACY, reduction(allowed=(*_checks.REDUCTIONS, "batchmean")),
     option("log_target", False, _checks.flag("log_target"))),
    """``y (log y - x)`` (``exp(y) (y - x)`` with ``log_target``); ``input`` holds log-probabilities.

    ``"batchmean"`` is the sum divided by the first extent (NaN for an empty batch, as
    torch); ``"mean"`` divides by numel and warns, as torch does. The gradient is ``-y``
    (``-exp(y)`` with ``log_target``), scaled by the reduction.
    """, warn=_warn_kl_div_mean))

log_cosh_loss, log_cosh_loss_backward, log_cosh_loss_with_grad = functions(Declaration(
    "log_cosh_loss", Elementwise(_E.log_cosh_loss),
    (array("input"), array("target"), reduction()),
    """Log-cosh loss ``log(cosh(x - y))``: ``(x - y)^2 / 2`` near 0, ``|x - y| - log 2`` far from it.

    Computed without overflow for every finite difference and with full relative accuracy near
    0; the gradient is ``tanh(x - y)``. ``target`` broadcasts against ``input``. (torch has no
    log-cosh loss.)
    """))

# --- margin losses on +-1 labels ------------------------------------------------------------

soft_margin_loss, soft_margin_loss_backward, soft_margin_loss_with_grad = functions(Declaration(
    "soft_margin_loss", Elementwise(_E.soft_margin_loss),
    (array("input"), array("target"), *LEGACY, reduction()),
    """``log(1 + exp(-y x))``, computed as ``softplus(-y x)`` (finite for every finite x).

    The gradient is ``-y sigmoid(-y x)``.
    """))

hinge_embedding_loss, hinge_embedding_loss_backward, hinge_embedding_loss_with_grad = functions(Declaration(
    "hinge_embedding_loss", Elementwise(_E.hinge_embedding_loss),
    (array("input"), array("target"), option("margin", 1.0, _checks.real("margin")), *LEGACY, reduction()),
    """``x`` where ``y = 1``, ``max(0, margin - x)`` where ``y = -1`` (other labels: both terms).

    The hinge passes gradient at ``x = margin``, as torch.
    """))

margin_ranking_loss, margin_ranking_loss_backward, margin_ranking_loss_with_grad = functions(Declaration(
    "margin_ranking_loss", Elementwise(_E.margin_ranking_loss, aux="input2", aux_gradient="negated"),
    (array("input1"), array("input2"), array("target"), option("margin", 0.0, _checks.real("margin")), *LEGACY,
     reduction()),
    """``max(0, -y (x1 - x2) + margin)``; the three arrays have one number of dimensions and
    broadcast. The gradients are ``(d loss / d input1, d loss / d input2)``, the second the
    negation of the first (summed over its broadcast axes).
    """, grads=("input1", "input2"), call_arrays=3))


# --- class losses -----------------------------------------------------------------------------

_IGNORE_INDEX = option("ignore_index", -100, _checks.integer("ignore_index"))
_LABEL_SMOOTHING = option("label_smoothing", 0.0, _checks.real_where(
    "label_smoothing", lambda e: 0.0 <= e <= 1.0, "label_smoothing must be between 0.0 and 1.0. Got: {value}"))

nll_loss, nll_loss_backward, nll_loss_with_grad = functions(Declaration(
    "nll_loss", ClassLosses(_C.nll_loss),
    (array("input"), array("target"), array("weight", optional=True), SIZE_AVERAGE, _IGNORE_INDEX, REDUCE,
     reduction()),
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``.

    ``loss_n = -w[t_n] * input[n, t_n]`` (0 where ``t_n == ignore_index``); "mean" divides
    by the sum of ``w[t_n]`` over non-ignored elements (NaN when every target is ignored).
    The class axis is 1 for (N, C) and (N, C, d1, ..., dk) inputs and 0 for (C,); targets
    are int64, int32 or uint8 class indices of the input's shape without the class axis.
    """))

cross_entropy, cross_entropy_backward, cross_entropy_with_grad = functions(Declaration(
    "cross_entropy", ClassLosses(_C.cross_entropy),
    (array("input"), array("target"), array("weight", optional=True), SIZE_AVERAGE, _IGNORE_INDEX, REDUCE,
     reduction(), _LABEL_SMOOTHING),
    """Cross-entropy between logits ``input`` and class indices or class probabilities.

    Class indices (int64/int32, the input's shape without the class axis):
    ``loss_n = (1 - e) w[t] (lse_n - x[n, t]) + (e / C) sum_c w_c (lse_n - x[n, c])`` with
    ``e = label_smoothing``; ignored elements give 0 and "mean" divides both terms by the
    sum of ``w[t_n]`` over non-ignored elements (NaN when there are none).

    Class probabilities (a float target of the input's shape): with
    ``y' = (1 - e) y + e / C``, ``loss_n = sum_c w_c y'_c (lse_n - x[n, c])``; "mean"
    divides by N * d1 * ... * dk; ``ignore_index`` must stay negative.

    The fused ``cross_entropy_with_grad`` reads each row of logits once; with ``out=input``
    the gradient overwrites the logits, so the call's extra memory is O(N), not O(N * C).
    """))


def _alpha(name: str) -> _checks.Checker:
    """softmax_focal_loss's alpha: None (1 for every class), a real number, or a (C,) array
    (an operand the core checks)."""
    as_real = _checks.real(name)

    def check(value: Any) -> Any:
        return value if value is None or isinstance(value, np.ndarray) else as_real(value)

    return check


softmax_focal_loss, softmax_focal_loss_backward, softmax_focal_loss_with_grad = functions(Declaration(
    "softmax_focal_loss", ClassLosses(_C.softmax_focal_loss),
    (array("input"), array("target"), option("alpha", None, _alpha("alpha")),
     option("gamma", 2.0, _checks.real_where("gamma", _checks.is_finite_non_negative,
                                             "gamma must be a finite number >= 0, got {value}")),
     array("weight", optional=True), _IGNORE_INDEX, reduction()),
    """Multi-class focal loss over logits and class indices (Lin et al., 2017).

    ``loss_n = -w[t] alpha_t (1 - p_t)^gamma log p_t`` with ``p_t = softmax(x_n)[t]``;
    ``alpha_t`` is ``alpha`` (a scalar) or ``alpha[t]`` (a (C,) array), 1 when ``alpha`` is
    None. Shapes, ``weight`` and ``ignore_index`` are cross_entropy's, and so is the mean:
    it divides by the sum of ``w[t_n]`` over non-ignored elements (``alpha`` is not in the
    denominator). ``gamma = 0`` with ``alpha=None`` equals :func:`cross_entropy` exactly.
    ``1 - p_t`` is computed as ``-expm1(log p_t)``, accurate for well-classified rows.
    """))

# --- row-wise losses over the last axis -------------------------------------------------------

cosine_embedding_loss, cosine_embedding_loss_backward, cosine_embedding_loss_with_grad = functions(Declaration(
    "cosine_embedding_loss", RowLosses(_R.cosine_embedding_loss, ("input1", "input2")),
    (array("input1"), array("input2"), array("target"), option("margin", 0.0, _checks.real("margin")), *LEGACY,
     reduction()),
    """``1 - cos(x1, x2)`` for label 1, ``max(0, cos(x1, x2) - margin)`` for label -1 (other labels: 0).

    ``cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12))`` along the last axis, as torch.
    Labels of the inputs' dtype, or integer or bool labels (read in place). The gradients
    are ``(d loss / d input1, d loss / d input2)``.
    """, grads=("input1", "input2"), call_arrays=3))

multi_margin_loss, multi_margin_loss_backward, multi_margin_loss_with_grad = functions(Declaration(
    "multi_margin_loss", RowLosses(_R.multi_margin_loss, ("input",)),
    (array("input"), array("target"),
     option("p", 1, _checks.one_of("p", (1, 2), "only p == 1 and p == 2 supported"), core="margin_p"),
     option("margin", 1.0, _checks.real("margin")), array("weight", optional=True), *LEGACY, reduction()),
    """``w[y] / C sum_{j != y} max(0, margin - x[y] + x[j])^p`` per row (p in {1, 2}).

    Targets are int64, int32 or uint8 class indices; ``weight`` has one value per class.
    """))

(multilabel_margin_loss, multilabel_margin_loss_backward,
 multilabel_margin_loss_with_grad) = functions(Declaration(
    "multilabel_margin_loss", RowLosses(_R.multilabel_margin_loss, ("input",)),
    (array("input"), array("target"), *LEGACY, reduction()),
    """``(1/C) sum_j sum_{i not in y} max(0, 1 - x[y_j] + x[i])`` per row over its classes ``y``.

    ``input`` is (N, C), (C,) or 0-d; ``target`` has its shape (int64, int32 or uint8) and lists
    each row's classes from the front, ended by the first -1 (the rest of the row is
    ignored, but every element must be -1 or a class, as torch checks). A class listed twice
    counts twice, as torch. "none" gives (N,) for (N, C) and a 0-d loss for (C,) input;
    "mean" divides by N (NaN for N = 0, where torch returns uninitialised memory). A NaN
    hinge adds nothing (torch tests ``z > 0``), and the hinge passes no gradient at z = 0.
    """))


def _positive_margin(value: Any) -> float:
    margin = _checks.real("margin")(value)
    if margin <= 0:  # torch's check (a NaN margin passes, as in torch)
        raise ValueError(f"margin must be greater than 0, got {margin}")
    return margin


triplet_margin_loss, triplet_margin_loss_backward, triplet_margin_loss_with_grad = functions(Declaration(
    "triplet_margin_loss", RowLosses(_R.triplet_margin_loss, ("anchor", "positive", "negative")),
    (array("anchor"), array("positive"), array("negative"), option("margin", 1.0, _positive_margin),
     option("p", 2.0, _checks.real_where("p", lambda p: p > 0, "triplet_margin_loss supports p > 0, got {value}"),
            core="norm_p"),
     option("eps", 1e-6, _checks.real("eps")), option("swap", False, _checks.flag("swap")), *LEGACY, reduction()),
    """``max(0, margin + d(a, p) - d(a, n))`` with ``d(x, y) = ||x - y + eps||_p`` along the last axis.

    ``swap`` uses ``min(d(a, n), d(p, n))`` for the negative distance. Any leading
    dimensions are rows. The gradients are those of the anchor, the positive and the negative.
    """, grads=("anchor", "positive", "negative"), call_arrays=3))

# --- sequences -------------------------------------------------------------------------------

ctc_loss, ctc_loss_backward, ctc_loss_with_grad = functions(Declaration(
    "ctc_loss", Ctc(),
    (array("log_probs"), array("targets"), array("input_lengths"), array("target_lengths"),
     option("blank", 0, _checks.integer("blank")), reduction(),
     option("zero_infinity", False, _checks.flag("zero_infinity"))),
    """Connectionist temporal classification: the negative log-likelihood of each target
    sequence over every alignment to its input frames (torch's CPU algorithm).

    ``log_probs`` is (T, N, C) (or unbatched (T, C)) log-probabilities; ``targets`` padded
    (N, S) or the N targets concatenated (1-D), of any integer dtype; ``input_lengths`` and
    ``target_lengths`` are sequences or integer arrays of N lengths. "mean" divides each
    sequence's loss by its target length (at least 1), then averages; "none" gives (N,) (()
    unbatched). ``zero_infinity`` turns infinite losses (impossible alignments) and their
    gradients into 0. The gradient is with respect to ``log_probs``, as torch's
    ``ctc_loss_backward``: ``exp(log_probs)`` minus each class's share of the alignments.

    The alpha/beta recursions run in log space in the input's type, as torch (float32
    sequences recurse in float32), with the stable log-sum-exp of torch's kernel: an
    unreachable state stays -inf, an impossible alignment gives +inf (NaN gradients, as torch,
    unless ``zero_infinity``). Labels outside [0, C) raise IndexError (torch reads out of
    bounds); float targets raise TypeError (torch truncates them).

    ``log_probs`` is float32 or float64, not float16 or bfloat16: torch's CPU ``ctc_loss``
    takes neither, and the recursion reads each frame's few label entries (S of C), so halving
    the bytes of ``log_probs`` would not shorten it.
    """, grads=("log_probs",), call_arrays=4))

# --- linear heads -----------------------------------------------------------------------------

_LINEAR_IGNORE_INDEX = _checks.optional(_checks.integer("ignore_index"))


def _linear_call(input: Any, linear_weight: Any, target: Any, linear_bias: Any, weight: Any, reduction: Any,
                 ignore_index: Any, label_smoothing: Any) -> _linear.LinearCrossEntropy:
    """One linear_cross_entropy call, its scalars checked here and its arrays by ``_linear``."""
    return _linear.LinearCrossEntropy(
        input, linear_weight, target, linear_bias, weight,
        _checks.reduction_of(reduction, _checks.REDUCTIONS, TORCH_REDUCTION_MESSAGE),
        _LINEAR_IGNORE_INDEX(ignore_index), _LABEL_SMOOTHING.check(label_smoothing))  # type: ignore[misc]


def linear_cross_entropy(input: np.ndarray, linear_weight: np.ndarray, target: np.ndarray, *,
                         linear_bias: Optional[np.ndarray] = None, weight: Optional[np.ndarray] = None,
                         reduction: str = "mean", ignore_index: Optional[int] = None, label_smoothing: float = 0.0,
                         options: Any = None) -> Any:
    """``cross_entropy(input @ linear_weight.T + linear_bias, target, ...)`` without the logits.

    A language model's head: ``input`` holds hidden states, (N, d) or unbatched (d,);
    ``linear_weight`` is (C, d) (or (C, d1, ..., dk, d) for a K-dimensional loss, whose
    logits are (N, C, d1, ..., dk)); ``linear_bias`` is (C,) (or (C, d1, ..., dk)). Targets,
    ``weight``, ``reduction`` and ``label_smoothing`` are :func:`cross_entropy`'s; a target
    of the logits' shape holds class probabilities (then ``ignore_index`` must stay None,
    as torch). ``ignore_index=None`` means -100, as torch.

    The logits are computed one block of rows at a time (about 32 MiB of them) by NumPy's
    matrix product into one reused buffer, so the call's extra memory does not grow with N.
    Block sums are each accumulated in float64, rounded to the input's dtype and added in
    float64 in block order; results do not depend on fastloss's thread count (NumPy's BLAS
    may round differently with one thread than with several). ``options``
    (torch's ``LinearCrossEntropyOptions``) is accepted and ignored: fastloss always works
    block by block, with every option torch's reference path has.

    The arrays are float32 or float64, not float16 or bfloat16: the matrix products run in
    NumPy's BLAS, which has no half-precision GEMM (NumPy multiplies float16 matrices in a
    scalar loop, hundreds of times slower) and knows no bfloat16.
    """
    return _linear_call(input, linear_weight, target, linear_bias, weight, reduction, ignore_index,
                        label_smoothing).forward()


def linear_cross_entropy_backward(grad_output: Any, input: np.ndarray, linear_weight: np.ndarray, target: np.ndarray,
                                  *, linear_bias: Optional[np.ndarray] = None, weight: Optional[np.ndarray] = None,
                                  reduction: str = "mean", ignore_index: Optional[int] = None,
                                  label_smoothing: float = 0.0, options: Any = None,
                                  out: Optional[Sequence[Optional[np.ndarray]]] = None) -> Tuple[Any, ...]:
    """``(grad_input, grad_linear_weight, grad_linear_bias)`` of :func:`linear_cross_entropy`
    (``grad_linear_bias`` None without ``linear_bias``), recomputing the logits block by block.

    ``grad_output`` is a scalar for "mean" and "sum", an array of the loss's shape (or one
    broadcasting to each block's) for "none". ``out`` may give the three gradient arrays
    (C-contiguous, of the operands' shapes and dtype; None for the missing bias);
    ``out[0]`` may be ``input`` itself.
    """
    call = _linear_call(input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing)
    return call.gradients(grad_output, out, with_loss=False)[1]


def linear_cross_entropy_with_grad(input: np.ndarray, linear_weight: np.ndarray, target: np.ndarray, *,
                                   linear_bias: Optional[np.ndarray] = None, weight: Optional[np.ndarray] = None,
                                   reduction: str = "mean", ignore_index: Optional[int] = None,
                                   label_smoothing: float = 0.0, options: Any = None,
                                   out: Optional[Sequence[Optional[np.ndarray]]] = None) -> Tuple[Any, Tuple[Any, ...]]:
    """``(loss, (grad_input, grad_linear_weight, grad_linear_bias))`` of
    :func:`linear_cross_entropy` in one sweep: each block's logits are computed once and
    turned into their loss and gradient in place. ``out`` as in
    :func:`linear_cross_entropy_backward`.
    """
    call = _linear_call(input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing)
    loss, grads = call.gradients(1.0, out, with_loss=True)
    return loss, grads


# --- transforms -------------------------------------------------------------------------------


def sigmoid(input: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``1 / (1 + exp(-x))``, stable for every x (exp of ``-|x|`` only); ``out`` may be ``input``.

    float16 and bfloat16 inputs are computed in float32 and give their own dtype (``out`` may
    also be float32).
    """
    return _core.unary(_core.UnaryOp.sigmoid, input, out)  # type: ignore[no-any-return]


def log_sigmoid(input: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``min(x, 0) - log1p(exp(-|x|))``: finite for every finite x; ``out`` may be ``input``.

    float16 and bfloat16 inputs are computed in float32 and give their own dtype (``out`` may
    also be float32).
    """
    return _core.unary(_core.UnaryOp.log_sigmoid, input, out)  # type: ignore[no-any-return]


def sigmoid_backward(grad_output: np.ndarray, output: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """The gradient of :func:`sigmoid` from its output ``y``: ``grad_output * (1 - y) * y``.

    aten's ``sigmoid_backward(grad_output, output)``; the arrays broadcast against each other.
    ``out`` may be ``grad_output``. A float16 or bfloat16 ``grad_output`` gives its dtype
    (``output`` of it or float32).
    """
    return _core.unary_backward(  # type: ignore[no-any-return]
        _core.UnaryBackwardOp.sigmoid_backward, grad_output, output, out)


def log_sigmoid_backward(grad_output: np.ndarray, input: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """The gradient of :func:`log_sigmoid` from its input ``x``: ``grad_output * sigmoid(-x)``.

    aten's ``log_sigmoid_backward(grad_output, self, buffer)`` without its buffer (fastloss
    needs none): the stable sigmoid keeps it finite for every finite x (``grad_output`` at
    x = -inf, 0 at +inf). The arrays broadcast against each other; ``out`` may be
    ``grad_output``. A float16 or bfloat16 ``grad_output`` gives its dtype (``input`` of it
    or float32).
    """
    return _core.unary_backward(  # type: ignore[no-any-return]
        _core.UnaryBackwardOp.log_sigmoid_backward, grad_output, input, out)


def _softmax(name: str, input: Any, dim: Any, stacklevel: int, dtype: Any, out: Any) -> np.ndarray:
    # The frames above the warning: this function and softmax_dim's.
    dim = _checks.softmax_dim(name, dim, input, stacklevel + 1)
    return _core.softmax(  # type: ignore[no-any-return]
        input, dim, name == "log_softmax", _checks.float_dtype("dtype")(dtype), out)


def softmax(input: np.ndarray, dim: Optional[int] = None, _stacklevel: int = 3, dtype: Any = None,
            out: Optional[np.ndarray] = None) -> np.ndarray:
    """``exp(x - logsumexp(x))`` along ``dim``; ``out`` may be ``input``.

    torch's signature: ``dim=None`` is torch's deprecated implicit choice (0 for 0-, 1- and
    3-dimensional input, else 1), with its warning. With ``dtype`` (float32 or float64, NumPy's
    or torch's spelling) the input (any real array) is cast to it first and the result has it,
    as torch; the cast is written into the result, which the softmax then overwrites in place.

    The log-sum-exp is computed with an online maximum, so every finite row is stable; a row
    of all -inf (or holding +inf or NaN) gives NaN, as torch.

    float16 and bfloat16 inputs are read in place and computed in float32, the result in
    their dtype, rounded once (``out`` may also be float32).
    """
    return _softmax("softmax", input, dim, _stacklevel, dtype, out)


def log_softmax(input: np.ndarray, dim: Optional[int] = None, _stacklevel: int = 3, dtype: Any = None,
                out: Optional[np.ndarray] = None) -> np.ndarray:
    """``x - logsumexp(x)`` along ``dim``; ``out`` may be ``input``. ``dim`` and ``dtype`` as
    :func:`softmax`."""
    return _softmax("log_softmax", input, dim, _stacklevel, dtype, out)


def softmax_backward(grad_output: np.ndarray, output: np.ndarray, dim: int,
                     out: Optional[np.ndarray] = None) -> np.ndarray:
    """The gradient of :func:`softmax` along ``dim`` from its output ``y``:
    ``y * (grad_output - sum(grad_output * y, dim))``, one fused pass per row.

    aten's ``_softmax_backward_data(grad_output, output, dim, input_dtype)`` with the input's
    dtype that of ``grad_output``. The arrays have one shape and dtype; ``out`` may be
    ``grad_output``. A float16 or bfloat16 ``grad_output`` computes in float32 and gives its
    dtype (``output`` of it or float32; ``out`` also float32).
    """
    return _core.softmax_backward(  # type: ignore[no-any-return]
        grad_output, output, _checks.integer("dim")(dim), False, out)


def log_softmax_backward(grad_output: np.ndarray, output: np.ndarray, dim: int,
                         out: Optional[np.ndarray] = None) -> np.ndarray:
    """The gradient of :func:`log_softmax` along ``dim`` from its output ``y``:
    ``grad_output - exp(y) * sum(grad_output, dim)``, one fused pass per row.

    aten's ``_log_softmax_backward_data(grad_output, output, dim, input_dtype)``; as
    :func:`softmax_backward` otherwise.
    """
    return _core.softmax_backward(  # type: ignore[no-any-return]
        grad_output, output, _checks.integer("dim")(dim), True, out)


__all__ = sorted(
    name for name, value in globals().items()
    if callable(value) and getattr(value, "__module__", None) == __name__ and not name.startswith("_")
)
