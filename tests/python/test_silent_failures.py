"""Regression tests for inputs that once gave a wrong answer without an error (the
reproducers of the issue "One engine, one validation layer, and no silent wrong result").
NaN/inf in gradients and sigmoid_focal_loss's extremes are in test_nan_gradients.py and
test_focal.py; threads, fork and Ctrl-C in test_runtime_safety.py."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss.functional as F
from fastloss import nn


def _record(n: int = 4) -> np.ndarray:
    rec = np.zeros(n, dtype=[("x", "<f8"), ("flag", "<f4")])
    rec["flag"] = 7.0
    return rec


# --- out= that is a field of a structured array ---------------------------------------------


def test_out_field_of_a_structured_array_receives_the_gradient():
    rec = _record()
    field = rec["x"]
    loss, grad = F.mse_loss_with_grad(np.arange(4.0), np.zeros(4), out=field)
    assert grad is field
    np.testing.assert_array_equal(rec["x"], 2 * np.arange(4.0) / 4)
    assert loss == np.mean(np.arange(4.0) ** 2)
    np.testing.assert_array_equal(rec["flag"], 7.0)  # the neighbouring field untouched


def test_out_field_that_is_the_input_works_in_place():
    rec = _record()
    rec["x"] = np.arange(4.0)
    field = rec["x"]
    loss, grad = F.mse_loss_with_grad(field, np.zeros(4), out=field)
    assert grad is field
    assert loss == np.mean(np.arange(4.0) ** 2)  # computed from the values before the write
    np.testing.assert_array_equal(rec["x"], 2 * np.arange(4.0) / 4)
    np.testing.assert_array_equal(rec["flag"], 7.0)


@pytest.mark.parametrize("call", ["backward", "softmax", "sigmoid", "cross_entropy_in_place"])
def test_every_out_writes_a_structured_field(call):
    x = np.linspace(-1, 1, 8).reshape(2, 4)
    rec = np.zeros((2, 4), dtype=[("g", "<f8"), ("flag", "<i4")])
    rec["flag"] = 3
    field = rec["g"]
    if call == "backward":
        expected = F.l1_loss_backward(1.0, x, np.zeros_like(x))
        result = F.l1_loss_backward(1.0, x, np.zeros_like(x), out=field)
    elif call == "softmax":
        expected = F.softmax(x, dim=1)
        result = F.softmax(x, dim=1, out=field)
    elif call == "sigmoid":
        expected = F.sigmoid(x)
        result = F.sigmoid(x, out=field)
    else:
        field[...] = x
        expected = F.cross_entropy_with_grad(x, np.array([1, 3]))[1]
        result = F.cross_entropy_with_grad(field, np.array([1, 3]), out=field)[1]
    assert result is field
    np.testing.assert_array_equal(rec["g"], expected)
    np.testing.assert_array_equal(rec["flag"], 3)


# --- out= whose elements overlap each other -------------------------------------------------


def test_out_repeating_one_element_is_rejected():
    buf = np.zeros(1)
    out = np.lib.stride_tricks.as_strided(buf, shape=(1 << 20,), strides=(0,))
    x = np.ones(1 << 20)
    with pytest.raises(ValueError, match="out has elements that share memory"):
        F.mse_loss_with_grad(x, np.zeros_like(x), out=out)
    assert buf[0] == 0.0


def test_in_place_over_an_input_whose_rows_overlap_is_rejected():
    # Rows of 4 elements, 1 apart: out=input would write what later rows still read
    # (it gave 0.3318 instead of 0.0834).
    buf = np.linspace(-1.0, 1.0, 7)
    x = np.lib.stride_tricks.as_strided(buf, shape=(4, 4), strides=(8, 8))
    before = buf.copy()
    with pytest.raises(ValueError, match="out has elements that share memory"):
        F.mse_loss_with_grad(x, np.zeros((4, 4)), out=x)
    np.testing.assert_array_equal(buf, before)


@pytest.mark.parametrize("fn", [
    lambda x, out: F.softmax(x, 1, out=out),
    lambda x, out: F.cross_entropy_backward(1.0, x, np.array([0, 1, 2, 3]), out=out),
    lambda x, out: F.multi_margin_loss_with_grad(x, np.array([0, 1, 2, 3]), out=out),
])
def test_overlapping_out_is_rejected_by_every_family(fn):
    buf = np.zeros(7)
    out = np.lib.stride_tricks.as_strided(buf, shape=(4, 4), strides=(8, 8))
    with pytest.raises(ValueError, match="out"):
        fn(np.ones((4, 4)), out)


def test_interleaved_out_without_overlap_is_accepted():
    # Strides (2, 3) elements over (3, 2): elements 0, 3, 2, 5, 4, 7, no two alike, although
    # no stride clears the other's span (the exact check enumerates them).
    buf = np.zeros(8)
    out = np.lib.stride_tricks.as_strided(buf, shape=(3, 2), strides=(16, 24))
    x = np.arange(6.0).reshape(3, 2)
    _, grad = F.mse_loss_with_grad(x, np.zeros((3, 2)), reduction="sum", out=out)
    assert grad is out
    np.testing.assert_array_equal(out, 2 * x)


# --- float options that are NaN -------------------------------------------------------------


@pytest.mark.parametrize("fn,kwargs,name", [
    (F.huber_loss, {"delta": float("nan")}, "delta"),
    (F.smooth_l1_loss, {"beta": float("nan")}, "beta"),
    (F.huber_loss_with_grad, {"delta": float("nan")}, "delta"),
    (F.smooth_l1_loss_backward, {"beta": float("nan")}, "beta"),
    (F.cross_entropy, {"label_smoothing": float("nan")}, "label_smoothing"),
    (F.softmax_focal_loss, {"gamma": float("nan")}, "gamma"),
    (F.triplet_margin_loss, {"p": float("nan")}, "p"),
])
def test_nan_options_raise_naming_the_argument(fn, kwargs, name):
    x = np.ones((2, 3))
    if fn in (F.cross_entropy, F.softmax_focal_loss):
        args = (x, np.array([0, 2]))
    elif fn is F.triplet_margin_loss:
        args = (x, x, x)
    elif fn is F.smooth_l1_loss_backward:
        args = (1.0, x, x)
    else:
        args = (x, x)
    with pytest.raises(ValueError, match=name):
        fn(*args, **kwargs)


# --- integer arguments beyond int64 ----------------------------------------------------------


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_ignore_index_beyond_int64_raises_naming_it(value):
    with pytest.raises(ValueError, match="ignore_index must fit a 64-bit integer"):
        F.cross_entropy(np.ones((2, 3)), np.array([0, 1]), ignore_index=value)


@pytest.mark.parametrize("value", [1.5, "3", None, np.array([1])])
def test_ignore_index_of_another_type_raises_naming_it(value):
    with pytest.raises(TypeError, match="ignore_index must be an integer"):
        F.nll_loss(np.ones((2, 3)), np.array([0, 1]), ignore_index=value)


def test_ignore_index_accepts_numpy_integers():
    x, t = np.array([[1.0, 2.0, 3.0], [0.0, 5.0, 1.0]]), np.array([0, 1])
    assert F.cross_entropy(x, t, ignore_index=np.int64(1)) == F.cross_entropy(x, t, ignore_index=1)
    assert F.cross_entropy(x, t, ignore_index=1) != F.cross_entropy(x, t)  # row 1 is left out


# --- fastloss.nn: backward after a call that raised ------------------------------------------


def test_backward_after_a_call_that_raised_raises():
    loss = nn.MSELoss()
    loss(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError), pytest.warns(UserWarning, match="different to the input size"):
        loss(np.ones(3), np.zeros(4))
    with pytest.raises(RuntimeError, match="backward\\(\\) called before a successful call"):
        loss.backward()


def test_backward_uses_the_arrays_as_they_are_when_it_is_called():
    loss = nn.L1Loss(reduction="sum")
    x, y = np.array([1.0, -1.0]), np.zeros(2)
    loss(x, y)
    x *= -1  # no copy is kept: backward sees the new values
    np.testing.assert_array_equal(loss.backward(), [-1.0, 1.0])
