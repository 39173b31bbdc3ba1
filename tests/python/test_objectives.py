"""fastloss.objectives: gradient and Hessian against float64 references and finite differences
of fastloss's own gradient, their behaviour at huge margins and NaN, ``out=`` reuse, bad
arguments, and the XGBoost, LightGBM and CatBoost adapters against the libraries' built-in
objectives."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
from fastloss import objectives as O


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def _focal_hess(x, y, alpha, gamma):
    """sigmoid_focal_loss's second derivative in float64, by the power rule."""
    s, s_neg = _sigmoid(x), _sigmoid(-x)
    v = s * s_neg
    ce = y * np.logaddexp(0.0, -x) + (1 - y) * np.logaddexp(0.0, x)
    q = y * s_neg + (1 - y) * s
    dq = (1 - 2 * y) * v
    d2q = dq * (s_neg - s)
    m = q**gamma
    dm = gamma * q ** (gamma - 1) * dq
    d2m = gamma * (gamma - 1) * q ** (gamma - 2) * dq * dq + gamma * q ** (gamma - 1) * d2q
    alpha_t = 1.0 if alpha < 0 else alpha * y + (1 - alpha) * (1 - y)
    return alpha_t * (m * v + 2 * dm * ((1 - y) * s - y * s_neg) + ce * d2m)


# (loss, options, margins, labels, float64 Hessian reference)
def _cases(rng):
    n = 4001
    logits = rng.uniform(-12, 12, n)
    binary = (rng.uniform(size=n) < 0.3).astype(np.float64)
    soft = rng.uniform(size=n)
    counts = rng.poisson(3.0, n).astype(np.float64)
    pw = 2.5
    return [
        ("binary_cross_entropy_with_logits", {}, logits, binary, _sigmoid(logits) * _sigmoid(-logits)),
        ("binary_cross_entropy_with_logits", {"pos_weight": pw}, logits, soft,
         (pw * soft + 1 - soft) * _sigmoid(logits) * _sigmoid(-logits)),
        ("sigmoid_focal_loss", {}, logits, binary, _focal_hess(logits, binary, 0.25, 2.0)),
        ("sigmoid_focal_loss", {"alpha": 0.6, "gamma": 1.5}, logits, soft, _focal_hess(logits, soft, 0.6, 1.5)),
        ("mse_loss", {}, logits, soft, np.full(n, 2.0)),
        ("huber_loss", {"delta": 0.8}, logits / 6, soft, (np.abs(logits / 6 - soft) < 0.8).astype(float)),
        ("smooth_l1_loss", {"beta": 0.5}, logits / 6, soft, (np.abs(logits / 6 - soft) < 0.5) / 0.5),
        ("poisson_nll_loss", {}, logits / 4, counts, np.exp(logits / 4)),
        ("soft_margin_loss", {}, logits, 2 * binary - 1, _sigmoid(logits) * _sigmoid(-logits)),
    ]


CASE_IDS = ["bce", "bce-pos_weight", "focal", "focal-soft", "mse", "huber", "smooth_l1", "poisson", "soft_margin"]


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_float64_reference_and_the_backward_gradient(index, dtype):
    loss, options, x, y, ref_hess = _cases(np.random.default_rng(index))[index]
    xs, ys = x.astype(dtype), y.astype(dtype)
    w = np.random.default_rng(99).uniform(0.2, 2.0, x.size).astype(dtype)
    grad, hess = O.grad_hess(loss, xs, ys, weight=w, hess_floor=None, **options)
    assert grad.dtype == hess.dtype == dtype and grad.shape == hess.shape == x.shape
    # The gradient is fastloss's own backward (reduction='none'), bit for bit.
    aux = {k: np.full(x.size, v, dtype) for k, v in options.items() if k == "pos_weight"}
    other = {k: v for k, v in options.items() if k != "pos_weight"}
    backward = getattr(F, f"{loss}_backward")(np.ones_like(xs), xs, ys, reduction="none", **aux, **other)
    np.testing.assert_array_equal(grad, w * backward)
    ref = w.astype(np.float64) * ref_hess
    if loss == "sigmoid_focal_loss":  # a sum of terms that cancel: absolute error on their scale
        np.testing.assert_allclose(hess, ref, rtol=0, atol=(3e-6 if dtype == np.float32 else 1e-13))
    else:
        np.testing.assert_allclose(hess, ref, rtol=(2e-6 if dtype == np.float32 else 1e-13), atol=0)


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_hessian_is_the_derivative_of_fastloss_gradient(index):
    loss, options, x, y, _ = _cases(np.random.default_rng(index))[index]
    if loss in ("huber_loss", "smooth_l1_loss"):  # kinks: keep away from them
        zone = options.get("delta", options.get("beta"))
        keep = np.abs(np.abs(x - y) - zone) > 1e-3
        x, y = x[keep], y[keep]
    step = 1e-6 * np.maximum(1.0, np.abs(x))
    g_plus, _ = O.grad_hess(loss, x + step, y, **options)
    g_minus, _ = O.grad_hess(loss, x - step, y, **options)
    _, hess = O.grad_hess(loss, x, y, hess_floor=None, **options)
    finite_difference = (g_plus - g_minus) / (2 * step)
    np.testing.assert_allclose(hess, finite_difference, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("loss", ["binary_cross_entropy_with_logits", "sigmoid_focal_loss", "huber_loss",
                                  "smooth_l1_loss", "soft_margin_loss"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_margins_stay_finite_and_nan_comes_only_from_nan(loss, dtype):
    big = np.finfo(dtype).max
    x = np.array([-big, -1e30, -1e4, -200, -90, 0, 90, 200, 1e4, 1e30, big, np.nan], dtype)
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1], dtype)
    if loss == "soft_margin_loss":
        y = 2 * y - 1
    with np.errstate(all="raise"):
        grad, hess = O.grad_hess(loss, x, y)
    assert np.array_equal(np.isnan(grad), np.isnan(x)) and np.array_equal(np.isnan(hess), np.isnan(x))
    assert np.isfinite(grad[:-1]).all() and np.isfinite(hess[:-1]).all()
    assert (hess[:-1] >= dtype(O.DEFAULT_HESS_FLOOR)).all()


def test_floor_bounds_negative_focal_hessians_and_weights_scale_after_it():
    x = np.array([-3.5, -4.0, -5.0, 4.0, 0.2])  # confidently wrong but the last
    y = np.array([1.0, 1.0, 1.0, 0.0, 1.0])
    _, true_hess = O.grad_hess("sigmoid_focal_loss", x, y, hess_floor=None)
    assert (true_hess < 0).any()
    w = np.array([2.0, 3.0, 0.5, 1.0, 4.0])
    grad, hess = O.grad_hess("sigmoid_focal_loss", x, y, weight=w, hess_floor=1e-3)
    np.testing.assert_array_equal(hess, w * np.maximum(true_hess, 1e-3))


def test_out_pairs_are_reused_and_checked():
    x = np.linspace(-3, 3, 1000)
    y = (x > 0).astype(np.float64)
    g, h = np.empty_like(x), np.empty_like(x)
    grad, hess = O.grad_hess("binary_cross_entropy_with_logits", x, y, out=(g, h))
    assert grad is g and hess is h
    with pytest.raises(TypeError, match="tuple"):
        O.grad_hess("binary_cross_entropy_with_logits", x, y, out=g)
    with pytest.raises(TypeError):
        O.grad_hess("binary_cross_entropy_with_logits", x, y, out=(g, h.astype(np.float32)))
    with pytest.raises(ValueError):
        O.grad_hess("binary_cross_entropy_with_logits", x, y, out=(g, g))
    # Strided outputs (every other element) get the same values.
    g2, h2 = np.zeros(2000), np.zeros(2000)
    O.grad_hess("binary_cross_entropy_with_logits", x, y, out=(g2[::2], h2[::2]))
    np.testing.assert_array_equal(g2[::2], g)
    assert not g2[1::2].any() and not h2[1::2].any()


def test_bad_arguments_raise_with_messages():
    x = np.zeros(4)
    with pytest.raises(ValueError, match="no objective 'l1_loss'"):
        O.grad_hess("l1_loss", x, x)
    with pytest.raises(TypeError, match="unexpected option"):
        O.grad_hess("mse_loss", x, x, delta=1.0)
    with pytest.raises(ValueError, match="non-positive values for delta"):
        O.grad_hess("huber_loss", x, x, delta=0.0)
    for floor in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="hess_floor"):
            O.grad_hess("mse_loss", x, x, hess_floor=floor)
    with pytest.raises(ValueError, match="Target size"):
        O.grad_hess("binary_cross_entropy_with_logits", x, np.zeros(3))
    with pytest.raises(TypeError):
        O.grad_hess("binary_cross_entropy_with_logits", x, np.zeros(4, np.float32))


def test_import_fastloss_imports_no_boosting_library():
    code = ("import sys, fastloss, fastloss.objectives; "
            "print(sorted(m for m in ('xgboost', 'lightgbm', 'catboost') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_missing_library_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(ImportError, match="pip install xgboost-cpu"):
        O.xgboost("binary_cross_entropy_with_logits")


# --- the libraries ------------------------------------------------------------------------


def _binary_data(n=3000, seed=0, positive_rate=0.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    logit = X[:, 0] * 1.5 - X[:, 1] + 0.5 * X[:, 2] * X[:, 3] + np.log(positive_rate / (1 - positive_rate))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    return X, y


def _xgb_margin(params, X, y, obj=None, rounds=20, weight=None):
    xgb = pytest.importorskip("xgboost")
    dtrain = xgb.DMatrix(X, label=y, weight=weight, base_margin=np.zeros(len(y)))
    booster = xgb.train({"tree_method": "hist", "nthread": 1, "seed": 0, **params}, dtrain, rounds, obj=obj)
    return booster.predict(xgb.DMatrix(X, base_margin=np.zeros(len(y))), output_margin=True)


def test_xgboost_bce_matches_binary_logistic():
    X, y = _binary_data()
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    builtin = _xgb_margin({"objective": "binary:logistic"}, X, y, weight=w)
    custom = _xgb_margin({"disable_default_eval_metric": 1}, X, y,
                         obj=O.xgboost("binary_cross_entropy_with_logits"), weight=w)
    np.testing.assert_allclose(custom, builtin, rtol=1e-5, atol=1e-5)


def test_xgboost_squared_error_and_poisson_match_builtins_where_conventions_do():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 5))
    target = X[:, 0] - 2 * X[:, 1] + rng.normal(size=2000) * 0.1
    # mse_loss = (x - y)^2 has twice reg:squarederror's grad and hess: the same Newton step
    # -G / H without L2 (lambda = 0) and min_child_weight = 0.
    plain = {"reg_lambda": 0.0, "min_child_weight": 0.0}
    builtin = _xgb_margin({"objective": "reg:squarederror", **plain}, X, target)
    custom = _xgb_margin({"disable_default_eval_metric": 1, **plain}, X, target, obj=O.xgboost("mse_loss"))
    np.testing.assert_allclose(custom, builtin, rtol=1e-4, atol=1e-4)
    # count:poisson's Hessian is exp(x + max_delta_step): equal with max_delta_step = 0.
    counts = rng.poisson(np.exp(0.5 * X[:, 0])).astype(np.float64)
    builtin = _xgb_margin({"objective": "count:poisson", "max_delta_step": 0.0}, X, counts)
    custom = _xgb_margin({"disable_default_eval_metric": 1}, X, counts, obj=O.xgboost("poisson_nll_loss"))
    np.testing.assert_allclose(custom, builtin, rtol=1e-4, atol=1e-4)


def test_xgboost_scikit_learn_api_and_metric():
    xgb = pytest.importorskip("xgboost")
    X, y = _binary_data(n=1500)
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    model = xgb.XGBRegressor(objective=O.xgboost("binary_cross_entropy_with_logits"), n_estimators=10,
                             tree_method="hist", n_jobs=1, base_score=0.0)
    model.fit(X, y, sample_weight=w)
    reference = _xgb_margin({"objective": "binary:logistic", "eta": 0.3}, X, y, rounds=10, weight=w)
    np.testing.assert_allclose(model.predict(X, output_margin=True), reference, rtol=1e-4, atol=1e-4)
    dtrain = xgb.DMatrix(X, label=y, weight=w)
    name, value = O.xgboost_metric("binary_cross_entropy_with_logits")(np.zeros(len(y), np.float32), dtrain)
    assert name == "binary_cross_entropy_with_logits" and value == pytest.approx(np.log(2), rel=1e-6)


def _lgb_margin(params, X, y, rounds=20, weight=None):
    lgb = pytest.importorskip("lightgbm")
    data = lgb.Dataset(X, label=y, weight=weight, params={"verbose": -1})
    booster = lgb.train({"verbose": -1, "num_threads": 1, "deterministic": True, "seed": 0, **params}, data, rounds)
    return booster.predict(X, raw_score=True)


def test_lightgbm_bce_matches_binary():
    X, y = _binary_data()
    w = np.random.default_rng(4).uniform(0.5, 2.0, len(y))
    builtin = _lgb_margin({"objective": "binary", "boost_from_average": False}, X, y, weight=w)
    custom = _lgb_margin({"objective": O.lightgbm("binary_cross_entropy_with_logits", hess_floor=0.0)}, X, y, weight=w)
    np.testing.assert_allclose(custom, builtin, rtol=1e-6, atol=1e-6)


def test_lightgbm_scikit_learn_api_and_feval():
    lgb = pytest.importorskip("lightgbm")
    X, y = _binary_data(n=1500)
    model = lgb.LGBMRegressor(objective=O.lightgbm("binary_cross_entropy_with_logits", hess_floor=0.0),
                              n_estimators=10, n_jobs=1, verbose=-1, deterministic=True)
    model.fit(X, y, eval_set=[(X, y)], eval_metric=O.lightgbm_metric("binary_cross_entropy_with_logits"))
    reference = _lgb_margin({"objective": "binary", "boost_from_average": False, "learning_rate": 0.1}, X, y,
                            rounds=10)
    np.testing.assert_allclose(model.predict(X, raw_score=True), reference, rtol=1e-6, atol=1e-6)
    recorded = model.evals_result_["training"]["binary_cross_entropy_with_logits"][-1]
    expected = float(F.binary_cross_entropy_with_logits(model.predict(X, raw_score=True), y))
    assert recorded == pytest.approx(expected, rel=1e-9)


def test_catboost_objective_matches_logloss():
    catboost = pytest.importorskip("catboost")
    X, y = _binary_data(n=1000)
    common = {"iterations": 10, "depth": 3, "learning_rate": 0.3, "random_seed": 0, "thread_count": 1,
              "boost_from_average": False, "leaf_estimation_method": "Newton", "verbose": False,
              "allow_writing_files": False}
    custom = catboost.CatBoostRegressor(loss_function=O.catboost("binary_cross_entropy_with_logits"),
                                        eval_metric="RMSE", **common).fit(X, y)
    builtin = catboost.CatBoostClassifier(loss_function="Logloss", **common).fit(X, y)
    np.testing.assert_allclose(custom.predict(X), builtin.predict(X, prediction_type="RawFormulaVal"),
                               rtol=1e-4, atol=1e-4)


def test_focal_loss_beats_unweighted_logloss_on_an_imbalanced_problem():
    """Trained on 5% positives, judged on the class-balanced validation logloss (each class's
    mean logloss, averaged): the focal loss with alpha for the rare class does better."""
    X, y = _binary_data(n=6000, seed=5, positive_rate=0.05)
    Xv, yv = _binary_data(n=6000, seed=6, positive_rate=0.05)

    def balanced_logloss(margin):
        losses = F.binary_cross_entropy_with_logits(margin, yv, reduction="none")
        return 0.5 * (losses[yv == 1].mean() + losses[yv == 0].mean())

    def trained(objective):
        lgb = pytest.importorskip("lightgbm")
        params = {"objective": objective, "verbose": -1, "num_threads": 1, "learning_rate": 0.1, "seed": 0}
        return lgb.train(params, lgb.Dataset(X, label=y), 60).predict(Xv, raw_score=True)

    plain = balanced_logloss(trained(O.lightgbm("binary_cross_entropy_with_logits")))
    focal = balanced_logloss(trained(O.lightgbm("sigmoid_focal_loss", alpha=0.9, gamma=1.0)))
    assert focal < plain


def test_simd_target_is_reported():
    assert fastloss.simd_target() in fastloss.compiled_targets()


# --- multiclass: cross_entropy and softmax_focal_loss over (N, C) margins ------------------------

def _softmax_reference(x, t, loss, class_weight=None, smoothing=0.0, gamma=2.0, alpha=None):
    """float64 (grad, hess) of one row per sample: grad = A p - v (cross_entropy) or
    G ([j == t] - p_j), hess = curvature ([j == t] - p)^2 + p_coef p (1 - p), here with the
    focal factor's derivatives written out by the product rule."""
    x = x.astype(np.float64)
    n, C = x.shape
    w = np.ones(C) if class_weight is None else class_weight.astype(np.float64)
    shifted = x - x.max(1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
    onehot = np.eye(C)[t]
    if loss == "cross_entropy":
        v = (1 - smoothing) * onehot * w[t][:, None] + smoothing / C * w
        mass = v.sum(1, keepdims=True)
        return mass * p - v, mass * p * (1 - p)
    a = (w[t] * (np.ones(C) if alpha is None else alpha)[t])[:, None]
    pt = p[np.arange(n), t][:, None]
    q, log_p = 1 - pt, np.log(pt)
    m, dm = q ** gamma, -gamma * pt * q ** (gamma - 1)
    d2m = gamma * (gamma - 1) * pt * pt * q ** (gamma - 2) - gamma * pt * q ** (gamma - 1)
    d1, d2 = -a * (dm * log_p + m), -a * (d2m * log_p + 2 * dm)
    d = onehot - p
    return d1 * d, d2 * d * d - d1 * p * (1 - p)


_MULTICLASS_CASES = [
    ("cross_entropy", {}),
    ("cross_entropy", {"label_smoothing": 0.1, "weight": "class"}),
    ("softmax_focal_loss", {"gamma": 2.0}),
    ("softmax_focal_loss", {"gamma": 0.5, "alpha": "class", "weight": "class"}),
]


def _multiclass_problem(rng, n, C, dtype, options):
    x = (rng.normal(size=(n, C)) * 3).astype(dtype)
    t = rng.integers(0, C, n)
    resolved = {k: (rng.uniform(0.3, 2.0, C).astype(dtype) if v == "class" else v) for k, v in options.items()}
    return x, t, resolved


@pytest.mark.parametrize("C", [3, 10, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(_MULTICLASS_CASES)))
def test_multiclass_matches_float64_reference_and_the_backward_gradient(case, dtype, C):
    loss, options = _MULTICLASS_CASES[case]
    rng = np.random.default_rng(case * 7 + C)
    x, t, opts = _multiclass_problem(rng, 257, C, dtype, options)
    sample_weight = rng.uniform(0.5, 2.0, len(t)).astype(dtype)
    grad, hess = O.grad_hess(loss, x, t, sample_weight=sample_weight, hess_floor=None, **opts)
    assert grad.dtype == hess.dtype == dtype and grad.shape == hess.shape == x.shape
    ref_grad, ref_hess = _softmax_reference(
        x, t, loss, opts.get("weight"), opts.get("label_smoothing", 0.0), opts.get("gamma", 2.0), opts.get("alpha"))
    tol = 2e-6 if dtype == np.float32 else 1e-12
    scale = sample_weight[:, None].astype(np.float64)
    np.testing.assert_allclose(grad, scale * ref_grad, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(hess, scale * ref_hess, rtol=tol, atol=tol * 10)
    backward = getattr(F, loss + "_backward")(sample_weight, x, t, reduction="none", **opts)
    np.testing.assert_array_equal(grad, backward)


@pytest.mark.parametrize("C", [4, 80])
@pytest.mark.parametrize("case", range(len(_MULTICLASS_CASES)))
def test_multiclass_hessian_is_the_derivative_of_fastloss_gradient(case, C):
    loss, options = _MULTICLASS_CASES[case]
    rng = np.random.default_rng(case + 40)
    x, t, opts = _multiclass_problem(rng, 64, C, np.float64, options)
    _, hess = O.grad_hess(loss, x, t, hess_floor=None, **opts)
    step = 1e-6
    ones = np.ones(len(t))
    for j in (0, 1, C - 1):
        up, down = x.copy(), x.copy()
        up[:, j] += step
        down[:, j] -= step
        gu = getattr(F, loss + "_backward")(ones, up, t, reduction="none", **opts)[:, j]
        gd = getattr(F, loss + "_backward")(ones, down, t, reduction="none", **opts)[:, j]
        np.testing.assert_allclose(hess[:, j], (gu - gd) / (2 * step), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss", ["cross_entropy", "softmax_focal_loss"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multiclass_huge_margins_stay_finite_and_nan_comes_only_from_nan(loss, dtype):
    # (At +-finfo.max log p_t is -inf in float64, where the focal gradient is NaN as torch's autograd.)
    x = np.array([[1e30, 0, 0], [0, 1e30, 0], [1e30, 1e30, 1e30], [-1e30, 1e30, 0], [0, np.nan, 0]], dtype)
    t = np.array([0, 0, 1, 0, 0])
    grad, hess = O.grad_hess(loss, x, t)
    assert np.isnan(grad[4]).all() and np.isnan(hess[4]).all()
    assert np.isfinite(grad[:4]).all() and np.isfinite(hess[:4]).all()
    assert (hess[:4] >= O.DEFAULT_HESS_FLOOR).all()


def test_multiclass_out_pairs_ignored_rows_and_bad_inputs():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(6, 4))
    t = np.array([0, 1, -100, 3, 2, 1])
    out = (np.empty_like(x), np.empty_like(x))
    grad, hess = O.grad_hess("cross_entropy", x, t, out=out)
    assert grad is out[0] and hess is out[1]
    assert (grad[2] == 0).all() and (hess[2] == 0).all()
    with pytest.raises(IndexError, match="Target 4 is out of bounds."):
        O.grad_hess("cross_entropy", x, np.array([0, 1, 2, 3, 4, 0]))
    with pytest.raises(ValueError, match="sample_weight must have the input's shape without the class axis"):
        O.grad_hess("cross_entropy", x, t, sample_weight=np.ones(5))
    with pytest.raises(TypeError, match="sample_weight"):
        O.grad_hess("cross_entropy", x, t, sample_weight=np.ones(6, np.float32))
    with pytest.raises(ValueError, match="weight tensor should be defined either for all 4 classes"):
        O.grad_hess("cross_entropy", x, t, weight=np.ones(3))
    with pytest.raises(ValueError, match="class-index targets"):
        O.grad_hess("cross_entropy", x, np.full_like(x, 0.25))
    with pytest.raises(ValueError, match="no objective 'nll_loss'"):
        O.grad_hess("nll_loss", x, t)
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        O.grad_hess("cross_entropy", x, t, label_smoothing=2.0)
    with pytest.raises(ValueError, match="multiclass labels must be class indices"):
        O.Objective("cross_entropy").library_arrays(x, np.array([0, 1, 2.5, 3, 2, 1]), None)


def _multiclass_data(n, seed, rates=(0.85, 0.1, 0.05)):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    logits = np.stack([X[:, 0] - X[:, 1], X[:, 1] + 0.5 * X[:, 2] * X[:, 3], X[:, 2] - X[:, 0]], 1) * 1.5
    logits += np.log(rates)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return X, (rng.uniform(size=(n, 1)) > np.cumsum(p, 1)).sum(1)


def test_xgboost_cross_entropy_matches_multi_softprob_with_its_hessian_factor():
    """multi:softprob's Hessian is 2 p (1 - p), twice the softmax Hessian's diagonal: with the
    custom Hessian doubled the trees and margins are multi:softprob's."""
    xgb = pytest.importorskip("xgboost")
    X, y = _multiclass_data(3000, 1)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    params = {"tree_method": "hist", "nthread": 1, "seed": 0, "num_class": 3, "max_depth": 4}
    margin0 = np.zeros((len(y), 3))
    dtrain = xgb.DMatrix(X, label=y, weight=w, base_margin=margin0)
    dtest = xgb.DMatrix(X, base_margin=margin0)
    builtin = xgb.train({**params, "objective": "multi:softprob"}, dtrain, 15).predict(dtest, output_margin=True)
    objective = O.xgboost("cross_entropy")

    def doubled(predt, data):
        grad, hess = objective(predt, data)
        return grad, 2 * hess

    custom = xgb.train({**params, "disable_default_eval_metric": 1}, dtrain, 15, obj=doubled)
    np.testing.assert_allclose(custom.predict(dtest, output_margin=True), builtin, rtol=1e-5, atol=1e-5)
    name, value = O.xgboost_metric("cross_entropy")(np.zeros((len(y), 3), np.float32), dtrain)
    assert name == "cross_entropy" and value == pytest.approx(np.log(3), rel=1e-6)


def test_lightgbm_cross_entropy_matches_multiclass_with_its_hessian_factor():
    """LightGBM's multiclass Hessian is C / (C - 1) p (1 - p); its predictions (N, C) arrive
    in Fortran order, read in place as strided rows."""
    lgb = pytest.importorskip("lightgbm")
    X, y = _multiclass_data(3000, 3)
    w = np.random.default_rng(4).uniform(0.5, 2.0, len(y))
    common = {"num_class": 3, "verbose": -1, "num_threads": 1, "deterministic": True, "seed": 0}
    builtin = lgb.train({**common, "objective": "multiclass", "boost_from_average": False},
                        lgb.Dataset(X, label=y, weight=w), 15).predict(X, raw_score=True)
    objective = O.lightgbm("cross_entropy")

    def scaled(preds, data):
        grad, hess = objective(preds, data)
        return grad, hess * (3 / 2)

    custom = lgb.train({**common, "objective": scaled}, lgb.Dataset(X, label=y, weight=w), 15)
    np.testing.assert_allclose(custom.predict(X, raw_score=True), builtin, rtol=1e-6, atol=1e-6)
    name, value, higher_better = O.lightgbm_metric("cross_entropy")(np.zeros((len(y), 3)),
                                                                    lgb.Dataset(X, label=y).construct())
    assert (name, higher_better) == ("cross_entropy", False) and value == pytest.approx(np.log(3), rel=1e-9)


def test_catboost_multiclass_objective_matches_its_gradient_and_trains():
    catboost = pytest.importorskip("catboost")
    objective = O.catboost("softmax_focal_loss", gamma=2.0, hess_floor=None)
    der1, der2 = objective.calc_ders_multi([0.3, -1.0, 2.0], 1.0, 2.0)
    grad, hess = O.grad_hess("softmax_focal_loss", np.array([[0.3, -1.0, 2.0]]), np.array([1]),
                             sample_weight=np.array([2.0]), gamma=2.0, hess_floor=None)
    np.testing.assert_array_equal(der1, -grad[0])
    np.testing.assert_array_equal(der2, -np.diag(hess[0]))
    # CatBoost calls calc_ders_multi once per object (no range form for multiclass).
    X, y = _multiclass_data(600, 7)
    model = catboost.CatBoost({"loss_function": O.catboost("cross_entropy"), "eval_metric": "MultiClass",
                               "classes_count": 3, "iterations": 10, "depth": 3, "learning_rate": 0.3,
                               "random_seed": 0, "thread_count": 1, "boost_from_average": False,
                               "leaf_estimation_method": "Newton", "verbose": False,
                               "allow_writing_files": False}).fit(X, y)
    trained = float(F.cross_entropy(model.predict(X, prediction_type="RawFormulaVal"), y))
    assert trained < 0.8 * float(F.cross_entropy(np.zeros((len(y), 3)), y))


def test_focal_and_label_smoothed_multiclass_beat_unweighted_logloss_on_an_imbalanced_problem():
    """Trained on classes of 62%, 21% and 17%, judged on the class-balanced validation logloss
    (each class's mean, averaged): measured 0.712 for the plain logloss, 0.600 for the focal
    loss and 0.631 for the label-smoothed one (class weights 0.2, 1, 1 for both)."""
    lgb = pytest.importorskip("lightgbm")
    X, y = _multiclass_data(6000, 5)
    Xv, yv = _multiclass_data(6000, 6)

    def balanced_logloss(objective):
        params = {"objective": objective, "num_class": 3, "verbose": -1, "num_threads": 1, "learning_rate": 0.1,
                  "seed": 0, "deterministic": True}
        margin = lgb.train(params, lgb.Dataset(X, label=y), 60).predict(Xv, raw_score=True)
        losses = F.cross_entropy(margin, yv, reduction="none")
        return np.mean([losses[yv == c].mean() for c in range(3)])

    weights = np.array([0.2, 1.0, 1.0])
    plain = balanced_logloss(O.lightgbm("cross_entropy"))
    focal = balanced_logloss(O.lightgbm("softmax_focal_loss", gamma=1.0, alpha=weights))
    smoothed = balanced_logloss(O.lightgbm("cross_entropy", label_smoothing=0.1, weight=weights))
    assert focal < plain - 0.05
    assert smoothed < plain - 0.05
