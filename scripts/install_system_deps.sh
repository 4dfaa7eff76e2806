#!/usr/bin/env bash
# Installs the Debian packages the build and the C++ tests need, if missing.
# Idempotent and quiet when everything is present (make test calls it).
# With --fuzz it also installs clang and its libFuzzer/sanitizer runtimes for
# `make fuzz` (not needed by the build or the tests).
set -euo pipefail

pkgs=(g++ libgtest-dev openssh-server openssh-client)
if [ "${1:-}" = "--fuzz" ]; then
  # Debian 12: clang 14; libclang-rt-14-dev holds libclang_rt.fuzzer and the
  # ASan/UBSan runtimes that -fsanitize=fuzzer,address,undefined links.
  pkgs+=(clang libclang-rt-14-dev)
fi
need=()
# openssh-server and -client: the remote-board tests (tests/python/test_bench_remote.py) start
# their own sshd on 127.0.0.1 with a throwaway host key; nothing else uses them.
for pkg in "${pkgs[@]}"; do
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
