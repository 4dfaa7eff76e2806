#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer harnesses (clang, ASan+UBSan) in build-fuzz/
# and runs every target for FUZZ_SECONDS (default 60) on one core each, one
# after the other; with FUZZ_RUNS=N a target stops after N executions instead
# (FUZZ_SECONDS then only bounds it). Fails when a target finds a crash, a leak,
# a timeout or an out-of-memory input: the input is kept under
# build-fuzz/artifacts/<target>/ (reproduce with `build-fuzz/fuzz_gear_run FILE`
# or `python fuzz/fuzz_tflite_importer.py FILE`); fix it and commit it as a seed
# under fuzz/corpus/. New inputs the fuzzer keeps go to build-fuzz/corpus/<target>
# (not committed), so repeated runs continue where the last one stopped.
# Environment: FUZZ_SECONDS, FUZZ_RUNS, FUZZ_TARGETS (default: all three),
# PY (the Python with atheris), CMAKE, NINJA.
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
RUNS=${FUZZ_RUNS:--1}
TARGETS=${FUZZ_TARGETS:-"gear_reader gear_run tflite_importer"}
PY=${PY:-.venv/bin/python}
CMAKE=${CMAKE:-.venv/bin/cmake}
# absolute: CMake runs ninja from its scratch folders too (`make fuzz` passes .venv/bin/cmake)
NINJA=${NINJA:-$(cd "$(dirname "$CMAKE")" && pwd)/ninja}
OUT=build-fuzz

if ! command -v clang++ >/dev/null; then
  echo "error: fuzzing needs clang++ with libFuzzer: bash scripts/install_system_deps.sh --fuzz" >&2
  exit 1
fi
"$CMAKE" -S . -B "$OUT" -G Ninja -DCMAKE_MAKE_PROGRAM="$NINJA" -DCMAKE_CXX_COMPILER=clang++ \
  -DGEARSHIFT_FUZZ=ON -DGEARSHIFT_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
"$CMAKE" --build "$OUT" -j "${JOBS:-2}" --target fuzz_gear_reader fuzz_gear_run || exit 1

mkdir -p "$OUT/logs"
failed=0
summary=()
for t in $TARGETS; do
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
  # -rss_limit_mb: a hostile file must not make the loader take gigabytes;
  # -timeout: nor make one input take seconds (the seeds take milliseconds).
  common=(-runs="$RUNS" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048
          -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/")
  case $t in
    gear_reader|gear_run)
      cmd=("$OUT/fuzz_$t" "${common[@]}" -max_len=65536 "$OUT/corpus/$t" fuzz/corpus/gear) ;;
    tflite_importer)
      if ! "$PY" -c "import atheris" 2>/dev/null; then
        echo "fuzz $t: skipped, atheris is not installed ($PY -m pip install atheris)"
        summary+=("$t skipped (no atheris)")
        continue
      fi
      # The gearshift package PY imports (`make fuzz` installs this checkout first).
      cmd=("$PY" fuzz/fuzz_tflite_importer.py "${common[@]}" -max_len=16384 "$OUT/corpus/$t" fuzz/corpus/tflite) ;;
    *) echo "error: unknown fuzz target '$t' (gear_reader, gear_run, tflite_importer)" >&2; exit 1 ;;
  esac
  echo "fuzz $t: ${SECONDS_PER_TARGET}s${FUZZ_RUNS:+ or $RUNS runs}, log $OUT/logs/$t.log"
  "${cmd[@]}" >"$OUT/logs/$t.log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/logs/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$OUT/logs/$t.log" | tail -1)
  if [ $rc -ne 0 ]; then
    failed=1
    grep -E "ERROR|SUMMARY|Test unit written|Exception|Error:" "$OUT/logs/$t.log" | head -8
    summary+=("$t FAILED (rc $rc) after ${execs:-?} executions, see $OUT/logs/$t.log")
  else
    summary+=("$t ok: ${execs:-?} executions, ${rate:-?}/s, no crash")
  fi
done
echo "---- fuzz summary (CPU: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1))"
printf '%s\n' "${summary[@]}"
exit $failed
