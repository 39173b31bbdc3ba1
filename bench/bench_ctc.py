"""ctc_loss against torch's eager CPU CTC: forward and forward+backward medians (ms).

usage: python bench/bench_ctc.py [--library fastloss|torch] [--repeats 15]
Each library runs in its own process (run this once per library; no flag runs both, one
process each), on the same seeded float32 inputs: T=500, N=32, S=100, C in (32, 5000).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

SHAPES = [(500, 32, 32, 100), (500, 32, 5000, 100)]  # T, N, C, S


def inputs(time_steps, batch, classes, longest):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((time_steps, batch, classes), dtype=np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    targets = rng.integers(1, classes, (batch, longest))
    input_lengths = rng.integers(time_steps - 50, time_steps + 1, batch)
    target_lengths = rng.integers(longest - 20, longest + 1, batch)
    return log_probs, targets, input_lengths, target_lengths


def calls(library, lp, tg, il, tl):
    if library == "fastloss":
        import fastloss.functional as F
        return (lambda: F.ctc_loss(lp, tg, il, tl)), (lambda: F.ctc_loss_with_grad(lp, tg, il, tl))
    import torch
    x = torch.from_numpy(lp).requires_grad_(True)
    args = (torch.from_numpy(tg), torch.from_numpy(il), torch.from_numpy(tl))

    def forward():
        with torch.no_grad():
            return torch.nn.functional.ctc_loss(x, *args)

    def fused():
        x.grad = None
        loss = torch.nn.functional.ctc_loss(x, *args)
        loss.backward()
        return loss.item(), x.grad

    return forward, fused


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--library", choices=("fastloss", "torch"))
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    if args.library is None:
        for library in ("fastloss", "torch"):
            subprocess.run([sys.executable, __file__, "--library", library, "--repeats", str(args.repeats)], check=True)
        return
    if args.library == "fastloss":
        import fastloss
        target = fastloss.simd_target()
    else:
        import torch
        target = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    for shape in SHAPES:
        forward, fused = calls(args.library, *inputs(*shape))
        print(f"{args.library:8s} ({target}) T,N,C,S={shape}: forward {median_ms(forward, args.repeats):8.2f} ms, "
              f"forward+backward {median_ms(fused, args.repeats):8.2f} ms", flush=True)


if __name__ == "__main__":
    main()
