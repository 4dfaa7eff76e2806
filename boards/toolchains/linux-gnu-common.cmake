# SPDX-License-Identifier: Apache-2.0
# Shared part of the Linux cross toolchain files (included by <triple>.cmake,
# which sets CMAKE_SYSTEM_PROCESSOR, GEARSHIFT_TARGET_TRIPLE,
# GEARSHIFT_QEMU_NAME and GEARSHIFT_QEMU_DEFAULT_CPU first): Debian's cross
# compiler, the multiarch search paths, the board's CPU flags from
# GEARSHIFT_BOARD_CFLAGS, and qemu-user as CMAKE_CROSSCOMPILING_EMULATOR.
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
set(GEARSHIFT_QEMU_CPU "${GEARSHIFT_QEMU_DEFAULT_CPU}" CACHE STRING
    "CPU model qemu emulates (${GEARSHIFT_QEMU_NAME} -cpu help)")
find_program(GEARSHIFT_QEMU ${GEARSHIFT_QEMU_NAME})
if(GEARSHIFT_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR
      ${GEARSHIFT_QEMU} -L /usr/${GEARSHIFT_TARGET_TRIPLE} -cpu ${GEARSHIFT_QEMU_CPU})
endif()
