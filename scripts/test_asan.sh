#!/usr/bin/env bash
# `make test-asan`: the C++ tests and the Python tests of the runtime against
# an AddressSanitizer + UBSan build (gcc), in build-asan/.
#
# C++: gearshift_tests, all of it. Python: the extension _core built with the
# same flags, staged with the package sources in build-asan/pkg (as setup.py
# lays them out), and pytest run with libasan preloaded into the interpreter
# (the interpreter itself is not instrumented; detect_leaks=0 because CPython
# and TensorFlow keep their allocations until exit by design). The Python part
# runs ASAN_PYTEST (default: the format, runtime, interpreter and sparse tests,
# the ones that drive _core; ASAN_PYTEST=tests/python for all of them).
# Environment: PY, CMAKE, NINJA, JOBS, ASAN_PYTEST.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CMAKE=${CMAKE:-.venv/bin/cmake}
NINJA=${NINJA:-$(dirname "$CMAKE")/ninja}
# absolute: CMake's compiler checks run ninja from their own scratch folders
NINJA=$(cd "$(dirname "$NINJA")" && pwd)/$(basename "$NINJA")
JOBS=${JOBS:-2}
OUT=build-asan
DEFAULT_PYTEST="tests/python/test_api.py tests/python/test_corrupt_files.py
  tests/python/test_golden.py tests/python/test_interpreter.py tests/python/test_interpreter_gear.py
  tests/python/test_runtime_gears.py tests/python/test_integer_io.py tests/python/test_keep_tensors.py
  tests/python/test_sparse_runtime.py tests/python/test_int4_gear.py tests/python/test_isa_dispatch.py
  tests/python/test_reader_parity.py tests/python/test_shifter.py"
PYTEST=${ASAN_PYTEST:-$DEFAULT_PYTEST}

pybind11_dir=$("$PY" -c "import pybind11; print(pybind11.get_cmake_dir())")
# -O1: instrumented -O2 takes minutes per kernel file on 2 cores; -O1 is the
# usual sanitizer level (fast enough to run, reports with exact lines).
"$CMAKE" -S . -B "$OUT" -G Ninja -DCMAKE_MAKE_PROGRAM="$NINJA" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" -DGEARSHIFT_SANITIZE=ON \
  -DGEARSHIFT_BUILD_TESTS=ON -DGEARSHIFT_BUILD_TOOLS=OFF \
  -DGEARSHIFT_BUILD_PYTHON=ON -DPython_EXECUTABLE="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" \
  -Dpybind11_DIR="$pybind11_dir" >/dev/null
build_start=$(date +%s)
"$CMAKE" --build "$OUT" -j "$JOBS" --target gearshift_tests _core
build_s=$(( $(date +%s) - build_start ))

# halt_on_error: a UBSan finding fails the run instead of scrolling past.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
start=$(date +%s)
"$OUT/gearshift_tests" --gtest_brief=1
cpp_s=$(( $(date +%s) - start ))

# The package as setup.py installs it, with the instrumented extension.
rm -rf "$OUT/pkg" && mkdir -p "$OUT/pkg"
cp -r python/gearshift "$OUT/pkg/gearshift"
rm -rf "$OUT/pkg/gearshift/converters" "$OUT/pkg/gearshift/_boards" "$OUT/pkg/gearshift"/_core*.so
cp -r converters "$OUT/pkg/gearshift/converters"
cp -r boards "$OUT/pkg/gearshift/_boards"
cp "$OUT"/_core*.so "$OUT/pkg/gearshift/"
# libstdc++ is preloaded too: the interpreter does not link it, and libasan's
# __cxa_throw interceptor must find it at start-up (else the first C++
# exception of any extension, matplotlib's for one, aborts in a CHECK).
preload="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)"
start=$(date +%s)
# --capture=sys: pytest captures Python's output only, so a sanitizer report
# (written to fd 2 as the process dies) stays in the log.
# shellcheck disable=SC2086  # PYTEST is a list of paths
env LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 PYTHONPATH="$PWD/$OUT/pkg" \
  "$PY" -m pytest -q -p no:cacheprovider --capture=sys $PYTEST
py_s=$(( $(date +%s) - start ))
echo "test-asan: build ${build_s}s, C++ tests ${cpp_s}s, Python tests ${py_s}s under ASan+UBSan"
