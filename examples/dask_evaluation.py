"""Score a classifier's predictions stored chunked on disk (Zarr) with fastloss.dask on a local
cluster of worker processes: the mean cross-entropy over the dataset, and the mean loss per
class.

    python examples/dask_evaluation.py                       # 2^18 rows x 100 classes, 2 workers
    python examples/dask_evaluation.py --rows 4194304 --classes 1000 --workers 4
    python examples/dask_evaluation.py --check               # also the one-call NumPy loss; exit 1 if they differ

The data is written first (random logits, float32, and int64 labels) to --path (a temporary
folder by default); scoring then reads it chunk by chunk in the workers. Only a few float64
per chunk travel back for the mean; the per-class table is two bincounts.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def write_dataset(path: str, rows: int, classes: int, chunk_rows: int) -> None:
    import dask.array as da

    rng = da.random.default_rng(0)
    logits = rng.standard_normal((rows, classes), chunks=(chunk_rows, classes), dtype=np.float32)
    labels = rng.integers(0, classes, rows, chunks=chunk_rows, dtype=np.int64)
    logits.to_zarr(os.path.join(path, "logits.zarr"), overwrite=True)
    labels.to_zarr(os.path.join(path, "labels.zarr"), overwrite=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1 << 18)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=1 << 14)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--path", default=None, help="where the Zarr arrays go (default: a temporary folder)")
    parser.add_argument("--check", action="store_true", help="compare with the one-call NumPy loss")
    args = parser.parse_args()

    import dask.array as da
    from dask.distributed import Client, LocalCluster, progress

    import fastloss
    import fastloss.dask as FD
    import fastloss.functional as F

    with tempfile.TemporaryDirectory() as scratch:
        path = args.path or scratch
        write_dataset(path, args.rows, args.classes, args.chunk_rows)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            logits = da.from_zarr(os.path.join(path, "logits.zarr"))
            labels = da.from_zarr(os.path.join(path, "labels.zarr"))
            mean_loss = FD.cross_entropy(logits, labels)
            per_row = FD.cross_entropy(logits, labels, reduction="none")
            per_class_sum = da.bincount(labels, weights=per_row, minlength=args.classes)
            per_class_count = da.bincount(labels, minlength=args.classes)
            started = time.perf_counter()
            futures = client.compute([mean_loss, per_class_sum, per_class_count])
            progress(futures)  # Dask's progress bar (text in a terminal)
            loss, sums, counts = client.gather(futures)
            seconds = time.perf_counter() - started
        gigabytes = logits.nbytes / 1e9
        print(f"\nfastloss {fastloss.__version__} ({fastloss.simd_target()}), {args.workers} worker processes; "
              f"{args.rows} rows x {args.classes} classes, {logits.numblocks[0]} chunks")
        print(f"mean cross-entropy {float(loss):.6f}  ({seconds:.2f} s for both results: "
              f"{1e3 * gigabytes / seconds:.0f} MB/s of logits)")
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = sums / counts
        order = np.argsort(per_class)
        print("\nclass   rows   mean loss")
        for c in [*order[:3], *order[-3:]]:
            print(f"{c:5d} {counts[c]:6d}   {per_class[c]:.6f}")
        if args.check:
            expected = F.cross_entropy(logits.compute(), labels.compute())
            agree = abs(float(loss) - float(expected)) <= 1e-6 * abs(float(expected))
            print(f"\none-call NumPy loss {float(expected):.6f}: " + ("agrees" if agree else "DIFFERS"))
            return 0 if agree else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
