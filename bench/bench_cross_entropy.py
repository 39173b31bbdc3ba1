"""Cross-entropy in place: fastloss against torch, JAX jit (when importable) and NumPy, float32.

    python bench/bench_cross_entropy.py [--threads 2] [--repeats 15]

The registry's cross_entropy case through the benchmark harness (measure.time_case: results
checked before timing, medians of interleaved runs): forward and fused forward+backward, the
fused pass also writing its gradient over the logits (out= the input); then each library's
peak extra memory for the fused pass in a fresh process (measure.peak_extra_memory). Prints
markdown tables, then every number as JSON. Not a test: nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List, Optional

import fastloss
import fastloss.functional as F

import measure
import registry
import report

# The fused pass's speed-target shape, and a 32000-word vocabulary (out of cache).
SHAPES = [tuple(report.CROSS_ENTROPY_TARGET[1]), (1024, 32000)]


def measure_shapes(threads: int, repeats: int) -> Dict[str, Any]:
    """{"results": measure.time_case's rows, "peak_extra_memory_mib": {label: MiB per library}}."""
    case = registry.CASES["cross_entropy"]
    measure.set_threads(threads)
    rows = [measure.time_case(F, case, shape, repeats, passes=registry.FORWARD_AND_FUSED, in_place=True)
            for shape in SHAPES]
    memory = {f"{case.name} {report.size_label(shape)}": measure.peak_extra_memory(case, threads, shape)
              for shape in SHAPES}
    return {"results": rows, "peak_extra_memory_mib": memory}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="for every library (default 2)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per call (default 15)")
    args = parser.parse_args(argv)
    measured = measure_shapes(args.threads, args.repeats)
    rows = measured["results"]
    print(measure.setup_line(args.threads, args.repeats) + "\n")
    print("\n".join([*report.times_summary(rows), "", "Peak extra memory of the fused pass (MiB, fresh process):", "",
                     *report.peak_memory_table(measured["peak_extra_memory_mib"])]))
    print(json.dumps({"simd_target": fastloss.simd_target(), "threads": args.threads, "repeats": args.repeats,
                      **measured}, indent=1))


if __name__ == "__main__":
    main()
