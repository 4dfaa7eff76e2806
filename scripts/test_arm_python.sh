#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the Python package's runtime tests in an emulated aarch64 Python with the
# cross-built extension (the rpi4 board: Cortex-A72, Raspberry Pi OS bookworm):
#   1. Debian's arm64 python3.11, python3-numpy 1.24 (what bookworm ships) and
#      the libraries they load, unpacked into build-arm/sysroot-arm64 by
#      scripts/fetch_target_python.sh (apt-get download + dpkg -x; cached);
#   2. `gearshift build --board rpi4 -o build-arm/dist-rpi4`: the aarch64 wheel,
#      checked to hold an AArch64 _core, unzipped into build-arm/py-rpi4/site;
#   3. pytest (pure Python, from the host's pip) into build-arm/py-tools, with
#      flatbuffers and LiteRT's pure-Python TFLite schema (the .tflite importer);
#   4. qemu-aarch64 -L SYSROOT -cpu cortex-a72 SYSROOT/usr/bin/python3.11 -m pytest
#      tests/python: tests that need TensorFlow/Keras skip (no keras there).
# The tests import the ARM gearshift from the unpacked wheel: PYTHONPATH holds
# only the target folders and pytest runs from a folder outside the tree.
# Usage: scripts/test_arm_python.sh [PYTEST ARGS...]   (default: tests/python)
# Prints the wall time of each step.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PY=${PY:-.venv/bin/python}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
OUT=${ARM_BUILD:-build-arm}
BOARD=rpi4
QEMU_CPU=${QEMU_CPU:-cortex-a72}
SYSROOT=$ROOT/$OUT/sysroot-arm64
DIST=$ROOT/$OUT/dist-$BOARD
SITE=$ROOT/$OUT/py-$BOARD/site
TOOLS=$ROOT/$OUT/py-tools

step_start=0
step() { step_start=$(date +%s); echo "== $*"; }
done_step() { echo "   ($(( $(date +%s) - step_start )) s)"; }
t0=$(date +%s)

# ---- 0. system packages (cross compiler, qemu) ------------------------------------
step "system packages"
need=()
for pkg in g++-aarch64-linux-gnu qemu-user; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "   installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
done_step

# ---- 1. Debian arm64 python3.11 + numpy ------------------------------------------------
step "arm64 python3.11 + python3-numpy into $OUT/sysroot-arm64"
bash scripts/fetch_target_python.sh arm64 "$SYSROOT" --runtime
# A host-side launcher: qemu's -0 makes it the interpreter's argv[0], hence
# sys.executable, so tests that start "sys.executable -m ..." run under qemu too
# (this machine has no binfmt_misc to run aarch64 programs directly).
launcher=$SYSROOT/usr/bin/python3.11-qemu
cat >"$launcher" <<EOF
#!/bin/sh
exec qemu-aarch64 -L "$SYSROOT" -cpu "$QEMU_CPU" -0 "\$0" "$SYSROOT/usr/bin/python3.11" "\$@"
EOF
chmod +x "$launcher"
done_step

# ---- 2. the aarch64 wheel ----------------------------------------------------------------
step "gearshift build --board $BOARD -o $OUT/dist-$BOARD"
"$PY" -m gearshift.cli build --board "$BOARD" -o "$DIST" --jobs "$JOBS" --source "$ROOT" \
  --python-root "$SYSROOT"
wheel=$(ls "$DIST"/wheels/gearshift-*-cp311-cp311-*_aarch64.whl)
rm -rf "$SITE"
mkdir -p "$SITE"
"$PY" - "$wheel" "$SITE" <<'PYEOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PYEOF
echo "   $(basename "$wheel") -> $OUT/py-$BOARD/site"
done_step

# ---- 3. pytest for the target (pure Python) -------------------------------------------------
step "pytest into $OUT/py-tools"
if [ ! -f "$TOOLS/.stamp-v2" ]; then
  rm -rf "$TOOLS"
  # the host venv's versions (pure-Python packages: the same files serve aarch64)
  pins=$("$PY" - <<'PYEOF'
from importlib.metadata import PackageNotFoundError, version
out = []
for name in ("pytest", "pluggy", "iniconfig", "packaging", "pygments", "flatbuffers"):
    try:
        out.append(f"{name}=={version(name)}")
    except PackageNotFoundError:
        out.append(name)
print(" ".join(out))
PYEOF
)
  # shellcheck disable=SC2086
  "$PY" -m pip install -q --target "$TOOLS" --no-deps --no-compile $pins
  # The .tflite importer's schema: LiteRT's pure-Python flatbuffer module alone (its
  # native parts cannot load here), beside flatbuffers: what the importer uses on a
  # board with `pip install gearshift[tflite]`, without TensorFlow.
  schema=$("$PY" -c "import importlib.util as u; print(u.find_spec('ai_edge_litert.schema_py_generated').origin)" 2>/dev/null || true)
  if [ -n "$schema" ]; then
    mkdir -p "$TOOLS/ai_edge_litert"
    : >"$TOOLS/ai_edge_litert/__init__.py"
    cp "$schema" "$TOOLS/ai_edge_litert/"
  fi
  touch "$TOOLS/.stamp-v2"
fi
done_step

# ---- 4. the tests under qemu ----------------------------------------------------------------
step "pytest under qemu-aarch64 -cpu $QEMU_CPU (Debian python3.11, numpy, the rpi4 wheel)"
args=()
for a in "$@"; do  # paths relative to the tree: pytest runs elsewhere
  case "$a" in
    -* | /*) args+=("$a") ;;
    *) if [ -e "$ROOT/${a%%::*}" ]; then args+=("$ROOT/$a"); else args+=("$a"); fi ;;
  esac
done
[ ${#args[@]} -gt 0 ] || args=("$ROOT/tests/python")
run_dir=$(mktemp -d)
trap 'rm -rf "$run_dir"' EXIT
export PYTHONPATH="$SITE:$TOOLS"
export PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1
(
  cd "$run_dir"
  "$launcher" - <<'PYEOF'
import platform
import numpy
import gearshift
import gearshift._core as core
print(f"   {platform.machine()} python {platform.python_version()}, numpy {numpy.__version__}")
print(f"   gearshift from {gearshift.__file__}")
print(f"   _core: {core.__file__}")
print(f"   runtime_info: {gearshift.runtime_info()}")
assert platform.machine() == "aarch64", platform.machine()
assert numpy.__version__.startswith("1.24."), "expected Debian bookworm's numpy 1.24"
assert "/site/gearshift/" in gearshift.__file__, "not the ARM wheel's gearshift"
PYEOF
  # rootdir/config: the project's pyproject.toml (the tests' warning filters)
  "$launcher" -m pytest -q -p no:cacheprovider -c "$ROOT/pyproject.toml" --rootdir "$ROOT" \
    "${args[@]}"
) && rc=0 || rc=$?
done_step

echo "== total $(( $(date +%s) - t0 )) s"
if [ $rc -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
if [ $rc -ne 0 ]; then
  echo "error: emulated aarch64 Python tests failed" >&2
  exit $rc
fi
echo "emulated aarch64 Python tests passed ($BOARD wheel, qemu -cpu $QEMU_CPU)"
