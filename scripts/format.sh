#!/usr/bin/env bash
# Format: ruff format for Python, clang-format (Google style) for C++.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
"$VENV/bin/ruff" format python converters tests benchmarks examples
"$VENV/bin/ruff" check --fix python converters tests benchmarks examples || true
if command -v clang-format >/dev/null; then
  find runtime_cpp tests/cpp python -name '*.cc' -o -name '*.h' | xargs clang-format -i
fi
