"""torch's distance functions (``pairwise_distance``, ``cosine_similarity``) and the triplet
loss over any distance function (``triplet_margin_with_distance_loss``), with their gradients.

These are written in NumPy (float64 accumulation, results in the inputs' dtype), not in the
core: ``triplet_margin_with_distance_loss`` calls a user's distance function on NumPy arrays,
so it composes distances in Python anyway. With ``distance_function=None`` it runs the core's
``triplet_margin_loss`` (torch's default distance is ``pairwise_distance(p=2, eps=1e-6)``,
which that loss computes). The gradients follow torch's autograd formulas exactly, corners
included (a zero norm passes no gradient; ties of ``swap``'s minimum split the gradient).

They take float32 and float64, not float16 or bfloat16: NumPy would round every intermediate
(torch's differences included) to half precision, which matches neither torch's half kernels
nor float32's results. Cast half inputs to float32 (``triplet_margin_loss`` takes them).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import _checks, _core
from ._families import sum_to_shape

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def public(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Listed in (and documented as part of) ``fastloss.functional``."""
    fn.__module__ = "fastloss.functional"
    return fn


def _operands(x1: Any, x2: Any, names: Tuple[str, str] = ("x1", "x2")) -> Tuple[int, ...]:
    """The broadcast shape of two float arrays of one dtype, with torch's message when their
    shapes do not broadcast."""
    for name, x in zip(names, (x1, x2)):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x1.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{names[0]} must be float32 or float64, got {x1.dtype}")
    if x2.dtype != x1.dtype:
        raise TypeError(f"{names[1]} must have dtype {x1.dtype} (the input's dtype), got {x2.dtype}")
    a, b = x1.shape, x2.shape
    for i in range(1, min(len(a), len(b)) + 1):
        if a[-i] != b[-i] and a[-i] != 1 and b[-i] != 1:
            raise ValueError(f"The size of tensor a ({a[-i]}) must match the size of tensor b ({b[-i]}) "
                             f"at non-singleton dimension {max(len(a), len(b)) - i}")
    return tuple(np.broadcast_shapes(a, b))


def _grad_like(grad: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A gradient over the broadcast shape, summed to ``x``'s shape, in ``x``'s dtype."""
    return np.array(sum_to_shape(grad, x.shape, None), dtype=x.dtype, order="C")


# --- pairwise_distance ---------------------------------------------------------------------


def _difference(x1: np.ndarray, x2: np.ndarray, eps: float) -> np.ndarray:
    """``x1 - x2 + eps`` rounded in the inputs' dtype (as torch), then float64, as rows of
    the last axis (a 0-d difference is one row of one element, as torch's norm over dim -1)."""
    v = (x1 - x2 + x1.dtype.type(eps)).astype(np.float64)
    return v.reshape(1) if v.ndim == 0 else v


def _norm(v: np.ndarray, p: float) -> np.ndarray:
    """The p-norm of each row of the last axis (keepdims): torch's ``linalg_vector_norm``."""
    a = np.abs(v)
    if p == 0:
        return np.sum(a != 0, axis=-1, keepdims=True).astype(np.float64)
    if p == math.inf:
        return np.max(a, axis=-1, keepdims=True, initial=0.0)
    if p == -math.inf:
        return np.min(a, axis=-1, keepdims=True, initial=math.inf)
    if p == 1:
        return np.sum(a, axis=-1, keepdims=True)
    if p == 2:
        return np.sqrt(np.sum(a * a, axis=-1, keepdims=True))
    with np.errstate(divide="ignore"):
        return np.sum(a ** p, axis=-1, keepdims=True) ** (1.0 / p)


def _norm_gradient(v: np.ndarray, norm: np.ndarray, p: float) -> np.ndarray:
    """d norm / d v, as torch's ``linalg_vector_norm_backward`` (sgn(NaN) = 0, as torch's)."""
    sgn = np.nan_to_num(np.sign(v), nan=0.0)
    a = np.abs(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        if p == 0:
            return np.zeros_like(v)
        if p == 1:
            return sgn
        if p == 2:
            return np.where(norm == 0, 0.0, v / norm)
        if math.isinf(p):
            mask = (a == norm) | np.isnan(a)
            return sgn * (mask / np.sum(mask, axis=-1, keepdims=True))
        if p < 1:
            scaled = sgn * np.where(v == 0, 0.0, a ** (p - 1))
            return scaled * norm ** (1 - p)
        scaled = sgn * a ** (p - 1) if p < 2 else v * a ** (p - 2)
        return scaled * np.where(norm == 0, 0.0, 1.0 / norm ** (p - 1))


def _distance_options(p: Any, eps: Any, keepdim: Any) -> Tuple[float, float, bool]:
    return _checks.real("p")(p), _checks.real("eps")(eps), _checks.flag("keepdim")(keepdim)


def _distance_shape(shape: Tuple[int, ...], keepdim: bool) -> Tuple[int, ...]:
    if not shape:
        return ()
    return shape[:-1] + (1,) if keepdim else shape[:-1]


@public
def pairwise_distance(x1: np.ndarray, x2: np.ndarray, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> np.ndarray:
    """``||x1 - x2 + eps||_p`` along the last axis, as ``torch.nn.functional.pairwise_distance``.

    ``x1`` and ``x2`` broadcast against each other (float32 or float64, one dtype: no half
    precision, see the module's note); the difference is rounded in their dtype as torch's,
    the norm summed in float64. ``p`` may be
    any real number, 0 (the count of nonzero elements) and +-inf included. The result has
    the broadcast shape without its last axis (kept as 1 with ``keepdim``).

    Parameters
    ----------
    x1, x2 : ndarray
        The two batches of vectors, along the last axis.
    p : float, default 2.0
        The norm's degree.
    eps : float, default 1e-06
        Added to every difference (torch's guard against a zero norm).
    keepdim : bool, default False
        Whether to keep the reduced axis.

    Returns
    -------
    ndarray
        The distances, in the inputs' dtype.
    """
    p, eps, keepdim = _distance_options(p, eps, keepdim)
    shape = _operands(x1, x2)
    norm = _norm(_difference(x1, x2, eps), p)
    return norm.reshape(_distance_shape(shape, keepdim)).astype(x1.dtype)


@public
def pairwise_distance_backward(grad_output: Any, x1: np.ndarray, x2: np.ndarray, p: float = 2.0,
                               eps: float = 1e-6, keepdim: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """The gradients of :func:`pairwise_distance` with respect to ``x1`` and ``x2``.

    torch's norm gradient: ``v / ||v||`` for p = 2 (0 where the norm is 0), ``sgn(v)`` for
    p = 1, ties of the maximum sharing the gradient for p = inf, 0 for p = 0.

    Parameters
    ----------
    grad_output : float or ndarray
        The gradient of the distances (broadcast to their shape).
    x1, x2, p, eps, keepdim
        As :func:`pairwise_distance`.

    Returns
    -------
    grad_x1, grad_x2 : ndarray
        The gradients, of the shapes and dtype of ``x1`` and ``x2``.
    """
    p, eps, keepdim = _distance_options(p, eps, keepdim)
    shape = _operands(x1, x2)
    v = _difference(x1, x2, eps)
    norm = _norm(v, p)
    g = np.broadcast_to(np.asarray(grad_output, np.float64), _distance_shape(shape, keepdim))
    grad = (g.reshape(norm.shape) * _norm_gradient(v, norm, p)).reshape(shape)
    return _grad_like(grad, x1), _grad_like(-grad, x2)


# --- cosine_similarity ---------------------------------------------------------------------


def _cosine_parts(x1: np.ndarray, x2: np.ndarray, dim: Any, eps: Any) -> Dict[str, Any]:
    """The broadcast operands in float64 with their norms along ``dim`` (kept), clamped
    norms and cosines, as torch 2.x computes them."""
    eps = _checks.real("eps")(eps)
    dim = _checks.integer("dim")(dim)
    shape = _operands(x1, x2)
    rank = max(len(shape), 1)
    if not -rank <= dim < rank:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})")
    a = np.broadcast_to(x1, shape).astype(np.float64).reshape(shape or (1,))
    b = np.broadcast_to(x2, shape).astype(np.float64).reshape(shape or (1,))
    axis = dim % rank
    norm_a = np.sqrt(np.sum(a * a, axis=axis, keepdims=True))
    norm_b = np.sqrt(np.sum(b * b, axis=axis, keepdims=True))
    # torch clamps the norms in place without recording it: autograd differentiates the
    # unclamped norms (see the backward), the quotients use the clamped ones.
    clamped_a, clamped_b = np.fmax(norm_a, eps), np.fmax(norm_b, eps)
    clamped_a[np.isnan(norm_a)] = np.nan
    clamped_b[np.isnan(norm_b)] = np.nan
    cos = np.sum((a / clamped_a) * (b / clamped_b), axis=axis, keepdims=True)
    return dict(shape=shape, axis=axis, a=a, b=b, norm_a=norm_a, norm_b=norm_b, clamped_a=clamped_a,
                clamped_b=clamped_b, cos=cos)


def _cosine_shape(shape: Tuple[int, ...], axis: int) -> Tuple[int, ...]:
    return shape[:axis] + shape[axis + 1:]


@public
def cosine_similarity(x1: np.ndarray, x2: np.ndarray, dim: int = 1, eps: float = 1e-8) -> np.ndarray:
    """``sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps))`` along ``dim``, as
    ``torch.nn.functional.cosine_similarity`` (torch 2.x: each norm clamped by ``eps``).

    ``x1`` and ``x2`` broadcast against each other (float32 or float64, one dtype: no half
    precision, as :func:`pairwise_distance`); sums in float64, the result in their dtype,
    without the axis ``dim``.

    Parameters
    ----------
    x1, x2 : ndarray
        The two batches of vectors.
    dim : int, default 1
        The axis of the vectors.
    eps : float, default 1e-08
        The smallest norm a vector is divided by.

    Returns
    -------
    ndarray
        The cosines, in the inputs' dtype.
    """
    parts = _cosine_parts(x1, x2, dim, eps)
    return parts["cos"].reshape(_cosine_shape(parts["shape"], parts["axis"])).astype(x1.dtype)


@public
def cosine_similarity_backward(grad_output: Any, x1: np.ndarray, x2: np.ndarray, dim: int = 1,
                               eps: float = 1e-8) -> Tuple[np.ndarray, np.ndarray]:
    """The gradients of :func:`cosine_similarity` with respect to ``x1`` and ``x2``.

    torch's: ``g (x2 / (c1 c2) - cos / c1 * x1 / n1)`` for ``x1`` (``n`` the norms, ``c``
    the clamped ones; the second term is 0 where ``n1`` is 0), and symmetrically for ``x2``.

    Parameters
    ----------
    grad_output : float or ndarray
        The gradient of the cosines (broadcast to their shape).
    x1, x2, dim, eps
        As :func:`cosine_similarity`.

    Returns
    -------
    grad_x1, grad_x2 : ndarray
        The gradients, of the shapes and dtype of ``x1`` and ``x2``.
    """
    q = _cosine_parts(x1, x2, dim, eps)
    g = np.broadcast_to(np.asarray(grad_output, np.float64), _cosine_shape(q["shape"], q["axis"]))
    g = g.reshape(q["cos"].shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        def one_side(x: np.ndarray, other: np.ndarray, norm: np.ndarray, clamped: np.ndarray,
                     clamped_other: np.ndarray) -> np.ndarray:
            unit = np.where(norm == 0, 0.0, x / norm)
            return g * (other / (clamped * clamped_other) - q["cos"] / clamped * unit)

        grad_a = one_side(q["a"], q["b"], q["norm_a"], q["clamped_a"], q["clamped_b"]).reshape(q["shape"])
        grad_b = one_side(q["b"], q["a"], q["norm_b"], q["clamped_b"], q["clamped_a"]).reshape(q["shape"])
    return _grad_like(grad_a, x1), _grad_like(grad_b, x2)


# --- triplet_margin_with_distance_loss --------------------------------------------------------

# The distance functions whose gradients fastloss knows: function -> its backward.
_DIFFERENTIABLE: Dict[Callable[..., Any], Callable[..., Tuple[np.ndarray, np.ndarray]]] = {
    pairwise_distance: pairwise_distance_backward,
    cosine_similarity: cosine_similarity_backward,
}


def _distance_backward(distance_function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The backward of a distance function fastloss can differentiate (its own functions, or
    a functools.partial of them with keyword arguments), else TypeError."""
    fn: Any = distance_function
    keywords: Dict[str, Any] = {}
    if isinstance(fn, functools.partial) and not fn.args:
        fn, keywords = fn.func, dict(fn.keywords)
    backward = _DIFFERENTIABLE.get(fn)  # type: ignore[arg-type]
    if backward is None:
        raise TypeError(
            f"{name}: cannot differentiate distance_function {distance_function!r}: fastloss differentiates None, "
            "fastloss.functional.pairwise_distance and cosine_similarity (or a functools.partial of them with "
            "keyword arguments); another callable can be used for the forward only")
    return functools.partial(backward, **keywords)


def _triplet_options(distance_function: Any, margin: Any, swap: Any, reduction: Any) -> Tuple[float, bool, str]:
    """torch's checks, in torch's order (the reduction, then the margin)."""
    if not isinstance(reduction, str) or reduction not in _checks.REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    margin = _checks.real("margin")(margin)
    if margin <= 0:  # a NaN margin passes, as in torch
        raise ValueError(f"margin must be greater than 0, got {margin}")
    swap = _checks.flag("swap")(swap)
    if distance_function is not None and not callable(distance_function):
        raise TypeError(f"distance_function must be callable or None, got {type(distance_function).__name__}")
    return margin, swap, reduction


def _same_ndim(anchor: Any, positive: Any, negative: Any) -> None:
    dims = [np.ndim(x) for x in (anchor, positive, negative)]
    if not dims[0] == dims[1] == dims[2]:
        raise ValueError("The anchor, positive, and negative tensors are expected to have the same number of "
                         f"dimensions, but got: anchor {dims[0]}D, positive {dims[1]}D, and negative {dims[2]}D inputs")


def _triplet_call(variant: str, anchor: Any, positive: Any, negative: Any, distance_function: Any, margin: Any,
                  swap: Any, reduction: Any) -> Tuple[Optional[Callable[..., Any]], Dict[str, Any]]:
    """torch's checks, then the call's options; with ``distance_function=None`` also the core's
    ``triplet_margin_loss`` function of this ``variant`` ("", "_backward", "_with_grad") with
    torch's default distance, pairwise_distance (p = 2, eps = 1e-6)."""
    margin, swap, reduction = _triplet_options(distance_function, margin, swap, reduction)
    _same_ndim(anchor, positive, negative)
    options = dict(margin=margin, swap=swap, reduction=reduction)
    if distance_function is not None:
        return None, options
    from . import functional  # it imports this module
    return functools.partial(getattr(functional, "triplet_margin_loss" + variant), p=2.0, eps=1e-6, **options), options


class _Distances:
    """The distances of one call through a Python distance function, and its hinge."""

    # distance_function: a callable (Any: the callers' checks narrow it, mypy's do not)
    def __init__(self, distance_function: Any, anchor: Any, positive: Any, negative: Any,
                 margin: float, swap: bool) -> None:
        self.positive = np.asarray(distance_function(anchor, positive))
        self.negative = np.asarray(distance_function(anchor, negative))
        self.swapped = np.asarray(distance_function(positive, negative)) if swap else None
        nearest = self.negative if self.swapped is None else np.minimum(self.negative, self.swapped)
        with np.errstate(invalid="ignore"):
            self.hinge = margin + self.positive.astype(np.float64) - nearest
        self.dtype = self.positive.dtype

    def loss(self, reduction: str) -> Any:
        losses = np.maximum(self.hinge, 0.0)  # NaN stays NaN, as torch's clamp_min
        if reduction == "none":
            return losses.astype(self.dtype)
        total = np.sum(losses)
        if reduction == "mean":
            total = total / losses.size if losses.size else np.float64(np.nan)
        return self.dtype.type(total)

    def hinge_gradient(self, grad_output: Any, reduction: str) -> np.ndarray:
        """d loss / d hinge: torch's clamp_min passes the gradient where hinge >= 0."""
        g = np.asarray(grad_output, np.float64)
        if reduction == "mean":
            g = g / self.hinge.size
        return np.where(self.hinge >= 0, np.broadcast_to(g, self.hinge.shape), 0.0)

    def negative_split(self, grad: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """The gradient of -hinge's nearest negative distance, split as torch's minimum: to
        the smaller one, half to each on a tie, the whole to both when one is NaN."""
        if self.swapped is None:
            return -grad, None
        share = np.where(self.negative == self.swapped, -grad / 2, -grad)
        return (np.where(self.negative > self.swapped, 0.0, share),
                np.where(self.negative < self.swapped, 0.0, share))


@public
def triplet_margin_with_distance_loss(anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray, *,
                                      distance_function: Optional[Callable[..., Any]] = None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Any:
    """``max(0, margin + d(a, p) - d(a, n))`` for any distance function ``d``, as
    ``torch.nn.functional.triplet_margin_with_distance_loss``.

    ``distance_function=None`` is torch's default, :func:`pairwise_distance` (p = 2,
    eps = 1e-6), run by the core as :func:`triplet_margin_loss`. Any other callable takes
    two NumPy arrays and returns the distances (NumPy arrays); the loss is then composed
    from them in float64 and returned in their dtype. ``swap`` uses ``min(d(a, n), d(p, n))``.
    float16 and bfloat16 triplets are taken with ``distance_function=None`` only (the core's
    path); a Python distance function would compute in half precision (see
    :func:`pairwise_distance`).

    Parameters
    ----------
    anchor, positive, negative : ndarray
        The triplets (the same number of dimensions, as torch checks).
    distance_function : callable, optional
        ``d(x1, x2)``; None is :func:`pairwise_distance`.
    margin : float, default 1.0
        The margin (> 0).
    swap : bool, default False
        Whether to use the distance swap.
    reduction : str, default 'mean'
        ``'none'``, ``'mean'`` or ``'sum'``.

    Returns
    -------
    numpy scalar or ndarray
        The loss.
    """
    builtin, options = _triplet_call("", anchor, positive, negative, distance_function, margin, swap, reduction)
    if builtin is not None:
        return builtin(anchor, positive, negative)
    return _Distances(distance_function, anchor, positive, negative, options["margin"], options["swap"]).loss(
        options["reduction"])


def _triplet_gradients(grad_output: Any, anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray,
                       distance_function: Any, name: str, margin: float, swap: bool,
                       reduction: str) -> Tuple[Any, Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The loss and the three gradients through a distance function fastloss differentiates."""
    backward = _distance_backward(distance_function, name)
    d = _Distances(distance_function, anchor, positive, negative, margin, swap)
    hinge = d.hinge_gradient(grad_output, reduction)
    to_negative, to_swapped = d.negative_split(hinge)
    grad_a, grad_p = backward(hinge, anchor, positive)
    from_a, grad_n = backward(to_negative, anchor, negative)
    grad_a = grad_a + from_a
    if to_swapped is not None:
        from_p, from_n = backward(to_swapped, positive, negative)
        grad_p, grad_n = grad_p + from_p, grad_n + from_n
    return d.loss(reduction), (grad_a, grad_p, grad_n)


@public
def triplet_margin_with_distance_loss_backward(
        grad_output: Any, anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray, *,
        distance_function: Optional[Callable[..., Any]] = None, margin: float = 1.0, swap: bool = False,
        reduction: str = "mean", out: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradients of :func:`triplet_margin_with_distance_loss` with respect to the anchor,
    the positive and the negative.

    ``distance_function`` must be None, :func:`pairwise_distance`, :func:`cosine_similarity`
    or a ``functools.partial`` of them with keyword arguments (TypeError otherwise: fastloss
    cannot differentiate an arbitrary Python function).

    Parameters
    ----------
    grad_output : float or ndarray
        The gradient of the loss: a scalar when reduced, the loss's shape for ``'none'``.
    anchor, positive, negative, distance_function, margin, swap, reduction
        As :func:`triplet_margin_with_distance_loss`.
    out : ndarray, optional
        Receives the anchor's gradient.

    Returns
    -------
    grad_anchor, grad_positive, grad_negative : ndarray
        The gradients.
    """
    builtin, options = _triplet_call("_backward", anchor, positive, negative, distance_function, margin, swap,
                                     reduction)
    if builtin is not None:
        return builtin(grad_output, anchor, positive, negative, out=out)  # type: ignore[no-any-return]
    _, grads = _triplet_gradients(grad_output, anchor, positive, negative, distance_function,
                                  "triplet_margin_with_distance_loss_backward", **options)
    return _into(out, grads, anchor, positive, negative)


def _into(out: Optional[np.ndarray], grads: Tuple[np.ndarray, ...], anchor: np.ndarray, positive: np.ndarray,
          negative: np.ndarray) -> Any:
    """The gradients, the anchor's written into ``out`` (checked as the core checks it) when given."""
    if out is None:
        return grads
    _core.check_out(out, anchor, (positive, negative))
    out[...] = grads[0]
    return (out, *grads[1:])


@public
def triplet_margin_with_distance_loss_with_grad(
        anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray, *,
        distance_function: Optional[Callable[..., Any]] = None, margin: float = 1.0, swap: bool = False,
        reduction: str = "mean", out: Optional[np.ndarray] = None) -> Tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """``(loss, grad_anchor, grad_positive, grad_negative)`` of
    :func:`triplet_margin_with_distance_loss`; ``distance_function`` as its ``_backward``.

    Parameters
    ----------
    anchor, positive, negative, distance_function, margin, swap, reduction
        As :func:`triplet_margin_with_distance_loss`.
    out : ndarray, optional
        Receives the anchor's gradient (may be ``anchor``).

    Returns
    -------
    loss : numpy scalar or ndarray
        The loss.
    grad_anchor, grad_positive, grad_negative : ndarray
        The gradients.
    """
    builtin, options = _triplet_call("_with_grad", anchor, positive, negative, distance_function, margin, swap,
                                     reduction)
    if builtin is not None:
        return builtin(anchor, positive, negative, out=out)  # type: ignore[no-any-return]
    loss, grads = _triplet_gradients(1.0, anchor, positive, negative, distance_function,
                                     "triplet_margin_with_distance_loss_with_grad", **options)
    return (loss, *_into(out, grads, anchor, positive, negative))
