#!/usr/bin/env bash
# Cross-builds the C++ core and its GoogleTest suite for Arm64 (the NEON target) and runs
# every test under qemu-user: the kernels, dispatch and the kernel object checks as an
# aarch64 machine sees them. Installs the cross compiler, qemu-user and the arm64 GoogleTest
# if missing. A couple of minutes on 2 cores. Usage: bash tools/test_aarch64.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
jobs=${FASTLOSS_JOBS:-$(nproc 2>/dev/null || echo 2)}
start=$SECONDS

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
packages=(g++-aarch64-linux-gnu qemu-user libgtest-dev:arm64)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  # libgtest-dev:arm64 is a multiarch package: dpkg must accept arm64 before apt can find it.
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    as_root dpkg --add-architecture arm64
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
  "$python" -m pip install -q cmake ninja
fi

cmake -S . -B build/aarch64 -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DFASTLOSS_BUILD_PYTHON=OFF -DFASTLOSS_WERROR=ON
cmake --build build/aarch64 -j "$jobs"
# The timeout turns a hang under emulation (see the toolchain file) into a failure.
(cd build/aarch64 && ctest --output-on-failure -j "$jobs" --timeout 300)
echo "aarch64 (NEON) under qemu-user: every test passed in $((SECONDS - start)) s"
