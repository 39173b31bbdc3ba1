"""The custom ops behind fastloss.torch, generated from the losses' declarations.

For a declared loss ``f`` (:mod:`fastloss._declare`) three ops are defined:

- ``fastloss::f(<arrays, options, reduction>) -> Tensor``: the loss; its autograd formula
  calls ``f_backward``;
- ``fastloss::f_backward(Tensor grad_output, <same>) -> Tensor[]``: the gradients of the
  declaration's ``grads``, in order (no autograd formula: gradients are first order);
- ``fastloss::f_with_grad(<same>) -> (Tensor, Tensor[])``: loss and gradients from one pass;
  its autograd formula hands the kept gradients over.

The op's parameters are the declaration's in torch's order, less torch's legacy
``size_average``/``reduce`` (the Python function folds them into ``reduction``). The Python
function (with torch's exact signature) checks devices and which operands require grad, then
picks the op.
"""

from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import _checks, _core
from .. import functional as F
from .._declare import DECLARATIONS, REQUIRED, Declaration, Param, forwarding
from .._families import ClassLosses, Ctc, Elementwise, RowLosses

_LIBRARY = torch.library.Library("fastloss", "DEF")
_FALLBACK = {"enabled": False}

# fastloss's losses that torch.nn.functional has under another name (for the device fallback).
_TORCH_NAMES = {"sigmoid_focal_loss": None, "softmax_focal_loss": None, "log_cosh_loss": None}


def allow_torch_fallback(enabled: bool = True) -> None:
    """Let calls with tensors on another device than the CPU run torch's own function there
    (``torch.nn.functional``'s), instead of raising. Off by default: a silent switch of
    implementation would hide where the time goes. Losses torch does not have still raise."""
    _FALLBACK["enabled"] = bool(enabled)


@contextlib.contextmanager
def _torch_threads() -> Iterator[None]:
    """fastloss's kernels run on as many threads as torch's intra-op pool (restored after)."""
    wanted, before = torch.get_num_threads(), _core.get_num_threads()
    if wanted == before:
        yield
        return
    _core.set_num_threads(wanted)
    try:
        yield
    finally:
        _core.set_num_threads(before)


def _bfloat16() -> np.dtype:
    """ml_dtypes' bfloat16: the NumPy dtype bfloat16 tensors are read as (imported on first use)."""
    try:
        import ml_dtypes
    except ImportError as error:
        raise ImportError("bfloat16 tensors need ml_dtypes: pip install fastloss[bfloat16]") from error
    return np.dtype(ml_dtypes.bfloat16)


def _numpy(value: Any) -> Any:
    """A CPU tensor as a NumPy array sharing its memory (``detach`` makes a view, not a copy;
    bfloat16, which NumPy lacks, through an int16 view as ml_dtypes' bfloat16)."""
    if not isinstance(value, torch.Tensor):
        return value
    value = value.detach()
    if value.dtype == torch.bfloat16:
        return value.view(torch.int16).numpy().view(_bfloat16())
    return value.numpy()


def _tensor(value: Any) -> torch.Tensor:
    """A result of the core (a NumPy array or scalar) as a tensor sharing its memory."""
    array = np.asarray(value)
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def _loss(value: Any, input: torch.Tensor) -> torch.Tensor:
    """A loss of the core as a tensor: a reduced loss of a half-precision input (a float32
    scalar in the NumPy API) in the input's dtype, as torch returns it."""
    loss = _tensor(value)
    return loss.to(input.dtype) if loss.dim() == 0 and input.dtype in (torch.float16, torch.bfloat16) else loss


def _schema_type(param: Param) -> str:
    if param.kind == "array":
        return "Tensor?" if param.default is None else "Tensor"
    if param.kind == "reduction":
        return "str"
    default = param.default
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    return "Tensor?"  # softmax_focal_loss's alpha: None, a number (as a 0-d tensor) or a per-class tensor


def _schema_default(value: Any) -> str:
    if value is REQUIRED:
        return ""
    if value is None:
        return "=None"
    if isinstance(value, str):
        return f'="{value}"'
    return f"={value!r}"


def _pass_through(result: Any) -> Tuple[Any, ...]:
    return result if isinstance(result, tuple) else (result,)


@dataclass(frozen=True)
class LossOp:
    """One declared loss as custom ops, and its Python function."""

    decl: Declaration
    params: Tuple[Param, ...]  # the ops' parameters (the declaration's, less the legacy flags)

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def grad_positions(self) -> Tuple[int, ...]:
        return tuple(self.names.index(g) for g in self.decl.grads)

    @property
    def arrays(self) -> Tuple[str, ...]:
        return tuple(p.name for p in self.params if p.kind == "array")

    def schema(self, prefix: str = "") -> str:
        return prefix + ", ".join(f"{_schema_type(p)} {p.name}{_schema_default(p.default)}" for p in self.params)

    # --- the ops' CPU implementations: the NumPy functions on shared memory ---

    def _arguments(self, values: Sequence[Any]) -> Dict[str, Any]:
        """The op's arguments by name (the dispatcher drops trailing ones equal to their default)."""
        arguments = {p.name: p.default for p in self.params[len(values):]}
        arguments.update(zip(self.names, values))
        return arguments

    def _kwargs(self, values: Sequence[Any]) -> Dict[str, Any]:
        kwargs = {name: _numpy(value) for name, value in self._arguments(values).items()}
        for p in self.params:  # an option passed as a 0-d tensor was a number
            if p.kind == "option" and isinstance(kwargs[p.name], np.ndarray) and kwargs[p.name].ndim == 0:
                kwargs[p.name] = kwargs[p.name].item()
        return kwargs

    def forward_cpu(self, *values: Any) -> torch.Tensor:
        with _torch_threads():
            return _loss(getattr(F, self.decl.name)(**self._kwargs(values)), values[0])

    def _gradient_buffer(self, values: Sequence[Any]) -> torch.Tensor:
        """A new tensor for the first gradient. Its memory comes from NumPy, which asks the
        kernel for transparent huge pages on large blocks: every call's gradient is fresh
        memory (glibc maps blocks over 32 MiB anew each time), and its page faults cost half
        of torch.empty's here (1024x32000 float32: 22 ms against 45 ms)."""
        first = values[self.grad_positions[0]]
        return _tensor(np.empty(tuple(first.shape), dtype=_numpy(first).dtype))

    def _gradients(self, out: torch.Tensor, grads: Tuple[Any, ...]) -> List[torch.Tensor]:
        # The first is written into out (torch's memory); the others are the core's arrays.
        return [out, *(_tensor(g) for g in grads[1:])]

    def backward_cpu(self, grad_output: torch.Tensor, *values: Any) -> List[torch.Tensor]:
        out = self._gradient_buffer(values)
        with _torch_threads():
            grads = getattr(F, self.decl.name + "_backward")(
                _numpy(grad_output), **self._kwargs(values), out=_numpy(out))
        return self._gradients(out, _pass_through(grads))

    def with_grad_cpu(self, *values: Any) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        out = self._gradient_buffer(values)
        with _torch_threads():
            loss, *grads = getattr(F, self.decl.name + "_with_grad")(**self._kwargs(values), out=_numpy(out))
        return _loss(loss, values[0]), self._gradients(out, tuple(grads))

    # --- fake implementations: shapes and dtypes only (torch.compile, torch.export) ---

    def _loss_shape(self, values: Sequence[Any]) -> Sequence[int]:
        args = self._arguments(values)
        if args["reduction"] != "none":
            return ()
        family, input = self.decl.family, values[0]
        if isinstance(family, Elementwise):
            operands = [input, args[family.target]]
            if family.aux_gradient == "negated":
                operands.append(args[str(family.aux)])
            return torch.broadcast_shapes(*(t.shape for t in operands))
        if isinstance(family, ClassLosses):  # (N, C, d1, ...) -> (N, d1, ...); unbatched (C,) -> ()
            return () if input.dim() == 1 else (input.shape[0], *input.shape[2:])
        if isinstance(family, Ctc):  # log_probs (T, N, C) -> (N,); unbatched (T, C) -> ()
            return (input.shape[1],) if input.dim() == 3 else ()
        assert isinstance(family, RowLosses)
        if self.decl.name == "multi_margin_loss":  # one loss per class index, shaped as the target
            return tuple(args["target"].shape)
        return tuple(input.shape[:-1])

    def forward_fake(self, *values: Any) -> torch.Tensor:
        return values[0].new_empty(self._loss_shape(values))

    def backward_fake(self, grad_output: torch.Tensor, *values: Any) -> List[torch.Tensor]:
        return [torch.empty_like(values[i], memory_format=torch.contiguous_format) for i in self.grad_positions]

    def with_grad_fake(self, *values: Any) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        return values[0].new_empty(()), self.backward_fake(values[0], *values)

    # --- autograd ---

    def save_operands(self, ctx: Any, inputs: Tuple[Any, ...], output: Any) -> None:
        ctx.save_for_backward(*(v if isinstance(v, torch.Tensor) else None for v in inputs))
        ctx.scalars = tuple(None if isinstance(v, torch.Tensor) else v for v in inputs)

    def _first_order_only(self) -> None:
        # Autograd runs a backward with grad mode on only for create_graph=True.
        if torch.is_grad_enabled():
            raise RuntimeError(f"fastloss.torch.{self.decl.name}: double backward (create_graph=True) is not "
                               "supported: fastloss's gradients are first order")

    def backward_of_forward(self, ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        self._first_order_only()
        values = tuple(t if t is not None else s for t, s in zip(ctx.saved_tensors, ctx.scalars))
        grads = getattr(torch.ops.fastloss, self.decl.name + "_backward")(grad, *values)
        return self._place(ctx, grads)

    def save_gradients(self, ctx: Any, inputs: Tuple[Any, ...], output: Any) -> None:
        ctx.mark_non_differentiable(*output[1])
        ctx.set_materialize_grads(False)  # else backward gets the gradients' zero "gradients", filled
        ctx.save_for_backward(*output[1])
        ctx.operands = len(inputs)

    def backward_of_with_grad(self, ctx: Any, grad: torch.Tensor, _: Any) -> Tuple[Optional[torch.Tensor], ...]:
        self._first_order_only()
        kept = ctx.saved_tensors
        if grad is None:  # the loss was not used (grads are not materialized as zeros here)
            return self._place(ctx, [None] * len(kept))
        if _eager(grad) and grad.item() == 1.0:  # loss.backward(): no pass at all
            return self._place(ctx, kept)
        # A traced graph gets the multiply as an op Inductor can fuse into the next consumer.
        return self._place(ctx, [g * grad for g in kept])

    def _place(self, ctx: Any, grads: Sequence[Optional[torch.Tensor]]) -> Tuple[Optional[torch.Tensor], ...]:
        """One gradient per argument the op received: the computed ones where asked for, None elsewhere."""
        result: List[Optional[torch.Tensor]] = [None] * len(ctx.needs_input_grad)
        for position, grad in zip(self.grad_positions, grads):
            if ctx.needs_input_grad[position]:
                result[position] = grad
        return tuple(result)

    # --- the Python function ---

    def call(self, arguments: Dict[str, Any]) -> torch.Tensor:
        if arguments.get("size_average") is not None or arguments.get("reduce") is not None:
            arguments["reduction"] = _checks.legacy_reduction(arguments["size_average"], arguments["reduce"])
        tensors = [arguments[a] for a in self.arrays if isinstance(arguments[a], torch.Tensor)]
        device = _foreign_device(tensors)
        if device is not None:
            return _torch_fallback(self.decl.name, device, arguments)
        values = [self._operand(p, arguments) for p in self.params]
        if torch.is_grad_enabled():
            wanted = [name for name in self.arrays if _requires_grad(arguments[name])]
            undifferentiated = [name for name in wanted if name not in self.decl.grads]
            if undifferentiated:
                raise NotImplementedError(
                    f"fastloss.torch.{self.decl.name}: the gradient with respect to {undifferentiated[0]} is not "
                    f"implemented (fastloss differentiates {', '.join(self.decl.grads)}); detach it or use torch's")
            if wanted and arguments["reduction"] != "none":
                loss, _ = getattr(torch.ops.fastloss, self.decl.name + "_with_grad")(*values)
                return loss  # type: ignore[no-any-return]
        return getattr(torch.ops.fastloss, self.decl.name)(*values)  # type: ignore[no-any-return]

    def _operand(self, param: Param, arguments: Dict[str, Any]) -> Any:
        value = arguments[param.name]
        if param.kind == "option" and _schema_type(param) == "Tensor?" and isinstance(value, (int, float)):
            return torch.tensor(float(value), dtype=torch.float64)
        if param.kind == "array" and param.default is REQUIRED and not isinstance(value, torch.Tensor):
            if isinstance(self.decl.family, Elementwise):
                # A number where torch takes one (gaussian_nll_loss's var): a zero-stride view, no copy.
                input = arguments[self.params[0].name]
                return torch.as_tensor(value, dtype=input.dtype).expand(input.shape)
            return torch.as_tensor(value, dtype=torch.int64)  # ctc_loss's lengths as sequences or an int
        return value


def _eager(tensor: torch.Tensor) -> bool:
    """Whether a value can be read now: not under torch.compile, torch.export or a tracing mode
    (make_fx, AOTAutograd's fake tensors), where reading it would bake one value into a graph."""
    return (type(tensor) is torch.Tensor and not torch.compiler.is_compiling()
            and not torch.utils._python_dispatch.is_in_torch_dispatch_mode())


def _requires_grad(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.requires_grad


def _foreign_device(tensors: Sequence[torch.Tensor]) -> Optional[torch.device]:
    for t in tensors:
        if t.device.type != "cpu":
            return t.device
    return None


def _torch_fallback(name: str, device: torch.device, arguments: Dict[str, Any]) -> Any:
    torch_name = _TORCH_NAMES.get(name, name)
    if not _FALLBACK["enabled"] or torch_name is None:
        hint = (" (torch has no such loss to fall back to)" if torch_name is None else
                "; move them with .cpu(), or call fastloss.torch.allow_torch_fallback() to run torch's own "
                f"torch.nn.functional.{torch_name} there")
        raise RuntimeError(f"fastloss.torch.{name}: got a tensor on {device}, but fastloss runs on the CPU{hint}")
    arguments.pop("size_average", None)
    arguments.pop("reduce", None)
    return getattr(torch.nn.functional, torch_name)(**arguments)


def _define(op: LossOp) -> None:
    name = op.decl.name
    _LIBRARY.define(f"{name}({op.schema()}) -> Tensor")
    _LIBRARY.define(f"{name}_backward({op.schema('Tensor grad_output, ')}) -> Tensor[]")
    _LIBRARY.define(f"{name}_with_grad({op.schema()}) -> (Tensor, Tensor[])")
    for suffix, cpu, fake in (("", op.forward_cpu, op.forward_fake),
                              ("_backward", op.backward_cpu, op.backward_fake),
                              ("_with_grad", op.with_grad_cpu, op.with_grad_fake)):
        _LIBRARY.impl(name + suffix, cpu, "CPU")
        torch.library.register_fake(f"fastloss::{name}{suffix}", fake, lib=_LIBRARY)
    torch.library.register_autograd(f"fastloss::{name}", op.backward_of_forward, setup_context=op.save_operands,
                                    lib=_LIBRARY)
    torch.library.register_autograd(f"fastloss::{name}_with_grad", op.backward_of_with_grad,
                                    setup_context=op.save_gradients, lib=_LIBRARY)


def _function(op: LossOp) -> Callable[..., torch.Tensor]:
    """The Python function, with the NumPy function's (torch's) exact signature."""
    numpy_function = getattr(F, op.decl.name)
    function = forwarding(op.decl.name, tuple(inspect.signature(numpy_function).parameters.values()), op.call,
                          f"fastloss.torch.{op.decl.name}")
    function.__doc__ = (f"torch tensors version of :func:`fastloss.functional.{op.decl.name}` "
                        "(autograd, torch.compile and torch.export supported).\n\n" + (numpy_function.__doc__ or ""))
    function.__module__ = "fastloss.torch"
    return function  # type: ignore[no-any-return]


LOSS_OPS: Dict[str, LossOp] = {}


def export_functions(namespace: Dict[str, Any]) -> List[str]:
    """Define every op once and put the Python functions into ``namespace``; their names."""
    if not LOSS_OPS:
        for name, decl in DECLARATIONS.items():
            LOSS_OPS[name] = LossOp(decl, tuple(p for p in decl.params if p.kind != "legacy"))
            _define(LOSS_OPS[name])
    for name, op in LOSS_OPS.items():
        namespace[name] = _function(op)
    return list(LOSS_OPS)
