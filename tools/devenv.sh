#!/usr/bin/env bash
# Developer build without installing: builds the core and extension into build-dev-<name>/
# and lays out an importable package there. Usage:
#   source tools/devenv.sh [name]   ->  PYTHONPATH points at the build; run pytest as usual.
set -e
_name=${1:-dev}
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_build="$_root/build-$_name"
cmake -S "$_root" -B "$_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')" >/dev/null
cmake --build "$_build"
mkdir -p "$_build/pkg"
rm -rf "$_build/pkg/fastloss"
mkdir "$_build/pkg/fastloss"
for f in "$_root"/python/fastloss/*; do ln -s "$f" "$_build/pkg/fastloss/"; done
ln -s "$_build"/_core*.so "$_build/pkg/fastloss/"
export PYTHONPATH="$_build/pkg${PYTHONPATH:+:$PYTHONPATH}"
set +e
