"""linear_cross_entropy: a linear layer's logits fed to cross_entropy, one block of rows at a time.

The (N, C) logits of a language model's head are never formed. Each block of rows gets
its logits from NumPy's matrix product (NumPy's own BLAS: no BLAS is linked into fastloss)
into one reused buffer; fastloss's fused cross_entropy kernel turns them, in place, into
their loss and gradient; and the gradient block is multiplied back into ``grad_input``'s
rows and accumulated into ``grad_linear_weight`` before the next block overwrites it. The
extra memory is that buffer (about ``_BLOCK_BYTES``), a slice of the weight's gradient
(``_WEIGHT_CHUNK_BYTES``) and O(C) for the bias's gradient, whatever N.

Why NumPy's BLAS: the products are over 99% of the work and must run at BLAS speed;
NumPy already ships an optimised, threaded BLAS (OpenBLAS in its wheels, Accelerate or MKL
in other builds), so fastloss's wheel stays small and BLAS-free and needs no BLAS licence
or thread pool of its own. ``numpy.matmul`` cannot accumulate (no ``beta``), so blocks
after the first add their share of the weight's gradient through a chunk-sized temporary.
Full-vocabulary row blocks need no online log-sum-exp across vocabulary blocks: a block's
rows are whole, and the fused kernel reads each of them once.

This module is the one place that checks the linear operands (input, linear_weight,
linear_bias, the ``out`` gradients): their types, dtypes and torch's shape rules and
messages. Everything cross_entropy takes (targets, class weights, their values) is checked
by cross_entropy's own binding and scans, run on the whole batch before any product
(``_check_targets``). Blocks are fixed by the shapes alone and combined in index order,
so results do not depend on fastloss's thread count. NumPy's OpenBLAS rounds its
products differently with one thread than with several (measured: 1 thread differs from
2 and 4, which agree), which fastloss does not control.
"""

from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple

import numpy as np

from . import _core

# The logits block: its rows hold at least this many bytes' worth of logits (one row at least).
_BLOCK_BYTES = 32 << 20
# grad_linear_weight's rows are accumulated through a temporary of at most this many bytes.
_WEIGHT_CHUNK_BYTES = 16 << 20

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_CE = _core.ClassLoss.cross_entropy


def _float_array(value: Any, name: str, dtype: Optional[np.dtype] = None) -> np.ndarray:
    """``value`` as a float32/float64 array (of ``dtype`` when given), with the bindings' messages."""
    if not isinstance(value, np.ndarray) or value.dtype not in _FLOAT_DTYPES:
        described = f"numpy.ndarray of dtype {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
        raise TypeError(f"{name} must be a numpy.ndarray of float32 or float64 (native byte order), got {described}")
    if dtype is not None and value.dtype != dtype:
        raise TypeError(f"{name} must have the input's dtype {dtype}, got {value.dtype}")
    return value


class LinearCrossEntropy:
    """One call: its operands checked and laid out as (rows, features) and (classes, features)."""

    def __init__(self, input: Any, linear_weight: Any, target: Any, linear_bias: Any, weight: Any,
                 reduction: "_core.Reduction", ignore_index: Optional[int], label_smoothing: float) -> None:
        input = _float_array(input, "input")
        linear_weight = _float_array(linear_weight, "linear_weight", input.dtype)
        if input.ndim < 1 or input.ndim > 2:
            raise ValueError(f"expected input with dimensionality 1 or 2, got {input.ndim}")
        if linear_weight.ndim < 2:
            raise ValueError(f"expected linear_weight with dimensionality at least 2, got {linear_weight.ndim}")
        in_features = input.shape[-1]
        if in_features != linear_weight.shape[-1]:
            raise ValueError("expected equal input and linear_weight last dimensions (in_features), "
                             f"got {in_features} and {linear_weight.shape[-1]}, respectively")
        classes, out_features = linear_weight.shape[0], linear_weight.shape[1:-1]
        if linear_bias is not None:
            linear_bias = _float_array(linear_bias, "linear_bias", input.dtype)
            if linear_bias.shape != (classes, *out_features):
                raise ValueError(f"expected linear_bias shape {(classes, *out_features)}, got {linear_bias.shape}")
        batched = input.ndim == 2
        if out_features and not batched:
            raise ValueError(
                f"K-dimensional loss defined by linear_weight shape {linear_weight.shape} requires batched input, "
                f"(N, {in_features}), got unbatched input with shape {input.shape}")
        batch = input.shape[:-1]
        self.logits_shape = (*batch, classes, *out_features)
        self.probabilities = isinstance(target, np.ndarray) and target.shape == self.logits_shape
        if self.probabilities and ignore_index is not None:
            raise ValueError("ignore_index cannot be specified when target contains probabilities")
        self.options = _core.ClassLossOptions(ignore_index=-100 if ignore_index is None else ignore_index,
                                              label_smoothing=label_smoothing)
        self.input, self.linear_weight, self.linear_bias = input, linear_weight, linear_bias
        self.target, self.weight, self.reduction = target, weight, reduction
        self.batched = batched
        self.rows = input.shape[0] if batched else 1
        self.positions = math.prod(out_features)  # logits per class and row (1 without out_features)
        self.outputs = classes * self.positions  # the linear layer's outputs per row
        self.loss_shape = (*batch, *out_features)
        self.denominator = self._check_targets()
        # Rows per block: the logits of a block fill about _BLOCK_BYTES.
        self.block_rows = max(1, _BLOCK_BYTES // max(1, self.outputs * input.dtype.itemsize))

    def _check_targets(self) -> float:
        """Check target and weight with cross_entropy's binding and scans, before any product, on
        logits that take no memory (zeros broadcast to their shape); return the "mean"
        reduction's denominator (the weighted count of non-ignored targets, or the count of
        positions for probability targets)."""
        logits = np.broadcast_to(np.zeros((), self.input.dtype), self.logits_shape)
        if self.probabilities:  # an empty batch: the arrays are checked, nothing is computed
            _core.class_loss_forward_parts(_CE, self._batched(logits)[:0], self._batched(self.target)[:0],
                                           self.weight, None, _core.Reduction.sum, self.options)
            return float(self.rows * self.positions)
        # nll_loss reads one logit per target: O(N), and its denominator is cross_entropy's.
        _, denominator = _core.class_loss_forward_parts(
            _core.ClassLoss.nll_loss, logits, self.target, self.weight, None, _core.Reduction.mean,
            _core.ClassLossOptions(ignore_index=self.options.ignore_index))
        return float(denominator)

    # --- blocks -------------------------------------------------------------------------------

    def _batched(self, array: np.ndarray) -> np.ndarray:
        return array if self.batched else array[None]

    def _blocks(self) -> Any:
        """(rows, hidden block, target block, logits block) for each block, in order; the logits
        share one buffer."""
        hidden, target = self._batched(self.input), self._batched(self.target)
        weight2d = self.linear_weight.reshape(self.outputs, -1)
        bias = None if self.linear_bias is None else self.linear_bias.reshape(self.outputs)
        buffer = np.empty((min(self.block_rows, self.rows), self.outputs), self.input.dtype)
        for start in range(0, self.rows, self.block_rows):
            rows = slice(start, min(start + self.block_rows, self.rows))
            logits = np.matmul(hidden[rows], weight2d.T, out=buffer[:rows.stop - start])
            if bias is not None:
                logits += bias
            yield rows, hidden[rows], target[rows], logits.reshape(-1, *self.logits_shape[1 if self.batched else 0:])

    def _core_reduction(self) -> "_core.Reduction":
        """Blocks are reduced by "sum" (the mean's denominator is the whole batch's)."""
        return _core.Reduction.none if self.reduction == _core.Reduction.none else _core.Reduction.sum

    def _loss(self, block_sums: float) -> Any:
        if self.reduction == _core.Reduction.mean:
            with np.errstate(divide="ignore", invalid="ignore"):  # all ignored: NaN, as torch
                block_sums = np.float64(block_sums) / self.denominator
        return self.input.dtype.type(block_sums)

    # --- passes -------------------------------------------------------------------------------

    def forward(self) -> Any:
        none = self.reduction == _core.Reduction.none
        losses: Any = np.empty(self.loss_shape, self.input.dtype) if none else None
        total = 0.0
        for rows, _, target, logits in self._blocks():
            if none:
                self._batched(losses)[rows] = _core.class_loss_forward(
                    _CE, logits, target, self.weight, None, _core.Reduction.none, self.options)
            else:  # each block's float64 sum rounded once, the blocks added in float64 in order
                total += float(_core.class_loss_forward(_CE, logits, target, self.weight, None,
                                                        _core.Reduction.sum, self.options))
        return losses if none else self._loss(total)

    def gradients(self, grad_output: Any, out: Any, with_loss: bool) -> Tuple[Any, Tuple[Any, ...]]:
        """(loss or None, (grad_input, grad_linear_weight, grad_linear_bias)).

        Each block's logits become their gradient in place (cross_entropy's fused kernel,
        "sum" or "none" reduced with ``grad_output``); the mean's 1 / denominator scales
        grad_input's rows and, once at the end, the weight's and the bias's gradients.
        """
        grad_input, grad_weight, grad_bias = self._gradient_arrays(out)
        none = self.reduction == _core.Reduction.none
        losses: Any = np.empty(self.loss_shape, self.input.dtype) if with_loss and none else None
        # Every target ignored (denominator 0): zero gradients, as torch (their rows are 0 anyway).
        mean = self.reduction == _core.Reduction.mean and self.denominator
        scale = 1.0 / self.denominator if mean else 1.0
        weight_rows = grad_weight.reshape(self.outputs, -1)
        weight2d = self.linear_weight.reshape(self.outputs, -1)
        input_rows = self._batched(grad_input)
        bias_sum: Any = np.zeros(self.outputs) if grad_bias is not None else None
        chunk = max(1, _WEIGHT_CHUNK_BYTES // max(1, weight2d.shape[1] * self.input.dtype.itemsize))
        partial = None
        total = 0.0
        for rows, hidden, target, logits in self._blocks():
            if with_loss:
                loss, grad = _core.class_loss_with_grad(_CE, logits, target, self.weight, None,
                                                        self._core_reduction(), self.options, out=logits)
                if none:
                    self._batched(losses)[rows] = loss
                else:
                    total += float(loss)
            else:
                go = self._grad_output_rows(grad_output, rows)
                (grad,) = _core.class_loss_backward(go, _CE, logits, target, self.weight, None,
                                                    self._core_reduction(), self.options, out=logits)
            grad = grad.reshape(-1, self.outputs)
            # d loss / d W = G^T H: the first block writes it, the next ones add to it chunk by
            # chunk of classes (matmul cannot accumulate), in block order.
            if rows.start == 0:
                np.matmul(grad.T, hidden, out=weight_rows)
            else:
                if partial is None:
                    partial = np.empty((min(chunk, self.outputs), weight2d.shape[1]), self.input.dtype)
                for first in range(0, self.outputs, chunk):
                    classes = slice(first, min(first + chunk, self.outputs))
                    weight_rows[classes] += np.matmul(grad[:, classes].T, hidden,
                                                      out=partial[:classes.stop - first])
            if bias_sum is not None:
                bias_sum += grad.sum(axis=0, dtype=np.float64)
            # After the weight's gradient: grad_input may be the input itself.
            block_grad = np.matmul(grad, weight2d, out=input_rows[rows])
            if scale != 1.0:
                block_grad *= scale
        if self.rows == 0:  # no block: nothing was written
            grad_weight[...] = 0
        elif scale != 1.0:
            grad_weight *= scale
        if grad_bias is not None:
            grad_bias[...] = (bias_sum * scale).reshape(grad_bias.shape)
        loss_value = (losses if none else self._loss(total)) if with_loss else None
        return loss_value, (grad_input, grad_weight, grad_bias)

    def _grad_output_rows(self, grad_output: Any, rows: slice) -> Any:
        """grad_output for a block: the block's rows of an array of the loss's shape; anything
        else as it is (a scalar, or an array broadcast to each block; the binding checks both)."""
        if isinstance(grad_output, np.ndarray) and grad_output.ndim and grad_output.shape == self.loss_shape:
            return self._batched(grad_output)[rows]
        return grad_output

    def _gradient_arrays(self, out: Any) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """The gradients' arrays: ``out``'s (checked) or new ones."""
        operands = (self.input, self.linear_weight, self.linear_bias)
        if out is None:
            return (np.empty_like(self.input, order="C"), np.empty_like(self.linear_weight, order="C"),
                    None if self.linear_bias is None else np.empty_like(self.linear_bias, order="C"))
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise TypeError("out must be a tuple (grad_input, grad_linear_weight, grad_linear_bias)")
        checked: List[Optional[np.ndarray]] = []
        for k, (array, operand) in enumerate(zip(out, operands)):
            name = f"out[{k}]"
            if operand is None:
                if array is not None:
                    raise ValueError(f"{name} must be None: there is no linear_bias")
                checked.append(None)
                continue
            _float_array(array, name, self.input.dtype)
            if array.shape != operand.shape:
                raise ValueError(f"{name} must have shape {operand.shape}, got {array.shape}")
            if not array.flags.writeable:
                raise ValueError(f"{name} is read-only")
            if not array.flags.c_contiguous:
                raise ValueError(f"{name} must be C-contiguous")
            overlaps = [other for other in (*operands, self.target, self.weight)
                        if isinstance(other, np.ndarray) and np.may_share_memory(array, other)]
            if overlaps and not (k == 0 and all(other is self.input for other in overlaps)):
                raise ValueError(f"{name} overlaps an operand (only out[0] may be the input itself)")
            checked.append(array)
        return checked[0], checked[1], checked[2]  # type: ignore[return-value]
