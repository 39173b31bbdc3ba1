"""fastloss's losses on PyTorch CPU tensors, with autograd, ``torch.compile`` and ``torch.export``.

``import fastloss.torch as FT`` gives every fastloss loss under ``torch.nn.functional``'s
name and signature (``FT.cross_entropy(logits, target)``), plus ``softmax``,
``log_softmax``, ``sigmoid`` and ``logsigmoid``; ``fastloss.torch.nn`` gives the modules.
Install with ``pip install fastloss[torch]``: ``import fastloss`` never imports torch.

How a call runs:

- Each function is a ``torch.library`` custom op in the ``fastloss`` namespace
  (``torch.ops.fastloss.cross_entropy``) with an autograd formula and a fake (meta)
  implementation, so ``torch.compile(model, fullgraph=True)`` traces through it without a
  graph break and ``torch.export`` exports it.
- Zero copy: tensors are handed to the C++ core where they lie (``Tensor.numpy()`` shares
  their memory, with their strides); gradients are written into tensors torch allocates.
- Fused gradient: when the loss is reduced and an operand requires grad, the forward pass
  computes the loss and its gradient together (``*_with_grad``, one pass over memory) and keeps
  the gradient for backward, which then only hands it over (scaled by ``grad_output`` when
  that is not 1). The memory trade: the gradient (the size of the differentiated operands)
  lives from forward to backward, instead of being computed in backward. Unreduced losses,
  and calls where nothing requires grad, run the forward alone and a separate backward pass.
- Threads: inside a call fastloss uses ``torch.get_num_threads()`` threads, so fastloss's
  OpenMP pool and torch's intra-op pool never oversubscribe the machine together.
- Devices: fastloss runs on the CPU. A tensor on another device raises a ``RuntimeError``
  naming it, unless :func:`allow_torch_fallback` was called, in which case torch's own
  function runs there.
- Half precision: float16 and bfloat16 tensors go where the NumPy API takes them (bfloat16
  through an int16 view as ``ml_dtypes.bfloat16``: ``pip install fastloss[bfloat16]``),
  computed in float32; a reduced loss comes back in the input's dtype, as torch's.
- Gradients are first order: a double backward (``create_graph=True`` then differentiating
  the gradient) raises a ``RuntimeError`` rather than returning wrong numbers. Gradients with
  respect to operands fastloss does not differentiate (e.g. ``mse_loss``'s target, which torch
  does) raise ``NotImplementedError`` when such an operand requires grad.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401  (only to say how to install it when missing)
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("fastloss.torch needs PyTorch: install it with `pip install fastloss[torch]` "
                      "(or `pip install torch`)") from err

from ._ops import allow_torch_fallback, export_functions
from ._transforms import export_transforms

__all__ = ["allow_torch_fallback", "nn"]
__all__ += export_functions(globals())
__all__ += export_transforms(globals())

from . import nn  # noqa: E402  (its modules wrap the functions above)
