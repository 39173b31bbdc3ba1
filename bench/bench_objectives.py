"""Gradient-boosting objective callbacks: fastloss.objectives against careful NumPy.

For N float32 margins (XGBoost's dtype) it times one callback, gradient and Hessian, of
binary_cross_entropy_with_logits and sigmoid_focal_loss (alpha 0.25, gamma 2): fastloss
reusing its two output arrays (``out=``), NumPy with preallocated buffers and in-place ufuncs
(stable sigmoid through exp(-|x|), no overflow). Each result is checked against the other.
Then the share of one xgboost.train round (hist, depth 6, ``--rows`` x 20 features) that the
fastloss BCE callback takes, when XGBoost is installed. Multiclass: ``--classes-rows`` x
``--classes`` float32 margins, cross_entropy's gradient and Hessian diagonal (and
softmax_focal_loss's) against NumPy's softmax with preallocated buffers, and the share of one
``multi:softprob``-shaped xgboost.train round (``--class-train-rows`` x 20) the callback takes.
Medians of ``--repeat`` runs.

    python bench/bench_objectives.py [--n 10000000] [--rows 1000000] [--classes-rows 1000000]
        [--classes 10] [--class-train-rows 200000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import platform

import numpy as np

import fastloss
import measure
from fastloss import objectives as O


class NumpyLogistic:
    """p = sigmoid(x) stably, with buffers allocated once (the careful NumPy objective)."""

    def __init__(self, n: int, dtype: type) -> None:
        self.e, self.p = np.empty(n, dtype), np.empty(n, dtype)
        self.grad, self.hess = np.empty(n, dtype), np.empty(n, dtype)

    def sigmoid(self, x: np.ndarray) -> None:
        e, p = self.e, self.p
        np.abs(x, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)  # exp(-|x|): never overflows
        np.add(e, 1, out=p)
        np.reciprocal(p, out=p)  # sigmoid(|x|)
        np.copyto(p, e * p, where=x < 0)  # sigmoid(-|x|) = e / (1 + e) where x < 0

    def bce(self, x: np.ndarray, y: np.ndarray):
        self.sigmoid(x)
        np.subtract(self.p, y, out=self.grad)
        np.subtract(1, self.p, out=self.hess)
        np.multiply(self.hess, self.p, out=self.hess)
        np.maximum(self.hess, 1e-16, out=self.hess)
        return self.grad, self.hess


class NumpySoftmax:
    """Softmax gradient p - onehot(t) and Hessian diagonal p (1 - p) floored at 1e-16 (XGBoost's
    multi:softprob without its factor 2), with buffers allocated once (the careful NumPy
    objective: max-shifted exp, in-place ufuncs)."""

    def __init__(self, n: int, classes: int, dtype: type) -> None:
        self.p, self.grad, self.hess = (np.empty((n, classes), dtype) for _ in range(3))
        self.row = np.empty((n, 1), dtype)
        self.rows = np.arange(n)

    def cross_entropy(self, x: np.ndarray, t: np.ndarray):
        p, row = self.p, self.row
        np.max(x, axis=1, keepdims=True, out=row)
        np.subtract(x, row, out=p)
        np.exp(p, out=p)
        np.sum(p, axis=1, keepdims=True, out=row)
        np.divide(p, row, out=p)
        np.copyto(self.grad, p)
        self.grad[self.rows, t] -= 1
        np.subtract(1, p, out=self.hess)
        np.multiply(self.hess, p, out=self.hess)
        np.maximum(self.hess, 1e-16, out=self.hess)
        return self.grad, self.hess


def multiclass(args: argparse.Namespace, rng: np.random.Generator) -> None:
    n, classes = args.classes_rows, args.classes
    x = rng.normal(0, 3, (n, classes)).astype(np.float32)
    t = rng.integers(0, classes, n)
    out = (np.empty_like(x), np.empty_like(x))
    numpy = NumpySoftmax(n, classes, np.float32)
    fl_grad, fl_hess = O.grad_hess("cross_entropy", x, t, out=out)
    np_grad, np_hess = numpy.cross_entropy(x, t)
    np.testing.assert_allclose(fl_grad, np_grad, rtol=1e-5, atol=1e-6)
    # NumPy's float32 1 - p cancels where p_t is near 1 (fastloss takes 1 - p_t from expm1).
    np.testing.assert_allclose(fl_hess, np_hess, rtol=1e-5, atol=1e-6)
    ce = O.Objective("cross_entropy")
    focal = O.Objective("softmax_focal_loss")
    times = measure.interleaved_medians_ms({"fastloss": lambda: ce(x, t, None, out),
                                            "numpy": lambda: numpy.cross_entropy(x, t),
                                            "focal": lambda: focal(x, t, None, out)}, args.repeat)
    t_fl, t_np, t_focal = times["fastloss"], times["numpy"], times["focal"]
    print(f"multiclass, {n:.0e} x {classes} float32: cross_entropy grad+hess fastloss {t_fl:.1f} ms, NumPy "
          f"{t_np:.1f} ms ({t_np / t_fl:.1f}x); softmax focal loss fastloss {t_focal:.1f} ms")
    try:
        import xgboost as xgb
    except ImportError:
        return
    rows = args.class_train_rows
    features = rng.normal(size=(rows, 20)).astype(np.float32)
    labels = np.clip(np.floor(features[:, 0] * 2 + rng.normal(size=rows) + classes / 2), 0, classes - 1)
    dtrain = xgb.DMatrix(features, label=labels.astype(np.float32),
                         base_margin=np.zeros((rows, classes), np.float32))
    params = {"tree_method": "hist", "max_depth": 6, "num_class": classes, "disable_default_eval_metric": 1}
    objective = O.xgboost("cross_entropy")
    booster = xgb.train(params, dtrain, 1, obj=objective)
    rounds = 3
    round_ms = measure.interleaved_medians_ms({"train": lambda: xgb.train(params, dtrain, rounds, obj=objective)},
                                              3)["train"] / rounds
    margins = booster.predict(dtrain, output_margin=True)
    callback_ms = measure.interleaved_medians_ms({"callback": lambda: objective(margins, dtrain)}, args.repeat)["callback"]
    print(f"xgboost.train, {rows:.0e} x 20, {classes} classes, hist, depth 6: {round_ms:.1f} ms per round (median "
          f"of 3 runs of {rounds} rounds), of which the fastloss objective callback {callback_ms:.2f} ms "
          f"({100 * callback_ms / round_ms:.1f}%, the DMatrix's label read included)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes-rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--class-train-rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"fastloss {fastloss.__version__}, simd target {fastloss.simd_target()}, "
          f"{fastloss.get_num_threads()} threads, {platform.processor() or platform.machine()}")

    rng = np.random.default_rng(0)
    multiclass(args, rng)
    x = rng.normal(0, 4, args.n).astype(np.float32)
    y = (rng.uniform(size=args.n) < 0.3).astype(np.float32)
    out = (np.empty_like(x), np.empty_like(x))
    numpy = NumpyLogistic(args.n, np.float32)
    fl_grad, fl_hess = O.grad_hess("binary_cross_entropy_with_logits", x, y, out=out)
    np_grad, np_hess = numpy.bce(x, y)
    np.testing.assert_allclose(fl_grad, np_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fl_hess, np_hess, rtol=1e-5, atol=1e-7)

    bce = O.Objective("binary_cross_entropy_with_logits")
    focal = O.Objective("sigmoid_focal_loss")
    times = measure.interleaved_medians_ms({"fastloss": lambda: bce(x, y, None, out), "numpy": lambda: numpy.bce(x, y),
                                            "focal": lambda: focal(x, y, None, out)}, args.repeat)
    t_fl, t_np, t_focal = times["fastloss"], times["numpy"], times["focal"]
    print(f"binary, N = {args.n:.0e} float32: BCE grad+hess fastloss {t_fl:.1f} ms, NumPy {t_np:.1f} ms "
          f"({t_np / t_fl:.1f}x); sigmoid focal loss fastloss {t_focal:.1f} ms")

    try:
        import xgboost as xgb
    except ImportError:
        print("xgboost not installed: no share of a training round")
        return
    features = rng.normal(size=(args.rows, 20)).astype(np.float32)
    labels = (features[:, 0] + rng.normal(size=args.rows) > 0).astype(np.float32)
    dtrain = xgb.DMatrix(features, label=labels, base_margin=np.zeros(args.rows, np.float32))
    params = {"tree_method": "hist", "max_depth": 6, "disable_default_eval_metric": 1}
    objective = O.xgboost("binary_cross_entropy_with_logits")
    booster = xgb.train(params, dtrain, 1, obj=objective)
    rounds = 5
    round_ms = measure.interleaved_medians_ms({"train": lambda: xgb.train(params, dtrain, rounds, obj=objective)},
                                              3)["train"] / rounds
    margins = booster.predict(dtrain, output_margin=True)
    callback_ms = measure.interleaved_medians_ms({"callback": lambda: objective(margins, dtrain)}, args.repeat)["callback"]
    print(f"xgboost.train, {args.rows:.0e} x 20, hist, depth 6: {round_ms:.1f} ms per round (median of 3 runs "
          f"of {rounds} rounds), of which the fastloss objective callback {callback_ms:.2f} ms "
          f"({100 * callback_ms / round_ms:.1f}%, the DMatrix's label read included)")


if __name__ == "__main__":
    main()
