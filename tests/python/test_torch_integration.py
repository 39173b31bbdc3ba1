"""fastloss.torch: values and gradients through autograd against torch.nn.functional (or, for
losses torch lacks, fastloss's NumPy functions), gradcheck, torch.compile and torch.export,
the custom ops' registrations (opcheck), zero copy, threads, devices and the modules."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import fastloss
import fastloss.functional as F
import fastloss.torch as FT
from conftest import optional_import_message, tolerances
from reliability_specs import LOSSES

SHAPE = (6, 5)
REDUCTIONS = ("mean", "sum", "none")


def _tensors(spec, rng, dtype, shape=SHAPE):
    """The spec's keyword arguments as tensors; its differentiated operands require grad."""
    kwargs = spec.make(rng, dtype, shape)
    return {k: torch.from_numpy(v).requires_grad_(k in spec.differentiated and v.dtype.kind == "f")
            if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


def _reference(spec, kwargs):
    """torch's loss, or for a loss torch lacks, fastloss's NumPy function wired into autograd."""
    if spec.torch_name is not None:
        return getattr(torch.nn.functional, spec.torch_name)(**kwargs)

    class NumPyLoss(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *operands):
            arrays = {**kwargs, **dict(zip(spec.differentiated, operands))}
            ctx.numpy = {k: v.detach().numpy() if isinstance(v, torch.Tensor) else v for k, v in arrays.items()}
            return torch.from_numpy(np.asarray(getattr(F, spec.name)(**ctx.numpy)))

        @staticmethod
        def backward(ctx, grad):
            grads = getattr(F, spec.name + "_backward")(grad.numpy(), **ctx.numpy)
            return tuple(torch.from_numpy(g) for g in (grads if isinstance(grads, tuple) else (grads,)))

    return NumPyLoss.apply(*(kwargs[name] for name in spec.differentiated))


def _values_and_grads(function, kwargs, differentiated, grad_output):
    loss = function(kwargs)
    grads = torch.autograd.grad(loss, [kwargs[name] for name in differentiated], grad_output(loss))
    return loss.detach(), grads


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_values_and_gradients_match_torch(spec, reduction, dtype, rng):
    kwargs = {**_tensors(spec, rng, dtype), "reduction": reduction}
    seed = torch.Generator().manual_seed(7)

    def grad_output(loss):
        return torch.rand(loss.shape, dtype=loss.dtype, generator=seed) + 0.5

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's "mean" warning, from both
        actual, actual_grads = _values_and_grads(lambda kw: getattr(FT, spec.name)(**kw), kwargs,
                                                 spec.differentiated, grad_output)
        seed.manual_seed(7)
        expected, expected_grads = _values_and_grads(lambda kw: _reference(spec, kw), kwargs, spec.differentiated,
                                                     grad_output)
    tol = tolerances(dtype)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, **tol)
    for got, want in zip(actual_grads, expected_grads):
        assert got.dtype == want.dtype and got.shape == want.shape
        torch.testing.assert_close(got, want, **tol)


@pytest.mark.parametrize("reduction", ("mean", "none"))
@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_gradcheck(spec, reduction, rng):
    kwargs = {**_tensors(spec, rng, np.float64, (4, 3)), "reduction": reduction}
    differentiated = [kwargs[name] for name in spec.differentiated]

    def loss(*operands):
        if spec.name == "ctc_loss":
            # torch's (and fastloss's) CTC gradient is that of normalised log-probabilities:
            # checked through log_softmax, as torch's own tests check it.
            operands = tuple(torch.log_softmax(o, dim=-1) for o in operands)
        return getattr(FT, spec.name)(**{**kwargs, **dict(zip(spec.differentiated, operands))})

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.autograd.gradcheck(loss, differentiated)


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
@pytest.mark.parametrize("reduction", ("mean", "none"))
def test_custom_op_registrations_pass_opcheck(spec, reduction, rng):
    """torch.library.opcheck: schema, fake (meta) implementation against the real one, autograd
    registration, and the op traced by make_fx/AOTAutograd."""
    kwargs = {**_tensors(spec, rng, np.float64, (4, 3)), "reduction": reduction}
    op = FT._ops.LOSS_OPS[spec.name]
    values = [kwargs.get(p.name, p.default) for p in op.params]
    torch.library.opcheck(getattr(torch.ops.fastloss, spec.name).default, tuple(values))
    if reduction != "none":
        torch.library.opcheck(getattr(torch.ops.fastloss, spec.name + "_with_grad").default, tuple(values))


def test_fused_forward_keeps_the_gradient_for_backward(monkeypatch, rng):
    """A reduced loss whose input requires grad runs one fused pass and no backward pass."""
    calls = []
    for suffix in ("", "_backward", "_with_grad"):
        original = getattr(F, "cross_entropy" + suffix)
        monkeypatch.setattr(F, "cross_entropy" + suffix,
                            lambda *a, _o=original, _s=suffix, **k: calls.append(_s) or _o(*a, **k))
    x = torch.randn(8, 5, requires_grad=True)
    target = torch.randint(0, 5, (8,))
    FT.cross_entropy(x, target).backward()
    assert calls == ["_with_grad"]
    calls.clear()
    (FT.cross_entropy(x, target) * 3).backward()  # grad_output 3: the kept gradient is scaled
    assert calls == ["_with_grad"]
    expected = torch.autograd.grad(torch.nn.functional.cross_entropy(x, target) * 3, x)[0]
    torch.testing.assert_close(x.grad, expected + expected / 3)
    calls.clear()
    with torch.no_grad():
        FT.cross_entropy(x, target)
    FT.cross_entropy(x, target, reduction="none").sum().backward()
    assert calls == ["", "", "_backward"]


def test_operands_are_read_where_they_lie_and_gradients_written_into_torch_memory(monkeypatch):
    seen = {}
    original = F.mse_loss_with_grad

    def spy(input, target, **kwargs):
        seen.update(input=input, target=target, out=kwargs["out"])
        return original(input, target, **kwargs)

    monkeypatch.setattr(F, "mse_loss_with_grad", spy)
    base = torch.randn(64, 32, dtype=torch.float64)
    x = base[:, ::2].requires_grad_()  # a strided view: read in place, no .contiguous()
    y = torch.randn(16, 64, dtype=torch.float64).t()
    captured = []
    x.register_hook(lambda grad: captured.append(grad))
    FT.mse_loss(x, y).backward()
    assert seen["input"].__array_interface__["data"][0] == x.data_ptr()
    assert seen["input"].strides == (x.stride(0) * 8, x.stride(1) * 8)
    assert seen["target"].__array_interface__["data"][0] == y.data_ptr()
    assert seen["out"].__array_interface__["data"][0] == captured[0].data_ptr()  # the gradient torch receives
    torch.testing.assert_close(x.grad, torch.autograd.grad(torch.nn.functional.mse_loss(x, y), x)[0])


def test_kernels_use_torchs_thread_count(monkeypatch):
    seen = []
    original = F.mse_loss
    monkeypatch.setattr(F, "mse_loss", lambda *a, **k: seen.append(fastloss.get_num_threads()) or original(*a, **k))
    before_torch, before = torch.get_num_threads(), fastloss.get_num_threads()
    try:
        fastloss.set_num_threads(7)
        torch.set_num_threads(1)
        FT.mse_loss(torch.ones(4), torch.zeros(4))
        assert seen == [1] and fastloss.get_num_threads() == 7
    finally:
        torch.set_num_threads(before_torch)
        fastloss.set_num_threads(before)


def test_other_devices_raise_naming_the_device_unless_fallback_is_allowed():
    x = torch.empty(4, 3, device="meta")
    target = torch.empty(4, dtype=torch.long, device="meta")
    with pytest.raises(RuntimeError, match="tensor on meta.*allow_torch_fallback"):
        FT.cross_entropy(x, target)
    with pytest.raises(RuntimeError, match="no such loss"):
        FT.log_cosh_loss(x, x)
    with pytest.raises(RuntimeError, match="on meta"):
        FT.softmax(x, dim=1)
    FT.allow_torch_fallback()
    try:
        out = FT.cross_entropy(x, target, reduction="none")
        assert out.device.type == "meta" and out.shape == (4,)
    finally:
        FT.allow_torch_fallback(False)


def test_double_backward_raises_instead_of_returning_wrong_numbers():
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 4, (5,))
    for reduction in ("mean", "none"):
        loss = FT.cross_entropy(x, target, reduction=reduction).sum()
        with pytest.raises(RuntimeError, match="double backward"):
            torch.autograd.grad(loss, x, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(FT.softmax(x, dim=1).sum(), x, create_graph=True)


def test_gradients_fastloss_does_not_compute_raise():
    x = torch.randn(4, dtype=torch.float64)
    y = torch.randn(4, dtype=torch.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="gradient with respect to target"):
        FT.mse_loss(x, y)
    with torch.no_grad():
        FT.mse_loss(x, y)  # no gradient wanted: fine


@pytest.mark.parametrize("name, dim", [("softmax", 1), ("log_softmax", 0), ("sigmoid", None), ("logsigmoid", None)])
def test_transforms_match_torch_and_pass_gradcheck(name, dim, dtype):
    x = torch.randn(6, 7, dtype=torch.float64).to(torch.float32 if dtype == np.float32 else torch.float64)
    x.requires_grad_()
    kwargs = {} if dim is None else {"dim": dim}
    actual = getattr(FT, name)(x, **kwargs)
    expected = getattr(torch.nn.functional, name)(x, **kwargs)
    weights = torch.randn_like(expected)
    grads = [torch.autograd.grad((y * weights).sum(), x)[0] for y in (actual, expected)]
    tol = tolerances(dtype)
    torch.testing.assert_close(actual, expected, **tol)
    torch.testing.assert_close(grads[0], grads[1], **tol)
    if dtype == np.float64:
        assert torch.autograd.gradcheck(lambda a: getattr(FT, name)(a, **kwargs), (x,))


def test_softmax_dtype_and_implicit_dim_as_torch():
    x = torch.randn(3, 4, requires_grad=True)
    y = FT.softmax(x, dim=1, dtype=torch.float64)
    assert y.dtype == torch.float64
    y.sum().backward()
    assert x.grad.dtype == torch.float32
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax") as record:
        implicit = FT.log_softmax(x)
    assert record[0].filename == __file__
    torch.testing.assert_close(implicit, torch.log_softmax(x, 1))


class _Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 5))
        self.loss = FT.nn.CrossEntropyLoss(label_smoothing=0.1)

    def forward(self, x, target):
        return self.loss(self.layers(x), target)


def test_torch_compile_fullgraph_trains_like_eager():
    torch.manual_seed(0)
    model = _Model()
    x, target = torch.randn(32, 12), torch.randint(0, 5, (32,))
    eager_loss = model(x, target)
    eager_grads = torch.autograd.grad(eager_loss, list(model.parameters()))
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    compiled_loss = compiled(x, target)
    compiled_grads = torch.autograd.grad(compiled_loss, list(model.parameters()))
    torch.testing.assert_close(compiled_loss, eager_loss)
    for a, b in zip(compiled_grads, eager_grads):
        torch.testing.assert_close(a, b)


def test_torch_export_keeps_the_fastloss_op():
    torch.manual_seed(0)
    model = _Model()
    x, target = torch.randn(8, 12), torch.randint(0, 5, (8,))
    with torch.no_grad():
        exported = torch.export.export(model, (x, target))
    assert "fastloss.cross_entropy" in str(exported.graph)
    torch.testing.assert_close(exported.module()(x, target), model(x, target))


def test_modules_match_torch_and_keep_tensor_options_as_buffers(rng):
    weight = torch.rand(5, dtype=torch.float64) + 0.5
    ours = FT.nn.CrossEntropyLoss(weight=weight, ignore_index=2, reduction="sum")
    theirs = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=2, reduction="sum")
    assert isinstance(ours, torch.nn.Module)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert repr(ours) == "CrossEntropyLoss(weight=<tensor>, ignore_index=2, reduction='sum')"
    assert repr(FT.nn.MSELoss()) == "MSELoss()"
    x = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 5, (7,))
    torch.testing.assert_close(ours(x, target), theirs(x, target))
    with pytest.raises(ValueError):
        FT.nn.CrossEntropyLoss(label_smoothing=2.0)
    legacy = FT.nn.MSELoss(size_average=False)
    assert legacy.reduction == "sum"
    declared = {n for n in fastloss.nn.__all__
                if issubclass(getattr(fastloss.nn, n), fastloss.nn.Loss) and getattr(fastloss.nn, n)._declaration}
    assert set(FT.nn.__all__) == declared
    # A loss without a declaration (a Python distance_function) has no torch op nor module.
    assert "TripletMarginWithDistanceLoss" not in FT.nn.__all__


def test_import_fastloss_does_not_import_torch_and_a_missing_torch_says_how_to_install():
    assert "pip install fastloss[torch]" in optional_import_message("torch", "torch")


def test_example_trains_like_torch():
    example = Path(__file__).resolve().parents[2] / "examples" / "torch_training.py"
    result = subprocess.run([sys.executable, str(example), "--steps", "30", "--check"], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loss curves agree" in result.stdout


@pytest.mark.parametrize("case", ["binary_cross_entropy_with_logits 2^10", "cross_entropy 64x10",
                                  "sigmoid_focal_loss 2^10", "training_step 8x50"])
@pytest.mark.parametrize("library", ["fastloss.torch", "torch"])
def test_bench_torch_times_each_case(library, case):
    """bench/bench_torch.py's child at tiny sizes (torch.compile's children compile for seconds: not here)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import bench_torch

    threads, torch_threads = fastloss.get_num_threads(), torch.get_num_threads()
    try:
        result = bench_torch.run_one(library, case, threads=1, repeats=1)
    finally:
        fastloss.set_num_threads(threads)
        torch.set_num_threads(torch_threads)
    assert result["median_ms"] > 0 and result["first_call_ms"] > 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_tensors_match_torch_in_float32_and_keep_their_dtype(dtype):
    """float16 and bfloat16 tensors through the ops and autograd: torch's loss dtype (the
    input's), values and gradients as torch computes them on the upcast values, rounded."""
    if dtype == torch.bfloat16:
        pytest.importorskip("ml_dtypes")
    gen = torch.Generator().manual_seed(0)
    x = (3 * torch.randn(37, 11, generator=gen)).to(dtype)
    target = torch.randint(0, 11, (37,), generator=gen)
    y = torch.randn(37, 11, generator=gen).to(dtype)
    rtol = 1e-2 if dtype == torch.bfloat16 else 2e-3
    cases = [(FT.cross_entropy, torch.nn.functional.cross_entropy, target),
             (FT.mse_loss, torch.nn.functional.mse_loss, y)]
    for ours, theirs, other in cases:
        for reduction in ("mean", "none"):
            mine = x.clone().requires_grad_(True)
            wide = x.float().requires_grad_(True)
            loss = ours(mine, other, reduction=reduction)
            expected = theirs(wide, other.float() if other.is_floating_point() else other, reduction=reduction)
            assert loss.dtype == dtype
            torch.testing.assert_close(loss.float(), expected.to(dtype).float(), rtol=rtol, atol=1e-3)
            loss.sum().backward()
            expected.sum().backward()
            assert mine.grad.dtype == dtype
            torch.testing.assert_close(mine.grad.float(), wide.grad.to(dtype).float(), rtol=rtol, atol=1e-4)
    soft = FT.softmax(x, dim=1)
    assert soft.dtype == dtype
    torch.testing.assert_close(soft.float(), torch.softmax(x.float(), 1).to(dtype).float(), rtol=rtol, atol=1e-4)
    # torch.compile traces the same dtypes (the ops' fake implementations agree with the eager ones).
    compiled = torch.compile(lambda logits: FT.cross_entropy(logits, target), fullgraph=True, backend="aot_eager")
    leaf = x.clone().requires_grad_(True)
    loss = compiled(leaf)
    loss.backward()
    assert loss.dtype == dtype and leaf.grad.dtype == dtype
    assert loss.item() == FT.cross_entropy(x, target).item()
