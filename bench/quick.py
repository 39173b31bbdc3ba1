"""A ~20-second benchmark of fastloss against NumPy (and PyTorch when installed).

    python bench/quick.py [--size LOG2] [--threads N]

Times the loss (forward) and the fused loss + gradient of binary cross-entropy with
logits, MSE and cross-entropy at float32, same thread count for every library, median of
repeated runs with peers interleaved, after checking that the results agree.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import fastloss
import fastloss.functional as F

try:
    import torch
except ImportError:  # torch is optional: its column then reads n/a
    torch = None


def median_ms(fn, repeats):
    fn()  # warm-up (also pages in outputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def numpy_bce_with_logits(x, y):
    loss = (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean(dtype=np.float64)
    grad = (1 / (1 + np.exp(-x)) - y) / x.size
    return loss, grad


def numpy_mse(x, y):
    d = x - y
    return np.mean(d * d, dtype=np.float64), (2 / x.size) * d


def numpy_cross_entropy(x, labels):
    shifted = x - x.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(len(labels)), labels].mean(dtype=np.float64)
    grad = np.exp(logp)
    grad[np.arange(len(labels)), labels] -= 1
    return loss, grad / len(labels)


def torch_pair(loss_fn, x, y):
    def forward():
        return loss_fn(x, y)

    def forward_backward():
        xr = x.detach().requires_grad_(True)
        loss = loss_fn(xr, y)
        loss.backward()
        return loss, xr.grad

    return forward, forward_backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=22, help="log2 of the element count (default 22)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    fastloss.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n = 1 << args.size
    x = rng.standard_normal(n, dtype=np.float32)
    y = rng.uniform(0, 1, n).astype(np.float32)
    rows, classes = n // 1000, 1000
    logits = rng.standard_normal((rows, classes), dtype=np.float32)
    labels = rng.integers(0, classes, rows)
    grad_out = np.empty_like(x)
    ce_grad_out = np.empty_like(logits)

    cases = [
        ("bce_with_logits", x, y, F.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits_with_grad,
         numpy_bce_with_logits, None if torch is None else torch.nn.functional.binary_cross_entropy_with_logits, grad_out),
        ("mse_loss", x, y, F.mse_loss, F.mse_loss_with_grad, numpy_mse,
         None if torch is None else torch.nn.functional.mse_loss, grad_out),
    ]
    if hasattr(F, "cross_entropy_with_grad"):
        cases.append(("cross_entropy", logits, labels, F.cross_entropy, F.cross_entropy_with_grad, numpy_cross_entropy,
                      None if torch is None else torch.nn.functional.cross_entropy, ce_grad_out))

    print(f"fastloss {fastloss.__version__} on {fastloss.simd_target()}, {args.threads} threads, float32, "
          f"{n} elements ({rows}x{classes} for cross_entropy); median of {args.repeats}; times in ms\n")
    print("| loss | pass | fastloss | numpy | torch | vs numpy | vs torch |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, a, b, forward, with_grad, numpy_ref, torch_fn, out in cases:
        loss, grad = with_grad(a, b, out=out)
        ref_loss, ref_grad = numpy_ref(a, b)
        assert np.isclose(loss, ref_loss, rtol=1e-4), (name, loss, ref_loss)
        assert np.allclose(grad, ref_grad, rtol=1e-3, atol=1e-9), name
        peers = {"numpy": (lambda: numpy_ref(a, b)[0], lambda: numpy_ref(a, b))}
        if torch_fn is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            peers["torch"] = torch_pair(torch_fn, ta, tb)
        mine = (lambda: forward(a, b), lambda: with_grad(a, b, out=out))
        for index, label in enumerate(("forward", "forward+backward")):
            ours = median_ms(mine[index], args.repeats)
            theirs = {peer: median_ms(fns[index], args.repeats) for peer, fns in peers.items()}
            cells = [f"{theirs[p]:.2f}" if p in theirs else "n/a" for p in ("numpy", "torch")]
            ratios = [f"{theirs[p] / ours:.1f}x" if p in theirs else "n/a" for p in ("numpy", "torch")]
            print(f"| {name} | {label} | {ours:.2f} | {cells[0]} | {cells[1]} | {ratios[0]} | {ratios[1]} |")


if __name__ == "__main__":
    main()
