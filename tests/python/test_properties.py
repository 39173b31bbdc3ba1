"""Property-based tests (hypothesis) for every loss in the spec table: random shapes, strides,
dtypes and reductions against the NumPy float64 reference; the fused call equals forward and
backward (its loss bitwise, on every SIMD target); backward equals central finite differences
(float64, away from kinks)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reliability_specs import LOSSES, LossSpec, grad_output_for

import fastloss.functional as F

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Specs with a NumPy reference (a spec without one is covered by the bad-input matrix only).
REFERENCED = [s for s in LOSSES if s.reference is not None]
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)


def _strided(kw, spec, step):
    """Every float operand of the input's shape as a strided view (``[..., ::step]``)."""
    out = dict(kw)
    for name in spec.float_operands:
        a = kw.get(name)
        if isinstance(a, np.ndarray) and a.ndim and a.shape == kw[spec.input].shape:
            wide = np.repeat(a, step, axis=-1)
            out[name] = wide[..., ::step]
    return out


def _quiet(fn, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(**kw)


@pytest.mark.parametrize("spec", REFERENCED, ids=[s.name for s in REFERENCED])
@SETTINGS
@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64]), step=st.sampled_from([1, 2]),
       reduction=st.sampled_from(["none", "mean", "sum"]), seed=st.integers(0, 2**31))
def test_forward_matches_reference_and_fused(spec: LossSpec, shape, dtype, step, reduction, seed):
    kw = _strided(spec.make(np.random.default_rng(seed), dtype, shape), spec, step)
    kw["reduction"] = reduction
    ref64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
             for k, v in kw.items()}
    per_element = spec.reference(ref64)
    if reduction == "none":
        expected = per_element
    elif reduction == "sum":
        expected = np.sum(per_element)
    else:
        divisor = spec.mean_divisor(ref64) if spec.mean_divisor else per_element.size
        expected = np.sum(per_element) / divisor
    got = _quiet(getattr(F, spec.name), **kw)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, **tol)

    fused = _quiet(getattr(F, spec.name + "_with_grad"), **kw)
    np.testing.assert_allclose(np.asarray(fused[0], np.float64), np.asarray(got, np.float64), **tol)
    grads = _quiet(getattr(F, spec.name + "_backward"), grad_output=grad_output_for(spec, kw), **kw)
    grads = grads if isinstance(grads, tuple) else (grads,)
    np.testing.assert_allclose(fused[1], grads[0], **tol)


FUSED = [s for s in LOSSES if hasattr(F, s.name + "_with_grad")]


@pytest.mark.parametrize("spec", FUSED, ids=[s.name for s in FUSED])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_loss_equals_the_forward_bitwise(simd_target, spec: LossSpec, dtype):
    # Rows shorter than, around and beyond the vector widths and the loops' blocks, on every
    # target: the fused pass sums each row in the forward's order (an `omp simd reduction`
    # once let clang order a loss-only and a loss-and-gradient loop differently).
    for shape in [(37, 13), (7, 300), (3, 2500), (5000,)]:
        for reduction in ("none", "sum", "mean"):
            kw = dict(spec.make(np.random.default_rng(1), dtype, shape), reduction=reduction)
            fused = _quiet(getattr(F, spec.name + "_with_grad"), **kw)
            np.testing.assert_array_equal(fused[0], _quiet(getattr(F, spec.name), **kw),
                                          err_msg=f"{shape} {reduction}")


@pytest.mark.parametrize("spec", REFERENCED, ids=[s.name for s in REFERENCED])
@SETTINGS
@given(shape=shapes, seed=st.integers(0, 2**31))
def test_backward_matches_finite_differences(spec: LossSpec, shape, seed):
    kw = spec.make(np.random.default_rng(seed), np.float64, shape)
    kw["reduction"] = "sum"
    x = kw[spec.input]
    if spec.kink_distance is not None and np.min(spec.kink_distance(kw)) < 1e-3:
        return  # a kink within the step: the derivative is one-sided there
    grad = _quiet(getattr(F, spec.name + "_backward"), grad_output=1.0, **kw)
    grad = grad[0] if isinstance(grad, tuple) else grad
    h = 1e-6
    numeric = np.empty_like(x)
    for i in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus.flat[i] += h
        minus.flat[i] -= h
        f_plus = float(_quiet(getattr(F, spec.name), **{**kw, spec.input: plus}))
        f_minus = float(_quiet(getattr(F, spec.name), **{**kw, spec.input: minus}))
        numeric.flat[i] = (f_plus - f_minus) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)
