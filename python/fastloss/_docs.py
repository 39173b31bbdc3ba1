"""The numpydoc sections of a declared loss's three functions, built from its Declaration.

A Declaration's docstring says what the loss computes; its Parameters and Returns sections
follow from its parameters, so they are written here once, by parameter name, and appended
to the docstrings of ``f``, ``f_backward`` and ``f_with_grad`` (``_declare.functions``).
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Sequence, Set, Tuple

# Parameter name -> (numpydoc type, description); ``{see}`` becomes "see above" in the loss's
# own docstring and a reference to it in its _backward's and _with_grad's. A parameter
# without an entry gets a bare one and is recorded in UNDESCRIBED, which fails the
# documentation build (docs/conf.py): a new loss's new parameter needs its line here.
PARAMETERS: Dict[str, Tuple[str, str]] = {
    "input": ("ndarray", "The predictions (what they hold: {see}): float32 or float64, read in place "
              "whatever their strides."),
    "inputs": ("ndarray", "The logits (torchvision's name): float32 or float64."),
    "input1": ("ndarray", "The first input: float32 or float64."),
    "input2": ("ndarray", "The second input, of ``input1``'s dtype."),
    "anchor": ("ndarray", "The anchors, one per row of the last axis: float32 or float64."),
    "positive": ("ndarray", "The positive examples, of ``anchor``'s shape and dtype."),
    "negative": ("ndarray", "The negative examples, of ``anchor``'s shape and dtype."),
    "target": ("ndarray", "The targets (their shape and dtype: {see})."),
    "targets": ("ndarray", "The targets in [0, 1] (any real value is accepted: {see}), of the inputs' "
                "shape and dtype."),
    "var": ("ndarray or float", "The variances (their shapes: {see})."),
    "weight": ("ndarray, optional", "Weights (their shape: {see}); None weighs every element 1."),
    "pos_weight": ("ndarray, optional", "The weight of positive targets, broadcast against ``target``."),
    "size_average": ("bool, optional", "Deprecated, as in torch: with ``reduce``, overrides ``reduction`` "
                     "(with torch's warning)."),
    "reduce": ("bool, optional", "Deprecated, as in torch: see ``size_average``."),
    "reduction": ("str", "How the per-element losses are reduced: ``'none'`` returns them, ``'mean'`` and "
                  "``'sum'`` a NumPy scalar of the input's dtype."),
    "margin": ("float", "The margin of the formula ({see})."),
    "beta": ("float", "Where the quadratic part ends (>= 0)."),
    "delta": ("float", "Where the quadratic part ends (> 0)."),
    "eps": ("float", "The small constant of the formula ({see})."),
    "full": ("bool", "Whether to add the constant term ({see})."),
    "log_input": ("bool", "Whether ``input`` holds log-rates (else rates)."),
    "log_target": ("bool", "Whether ``target`` holds log-probabilities (else probabilities)."),
    "alpha": ("float, ndarray or None", "The class balance of the formula ({see})."),
    "gamma": ("float", "The focusing exponent of the formula ({see})."),
    "p": ("int or float", "The exponent (or norm) of the formula ({see})."),
    "distance_function": ("callable, optional", "The distance ``d(x1, x2)`` on NumPy arrays ({see}); None is "
                          ":func:`~fastloss.functional.pairwise_distance`."),
    "swap": ("bool", "Whether to use the distance swap ({see})."),
    "dim": ("int, optional", "The axis to normalise along; None is torch's deprecated implicit choice ({see})."),
    "ignore_index": ("int", "A target value that contributes nothing (neither loss nor denominator)."),
    "label_smoothing": ("float", "The smoothing in [0, 1] of the formula ({see})."),
    "log_probs": ("ndarray", "Log-probabilities over the classes per frame: (T, N, C), or (T, C) unbatched; "
                  "float32 or float64."),
    "input_lengths": ("ndarray or sequence of int", "Each sequence's number of frames (at most T)."),
    "target_lengths": ("ndarray or sequence of int", "Each sequence's number of target labels."),
    "blank": ("int", "The blank label's class."),
    "zero_infinity": ("bool", "Whether infinite losses (impossible alignments) and their gradients become 0."),
}

UNDESCRIBED: Set[str] = set()

GRAD_OUTPUT = ("float or ndarray", "The gradient of the loss: a scalar for a reduced loss, an array of the loss's "
               "shape for ``reduction='none'``.")


def _entry(name: str, type_: str, description: str, default: Any = None) -> List[str]:
    suffix = f", default {default!r}" if default is not None and "optional" not in type_ else ""
    return [f"{name} : {type_}{suffix}", f"    {description}"]


def _section(title: str, lines: List[str]) -> List[str]:
    return ["", title, "-" * len(title), *lines]


def parameters(params: Sequence[Any], loss: str = "", grad_output: bool = False, out_of: str = "") -> List[str]:
    """The Parameters section: ``params`` are the Declaration's (``_declare.Param``); ``loss``
    names the loss whose docstring describes them (empty: this docstring)."""
    see = f"see :func:`~fastloss.functional.{loss}`" if loss else "see above"
    lines = _entry("grad_output", *GRAD_OUTPUT) if grad_output else []
    for p in params:
        if p.name not in PARAMETERS:
            UNDESCRIBED.add(p.name)
        type_, description = PARAMETERS.get(p.name, ("object", "({see})"))
        default = None if p.default is inspect.Parameter.empty else p.default
        lines += _entry(p.name, type_, description.format(see=see), default)
    if out_of:
        lines += _entry("out", "ndarray, optional",
                        f"Receives the gradient of ``{out_of}`` (returned); may be ``{out_of}`` itself.")
    return _section("Parameters", lines)


# The Notes of the functions that take half-precision inputs (the README's "Half precision").
HALF_PRECISION = _section("Notes", [
    "The input may also be float16 or bfloat16 (``ml_dtypes.bfloat16``): read in place, computed in float32. "
    "The other arrays then have its dtype or float32 (integer or bool targets where torch takes them). "
    "Gradients and ``reduction='none'`` losses have the input's dtype, rounded once (``out`` may also be "
    "float32); reduced losses are float32 NumPy scalars: their float64 sum, rounded once."])

LOSS = ("numpy scalar or ndarray", "The loss: a NumPy scalar of the input's dtype when reduced, an array of the "
        "loss's shape for ``reduction='none'``.")


def returns(grads: Sequence[str], loss: bool) -> List[str]:
    """The Returns section: the loss (``loss``), then the gradients of ``grads``."""
    lines = _entry("loss", *LOSS) if loss else []
    for g in grads:
        lines += _entry(f"grad_{g}", "ndarray or None" if g == "var" else "ndarray",
                        f"The gradient with respect to ``{g}``, of its shape and dtype"
                        + (" (None for a float var)." if g == "var" else "."))
    return _section("Returns", lines)


def document(doc: str, sections: List[str]) -> str:
    """``doc`` (a docstring as written, indented or not) followed by numpydoc sections."""
    return inspect.cleandoc(doc) + "\n" + "\n".join(sections) + "\n"
