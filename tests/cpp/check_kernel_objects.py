#!/usr/bin/env python3
"""Checks the per-target kernel objects of one SIMD target.

1. Symbol isolation: every externally visible symbol an object defines (weak ones
   included) lies in namespace fastloss::<target>::. An inline helper or std:: template
   emitted outside it could be merged by the linker with another target's copy, and a CPU
   without AVX-512 would then run an AVX-512 instruction.
2. Vectorization: in every function doing floating-point arithmetic (every kernel loop
   and run_block/apply instantiation, in every *_kernels object: new families are checked
   without being listed), at least MIN_WIDE_SHARE of the floating-point arithmetic
   instructions work on the target's full vector width (ymm for avx2, zmm for avx512,
   packed ...ps/...pd for baseline, a .4s/.2d destination register for neon). A vectorized
   loop keeps a scalar remainder, so the share is well below 1 even when all is well
   (>= 3.8% measured over the kernels with GCC 12, >= 8% with clang 14); a loop GCC left
   scalar has none, or only a stray reduction step (<= 0.6%). GCC leaves the SSE2 and AVX2
   loops scalar without -fno-trapping-math; this catches that. (AVX-512 loops vectorize with
   masking either way.) It also catches a loop vectorized at half width: clang's float32
   terms summed into a float64 accumulator (xmm arithmetic, only the float64 adds in ymm)
   measured 1.4%. The same threshold holds for both compilers; with clang, CMake's CMAKE_NM
   and CMAKE_OBJDUMP are llvm-nm and llvm-objdump, whose output parses alike.

usage: check_kernel_objects.py --target avx2 --nm nm --objdump objdump "obj1;obj2;..."
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

X86_FLOAT_OP = re.compile(r"\b(v?(?:add|sub|mul|div|max|min|sqrt)[sp][sd]|vfn?m(?:add|sub)\d+[sp][sd])\b")
# AArch64 spells scalar and vector arithmetic alike (fadd s0, ... / fadd v0.4s, ...); it also
# has instructions where x86 uses bitwise ones (fneg, fabs) or compares into a mask (fcm*),
# and pairwise (...p) and across-vector (...v) reductions.
ARM_FLOAT_OP = re.compile(
    r"^f(?:add|sub|mulx?|nmul|div|sqrt|abs|neg|abd|max|min|maxnm|minnm|mla|mls|n?madd|n?msub"
    r"|cm(?:eq|ge|gt|le|lt)|cmpe?|ac(?:ge|gt))[pv]?\s")
FLOAT_OP = {"avx2": X86_FLOAT_OP, "avx512": X86_FLOAT_OP, "baseline": X86_FLOAT_OP,
            "neon": ARM_FLOAT_OP}
# Floating-point arithmetic at the target's full vector width (applied to FLOAT_OP matches).
# On neon the destination decides: a reduction (faddp d0, v1.2d) reads a vector but is a
# scalar step, and a .2s vector is half width.
WIDE = {
    "avx2": re.compile(r"%ymm"),
    "avx512": re.compile(r"%zmm"),
    "baseline": re.compile(r"^\S*p[sd]\b"),
    "neon": re.compile(r"^\S+\s+v\d+\.(?:4s|2d)\b"),
}
# A function with at least this many floating-point instructions is a kernel loop, not glue.
MIN_FLOAT_OPS = 8
MIN_WIDE_SHARE = 0.02


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def exported_symbols(nm: str, obj: str) -> list[str]:
    names = []
    for line in run(nm, "-C", "--defined-only", "--extern-only", obj).splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3:
            names.append(parts[2])
    return names


def functions(objdump: str, obj: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in run(objdump, "-d", "--no-show-raw-insn", "-C", obj).splitlines():
        header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if header:
            current = header.group(1)
            out[current] = []
        elif current is not None and "\t" in line:
            out[current].append(line.split("\t", 1)[1])
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True, choices=sorted(WIDE))
    parser.add_argument("--nm", default="nm")
    parser.add_argument("--objdump", default="objdump")
    parser.add_argument("objects", nargs="+", help="object files (';'-separated lists allowed)")
    args = parser.parse_args()
    objects = [o for arg in args.objects for o in arg.split(";") if o]

    prefix = f"fastloss::{args.target}::"
    errors = []
    checked_functions = 0
    for obj in objects:
        for name in exported_symbols(args.nm, obj):
            if not name.startswith(prefix):
                errors.append(f"{obj}: exported symbol outside {prefix}: {name}")
        for name, body in functions(args.objdump, obj).items():
            float_ops = [insn for insn in body if FLOAT_OP[args.target].search(insn)]
            if len(float_ops) < MIN_FLOAT_OPS:
                continue
            checked_functions += 1
            wide = sum(1 for insn in float_ops if WIDE[args.target].search(insn))
            if wide < MIN_WIDE_SHARE * len(float_ops):
                errors.append(f"{obj}: not vectorized for {args.target} ({wide} of {len(float_ops)} "
                              f"float ops full width): {name[:160]}")
    if checked_functions == 0:
        errors.append("no kernel function found to check")
    for e in errors:
        print(e)
    print(f"{args.target}: {len(objects)} objects, {checked_functions} kernel functions checked, "
          f"{len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
