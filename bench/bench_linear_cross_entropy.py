"""linear_cross_entropy: fastloss against torch's reference and chunked paths and the GEMM floor, float32.

    python bench/bench_linear_cross_entropy.py [--threads 2] [--repeats 3]
        [--shape N V d ...] [--memory-shape N V d ...]

Times the fused forward+backward (fastloss's ``linear_cross_entropy_with_grad``; torch's
``linear_cross_entropy`` then ``backward()``, with ``options=None`` (reference: the logits
materialised) and ``options=LinearCrossEntropyOptions()`` (chunked)), next to the GEMM
floor: the three matrix products alone (logits, grad_input, grad_weight), through NumPy's
BLAS, measured in the same interleaved rounds. Results are checked against torch's before
timing. Then each library's peak extra memory for the same call in a fresh process: the
resident high-water mark over what was resident before the call, less the returned
gradients (grad_input and grad_weight). Prints markdown tables, then every number as JSON.
Not a test: nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import measure

Shape = Tuple[int, int, int]
LIBRARIES = ("fastloss", "torch_reference", "torch_chunked")


def make_inputs(shape: Shape) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, v, d = shape
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((n, d), dtype=np.float32)
    embedding = (rng.standard_normal((v, d), dtype=np.float32) / np.sqrt(d)).astype(np.float32)
    target = rng.integers(0, v, n)
    target[::17] = -100  # padding
    return hidden, embedding, target


def library_calls(shape: Shape, inputs: Tuple[np.ndarray, ...], libraries: Sequence[str]) -> Dict[str, Callable[[], Any]]:
    """{library: a call returning (loss, grad_input, grad_weight)}."""
    hidden, embedding, target = inputs
    calls: Dict[str, Callable[[], Any]] = {}
    if "fastloss" in libraries:
        import fastloss.functional as F

        def fastloss_call() -> Any:
            loss, (gi, gw, _) = F.linear_cross_entropy_with_grad(hidden, embedding, target)
            return float(loss), gi, gw

        calls["fastloss"] = fastloss_call
    if "gemm_floor" in libraries:
        n, v, d = shape
        logits = np.empty((n, v), np.float32)
        gi, gw = np.empty_like(hidden), np.empty_like(embedding)

        def floor_call() -> Any:
            np.matmul(hidden, embedding.T, out=logits)
            np.matmul(logits, embedding, out=gi)
            np.matmul(logits.T, hidden, out=gw)
            return None, gi, gw

        calls["gemm_floor"] = floor_call
    for name in ("torch_reference", "torch_chunked"):
        if name not in libraries:
            continue
        import torch

        h = torch.from_numpy(hidden).requires_grad_()
        w = torch.from_numpy(embedding).requires_grad_()
        t = torch.from_numpy(target)
        options = torch.nn.LinearCrossEntropyOptions() if name == "torch_chunked" else None

        def torch_call(h: Any = h, w: Any = w, t: Any = t, options: Any = options) -> Any:
            h.grad, w.grad = None, None
            loss = torch.nn.functional.linear_cross_entropy(h, w, t, options=options)
            loss.backward()
            return float(loss.detach()), h.grad.numpy(), w.grad.numpy()

        calls[name] = torch_call
    return calls


def check(results: Dict[str, Any]) -> None:
    """Every library's loss and gradients agree with torch's reference path (float32 rounding)."""
    ref = results["torch_reference"]
    for name, (loss, gi, gw) in results.items():
        if loss is None:
            continue
        assert abs(loss - ref[0]) <= 1e-4 * abs(ref[0]), (name, loss, ref[0])
        for grad, expected in ((gi, ref[1]), (gw, ref[2])):
            scale = float(np.abs(expected).max())
            assert float(np.abs(grad - expected).max()) <= 1e-3 * scale, name


def time_shape(shape: Shape, repeats: int) -> Dict[str, float]:
    inputs = make_inputs(shape)
    calls = library_calls(shape, inputs, ("gemm_floor", *LIBRARIES))
    check({name: call() for name, call in calls.items() if name != "gemm_floor"})
    return measure.interleaved_medians_ms(calls, repeats, warm_up=False)


def peak_extra_mib(library: str, shape: Shape, threads: int) -> Any:
    completed = subprocess.run([sys.executable, __file__, "memory", library, str(threads), *map(str, shape)],
                               capture_output=True, text=True)
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit status {completed.returncode}"
    return json.loads(completed.stdout)


def _memory_child(library: str, threads: int, shape: Shape) -> float:
    measure.set_threads(threads)
    tiny = (4, 8, 4)
    library_calls(tiny, make_inputs(tiny), (library,))[library]()  # thread pools, lazy imports
    inputs = make_inputs(shape)
    call = library_calls(shape, inputs, (library,))[library]
    returned = inputs[0].nbytes + inputs[1].nbytes  # grad_input and grad_weight
    return measure._peak_extra_mib(call) - returned / 2**20


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="for every library (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per call (default 3)")
    parser.add_argument("--shape", type=int, nargs=3, action="append", metavar=("N", "V", "D"),
                        help="timed shapes (default 1024 32000 1024)")
    parser.add_argument("--memory-shape", type=int, nargs=3, action="append", metavar=("N", "V", "D"),
                        help="peak-memory shapes (default 1024 128256 1024)")
    args = parser.parse_args(argv)
    shapes = [tuple(s) for s in args.shape or [(1024, 32000, 1024)]]
    memory_shapes = [tuple(s) for s in args.memory_shape or [(1024, 128256, 1024)]]
    measure.set_threads(args.threads)
    times = {str(shape): time_shape(shape, args.repeats) for shape in shapes}  # type: ignore[arg-type]
    memory = {str(shape): {lib: peak_extra_mib(lib, shape, args.threads) for lib in LIBRARIES}  # type: ignore[arg-type]
              for shape in memory_shapes}
    import fastloss

    print(f"fastloss on {fastloss.simd_target()}, {args.threads} threads (fastloss, torch and NumPy's OpenBLAS), "
          f"float32, median of {args.repeats} interleaved runs\n")
    print("| N, V, d | GEMM floor ms | fastloss ms (x floor) | torch reference ms | torch chunked ms |")
    print("| --- | --- | --- | --- | --- |")
    for shape, ms in times.items():
        print(f"| {shape} | {ms['gemm_floor']:.0f} | {ms['fastloss']:.0f} ({ms['fastloss'] / ms['gemm_floor']:.2f}x) | "
              f"{ms['torch_reference']:.0f} | {ms['torch_chunked']:.0f} |")
    print("\nPeak extra memory of forward+backward (MiB, fresh process, beyond inputs and returned gradients):\n")
    print("| N, V, d | logits (MiB) | " + " | ".join(LIBRARIES) + " |")
    print("| --- | --- |" + " --- |" * len(LIBRARIES))
    for (n, v, _), peaks in zip(memory_shapes, memory.values()):
        cells = " | ".join(f"{peaks[lib]:.0f}" if isinstance(peaks[lib], float) else str(peaks[lib])
                           for lib in LIBRARIES)
        print(f"| {(n, v, _)} | {n * v * 4 / 2**20:.0f} | {cells} |")
    print(json.dumps({"simd_target": fastloss.simd_target(), "threads": args.threads, "repeats": args.repeats,
                      "times_ms": times, "peak_extra_memory_mib": memory}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "memory":
        print(json.dumps(_memory_child(sys.argv[2], int(sys.argv[3]),
                                       (int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])))))
    else:
        main()
