"""fastloss.dask scoring a dataset held in Zarr on local disk, on a LocalCluster of worker
processes, against the same pipeline with NumPy's and torch's losses on each chunk.

    python bench/bench_dask.py [--log2 24] [--rows 65536 --classes 1000] [--workers 2] [--repeats 3]

Two datasets: BCE-with-logits over 2^log2 float32 logits and targets, and cross-entropy over
(rows, classes) float32 logits and int64 labels; the mean loss of each. Also timed: reading
the same arrays (a sum of every chunk), which bounds any loss from below (disk, Zarr's
decompression, Dask's scheduling). Prints GB/s of the bytes read; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any, Callable, Dict

import numpy as np


def _numpy_bce(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return np.array([[np.sum(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))), x.size]])


def _numpy_ce(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]
    return np.array([[np.sum(lse - x[np.arange(len(t)), t]), len(t)]])


def _torch_bce(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    import torch
    loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(x), torch.from_numpy(y),
                                                                reduction="sum")
    return np.array([[float(loss), x.size]])


def _torch_ce(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    import torch
    loss = torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(t), reduction="sum")
    return np.array([[float(loss), len(t)]])


def _mean_of_parts(*parts: np.ndarray) -> float:
    """(sum, count) of every block -> the mean."""
    totals = np.concatenate(parts).sum(axis=0)
    return float(totals[0] / totals[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2", type=int, default=24)
    parser.add_argument("--rows", type=int, default=1 << 16)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--chunk-bytes", type=int, default=32 << 20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import dask
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    import fastloss
    import fastloss.dask as FD

    results: Dict[str, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as path, LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        rng = da.random.default_rng(0)
        n = 1 << args.log2
        elements = args.chunk_bytes // 4
        rows = max(1, elements // args.classes)
        rng.standard_normal(n, chunks=elements, dtype=np.float32).to_zarr(os.path.join(path, "x.zarr"))
        (rng.random(n, chunks=elements) > 0.5).astype(np.float32).to_zarr(os.path.join(path, "y.zarr"))
        rng.standard_normal((args.rows, args.classes), chunks=(rows, args.classes), dtype=np.float32).to_zarr(
            os.path.join(path, "logits.zarr"))
        rng.integers(0, args.classes, args.rows, chunks=rows, dtype=np.int64).to_zarr(os.path.join(path, "t.zarr"))
        x, y = (da.from_zarr(os.path.join(path, name)) for name in ("x.zarr", "y.zarr"))
        logits, t = (da.from_zarr(os.path.join(path, name)) for name in ("logits.zarr", "t.zarr"))

        def parts(fn: Callable[..., np.ndarray], *arrays: Any) -> Any:
            """fn on each block's arrays (rows aligned: whole rows per block), the means combined."""
            grids = [a.to_delayed().reshape(a.numblocks[0]) for a in arrays]
            return dask.delayed(_mean_of_parts)(*[dask.delayed(fn)(*blocks) for blocks in zip(*grids)])

        datasets = {
            f"binary_cross_entropy_with_logits 2^{args.log2}": (
                x.nbytes + y.nbytes, x.sum() + y.sum(),
                {"fastloss.dask": FD.binary_cross_entropy_with_logits(x, y),
                 "numpy per chunk": parts(_numpy_bce, x, y), "torch per chunk": parts(_torch_bce, x, y)}),
            f"cross_entropy {args.rows}x{args.classes}": (
                logits.nbytes + t.nbytes, logits.sum() + t.sum(),
                {"fastloss.dask": FD.cross_entropy(logits, t),
                 "numpy per chunk": parts(_numpy_ce, logits, t), "torch per chunk": parts(_torch_ce, logits, t)}),
        }
        for name, (nbytes, read_only, pipelines) in datasets.items():
            for label, lazy in {"read only": read_only, **pipelines}.items():
                times = []
                for repeat in range(args.repeats + 1):  # the first warms the workers up (imports)
                    start = time.perf_counter()
                    future = client.compute(lazy)
                    value = future.result()
                    elapsed = time.perf_counter() - start
                    # Released before the next run, which must read and compute everything again.
                    future.release()
                    del future
                    client.run(lambda: None)
                    if repeat:
                        times.append(elapsed)
                seconds = statistics.median(times)
                results[f"{name} | {label}"] = {"seconds": seconds, "GB/s": nbytes / seconds / 1e9,
                                                "value": float(value)}
    print(f"fastloss {fastloss.__version__} ({fastloss.simd_target()}), LocalCluster of {args.workers} worker "
          f"processes x 1 thread, chunks of {args.chunk_bytes >> 20} MiB, median of {args.repeats}\n")
    print("| dataset | pipeline | seconds | GB/s read | mean loss |\n|---|---|---:|---:|---:|")
    for key, r in results.items():
        dataset, label = key.split(" | ")
        print(f"| {dataset} | {label} | {r['seconds']:.3f} | {r['GB/s']:.2f} | "
              + ("" if label == "read only" else f"{r['value']:.6f}") + " |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
