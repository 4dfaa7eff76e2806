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
find_program(GEARSHIFT_CROSS_CXX ${GEARSHIFT_TARGET_TRIPLE}-g++)
find_program(GEARSHIFT_CROSS_CC ${GEARSHIFT_TARGET_TRIPLE}-gcc)
if(NOT GEARSHIFT_CROSS_CXX OR NOT GEARSHIFT_CROSS_CC)
  message(FATAL_ERROR "${GEARSHIFT_TARGET_TRIPLE}-g++ not found: "
                      "apt-get install g++-${GEARSHIFT_TARGET_TRIPLE}")
endif()
set(CMAKE_C_COMPILER ${GEARSHIFT_CROSS_CC})
set(CMAKE_CXX_COMPILER ${GEARSHIFT_CROSS_CXX})

# Debian multiarch keeps the target's libraries and headers in /usr/$triple
# (and /usr/lib/$triple for :arm64/:armhf packages).
set(CMAKE_FIND_ROOT_PATH /usr/${GEARSHIFT_TARGET_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The board's CPU flags (-mcpu/-march/-mfpu); never -march=native here.
set(GEARSHIFT_BOARD_CFLAGS "" CACHE STRING "CPU flags of the target board")
if(GEARSHIFT_BOARD_CFLAGS MATCHES "native")
  message(FATAL_ERROR "GEARSHIFT_BOARD_CFLAGS must name the target CPU, not native: "
                      "${GEARSHIFT_BOARD_CFLAGS}")
endif()
set(CMAKE_C_FLAGS_INIT "${GEARSHIFT_BOARD_CFLAGS}")
set(CMAKE_CXX_FLAGS_INIT "${GEARSHIFT_BOARD_CFLAGS}")
# try_compile projects re-read this file: hand them the board's settings too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES GEARSHIFT_BOARD_CFLAGS GEARSHIFT_QEMU_CPU)

# Run the target's programs (tests, gtest discovery) under qemu-user.
set(GEARSHIFT_QEMU_CPU "cortex-a15" CACHE STRING "CPU model qemu emulates (qemu-arm -cpu help)")
find_program(GEARSHIFT_QEMU qemu-arm)
if(GEARSHIFT_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR
      ${GEARSHIFT_QEMU} -L /usr/${GEARSHIFT_TARGET_TRIPLE} -cpu ${GEARSHIFT_QEMU_CPU})
endif()
