"""Broadcast operands of the elementwise losses against the same call without them.

    python bench/bench_broadcast.py [--rows N] [--classes C] [--threads T] [--repeats R] [--json]

Times fastloss alone (float32, reduction "mean" unless named) on (N, C) logits: binary
cross-entropy with logits unweighted, with a (C,) pos_weight, a (C,) weight and an (N, 1)
weight; MSE with a full, an (N, 1) and a (C,) target; and the reduction "none" fused pass.
Each row gives the forward and the fused forward+backward (with_grad) medians and their ratio
to the row's plain call. The machine may be loaded: run it several times, in alternating
processes when comparing two builds (--json prints one line to aggregate).
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

import fastloss
import fastloss.functional as F

import measure


def cases(rows: int, classes: int) -> List[Tuple[str, str, Callable[[], object], Callable[[], object]]]:
    """(name, plain case it is compared with, forward call, fused call)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, classes), dtype=np.float32)
    y = (rng.random((rows, classes)) < 0.5).astype(np.float32)
    per_class = rng.random(classes, dtype=np.float32) + 0.5
    per_row = rng.random((rows, 1), dtype=np.float32) + 0.5
    bce, bce_grad = F.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits_with_grad
    mse, mse_grad = F.mse_loss, F.mse_loss_with_grad
    bce_args: Dict[str, dict] = {
        "bce_with_logits": {},
        "bce_with_logits pos_weight (C,)": {"pos_weight": per_class},
        "bce_with_logits weight (C,)": {"weight": per_class},
        "bce_with_logits weight (N, 1)": {"weight": per_row},
    }
    out = [(name, "bce_with_logits", (lambda kw=kw: bce(x, y, **kw)), (lambda kw=kw: bce_grad(x, y, **kw)))
           for name, kw in bce_args.items()]
    out.append(("bce_with_logits none", "bce_with_logits none",
                lambda: bce(x, y, reduction="none"), lambda: bce_grad(x, y, reduction="none")))
    for name, target in (("mse", y), ("mse target (N, 1)", per_row), ("mse target (C,)", per_class)):
        out.append((name, "mse", (lambda t=target: mse(x, t)), (lambda t=target: mse_grad(x, t))))
    return out


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16384)
    parser.add_argument("--classes", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="one JSON line of {case: [forward_ms, fused_ms]}")
    args = parser.parse_args(argv)
    fastloss.set_num_threads(args.threads)
    warnings.simplefilter("ignore")  # torch's warning about MSE's broadcast target
    results: Dict[str, List[float]] = {}
    plain_of = {}
    for name, plain, forward, fused in cases(args.rows, args.classes):
        medians = measure.interleaved_medians_ms({"forward": forward, "fused": fused}, args.repeats)
        results[name] = [medians["forward"], medians["fused"]]
        plain_of[name] = plain
    if args.json:
        print(json.dumps({"target": fastloss.simd_target(), "ms": results}))
        return
    print(f"fastloss {fastloss.simd_target()}, {args.threads} threads, ({args.rows}, {args.classes}) float32, "
          f"median of {args.repeats}")
    print(f"{'case':34} {'forward ms':>11} {'ratio':>6} {'fused ms':>9} {'ratio':>6}")
    for name, (forward, fused) in results.items():
        base = results[plain_of[name]]
        print(f"{name:34} {forward:11.2f} {forward / base[0]:6.2f} {fused:9.2f} {fused / base[1]:6.2f}")


if __name__ == "__main__":
    main()
