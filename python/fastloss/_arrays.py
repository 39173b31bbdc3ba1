"""Argument checks shared by the functional API (shapes, messages in torch's words)."""

from __future__ import annotations

from typing import Union

import numpy as np


# Native-byte-order float32/float64 (dtype equality is byte-order aware).
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def require_ndarray(value: object, name: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of float32 or float64, got {type(value).__name__}")
    if value.dtype not in _FLOAT_DTYPES:  # the core would reject it too, naming its own operand
        raise TypeError(
            f"{name} must be a numpy.ndarray of float32 or float64 (native byte order), got numpy.ndarray of "
            f"dtype {value.dtype}"
        )
    return value


def sum_to_shape(grad: np.ndarray, shape: tuple[int, ...], out: np.ndarray | None) -> np.ndarray:
    """Reduce a gradient computed over a broadcast shape back to the operand's shape."""
    if grad.shape == shape:
        if out is not None and out is not grad:
            out[...] = grad
            return out
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, extent in enumerate(shape) if extent == 1 and grad.shape[lead + i] != 1
    )
    reduced = grad.sum(axis=axes, keepdims=True).reshape(shape)
    if out is None:
        return reduced
    out[...] = reduced
    return out


# A loss value: a NumPy scalar of the input's dtype for "mean"/"sum", an array for "none".
Loss = Union[np.floating, np.ndarray]
# grad_output of a backward call: a scalar for "mean"/"sum", an array for "none".
GradOutput = Union[float, np.ndarray]
