#!/usr/bin/env bash
# Builds fastloss's Linux x86-64 wheel for an old glibc on this (newer) machine, threaded,
# and repairs it to a manylinux tag pip accepts on glibc 2.28 (RHEL/Rocky 8, Ubuntu 20.04,
# Debian 11). Output: wheelhouse/fastloss-*-manylinux_2_28_x86_64.whl. Usage:
#   bash tools/build_manylinux_wheel.sh
#
# Why this way. The system compiler links against the system glibc (2.36 on Debian 12), and
# so do the system's OpenMP runtimes (libgomp and LLVM's libomp both need GLIBC_2.34), so a
# wheel built and repaired with them is manylinux_2_34 at best. Zig's clang
# (`zig c++ -target x86_64-linux-gnu.2.28`, from the `ziglang` package) compiles against
# glibc 2.28's symbol set and links libc++ statically, but ships no OpenMP runtime: clang's
# OpenMP code calls LLVM's libomp (__kmpc_*), not GCC's libgomp. So LLVM's libomp is built
# here from Debian's LLVM 14 sources with the same zig compiler (it then needs nothing newer
# than GLIBC_2.7), and auditwheel copies it into the wheel as it would copy libgomp from a
# manylinux_2_28 image. cibuildwheel (pyproject.toml) builds the other platforms' wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
python=${PYTHON:-python3}
jobs=${FASTLOSS_JOBS:-$(nproc 2>/dev/null || echo 2)}
glibc=2.28
plat=manylinux_2_28_x86_64
work=$root/build/manylinux
llvm_source=llvm-toolchain-14
mkdir -p "$work"

# Zig, in a private venv (it is a build tool, not a dependency of the package).
if [ ! -x "$work/venv/bin/python" ]; then
  "$python" -m venv "$work/venv"
fi
"$work/venv/bin/python" -m pip install -q "ziglang==0.17.1"
mkdir -p "$work/bin"
for tool in cc c++; do
  printf '#!/bin/sh\nexec "%s" -m ziglang %s -target x86_64-linux-gnu.%s "$@"\n' \
    "$work/venv/bin/python" "$tool" "$glibc" >"$work/bin/zig-$tool"
  chmod +x "$work/bin/zig-$tool"
done
export CC="$work/bin/zig-cc" CXX="$work/bin/zig-c++"

# LLVM's OpenMP runtime for glibc 2.28, from Debian's signed source package (apt checks its
# hashes against the signed index), built once into $work/omp.
omp=$work/omp/runtime/src
if [ ! -f "$omp/libomp.so" ]; then
  apt_dir=$work/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources" "$work/llvm"
  cat >"$apt_dir/sources/debian-src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt_private=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources"
               -o "Dir::State::Lists=$apt_dir/lists" -o "APT::Sandbox::User=root")
  apt-get "${apt_private[@]}" update -qq
  (cd "$work/llvm" && apt-get "${apt_private[@]}" source --download-only -qq "$llvm_source")
  tar -xJf "$work"/llvm/"$llvm_source"_*.orig.tar.xz -C "$work/llvm" --strip-components=1 \
    --wildcards '*/openmp/*' '*/cmake/*'
  # lld (zig's linker) rejects a version script naming symbols a configuration leaves out
  # (OMPT's, here), so the flag's probe fails and must be forced, with --undefined-version.
  cmake -S "$work/llvm/openmp" -B "$work/omp" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS=-w -DCMAKE_CXX_FLAGS=-w \
    -DOPENMP_STANDALONE_BUILD=ON -DOPENMP_ENABLE_LIBOMPTARGET=OFF -DLIBOMP_OMPD_SUPPORT=OFF \
    -DLIBOMP_OMPT_SUPPORT=OFF -DOPENMP_ENABLE_OMPT_TOOLS=OFF -DLIBOMP_USE_HWLOC=OFF \
    -DLIBOMP_INSTALL_ALIASES=OFF -DOPENMP_ENABLE_WERROR=OFF -DLIBOMP_HAVE_VERSION_SCRIPT_FLAG=ON \
    -DCMAKE_SHARED_LINKER_FLAGS="-Wl,--undefined-version -Wl,--strip-debug" >/dev/null
  cmake --build "$work/omp" -j "$jobs" --target omp
fi

rm -rf dist wheelhouse
"$python" -m pip wheel . -w dist --no-deps \
  -C build-dir="build/manylinux/{wheel_tag}" \
  -C cmake.define.OpenMP_CXX_FLAGS="-fopenmp=libomp -I$omp" \
  -C cmake.define.OpenMP_CXX_LIB_NAMES=omp \
  -C cmake.define.OpenMP_omp_LIBRARY="$omp/libomp.so"
LD_LIBRARY_PATH="$omp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  auditwheel repair --plat "$plat" dist/fastloss-*.whl -w wheelhouse
auditwheel show wheelhouse/fastloss-*.whl
# auditwheel tags the wheel from the lowest tag its symbols allow up to the one asked for
# (manylinux_2_24 and manylinux_2_28 here): the one asked for must be among them.
ls wheelhouse/fastloss-*"$plat".whl
