"""A ~20-second benchmark of fastloss against NumPy (and PyTorch and JAX when installed).

    python bench/quick.py [--size LOG2] [--threads N] [--repeats R]

Times the loss (forward) and the fused loss + gradient (with_grad) of binary cross-entropy
with logits, MSE and cross-entropy (registry.REPRESENTATIVE_CASES) at float32 through the
benchmark harness, measure.time_case: the same thread count for every library, each result
checked against NumPy's before timing, medians of interleaved runs. Needs only NumPy: a peer
that is not installed reads n/a.
"""

from __future__ import annotations

import argparse
import os
from typing import List, Optional

import fastloss.functional as F

import measure
import registry
import report

CLASSES = 1000  # cross_entropy's logits are (2^size / 1000, 1000)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=22, help="log2 of the element count (default 22)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="for every library (default: all CPUs)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per call (default 15)")
    args = parser.parse_args(argv)

    measure.set_threads(args.threads)
    elements = 1 << args.size
    sizes = {registry.ELEMENTWISE: elements, registry.CLASSES: (elements // CLASSES, CLASSES)}
    cases = [case for case in registry.available_cases(F) if case.name in registry.REPRESENTATIVE_CASES]
    rows = [measure.time_case(F, case, sizes[case.kind], args.repeats, passes=registry.FORWARD_AND_FUSED)
            for case in cases]
    print(measure.setup_line(args.threads, args.repeats) + "\n")
    print("\n".join(report.times_summary(rows)))


if __name__ == "__main__":
    main()
