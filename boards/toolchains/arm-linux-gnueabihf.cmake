# SPDX-License-Identifier: Apache-2.0
# CMake toolchain file: cross-compile gearshift for arm-linux-gnueabihf with Debian's
# cross compiler (apt-get install g++-arm-linux-gnueabihf). It names only the triple's
# baseline; the board's CPU flags come from the cache variable
# GEARSHIFT_BOARD_CFLAGS (e.g. from boards/<board>.toml's cflags):
#   cmake -S . -B build-arm --toolchain boards/toolchains/arm-linux-gnueabihf.cmake \
#         -DGEARSHIFT_BOARD_CFLAGS="..." -DGEARSHIFT_QEMU_CPU=...
# When qemu-user is installed, CMAKE_CROSSCOMPILING_EMULATOR runs the target's
# programs under qemu-arm, so ctest (and gtest discovery) work on this machine.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(GEARSHIFT_TARGET_TRIPLE arm-linux-gnueabihf)
set(GEARSHIFT_QEMU_NAME qemu-arm)
set(GEARSHIFT_QEMU_DEFAULT_CPU cortex-a15)
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-common.cmake)
