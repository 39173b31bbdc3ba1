"""Parity with torch 2.13 on torch's own test inputs.

Every OpInfo of ``torch.testing._internal.common_methods_invocations.op_db`` with a fastloss
counterpart (``FUNCTIONS``) and every ModuleInfo of ``common_modules.module_db`` with a
``fastloss.nn`` class (``MODULES``) is run sample by sample, in float32 and float64: the
sample's tensors become NumPy arrays (views of the same memory, strides kept), fastloss is
called with the sample's arguments, and its value, every gradient its ``_backward`` returns
(under a random ``grad_output``) and its ``_with_grad`` (loss and gradients under a unit
``grad_output``) are compared with torch's forward and autograd on the same tensors.

A sample fastloss rejects by design is listed by its id in ``DESIGN_EXCEPTIONS`` with the
error it must raise and the reason; any other sample must pass, a listed one must raise
exactly that error, and a listed id no sample has is an error too. Nothing is skipped.
``test_accounting`` prints the counts.
"""

from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pytest
import torch
from torch.testing._internal.common_methods_invocations import op_db  # needs expecttest
from torch.testing._internal.common_modules import module_db

import fastloss.functional as F
from conftest import tolerances
from fastloss import nn
from fastloss._declare import DECLARATIONS

# kl_div's "mean" warns in torch and in fastloss alike (test_divergence checks fastloss's);
# here it would only repeat once per sample.
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")

# --- the counterparts: how fastloss computes what a torch op or module computes ---------------


@dataclass(frozen=True)
class Loss:
    """A loss ``name``: its value, ``name_backward`` (the gradients of the arguments its
    Declaration lists, in that order, or ``grads`` for a function without one) and
    ``name_with_grad`` (unless ``fused`` is False: the distances have none)."""

    name: str
    grads: Tuple[str, ...] = ()
    fused: bool = True

    def gradient_names(self) -> Tuple[str, ...]:
        return self.grads or DECLARATIONS[self.name].grads

    def function(self) -> Callable[..., Any]:
        return getattr(F, self.name)  # type: ignore[no-any-return]

    def backward(self, grad_output: Any, args: Tuple, kwargs: Dict, value: Any) -> Tuple:
        return _tuple(getattr(F, self.name + "_backward")(grad_output, *args, **kwargs))

    def with_grad(self, args: Tuple, kwargs: Dict) -> Optional[Tuple]:
        if not self.fused:
            return None
        loss, *grads = getattr(F, self.name + "_with_grad")(*args, **kwargs)
        return loss, tuple(grads)


@dataclass(frozen=True)
class Transform:
    """softmax, log_softmax, sigmoid and log_sigmoid: the value, and the input's gradient from
    fastloss's backward function ``gradient(grad_output, input, output, arguments)`` (softmax's
    and sigmoid's from the output, log_sigmoid's from the input, as aten's)."""

    name: str
    gradient: Callable[[Any, Any, Any, Dict[str, Any]], Any]

    def gradient_names(self) -> Tuple[str, ...]:
        return ("input",)

    def function(self) -> Callable[..., Any]:
        return getattr(F, self.name)  # type: ignore[no-any-return]

    def backward(self, grad_output: Any, args: Tuple, kwargs: Dict, value: Any) -> Tuple:
        return (self.input_gradient(grad_output, value, bind(self.function(), args, kwargs)),)

    def input_gradient(self, grad_output: Any, output: Any, arguments: Dict[str, Any]) -> np.ndarray:
        input = arguments["input"]
        grad = self.gradient(grad_output, input, output, arguments)
        # With torch's dtype= the result (and so grad_output) has that dtype; torch's gradient
        # reaches the input cast back to the input's dtype, as aten's input_dtype argument does.
        return grad.astype(input.dtype, copy=False)  # type: ignore[no-any-return]

    def with_grad(self, args: Tuple, kwargs: Dict) -> Optional[Tuple]:
        return None  # transforms have no fused loss-and-gradient function


@dataclass(frozen=True)
class Gradient:
    """A gradient function of fastloss's compared as a value (its own gradient is torch's
    second derivative, which fastloss does not provide)."""

    name: str

    def gradient_names(self) -> Tuple[str, ...]:
        return ()

    def function(self) -> Callable[..., Any]:
        return getattr(F, self.name)  # type: ignore[no-any-return]

    def backward(self, grad_output: Any, args: Tuple, kwargs: Dict, value: Any) -> Tuple:
        return ()

    def with_grad(self, args: Tuple, kwargs: Dict) -> Optional[Tuple]:
        return None


def _softmax_gradient(grad_output, input, output, arguments):
    return F.softmax_backward(grad_output, output, _dim(arguments))


def _log_softmax_gradient(grad_output, input, output, arguments):
    return F.log_softmax_backward(grad_output, output, _dim(arguments))


def _dim(arguments: Dict[str, Any]) -> int:
    dim = arguments.get("dim")
    assert dim is not None, "every softmax sample of torch's names its dim"
    return int(dim)


SOFTMAX = Transform("softmax", _softmax_gradient)
LOG_SOFTMAX = Transform("log_softmax", _log_softmax_gradient)


def _drop_input_dtype(args: Tuple, kwargs: Dict) -> Tuple[Tuple, Dict]:
    """aten's ``_softmax_backward_data(grad_output, output, dim, input_dtype)``: fastloss's
    result has grad_output's dtype, so input_dtype must be that dtype (torch's CPU samples
    always are) and is dropped."""
    grad_output, output, dim, input_dtype = args
    assert input_dtype == grad_output.dtype, input_dtype
    return (grad_output, output, dim), kwargs


def _same(args: Tuple, kwargs: Dict) -> Tuple[Tuple, Dict]:
    return args, kwargs


def _fastloss_distance(args: Tuple, kwargs: Dict) -> Tuple[Tuple, Dict]:
    """torch's samples pass a ``torch.nn.PairwiseDistance`` module as the distance function:
    fastloss's counterpart is its ``pairwise_distance`` with the module's options."""
    distance = kwargs.get("distance_function")
    if isinstance(distance, torch.nn.PairwiseDistance):
        kwargs = {**kwargs, "distance_function": functools.partial(
            F.pairwise_distance, p=distance.norm, eps=distance.eps, keepdim=distance.keepdim)}
    return args, kwargs


@dataclass(frozen=True)
class Function:
    """One OpInfo's counterpart; ``translate`` maps torch's arguments to fastloss's (on the
    torch side, before the tensors become arrays)."""

    counterpart: Any
    translate: Callable[[Tuple, Dict], Tuple[Tuple, Dict]] = _same


# torch's OpInfo (name, variant) -> fastloss. A loss added to fastloss is one line here.
FUNCTIONS: Dict[Tuple[str, str], Function] = {
    ("nn.functional.binary_cross_entropy", ""): Function(Loss("binary_cross_entropy")),
    ("nn.functional.binary_cross_entropy_with_logits", ""): Function(Loss("binary_cross_entropy_with_logits")),
    ("nn.functional.multilabel_soft_margin_loss", ""): Function(Loss("multilabel_soft_margin_loss")),
    ("nn.functional.mse_loss", ""): Function(Loss("mse_loss")),
    ("nn.functional.l1_loss", ""): Function(Loss("l1_loss")),
    ("nn.functional.smooth_l1_loss", ""): Function(Loss("smooth_l1_loss")),
    ("nn.functional.huber_loss", ""): Function(Loss("huber_loss")),
    ("nn.functional.poisson_nll_loss", ""): Function(Loss("poisson_nll_loss")),
    ("nn.functional.gaussian_nll_loss", ""): Function(Loss("gaussian_nll_loss")),
    ("nn.functional.kl_div", ""): Function(Loss("kl_div")),
    ("nn.functional.soft_margin_loss", ""): Function(Loss("soft_margin_loss")),
    ("nn.functional.hinge_embedding_loss", ""): Function(Loss("hinge_embedding_loss")),
    ("nn.functional.margin_ranking_loss", ""): Function(Loss("margin_ranking_loss")),
    ("nn.functional.nll_loss", ""): Function(Loss("nll_loss")),
    ("nn.functional.cross_entropy", ""): Function(Loss("cross_entropy")),
    ("nn.functional.cosine_embedding_loss", ""): Function(Loss("cosine_embedding_loss")),
    ("nn.functional.multi_margin_loss", ""): Function(Loss("multi_margin_loss")),
    ("nn.functional.triplet_margin_loss", ""): Function(Loss("triplet_margin_loss")),
    ("nn.functional.multilabel_margin_loss", ""): Function(Loss("multilabel_margin_loss")),
    ("nn.functional.ctc_loss", ""): Function(Loss("ctc_loss")),
    ("nn.functional.triplet_margin_with_distance_loss", ""): Function(
        Loss("triplet_margin_with_distance_loss", ("anchor", "positive", "negative")), _fastloss_distance),
    ("nn.functional.pairwise_distance", ""): Function(Loss("pairwise_distance", ("x1", "x2"), fused=False)),
    ("nn.functional.cosine_similarity", ""): Function(Loss("cosine_similarity", ("x1", "x2"), fused=False)),
    ("softmax", ""): Function(SOFTMAX),
    ("softmax", "with_dtype"): Function(SOFTMAX),
    ("log_softmax", ""): Function(LOG_SOFTMAX),
    ("log_softmax", "with_dtype"): Function(LOG_SOFTMAX),
    ("sigmoid", ""): Function(Transform("sigmoid", lambda g, x, y, a: F.sigmoid_backward(g, y))),
    ("nn.functional.logsigmoid", ""): Function(Transform("log_sigmoid", lambda g, x, y, a: F.log_sigmoid_backward(g, x))),
    ("_softmax_backward_data", ""): Function(Gradient("softmax_backward"), _drop_input_dtype),
}


@dataclass(frozen=True)
class Module:
    """A ``fastloss.nn`` class: called as torch's module is, ``backward(grad_output)`` and
    ``with_grad``; a transform module's gradient is its functional's (``transform``)."""

    cls: type
    transform: Optional[Transform] = None


# torch.nn class name -> fastloss.nn. A loss class added to fastloss is one line here.
MODULES: Dict[str, Module] = {
    name: Module(getattr(nn, name)) for name in (
        "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss",
        "PoissonNLLLoss", "GaussianNLLLoss", "SoftMarginLoss", "HingeEmbeddingLoss", "MarginRankingLoss",
        "MultiLabelSoftMarginLoss", "NLLLoss", "CrossEntropyLoss", "CosineEmbeddingLoss", "MultiMarginLoss",
        "MultiLabelMarginLoss", "CTCLoss",
    )
}
MODULES["Softmax"] = Module(nn.Softmax, SOFTMAX)
MODULES["LogSoftmax"] = Module(nn.LogSoftmax, LOG_SOFTMAX)


@dataclass(frozen=True)
class DesignException:
    """A sample fastloss rejects on purpose: the error it raises and why."""

    error: type
    message: str  # a regular expression the error's message matches
    reason: str


# Sample id (without the dtype) -> why fastloss rejects it; both dtypes must raise. None today:
# the integer label targets of MarginRankingLoss and MultiLabelSoftMarginLoss, once listed here,
# are read since issue #11's integer targets landed.
DESIGN_EXCEPTIONS: Dict[str, DesignException] = {}

# --- running one sample -----------------------------------------------------------------------


def bind(function: Callable[..., Any], args: Tuple, kwargs: Dict) -> Dict[str, Any]:
    return dict(inspect.signature(function).bind(*args, **kwargs).arguments)


def _map(value: Any, leaf: Callable[[torch.Tensor], Any]) -> Any:
    """``value`` with every tensor inside (lists, tuples, dicts) replaced by ``leaf(tensor)``."""
    if isinstance(value, torch.Tensor):
        return leaf(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_map(v, leaf) for v in value)
    if isinstance(value, dict):
        return {k: _map(v, leaf) for k, v in value.items()}
    return value


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()  # the tensor's memory and strides, no copy


def _compare(actual: Any, expected: torch.Tensor, dtype: torch.dtype, what: str) -> None:
    expected_np = expected.detach().numpy()
    assert actual is not None, f"{what}: fastloss gave None"
    assert np.shape(actual) == expected_np.shape, f"{what}: shape {np.shape(actual)} != torch's {expected_np.shape}"
    assert np.asarray(actual).dtype == expected_np.dtype, f"{what}: dtype {np.asarray(actual).dtype} != {expected_np.dtype}"
    # Tolerance: torch's own float32 results carry float32 rounding from its op-by-op
    # evaluation (a few ULP per op, and cancellation in p - onehot-like gradients), while
    # fastloss accumulates float32 in float64 with math of at most 2.5 ULP (math.hpp): both
    # sit within rtol 2e-5 / atol 1e-6 of the truth on these small (< 1000 element) samples.
    # In float64 both are accurate to a few ULP times the reduction length: rtol 1e-11 /
    # atol 1e-13. These are the suite's tolerances (conftest.tolerances), used for every
    # parity test against torch.
    tol = tolerances(np.float32 if dtype == torch.float32 else np.float64)
    if dtype == torch.float32 and what.split("#")[0] in FLOAT32_RECURRENCES:
        tol = FLOAT32_RECURRENCE_TOLERANCE
    np.testing.assert_allclose(np.asarray(actual), expected_np, err_msg=what, **tol)


# CTC's alpha/beta recursions run in float32 over the T frames, in torch's CPU kernel and in
# fastloss alike (it keeps torch's choice), so each float32 result carries rounding that grows
# with T, each in its own order: on these samples (T <= 50) they differ by up to 2e-4
# relative, 2e-5 absolute, and each is that far from the float64 result (test_ctc.py checks
# fastloss's float32 error stays within twice torch's own).
FLOAT32_RECURRENCES = {"nn.functional.ctc_loss", "nn.CTCLoss"}
FLOAT32_RECURRENCE_TOLERANCE = {"rtol": 1e-3, "atol": 1e-4}


@dataclass
class Case:
    """One sample in one dtype: how torch computes it, how fastloss does."""

    sample: str  # the sample's id: op or module, its index in torch's list, (a module's) description
    dtype: torch.dtype
    torch_call: Callable[[Callable[[torch.Tensor], Any]], torch.Tensor]  # leaf -> output
    fastloss_call: Callable[[Callable[[torch.Tensor], Any]], "FastlossCall"]  # leaf -> the call

    @property
    def id(self) -> str:
        return f"{self.sample}/{str(self.dtype).removeprefix('torch.')}"


@dataclass
class FastlossCall:
    value: Callable[[], Any]
    backward: Callable[[Any, Any], Tuple]  # (grad_output, value) -> gradients
    with_grad: Callable[[], Optional[Tuple]]
    gradient_tensors: Tuple[Any, ...]  # the torch tensors whose gradients backward returns


def _grad_output(output: torch.Tensor, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(0.5, 1.5, size=tuple(output.shape))).to(output.dtype)


class _Leaves:
    """Each tensor of a sample, by its place in the sample, as a fresh leaf sharing its memory.

    torch's samples can pass one tensor twice (KLDivLoss's scalar samples: input is target);
    each place gets its own leaf, so autograd's gradient of the input is the input's alone,
    as fastloss's is. fastloss's call walks the sample first, then (after ``rewind``) torch's
    call walks it in the same order and gets the same leaves; those fastloss differentiates
    require grad."""

    def __init__(self) -> None:
        self.leaves: List[Tuple[torch.Tensor, torch.Tensor]] = []
        self.position = 0

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.position == len(self.leaves):
            self.leaves.append((tensor, tensor.detach()))
        original, leaf = self.leaves[self.position]
        assert original is tensor, "torch's call walks the sample as fastloss's did"
        self.position += 1
        return leaf

    def rewind(self) -> None:
        self.position = 0


def run_case(case: Case) -> None:
    """Value, ``_backward`` and ``_with_grad`` of fastloss against torch on one sample."""
    leaf = _Leaves()
    call = case.fastloss_call(leaf)
    for t in call.gradient_tensors:
        if isinstance(t, torch.Tensor):  # one of the leaves
            t.requires_grad_(True)
    leaf.rewind()
    expected = case.torch_call(leaf)

    value = call.value()
    _compare(value, expected, case.dtype, f"{case.id}: value")
    if not call.gradient_tensors:
        return
    differentiable = [t for t in call.gradient_tensors if isinstance(t, torch.Tensor)]

    def torch_grads(grad_output: torch.Tensor) -> List[torch.Tensor]:
        grads = torch.autograd.grad(expected, differentiable, grad_output, retain_graph=True, allow_unused=True)
        return [torch.zeros_like(t) if g is None else g for t, g in zip(differentiable, grads)]

    def check(grads: Tuple, grad_output: torch.Tensor, what: str) -> None:
        assert len(grads) == len(call.gradient_tensors), f"{what}: {len(grads)} gradients"
        reference = iter(torch_grads(grad_output))
        for i, (grad, t) in enumerate(zip(grads, call.gradient_tensors)):
            if isinstance(t, torch.Tensor):
                _compare(grad, next(reference), case.dtype, f"{case.id}: {what} {i}")
            else:  # a Python number (gaussian_nll_loss's float var) has no gradient
                assert grad is None, f"{what} {i}: the gradient of a number"

    grad_output = _grad_output(expected, 0)
    # torch's grad_output has the output's shape: a 0-d array for a reduced loss, which fastloss
    # takes as it takes a scalar.
    check(call.backward(grad_output.numpy(), value), grad_output, "backward gradient")
    fused = call.with_grad()
    if fused is not None:
        _compare(fused[0], expected, case.dtype, f"{case.id}: with_grad value")
        check(fused[1], torch.ones_like(expected), "with_grad gradient")


def _function_call(function: Function, input: Any, args: Tuple, kwargs: Dict) -> Callable:
    counterpart = function.counterpart

    def fastloss_call(leaf: Callable[[torch.Tensor], Any]) -> FastlossCall:
        torch_args, torch_kwargs = function.translate(_map((input, *args), leaf), _map(kwargs, leaf))
        names = bind(counterpart.function(), torch_args, torch_kwargs)
        arrays = _map(torch_args, _array), _map(torch_kwargs, _array)
        return FastlossCall(
            value=lambda: counterpart.function()(*arrays[0], **arrays[1]),
            backward=lambda go, value: counterpart.backward(go, *arrays, value),
            with_grad=lambda: counterpart.with_grad(*arrays),
            gradient_tensors=tuple(names[g] for g in counterpart.gradient_names()),
        )

    return fastloss_call


def _module_call(module: Module, constructor: Tuple[Tuple, Dict], forward: Tuple[Tuple, Dict]) -> Callable:
    def fastloss_call(leaf: Callable[[torch.Tensor], Any]) -> FastlossCall:
        instance = module.cls(*_map(constructor[0], _array), **_map(constructor[1], _array))
        torch_args = _map(forward[0], leaf)
        args, kwargs = _map(torch_args, _array), _map(_map(forward[1], leaf), _array)
        transform = module.transform
        if transform is not None:
            return FastlossCall(
                value=lambda: instance(*args, **kwargs),
                backward=lambda go, value: (transform.input_gradient(go, value, {"input": args[0], "dim": instance.dim}),),
                with_grad=lambda: None,
                gradient_tensors=(torch_args[0],),
            )
        declaration = instance._declaration
        positions = [declaration.names.index(g) for g in declaration.grads]
        return FastlossCall(
            value=lambda: instance(*args, **kwargs),
            backward=lambda go, value: _tuple(instance.backward(go)),
            with_grad=lambda: (lambda r: (r[0], tuple(r[1:])))(instance.with_grad(*args, **kwargs)),
            gradient_tensors=tuple(torch_args[p] for p in positions),
        )

    return fastloss_call


def _tuple(grads: Any) -> Tuple:
    return grads if isinstance(grads, tuple) else (grads,)


def _cases() -> Iterator[Case]:
    for dtype in (torch.float32, torch.float64):
        for op in op_db:
            function = FUNCTIONS.get((op.name, op.variant_test_name))
            if function is None:
                continue
            torch.manual_seed(0)
            name = op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")
            for i, sample in enumerate(op.sample_inputs("cpu", dtype, requires_grad=True)):
                def torch_call(leaf, op=op, sample=sample):
                    return op(_map(sample.input, leaf), *_map(sample.args, leaf), **_map(sample.kwargs, leaf))
                yield Case(f"{name}#{i}", dtype, torch_call,
                           _function_call(function, sample.input, sample.args, sample.kwargs))
        for info in module_db:
            module = MODULES.get(info.module_cls.__name__)
            if module is None:
                continue
            torch.manual_seed(0)
            inputs = info.module_inputs_func(info, device="cpu", dtype=dtype, requires_grad=True, training=False)
            for i, mi in enumerate(inputs):
                constructor = (mi.constructor_input.args, mi.constructor_input.kwargs)
                forward = (mi.forward_input.args, mi.forward_input.kwargs)

                def torch_call(leaf, info=info, constructor=constructor, forward=forward, dtype=dtype):
                    # torch's module tests move the module to the dtype (its weight buffers too).
                    instance = info.module_cls(*constructor[0], **constructor[1]).to(dtype)
                    return instance(*_map(forward[0], leaf), **_map(forward[1], leaf))
                yield Case(f"nn.{info.module_cls.__name__}#{i}:{mi.desc}", dtype, torch_call,
                           _module_call(module, constructor, forward))


CASES = list(_cases())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sample_matches_torch(case: Case) -> None:
    exception = DESIGN_EXCEPTIONS.get(case.sample)
    if exception is None:
        run_case(case)
        return
    try:
        run_case(case)
    except exception.error as err:
        assert re.search(exception.message, str(err)), f"{case.id} raised {err!r}, not the listed error"
    else:
        pytest.fail(f"{case.id} is listed in DESIGN_EXCEPTIONS but now matches torch: delete its line")


def test_every_table_entry_and_listed_exception_has_samples() -> None:
    samples = {c.sample for c in CASES}
    stale = sorted(set(DESIGN_EXCEPTIONS) - samples)
    assert not stale, f"DESIGN_EXCEPTIONS lists samples torch does not have: {stale}"
    found = {re.sub(r"#.*", "", s) for s in samples}
    covered = {*(f"{name}.{variant}" if variant else name for name, variant in FUNCTIONS),
               *(f"nn.{name}" for name in MODULES)}
    assert found == covered, f"table entries without samples: {sorted(covered - found)}"


def test_accounting(capsys) -> None:
    """The counts (printed with -s or on failure): samples, passing, listed exceptions."""
    listed = sum(c.sample in DESIGN_EXCEPTIONS for c in CASES)
    ops = sum(not c.sample.startswith("nn.") or c.sample.startswith("nn.functional.") for c in CASES)
    with capsys.disabled():
        print(f"\ntorch's samples, float32 and float64: {len(CASES)} ({ops} OpInfo, {len(CASES) - ops} ModuleInfo); "
              f"{len(CASES) - listed} must match torch, {listed} are listed design exceptions")
    assert listed == 2 * len(DESIGN_EXCEPTIONS)
