"""Sphinx configuration of fastloss's documentation.

Built against the fastloss that ``import fastloss`` finds (the installed wheel, or a
development build: ``source tools/devenv.sh``), so the API reference is generated from the
package as it is. ``tools/test.sh`` builds it with warnings as errors and runs its examples:

    sphinx-build -W -b html docs build/docs/html
    sphinx-build -W -b doctest docs build/docs/doctest
"""

import fastloss

project = "fastloss"
author = "the fastloss authors"
copyright = "the fastloss authors"
release = version = fastloss.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
]

# The API reference: one page per function and class, generated from the package at build time.
autosummary_generate = True
autodoc_default_options = {"members": False}
# numpydoc renders the Parameters/Returns sections; the classes' members are listed by
# autosummary on their own pages, not again by numpydoc (whose table would repeat them).
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Every example on these pages runs under `sphinx-build -b doctest`.
doctest_global_setup = """
import numpy as np
import fastloss
import fastloss.functional as F
np.set_printoptions(precision=6, suppress=True)
"""

exclude_patterns: list = []
html_theme = "alabaster"
html_static_path: list = []


import fastloss.objectives  # noqa: E402  (its functions are listed in api.rst too)


def _check_api_reference_is_complete() -> None:
    """Every public function and class has its line in api.rst (a new loss's three functions
    and its class included), and every parameter its description in fastloss._docs: the
    build fails naming what is missing or stale."""
    import pathlib
    import re

    listed = set(re.findall(r"^   (\w+)$", (pathlib.Path(__file__).parent / "api.rst").read_text(), re.M))
    public = {*fastloss.functional.__all__, *fastloss.nn.__all__, "simd_target", "compiled_targets",
              "set_num_threads", "get_num_threads", "LossAccumulator",
              *(name for name in fastloss.objectives.__all__ if callable(getattr(fastloss.objectives, name)))}
    if listed != public:
        raise RuntimeError(f"docs/api.rst: missing {sorted(public - listed)}, not in the package "
                           f"{sorted(listed - public)}")
    if fastloss._docs.UNDESCRIBED:
        raise RuntimeError("python/fastloss/_docs.py: PARAMETERS has no description of "
                           f"{sorted(fastloss._docs.UNDESCRIBED)}")


_check_api_reference_is_complete()
