"""The one benchmark harness: quick.py, run.py and bench_cross_entropy.py time, check and
measure every case through it, and it holds the one definition of "out of cache".

- time_case: a registry case's calls for every library (fastloss, NumPy, and torch / JAX
  where installed), checked against NumPy's reference before anything is timed (the check
  is also each call's warm-up), then timed with interleaved_medians_ms;
- peak_extra_memory: peak resident memory a fused call adds, in a fresh process;
- OUT_OF_CACHE_BYTES, out_of_cache, out_of_cache_size: when a size is past the caches, and
  the size to use where a measurement must be;
- run.py's extras: the bandwidth probes, thread scaling and per-SIMD-target timings.

It lives in measure.py, where run.py's harness already was, rather than in a new module:
its peak-memory and per-target measurements run in fresh processes that execute this very
file, and those need the same call builders, so one file holds both.

    python bench/measure.py memory CASE THREADS SIZE LIBRARY  # child: peak extra MiB as JSON
    python bench/measure.py target THREADS REPEATS CASES..  # child: fused-pass ms under FASTLOSS_TARGET
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import registry
from registry import CLASSES, ELEMENTWISE, LM_HEAD, SEQUENCES, Case, Inputs

Calls = Dict[str, Callable[[], Any]]

# --- out of cache: the one definition ---------------------------------------------------------

# A case runs out of cache when its main input alone is at least 32 MiB of float32 (2^23
# elements): the whole L3 of the 2-core machine the results come from, so every pass streams
# at least twice the L3 from memory (two such inputs, or one read and its gradient written).
# The bandwidth target is judged there (report.py), --quick adds such a size to each
# memory-bound loss (run.py), the peak-memory and per-target measurements run there, and the
# bandwidth probes stream twice as much.
OUT_OF_CACHE_BYTES = 1 << 25
_FLOAT32_BYTES = 4
# (N, C) out of cache: rows of 2048 classes (8 KiB), between the suite's 1000 and 32000.
_OUT_OF_CACHE_CLASSES = 2048
# (T, N, C, S) out of cache: 512 x 64 x 256 log-probabilities, targets of 100 labels.
_OUT_OF_CACHE_SEQUENCES = (512, 64, 256, 100)
# (N, V, d) out of cache: 256 x 32768 logits (a 32k vocabulary), d = 1024.
_OUT_OF_CACHE_LM_HEAD = (256, 32768, 1024)
# Each kind's smallest inputs, for warming a process up before a measurement.
_TINY_SIZE = {ELEMENTWISE: 64, CLASSES: (4, 3), SEQUENCES: (12, 2, 5, 3), LM_HEAD: (4, 8, 4)}


def out_of_cache(case: Case, size: Any) -> bool:
    """Whether this size of the case is past every cache (see OUT_OF_CACHE_BYTES)."""
    return case.main_input_elements(size) * _FLOAT32_BYTES >= OUT_OF_CACHE_BYTES


def out_of_cache_size(case: Case) -> Any:
    """The smallest size of the case's kind that is out of cache: 2^23 elements, 4096x2048,
    512x64x256 (and targets of 100) or 256x32768 logits (d = 1024)."""
    elements = OUT_OF_CACHE_BYTES // _FLOAT32_BYTES
    if case.kind == SEQUENCES:
        return _OUT_OF_CACHE_SEQUENCES
    if case.kind == LM_HEAD:
        return _OUT_OF_CACHE_LM_HEAD
    return (elements // _OUT_OF_CACHE_CLASSES, _OUT_OF_CACHE_CLASSES) if case.kind == CLASSES else elements


# --- timing ----------------------------------------------------------------------------------


# The float type of the timed inputs (run.py --dtype): float32, or float16 / bfloat16, whose
# inputs are the float32 ones rounded, the same half values for every library (torch gets
# half tensors, JAX half arrays; NumPy's reference computes on them widened to float32).
# Children inherit it through the environment.
DTYPE_VARIABLE = "FASTLOSS_BENCH_DTYPE"
DTYPES = ("float32", "float16", "bfloat16")
# The check's relative tolerance for half results: a few ULPs of their 11 or 8 bits.
HALF_RTOL = {"float16": 2e-3, "bfloat16": 1.6e-2}


def bench_dtype() -> str:
    return os.environ.get(DTYPE_VARIABLE, "float32")


def set_dtype(name: str) -> None:
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {name!r}")
    os.environ[DTYPE_VARIABLE] = name


def _numpy_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes  # the benchmark's optional dependency for bfloat16, as the tests'

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _is_half(a: np.ndarray) -> bool:
    return a.dtype.itemsize == 2 and (a.dtype.kind == "f" or a.dtype.name == "bfloat16")


def case_inputs(case: Case, size: Any) -> Inputs:
    """The case's inputs at `size`, their float32 arrays in bench_dtype()."""
    inputs = case.make(np.random.default_rng(0), size)
    if bench_dtype() == "float32":
        return inputs
    dtype = _numpy_dtype(bench_dtype())
    return tuple(a.astype(dtype) if a.dtype == np.float32 else a for a in inputs)


def _widened(inputs: Inputs) -> Inputs:
    return tuple(a.astype(np.float32) if _is_half(a) else a for a in inputs)


def _tensor(a: np.ndarray) -> Any:
    """A tensor over `a`'s memory (bfloat16 through an int16 view: torch.from_numpy knows no
    ml_dtypes)."""
    import torch

    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _array(t: Any) -> np.ndarray:
    """A tensor's memory as a NumPy array, without a copy (bfloat16 as ml_dtypes')."""
    import torch

    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(_numpy_dtype("bfloat16"))
    return t.numpy()


def set_threads(threads: int) -> None:
    """The same thread count for fastloss and torch (JAX sizes XLA's pool at import: all CPUs)."""
    import fastloss

    fastloss.set_num_threads(threads)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def setup_line(threads: int, repeats: int) -> str:
    """How a script's numbers were made, its SIMD target included."""
    import fastloss

    return (f"fastloss {fastloss.__version__} on {fastloss.simd_target()}, {threads} threads for every library, "
            f"{bench_dtype()}, median of {repeats} interleaved runs; times in ms")


def interleaved_medians_ms(libraries: Dict[str, Callable[[], Any]], repeats: int,
                           warm_up: bool = True) -> Dict[str, float]:
    """Warm each call up (unless the caller already ran it), then time one call of every
    library per round, rotating the order each round so that drift in the machine's state
    hits every library alike."""
    if warm_up:
        for call in libraries.values():
            call()
    names = list(libraries)
    times: Dict[str, List[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            libraries[name]()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


class BandwidthProbe:
    """Streaming NumPy passes over arrays twice the out-of-cache size, split over all threads:
    a read (the faster of a float32 sum and max; a sum alone can be compute-bound) and a copy
    (bytes read + written). They join each case's interleaved rounds, so the "% of memory
    bound" of a case is measured against the bandwidth of the same moments: on a shared
    machine it drifts by tens of percent within minutes."""

    def __init__(self, threads: int, nbytes: int = 2 * OUT_OF_CACHE_BYTES) -> None:
        self.nbytes = nbytes
        self.source = np.ones(nbytes // 4, np.float32)
        self.target = np.ones_like(self.source)  # written, so paged in before any timing
        self.pool = ThreadPoolExecutor(threads)
        self.parts = [slice(p[0], p[-1] + 1) for p in np.array_split(np.arange(self.source.size), threads)]

    def _run(self, kernel: Callable[[slice], Any]) -> None:
        list(self.pool.map(kernel, self.parts))

    def read_sum(self) -> None:
        self._run(lambda part: np.add.reduce(self.source[part]))

    def read_max(self) -> None:
        self._run(lambda part: np.maximum.reduce(self.source[part]))

    def copy(self) -> None:
        self._run(lambda part: np.copyto(self.target[part], self.source[part]))

    def calls(self) -> Dict[str, Callable[[], Any]]:
        return {"_read_sum": self.read_sum, "_read_max": self.read_max, "_copy": self.copy}

    def bandwidth(self, ms: Dict[str, float]) -> Dict[str, float]:
        """GB/s from the medians of calls()'s entries."""
        return {"read_gbs": self.nbytes / (min(ms["_read_sum"], ms["_read_max"]) / 1e3) / 1e9,
                "copy_gbs": 2 * self.nbytes / (ms["_copy"] / 1e3) / 1e9}

    def memory_bound(self, case: Case, inputs: Inputs, pass_name: str, ms: Dict[str, float]) -> Dict[str, Any]:
        """The pass's bytes that must move, the bandwidth of its rounds, and fastloss's % of it:
        against the read bandwidth for a loss's forward, the copy bandwidth for passes that write."""
        bandwidth = self.bandwidth(ms)
        moved = case.bytes_moved(inputs, pass_name)
        reference = bandwidth["read_gbs"] if pass_name == "forward" and not case.transform else bandwidth["copy_gbs"]
        return {"bytes": moved, "bandwidth": bandwidth,
                "percent_of_memory_bound": 100.0 * (moved / (ms["fastloss"] / 1e3) / 1e9) / reference}


def memory_bandwidth(probe: BandwidthProbe, repeats: int = 5) -> Dict[str, float]:
    """Best-of-repeats read and copy bandwidth in GB/s at this moment."""
    calls = probe.calls()
    for call in calls.values():  # warm-up, once
        call()
    best = {name: min(interleaved_medians_ms({name: call}, 1, warm_up=False)[name] for _ in range(repeats))
            for name, call in calls.items()}
    return {**probe.bandwidth(best), "bytes": probe.nbytes}


# --- the libraries ---------------------------------------------------------------------------


def output_buffer(case: Case, inputs: Inputs, first: Optional[np.ndarray] = None) -> Any:
    """The preallocated gradient (or output) the timed fastloss calls write into, paged in:
    one like inputs[0] (or ``first``), or for a case with ``out_nones`` the tuple of one per
    input in ``case.grads`` (the first ``first``) and the Nones."""
    def paged(array: np.ndarray) -> np.ndarray:
        out = np.empty_like(array)
        out.fill(0)
        return out

    buffers = [paged(inputs[i]) if k or first is None else first for k, i in enumerate(case.grads)]
    return (*buffers, *[None] * case.out_nones) if case.out_nones else buffers[0]


def fastloss_calls(functional: Any, case: Case, inputs: Inputs, out: Any) -> Calls:
    forward = getattr(functional, case.name)
    kw = case.kwargs
    if case.transform:
        return {"forward": lambda: forward(*inputs, **kw, out=out)}
    backward = getattr(functional, case.name + "_backward")
    with_grad = getattr(functional, case.name + "_with_grad")
    calls = {
        "forward": lambda: forward(*inputs, **kw),
        "backward": lambda: backward(1.0, *inputs, **kw, out=out),
        "with_grad": lambda: with_grad(*inputs, **kw, out=out),
    }
    return {pass_name: call for pass_name, call in calls.items() if pass_name in case.passes}


def _as_tuple(result: Any) -> Tuple[Any, ...]:
    return result if isinstance(result, tuple) else (result,)


def _flat(result: Any) -> Tuple[Any, ...]:
    """A result's values in order, nested tuples flattened and Nones dropped: fastloss's
    (loss, (grad_input, grad_linear_weight, None)) as (loss, grad_input, grad_linear_weight)."""
    if isinstance(result, tuple):
        return tuple(value for part in result for value in _flat(part))
    return () if result is None else (result,)


def in_place_calls(functional: Any, case: Case, inputs: Inputs) -> Calls:
    """fastloss's fused pass writing its gradient (or output) over a copy of the first input
    (any other gradient into a buffer allocated beforehand). From its second call on it reads
    what it wrote: timings of it assume a kernel whose cost does not depend on the values
    (cross_entropy's exp and log)."""
    own = (inputs[0].copy(), *inputs[1:])
    return {case.fused_pass: fastloss_calls(functional, case, own, output_buffer(case, own, own[0]))[case.fused_pass]}


def numpy_calls(case: Case, inputs: Inputs) -> Calls:
    inputs = _widened(inputs)
    calls: Calls = {"forward": lambda: case.value(np, *inputs)}
    if not case.transform:
        calls["backward"] = lambda: case.numpy_grad(*inputs)
        calls["with_grad"] = lambda: (case.value(np, *inputs), *_as_tuple(case.numpy_grad(*inputs)))
    return {pass_name: call for pass_name, call in calls.items() if pass_name in case.passes}


# torch.compile's compile time per (case, input shapes): the first call of each pass, made
# when its calls are built, so that no timed call compiles. time_case reports it apart.
COMPILE_SECONDS: Dict[Tuple[str, Tuple[Tuple[int, ...], ...]], float] = {}
# The harness's tests use "aot_eager" (no C++ compiler run), in their children too.
TORCH_COMPILE_BACKEND = os.environ.get("FASTLOSS_BENCH_TORCH_COMPILE_BACKEND", "inductor")


def torch_calls(case: Case, inputs: Inputs, compiled: bool = False) -> Optional[Calls]:
    """torch eager's calls, or with ``compiled`` torch.compile's (Inductor: one generated,
    fused C++/OpenMP loop per graph; forward under no_grad and forward+backward compile apart)."""
    try:
        import torch
    except ImportError:
        return None
    if case.torch_call is None:
        return None
    loss_of = case.torch_call
    if compiled:
        # A fresh cache per case: Dynamo compiles one code object at most cache_size_limit times.
        torch._dynamo.reset()
        compiled_call = torch.compile(lambda *operands: case.torch_call(torch, *operands), dynamic=False,
                                      backend=TORCH_COMPILE_BACKEND)

        def loss_of(torch_module: Any, *operands: Any) -> Any:
            return compiled_call(*operands)

    tensors = [_tensor(a) for a in inputs]

    def forward() -> Any:
        with torch.no_grad():
            return loss_of(torch, *tensors)

    calls: Calls = {"forward": forward}
    if not case.transform:
        _add_torch_gradients(calls, case, inputs, tensors, loss_of)
    calls = {pass_name: call for pass_name, call in calls.items() if pass_name in case.passes}
    if compiled:
        start = time.perf_counter()
        for call in calls.values():
            call()
        COMPILE_SECONDS[(case.name, tuple(a.shape for a in inputs))] = time.perf_counter() - start
    return calls


def _add_torch_gradients(calls: Calls, case: Case, inputs: Inputs, tensors: List[Any],
                         loss_of: Callable[..., Any]) -> None:
    import torch

    def with_leaves(indices: Tuple[int, ...]) -> Tuple[List[Any], List[Any]]:
        """The operands with those of `indices` as fresh leaves that require a gradient."""
        operands = list(tensors)
        leaves = []
        for i in indices:
            operands[i] = _tensor(inputs[i]).requires_grad_(True)
            leaves.append(operands[i])
        return operands, leaves

    fused_operands, fused_leaves = with_leaves(case.grads)
    if "backward" in case.passes:  # its graph, kept from one forward
        operands, leaves = with_leaves(case.grads)
        graph = loss_of(torch, *operands)

        def backward() -> Any:
            grads = torch.autograd.grad(graph, leaves, retain_graph=True)
            return tuple(_array(g) for g in grads) if len(grads) > 1 else _array(grads[0])

        calls["backward"] = backward

    def with_grad() -> Any:  # torch allocates the gradients (and autograd's saved tensors) per call
        for leaf in fused_leaves:
            leaf.grad = None
        loss = loss_of(torch, *fused_operands)
        loss.backward()
        return (loss.item(), *(_array(leaf.grad) for leaf in fused_leaves))

    calls["with_grad"] = with_grad


def torch_compile_calls(case: Case, inputs: Inputs) -> Optional[Calls]:
    return torch_calls(case, inputs, compiled=True)


def jax_calls(case: Case, inputs: Inputs) -> Optional[Calls]:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    if not case.jax_formula:
        return None
    args = [jnp.asarray(a.astype(np.int32) if a.dtype == np.int64 else a) for a in inputs]

    def formula(*a: Any) -> Any:
        return case.value(jnp, *a)

    argnums = case.grads if len(case.grads) > 1 else case.grads[0]

    def flat(result: Any) -> Any:  # value_and_grad's (value, (g1, g2)) as (value, g1, g2)
        value, grads = result
        return (value, *grads) if isinstance(grads, tuple) else (value, grads)

    compiled = {"forward": jax.jit(formula)}
    if not case.transform:
        compiled["backward"] = jax.jit(jax.grad(formula, argnums=argnums))
        compiled["with_grad"] = jax.jit(jax.value_and_grad(formula, argnums=argnums))
    calls = {name: (lambda fn=fn: jax.block_until_ready(fn(*args))) for name, fn in compiled.items()
             if name in case.passes}
    if "with_grad" in calls:
        fused = calls["with_grad"]
        calls["with_grad"] = lambda: flat(fused())
    return calls


LIBRARIES = ("fastloss", "torch", "torch.compile", "jax", "numpy")


def case_libraries(case: Case) -> Tuple[str, ...]:
    """LIBRARIES and the case's torch variants."""
    return (*LIBRARIES, *case.torch_variants)


def torch_variant(case: Case, library: str) -> Case:
    """The case with its torch variant ``library`` as its torch call."""
    return dataclasses.replace(case, torch_call=case.torch_variants[library], torch_variants={})


def library_calls(functional: Any, case: Case, inputs: Inputs, only: Optional[str] = None,
                  problems: Optional[Dict[str, str]] = None) -> Dict[str, Calls]:
    """fastloss (writing into its own paged-in buffer) and NumPy, plus torch (eager, the case's
    torch variants and torch.compile) and JAX when installed; with ``only``, that library and
    NumPy (the reference), so that no other library's threads run in the process. A peer that
    cannot run the case in half precision (torch has no bfloat16 kernel for some losses) is
    left out, its error put in ``problems``."""
    calls = {"numpy": numpy_calls(case, inputs)}
    if only in (None, "fastloss"):
        calls["fastloss"] = fastloss_calls(functional, case, inputs, output_buffer(case, inputs))
    builders: List[Tuple[str, Callable[[], Optional[Calls]]]] = [
        ("torch", lambda: torch_calls(case, inputs)),
        *((name, lambda name=name: torch_calls(torch_variant(case, name), inputs)) for name in case.torch_variants),
        ("torch.compile", lambda: torch_compile_calls(case, inputs)), ("jax", lambda: jax_calls(case, inputs))]
    for peer, build in builders:
        if only in (None, peer):
            try:
                peer_calls = build()
            except (NotImplementedError, RuntimeError, TypeError) as error:
                if bench_dtype() == "float32":
                    raise
                if problems is not None:
                    problems[peer] = f"no {bench_dtype()} support: {str(error).splitlines()[0]}"
                continue
            if peer_calls is not None:
                calls[peer] = peer_calls
    return calls


# --- correctness before timing ---------------------------------------------------------------


def _loss_and_grads(result: Any) -> Tuple[Any, Tuple[Any, ...]]:
    """A fused result (loss, *gradients), or a forward's loss alone."""
    values = tuple(_checkable(v) for v in _flat(result))
    return np.asarray(values[0]), tuple(np.asarray(g) for g in values[1:])


def _checkable(value: Any) -> Any:
    """A result NumPy can read: a torch bfloat16 tensor (a forward's loss) widened."""
    return value.float() if getattr(value, "dtype", None) is not None and str(value.dtype) == "torch.bfloat16" else value


def _agree(actual: Any, expected: Any, rtol: float, tolerance: float = 1.0) -> bool:
    """Close to `expected` within rtol of each element plus 1e-5 of its largest one, both
    times the case's check_tolerance."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    atol = 1e-5 * tolerance * scale + 1e-30
    return actual.shape == expected.shape and bool(np.allclose(actual, expected, rtol=rtol * tolerance, atol=atol))


# JAX and Inductor reduce float32 in float32.
PEER_RTOL = {"numpy": 1e-4, "torch": 1e-4, "torch.compile": 1e-3, "jax": 1e-3}


def check_case(case: Case, calls: Dict[str, Calls]) -> Dict[str, str]:
    """Every library's result for the fused pass against NumPy's stable float64-accumulating
    reference; the backward pass against the same gradient. Returns {library: problem} for
    those that disagree (they are then not timed)."""
    reference_pass = case.fused_pass
    expected_loss, expected_grads = _loss_and_grads(calls["numpy"][reference_pass]())
    expected_backward = _flat(calls["numpy"]["backward"]()) if "backward" in calls["numpy"] else ()
    problems: Dict[str, str] = {}

    def all_agree(actual: Tuple[Any, ...], expected: Tuple[Any, ...], rtol: float) -> bool:
        return len(actual) == len(expected) and all(_agree(a, e, rtol, case.check_tolerance)
                                                    for a, e in zip(actual, expected))

    for library, library_calls in calls.items():
        if library == "numpy":
            continue
        rtol = max(PEER_RTOL.get(library, 1e-4), HALF_RTOL.get(bench_dtype(), 0.0))
        loss, grads = _loss_and_grads(library_calls[reference_pass]())
        if not _agree(loss, expected_loss, rtol, case.check_tolerance):
            problems[library] = f"{reference_pass} value {loss.ravel()[:3]} != {expected_loss.ravel()[:3]}"
        elif not all_agree(grads, expected_grads, 10 * rtol):
            problems[library] = "gradient differs from the NumPy reference"
        elif "backward" in library_calls:
            if not all_agree(_flat(library_calls["backward"]()), expected_backward, 10 * rtol):
                problems[library] = "backward differs from the NumPy reference"
        if "forward" in library_calls and reference_pass != "forward":
            forward = np.asarray(_checkable(library_calls["forward"]()))
            if not _agree(forward, expected_loss, rtol, case.check_tolerance):
                problems[library] = f"forward {forward} != {expected_loss}"
    return problems


# --- a case, timed ----------------------------------------------------------------------------


def time_case(functional: Any, case: Case, size: Any, repeats: int, passes: Optional[Sequence[str]] = None,
              probe: Optional[BandwidthProbe] = None, in_place: bool = False,
              only: Optional[str] = None) -> Dict[str, Any]:
    """The one way every script times a case: its inputs at `size`, every library's calls
    checked against the NumPy reference (a fastloss mismatch stops the run; a peer that
    disagrees is reported and not timed), then each pass (the case's, or those of `passes` it
    has) timed with interleaved_medians_ms. The check has run every call once (NumPy's forward
    inside its fused pass), which is their warm-up. With a probe, the bandwidth probes run in the same rounds (a size that fits
    in cache: in rounds of their own, right after) and each pass gets its
    % of memory bound, unless the case has a floor: then the floor's calls run in fastloss's
    rounds instead and each pass gets its "floor_ms"; with in_place, fastloss's fused pass is also timed writing over its
    input ("fastloss_in_place"). With ``only``, that library alone is timed (and checked against
    NumPy): time_case_isolated's children. Returns run.py's JSON row."""
    inputs = case_inputs(case, size)
    build_problems: Dict[str, str] = {}
    calls = library_calls(functional, case, inputs, only, build_problems)
    if in_place:
        calls["fastloss_in_place"] = in_place_calls(functional, case, inputs)
    problems = {**build_problems, **check_case(case, calls)}
    for library in calls:
        if library.startswith("fastloss") and library in problems:
            raise AssertionError(f"{case.name} at {size}: {library} {problems[library]}")
    timed = {library: c for library, c in calls.items()
             if library not in problems and (only is None or library == only)}
    floor = case.floor(inputs) if case.floor is not None and "fastloss" in timed else {}
    if floor:
        probe = None
    alongside = probe.calls() if probe is not None else {}
    # A probe streams twice the out-of-cache size: in the rounds of a case that fits in cache
    # it would evict the inputs before every call of the library beside it and of no other
    # (in isolated mode only fastloss's process has the probes). There it runs in rounds of
    # its own, right after.
    probes_in_rounds = alongside if out_of_cache(case, size) else {}
    timings = {}
    for pass_name in (p for p in passes or case.passes if p in case.passes):
        to_time = {library: c[pass_name] for library, c in timed.items() if pass_name in c}
        besides = {**probes_in_rounds, **({"_floor": floor[pass_name]} if pass_name in floor else {})}
        if "_floor" in besides:
            besides["_floor"]()  # warm-up (the check ran the libraries' calls)
        # (an isolated child's library may not be installed: nothing to time)
        ms = interleaved_medians_ms({**to_time, **besides}, repeats, warm_up=False) if to_time else {}
        if to_time and alongside and not probes_in_rounds:
            ms.update(interleaved_medians_ms(alongside, repeats, warm_up=False))
        numbers: Dict[str, Any] = {"ms": {name: t for name, t in ms.items() if name not in besides and name not in alongside}}
        if "_floor" in ms:
            numbers["floor_ms"] = ms["_floor"]
        if probe is not None and to_time:
            numbers.update(probe.memory_bound(case, inputs, pass_name, ms))
        timings[pass_name] = numbers
    compile_seconds = COMPILE_SECONDS.pop((case.name, tuple(a.shape for a in inputs)), None)
    return {"case": case.name, "size": list(size) if isinstance(size, tuple) else size,
            "out_of_cache": out_of_cache(case, size), "peer_problems": problems, "passes": timings,
            **({"torch_compile_seconds": compile_seconds} if compile_seconds is not None else {})}


def time_case_isolated(case: Case, size: Any, repeats: int, threads: int, probe: bool = True) -> Dict[str, Any]:
    """time_case with each library alone in a fresh process (the headline numbers: no other
    library's thread pool spins beside it, and none ran before it). fastloss's child runs the
    bandwidth probes in its rounds (``probe``). The children's rows are merged into one; a
    child that fails costs only its library's column (its error is a peer problem)."""
    row: Optional[Dict[str, Any]] = None
    merged_ms: Dict[str, Dict[str, float]] = {}
    problems: Dict[str, str] = {}
    extra: Dict[str, Any] = {}
    for library in case_libraries(case):
        completed = subprocess.run(
            [sys.executable, __file__, "isolated", case.name, json.dumps(size), str(threads), str(repeats), library,
             "probe" if probe and library == "fastloss" else "no-probe"], capture_output=True, text=True)
        if completed.returncode != 0:
            if library == "fastloss":
                raise AssertionError(f"{case.name} at {size}: fastloss's child failed: {_child_failure(completed)}")
            problems[library] = f"its process failed: {_child_failure(completed)}"
            continue
        child = json.loads(completed.stdout)
        problems.update(child["peer_problems"])
        extra.update({k: v for k, v in child.items() if k == "torch_compile_seconds"})
        for pass_name, numbers in child["passes"].items():
            merged_ms.setdefault(pass_name, {}).update(numbers["ms"])
        if library == "fastloss":
            row = child
    assert row is not None
    for pass_name, numbers in row["passes"].items():
        numbers["ms"] = merged_ms[pass_name]
    row.update(peer_problems=problems, **extra)
    return row


def _isolated_child(case_name: str, size: Any, threads: int, repeats: int, library: str, probe: bool) -> Dict[str, Any]:
    import fastloss.functional as functional

    set_threads(threads)
    case = registry.CASES[case_name]
    return time_case(functional, case, size, repeats, probe=BandwidthProbe(threads) if probe else None, only=library)


# --- thread scaling ----------------------------------------------------------------------------


def thread_scaling_ms(functional: Any, fastloss: Any, case: Case, inputs: Inputs, repeats: int,
                      max_threads: int) -> Dict[int, float]:
    """The fused pass at 1..max_threads threads."""
    call = fastloss_calls(functional, case, inputs, output_buffer(case, inputs))[case.fused_pass]
    before = fastloss.get_num_threads()
    timings = {}
    try:
        for threads in range(1, max_threads + 1):
            fastloss.set_num_threads(threads)
            timings[threads] = interleaved_medians_ms({"fastloss": call}, repeats)["fastloss"]
    finally:
        fastloss.set_num_threads(before)
    return timings


# --- subprocess children -------------------------------------------------------------------------


def _resident_kib(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} missing from /proc/self/status")


def _peak_extra_mib(call: Callable[[], Any]) -> float:
    """Peak resident memory the call adds over what is resident before it (Linux: the
    high-water mark is reset through /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = _resident_kib("VmRSS")
    result = call()
    extra = _resident_kib("VmHWM") - before
    del result
    return extra / 1024.0


def _memory_child(case_name: str, threads: int, size: Any, library: str) -> Dict[str, Optional[float]]:
    """{library: peak extra MiB of its fused pass, None where it has no such call}; fastloss's
    with "gradients", the MiB of the gradients a fused call returns."""
    import fastloss
    import fastloss.functional as functional

    case = registry.CASES[case_name]
    fastloss.set_num_threads(threads)
    inputs = case_inputs(case, size)
    tiny = case_inputs(case, _TINY_SIZE[case.kind])
    pass_name = case.fused_pass
    # Warm the library up on tiny inputs: thread pools and lazy allocations are not the call's.
    if library.startswith("fastloss"):
        fastloss_calls(functional, case, tiny, output_buffer(case, tiny))[pass_name]()
    if library == "fastloss_in_place":
        return {library: _peak_extra_mib(in_place_calls(functional, case, inputs)[pass_name])}
    if library == "fastloss":
        if case.transform:
            return {library: None}
        kw = case.kwargs
        return {library: _peak_extra_mib(lambda: getattr(functional, case.name + "_with_grad")(*inputs, **kw)),
                "gradients": sum(inputs[i].nbytes for i in case.grads) / 2**20}
    library_case = case if library == "torch" else torch_variant(case, library)
    tiny_torch = torch_calls(library_case, tiny)
    if tiny_torch is None:
        return {library: None}
    tiny_torch[pass_name]()
    # Building the calls may have run one forward to keep a graph; count the fused pass.
    return {library: _peak_extra_mib(torch_calls(library_case, inputs)[pass_name])}  # type: ignore[index]


def _child_failure(completed: "subprocess.CompletedProcess[str]") -> str:
    lines = completed.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {completed.returncode}"


def peak_extra_memory(case: Case, threads: int, size: Any = None) -> Any:
    """Peak resident memory the fused pass adds over what is resident before it, each library
    in a fresh process of its own (what one freed stays resident and would hide another's
    peak), at `size` (default out_of_cache_size(case)): {"fastloss": new gradient,
    "fastloss_in_place": out= the input, "torch": autograd, and each torch variant's} in MiB
    (None where a library has no such call), with "gradients": the MiB of the gradients a
    fused call returns (a loss's: included in each library's but out= the input's), or a
    child's error line (a failed probe must not lose the run)."""
    size = out_of_cache_size(case) if size is None else size
    peak: Dict[str, Optional[float]] = {}
    for library in ("fastloss", "fastloss_in_place", "torch", *case.torch_variants):
        completed = subprocess.run([sys.executable, __file__, "memory", case.name, str(threads), json.dumps(size),
                                    library], capture_output=True, text=True)
        if completed.returncode != 0:
            return _child_failure(completed)
        peak.update(json.loads(completed.stdout))
    return peak


def _target_child(threads: int, case_names: Sequence[str], repeats: int) -> Dict[str, float]:
    import fastloss
    import fastloss.functional as functional

    fastloss.set_num_threads(threads)
    timings = {}
    for name in case_names:
        case = registry.CASES[name]
        inputs = case_inputs(case, out_of_cache_size(case))
        call = fastloss_calls(functional, case, inputs, output_buffer(case, inputs))[case.fused_pass]
        timings[name] = interleaved_medians_ms({"fastloss": call}, repeats)["fastloss"]
    return {"target": fastloss.simd_target(), "ms": timings}


def per_target_ms(targets: Sequence[str], threads: int, case_names: Sequence[str], repeats: int) -> Dict[str, Any]:
    """{target: {case: ms}} or {target: "reason"} for targets this CPU cannot run."""
    results: Dict[str, Any] = {}
    for target in targets:
        env = dict(os.environ, FASTLOSS_TARGET=target)
        completed = subprocess.run(
            [sys.executable, __file__, "target", str(threads), str(repeats), *case_names],
            capture_output=True, text=True, env=env)
        if completed.returncode != 0:
            results[target] = _child_failure(completed)
            continue
        child = json.loads(completed.stdout)
        results[target] = child["ms"] if child["target"] == target else f"ran as {child['target']}"
    return results


if __name__ == "__main__":
    if sys.argv[1] == "memory":
        child_size = json.loads(sys.argv[4])
        print(json.dumps(_memory_child(sys.argv[2], int(sys.argv[3]),
                                       tuple(child_size) if isinstance(child_size, list) else child_size, sys.argv[5])))
    elif sys.argv[1] == "isolated":
        child_size = json.loads(sys.argv[3])
        print(json.dumps(_isolated_child(sys.argv[2], tuple(child_size) if isinstance(child_size, list) else child_size,
                                         int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7] == "probe")))
    elif sys.argv[1] == "target":
        print(json.dumps(_target_child(int(sys.argv[2]), sys.argv[4:], int(sys.argv[3]))))
    else:
        raise SystemExit(__doc__)
