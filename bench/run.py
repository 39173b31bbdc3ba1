"""fastloss benchmark suite: every registered loss against PyTorch, JAX jit and NumPy, and
against the machine's memory bandwidth.

    python bench/run.py [--quick] [--threads N] [--repeats R] [--cases a,b] [--results DIR]
                        [--update-readme]  (every option: --help, or bench/README.md)

Every case is timed through the harness, measure.time_case. Prints a markdown report;
writes DIR/latest.json (machine info and every number) and DIR/latest.png (speedup over the
best peer and % of memory bound per loss). With --update-readme the results section of
bench/README.md is rewritten from this run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from typing import Any, Dict, List, Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import measure  # noqa: E402
import registry  # noqa: E402
import report  # noqa: E402


def _library_versions() -> Dict[str, Optional[str]]:
    versions: Dict[str, Optional[str]] = {"numpy": np.__version__, "python": platform.python_version()}
    for name in ("fastloss", "torch", "jax", "matplotlib"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    return versions


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(fastloss: Any, threads: int) -> Dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "nproc": os.cpu_count(),
        "load_average": os.getloadavg(),
        "threads": threads,
        "dtype": measure.bench_dtype(),
        "simd_target": fastloss.simd_target(),
        "compiled_targets": list(fastloss.compiled_targets()),
        "versions": _library_versions(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }


def case_sizes(case: registry.Case, quick: bool) -> List[Any]:
    """The registry's sizes; --quick adds the out-of-cache size to a memory-bound loss that has
    none, since its bandwidth target is judged there."""
    sizes = case.sizes(quick)
    if quick and case.memory_bound and not any(measure.out_of_cache(case, size) for size in sizes):
        sizes.append(measure.out_of_cache_size(case))
    return sizes


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats: under a minute on 2 cores")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="for every library (default: all CPUs)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per call (default 7, 3 with --quick)")
    parser.add_argument("--cases", default=None, help="comma-separated loss names (default: all)")
    parser.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                        help="folder for latest.json and latest.png (default: bench/results)")
    parser.add_argument("--elementwise-sizes", default=None,
                        help="comma-separated log2 element counts instead of the defaults (e.g. 16,24,26)")
    parser.add_argument("--class-shapes", default=None,
                        help="comma-separated NxC shapes for the cross-entropy family (e.g. 8192x1000)")
    parser.add_argument("--sequence-shapes", default=None,
                        help="comma-separated TxNxCxS shapes for ctc_loss (e.g. 500x32x32x100)")
    parser.add_argument("--lm-head-shapes", default=None,
                        help="comma-separated NxVxD shapes for linear_cross_entropy (e.g. 4096x32000x1024)")
    parser.add_argument("--mode", choices=("isolated", "interleaved"), default=None,
                        help="isolated: each library alone in a fresh process per case (the default, and what the "
                             "README's tables use); interleaved: all libraries in this process, rounds rotating "
                             "their order (the default with --quick)")
    parser.add_argument("--dtype", choices=measure.DTYPES, default="float32",
                        help="the inputs' float type for every library (float16/bfloat16: the float32 inputs rounded; "
                             "bfloat16 needs ml_dtypes); cases fastloss runs in float32 only are skipped")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--no-targets", action="store_true", help="skip timing each compiled SIMD target")
    parser.add_argument("--no-plot", action="store_true", help="skip latest.png")
    parser.add_argument("--update-readme", action="store_true", help="rewrite the README's results section")
    parser.add_argument("--readme", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md"),
                        help="the file --update-readme rewrites (default: bench/README.md)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    mode = args.mode or ("interleaved" if args.quick else "isolated")

    import fastloss
    import fastloss.functional as functional

    if args.elementwise_sizes:
        sizes = [1 << int(log2) for log2 in args.elementwise_sizes.split(",")]
        registry.ELEMENTWISE_SIZES[:] = registry.QUICK_ELEMENTWISE_SIZES[:] = sizes
    for option, full, quick in ((args.class_shapes, registry.CLASS_SHAPES, registry.QUICK_CLASS_SHAPES),
                                (args.sequence_shapes, registry.SEQUENCE_SHAPES, registry.QUICK_SEQUENCE_SHAPES),
                                (args.lm_head_shapes, registry.LM_HEAD_SHAPES, registry.QUICK_LM_HEAD_SHAPES)):
        if option:
            full[:] = quick[:] = [tuple(int(n) for n in shape.split("x")) for shape in option.split(",")]

    started = time.perf_counter()
    measure.set_threads(args.threads)
    measure.set_dtype(args.dtype)
    cases = registry.available_cases(functional)
    if args.dtype != "float32":
        cases = [case for case in cases if case.half_precision]
    if args.cases:
        wanted = args.cases.split(",")
        cases = [case for case in cases if case.name in wanted]
    info = machine_info(fastloss, args.threads)
    probe = measure.BandwidthProbe(args.threads)
    bandwidth = measure.memory_bandwidth(probe)
    results = []
    for case in cases:
        for size in case_sizes(case, args.quick):
            case_started = time.perf_counter()
            if mode == "isolated":
                results.append(measure.time_case_isolated(case, size, repeats, args.threads))
            else:
                results.append(measure.time_case(functional, case, size, repeats, probe=probe))
            print(f"  {case.name} {report.size_label(size)}: {time.perf_counter() - case_started:.1f} s",
                  file=sys.stderr, flush=True)

    print(f"  (cases: {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    # --quick keeps the subprocess and scaling measurements to three representative losses.
    representative = [c for c in cases if not args.quick or c.name in registry.REPRESENTATIVE_CASES]
    scaling = {}
    for case in representative:
        sizes = [s for s in case_sizes(case, args.quick) if measure.out_of_cache(case, s)]
        for size in sizes or [measure.out_of_cache_size(case)]:
            inputs = measure.case_inputs(case, size)
            scaling[f"{case.name} {report.size_label(size)}"] = measure.thread_scaling_ms(
                functional, fastloss, case, inputs, repeats, os.cpu_count() or 1)
    print(f"  (thread scaling done at {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    # One fresh process per loss; --quick measures the one whose in-place pass matters most, and
    # those whose memory is their point (memory_at_sizes: at each of their sizes).
    memory_cases = [c for c in cases if c.memory_at_sizes
                    or c in representative and (not args.quick or c.name == "cross_entropy")]
    memory = {}
    for case in [] if args.no_memory else memory_cases:
        if case.memory_at_sizes:
            for size in case_sizes(case, args.quick):
                memory[f"{case.name} {report.size_label(size)}"] = measure.peak_extra_memory(case, args.threads, size)
        else:
            memory[case.name] = measure.peak_extra_memory(case, args.threads)
    print(f"  (peak memory done at {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    target_cases = [c.name for c in representative]
    targets = ({} if args.no_targets or not target_cases
               else measure.per_target_ms(info["compiled_targets"], args.threads, target_cases, repeats))

    document = {"machine": info, "bandwidth": bandwidth, "repeats": repeats, "quick": args.quick, "mode": mode,
                "results": results, "thread_scaling_ms": scaling, "peak_extra_memory_mib": memory,
                "per_target_with_grad_ms": targets,
                "not_benchmarked": registry.unregistered(functional), "seconds": time.perf_counter() - started}
    markdown = report.markdown(document)
    print(markdown)
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "latest.json"), "w") as handle:
        json.dump(document, handle, indent=1)
    if not args.no_plot and not report.plot(document, os.path.join(args.results, "latest.png")):
        print("(no PNG: matplotlib is not installed)", file=sys.stderr)
    if args.update_readme:
        report.update_readme(args.readme, markdown)
    print(f"\n(total {document['seconds']:.0f} s)", file=sys.stderr)
    return document


if __name__ == "__main__":
    main()
