"""Cross-entropy benchmark: fastloss against torch (and JAX jit when importable), float32,
forward and fused forward+backward, median of repeats, results checked before timing.

    python bench/bench_cross_entropy.py [--threads 2] [--repeats 15]

``cases()`` returns the timings as a dict so the suite runner (bench/run.py) can reuse it;
``peak_extra_memory_mb()`` measures the fused in-place call's peak extra memory in a fresh
process. Not a test: nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, Optional

import numpy as np

SHAPES = [(8192, 1000), (1024, 32000)]


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (thread pools, jit compilation, page faults)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _fastloss_timings(x: np.ndarray, y: np.ndarray, repeats: int) -> Dict[str, float]:
    import fastloss

    logits = x.copy()  # the in-place call overwrites it with gradients; the cost is the same
    return {
        "forward": median_ms(lambda: fastloss.cross_entropy(x, y), repeats),
        "forward_backward": median_ms(lambda: fastloss.cross_entropy_with_grad(x, y), repeats),
        "forward_backward_in_place": median_ms(
            lambda: fastloss.cross_entropy_with_grad(logits, y, out=logits), repeats),
    }


def _torch_timings(x: np.ndarray, y: np.ndarray, repeats: int, threads: int) -> Optional[Dict[str, float]]:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    tx = torch.from_numpy(x)
    ty = torch.from_numpy(y)
    tg = tx.clone().requires_grad_()

    def forward_backward():
        tg.grad = None
        torch.nn.functional.cross_entropy(tg, ty).backward()

    with torch.no_grad():
        forward = median_ms(lambda: torch.nn.functional.cross_entropy(tx, ty), repeats)
    return {"forward": forward, "forward_backward": median_ms(forward_backward, repeats)}


def _jax_timings(x: np.ndarray, y: np.ndarray, repeats: int) -> Optional[Dict[str, float]]:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def loss(logits, labels):
        logp = jax.nn.log_softmax(logits, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

    forward = jax.jit(loss)
    forward_backward = jax.jit(jax.value_and_grad(loss))
    jx, jy = jnp.asarray(x), jnp.asarray(y.astype(np.int32))
    return {
        "forward": median_ms(lambda: forward(jx, jy).block_until_ready(), repeats),
        "forward_backward": median_ms(lambda: jax.block_until_ready(forward_backward(jx, jy)), repeats),
    }


def check_results(x: np.ndarray, y: np.ndarray) -> None:
    """fastloss agrees with torch on this problem (loss and gradient) before anything is timed."""
    import fastloss

    loss, grad = fastloss.cross_entropy_with_grad(x, y)
    try:
        import torch
    except ImportError:
        return
    tx = torch.from_numpy(x).requires_grad_()
    expected = torch.nn.functional.cross_entropy(tx, torch.from_numpy(y))
    expected.backward()
    np.testing.assert_allclose(loss, expected.item(), rtol=1e-5)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-4, atol=1e-9)


def cases(threads: int = 2, repeats: int = 15, seed: int = 0) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{"(N, V)": {"fastloss": {...}, "torch": {...}, "jax": {...}}} in milliseconds."""
    import fastloss

    fastloss.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    for n, v in SHAPES:
        x = rng.normal(0.0, 2.0, size=(n, v)).astype(np.float32)
        y = rng.integers(0, v, size=n)
        check_results(x, y)
        row: Dict[str, Dict[str, float]] = {"fastloss": _fastloss_timings(x, y, repeats)}
        for name, timings in (("torch", _torch_timings(x, y, repeats, threads)), ("jax", _jax_timings(x, y, repeats))):
            if timings is not None:
                row[name] = timings
        results[f"({n}, {v})"] = row
    return results


_MEMORY_PROBE = """
import resource, sys
import numpy as np
import fastloss
n, v = int(sys.argv[1]), int(sys.argv[2])
fastloss.set_num_threads(int(sys.argv[3]))
x = np.random.default_rng(0).standard_normal(size=(n, v), dtype=np.float32)  # no float64 temporary
y = np.random.default_rng(1).integers(0, v, size=n)
fastloss.sigmoid(x[0, :64])  # load the extension and start the OpenMP threads, nothing else
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
fastloss.cross_entropy_with_grad(x, y, out=x)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def peak_extra_memory_mb(n: int, v: int, threads: int = 2) -> float:
    """Peak resident memory the in-place fused call adds over its inputs, in MiB (the
    per-thread scratch it allocates on first use included)."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(n), str(v), str(threads)],
                         capture_output=True, text=True, check=True, env=dict(os.environ))
    return int(out.stdout.strip()) / 1024.0  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    results = cases(args.threads, args.repeats)
    for shape, row in results.items():
        fl = row["fastloss"]
        print(f"{shape}: fastloss forward {fl['forward']:.2f} ms, forward+backward "
              f"{fl['forward_backward']:.2f} ms (in place {fl['forward_backward_in_place']:.2f} ms)")
        for other in ("torch", "jax"):
            if other in row:
                o = row[other]
                print(f"  {other}: forward {o['forward']:.2f} ms ({o['forward'] / fl['forward']:.2f}x), "
                      f"forward+backward {o['forward_backward']:.2f} ms "
                      f"({o['forward_backward'] / fl['forward_backward_in_place']:.2f}x vs in place)")
    memory = {f"({n}, {v})": peak_extra_memory_mb(n, v, args.threads) for n, v in SHAPES}
    for shape, mb in memory.items():
        print(f"{shape}: peak extra memory of the in-place fused call {mb:.2f} MiB")
    print(json.dumps({"timings_ms": results, "peak_extra_memory_mib": memory}, indent=1))


if __name__ == "__main__":
    main()
