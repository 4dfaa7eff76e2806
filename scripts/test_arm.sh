#!/usr/bin/env bash
# Cross-compiles the runtime, the tools and the C++ tests for ARM boards and
# runs ctest under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR, set by
# boards/toolchains/*.cmake). Each target takes its CPU flags and QEMU CPU
# from its board profile (boards/<board>.toml):
#   rpi4  aarch64, -mcpu=cortex-a72, qemu cortex-a72 (no dotprod)
#   rpi5  aarch64, -mcpu=cortex-a76, qemu cortex-a76 (dotprod + fp16), and
#         again under qemu max (i8mm: the SMMLA kernels)
#   rpi3  armv7,   -mcpu=cortex-a53 -mfpu=neon-fp-armv8 -mfloat-abi=hard
# GoogleTest is built for the target from Debian libgtest-dev's sources.
# Usage: scripts/test_arm.sh [BOARD...]   (default: rpi4 rpi5 rpi3)
# Prints the wall time of each step.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
CMAKE=${CMAKE:-$( [ -x .venv/bin/cmake ] && echo .venv/bin/cmake || echo cmake )}
CTEST=${CTEST:-$( [ -x .venv/bin/ctest ] && echo "$PWD/.venv/bin/ctest" || echo ctest )}
NINJA=${NINJA:-$( [ -x .venv/bin/ninja ] && echo "$PWD/.venv/bin/ninja" || command -v ninja || true )}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
OUT=${ARM_BUILD:-build-arm}
BOARDS=("$@")
[ ${#BOARDS[@]} -gt 0 ] || BOARDS=(rpi4 rpi5 rpi3)

step_start=0
step() { step_start=$(date +%s); echo "== $*"; }
done_step() { echo "   ($(( $(date +%s) - step_start )) s)"; }
t0=$(date +%s)

# ---- 1. system packages ----------------------------------------------------------
step "system packages"
need=()
for pkg in g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user libgtest-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "error: missing ${need[*]} and no apt-get here" >&2
    exit 1
  fi
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "   installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
done_step

# ---- 2. one cross build + emulated ctest per board ----------------------------------
gen=()
[ -n "$NINJA" ] && gen=(-G Ninja -DCMAKE_MAKE_PROGRAM="$NINJA")
failed=()
for board in "${BOARDS[@]}"; do
  # triple, cflags and qemu cpu from the profile (validated by the installed
  # gearshift.boards: the source tree has no compiled _core in a clean clone)
  read -r triple qemu_cpu cflags < <("$PY" -c "
import sys
from gearshift.boards import load_board
b = load_board(sys.argv[1])
assert b.cross, 'not a cross target: ' + b.name
print(b.triple, b.qemu_cpu, ' '.join(b.cflags))" "$board")
  dir="$OUT/$board"
  mkdir -p "$dir"
  step "$board: configure ($triple, $cflags, qemu -cpu $qemu_cpu)"
  "$CMAKE" -S . -B "$dir" "${gen[@]}" \
    --toolchain "$PWD/boards/toolchains/$triple.cmake" \
    -DGEARSHIFT_BOARD_CFLAGS="$cflags" -DGEARSHIFT_QEMU_CPU="$qemu_cpu" \
    -DGEARSHIFT_BUILD_TESTS=ON -DGEARSHIFT_BUILD_TOOLS=ON -DGEARSHIFT_GTEST_FROM_SOURCE=ON \
    -DCMAKE_BUILD_TYPE=Release >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; exit 1; }
  done_step
  step "$board: build"
  "$CMAKE" --build "$dir" -j "$JOBS"
  done_step
  qemu=qemu-$( [ "$triple" = arm-linux-gnueabihf ] && echo arm || echo aarch64 )
  # ToolsCli.* start gearshift-run/-bench through std::system(): the host shell
  # cannot exec a target binary (no binfmt_misc), so they are left out here and
  # step 3 runs the tools under qemu instead.
  step "$board: ctest under $qemu -cpu $qemu_cpu (all but ToolsCli.*)"
  if (cd "$dir" && "$CTEST" --output-on-failure -j "$JOBS" -E '^ToolsCli[.]'); then :; else
    failed+=("$board")
  fi
  done_step
  if [ "$board" = rpi5 ]; then
    # No board profile has FEAT_I8MM yet: the SMMLA kernels (and the rest
    # of the suite beside them) run here on qemu's max CPU, which has it.
    step "$board: the same tests under $qemu -cpu max (i8mm)"
    if "$qemu" -L "/usr/$triple" -cpu max "$dir/gearshift_tests" --gtest_brief=1 \
      --gtest_filter='-ToolsCli.*'; then :; else
      failed+=("$board/i8mm")
    fi
    done_step
  fi

  # ---- 3. the standalone tools under qemu, against the host's Python runtime ----
  step "$board: gearshift-run under $qemu vs the host runtime (golden file)"
  emu=("$qemu" -L "/usr/$triple" -cpu "$qemu_cpu")
  "${emu[@]}" "$dir/gearshift-run" --info | sed 's/^/   /'
  if "$PY" - "$dir" "${emu[@]}" <<'PYEOF'; then :; else failed+=("$board/tools"); fi
import subprocess, sys, tempfile
from pathlib import Path
import numpy as np
import gearshift as gs

build, emu = Path(sys.argv[1]), sys.argv[2:]
golden = "tests/python/data/golden_v1_0.gear"
rt = gs.Runtime(golden)
x = np.random.default_rng(5).standard_normal((3, 6, 6, 2)).astype(np.float32)
with tempfile.TemporaryDirectory() as d:
    np.save(f"{d}/x.npy", x)
    for gear in rt.gears:
        rt.gear = gear
        ref = rt.run(x)
        cmd = [*emu, str(build / "gearshift-run"), golden, "--input", f"{d}/x.npy",
               "--gear", gear, "--output", f"{d}/y.npy", "--threads", "2"]
        subprocess.run(cmd, check=True, capture_output=True)
        y = np.load(f"{d}/y.npy")
        if gear.startswith("int"):
            np.testing.assert_array_equal(y, ref)
        else:
            np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
        print(f"   {gear}: matches the host (max |diff| {np.max(np.abs(y - ref)):.2e})")
    r = subprocess.run([*emu, str(build / "gearshift-bench"), golden, "--runs", "3", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import json
    json.loads(r.stdout)
    print("   gearshift-bench --json: ok")
PYEOF
  done_step
done

echo "== total $(( $(date +%s) - t0 )) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "error: emulated tests failed for: ${failed[*]}" >&2
  exit 1
fi
echo "emulated ARM tests passed: ${BOARDS[*]}"
