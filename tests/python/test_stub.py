"""The shipped stub fastloss/_core.pyi matches the compiled module (mypy.stubtest)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("mypy")

ALLOWLIST = pathlib.Path(__file__).with_name("stubtest_allowlist.txt")


def test_core_stub_matches_module():
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "fastloss._core", "--allowlist", str(ALLOWLIST)],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_py_typed_is_shipped():
    import fastloss

    assert (pathlib.Path(fastloss.__file__).parent / "py.typed").exists()


def test_package_type_checks():
    # The source tree's package (with its _core.pyi), not the installed copy: mypy run on a
    # directory inside site-packages takes site-packages itself for the project and fails there.
    source = pathlib.Path(__file__).resolve().parents[2] / "python"
    result = subprocess.run([sys.executable, "-m", "mypy", "-p", "fastloss", "--ignore-missing-imports"],
                            cwd=source, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
