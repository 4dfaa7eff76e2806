#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fetches an older Debian release's C and C++ development files for a foreign
# architecture and unpacks them into a folder: a sysroot that `gearshift build`
# compiles and links against, so that the binaries and the wheel's extension
# need no newer glibc than that release's (the symbols a program uses are
# versioned by the glibc it was linked against: bookworm's cross compiler
# alone makes binaries that need GLIBC_2.34 and later).
#   scripts/fetch_sysroot.sh ARCH DIR [RELEASE]
# ARCH is a Debian architecture (arm64, armhf); RELEASE is a Debian release
# with a known glibc (bullseye: glibc 2.31, GCC 10's libstdc++; the default).
# Fetched: libc6, libc6-dev, linux-libc-dev and that release's libstdc++/libgcc
# development files (GCC 10's libstdc++.a and libgcc_eh.a are built against
# glibc 2.31; GCC 12's, from the cross compiler, need glibc 2.32-2.36 symbols
# such as __libc_single_threaded, arc4random, _dl_find_object).
# apt runs with a private state folder (DIR/.apt: its own sources list, package
# lists and cache), so the system's apt configuration is not changed; the
# packages are fetched with apt-get download and unpacked with dpkg -x. Absolute
# symbolic links (libm.so -> /lib/...) are made relative so that the linker
# finds the release's libraries inside DIR. Idempotent: a finished folder
# (DIR/.stamp-sysroot-RELEASE) is left as it is. Needs apt-get and dpkg and the
# network; nothing here runs when gearshift itself runs.
set -euo pipefail

usage="usage: fetch_sysroot.sh ARCH DIR [RELEASE]"
arch=${1:?$usage}
dir=${2:?$usage}
release=${3:-bullseye}

case "$arch" in
  arm64) triple=aarch64-linux-gnu ;;
  armhf) triple=arm-linux-gnueabihf ;;
  *) echo "error: unsupported architecture '$arch' (arm64, armhf)" >&2; exit 2 ;;
esac
# per release: the GCC whose libstdc++/libgcc it ships, and its archive key
case "$release" in
  bullseye) gcc=10 ;;
  *) echo "error: unsupported release '$release' (bullseye)" >&2; exit 2 ;;
esac
keyring=/usr/share/keyrings/debian-archive-$release-stable.gpg
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

stamp="$dir/.stamp-sysroot-$release"
if [ -f "$stamp" ]; then
  echo "   $dir: already fetched ($(basename "$stamp"))"
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  echo "error: fetching Debian $release's $arch libc needs apt-get and dpkg (a Debian/Ubuntu host)" >&2
  exit 1
fi
if [ ! -f "$keyring" ]; then
  echo "error: $keyring not found: install Debian's debian-archive-keyring (it holds the $release key)" >&2
  exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
apt_dir="$dir/.apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dir/.debs"
echo "deb [arch=$arch signed-by=$keyring] $mirror $release main" >"$apt_dir/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
  -o Dir::State::status=/dev/null -o Debug::NoLocking=1
  -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
  # as root, apt's _apt sandbox user could not write into DIR
  -o APT::Sandbox::User="$(id -un)"
)
pkgs=(libc6 libc6-dev linux-libc-dev "libstdc++-$gcc-dev" "libgcc-$gcc-dev")
echo "   apt-get update ($release, $arch; private state in $apt_dir)"
apt-get -qq "${apt_opts[@]}" update
(cd "$dir/.debs" && apt-get -qq "${apt_opts[@]}" download "${pkgs[@]/%/:$arch}")
for deb in "$dir"/.debs/*.deb; do
  dpkg -x "$deb" "$dir"
done
# absolute links (libc6-dev's libm.so -> /lib/<triple>/libm.so.6) point into
# DIR instead of the host
find "$dir" -path "$dir/.apt" -prune -o -type l -lname '/*' -print | while read -r link; do
  target=$(readlink "$link")
  ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$dir$target")" "$link"
done
# usrmerge: qemu -L DIR resolves /lib/ld-linux-*.so via DIR/lib
[ -e "$dir/lib" ] || ln -s usr/lib "$dir/lib"
glibc=$(ls "$dir"/lib/"$triple"/libc-*.so 2>/dev/null | sed -n 's/.*libc-\([0-9.]*\)\.so/\1/p' | head -n1)
cat >"$dir/SYSROOT.txt" <<EOF
release=$release
arch=$arch
triple=$triple
glibc=${glibc:-unknown}
gcc=$gcc
EOF
rm -rf "$apt_dir/lists" "$apt_dir/cache"  # 40 MB of package lists, not needed again
touch "$stamp"
echo "   $dir: Debian $release $arch sysroot (glibc ${glibc:-?}, libstdc++ of GCC $gcc; $(du -sh "$dir/.debs" | cut -f1) of .debs)"
