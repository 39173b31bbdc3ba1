# Stub of the compiled module fastloss._core (checked against it by mypy.stubtest in
# tests/python/test_stub.py). Keep in step with cpp/bindings/.
import enum
from typing import Sequence, SupportsIndex, Tuple

import numpy as np
from numpy.typing import NDArray

_Float = NDArray[np.float32] | NDArray[np.float64]
_Index = NDArray[np.int64] | NDArray[np.int32] | NDArray[np.uint8]
_Loss = np.floating | _Float
_Integers = NDArray[np.integer]

# --- runtime (register_runtime.cc) ------------------------------------------------------

def simd_target() -> str: ...
def compiled_targets() -> list[str]: ...
def supported_targets() -> list[str]: ...
def force_target(name: str) -> None: ...
def set_num_threads(n: SupportsIndex) -> None: ...
def get_num_threads() -> int: ...

# --- reductions (loss_call.cc) ----------------------------------------------------------

class Reduction(enum.Enum):
    none = 0
    mean = 1
    sum = 2
    batchmean = 3

# --- transforms (register_transforms.cc) ------------------------------------------------

class UnaryOp(enum.Enum):
    exp = 0
    log = 1
    log1p = 2
    expm1 = 3
    sigmoid = 4
    log_sigmoid = 5
    softplus = 6
    exp_nonpositive = 7
    log_unit = 8

class UnaryBackwardOp(enum.Enum):
    sigmoid_backward = 0
    log_sigmoid_backward = 1

def unary(op: UnaryOp, x: _Float, out: _Float | None = None) -> _Float: ...
def unary_backward(op: UnaryBackwardOp, grad_output: _Float, value: _Float, out: _Float | None = None) -> _Float: ...
def check_out(out: _Float, input: _Float, operands: Sequence[object]) -> None: ...
def softmax(
    x: _Float | NDArray[np.generic], dim: int, log: bool, dtype: np.dtype | None = None, out: _Float | None = None
) -> _Float: ...
def softmax_backward(grad_output: _Float, output: _Float, dim: int, log: bool, out: _Float | None = None) -> _Float: ...

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
    log_cosh_loss = 13

class ElementwiseOptions:
    def __init__(
        self,
        *,
        beta: float = 1.0,
        delta: float = 1.0,
        log_input: bool = True,
        full: bool = False,
        eps: float = 1e-08,
        var_gradient: bool = False,
        log_target: bool = False,
        margin: float = 1.0,
        alpha: float = 0.25,
        gamma: float = 2.0,
    ) -> None: ...
    @property
    def beta(self) -> float: ...
    @property
    def delta(self) -> float: ...
    @property
    def log_input(self) -> bool: ...
    @property
    def full(self) -> bool: ...
    @property
    def eps(self) -> float: ...
    @property
    def var_gradient(self) -> bool: ...
    @property
    def log_target(self) -> bool: ...
    @property
    def margin(self) -> float: ...
    @property
    def alpha(self) -> float: ...
    @property
    def gamma(self) -> float: ...

def elementwise_forward(
    loss: ElementwiseLoss,
    input: _Float,
    target: _Float,
    weight: _Float | None = None,
    aux: _Float | None = None,
    reduction: Reduction = ...,
    options: ElementwiseOptions = ...,
    out: _Float | None = None,
) -> _Loss: ...
def elementwise_forward_parts(
    loss: ElementwiseLoss,
    input: _Float,
    target: _Float,
    weight: _Float | None = None,
    aux: _Float | None = None,
    reduction: Reduction = ...,
    options: ElementwiseOptions = ...,
) -> Tuple[float, float]: ...
def elementwise_backward(
    grad_output: float | _Float,
    loss: ElementwiseLoss,
    input: _Float,
    target: _Float,
    weight: _Float | None = None,
    aux: _Float | None = None,
    reduction: Reduction = ...,
    options: ElementwiseOptions = ...,
    out: _Float | None = None,
) -> tuple[_Float, ...]: ...
def elementwise_with_grad(
    loss: ElementwiseLoss,
    input: _Float,
    target: _Float,
    weight: _Float | None = None,
    aux: _Float | None = None,
    reduction: Reduction = ...,
    options: ElementwiseOptions = ...,
    out: _Float | None = None,
) -> tuple[_Loss, ...]: ...
def elementwise_has_hessian(loss: ElementwiseLoss) -> bool: ...
def elementwise_grad_hess(
    loss: ElementwiseLoss,
    input: _Float,
    target: _Float,
    weight: _Float | None = None,
    aux: _Float | None = None,
    options: ElementwiseOptions = ...,
    hess_floor: float = 0.0,
    out: tuple[_Float, _Float] | None = None,
) -> tuple[_Float, _Float]: ...

# --- class losses (register_class_losses.cc) ----------------------------------------------

class ClassLoss(enum.Enum):
    nll_loss = 0
    cross_entropy = 1
    softmax_focal_loss = 2

class ClassLossOptions:
    def __init__(
        self, *, ignore_index: int = -100, label_smoothing: float = 0.0, alpha: float = 1.0, gamma: float = 2.0
    ) -> None: ...
    @property
    def ignore_index(self) -> int: ...
    @property
    def label_smoothing(self) -> float: ...
    @property
    def alpha(self) -> float: ...
    @property
    def gamma(self) -> float: ...

def class_loss_forward(
    loss: ClassLoss,
    input: _Float,
    target: _Index | _Float,
    weight: _Float | None = None,
    alpha: _Float | None = None,
    reduction: Reduction = ...,
    options: ClassLossOptions = ...,
    out: _Float | None = None,
) -> _Loss: ...
def class_loss_forward_parts(
    loss: ClassLoss,
    input: _Float,
    target: _Index | _Float,
    weight: _Float | None = None,
    alpha: _Float | None = None,
    reduction: Reduction = ...,
    options: ClassLossOptions = ...,
) -> Tuple[float, float]: ...
def class_loss_backward(
    grad_output: float | _Float,
    loss: ClassLoss,
    input: _Float,
    target: _Index | _Float,
    weight: _Float | None = None,
    alpha: _Float | None = None,
    reduction: Reduction = ...,
    options: ClassLossOptions = ...,
    out: _Float | None = None,
) -> tuple[_Float, ...]: ...
def class_loss_with_grad(
    loss: ClassLoss,
    input: _Float,
    target: _Index | _Float,
    weight: _Float | None = None,
    alpha: _Float | None = None,
    reduction: Reduction = ...,
    options: ClassLossOptions = ...,
    out: _Float | None = None,
) -> tuple[_Loss, ...]: ...
def class_grad_hess(
    loss: ClassLoss,
    input: _Float,
    target: _Index,
    weight: _Float | None = None,
    alpha: _Float | None = None,
    options: ClassLossOptions = ...,
    sample_weight: _Float | None = None,
    hess_floor: float = 0.0,
    out: tuple[_Float, _Float] | None = None,
) -> tuple[_Float, _Float]: ...

# --- row-wise losses (register_row_losses.cc) ---------------------------------------------

class RowLoss(enum.Enum):
    cosine_embedding_loss = 0
    multi_margin_loss = 1
    triplet_margin_loss = 2
    multilabel_soft_margin_loss = 3
    multilabel_margin_loss = 4

class RowLossOptions:
    def __init__(
        self, *, margin: float = 0.0, margin_p: int = 1, norm_p: float = 2.0, eps: float = 1e-06, swap: bool = False
    ) -> None: ...
    @property
    def margin(self) -> float: ...
    @property
    def margin_p(self) -> int: ...
    @property
    def norm_p(self) -> float: ...
    @property
    def eps(self) -> float: ...
    @property
    def swap(self) -> bool: ...

def row_loss_forward(
    loss: RowLoss,
    inputs: Sequence[_Float],
    target: _Float | _Index | None = None,
    weight: _Float | None = None,
    reduction: Reduction = ...,
    options: RowLossOptions = ...,
    out: _Float | None = None,
) -> _Loss: ...
def row_loss_forward_parts(
    loss: RowLoss,
    inputs: Sequence[_Float],
    target: _Float | _Index | None = None,
    weight: _Float | None = None,
    reduction: Reduction = ...,
    options: RowLossOptions = ...,
) -> Tuple[float, float]: ...
def row_loss_backward(
    grad_output: float | _Float,
    loss: RowLoss,
    inputs: Sequence[_Float],
    target: _Float | _Index | None = None,
    weight: _Float | None = None,
    reduction: Reduction = ...,
    options: RowLossOptions = ...,
    out: _Float | None = None,
) -> tuple[_Float, ...]: ...
def row_loss_with_grad(
    loss: RowLoss,
    inputs: Sequence[_Float],
    target: _Float | _Index | None = None,
    weight: _Float | None = None,
    reduction: Reduction = ...,
    options: RowLossOptions = ...,
    out: _Float | None = None,
) -> tuple[_Loss, ...]: ...

# --- ctc_loss (register_ctc.cc) -------------------------------------------------------------

def ctc_loss_forward(
    log_probs: _Float,
    targets: _Integers,
    input_lengths: _Integers,
    target_lengths: _Integers,
    reduction: Reduction = ...,
    blank: int = 0,
    zero_infinity: bool = False,
    out: _Float | None = None,
) -> _Loss: ...
def ctc_loss_forward_parts(
    log_probs: _Float,
    targets: _Integers,
    input_lengths: _Integers,
    target_lengths: _Integers,
    reduction: Reduction = ...,
    blank: int = 0,
    zero_infinity: bool = False,
) -> Tuple[float, float]: ...
def ctc_loss_backward(
    grad_output: float | _Float,
    log_probs: _Float,
    targets: _Integers,
    input_lengths: _Integers,
    target_lengths: _Integers,
    reduction: Reduction = ...,
    blank: int = 0,
    zero_infinity: bool = False,
    out: _Float | None = None,
) -> tuple[_Float, ...]: ...
def ctc_loss_with_grad(
    log_probs: _Float,
    targets: _Integers,
    input_lengths: _Integers,
    target_lengths: _Integers,
    reduction: Reduction = ...,
    blank: int = 0,
    zero_infinity: bool = False,
    out: _Float | None = None,
) -> tuple[_Loss, ...]: ...
