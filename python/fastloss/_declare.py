"""Losses declared once: their torch signature, family and checks, from which the public
functions (``f``, ``f_backward``, ``f_with_grad``) and the ``fastloss.nn`` classes derive.

A :class:`Declaration` lists a loss's parameters in torch's order: arrays (operands the core
checks), options (scalars checked here, by :mod:`fastloss._checks`), torch's legacy
``size_average``/``reduce`` flags and the reduction. :func:`functions` generates the three
public functions with exactly that signature (as :mod:`dataclasses` generates ``__init__``:
real parameters, real defaults, real error messages for a wrong call), each a thin call into
the declaration's family (:mod:`fastloss._families`), which runs the core.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from . import _checks, _docs

REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Param:
    """One parameter of a loss's signature."""

    name: str
    default: Any = REQUIRED
    kind: str = "array"  # "array", "option", "legacy" or "reduction"
    check: Optional[Callable[..., Any]] = None  # options (value) and reductions (value, args) -> core value
    core: Optional[str] = None  # options: the field of the family's core options (default: name)


def array(name: str, optional: bool = False) -> Param:
    """An array operand; ``optional`` ones default to None."""
    return Param(name, None if optional else REQUIRED)


def option(name: str, default: Any, check: _checks.Checker, core: Optional[str] = None) -> Param:
    return Param(name, default, "option", check, core or name)


SIZE_AVERAGE = Param("size_average", None, "legacy")
REDUCE = Param("reduce", None, "legacy")

TORCH_REDUCTION_MESSAGE = "{} is not a valid value for reduction"


# torch's message for a bad reduction, given the call's arguments (it can depend on them).
ReductionMessage = Union[str, Callable[[Dict[str, Any]], str]]


def reduction(default: str = "mean", allowed: Tuple[str, ...] = _checks.REDUCTIONS,
              message: ReductionMessage = TORCH_REDUCTION_MESSAGE) -> Param:
    """The reduction argument; ``message`` is torch's (it differs between losses)."""

    def check(value: Any, args: Dict[str, Any]) -> Any:
        return _checks.reduction_of(value, allowed, message(args) if callable(message) else message)

    return Param("reduction", default, "reduction", check)


# A family runs a declared loss: bind(declaration, args, reduction, options) -> a call with
# forward(), backward(grad_output, out) and with_grad(out).
Family = Any
# torch's warnings for a call, given its arguments by name.
WarnHook = Callable[[Dict[str, Any]], None]


@dataclass(frozen=True)
class Declaration:
    name: str
    family: Family
    params: Tuple[Param, ...]
    doc: str
    grads: Tuple[str, ...] = ("input",)  # the arrays whose gradients ``_backward`` returns, in order
    warn: Optional[WarnHook] = None
    # The leading arrays a fastloss.nn module takes when called (the rest are its constructor's).
    call_arrays: int = 2
    names: Tuple[str, ...] = field(init=False)
    options: Tuple[Param, ...] = field(init=False)
    legacy: bool = field(init=False)
    reduction_check: Callable[[Any, Dict[str, Any]], Any] = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "names", tuple(p.name for p in self.params))
        set_(self, "options", tuple(p for p in self.params if p.kind == "option"))
        set_(self, "legacy", any(p.kind == "legacy" for p in self.params))
        set_(self, "reduction_check", next(p.check for p in self.params if p.kind == "reduction"))

    def bind(self, values: Sequence[Any]) -> Any:
        """The family's call for these argument values (in signature order), every scalar checked."""
        args = dict(zip(self.names, values))
        if self.legacy and (args["size_average"] is not None or args["reduce"] is not None):
            core_reduction = _checks.reduction_of(
                _checks.legacy_reduction(args["size_average"], args["reduce"]), _checks.REDUCTIONS, "{}")
        else:
            core_reduction = self.reduction_check(args["reduction"], args)
        options = {p.core: p.check(args[p.name]) for p in self.options}  # type: ignore[misc]
        if self.warn is not None:
            self.warn(args)
        return self.family.bind(self, args, core_reduction, options)


# Every declaration by name, for fastloss.nn.
DECLARATIONS: Dict[str, Declaration] = {}


def _signature(params: Sequence[Param], extra: str = "") -> Tuple[str, Dict[str, Any]]:
    """A parameter list's source text and the namespace holding its defaults."""
    parts, defaults = [], {}
    for i, p in enumerate(params):
        if p.default is REQUIRED:
            parts.append(p.name)
        else:
            defaults[f"_default{i}"] = p.default
            parts.append(f"{p.name}=_default{i}")
    return ", ".join(parts + ([extra] if extra else [])), defaults


def forwarding(name: str, parameters: Sequence[inspect.Parameter], call: Callable[[Dict[str, Any]], Any],
               where: str) -> Callable[..., Any]:
    """A function ``name`` with exactly these parameters (real defaults, real errors for a
    wrong call) whose body is ``return call({parameter name: value, ...})``: how fastloss.nn's
    constructors and the fastloss.torch and fastloss.dask functions get torch's signatures."""
    parts = []
    for p in parameters:
        if p.kind is inspect.Parameter.KEYWORD_ONLY and "*" not in parts:
            parts.append("*")
        parts.append(p.name if p.default is REQUIRED else f"{p.name}=_defaults[{p.name!r}]")
    namespace: Dict[str, Any] = {"_call": call, "_defaults": {p.name: p.default for p in parameters}}
    source = (f"def {name}({', '.join(parts)}):\n"
              f"    return _call({{{', '.join(f'{p.name!r}: {p.name}' for p in parameters)}}})\n")
    exec(compile(source, f"<{where}>", "exec"), namespace)  # noqa: S102 (generated here)
    return namespace[name]  # type: ignore[no-any-return]


def _compile(name: str, source: str, namespace: Dict[str, Any], doc: str) -> Callable[..., Any]:
    exec(compile(source, f"<fastloss.functional.{name}>", "exec"), namespace)  # noqa: S102 (generated here)
    fn = namespace[name]
    fn.__doc__ = doc
    fn.__module__ = "fastloss.functional"
    fn.__qualname__ = name
    return fn  # type: ignore[no-any-return]


def _forward(decl: Declaration, values: Sequence[Any]) -> Any:
    return decl.bind(values).forward()


def _backward(decl: Declaration, grad_output: Any, values: Sequence[Any], out: Any) -> Any:
    grads = decl.bind(values).backward(grad_output, out)
    return grads if len(grads) > 1 else grads[0]


def _with_grad(decl: Declaration, values: Sequence[Any], out: Any) -> Any:
    return decl.bind(values).with_grad(out)


def functions(decl: Declaration) -> Tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """``f``, ``f_backward`` and ``f_with_grad`` of a declared loss, with its torch signature."""
    DECLARATIONS[decl.name] = decl
    names = ", ".join(decl.names) + ","
    grads = " and ".join(f"``{g}``" for g in decl.grads)
    plural = len(decl.grads) > 1
    signature, defaults = _signature(decl.params)
    signature_out, _ = _signature(decl.params, "out=None")
    # Families whose losses take float16 and bfloat16 inputs say so (the elementwise ones).
    notes = _docs.HALF_PRECISION if getattr(decl.family, "half_precision", False) else []
    namespace = {"_decl": decl, "_forward": _forward, "_backward": _backward, "_with_grad": _with_grad, **defaults}
    forward = _compile(decl.name, f"def {decl.name}({signature}):\n    return _forward(_decl, ({names}))\n",
                       dict(namespace), _docs.document(decl.doc, _docs.parameters(decl.params)
                                                       + _docs.returns((), loss=True) + notes))
    backward = _compile(
        f"{decl.name}_backward",
        f"def {decl.name}_backward(grad_output, {signature_out}):\n"
        f"    return _backward(_decl, grad_output, ({names}), out)\n",
        dict(namespace),
        _docs.document(
            f"The gradient{'s' if plural else ''} of :func:`{decl.name}` with respect to {grads}"
            f"{' (a tuple, in this order)' if plural else ''}.",
            _docs.parameters(decl.params, decl.name, grad_output=True, out_of=decl.grads[0])
            + _docs.returns(decl.grads, loss=False) + notes),
    )
    with_grad = _compile(
        f"{decl.name}_with_grad",
        f"def {decl.name}_with_grad({signature_out}):\n    return _with_grad(_decl, ({names}), out)\n",
        dict(namespace),
        _docs.document(
            f"``(loss, {', '.join('d loss / d ' + g for g in decl.grads)})`` of :func:`{decl.name}` from one "
            "pass over memory.",
            _docs.parameters(decl.params, decl.name, out_of=decl.grads[0]) + _docs.returns(decl.grads, loss=True)
            + notes),
    )
    return forward, backward, with_grad
