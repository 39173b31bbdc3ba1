# Cross-compiles for Arm64 Linux (the NEON target) with Debian's g++-aarch64-linux-gnu and
# runs what it builds under qemu-user. Target libraries come from the cross sysroot
# (/usr/aarch64-linux-gnu) and from multiarch arm64 packages (libgtest-dev:arm64 installs
# into /usr/lib/aarch64-linux-gnu). Used by tools/test_aarch64.sh.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Without -E LD_LIBRARY_PATH=/lib the sysroot's loader can pick up a multiarch libc6:arm64
# from the host's /lib/aarch64-linux-gnu, and thread creation hangs; qemu resolves /lib inside
# the -L prefix, so the sysroot's own libraries come first.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/lib)
