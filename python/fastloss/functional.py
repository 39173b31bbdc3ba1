"""Loss functions with ``torch.nn.functional``'s names, arguments and semantics.

Every loss ``f`` comes with ``f_backward(grad_output, input, target, ...)``, the gradient
with respect to ``input``, and ``f_with_grad(input, target, ..., out=None)``, returning
``(loss, grad_input)`` from one pass over memory (``out`` may be ``input`` itself). Inputs
are float32 or float64 NumPy arrays (strided views are read in place); reduced losses are
NumPy scalars of the input's dtype, accumulated in float64.

Each loss family lives in its own private module; this module gathers them.
"""

from ._binary import *  # noqa: F401,F403
from ._binary import __all__ as _binary_all
from ._regression import *  # noqa: F401,F403
from ._regression import __all__ as _regression_all
from ._cross_entropy import *  # noqa: F401,F403
from ._cross_entropy import __all__ as _cross_entropy_all
from ._divergence import *  # noqa: F401,F403
from ._divergence import __all__ as _divergence_all
from ._margin import *  # noqa: F401,F403
from ._margin import __all__ as _margin_all
from ._focal import *  # noqa: F401,F403
from ._focal import __all__ as _focal_all
from ._rows import *  # noqa: F401,F403
from ._rows import __all__ as _rows_all

__all__ = [*_binary_all, *_regression_all, *_cross_entropy_all, *_divergence_all, *_margin_all, *_focal_all, *_rows_all]
