#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fetches Debian's Python 3.11 for a foreign architecture and unpacks it into a
# folder (a "sysroot" for qemu-user -L and for cross-compiling the extension),
# without installing anything for that architecture:
#   scripts/fetch_target_python.sh ARCH DIR [--runtime]
# ARCH is a Debian architecture (arm64, armhf). Always fetched: the headers
# (libpython3.11-dev, libpython3.11) to build the extension against. With
# --runtime also the interpreter and numpy (python3.11, its stdlib, python3-numpy
# and the BLAS/LAPACK it links), so that
#   qemu-aarch64 -L DIR DIR/usr/bin/python3.11
# runs. apt only needs to know the architecture (dpkg --add-architecture, then
# apt-get update); the packages are fetched with apt-get download and unpacked
# with dpkg -x. Idempotent: a finished folder (DIR/.stamp-*) is left as it is.
set -euo pipefail

arch=${1:?usage: fetch_target_python.sh ARCH DIR [--runtime]}
dir=${2:?usage: fetch_target_python.sh ARCH DIR [--runtime]}
runtime=0
[ "${3:-}" = "--runtime" ] && runtime=1

case "$arch" in
  arm64) triple=aarch64-linux-gnu ;;
  armhf) triple=arm-linux-gnueabihf ;;
  *) echo "error: unsupported architecture '$arch' (arm64, armhf)" >&2; exit 2 ;;
esac

headers=(libpython3.11-dev libpython3.11 libpython3.11-stdlib libpython3.11-minimal)
# the interpreter, numpy and the shared libraries they load (libc, libstdc++ and
# libgcc_s come from the .debs too, so the folder does not depend on the cross
# toolchain's /usr/$triple)
runpkgs=(python3.11 python3.11-minimal python3-numpy
  libblas3 liblapack3 libgfortran5 libgcc-s1 libstdc++6 libc6
  libexpat1 zlib1g libffi8 libssl3 libbz2-1.0 liblzma5 libuuid1 libcrypt1)

stamp="$dir/.stamp-headers"
want=("${headers[@]}")
if [ $runtime -eq 1 ]; then
  stamp="$dir/.stamp-runtime"
  want+=("${runpkgs[@]}")
fi
if [ -f "$stamp" ]; then
  echo "   $dir: already fetched ($(basename "$stamp"))"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  echo "error: fetching Debian's $arch Python needs apt-get and dpkg (a Debian/Ubuntu host)" >&2
  exit 1
fi
# apt must know the architecture to download its packages (installs nothing)
if ! { [ "$(dpkg --print-architecture)" = "$arch" ] || dpkg --print-foreign-architectures | grep -qx "$arch"; }; then
  echo "   dpkg --add-architecture $arch"
  $SUDO dpkg --add-architecture "$arch"
  $SUDO apt-get update -qq || echo "   warning: apt-get update reported errors; trying the download anyway"
elif ! apt-cache show "python3.11:$arch" >/dev/null 2>&1; then
  $SUDO apt-get update -qq || echo "   warning: apt-get update reported errors; trying the download anyway"
fi

debs="$dir/.debs"
mkdir -p "$debs"
missing=()
for p in "${want[@]}"; do
  compgen -G "$debs/${p}_*_$arch.deb" >/dev/null || compgen -G "$debs/${p}_*_all.deb" >/dev/null ||
    missing+=("$p:$arch")
done
if [ ${#missing[@]} -gt 0 ]; then
  # apt-get download writes into the current directory; run it as a user that
  # can write there (as root, apt's _apt sandbox user cannot: -o ... fixes that)
  (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}")
fi
for deb in "$debs"/*.deb; do
  dpkg -x "$deb" "$dir"
done

# The links Debian's alternatives (update-alternatives) would make for numpy.
libdir="$dir/usr/lib/$triple"
if [ $runtime -eq 1 ]; then
  for lib in blas lapack; do
    so=$(ls "$libdir/$lib"/lib$lib.so.3* 2>/dev/null | head -n1 || true)
    if [ -n "$so" ] && [ ! -e "$libdir/lib$lib.so.3" ]; then
      ln -sf "$lib/$(basename "$so")" "$libdir/lib$lib.so.3"
    fi
  done
fi
# usrmerge: qemu -L resolves /lib/ld-linux-*.so via DIR/lib
[ -e "$dir/lib" ] || ln -s usr/lib "$dir/lib"
touch "$stamp"
[ $runtime -eq 1 ] && touch "$dir/.stamp-headers"
echo "   $dir: $arch python3.11 unpacked ($(du -sh "$debs" | cut -f1) of .debs)"
