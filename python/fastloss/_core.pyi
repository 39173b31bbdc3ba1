# Stub of the compiled module fastloss._core (checked against it by mypy.stubtest in
# tests/python/test_stub.py). Keep in step with cpp/bindings/.
import enum
from typing import Sequence, SupportsIndex

import numpy as np
from numpy.typing import NDArray

_Float = NDArray[np.float32] | NDArray[np.float64]

# --- runtime (register_runtime.cc) ------------------------------------------------------

def simd_target() -> str: ...
def compiled_targets() -> list[str]: ...
def supported_targets() -> list[str]: ...
def force_target(name: str) -> None: ...
def set_num_threads(n: SupportsIndex) -> None: ...
def get_num_threads() -> int: ...

class UnaryOp(enum.Enum):
    exp = 0
    log = 1
    log1p = 2
    expm1 = 3
    sigmoid = 4
    log_sigmoid = 5
    softplus = 6

def unary(op: UnaryOp, x: _Float, out: _Float | None = None) -> _Float: ...

# --- elementwise losses (register_elementwise.cc) ---------------------------------------

class ElementwiseLoss(enum.Enum):
    binary_cross_entropy = 0
    binary_cross_entropy_with_logits = 1
    mse_loss = 2
    l1_loss = 3
    smooth_l1_loss = 4
    huber_loss = 5
    poisson_nll_loss = 6
    gaussian_nll_loss = 7
    kl_div = 8
    soft_margin_loss = 9
    hinge_embedding_loss = 10
    margin_ranking_loss = 11
    sigmoid_focal_loss = 12

def elementwise_forward(
    loss: ElementwiseLoss,
    input: _Float,
    target: _Float,
    weight: _Float | None = None,
    aux: _Float | None = None,
    reduction: str = "mean",
    params: Sequence[float] = ...,
    out: _Float | None = None,
) -> np.floating | _Float: ...
def elementwise_backward(
    loss: ElementwiseLoss,
    grad_output: float | _Float,
    input: _Float,
    target: _Float,
    weight: _Float | None = None,
    aux: _Float | None = None,
    reduction: str = "mean",
    params: Sequence[float] = ...,
    out: _Float | None = None,
) -> _Float: ...
def elementwise_with_grad(
    loss: ElementwiseLoss,
    input: _Float,
    target: _Float,
    weight: _Float | None = None,
    aux: _Float | None = None,
    reduction: str = "mean",
    params: Sequence[float] = ...,
    out: _Float | None = None,
) -> tuple[np.floating | _Float, _Float]: ...
def elementwise_invalid_count(loss: ElementwiseLoss, input: _Float, target: _Float) -> int: ...

# --- softmax / cross-entropy family (register_cross_entropy.cc) -------------------------

_Index = NDArray[np.int64] | NDArray[np.int32]

class ClassLoss(enum.Enum):
    nll_loss = 0
    cross_entropy = 1
    softmax_focal_loss = 2

def softmax(x: _Float, axis: int, log: bool, out: _Float | None = None) -> _Float: ...
def class_loss_forward(
    loss: ClassLoss,
    input: _Float,
    target: _Index | _Float,
    weight: _Float | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    alpha: float | _Float | None = None,
    gamma: float = 2.0,
) -> np.floating | _Float: ...
def class_loss_backward(
    loss: ClassLoss,
    grad_output: float | _Float,
    input: _Float,
    target: _Index | _Float,
    weight: _Float | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    alpha: float | _Float | None = None,
    gamma: float = 2.0,
    out: _Float | None = None,
) -> _Float: ...
def class_loss_with_grad(
    loss: ClassLoss,
    input: _Float,
    target: _Index | _Float,
    weight: _Float | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    alpha: float | _Float | None = None,
    gamma: float = 2.0,
    out: _Float | None = None,
) -> tuple[np.floating | _Float, _Float]: ...

# --- row-wise losses (register_row_losses.cc) ---------------------------------------------

class RowLoss(enum.Enum):
    cosine_embedding_loss = 0
    multi_margin_loss = 1
    triplet_margin_loss = 2

def row_loss_forward(
    loss: RowLoss,
    inputs: Sequence[_Float],
    target: _Float | NDArray[np.int64] | None = None,
    weight: _Float | None = None,
    reduction: str = "mean",
    margin: float = 0.0,
    margin_p: int = 1,
    norm_p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
) -> np.floating | _Float: ...
def row_loss_backward(
    loss: RowLoss,
    grad_output: float | _Float,
    inputs: Sequence[_Float],
    target: _Float | NDArray[np.int64] | None = None,
    weight: _Float | None = None,
    reduction: str = "mean",
    margin: float = 0.0,
    margin_p: int = 1,
    norm_p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    out: _Float | None = None,
) -> tuple[_Float, ...]: ...
def row_loss_with_grad(
    loss: RowLoss,
    inputs: Sequence[_Float],
    target: _Float | NDArray[np.int64] | None = None,
    weight: _Float | None = None,
    reduction: str = "mean",
    margin: float = 0.0,
    margin_p: int = 1,
    norm_p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    out: _Float | None = None,
) -> tuple[np.floating | _Float, ...]: ...
