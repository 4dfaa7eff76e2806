# SPDX-License-Identifier: Apache-2.0
# CMake toolchain file: cross-compile gearshift for aarch64-linux-gnu with Debian's
# cross compiler (apt-get install g++-aarch64-linux-gnu). It names only the triple's
# baseline; the board's CPU flags come from the cache variable
# GEARSHIFT_BOARD_CFLAGS (e.g. from boards/<board>.toml's cflags):
#   cmake -S . -B build-aarch64 --toolchain boards/toolchains/aarch64-linux-gnu.cmake \
#         -DGEARSHIFT_BOARD_CFLAGS="..." -DGEARSHIFT_QEMU_CPU=...
# When qemu-user is installed, CMAKE_CROSSCOMPILING_EMULATOR runs the target's
# programs under qemu-aarch64, so ctest (and gtest discovery) work on this machine.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(GEARSHIFT_TARGET_TRIPLE aarch64-linux-gnu)
set(GEARSHIFT_QEMU_NAME qemu-aarch64)
set(GEARSHIFT_QEMU_DEFAULT_CPU cortex-a53)
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-common.cmake)
