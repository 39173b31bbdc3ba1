"""atheris fuzz target for the bindings: every public function, random arrays and options.

Each input drives one call: a public function from the spec table (tests/python/
reliability_specs.py), a valid argument set from its spec, then a few mutations chosen by the
fuzzer (dtype, shape, strides, 0-d/empty, NaN/inf, out-of-range class indices, option values,
`out` arrays, swapped or dropped operands). A clean ValueError/TypeError/IndexError (or a
warning) is fine; anything else -- a crash, a sanitizer report, another exception type, or a
caller array modified by a call that raised -- is a finding.

Bounded CI run (iterations are printed by libFuzzer as "#N DONE"):
    python tests/fuzz/fuzz_bindings.py -runs=20000 -max_total_time=60
"""

from __future__ import annotations

import os
import sys
import warnings

import atheris
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))

with atheris.instrument_imports():
    import fastloss  # noqa: F401
    import fastloss.functional as F  # noqa: F401

from reliability_specs import PUBLIC_CALLS, array_leaves, fingerprint  # noqa: E402

CLEAN_ERRORS = (ValueError, TypeError, IndexError)
DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.bool_, np.complex64,
          np.dtype(">f8"), np.dtype(">f4"), np.uint8]
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 1e-320]
OPTION_VALUES = [None, "none", "mean", "sum", "batchmean", "bogus", -1.0, 0.0, 1.0, 1.5, -100, 2**40,
                 -(2**63), float("nan"), float("inf"), True, False, "", [1.0], np.float32(2.0)]


def _mutate_array(fdp: atheris.FuzzedDataProvider, a: np.ndarray):
    choice = fdp.ConsumeIntInRange(0, 9)
    if choice == 0:
        return a.astype(DTYPES[fdp.ConsumeIntInRange(0, len(DTYPES) - 1)])
    if choice == 1 and a.size:
        a = a.copy()
        a.flat[fdp.ConsumeIntInRange(0, a.size - 1)] = SPECIALS[fdp.ConsumeIntInRange(0, len(SPECIALS) - 1)] \
            if a.dtype.kind == "f" else fdp.ConsumeIntInRange(-(2**40), 2**40)
        return a
    if choice == 2 and a.ndim:
        return a[..., ::2] if fdp.ConsumeBool() else a[::-1]
    if choice == 3:
        return a.reshape(-1) if fdp.ConsumeBool() else a.T
    if choice == 4 and a.ndim:
        return np.broadcast_to(a[..., :1], a.shape)
    if choice == 5:
        return a[..., :0] if a.ndim else a.reshape(1)
    if choice == 6:
        return a.tolist()
    if choice == 7:
        return np.asarray(a.reshape(-1)[0] if a.size else 0.0)
    if choice == 8 and a.ndim:
        return np.ascontiguousarray(np.swapaxes(a, 0, -1))
    return a


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    call = PUBLIC_CALLS[fdp.ConsumeIntInRange(0, len(PUBLIC_CALLS) - 1)]
    ndim = fdp.ConsumeIntInRange(0, 4)
    shape = tuple(fdp.ConsumeIntInRange(0, 6) for _ in range(ndim))
    dtype = np.float32 if fdp.ConsumeBool() else np.float64
    reduction = ["none", "mean", "sum"][fdp.ConsumeIntInRange(0, 2)]
    rng = np.random.default_rng(fdp.ConsumeIntInRange(0, 1000))
    try:
        kw = call.make(rng, dtype, shape, reduction)
    except CLEAN_ERRORS:
        return  # the spec's generator cannot build this shape for this loss
    names = list(kw)
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        name = names[fdp.ConsumeIntInRange(0, len(names) - 1)]
        value = kw[name]
        if isinstance(value, np.ndarray):
            try:
                kw[name] = _mutate_array(fdp, value)
            except (ValueError, OverflowError):
                pass  # the mutation itself does not fit the array (e.g. 2**40 into int32)
        else:
            kw[name] = OPTION_VALUES[fdp.ConsumeIntInRange(0, len(OPTION_VALUES) - 1)]
    if call.has_out and fdp.ConsumeBool():
        arrays = [v for v in kw.values() if isinstance(v, np.ndarray)]
        if arrays and fdp.ConsumeBool():
            kw["out"] = arrays[fdp.ConsumeIntInRange(0, len(arrays) - 1)]  # aliasing an operand
        elif arrays:
            kw["out"] = np.zeros_like(arrays[0]) if fdp.ConsumeBool() else np.zeros(shape[:-1] or (1,), dtype)
    owned = [a for v in kw.values() for a in array_leaves(v)]
    owned += [a.base for a in owned if isinstance(a.base, np.ndarray)]
    before = fingerprint(owned)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call.fn(**kw)
        except CLEAN_ERRORS:
            if fingerprint(owned) != before:
                raise AssertionError(f"{call.name} raised but modified a caller array")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
