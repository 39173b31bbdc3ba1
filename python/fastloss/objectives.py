"""Gradient-boosting objectives: a loss's gradient and Hessian with respect to the raw margin.

XGBoost, LightGBM and CatBoost take a custom objective as a callback returning, per sample,
``grad = d loss / d margin`` and ``hess = d^2 loss / d margin^2``. :func:`grad_hess` computes
both in one threaded pass over the arrays (every SIMD target, no temporaries; ``out=(grad,
hess)`` reuses two arrays across boosting rounds) with fastloss's stable math: finite for
margins of any magnitude, NaN only where an operand is NaN. The adapters give each library's
calling convention::

    booster = xgboost.train(params, dtrain, obj=fastloss.objectives.xgboost("sigmoid_focal_loss", gamma=2.0))
    params["objective"] = fastloss.objectives.lightgbm("binary_cross_entropy_with_logits", pos_weight=3.0)
    model = catboost.CatBoostRegressor(loss_function=fastloss.objectives.catboost("huber_loss", delta=0.5))

Sums are per sample (no reduction): the gradient-boosting convention. A sample weight ``w``
multiplies both, ``grad = w l'(x)`` and ``hess = w max(l''(x), hess_floor)``, as the
libraries' built-in objectives apply their weights. The losses and their Hessians:

=================================== ========================================= ================================
loss                                options                                   Hessian d^2 loss / d x^2
=================================== ========================================= ================================
binary_cross_entropy_with_logits    pos_weight (array or real)                (pos_weight y + 1 - y) p (1 - p)
sigmoid_focal_loss                  alpha=0.25, gamma=2.0                     exact; negative where wrong
mse_loss                            (loss (x - y)^2)                          2
huber_loss                          delta=1.0                                 1 inside delta, 0 outside
smooth_l1_loss                      beta=1.0                                  1 / beta inside, 0 outside
poisson_nll_loss                    log_input=True, full, eps=1e-8            exp(x) (or y / (x + eps)^2)
soft_margin_loss                    (labels +-1)                              y^2 p (1 - p), p = sigmoid(y x)
cross_entropy                       weight (C,), label_smoothing              A p_j (1 - p_j), A = sum_c v_c
softmax_focal_loss                  alpha (C,) or real, gamma=2.0, weight     exact diagonal; see the docs
=================================== ========================================= ================================

The multiclass objectives take (N, C) margins and (N,) class indices (float labels from a
library must be whole numbers) and return (N, C) arrays: the gradient ``A p - v`` with
``v_c = w_t (1 - e) [c == t] + w_c e / C`` (torch's per-sample cross-entropy with class
weights ``w`` and ``label_smoothing`` e, summed over classes, no mean) and the diagonal of
the Hessian. The focal loss ``-A (1 - p_t)^gamma log p_t`` (``A = w_t alpha_t``) has gradient
``G ([j == t] - p_j)`` with ``G`` its derivative in ``log p_t``, and Hessian diagonal
``H ([j == t] - p_j)^2 - G p_j (1 - p_j)``, ``H = d G / d log p_t``; it is negative in places
for ``gamma > 0``. A sample weight multiplies the row. XGBoost's ``multi:softprob`` uses
``2 p (1 - p)`` and LightGBM's ``multiclass`` ``C / (C - 1) p (1 - p)``: scale the Hessian by
that factor to reproduce their trees exactly (the tests do).

Options are the fastloss (torch) loss's own, checked with its messages. Where the true
Hessian is zero or negative (Huber and smooth L1 outside their quadratic zone, the focal loss
where a margin is confidently wrong, x > 3 for y = 0 with gamma = 2, where it is concave; any
loss where p (1 - p) underflows), a tree's Newton step
``-G / (H + lambda)`` is undefined or points uphill; ``hess_floor`` (default 1e-16, the floor
of XGBoost's built-in ``binary:logistic``: ``max(p (1 - p), 1e-16)``) bounds it from below.
LightGBM's built-in ``binary`` has no floor (it relies on ``min_sum_hessian_in_leaf``); pass
``hess_floor=0`` for its exact values, ``hess_floor=None`` for the true Hessian, negative
values included. The floor passes NaN.

None of XGBoost, LightGBM or CatBoost is imported by ``import fastloss`` or by this module;
each adapter imports its library when called (ImportError naming the package to install).
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Dict, Optional, Tuple

import numpy as np

from . import _checks, _core, _families
from . import functional as _functional
from ._declare import DECLARATIONS

__all__ = ["OBJECTIVES", "MULTICLASS", "DEFAULT_HESS_FLOOR", "grad_hess", "xgboost", "xgboost_metric", "lightgbm",
           "lightgbm_metric", "catboost"]

DEFAULT_HESS_FLOOR = 1e-16
"""XGBoost's floor of its built-in ``binary:logistic`` Hessian."""

MULTICLASS: Tuple[str, ...] = ("cross_entropy", "softmax_focal_loss")
"""The objectives over (N, C) margins with class-index labels."""

OBJECTIVES: Tuple[str, ...] = tuple(
    name for name, decl in DECLARATIONS.items()
    if isinstance(decl.family, _families.Elementwise) and _core.elementwise_has_hessian(decl.family.loss)) + MULTICLASS
"""The losses :func:`grad_hess` and the adapters take."""

_check_real_floor = _checks.real_where("hess_floor", _checks.is_finite_non_negative,
                                       "hess_floor must be None or a finite number >= 0, got {value}")


def _check_floor(value: Any) -> float:
    """hess_floor: a finite number >= 0, or None (no floor: the true Hessian, as -inf to the core)."""
    return -math.inf if value is None else _check_real_floor(value)


def _library(module: str, package: str) -> Any:
    """The optional library ``module``, or ImportError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"this fastloss.objectives adapter needs {module}: install it with "
                          f"`pip install {package}`") from err


class Objective:
    """A loss bound to its options: ``objective(margin, label, weight=None, out=None)`` is
    :func:`grad_hess` with them (see the module's documentation)."""

    def __init__(self, loss: str, hess_floor: Any = DEFAULT_HESS_FLOOR, **options: Any) -> None:
        decl = DECLARATIONS.get(loss) if isinstance(loss, str) else None
        if decl is None or loss not in OBJECTIVES:
            raise ValueError(f"fastloss.objectives has no objective {loss!r}; it has {', '.join(OBJECTIVES)}")
        self.loss = loss
        self.hess_floor = _check_floor(hess_floor)
        self.multiclass = loss in MULTICLASS
        self._core_loss = decl.family.loss
        # The array option: pos_weight of an elementwise loss, the (C,) class weight of a multiclass one.
        aux_name = "weight" if self.multiclass else decl.family.aux
        self._aux = options.pop(aux_name, None) if aux_name else None
        params = {p.name: p for p in decl.options}
        unknown = sorted(set(options) - set(params))
        if unknown:
            takes = ", ".join([*params, *([aux_name] if aux_name else [])]) or "no options"
            raise TypeError(f"the {loss} objective got unexpected option(s) {', '.join(unknown)}; it takes {takes}")
        chosen = {name: options.get(name, p.default) for name, p in params.items()}
        # Declared options always have a checker and a core field.
        self._core_options: Dict[str, Any] = {str(p.core): p.check(chosen[name])  # type: ignore[misc]
                                              for name, p in params.items()}
        # softmax_focal_loss's alpha: a (C,) array is an operand, a number (or None: 1) an option.
        alpha = self._core_options.pop("alpha", None) if self.multiclass else None
        self._alpha = alpha if isinstance(alpha, np.ndarray) else None
        if alpha is not None and self._alpha is None:
            self._core_options["alpha"] = alpha
        self._options = self._core_options_object()
        self.options = {**chosen, **({aux_name: self._aux} if self._aux is not None else {})}

    def _core_options_object(self) -> Any:
        return (_core.ClassLossOptions if self.multiclass else _core.ElementwiseOptions)(**self._core_options)

    # LightGBM and scikit-learn copy their parameters, this object included: the core's
    # options object does not pickle, so a copy rebuilds it from the checked values.
    def __getstate__(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_options"}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._options = self._core_options_object()

    def _aux_for(self, margin: Any) -> Any:
        aux = self._aux
        if aux is None or isinstance(aux, np.ndarray):
            return aux
        # A real pos_weight: every element's, as a read-only zero-stride view (no copy).
        value = _checks.real(str(DECLARATIONS[self.loss].family.aux))(aux)
        dtype = margin.dtype if isinstance(margin, np.ndarray) else np.float64
        return np.broadcast_to(np.asarray(value, dtype), np.shape(margin))

    def __call__(self, margin: Any, label: Any, weight: Any = None,
                 out: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> Tuple[np.ndarray, np.ndarray]:
        """(grad, hess); ``weight`` is the per-sample (per-row for multiclass) weight."""
        if self.multiclass:
            return _core.class_grad_hess(self._core_loss, margin, label, self._aux, self._alpha, self._options,
                                         weight, self.hess_floor, out)
        return _core.elementwise_grad_hess(self._core_loss, margin, label, weight, self._aux_for(margin),
                                           self._options, self.hess_floor, out)

    def library_arrays(self, margin: Any, label: Any, weight: Any) -> Tuple[np.ndarray, Any, Any]:
        """A library's margins, float labels and weights (None or empty: none) as the core takes
        them: labels and weights of the margins' dtype and shape, or for multiclass (N, C)
        margins, (N,) int64 class indices and (N,) weights."""
        margin = np.asarray(margin)
        if not self.multiclass:
            return margin, _as_dtype(label, margin), _as_dtype(weight, margin)
        rows = margin[..., 0] if margin.ndim > 0 else margin
        return margin, _class_indices(label, rows.shape), _as_dtype(weight, rows)

    def mean_loss(self, margin: np.ndarray, label: Any, weight: Optional[np.ndarray] = None) -> float:
        """The loss averaged over the samples (weighted by ``weight``), summed in float64."""
        losses = getattr(_functional, self.loss)(margin, label, reduction="none", **self.options)
        if weight is None:
            return float(np.sum(losses, dtype=np.float64) / max(losses.size, 1))
        return float(np.dot(losses.astype(np.float64).ravel(), weight.astype(np.float64).ravel()) /
                     np.sum(weight, dtype=np.float64))


def grad_hess(loss: str, margin: np.ndarray, label: np.ndarray, *, weight: Optional[np.ndarray] = None,
              sample_weight: Optional[np.ndarray] = None, out: Optional[Tuple[np.ndarray, np.ndarray]] = None,
              hess_floor: Optional[float] = DEFAULT_HESS_FLOOR, **options: Any) -> Tuple[np.ndarray, np.ndarray]:
    """``(grad, hess)`` of ``loss`` with respect to ``margin``, per element, in one pass.

    ``grad = w * d loss / d margin`` and ``hess = w * max(d^2 loss / d margin^2, hess_floor)``
    with ``w`` the sample weight (1 without); ``hess_floor=None`` gives the true Hessian.
    ``margin`` is float32 or float64; ``label`` (and ``weight``) of its dtype; ``label`` has
    ``margin``'s shape or broadcasts to it as the loss allows. ``out=(grad, hess)``: two
    writeable arrays of the result's shape and dtype, reused (they may not overlap the
    operands or each other). ``options`` are the loss's own (the table in
    :mod:`fastloss.objectives`).

    Elementwise losses: ``weight`` (or ``sample_weight``, the same) is per element; ``margin``
    may also be float16 or bfloat16 (the functional losses' rule: ``label`` of its dtype or
    float32, ``grad`` and ``hess`` of its dtype, rounded once).
    Multiclass (``cross_entropy``, ``softmax_focal_loss``): ``margin`` is (N, C), ``label``
    (N,) int64/int32/uint8 class indices, ``weight`` the loss's own (C,) class weights and
    ``sample_weight`` (N,) per-row weights; ``hess`` is the Hessian's diagonal.
    """
    objective = Objective(loss, hess_floor, **({"weight": weight} if loss in MULTICLASS else {}), **options)
    if loss not in MULTICLASS:
        if weight is not None and sample_weight is not None:
            raise TypeError(f"the {loss} objective takes weight or sample_weight (the same per-element weight), not both")
        sample_weight = weight if sample_weight is None else sample_weight
    return objective(margin, label, sample_weight, out)


class _Buffers:
    """The (grad, hess) pair of the last round, reused while the shape and dtype stay."""

    def __init__(self) -> None:
        self._pair: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def run(self, objective: Objective, margin: np.ndarray, label: Any,
            weight: Optional[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        pair = self._pair
        if pair is not None and (pair[0].shape != margin.shape or pair[0].dtype != margin.dtype):
            pair = None
        self._pair = objective(margin, label, weight, pair)
        return self._pair


def _as_dtype(values: Any, like: np.ndarray) -> Optional[np.ndarray]:
    """``values`` (None or empty: None) as an array of ``like``'s dtype and shape."""
    if values is None:
        return None
    array = np.asarray(values)
    if array.size == 0:
        return None
    return array.astype(like.dtype, copy=False).reshape(like.shape)


def _class_indices(label: Any, shape: Tuple[int, ...]) -> np.ndarray:
    """A library's float class labels as int64 indices of ``shape``; ValueError for a label
    that is not a whole number (the core checks the range)."""
    values = np.asarray(label)
    if values.dtype.kind in "iub":
        return values.reshape(shape)
    indices = values.astype(np.int64).reshape(shape)
    wrong = np.flatnonzero(indices.ravel() != values.ravel())
    if wrong.size:
        raise ValueError(f"multiclass labels must be class indices 0, 1, ..., C - 1; label "
                         f"{values.ravel()[wrong[0]]!r} at {int(wrong[0])} is not")
    return indices


class XGBoostObjective:
    """``obj=`` of ``xgboost.train`` (``(predt, dtrain) -> (grad, hess)``, weights from the
    DMatrix) and ``objective=`` of the scikit-learn API (``(y_true, y_pred)``)."""

    def __init__(self, objective: Objective) -> None:
        self.objective = objective
        self._buffers = _Buffers()
        self._dmatrix = _library("xgboost", "xgboost-cpu").DMatrix

    def __call__(self, first: Any, second: Any, *, sample_weight: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        if isinstance(second, self._dmatrix):
            margin, label, weight = first, second.get_label(), second.get_weight()
        else:
            label, margin, weight = first, second, sample_weight
        return self._buffers.run(self.objective, *self.objective.library_arrays(margin, label, weight))


def xgboost(loss: str, *, hess_floor: Optional[float] = DEFAULT_HESS_FLOOR, **options: Any) -> XGBoostObjective:
    """``loss`` as an XGBoost custom objective: ``xgboost.train(params, dtrain, obj=...)`` or
    ``XGBClassifier(objective=...)``. The DMatrix's weights multiply grad and hess. With a
    custom objective XGBoost reads ``base_score`` as a margin: set ``base_margin`` (or
    ``base_score``) explicitly when comparing with a built-in objective."""
    return XGBoostObjective(Objective(loss, hess_floor, **options))


def xgboost_metric(loss: str, **options: Any) -> Any:
    """``custom_metric=`` for ``xgboost.train``: ``(predt, dmatrix) -> (loss, mean loss)``,
    weighted by the DMatrix's weights. ``predt`` are margins, as XGBoost passes them to a
    custom metric when the objective is custom."""
    objective = Objective(loss, **options)

    def metric(predt: np.ndarray, dmatrix: Any) -> Tuple[str, float]:
        return loss, objective.mean_loss(*objective.library_arrays(predt, dmatrix.get_label(), dmatrix.get_weight()))

    return metric


class LightGBMObjective:
    """``params["objective"]`` of ``lightgbm.train`` (``(preds, train_data)``, weights from the
    Dataset) and ``objective=`` of the scikit-learn API (``(y_true, y_pred, weight, group)``)."""

    def __init__(self, objective: Objective) -> None:
        self.objective = objective
        self._buffers = _Buffers()
        self._dataset = _library("lightgbm", "lightgbm").Dataset

    def __call__(self, first: Any, second: Any, weight: Any = None, group: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        del group  # ranking groups: no elementwise objective reads them
        if isinstance(second, self._dataset):
            margin, label, weight = first, second.get_label(), second.get_weight()
        else:
            label, margin = first, second
        return self._buffers.run(self.objective, *self.objective.library_arrays(margin, label, weight))


def lightgbm(loss: str, *, hess_floor: Optional[float] = DEFAULT_HESS_FLOOR, **options: Any) -> LightGBMObjective:
    """``loss`` as a LightGBM 4 custom objective: ``params["objective"] = ...`` for
    ``lightgbm.train`` or ``LGBMClassifier(objective=...)``. The Dataset's weights (the
    scikit-learn API's ``sample_weight``) multiply grad and hess, as LightGBM's built-in
    objectives apply them. With a custom objective LightGBM starts from a zero margin
    (``init_score`` otherwise); set ``boost_from_average=False`` on the built-in objective to
    compare."""
    return LightGBMObjective(Objective(loss, hess_floor, **options))


def lightgbm_metric(loss: str, **options: Any) -> Any:
    """``feval=`` for ``lightgbm.train`` (``(preds, data) -> (loss, mean loss, False)``) and
    ``eval_metric=`` of the scikit-learn API (``(y_true, y_pred, weight)``); ``preds`` are
    margins, as LightGBM passes them when the objective is custom."""
    objective = Objective(loss, **options)
    dataset = _library("lightgbm", "lightgbm").Dataset

    def metric(first: Any, second: Any, weight: Any = None) -> Tuple[str, float, bool]:
        if isinstance(second, dataset):
            margin, label, weight = first, second.get_label(), second.get_weight()
        else:
            label, margin = first, second
        return loss, objective.mean_loss(*objective.library_arrays(margin, label, weight)), False

    return metric


class CatBoostObjective:
    """``loss_function=`` of CatBoost: ``calc_ders_range(approxes, targets, weights)`` returns
    the pairs ``(-grad, -hess)`` of the whole range from one call (CatBoost maximises);
    ``calc_ders_multi(approxes, target, weight)``, its multiclass interface, is called by
    CatBoost once per object and returns ``(-grad, -diag(hess))`` of that object's C margins."""

    def __init__(self, objective: Objective) -> None:
        self.objective = objective

    def calc_ders_range(self, approxes: Any, targets: Any, weights: Any) -> np.ndarray:
        margin = np.asarray(approxes, dtype=np.float64)
        grad, hess = self.objective(margin, _as_dtype(targets, margin), _as_dtype(weights, margin))
        ders = np.empty((margin.size, 2))
        np.negative(grad, out=ders[:, 0])
        np.negative(hess, out=ders[:, 1])
        return ders

    def calc_ders_multi(self, approxes: Any, target: Any, weight: Any) -> Tuple[np.ndarray, np.ndarray]:
        margin = np.asarray(approxes, dtype=np.float64)
        grad, hess = self.objective(margin, _class_indices(target, ()),
                                    None if weight is None else np.asarray(weight, dtype=np.float64))
        return -grad, -np.diag(hess)


def catboost(loss: str, *, hess_floor: Optional[float] = DEFAULT_HESS_FLOOR, **options: Any) -> CatBoostObjective:
    """``loss`` as a CatBoost custom objective (``CatBoostRegressor(loss_function=...)``; give
    CatBoost an ``eval_metric`` too, which it needs with a custom objective)."""
    _library("catboost", "catboost")
    return CatBoostObjective(Objective(loss, hess_floor, **options))

