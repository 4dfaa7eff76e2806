#!/usr/bin/env bash
# Installs the Debian packages the build and the C++ tests need, if missing.
# Idempotent and quiet when everything is present (make test calls it).
set -euo pipefail

need=()
for pkg in g++ libgtest-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "error: missing ${need[*]} and no apt-get here; install GoogleTest and a C++17 compiler" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing system packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
