"""``torch.nn`` loss modules computed by fastloss: drop-ins for ``torch.nn.CrossEntropyLoss``
and the others, subclassing ``torch.nn.Module``.

Each takes its torch counterpart's constructor arguments (those of :mod:`fastloss.nn`'s class
of the same name); tensor arguments (``weight``, ``pos_weight``) are registered as buffers, as
torch's are, so they follow ``state_dict``, ``.to()`` and ``.double()``.
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List

import torch

from .. import nn as _numpy_nn
from .._declare import forwarding
from ..nn import SELF


class Loss(torch.nn.Module):
    """Base of the modules: ``forward(*tensors)`` calls the fastloss.torch function."""

    _function_name: str
    _option_names: tuple

    def __init__(self, **options: Any) -> None:
        super().__init__()
        for name, value in options.items():
            if isinstance(value, torch.Tensor):
                self.register_buffer(name, value)
            else:
                setattr(self, name, value)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        options = {name: getattr(self, name) for name in self._option_names}
        return getattr(_functions(), self._function_name)(*tensors, **options)  # type: ignore[no-any-return]

    def extra_repr(self) -> str:
        """The options that differ from their defaults, as torch's constructor takes them."""
        defaults = _numpy_nn_defaults(type(self).__name__)
        shown = []
        for name in self._option_names:
            value = getattr(self, name)
            if isinstance(value, torch.Tensor) or value != defaults.get(name):
                shown.append(f"{name}={value!r}" if not isinstance(value, torch.Tensor) else f"{name}=<tensor>")
        return ", ".join(shown)


def _functions() -> Any:
    from .. import torch as fastloss_torch
    return fastloss_torch


def _numpy_nn_defaults(class_name: str) -> Dict[str, Any]:
    init = vars(getattr(_numpy_nn, class_name))["__init__"]
    return {n: p.default for n, p in inspect.signature(init).parameters.items() if n != "self"}


def _module_class(numpy_class: type) -> type:
    """The torch module for one fastloss.nn loss class, with its constructor's signature."""
    signature = inspect.signature(vars(numpy_class)["__init__"])
    params = tuple(p for n, p in signature.parameters.items() if n != "self")
    option_names = tuple(numpy_class._option_names)  # type: ignore[attr-defined]

    def init(args: Dict[str, Any]) -> None:
        module = args.pop("self")
        options = vars(numpy_class(**args))  # torch's checks and legacy flags, once
        Loss.__init__(module, **{n: options[n] for n in option_names})

    return type(numpy_class.__name__, (Loss,), {
        "__init__": forwarding("__init__", (SELF, *params), init, f"fastloss.torch.nn.{numpy_class.__name__}.__init__"),
        "__doc__": numpy_class.__doc__, "__module__": __name__,
        "_function_name": numpy_class._function.__name__,  # type: ignore[attr-defined]
        "_option_names": option_names})


__all__: List[str] = []
for _name in _numpy_nn.__all__:
    _class = getattr(_numpy_nn, _name)
    # fastloss.torch's ops come from the declarations: a loss without one (the triplet loss over
    # a Python distance_function) has no torch op, so no module here.
    if issubclass(_class, _numpy_nn.Loss) and _class._declaration is not None:
        globals()[_name] = _module_class(_class)
        __all__.append(_name)
