"""The bad-input matrix: every public function, every way of calling it wrongly.

Each case builds a valid call from the spec table (reliability_specs.py), breaks one thing,
and checks that the call raises ValueError / TypeError / IndexError whose message names the
broken argument, and that every array the caller passed (bases of views and ``out``
included) is byte-for-byte unchanged. Cases that are legal in torch (0-d and empty arrays)
must either compute or raise one of those exceptions, again leaving the arrays unchanged.
NaN/inf propagation is compared with torch.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

import numpy as np
import pytest
import torch

import fastloss.functional as F
from fastloss import _core
from reliability_specs import (
    CALL_BY_NAME,
    DEDICATED_TESTS,
    LOSSES,
    PUBLIC_CALLS,
    Kwargs,
    LossSpec,
    PublicCall,
    array_leaves,
    fingerprint,
)

CLEAN_ERRORS = (ValueError, TypeError, IndexError)


class Case(NamedTuple):
    call: PublicCall
    what: str
    # mutate(kwargs, rng) -> kwargs (may add arrays the caller owns, e.g. "out")
    mutate: Callable[[Kwargs, np.random.Generator], Kwargs]
    error: Optional[type]  # None: computing is fine too (0-d / empty arrays)
    word: str  # the message must contain this (case-insensitive)
    reduction: Optional[str] = None
    dtype: type = np.float32


def _set(name: str, value_fn: Callable[[Kwargs, np.random.Generator], Any]):
    def mutate(kw: Kwargs, rng: np.random.Generator) -> Kwargs:
        kw = dict(kw)
        kw[name] = value_fn(kw, rng)
        return kw

    return mutate


_BAD_DTYPES: List[Tuple[str, Callable[[np.ndarray], Any]]] = [
    ("int32", lambda a: a.astype(np.int32)),
    ("int64", lambda a: a.astype(np.int64)),
    ("bool", lambda a: a > 0),
    ("complex128", lambda a: a.astype(np.complex128)),
    ("object", lambda a: a.astype(object)),
    ("float16", lambda a: a.astype(np.float16)),
    ("big-endian", lambda a: a.astype(a.dtype.newbyteorder(">"))),
    ("list", lambda a: a.tolist()),
    ("str", lambda a: "input"),
]


# The functions that take float16 (and bfloat16) inputs (test_half_precision.py): there a
# float16 first operand is no error.
_HALF_INPUTS = {*_core.ElementwiseLoss.__members__, *_core.ClassLoss.__members__, *_core.RowLoss.__members__,
                "triplet_margin_with_distance_loss", "sigmoid", "log_sigmoid", "sigmoid_backward",
                "log_sigmoid_backward", "softmax", "log_softmax", "softmax_backward", "log_softmax_backward"}


def _float_operands(call: PublicCall) -> Tuple[str, ...]:
    ops = call.spec.float_operands
    return ops + ("grad_output",) if call.variant == "backward" else ops


def _cases_for(call: PublicCall) -> List[Case]:
    spec = call.spec
    cases: List[Case] = []
    is_loss = isinstance(spec, LossSpec)
    reduction = "none" if call.variant == "backward" else None  # "none": grad_output is an array

    for op in _float_operands(call):
        for label, convert in _BAD_DTYPES:
            if op == "alpha" and label in ("int32", "int64", "bool"):
                continue  # torchvision-style integer alpha is a scalar, not this array
            if op == "target" and label in getattr(spec, "labels", ()):
                continue  # integer or bool labels, taken where torch takes them
            if label == "float16" and op == spec.float_operands[0] and spec.name in _HALF_INPUTS:
                continue
            cases.append(Case(call, f"{op}-{label}", _set(op, lambda kw, rng, op=op, c=convert: c(kw[op])),
                              TypeError, op, reduction))
        if op not in getattr(spec, "optional", ()):
            cases.append(Case(call, f"{op}-None", _set(op, lambda kw, rng: None), TypeError, op, reduction))
        if op not in getattr(spec, "scalar_ok", ()):
            cases.append(Case(call, f"{op}-scalar", _set(op, lambda kw, rng: 0.5), TypeError, op, reduction))
        if op != spec.float_operands[0]:
            cases.append(Case(call, f"{op}-float64-vs-float32-input",
                              _set(op, lambda kw, rng, op=op: kw[op].astype(np.float64)), TypeError, op, reduction))

    for op in spec.shaped:
        cases.append(Case(call, f"{op}-shape-mismatch",
                          _set(op, lambda kw, rng, op=op: np.ones((3, 7), kw[op].dtype)), ValueError, op,
                          reduction))
    if is_loss:
        for op in spec.per_class:
            cases.append(Case(call, f"{op}-wrong-length",
                              _set(op, lambda kw, rng, op=op: np.ones(kw[op].shape[0] + 1, kw[op].dtype)),
                              ValueError, op, reduction))
        if spec.index_target:
            t = spec.index_target
            for label, value in [("C", None), ("minus-1", -1), ("2**40", 2**40), ("-2**40", -(2**40)),
                                 ("2**31", 2**31)]:
                def bad_index(kw, rng, value=value, t=t):
                    target = kw[t].copy()
                    target.flat[target.size // 2] = kw[spec.input].shape[1] if value is None else value
                    return target
                cases.append(Case(call, f"{t}-out-of-range-{label}", _set(t, bad_index), IndexError, "target",
                                  reduction))
            for label, dt in [("int8", np.int8), ("int16", np.int16), ("bool", np.bool_),
                              ("float32", np.float32), ("big-endian", np.dtype(">i8"))]:
                cases.append(Case(call, f"{t}-{label}", _set(t, lambda kw, rng, dt=dt, t=t: kw[t].astype(dt)),
                                  TypeError, "target", reduction))
            cases.append(Case(call, f"{t}-list", _set(t, lambda kw, rng, t=t: kw[t].tolist()), TypeError,
                              "target", reduction))
            cases.append(Case(call, f"{t}-wrong-shape", _set(t, lambda kw, rng, t=t: kw[t][:-1]), ValueError,
                              "target", reduction))
        for overrides, error, word in spec.invalid_options:
            cases.append(Case(call, f"option-{'-'.join(map(str, overrides.values()))}",
                              lambda kw, rng, o=overrides: {**kw, **o}, error, word, reduction))
    else:
        for overrides, error, word in spec.invalid_options:
            cases.append(Case(call, f"option-{'-'.join(map(str, overrides.values()))}",
                              lambda kw, rng, o=overrides: {**kw, **o}, error, word))

    if call.variant == "backward":
        cases.append(Case(call, "grad_output-wrong-shape",
                          _set("grad_output", lambda kw, rng: np.ones((2, 9), kw["grad_output"].dtype)),
                          ValueError, "grad_output", "none"))
        cases.append(Case(call, "grad_output-array-for-sum",
                          _set("grad_output", lambda kw, rng: np.ones(3, np.float32)), ValueError, "grad_output",
                          "sum"))

    if call.has_out:
        inp = spec.float_operands[0]

        def out_like(kw, shape=None, dtype=None, writeable=True):
            a = np.full(shape or kw[inp].shape, 7.0, dtype or kw[inp].dtype)
            a.flags.writeable = writeable
            return a

        cases += [
            Case(call, "out-wrong-shape", _set("out", lambda kw, rng: out_like(kw, shape=(2, 3))), ValueError, "out"),
            Case(call, "out-wrong-dtype", _set("out", lambda kw, rng: out_like(kw, dtype=np.float64)), TypeError,
                 "out"),
            Case(call, "out-read-only", _set("out", lambda kw, rng: out_like(kw, writeable=False)), ValueError, "out"),
            Case(call, "out-list", _set("out", lambda kw, rng: out_like(kw).tolist()), TypeError, "out"),
            Case(call, "out-int32", _set("out", lambda kw, rng: out_like(kw).astype(np.int32)), TypeError, "out"),
        ]
        # out overlapping an operand it must not overwrite: another operand of the input's
        # shape, or a shifted view of the input's own buffer.
        others = [op for op in _float_operands(call)[1:] if op != "grad_output" and op in getattr(spec, "shaped", ())]
        for op in others:
            cases.append(Case(call, f"out-is-{op}", lambda kw, rng, op=op: {**kw, "out": kw[op]}, ValueError, "out"))

        def shifted_view(kw, rng):
            kw = dict(kw)
            base = np.concatenate([kw[inp], kw[inp][..., :1]], axis=-1)
            kw[inp], kw["out"] = base[..., :-1], base[..., 1:]
            kw["__bases__"] = [base]
            return kw

        cases.append(Case(call, "out-overlaps-input-shifted", shifted_view, ValueError, "out"))

    # 0-d and empty arrays: legal shapes for some functions; never a crash or a write.
    for label, shape in [("0d", ()), ("empty", (0, 5)), ("empty-classes", (3, 0))]:
        cases.append(Case(call, f"shape-{label}", lambda kw, rng, shape=shape: _reshaped(call, rng, shape), None, ""))
    return cases


def _reshaped(call: PublicCall, rng: np.random.Generator, shape: Tuple[int, ...]) -> Kwargs:
    try:
        return call.make(rng, np.float32, shape)
    except CLEAN_ERRORS:  # a spec generator that cannot build the shape (e.g. 0 classes)
        kw = call.make(rng, np.float32)
        return {k: (v.reshape(shape) if isinstance(v, np.ndarray) and v.size == int(np.prod(shape)) else v)
                for k, v in kw.items()}


ALL_CASES = [case for call in PUBLIC_CALLS for case in _cases_for(call)]


def _run(case: Case) -> Tuple[Optional[BaseException], Any]:
    rng = np.random.default_rng(7)
    kw = case.call.make(rng, case.dtype, reduction=case.reduction)
    kw = case.mutate(kw, rng)
    bases = kw.pop("__bases__", [])
    owned = [a for v in kw.values() for a in array_leaves(v)] + bases
    owned += [a.base for a in owned if isinstance(a.base, np.ndarray)]
    before = fingerprint(owned)
    error: Optional[BaseException] = None
    result = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = case.call.fn(**kw)
        except CLEAN_ERRORS as err:
            error = err
    assert fingerprint(owned) == before, "a caller array was modified"
    return error, result


def test_every_public_function_has_a_spec():
    missing = sorted(set(F.__all__) - set(CALL_BY_NAME) - set(DEDICATED_TESTS))
    assert not missing, f"public functions without a reliability spec: {missing}"


def test_matrix_size():
    # Reported in the closing note; a floor so cases are not silently lost.
    assert len(ALL_CASES) >= 1500, len(ALL_CASES)


@pytest.mark.parametrize("case", ALL_CASES, ids=[f"{c.call.name}-{c.what}" for c in ALL_CASES])
def test_bad_input(case: Case):
    error, _ = _run(case)
    if case.error is None:
        return  # computed, or a clean exception; arrays unchanged either way
    assert error is not None, f"no error for {case.what}"
    assert isinstance(error, case.error), f"{type(error).__name__}: {error}"
    # sigmoid_focal_loss's arguments are torchvision's plural "inputs"/"targets"; the
    # singular names them too.
    word = case.word.lower().rstrip("s") if case.word in ("inputs", "targets") else case.word.lower()
    assert word in str(error).lower(), f"message does not name {case.word!r}: {error}"


# --- NaN / inf propagation, compared with torch -------------------------------------------

_SPECIALS = [("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)]


def _torch_kwargs(kw: Kwargs) -> Kwargs:
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}


def _nan_cases():
    for spec in LOSSES:
        if spec.torch_name is None:
            continue
        operands = [op for op in spec.float_operands if op not in ("alpha",)]
        if spec.name != "binary_cross_entropy":
            operands.append(spec.index_target) if spec.index_target else None
        for op in filter(None, operands):
            if op == spec.index_target:
                continue
            for label, value in _SPECIALS:
                for reduction in ("none", "mean"):
                    yield pytest.param(spec, op, value, reduction, id=f"{spec.name}-{op}-{label}-{reduction}")


@pytest.mark.parametrize("spec,op,value,reduction", list(_nan_cases()))
def test_nan_and_inf_follow_torch(spec: LossSpec, op: str, value: float, reduction: str):
    rng = np.random.default_rng(3)
    kw = spec.make(rng, np.float64, (4, 5))
    kw["reduction"] = reduction
    kw[op] = kw[op].copy()
    kw[op].flat[1] = value
    owned = [v for v in kw.values() if isinstance(v, np.ndarray)]
    before = fingerprint(owned)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = getattr(torch.nn.functional, spec.torch_name)(**_torch_kwargs(kw)).numpy()
        except (RuntimeError, ValueError):
            expected = None
        if expected is None:
            with pytest.raises(ValueError):
                getattr(F, spec.name)(**kw)
        else:
            got = np.asarray(getattr(F, spec.name)(**kw))
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
            np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
            np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    assert fingerprint(owned) == before
