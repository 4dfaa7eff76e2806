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
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES GEARSHIFT_BOARD_CFLAGS GEARSHIFT_QEMU_CPU
     GEARSHIFT_SYSROOT)

# An older release's C library and C++ runtime (scripts/fetch_sysroot.sh): the
# binaries then need no newer glibc than that release's. The cross compiler's
# own glibc headers (/usr/<triple>/include, searched before any --sysroot) and
# startup files would pull in its newer glibc, so the search paths are given in
# full: -nostdinc, then the release's libstdc++ headers, the compiler's own
# intrinsics (arm_neon.h), and the release's C headers; -B and -L make the
# linker take the release's crt*.o, libc and libstdc++.a/libgcc_eh.a first.
# Link with -static-libstdc++ -static-libgcc (GEARSHIFT_STATIC_LIBSTDCXX).
set(GEARSHIFT_SYSROOT "" CACHE PATH "Older glibc sysroot (scripts/fetch_sysroot.sh); empty: none")
if(GEARSHIFT_SYSROOT)
  set(_sr ${GEARSHIFT_SYSROOT})
  set(_t ${GEARSHIFT_TARGET_TRIPLE})
  file(GLOB _cxx_dirs LIST_DIRECTORIES true ${_sr}/usr/include/c++/*)
  file(GLOB _gcc_dirs LIST_DIRECTORIES true ${_sr}/usr/lib/gcc/${_t}/*)
  list(LENGTH _cxx_dirs _ncxx)
  list(LENGTH _gcc_dirs _ngcc)
  if(NOT _ncxx EQUAL 1 OR NOT _ngcc EQUAL 1 OR NOT EXISTS ${_sr}/usr/include/stdio.h)
    message(FATAL_ERROR "GEARSHIFT_SYSROOT=${_sr} is not a sysroot made by "
                        "scripts/fetch_sysroot.sh (one usr/include/c++/N, one usr/lib/gcc/${_t}/N, "
                        "usr/include/stdio.h)")
  endif()
  get_filename_component(_cxxver ${_cxx_dirs} NAME)
  execute_process(COMMAND ${GEARSHIFT_CROSS_CXX} -print-file-name=include
                  OUTPUT_VARIABLE _gcc_include OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(_inc "-nostdinc -isystem ${_sr}/usr/include/c++/${_cxxver}"
           "-isystem ${_sr}/usr/include/${_t}/c++/${_cxxver}"
           "-isystem ${_sr}/usr/include/c++/${_cxxver}/backward"
           "-isystem ${_gcc_include} -isystem ${_sr}/usr/include/${_t}"
           "-isystem ${_sr}/usr/include --sysroot=${_sr}")
  string(JOIN " " _inc ${_inc})
  set(_link "--sysroot=${_sr} -B${_sr}/usr/lib/${_t}/ -L${_gcc_dirs} -L${_sr}/usr/lib/${_t}"
            "-L${_sr}/lib/${_t}")
  string(JOIN " " _link ${_link})
  string(APPEND CMAKE_C_FLAGS_INIT " ${_inc}")
  string(APPEND CMAKE_CXX_FLAGS_INIT " ${_inc}")
  foreach(_kind EXE SHARED MODULE)
    set(CMAKE_${_kind}_LINKER_FLAGS_INIT "${_link}")
  endforeach()
  list(APPEND CMAKE_FIND_ROOT_PATH ${_sr})
endif()

# Run the target's programs (tests, gtest discovery) under qemu-user.
set(GEARSHIFT_QEMU_CPU "${GEARSHIFT_QEMU_DEFAULT_CPU}" CACHE STRING
    "CPU model qemu emulates (${GEARSHIFT_QEMU_NAME} -cpu help)")
find_program(GEARSHIFT_QEMU ${GEARSHIFT_QEMU_NAME})
if(GEARSHIFT_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR
      ${GEARSHIFT_QEMU} -L /usr/${GEARSHIFT_TARGET_TRIPLE} -cpu ${GEARSHIFT_QEMU_CPU})
endif()
