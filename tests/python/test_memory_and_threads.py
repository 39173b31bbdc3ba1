"""Zero copy (no full-size temporaries, in-place gradients), thread determinism, run-time
introspection (SIMD targets, FASTLOSS_TARGET, thread settings)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import tracemalloc

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
from fastloss import _core

N = 1 << 22  # 16 MiB of float32: any full-size copy shows up clearly


def peak_traced_bytes(fn):
    """Peak bytes NumPy allocated during fn() (NumPy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N).astype(np.float32)
    y = rng.uniform(0, 1, N).astype(np.float32)
    return x, y


@pytest.mark.parametrize("fn", [F.binary_cross_entropy_with_logits, F.mse_loss])
def test_reduced_forward_allocates_nothing_full_size(big, fn):
    x, y = big
    assert peak_traced_bytes(lambda: fn(x, y)) < N  # far below one 4N-byte copy


@pytest.mark.parametrize("fn", [F.binary_cross_entropy_with_logits_with_grad, F.mse_loss_with_grad])
def test_strided_views_are_not_copied(big, fn):
    x, y = big
    xs, ys = x.reshape(1024, -1)[:, ::2], y.reshape(1024, -1)[:, ::2]  # non-contiguous halves
    out = np.empty(xs.shape, np.float32)
    peak = peak_traced_bytes(lambda: fn(xs, ys, out=out))
    assert peak < N // 4, peak  # per-thread staging blocks only


def test_in_place_gradient_writes_into_input_and_allocates_nothing(big):
    x, y = big
    x = x.copy()
    expected_loss, expected_grad = F.binary_cross_entropy_with_logits_with_grad(x, y)
    result = {}
    peak = peak_traced_bytes(lambda: result.update(pair=F.binary_cross_entropy_with_logits_with_grad(x, y, out=x)))
    loss, grad = result["pair"]
    assert grad is x
    assert peak < N
    assert loss == expected_loss
    np.testing.assert_array_equal(x, expected_grad)


def test_in_place_on_a_strided_view(big):
    x, y = big
    base = x.reshape(2048, -1).copy()
    view, target = base[:, 1::3], y.reshape(2048, -1)[:, 1::3]
    expected_loss, expected_grad = F.mse_loss_with_grad(view, target)
    loss, grad = F.mse_loss_with_grad(view, target, out=view)
    assert grad is view and loss == expected_loss
    np.testing.assert_array_equal(base[:, 1::3], expected_grad)


def test_out_must_not_partially_overlap_an_operand(big):
    x, y = big
    x = x[:1000].copy()
    y = y[:1000].copy()
    with pytest.raises(ValueError, match="out overlaps"):
        F.mse_loss_with_grad(x[1:], y[1:], out=x[:-1])
    with pytest.raises(ValueError, match="out overlaps"):
        F.mse_loss_with_grad(x, y, out=y)
    with pytest.raises(ValueError, match="out must be writeable"):
        ro = np.empty_like(x)
        ro.flags.writeable = False
        F.mse_loss_with_grad(x, y, out=ro)
    with pytest.raises(ValueError, match=r"out must have shape \(1000,\)"):
        F.mse_loss_with_grad(x, y, out=np.empty(999, np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32"):
        F.mse_loss_with_grad(x, y, out=np.empty(1000, np.float64))


@pytest.mark.parametrize("fn", [F.binary_cross_entropy_with_logits, F.mse_loss])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reductions_are_bitwise_identical_for_any_thread_count(big, fn, dtype):
    x, y = (a[: 3 * 10**6 + 17].astype(dtype) for a in big)
    before = fastloss.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3, 5, 8):
            fastloss.set_num_threads(n)
            results.append((fn(x, y).tobytes(), fn(x, y, reduction="sum").tobytes()))
        assert all(r == results[0] for r in results)
    finally:
        fastloss.set_num_threads(before)


def test_gil_is_released_during_kernels(big):
    """Two Python threads computing at once give the serial answers (and do not deadlock)."""
    x, y = big
    expected = F.mse_loss(x, y)
    results = []
    threads = [threading.Thread(target=lambda: results.append(F.mse_loss(x, y))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


def test_thread_settings():
    before = fastloss.get_num_threads()
    try:
        fastloss.set_num_threads(3)
        assert fastloss.get_num_threads() == 3
        for bad in (0, -1):
            with pytest.raises(ValueError, match="number of threads must be at least 1"):
                fastloss.set_num_threads(bad)
    finally:
        fastloss.set_num_threads(before)


@pytest.mark.parametrize("bad, error", [(2**31, OverflowError), (10**30, OverflowError),
                                        (2.5, TypeError), ("4", TypeError), (None, TypeError)])
def test_set_num_threads_rejects_what_is_not_a_thread_count_naming_n(bad, error):
    with pytest.raises(error, match=r"got n=") as raised:
        fastloss.set_num_threads(bad)
    assert "incompatible function arguments" not in str(raised.value)


def test_set_num_threads_accepts_numpy_integers():
    before = fastloss.get_num_threads()
    try:
        fastloss.set_num_threads(np.int64(2))
        assert fastloss.get_num_threads() == 2
    finally:
        fastloss.set_num_threads(before)


def run_python(code, **env):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **env}, check=False)
    return result


# Counts the threads a large call adds to a fresh process (OpenMP keeps its workers, idle,
# after the call): first with the process pinned to one CPU, then on all of its CPUs.
THREADS_STARTED_BY_A_HUGE_SETTING = """
import os
import numpy as np
import fastloss
import fastloss.functional as F
cpus = sorted(os.sched_getaffinity(0))
x = np.ones(1 << 24, np.float32)  # 512 chunks: work for hundreds of threads
def threads_started():
    before = len(os.listdir("/proc/self/task"))
    assert F.mse_loss(x, 0.5 * x) == 0.25
    return len(os.listdir("/proc/self/task")) - before
os.sched_setaffinity(0, cpus[:1])
fastloss.set_num_threads(10**9)
print(threads_started(), end=" ")
os.sched_setaffinity(0, cpus)
print(threads_started(), len(cpus), fastloss.get_num_threads())
"""


def test_kernels_start_no_more_threads_than_the_cpus_available():
    result = run_python(THREADS_STARTED_BY_A_HUGE_SETTING)
    assert result.returncode == 0, result.stderr
    pinned, unpinned, cpus, setting = map(int, result.stdout.split())
    assert setting == 10**9  # the setting is kept; kernels cap it
    assert pinned == 0
    assert unpinned <= cpus - 1  # the calling thread is one of the team


def test_omp_num_threads_is_respected():
    result = run_python("import fastloss; print(fastloss.get_num_threads())", OMP_NUM_THREADS="3")
    assert result.stdout.strip() == "3", result.stderr


def test_targets_introspection():
    compiled = fastloss.compiled_targets()
    assert fastloss.simd_target() in compiled
    assert set(_core.supported_targets()) <= set(compiled)
    assert fastloss.simd_target() == _core.supported_targets()[-1]


@pytest.mark.parametrize("target", list(_core.supported_targets()))
def test_fastloss_target_environment_variable_forces_a_target(target):
    result = run_python("import fastloss; print(fastloss.simd_target())", FASTLOSS_TARGET=target)
    assert result.stdout.strip() == target, result.stderr


def test_unknown_target_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown SIMD target 'sse9'"):
        _core.force_target("sse9")
