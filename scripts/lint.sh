#!/usr/bin/env bash
# Lint: ruff for Python; clang-format --dry-run for C++ when clang-format exists.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check python converters tests benchmarks examples
"$VENV/bin/ruff" format --check python converters tests benchmarks examples
if command -v clang-format >/dev/null; then
  find runtime_cpp tests/cpp python -name '*.cc' -o -name '*.h' | xargs clang-format --dry-run --Werror
else
  echo "clang-format not installed; C++ format not checked (apt-get install clang-format)"
fi
