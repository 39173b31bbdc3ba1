#!/usr/bin/env bash
# Builds the C++ core and its GoogleTest suite with AddressSanitizer + UndefinedBehaviorSanitizer
# (the "asan" CMake preset: FASTLOSS_SANITIZE=ON, no Python extension) and runs every test on
# every SIMD target the CPU supports. Any sanitizer report aborts the test, so the script's
# exit status is the verdict. Usage: bash tools/run_sanitizers.sh   (from any directory)
# The preset turns ASan's stack-use-after-return detection off: its fake stack frames are not
# aligned as their locals ask in the runtimes Debian ships (llvm-project#152819, fixed in 2025),
# and the AVX-512 kernels keep 64-byte-aligned locals (lane sums, half tiles), whose aligned
# stores then fault. Every other check (heap, stack and global overflows, leaks, UBSan) stays on.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${FASTLOSS_JOBS:-$(nproc 2>/dev/null || echo 2)}

cmake --preset asan
cmake --build --preset asan -j "$jobs"
# Tests run one at a time: OpenMP threads inside each test already use the cores, and ASan
# multiplies memory per process.
ctest --preset asan -j 1
echo "sanitizers: clean (ASan + UBSan, every GoogleTest case)"
