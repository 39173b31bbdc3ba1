"""softmax, log_softmax, sigmoid and log_sigmoid as custom ops with their gradients.

``fastloss::softmax(Tensor input, int dim, ScalarType? dtype=None)`` (and ``log_softmax``),
``fastloss::sigmoid(Tensor input)`` (and ``log_sigmoid``), each with an autograd formula that
calls its ``*_backward`` op (fastloss's fused, threaded gradient kernels): from the output for
softmax, log_softmax and sigmoid (which is all they save), from the input for log_sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import torch

from .. import _checks
from .. import functional as F
from ._ops import _LIBRARY, _foreign_device, _numpy, _tensor, _torch_threads


def _numpy_dtype(dtype: Optional[torch.dtype]) -> Any:
    return None if dtype is None else _checks.float_dtype("dtype")(dtype)


@dataclass(frozen=True)
class Transform:
    name: str
    along_dim: bool  # softmax and log_softmax take dim (and dtype)
    saves: str  # "output" or "input": what the gradient is computed from

    def forward_cpu(self, input: torch.Tensor, *dim_dtype: Any) -> torch.Tensor:
        with _torch_threads():
            if self.along_dim:
                dim, dtype = (*dim_dtype, None)[:2]
                return _tensor(getattr(F, self.name)(_numpy(input), dim, dtype=_numpy_dtype(dtype)))
            return _tensor(getattr(F, self.name)(_numpy(input)))

    def backward_cpu(self, grad_output: torch.Tensor, saved: torch.Tensor, *dim: int) -> torch.Tensor:
        out = torch.empty(saved.shape, dtype=saved.dtype)
        with _torch_threads():
            getattr(F, self.name + "_backward")(_numpy(grad_output), _numpy(saved), *dim, out=_numpy(out))
        return out

    def forward_fake(self, input: torch.Tensor, *dim_dtype: Any) -> torch.Tensor:
        dtype = (*dim_dtype, None, None)[1] if self.along_dim else None
        return torch.empty_like(input, dtype=dtype or input.dtype, memory_format=torch.contiguous_format)

    def backward_fake(self, grad_output: torch.Tensor, saved: torch.Tensor, *dim: int) -> torch.Tensor:
        return torch.empty_like(saved, memory_format=torch.contiguous_format)

    def save(self, ctx: Any, inputs: Any, output: torch.Tensor) -> None:
        ctx.save_for_backward(output if self.saves == "output" else inputs[0])
        ctx.dim = inputs[1:2]
        ctx.input_dtype = inputs[0].dtype

    def backward(self, ctx: Any, grad: torch.Tensor) -> Any:
        if torch.is_grad_enabled():
            raise RuntimeError(f"fastloss.torch.{self.name}: double backward (create_graph=True) is not supported: "
                               "fastloss's gradients are first order")
        (saved,) = ctx.saved_tensors
        grad_input = getattr(torch.ops.fastloss, self.name + "_backward")(grad.to(saved.dtype), saved, *ctx.dim)
        return (grad_input.to(ctx.input_dtype), *([None] * (len(ctx.needs_input_grad) - 1)))

    def define(self) -> None:
        arguments = "Tensor input, int dim, ScalarType? dtype=None" if self.along_dim else "Tensor input"
        saved = "Tensor output" if self.saves == "output" else "Tensor input"
        _LIBRARY.define(f"{self.name}({arguments}) -> Tensor")
        _LIBRARY.define(f"{self.name}_backward(Tensor grad_output, {saved}{', int dim' if self.along_dim else ''})"
                        " -> Tensor")
        for suffix, cpu, fake in (("", self.forward_cpu, self.forward_fake),
                                  ("_backward", self.backward_cpu, self.backward_fake)):
            _LIBRARY.impl(self.name + suffix, cpu, "CPU")
            torch.library.register_fake(f"fastloss::{self.name}{suffix}", fake, lib=_LIBRARY)
        torch.library.register_autograd(f"fastloss::{self.name}", self.backward, setup_context=self.save,
                                        lib=_LIBRARY)

    def function(self) -> Callable[..., torch.Tensor]:  # noqa: C901 (two signatures, torch's)
        op = getattr(torch.ops.fastloss, self.name)
        name = self.name

        def check_device(input: torch.Tensor) -> None:
            device = _foreign_device([input])
            if device is not None:
                raise RuntimeError(f"fastloss.torch.{name}: got a tensor on {device}, but fastloss runs on the CPU; "
                                   "move it with .cpu()")

        if self.along_dim:
            def along_dim(input: torch.Tensor, dim: Optional[int] = None, _stacklevel: int = 3,
                          dtype: Optional[torch.dtype] = None) -> torch.Tensor:
                check_device(input)
                return op(input, _checks.softmax_dim(name, dim, input, _stacklevel), dtype)  # type: ignore[no-any-return]
            function: Callable[..., torch.Tensor] = along_dim
        else:
            def elementwise(input: torch.Tensor) -> torch.Tensor:
                check_device(input)
                return op(input)  # type: ignore[no-any-return]
            function = elementwise
        function.__name__ = function.__qualname__ = name
        function.__module__ = "fastloss.torch"
        function.__doc__ = (f"torch tensors version of :func:`fastloss.functional.{name}` (autograd through "
                            f":func:`fastloss.functional.{name}_backward`).")
        return function


TRANSFORMS = (Transform("softmax", True, "output"), Transform("log_softmax", True, "output"),
              Transform("sigmoid", False, "output"), Transform("log_sigmoid", False, "input"))


def export_transforms(namespace: Dict[str, Any]) -> List[str]:
    """Define the transform ops and put their functions (and torch's ``logsigmoid``) in ``namespace``."""
    for transform in TRANSFORMS:
        transform.define()
        namespace[transform.name] = transform.function()
    namespace["logsigmoid"] = namespace["log_sigmoid"]
    return [t.name for t in TRANSFORMS] + ["logsigmoid"]
