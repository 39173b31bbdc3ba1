"""Shared fixtures: every SIMD target this CPU supports, dtypes, and torch as the referee."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import fastloss
from fastloss import _core

SUPPORTED_TARGETS = list(_core.supported_targets())


@pytest.fixture(params=SUPPORTED_TARGETS)
def simd_target(request):
    """Runs the test once per supported SIMD target, restoring the best one afterwards."""
    previous = fastloss.simd_target()
    _core.force_target(request.param)
    yield request.param
    _core.force_target(previous)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


def tolerances(dtype) -> dict:
    """Parity with torch to float rounding (reductions accumulate in float64 here)."""
    return {"rtol": 2e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-13}


def finite_difference_grad(loss, x, h=1e-6):
    """Central differences of the scalar loss(x) with respect to every element of x (float64)."""
    numeric = np.empty_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        numeric[i] = (loss(xp) - loss(xm)) / (2 * h)
    return numeric


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def optional_import_message(module: str, dependency: str) -> str:
    """In a fresh interpreter: checks that `import fastloss` does not import `dependency`, then
    returns the ImportError message of `import fastloss.<module>` with `dependency` missing."""
    program = (f"import sys, fastloss; assert {dependency!r} not in sys.modules, 'import fastloss imported it'\n"
               f"sys.modules[{dependency!r}] = None\n"
               f"try:\n    import fastloss.{module}\nexcept ImportError as e:\n    print(e)\n")
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
