"""Gradient-boosting objective callbacks: fastloss.objectives against careful NumPy.

For N float32 margins (XGBoost's dtype) it times one callback, gradient and Hessian, of
binary_cross_entropy_with_logits and sigmoid_focal_loss (alpha 0.25, gamma 2): fastloss
reusing its two output arrays (``out=``), NumPy with preallocated buffers and in-place ufuncs
(stable sigmoid through exp(-|x|), no overflow). Each result is checked against the other.
Then the share of one xgboost.train round (hist, depth 6, ``--rows`` x 20 features) that the
fastloss BCE callback takes, when XGBoost is installed. Medians of ``--repeat`` runs.

    python bench/bench_objectives.py [--n 10000000] [--rows 1000000] [--repeat 15]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"fastloss {fastloss.__version__}, simd target {fastloss.simd_target()}, "
          f"{fastloss.get_num_threads()} threads, {platform.processor() or platform.machine()}")

    rng = np.random.default_rng(0)
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
