"""softmax / log_softmax (torch's dim, implicit dim, dtype) and the gradients of the
transforms: softmax_backward, log_softmax_backward (from the output, as aten's
_softmax_backward_data), sigmoid_backward (from the output) and log_sigmoid_backward (from
the input). Parity with torch's autograd to float rounding, central finite differences,
NaN / inf patterns element by element, in place (out=grad_output), strided layouts, bad inputs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import fastloss
import fastloss.functional as F
from conftest import finite_difference_grad, tolerances

TF = torch.nn.functional
aten = torch.ops.aten
SHAPES_DIMS = [((7,), 0), ((6, 9), 1), ((6, 9), 0), ((3, 4, 5), 1), ((3, 4, 5), -1), ((2, 3, 4, 5), 2),
               ((2, 300), 1), ((3, 1000), 1), ((4, 0), 1), ((), 0)]
BACKWARD = {False: F.softmax_backward, True: F.log_softmax_backward}
FORWARD = {False: F.softmax, True: F.log_softmax}


def strided(a):
    """The same values as a view at twice the natural stride along the last axis."""
    if a.ndim == 0:
        return a
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


def torch_softmax_grad(x, g, dim, log):
    tx = torch.from_numpy(np.array(x, order="C")).requires_grad_()
    y = (torch.log_softmax if log else torch.softmax)(tx, dim)
    y.backward(torch.from_numpy(np.array(g, order="C")))
    return y.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("shape,dim", SHAPES_DIMS, ids=str)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_softmax_backward_matches_torch_autograd(simd_target, rng, dtype, shape, dim, log, layout):
    x = rng.normal(0.0, 3.0, shape).astype(dtype)
    g = rng.normal(0.0, 1.0, shape).astype(dtype)
    y, expected = torch_softmax_grad(x, g, dim, log)
    if layout == "strided":
        g, y = strided(g), strided(y)
    got = BACKWARD[log](g, y, dim)
    assert got.dtype == dtype and got.shape == shape
    np.testing.assert_allclose(got, expected, **tolerances(dtype))
    # aten's own kernel on the same output
    direct = getattr(aten, "_log_softmax_backward_data" if log else "_softmax_backward_data")(
        torch.from_numpy(np.array(g, order="C")), torch.from_numpy(np.array(y, order="C")), dim,
        torch.from_numpy(x).dtype)
    np.testing.assert_allclose(got, direct.numpy(), **tolerances(dtype))


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_softmax_backward_in_place(rng, dtype, log, dim):
    x = rng.normal(0.0, 3.0, (4, 6, 5)).astype(dtype)
    y = FORWARD[log](x, dim)
    g = rng.normal(0.0, 1.0, x.shape).astype(dtype)
    expected = BACKWARD[log](g, y, dim)
    for grad in (g.copy(), strided(g.copy())):
        assert BACKWARD[log](grad, y, dim, out=grad) is grad
        np.testing.assert_array_equal(grad, expected)
    out = np.full(x.shape, 7.0, dtype)
    assert BACKWARD[log](g, y, dim, out=out) is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), 1)], ids=str)
def test_softmax_backward_matches_finite_differences(rng, log, shape, dim):
    x = rng.normal(0.0, 2.0, shape)
    g = rng.normal(0.0, 1.0, shape)
    grad = BACKWARD[log](g, FORWARD[log](x, dim), dim)
    numeric = finite_difference_grad(lambda v: float(np.sum(g * FORWARD[log](v, dim))), x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("op", ["sigmoid", "log_sigmoid"])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_sigmoid_backward_matches_torch_autograd(simd_target, rng, dtype, op, layout):
    x = rng.normal(0.0, 10.0, (7, 333)).astype(dtype)
    g = rng.normal(0.0, 1.0, x.shape).astype(dtype)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.sigmoid(tx) if op == "sigmoid" else TF.logsigmoid(tx)
    ty.backward(torch.from_numpy(g))
    if op == "sigmoid":
        y = ty.detach().numpy()
        got = F.sigmoid_backward(strided(g) if layout == "strided" else g, strided(y) if layout == "strided" else y)
        np.testing.assert_allclose(got, aten.sigmoid_backward(torch.from_numpy(g), ty.detach()).numpy(),
                                   **tolerances(dtype))
    else:
        got = F.log_sigmoid_backward(strided(g) if layout == "strided" else g, strided(x) if layout == "strided" else x)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, tx.grad.numpy(), **tolerances(dtype))


@pytest.mark.parametrize("op", ["sigmoid", "log_sigmoid"])
def test_sigmoid_backward_finite_differences_in_place_and_broadcast(rng, op):
    x = rng.normal(0.0, 3.0, (3, 4))
    g = rng.normal(0.0, 1.0, (3, 4))
    forward = F.sigmoid if op == "sigmoid" else F.log_sigmoid
    backward = F.sigmoid_backward if op == "sigmoid" else F.log_sigmoid_backward
    value = (lambda v: F.sigmoid(v)) if op == "sigmoid" else (lambda v: v)
    grad = backward(g, value(x))
    np.testing.assert_allclose(grad, finite_difference_grad(lambda v: float(np.sum(g * forward(v))), x),
                               rtol=1e-6, atol=1e-9)
    g2 = g.copy()
    assert backward(g2, value(x), out=g2) is g2
    np.testing.assert_array_equal(g2, grad)
    # grad_output broadcasts against the operand, as torch's binary ops
    row = g[:1].copy()
    np.testing.assert_array_equal(backward(row, value(x)), backward(np.broadcast_to(row, x.shape).copy(), value(x)))
    if op == "sigmoid":
        np.testing.assert_allclose(backward(row, value(x)),
                                   aten.sigmoid_backward(torch.from_numpy(row), torch.from_numpy(value(x))).numpy())


# --- NaN and inf, element by element against torch --------------------------------------------

SPECIALS = [np.nan, np.inf, -np.inf]


def _same_pattern(got, expected):
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(expected))


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("where", ["grad_output", "output", "input"])
@pytest.mark.parametrize("special", SPECIALS, ids=["nan", "inf", "-inf"])
def test_softmax_backward_specials_follow_torch(dtype, log, where, special):
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 2.0, (4, 5)).astype(dtype)
    g = rng.normal(0.0, 1.0, (4, 5)).astype(dtype)
    if where == "input":  # through the forward, as autograd sees it
        x[1, 2] = special
        y, expected = torch_softmax_grad(x, g, 1, log)
        got = BACKWARD[log](g, FORWARD[log](x, 1), 1)
    else:
        y = FORWARD[log](x, 1)
        (g if where == "grad_output" else y)[1, 2] = special
        expected = getattr(aten, "_log_softmax_backward_data" if log else "_softmax_backward_data")(
            torch.from_numpy(g), torch.from_numpy(y), 1, torch.from_numpy(x).dtype).numpy()
        got = BACKWARD[log](g, y, 1)
    _same_pattern(got, expected)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], **tolerances(dtype))


@pytest.mark.parametrize("op", ["sigmoid", "log_sigmoid"])
@pytest.mark.parametrize("where", ["grad_output", "value"])
@pytest.mark.parametrize("special", SPECIALS + [1e30, -1e30], ids=["nan", "inf", "-inf", "1e30", "-1e30"])
def test_sigmoid_backward_specials_follow_torch(dtype, op, where, special):
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 3.0, 6).astype(dtype)
    g = rng.normal(0.0, 1.0, 6).astype(dtype)
    (g if where == "grad_output" else x)[2] = special
    if op == "sigmoid":
        y = F.sigmoid(x)
        expected = aten.sigmoid_backward(torch.from_numpy(g), torch.from_numpy(y)).numpy()
        got = F.sigmoid_backward(g, y)
    else:
        tx = torch.from_numpy(x).requires_grad_()
        TF.logsigmoid(tx).backward(torch.from_numpy(g))
        expected = tx.grad.numpy()
        got = F.log_sigmoid_backward(g, x)
    _same_pattern(got, expected)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], **tolerances(dtype))


# --- softmax's torch arguments: dim, the implicit dim, dtype ------------------------------------

IMPLICIT = "Implicit dimension choice for {} has been deprecated. Change the call to include dim=X as an argument."


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4), (2, 3, 4, 2)], ids=str)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_implicit_dim_is_torchs_with_its_warning(rng, shape, log):
    x = np.asarray(rng.normal(0.0, 2.0, shape))
    name = "log_softmax" if log else "softmax"
    with pytest.warns(UserWarning) as ours:
        got = FORWARD[log](x)
    with pytest.warns(UserWarning) as theirs:
        expected = getattr(TF, name)(torch.from_numpy(x)).numpy()
    assert str(ours[0].message) == str(theirs[0].message) == IMPLICIT.format(name)
    assert ours[0].filename == __file__  # points at the caller, as torch's
    np.testing.assert_allclose(got, expected, **tolerances(np.float64))
    module = (fastloss.nn.LogSoftmax if log else fastloss.nn.Softmax)()
    with pytest.warns(UserWarning) as from_module:
        np.testing.assert_array_equal(module(x), got)
    assert str(from_module[0].message) == IMPLICIT.format(name) and from_module[0].filename == __file__


def test_explicit_dim_does_not_warn(rng):
    x = rng.normal(size=(3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.softmax(x, dim=1)
        F.log_softmax(x, 0)
        fastloss.nn.Softmax(dim=-1)(x)
        fastloss.nn.LogSoftmax(1)(x)


def test_modules_take_torchs_constructor():
    assert repr(fastloss.nn.Softmax()) == "Softmax(dim=None)"
    assert repr(fastloss.nn.LogSoftmax(dim=2)) == "LogSoftmax(dim=2)"
    with pytest.raises(TypeError):
        fastloss.nn.Softmax(1, 3)  # torch's module has no _stacklevel or dtype


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("source,target", [(np.float32, np.float64), (np.float64, np.float32), (np.int64, np.float32),
                                           (np.int32, np.float64), (np.float16, np.float32),
                                           (np.float32, np.float32)], ids=str)
def test_dtype_casts_the_input_first(rng, log, source, target):
    x = (rng.normal(0.0, 3.0, (4, 7)) * (1 if np.dtype(source).kind == "f" else 3)).astype(source)
    name = "log_softmax" if log else "softmax"
    expected = getattr(torch, name)(torch.from_numpy(x), 1, dtype=getattr(torch, np.dtype(target).name)).numpy()
    for spelling in (target, np.dtype(target).name, np.dtype(target), getattr(torch, np.dtype(target).name)):
        got = FORWARD[log](x, 1, dtype=spelling)
        assert got.dtype == target
        np.testing.assert_allclose(got, expected, **tolerances(target))
    out = np.empty(x.shape, target)
    assert FORWARD[log](x, 1, dtype=target, out=out) is out
    np.testing.assert_allclose(out, expected, **tolerances(target))


def test_dtype_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="dtype"):
        F.softmax(x, 1, dtype=np.int32)
    with pytest.raises(TypeError, match="dtype"):
        F.softmax(x, 1, dtype="bogus")
    with pytest.raises(TypeError, match="out must have dtype float64"):
        F.softmax(x, 1, dtype=np.float64, out=np.empty((2, 3), np.float32))
    wide = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match="out overlaps"):  # a cast cannot be in place
        F.softmax(wide[:, :2], 1, dtype=np.float64, out=wide.view(np.float64))
    with pytest.raises(TypeError, match="real numbers"):
        F.softmax(np.zeros((2, 3), np.complex64), 1, dtype=np.float64)
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.softmax(np.zeros((2, 3), np.int64), 2, dtype=np.float64)


# --- bad inputs of the gradients (the spec table's matrix covers dtypes and out=) --------------

def test_gradient_bad_inputs_name_the_argument():
    g = np.ones((2, 3), np.float32)
    y = np.full((2, 3), 1 / 3, np.float32)
    with pytest.raises(ValueError, match="output of shape \\(3, 2\\) must have grad_output's shape \\(2, 3\\)"):
        F.softmax_backward(g, y.T.copy(), 1)
    with pytest.raises(TypeError, match="output must have dtype float32 \\(grad_output's dtype\\)"):
        F.log_softmax_backward(g, y.astype(np.float64), 1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.softmax_backward(g, y, -3)
    with pytest.raises(TypeError, match="dim must be an integer"):
        F.softmax_backward(g, y, None)
    with pytest.raises(ValueError, match="out overlaps"):
        F.softmax_backward(g, y, 1, out=y)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        F.sigmoid_backward(g, np.ones((3, 2), np.float32))
    with pytest.raises(TypeError, match="input must have dtype float32"):
        F.log_sigmoid_backward(g, np.ones((2, 3)))
    with pytest.raises(ValueError, match="out overlaps"):
        F.log_sigmoid_backward(g, y, out=y)
