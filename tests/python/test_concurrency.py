"""Concurrency: the GIL is released around kernels, so Python threads run losses at once.

8 threads calling every loss's fused entry point must give results bitwise identical to
serial calls; set_num_threads from one thread while others compute must not crash or change
any result (reductions are bitwise identical for any thread count).
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastloss
from reliability_specs import PUBLIC_CALLS

THREADS = 8
# One call of each public function, on arrays big enough that kernels overlap in time.
CALLS = [c for c in PUBLIC_CALLS if c.variant in ("with_grad", "map", "forward")]


def _call(call, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = call.fn(**kw)
    return result if isinstance(result, tuple) else (result,)


def _argsets():
    rng = np.random.default_rng(11)
    return [(call, call.make(rng, dtype, (64, 257), "sum" if call.variant != "map" else None))
            for call in CALLS for dtype in (np.float32, np.float64)]


def _assert_same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_eight_threads_match_serial():
    work = _argsets()
    serial = [_call(call, kw) for call, kw in work]
    jobs = work * THREADS
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda job: _call(*job), jobs))
    for i, result in enumerate(results):
        _assert_same(result, serial[i % len(work)])


def test_set_num_threads_while_computing():
    previous = fastloss.get_num_threads()
    work = _argsets()
    serial = [_call(call, kw) for call, kw in work]
    stop = threading.Event()

    def flip():
        n = 1
        while not stop.is_set():
            fastloss.set_num_threads(n)
            n = n % 4 + 1

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            for _ in range(3):
                results = list(pool.map(lambda job: _call(*job), work))
                for result, expected in zip(results, serial):
                    _assert_same(result, expected)
    finally:
        stop.set()
        flipper.join()
        fastloss.set_num_threads(previous)


def test_set_num_threads_rejects_nonpositive():
    with pytest.raises(ValueError):
        fastloss.set_num_threads(0)
