"""fastloss's losses on Dask arrays: lazy, chunk-parallel, and exact over any chunking.

``import fastloss.dask as FD`` (``pip install fastloss[dask]``) gives every loss of
:mod:`fastloss.functional` with the same signature, plus ``f_backward`` and ``f_with_grad``,
taking ``dask.array`` arrays (NumPy arrays count as one chunk) and returning lazy results:

- **Reduced losses** (``"mean"``, ``"sum"``, ``"batchmean"``): each chunk's loss sum and
  denominator (a :class:`fastloss.LossAccumulator` state: a few float64) are combined by a
  tree reduction in block order into a 0-d array of the input's dtype. The accumulator keeps
  its sums exactly, so the value does not depend on the chunking's tree, on which worker
  finished first, or on the number of workers; only a few floats per chunk travel.
- **reduction="none"** and the **gradients**: arrays chunked like the input (the gradients of
  a reduced loss read the whole stream's denominator, computed by the same tree).
- **Rows stay whole**: the class axis (cross_entropy, nll_loss, ...) and the last axis of the
  row losses (cosine_embedding, triplet, ...) must be one chunk. An input chunked along it is
  rechunked, with a ``UserWarning`` saying so. Per-class and broadcast operands (a class
  ``weight``, a ``(C,)`` ``pos_weight``) are small: they are computed once and shared.
- **Threads**: inside a task fastloss uses its share of the worker's CPUs (CPUs divided by
  the tasks the worker runs at once: ``nthreads`` of a ``dask.distributed`` worker, the pool
  size of the local threaded scheduler), so a 16-core worker running 16 tasks does not start
  256 threads.

Works with every Dask scheduler: threaded (the default for arrays), processes, and
``dask.distributed`` clusters of any size.
"""

from __future__ import annotations

import inspect
import os
import threading
import warnings
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("fastloss.dask needs Dask: install it with `pip install fastloss[dask]` "
                      "(or `pip install 'dask[array]'`)") from err

from . import _checks, _core
from . import functional as F
from ._declare import DECLARATIONS, Declaration, forwarding
from ._families import ClassLosses, Ctc, RowLosses
from .streaming import LossAccumulator


def _task_threads() -> int:
    """fastloss's threads for one task: the CPUs this process may use, shared among the
    tasks that run at once (a distributed worker's nthreads; the threaded scheduler's pool)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    concurrent = None
    try:
        from distributed import get_worker

        concurrent = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        if threading.current_thread() is not threading.main_thread():  # a threaded scheduler's pool
            concurrent = dask.config.get("num_workers", None) or cpus
    return max(1, cpus // concurrent) if concurrent else cpus


def _in_task(function: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        _core.set_num_threads(_task_threads())  # the process-wide setting: every task sets the same
        return function(*args, **kwargs)
    return run


class _Call:
    """A call's arrays split into chunked ones (aligned along the rows) and shared ones."""

    def __init__(self, decl: Declaration, arguments: Dict[str, Any]) -> None:
        self.decl = decl
        names = [p.name for p in decl.params if p.kind == "array" and arguments.get(p.name) is not None]
        input = da.asarray(arguments[names[0]])
        family = decl.family
        whole_rows = isinstance(family, (ClassLosses, RowLosses)) and input.ndim >= 2
        self.row_axis = (1 if isinstance(family, ClassLosses) else input.ndim - 1) if whole_rows else None
        if self.row_axis is not None and len(input.chunks[self.row_axis]) > 1:
            warnings.warn(f"fastloss.dask.{decl.name}: the input is chunked along axis {self.row_axis}, which holds "
                          "whole rows (classes or features); rechunking it to one chunk", UserWarning, stacklevel=4)
            input = input.rechunk({self.row_axis: -1})
        self.input = input
        self.chunked: List[str] = []
        self.arrays: List[Any] = []
        self.shared: Dict[str, Any] = {}
        for name in names:
            value = arguments[name]
            if name != names[0] and not self._is_chunked(name, value, input):
                self.shared[name] = np.asarray(value.compute() if isinstance(value, da.Array) else value)
                continue
            array = input if name == names[0] else da.asarray(value)
            if name != names[0]:
                array = array.rechunk(self._chunks_like(array, input))
            self.chunked.append(name)
            self.arrays.append(array)
        self.options = {k: v for k, v in arguments.items() if k not in names and k not in ("reduction",)}

    def _is_chunked(self, name: str, value: Any, input: Any) -> bool:
        """Row-aligned: the first extent of a batched input, and its dimensions (a target of one
        value per row one fewer); per-class and broadcast operands are shared."""
        ndim = getattr(value, "ndim", 0)
        if ndim == 0 or input.ndim == 0 or value.shape[0] != input.shape[0]:
            return False
        if self.row_axis is not None and name == "target":  # class indices, labels: one per row
            return ndim in (input.ndim - 1, input.ndim)
        return bool(ndim == input.ndim)

    def _chunks_like(self, array: Any, input: Any) -> Tuple[Tuple[int, ...], ...]:
        if array.ndim == input.ndim:
            return tuple(input.chunks)
        # a class-index target: the input's chunks without the class axis
        return tuple(c for axis, c in enumerate(input.chunks) if axis != self.row_axis)

    def kwargs(self, blocks: Sequence[Any]) -> Dict[str, Any]:
        return {**self.shared, **self.options, **dict(zip(self.chunked, blocks))}

    def block_keys(self) -> List[List[Any]]:
        """Per block of the input (in index order), the delayed blocks of every chunked array."""
        grids = [a.to_delayed() for a in self.arrays]
        blocks = []
        for index in np.ndindex(*grids[0].shape):
            row = []
            for grid in grids:
                row.append(grid[index] if grid.ndim == len(index) else
                           grid[tuple(i for axis, i in enumerate(index) if axis != self.row_axis)])
            blocks.append(row)
        return blocks


@_in_task
def _block_state(loss: str, reduction: str, options: Dict[str, Any], names: Sequence[str],
                 *blocks: Any) -> Dict[str, Any]:
    return LossAccumulator(loss, reduction=reduction, **options).update(**dict(zip(names, blocks))).state()


def _merge(first: Dict[str, Any], second: Dict[str, Any]) -> Dict[str, Any]:
    return LossAccumulator.from_state(first).merge(LossAccumulator.from_state(second)).state()


def _reduced(call: _Call, reduction: str) -> Any:
    """The tree of chunk states, merged pairwise in block order: a delayed state."""
    options = {**call.shared, **call.options}
    level = [dask.delayed(_block_state, pure=True)(call.decl.name, reduction, options, call.chunked, *blocks)
             for blocks in call.block_keys()]
    while len(level) > 1:
        level = [dask.delayed(_merge, pure=True)(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


def _value(state: Dict[str, Any], dtype: Any) -> Any:
    return np.asarray(LossAccumulator.from_state(state).result(), dtype=dtype)


def _scale(state: Dict[str, Any], grad_output: Any) -> Any:
    """grad_output over the whole stream's denominator: what each chunk's sum gradient is scaled by."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.float64(grad_output) / np.float64(LossAccumulator.from_state(state).denominator()))


def _index(call: _Call, array: Any) -> str:
    """The array's blockwise index: the input's axes, a class target's without the class axis."""
    letters = "abcdefghijklmnop"[:call.input.ndim]
    if array.ndim == call.input.ndim or call.row_axis is None:
        return letters
    return letters.replace(letters[call.row_axis], "")


def _blockwise(call: _Call, block: Callable[..., Any], out: Any, extra: Sequence[Tuple[Any, str]] = ()) -> Any:
    """block(*chunked blocks, *extra blocks) over the chunked arrays' blocks, as an array laid
    out like `out` (the input, a gradient's operand, or the per-row loss when out is None)."""
    out_index = _loss_index(call) if out is None else _index(call, out)
    pairs = [item for a in call.arrays for item in (a, _index(call, a))]
    pairs += [item for array, index in extra for item in (array, index)]
    return da.blockwise(_in_task(block), out_index, *pairs, dtype=call.input.dtype, concatenate=True)


def _loss_index(call: _Call) -> str:
    letters = "abcdefghijklmnop"[:call.input.ndim]
    return letters if call.row_axis is None else letters.replace(letters[call.row_axis], "")


def _forward(decl: Declaration, arguments: Dict[str, Any]) -> Any:
    call = _Call(decl, arguments)
    reduction = arguments["reduction"]
    if reduction == "none":
        return _blockwise(call, lambda *blocks: getattr(F, decl.name)(**call.kwargs(blocks), reduction="none"), None)
    return da.from_delayed(dask.delayed(_value, pure=True)(_reduced(call, reduction), call.input.dtype), shape=(),
                           dtype=call.input.dtype)


def _gradients(decl: Declaration, arguments: Dict[str, Any], grad_output: Any) -> Tuple[Any, ...]:
    """The lazy gradients of decl.grads (each chunked like its array)."""
    call = _Call(decl, arguments)
    reduction = arguments["reduction"]
    if reduction == "none":
        loss_chunks = tuple(c for axis, c in enumerate(call.input.chunks) if axis != call.row_axis)
        extra = [(da.asarray(grad_output).rechunk(loss_chunks), _loss_index(call))]
        scaled = "none"
    else:
        scale = da.from_delayed(dask.delayed(_scale, pure=True)(_reduced(call, reduction), grad_output), shape=(),
                                dtype=np.float64)
        extra, scaled = [(scale, "")], "sum"
    grads = []
    for k, name in enumerate(decl.grads):
        if name not in call.chunked:
            raise ValueError(f"fastloss.dask.{decl.name}: the gradient of {name} needs it chunked like the input")

        def block(*blocks: Any, _k: int = k) -> Any:
            go_block = blocks[-1]
            result = getattr(F, decl.name + "_backward")(go_block if scaled == "none" else float(go_block),
                                                        **call.kwargs(blocks[:-1]), reduction=scaled)
            return result[_k] if isinstance(result, tuple) else result

        grads.append(_blockwise(call, block, call.arrays[call.chunked.index(name)], extra))
    return tuple(grads)


def _function(decl: Declaration, kind: str) -> Callable[..., Any]:
    numpy_function = getattr(F, decl.name + kind)
    params = tuple(p for p in inspect.signature(numpy_function).parameters.values() if p.name != "out")
    function = forwarding(decl.name + kind, params, lambda arguments: _run(decl, kind, arguments),
                          f"fastloss.dask.{decl.name}{kind}")
    function.__doc__ = (f"Lazy :func:`fastloss.functional.{decl.name}{kind}` on Dask arrays (see :mod:`fastloss.dask`)."
                        "\n\n" + (numpy_function.__doc__ or ""))
    function.__module__ = __name__
    return function


def _run(decl: Declaration, kind: str, arguments: Dict[str, Any]) -> Any:
    if isinstance(decl.family, Ctc):
        raise NotImplementedError(
            "fastloss.dask.ctc_loss: its batch axis is log_probs' second (T, N, C) and its targets are ragged; "
            "score CTC over batches with fastloss.LossAccumulator('ctc_loss') (one update per batch, "
            "mergeable across workers) instead")
    if arguments.get("size_average") is not None or arguments.get("reduce") is not None:
        arguments["reduction"] = _checks.legacy_reduction(arguments["size_average"], arguments["reduce"])
    arguments.pop("size_average", None)
    arguments.pop("reduce", None)
    if kind == "":
        return _forward(decl, arguments)
    if kind == "_backward":
        grad_output = arguments.pop("grad_output")
        grads = _gradients(decl, arguments, grad_output)
        return grads if len(grads) > 1 else grads[0]
    unit = 1.0 if arguments["reduction"] != "none" else da.ones_like(_forward(decl, arguments))
    return (_forward(decl, arguments), *_gradients(decl, arguments, unit))


__all__: List[str] = []
for _name, _decl in DECLARATIONS.items():
    for _kind in ("", "_backward", "_with_grad"):
        globals()[_name + _kind] = _function(_decl, _kind)
        __all__.append(_name + _kind)

