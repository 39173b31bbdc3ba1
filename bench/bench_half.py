"""Half-precision storage (float16, bfloat16) of the memory-bound losses against float32.

    python bench/bench_half.py [--sizes 24,26] [--threads T] [--repeats R] [--losses a,b]
                               [--dtypes float32,float16,bfloat16] [--json]

Times fastloss alone on 1-D inputs of 2^k elements (reduction "mean"): the forward pass and
the fused forward+backward (``*_with_grad`` into a preallocated ``out=`` of the input's
dtype), every dtype in the same interleaved rounds (measure.interleaved_medians_ms). Half
inputs move half the bytes, so out of cache the goal (issue #13) is a float32/half time
ratio of at least 1.8. Every half result is checked first: the loss equals, bitwise, the
float32 call on the widened values, and the gradient is that call's rounded once. bfloat16
needs ml_dtypes (skipped without it). The machine may be loaded: run it several times.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

import fastloss
import fastloss.functional as F

import measure

LOSSES = ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss")
TARGET_RATIO = 1.8


def half_dtypes(names: List[str]) -> Dict[str, Any]:
    """{name: NumPy dtype} for the names available here (bfloat16 only with ml_dtypes)."""
    out: Dict[str, Any] = {}
    for name in names:
        if name == "bfloat16":
            try:
                import ml_dtypes
            except ImportError:
                continue
            out[name] = np.dtype(ml_dtypes.bfloat16)
        else:
            out[name] = np.dtype(name)
    return out


def check(loss: str, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """The half call against float32 on the widened values: loss bitwise, gradient rounded once."""
    wide_x, wide_y = x.astype(np.float32), y.astype(np.float32)
    expected_loss, expected_grad = getattr(F, loss + "_with_grad")(wide_x, wide_y)
    got_loss = getattr(F, loss)(x, y)
    fused_loss, grad = getattr(F, loss + "_with_grad")(x, y, out=out)
    if not (np.float32(got_loss) == np.float32(expected_loss) and np.float32(fused_loss) == np.float32(expected_loss)):
        raise AssertionError(f"{loss} {x.dtype}: loss {got_loss} / {fused_loss}, float32 gives {expected_loss}")
    if grad is not out or not np.array_equal(out, expected_grad.astype(x.dtype), equal_nan=True):
        raise AssertionError(f"{loss} {x.dtype}: the gradient is not float32's rounded once")


def run(sizes: List[int], losses: List[str], dtypes: Dict[str, Any], repeats: int) -> Dict[str, Dict[str, float]]:
    """{"loss 2^k pass": {dtype: median ms}}."""
    results: Dict[str, Dict[str, float]] = {}
    rng = np.random.default_rng(0)
    for log2 in sizes:
        n = 1 << log2
        x32 = rng.standard_normal(n, dtype=np.float32)
        y32 = rng.standard_normal(n, dtype=np.float32)
        arrays = {name: (x32.astype(dt), y32.astype(dt), np.empty(n, dt)) for name, dt in dtypes.items()}
        for loss in losses:
            forward, fused = getattr(F, loss), getattr(F, loss + "_with_grad")
            for name, (x, y, out) in arrays.items():
                if name != "float32":
                    check(loss, x, y, out)
            for pass_name in ("forward", "with_grad"):
                calls = {}
                for name, (x, y, out) in arrays.items():
                    if pass_name == "forward":
                        calls[name] = lambda x=x, y=y: forward(x, y)
                    else:
                        calls[name] = lambda x=x, y=y, out=out: fused(x, y, out=out)
                results[f"{loss} 2^{log2} {pass_name}"] = measure.interleaved_medians_ms(calls, repeats)
    return results


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="24,26", help="comma-separated log2 element counts")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--losses", default=",".join(LOSSES))
    parser.add_argument("--dtypes", default="float32,float16,bfloat16")
    parser.add_argument("--json", action="store_true", help="one JSON line of {case: {dtype: ms}}")
    args = parser.parse_args(argv)
    fastloss.set_num_threads(args.threads)
    dtypes = half_dtypes(args.dtypes.split(","))
    results = run([int(k) for k in args.sizes.split(",")], args.losses.split(","), dtypes, args.repeats)
    if args.json:
        print(json.dumps({"target": fastloss.simd_target(), "threads": args.threads, "ms": results}))
        return results
    halves = [name for name in dtypes if name != "float32"]
    print(f"fastloss {fastloss.simd_target()}, {args.threads} threads, median of {args.repeats} interleaved runs; "
          f"ratio = float32 ms / half ms (goal >= {TARGET_RATIO} out of cache)")
    print(f"{'case':32} {'float32 ms':>11}" + "".join(f" {name + ' ms':>12} {'ratio':>6}" for name in halves))
    for case, ms in results.items():
        base = ms.get("float32")
        row = f"{case:32} {base if base is not None else float('nan'):11.2f}"
        for name in halves:
            ratio = base / ms[name] if base is not None else float("nan")
            row += f" {ms[name]:12.2f} {ratio:6.2f}"
        print(row)
    return results


if __name__ == "__main__":
    main()
