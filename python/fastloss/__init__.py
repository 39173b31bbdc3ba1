"""fastloss: fast, numerically careful loss functions for NumPy on the CPU.

Functions carry ``torch.nn.functional``'s names and semantics (``fastloss.functional`` or
the package itself); classes carry ``torch.nn``'s (``fastloss.nn``).
"""

from __future__ import annotations

from typing import List, SupportsIndex

try:
    from . import _core
except ImportError as err:  # pragma: no cover - only when the extension is missing
    raise ImportError(
        "fastloss's compiled core (fastloss._core) could not be imported. Install fastloss with "
        "`pip install .` from a source checkout (it builds the extension) rather than importing "
        f"it from the source tree. Original error: {err}"
    ) from err

from . import functional, nn
from .streaming import LossAccumulator
from .functional import *  # noqa: F401,F403  (the public loss functions)
from .functional import __all__ as _functional_all

__version__ = "0.1.0"


def simd_target() -> str:
    """The SIMD target the kernels run on: 'baseline', 'avx2', 'avx512' or 'neon'."""
    return _core.simd_target()


def compiled_targets() -> List[str]:
    """The SIMD targets compiled into this build, lowest first."""
    return list(_core.compiled_targets())


def set_num_threads(n: SupportsIndex) -> None:
    """Set how many threads a kernel may use (default: OpenMP's, which honours OMP_NUM_THREADS).

    A kernel starts at most ``n`` threads, never more than the CPUs this process may run on
    (its CPU affinity, as ``os.sched_getaffinity(0)`` reports, read at each call), and no
    more than its size makes worthwhile; so a large ``n`` means "every available CPU".
    Results are bitwise identical for any number of threads.

    In a child process created by ``fork()`` (``os.fork``, multiprocessing's "fork" start
    method) kernels run on one thread: OpenMP's thread pool does not survive fork, and a
    multi-threaded kernel would wait for it forever. ``set_num_threads`` still checks and
    records ``n`` there (``get_num_threads`` returns it), but kernels stay single-threaded.

    Raises TypeError when ``n`` is not an integer, ValueError when ``n < 1`` and
    OverflowError when ``n > 2**31 - 1``.
    """
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The thread setting of set_num_threads (what a kernel may use, not what it starts)."""
    return _core.get_num_threads()


__all__ = [
    "functional",
    "nn",
    "LossAccumulator",
    "simd_target",
    "compiled_targets",
    "set_num_threads",
    "get_num_threads",
    *_functional_all,
]
