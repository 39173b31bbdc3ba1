"""Smoke test of an installed fastloss wheel, needing only NumPy: it imports, runs a loss and
its gradient on every SIMD target this CPU supports, picks the best one (on Linux, checked
against the CPU flags the kernel reports), and gives the same sums on 1 and 2 threads.
tools/test.sh and cibuildwheel (pyproject.toml) run it from outside the source tree.

Usage: python tools/wheel_smoke_test.py [--expect-threads] [--pytest]
  --expect-threads: fail unless the build has OpenMP (its default thread count exceeds 1 on
  a machine with several CPUs).
  --pytest: then run the test files that need no torch (pytest and hypothesis installed).
"""

from __future__ import annotations

import os
import pathlib
import sys

import numpy as np

import fastloss
from fastloss import _core

# The Python test files that need neither torch nor a POSIX system.
TORCH_FREE_TESTS = ["test_properties.py", "test_silent_failures.py", "test_concurrency.py"]

# The CPU flags (as /proc/cpuinfo names them) each x86 target needs.
X86_TARGET_FLAGS = {
    "avx2": {"avx2", "fma", "f16c"},
    "avx512": {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq", "avx512vl"},
}


def linux_cpu_flags() -> set[str] | None:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def check_dispatch() -> None:
    compiled, supported = fastloss.compiled_targets(), _core.supported_targets()
    assert supported and set(supported) <= set(compiled), (compiled, supported)
    assert fastloss.simd_target() == supported[-1], (fastloss.simd_target(), supported)
    flags = linux_cpu_flags()
    if flags is not None:
        expected = [t for t, need in X86_TARGET_FLAGS.items() if t in compiled and need <= flags]
        missing = [t for t in expected if t not in supported]
        assert not missing, f"the CPU has {missing} but dispatch does not see it: {supported}"


def check_losses() -> None:
    x = np.linspace(-5, 5, 100_001, dtype=np.float32)
    y = (x > 0).astype(np.float32)
    best = fastloss.simd_target()
    results = {}
    try:
        for target in _core.supported_targets():
            _core.force_target(target)
            loss, grad = fastloss.binary_cross_entropy_with_logits_with_grad(x, y)
            assert np.isfinite(loss) and grad.shape == x.shape and np.isfinite(grad).all()
            results[target] = float(loss)
    finally:
        _core.force_target(best)
    reference = results[best]
    for target, loss in results.items():
        assert abs(loss - reference) <= 1e-6 * abs(reference), results


def check_threads(expect_threads: bool) -> None:
    x = np.random.default_rng(0).standard_normal(1 << 20)
    y = np.random.default_rng(1).standard_normal(1 << 20)
    previous = fastloss.get_num_threads()
    threaded = previous > 1
    try:
        fastloss.set_num_threads(1)
        serial = fastloss.mse_loss(x, y)
        fastloss.set_num_threads(2)
        assert fastloss.mse_loss(x, y) == serial, "sums differ between 1 and 2 threads"
    finally:
        fastloss.set_num_threads(previous)
    if expect_threads and (os.cpu_count() or 1) > 1:
        assert threaded, "built without OpenMP: one thread by default"


def run_torch_free_tests() -> int:
    import pytest

    tests = pathlib.Path(__file__).resolve().parent.parent / "tests" / "python"
    return pytest.main([str(tests / name) for name in TORCH_FREE_TESTS] + ["-q", "-p", "no:cacheprovider"])


def main() -> int:
    check_dispatch()
    check_losses()
    check_threads("--expect-threads" in sys.argv[1:])
    print("wheel smoke test ok:", fastloss.__file__, fastloss.simd_target(),
          fastloss.compiled_targets(), fastloss.get_num_threads(), "threads")
    return run_torch_free_tests() if "--pytest" in sys.argv[1:] else 0


if __name__ == "__main__":
    sys.exit(main())
