"""The ELF symbol-version reader (gearshift.elf) against objdump, the check of
a binary against a board's glibc/libstdc++ levels (gearshift.abi), the board
profiles' levels, and the wheel's retagging (gearshift.build.retag_wheel)."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import gearshift.build as gb
from gearshift.abi import (
    GLIBCXX_LEVELS,
    MANYLINUX_GLIBC,
    Levels,
    check_binary,
    glibc_needed,
    manylinux_tag,
)
from gearshift.boards import BoardError, list_boards, load_board
from gearshift.elf import ElfError, ElfInfo, VersionNeed, read_elf, version_definitions

REPO = Path(__file__).resolve().parents[2]
OBJDUMP = shutil.which("objdump")


def _objdump_refs(path: Path) -> set[tuple[str, str]]:
    """(library, version) pairs of objdump -p's "Version References"."""
    out = subprocess.run([OBJDUMP, "-p", str(path)], capture_output=True, text=True, check=True)
    refs, lib = set(), None
    in_refs = False
    for line in out.stdout.splitlines():
        if line.startswith("Version References"):
            in_refs = True
            continue
        if in_refs:
            m = re.match(r"^\s+required from (\S+):$", line)
            if m:
                lib = m.group(1)
                continue
            m = re.match(r"^\s+0x[0-9a-f]+ 0x[0-9a-f]+ \d+ (\S+)$", line)
            if m and lib:
                refs.add((lib, m.group(1)))
                continue
            if line.strip() == "" and refs:
                break
    return refs


def _objdump_undefined(path: Path) -> set[tuple[str, str]]:
    """(symbol, version) of every versioned undefined dynamic symbol (objdump -T)."""
    out = subprocess.run([OBJDUMP, "-T", str(path)], capture_output=True, text=True, check=True)
    found = set()
    for line in out.stdout.splitlines():
        m = re.search(r"\*UND\*\s+\S+\s+\(?([A-Za-z_]+[0-9.]*[A-Za-z0-9_.]*)\)?\s+(\S+)$", line)
        if m and m.group(1) != "Base":
            found.add((m.group(2), m.group(1)))
    return found


def _python_binary() -> Path:
    """This interpreter's ELF file (sys.executable may be a launcher script, as
    under qemu in scripts/test_arm_python.sh; /proc/self/exe is the binary)."""
    exe = Path("/proc/self/exe")
    return exe.resolve() if exe.exists() else Path(sys.executable).resolve()


def _host_binaries() -> list[Path]:
    cands = [_python_binary(), Path(shutil.which("ls") or "/bin/ls")]
    import gearshift._core as core  # the host extension: libstdc++ needs as well

    cands.append(Path(core.__file__))
    return [p for p in cands if p.is_file()]


def _cross_binaries() -> list[Path]:
    """Cross-built tools of earlier `gearshift build` runs (this test's own
    builds in test_board_builds.py, the emulated tests' build-arm/dist-*)."""
    found = []
    for pattern in ("build-arm/dist-*/bin/gearshift-run", "build-arm/boards-*/bin/gearshift-run"):
        found += sorted(REPO.glob(pattern))
    for arch in ("aarch64", "arm"):  # the cross toolchain's own libstdc++
        lib = Path(f"/usr/{arch}-linux-gnu{'eabihf' if arch == 'arm' else ''}/lib/libstdc++.so.6")
        if lib.is_file():
            found.append(lib.resolve())
    return found


@pytest.mark.skipif(OBJDUMP is None, reason="objdump (binutils) not installed")
@pytest.mark.parametrize("kind", ["host", "cross"])
def test_version_needs_match_objdump(kind):
    paths = _host_binaries() if kind == "host" else _cross_binaries()
    if not paths:
        pytest.skip("no cross-built binaries or cross toolchain here")
    for path in paths:
        info = read_elf(path)
        mine = {(n.library, n.version) for n in info.needs}
        assert mine == _objdump_refs(path), path
        if info.static:  # objdump -T refuses a file without dynamic symbols
            assert not mine and not info.needed
            continue
        assert mine, f"{path}: no version needs found"
        syms = {(s, n.version) for n in info.needs for s in n.symbols}
        assert syms == _objdump_undefined(path), path


def test_needed_and_interpreter_of_this_python():
    info = read_elf(_python_binary())
    assert info.bits == 64 and not info.static
    assert any(lib.startswith("libc.so") for lib in info.needed) or "libc" in str(info.needed)
    assert info.interpreter and "ld-linux" in info.interpreter


def test_version_definitions_of_libc():
    path = Path("/lib/x86_64-linux-gnu/libc.so.6")
    if not path.is_file():
        pytest.skip(f"{path} not here")
    defs = version_definitions(path)
    assert "GLIBC_2.2.5" in defs and "GLIBC_PRIVATE" in defs
    assert not [d for d in defs if d.startswith("libc.so")]  # the soname entry is left out
    cxx = shutil.which("aarch64-linux-gnu-g++")
    if cxx:  # the cross compiler's glibc: the newest GLIBC_x.y its libc.so.6 defines
        own = gb.toolchain_glibc(cxx)
        assert own is not None and re.match(r"^2\.\d+$", own)
        libc = subprocess.run([cxx, "-print-file-name=libc.so.6"], capture_output=True, text=True)
        assert f"GLIBC_{own}" in version_definitions(Path(libc.stdout.strip()).resolve())


def test_not_elf_and_truncated():
    with pytest.raises(ElfError, match="not an ELF"):
        read_elf(b"#!/bin/sh\n" + b"\0" * 64)
    data = _python_binary().read_bytes()
    with pytest.raises(ElfError, match="truncated"):
        read_elf(data[:200])


# -- the check against a board's levels ---------------------------------------------
def test_check_names_binary_symbol_version_and_limit():
    import gearshift._core as core

    path = Path(core.__file__)
    need = glibc_needed(read_elf(path))
    assert need is not None and re.match(r"^2\.\d+$", need)
    old = Levels("Ubuntu 18.04", "2.27", "3.4.25")
    bad = check_binary(path, old, name="_core.so")
    assert bad, "this machine's extension needs more than glibc 2.27"
    text = [str(v) for v in bad]
    glibc = [v for v in bad if v.version.startswith("GLIBC_")]
    assert glibc and all("has GLIBC_2.27" in str(v) for v in glibc)
    assert all(t.startswith("_core.so needs ") and "Ubuntu 18.04" in t for t in text)
    assert any("symbols: " in t for t in text)
    # the same binary fits a level at its own needs
    assert not [
        v for v in check_binary(path, Levels("new", need, None)) if v.version.startswith("GLIBC_")
    ]


def test_cxxabi_and_gcc_follow_glibcxx():
    lv = Levels("Ubuntu 20.04", "2.31", "3.4.28")
    assert lv.cxxabi == "1.3.12" and lv.gcc == "9.3.0"
    assert Levels("bookworm", "2.36", "3.4.30").cxxabi == "1.3.13"
    for gx, (gcc, cxxabi) in GLIBCXX_LEVELS.items():
        assert re.match(r"^3\.4\.\d+$", gx) and re.match(r"^\d+\.\d+\.\d+$", gcc)
        assert re.match(r"^1\.3\.\d+$", cxxabi)


def test_manylinux_tag():
    import gearshift._core as core

    info = read_elf(Path(core.__file__))
    need = glibc_needed(info)
    assert need is not None
    tag = manylinux_tag(info, "x86_64")
    level = tag.split("_")[1:3]
    assert tag.endswith("_x86_64") and (int(level[0]), int(level[1])) >= tuple(
        int(p) for p in need.split(".")
    )

    def needing(version: str) -> ElfInfo:
        return ElfInfo(0xB7, 64, ("libc.so.6",), None, (VersionNeed("libm.so.6", version, ()),))

    # rounded up to a level with a manylinux policy (what auditwheel reports)
    assert manylinux_tag(needing("GLIBC_2.29"), "aarch64") == "manylinux_2_31_aarch64"
    assert manylinux_tag(needing("GLIBC_2.31"), "armv7l") == "manylinux_2_31_armv7l"
    assert manylinux_tag(needing("GLIBC_2.4"), "armv7l") == "manylinux_2_17_armv7l"
    assert manylinux_tag(needing("GLIBC_2.99"), "aarch64") == "manylinux_2_99_aarch64"
    assert "2.31" in MANYLINUX_GLIBC


# -- profiles ------------------------------------------------------------------------
def test_every_cross_profile_states_its_oldest_os():
    for name in list_boards():
        b = load_board(name)
        if not b.cross:
            assert b.levels.glibcxx is None
            continue
        assert b.oldest_os and re.match(r"^2\.\d+$", b.glibc or "")
        assert b.glibcxx in GLIBCXX_LEVELS
        assert b.levels.os == b.oldest_os


def test_profile_levels_the_issue_names():
    # Raspberry Pi OS bullseye, JetPack 5 (20.04), JetPack 4 (18.04)
    assert load_board("rpi4").levels == Levels(
        "Raspberry Pi OS 11 (bullseye), 64-bit (arm64)", "2.31", "3.4.28"
    )
    assert load_board("jetson-xavier-nx").glibc == "2.31"
    assert load_board("jetson-xavier-nx").glibcxx == "3.4.28"
    assert load_board("jetson-nano").glibc == "2.27"


def _profile(tmp_path: Path, **edits: str | None) -> Path:
    d = tmp_path / "boards"
    shutil.copytree(REPO / "boards", d)
    text = (d / "rpi4.toml").read_text()
    for key, value in edits.items():
        if value is None:
            text = re.sub(rf"^{key} = .*\n", "", text, flags=re.M)
        else:
            text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
    (d / "rpi4.toml").write_text(text)
    return d


@pytest.mark.parametrize(
    "edits,message",
    [
        ({"glibc": None}, "needs glibc"),
        ({"oldest_os": None, "glibcxx": None}, "needs oldest_os, glibcxx"),
        ({"glibc": '"2.31.1"'}, "'glibc' must be a version like '2.31'"),
        ({"glibcxx": '"3.4.99"'}, "'glibcxx' must be a GLIBCXX level"),
        ({"glibc": "231"}, "field 'glibc' must be a str"),
    ],
)
def test_profile_levels_validated(tmp_path, edits, message):
    d = _profile(tmp_path, **edits)
    with pytest.raises(BoardError, match=re.escape(message)):
        load_board("rpi4", d)


def test_host_profile_takes_no_levels(tmp_path):
    d = tmp_path / "boards"
    shutil.copytree(REPO / "boards", d)
    (d / "host.toml").write_text((d / "host.toml").read_text() + 'glibc = "2.31"\n')
    with pytest.raises(BoardError, match="native profile"):
        load_board("host", d)


# -- the wheel's tag -------------------------------------------------------------------
def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_retag_wheel(tmp_path):
    name = "gearshift-0.3.0-cp311-cp311-linux_aarch64.whl"
    wheel_txt = b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_aarch64\n"
    init = b"x = 1\n"
    with zipfile.ZipFile(tmp_path / name, "w") as z:
        z.writestr("gearshift/__init__.py", init)
        z.writestr("gearshift-0.3.0.dist-info/WHEEL", wheel_txt)
        z.writestr(
            "gearshift-0.3.0.dist-info/RECORD",
            f"gearshift/__init__.py,sha256={_record_hash(init)},{len(init)}\n"
            f"gearshift-0.3.0.dist-info/WHEEL,sha256={_record_hash(wheel_txt)},{len(wheel_txt)}\n"
            "gearshift-0.3.0.dist-info/RECORD,,\n",
        )
    out = gb.retag_wheel(tmp_path / name, "manylinux_2_31_aarch64")
    assert out.name == "gearshift-0.3.0-cp311-cp311-manylinux_2_31_aarch64.whl"
    assert not (tmp_path / name).exists()
    with zipfile.ZipFile(out) as z:
        wheel = z.read("gearshift-0.3.0.dist-info/WHEEL")
        record = z.read("gearshift-0.3.0.dist-info/RECORD").decode()
        assert z.read("gearshift/__init__.py") == init
    assert b"Tag: cp311-cp311-manylinux_2_31_aarch64\n" in wheel and b"linux_aarch64\n" not in (
        wheel.replace(b"manylinux_2_31_aarch64", b"")
    )
    line = next(
        ln for ln in record.splitlines() if ln.startswith("gearshift-0.3.0.dist-info/WHEEL")
    )
    assert line == f"gearshift-0.3.0.dist-info/WHEEL,sha256={_record_hash(wheel)},{len(wheel)}"
    assert gb.retag_wheel(out, "manylinux_2_31_aarch64") == out  # already tagged
