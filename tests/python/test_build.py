"""``gearshift build``: argument and toolchain checks, the target Python, the
wheel's ELF check and BUILD_INFO.json, without compiling anything (the real
cross build runs in scripts/test_arm_python.sh)."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import pytest

import gearshift.build as gb
from gearshift.boards import load_board
from gearshift.cli import main

REPO = Path(__file__).resolve().parents[2]


def _which(present: set[str]):
    def which(name: str, *a, **k):
        return f"/usr/bin/{name}" if name in present else None

    return which


HOST_TOOLS = {"c++", "cc", "cmake", "ninja"}
ARM64 = {"aarch64-linux-gnu-g++", "aarch64-linux-gnu-gcc"}


@pytest.fixture
def no_venv_tools(monkeypatch):
    # tools next to this Python (a venv's cmake) must not hide a missing one
    monkeypatch.setattr(gb, "_tool", lambda name: gb.shutil.which(name))


# -- toolchain checks ----------------------------------------------------------------
@pytest.mark.parametrize(
    "board,package", [("rpi4", "g++-aarch64-linux-gnu"), ("rpi3", "g++-arm-linux-gnueabihf")]
)
def test_missing_cross_compiler_names_the_package(monkeypatch, no_venv_tools, board, package):
    monkeypatch.setattr(gb.shutil, "which", _which(HOST_TOOLS))
    with pytest.raises(gb.BuildError) as e:
        gb.check_toolchain(load_board(board))
    assert f"apt-get install {package}" in str(e.value)


def test_missing_gcc_only(monkeypatch, no_venv_tools):
    monkeypatch.setattr(gb.shutil, "which", _which(HOST_TOOLS | {"aarch64-linux-gnu-g++"}))
    with pytest.raises(gb.BuildError, match=r"aarch64-linux-gnu-gcc.*g\+\+-aarch64-linux-gnu"):
        gb.check_toolchain(load_board("rpi5"))


def test_missing_cmake(monkeypatch, no_venv_tools):
    monkeypatch.setattr(gb.shutil, "which", _which(ARM64))
    with pytest.raises(gb.BuildError, match="pip install cmake"):
        gb.check_toolchain(load_board("rpi4"))


def test_toolchain_found(monkeypatch, no_venv_tools):
    monkeypatch.setattr(gb.shutil, "which", _which(HOST_TOOLS | ARM64))
    tools = gb.check_toolchain(load_board("rpi4"))
    assert tools["cxx"] == "/usr/bin/aarch64-linux-gnu-g++"
    assert tools["ninja"] == "/usr/bin/ninja"
    host = gb.check_toolchain(load_board("host"))
    assert host["cxx"] == "/usr/bin/c++"


def test_missing_host_compiler(monkeypatch, no_venv_tools):
    monkeypatch.setattr(gb.shutil, "which", _which({"cmake"}))
    with pytest.raises(gb.BuildError, match=r"C\+\+ compiler"):
        gb.check_toolchain(load_board("host"))


# -- boards and source tree ---------------------------------------------------------------
def test_unknown_board_lists_boards():
    with pytest.raises(ValueError, match=r"unknown board 'nope'.*rpi4"):
        gb.build("nope", source=REPO)


def test_cli_unknown_board(capsys):
    assert main(["build", "--board", "nope", "--source", str(REPO)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown board 'nope'") and "rpi4" in err


def test_cli_missing_compiler(capsys, monkeypatch, no_venv_tools):
    monkeypatch.setattr(gb.shutil, "which", _which(HOST_TOOLS))
    assert main(["build", "--board", "rpi3", "--source", str(REPO)]) == 1
    err = capsys.readouterr().err
    assert "apt-get install g++-arm-linux-gnueabihf" in err and err.count("\n") == 1


def test_cli_needs_board(capsys):
    with pytest.raises(SystemExit) as e:
        main(["build"])
    assert e.value.code == 2
    assert "--board" in capsys.readouterr().err


def test_source_tree(tmp_path, monkeypatch):
    assert gb.find_source(REPO) == REPO
    # run from a checkout (an editable install): its own tree
    monkeypatch.setattr(gb, "__file__", str(REPO / "python/gearshift/build.py"))
    assert gb.find_source() == REPO
    with pytest.raises(gb.BuildError, match="not a gearshift source tree"):
        gb.find_source(tmp_path)
    # an installed package, away from any source tree
    fake = tmp_path / "site-packages" / "gearshift" / "build.py"
    monkeypatch.setattr(gb, "__file__", str(fake))
    with pytest.raises(gb.BuildError, match="--source"):
        gb.find_source()


def test_cmake_args():
    args = gb.cmake_args(load_board("rpi3"), REPO)
    assert any(a.endswith("toolchains/arm-linux-gnueabihf.cmake") for a in args)
    assert "-DGEARSHIFT_BOARD_CFLAGS=-mcpu=cortex-a53 -mfpu=neon-fp-armv8 -mfloat-abi=hard" in args
    host = gb.cmake_args(load_board("host"), REPO)
    assert host == ["-DCMAKE_CXX_FLAGS=-march=native", "-DCMAKE_C_FLAGS=-march=native"]


# -- the target Python ----------------------------------------------------------------------
def _fake_python_root(root: Path, triple: str) -> Path:
    (root / "usr/include/python3.11").mkdir(parents=True)
    (root / "usr/include/python3.11/Python.h").write_text("")
    (root / f"usr/include/{triple}/python3.11").mkdir(parents=True)
    (root / f"usr/include/{triple}/python3.11/pyconfig.h").write_text("")
    return root


def test_target_python_found(tmp_path, monkeypatch):
    monkeypatch.setattr(gb, "_host_python", lambda: "3.11")
    root = _fake_python_root(tmp_path, "aarch64-linux-gnu")
    tp, why = gb.find_target_python(load_board("rpi4"), REPO, root)
    assert why == "" and tp is not None
    assert tp.ext_suffix == ".cpython-311-aarch64-linux-gnu.so"
    assert tp.platform == "linux_aarch64" and tp.tag == "cp311"
    assert tp.include_dir == root / "usr/include/python3.11"
    root7 = _fake_python_root(tmp_path / "armhf", "arm-linux-gnueabihf")
    tp7, _ = gb.find_target_python(load_board("rpi3"), REPO, root7)
    assert tp7 is not None and tp7.platform == "linux_armv7l"
    assert tp7.ext_suffix == ".cpython-311-arm-linux-gnueabihf.so"


def test_target_python_missing_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setattr(gb, "_host_python", lambda: "3.11")
    tp, why = gb.find_target_python(load_board("rpi4"), REPO, tmp_path)
    assert tp is None
    assert "fetch_target_python.sh arm64" in why and "libpython3.11-dev:arm64" in why


def test_target_python_too_old_or_other_version(tmp_path, monkeypatch):
    tp, why = gb.find_target_python(load_board("jetson-nano"), REPO, tmp_path)
    assert tp is None and "3.6" in why
    monkeypatch.setattr(gb, "_host_python", lambda: "3.12")
    tp, why = gb.find_target_python(load_board("rpi4"), REPO, tmp_path)
    assert tp is None and "Python 3.11" in why


# -- the wheel's ELF check ---------------------------------------------------------------------
def _elf(machine: int) -> bytes:
    # a whole 64-byte ELF header (no sections: no needs, what a static file has)
    return b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HH", 3, machine) + b"\0" * 44


def _wheel(path: Path, machine: int) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("gearshift/__init__.py", "")
        z.writestr("gearshift/_core.cpython-311-aarch64-linux-gnu.so", _elf(machine))
    return path


def test_elf_machine():
    assert gb.elf_machine(_elf(0xB7)) == 0xB7
    with pytest.raises(gb.BuildError, match="not an ELF"):
        gb.elf_machine(b"#!/bin/sh\n" + b"\0" * 20)


def test_check_wheel(tmp_path):
    rpi4 = load_board("rpi4")
    good = _wheel(tmp_path / "good.whl", 0xB7)
    assert gb.check_wheel(good, rpi4).startswith("gearshift/_core")
    bad = _wheel(tmp_path / "bad.whl", 0x3E)
    with pytest.raises(gb.BuildError, match="x86-64, expected AArch64"):
        gb.check_wheel(bad, rpi4)
    with pytest.raises(gb.BuildError, match="expected ARM"):
        gb.check_wheel(good, load_board("rpi3"))


# -- a whole build with CMake mocked out: layout and BUILD_INFO.json ---------------------
def test_build_layout_and_build_info(tmp_path, monkeypatch, no_venv_tools):
    monkeypatch.setattr(gb.shutil, "which", _which(HOST_TOOLS | ARM64))
    calls: list[list[str]] = []

    def fake_run(cmd, *, log, cwd=None, env=None):
        cmd = [str(c) for c in cmd]
        calls.append(cmd)
        if "--build" in cmd:  # what cmake --build would leave
            d = Path(cmd[cmd.index("--build") + 1])
            d.mkdir(parents=True, exist_ok=True)
            for name in ("libgearshift_runtime.a", "gearshift-run", "gearshift-bench"):
                (d / name).write_bytes(_elf(0xB7))

    monkeypatch.setattr(gb, "_run", fake_run)
    monkeypatch.setattr(gb, "_first_line", lambda cmd: f"{Path(cmd[0]).name} 12.2.0")
    monkeypatch.setattr(gb, "_git_describe", lambda src: "v0.1.0-3-gabcdef")
    out = tmp_path / "dist"
    info = gb.build("rpi4", out, jobs=3, wheel=False, source=REPO, log=lambda s: None)

    # a fresh tree fetches the bullseye sysroot first (its script, faked here)
    calls = [c for c in calls if not any(a.endswith("fetch_sysroot.sh") for a in c)]
    configure = calls[0]
    assert any(a.endswith("boards/toolchains/aarch64-linux-gnu.cmake") for a in configure)
    assert "-DGEARSHIFT_BOARD_CFLAGS=-mcpu=cortex-a72" in configure
    assert "-DGEARSHIFT_BUILD_TOOLS=ON" in configure
    assert calls[1][calls[1].index("-j") + 1] == "3"
    assert {"gearshift-run", "gearshift-bench", "gearshift_runtime"} <= set(calls[1])

    assert (out / "lib/libgearshift_runtime.a").is_file()
    assert (out / "bin/gearshift-run").is_file() and (out / "bin/gearshift-bench").is_file()
    assert (out / "include/gearshift/gearshift.h").is_file()
    on_disk = json.loads((out / "BUILD_INFO.json").read_text())
    assert on_disk == info
    assert info["board"] == "rpi4" and info["arch"] == "aarch64"
    assert info["triple"] == "aarch64-linux-gnu"
    assert info["cflags"] == ["-mcpu=cortex-a72"] and info["isa"] == ["neon"]
    assert info["compiler"] == {
        "cxx": "/usr/bin/aarch64-linux-gnu-g++",
        "version": "aarch64-linux-gnu-g++ 12.2.0",
    }
    assert info["cmake"] == "cmake 12.2.0"
    assert info["git"] == "v0.1.0-3-gabcdef"
    assert info["python"] == "3.11"
    assert info["wheel"] is None and info["wheel_note"] == "--no-wheel"
    assert info["files"] == [
        "lib/libgearshift_runtime.a",
        "bin/gearshift-run",
        "bin/gearshift-bench",
        "include/",
    ]


def test_build_without_target_headers_skips_the_wheel(tmp_path, monkeypatch, no_venv_tools):
    monkeypatch.setattr(gb.shutil, "which", _which(HOST_TOOLS | ARM64))

    def fake_run(cmd, *, log, cwd=None, env=None):
        cmd = [str(c) for c in cmd]
        if "--build" in cmd:
            d = Path(cmd[cmd.index("--build") + 1])
            d.mkdir(parents=True, exist_ok=True)
            for name in ("libgearshift_runtime.a", "gearshift-run", "gearshift-bench"):
                (d / name).write_bytes(_elf(0xB7))

    monkeypatch.setattr(gb, "_run", fake_run)
    monkeypatch.setattr(gb, "_build_wheel", lambda *a: pytest.fail("no headers: no wheel"))
    monkeypatch.setattr(gb, "_host_python", lambda: "3.11")
    lines: list[str] = []
    info = gb.build(
        "rpi4", tmp_path / "d", source=REPO, python_root=tmp_path / "empty", log=lines.append
    )
    assert info["wheel"] is None
    assert "fetch_target_python.sh" in info["wheel_note"]
    assert any("no wheel" in s for s in lines)


# -- how a board's oldest OS is met: the link plan --------------------------------------------
@pytest.fixture
def fetched_sysroots(tmp_path, monkeypatch):
    """A source tree whose sysroots are already fetched, and a cross glibc of 2.36."""
    src = tmp_path / "src"
    for arch in ("arm64", "armhf"):
        root = src / "build-arm" / f"sysroot-bullseye-{arch}"
        root.mkdir(parents=True)
        (root / ".stamp-sysroot-bullseye").write_text("")
    monkeypatch.setattr(gb, "toolchain_glibc", lambda cxx: "2.36")
    monkeypatch.setattr(gb, "_run", lambda *a, **k: pytest.fail("nothing to fetch"))
    return src


def _plan(board: str, src: Path, sysroot=None) -> gb.LinkPlan:
    tools = {"cxx": "/usr/bin/aarch64-linux-gnu-g++"}
    return gb.plan_link(load_board(board), tools, src, sysroot, logf=src / "log", log=print)


def test_link_plan_per_board(fetched_sysroots):
    src = fetched_sysroots
    rpi5 = _plan("rpi5", src)  # bookworm: the cross compiler's glibc fits
    assert rpi5.sysroot is None and not rpi5.static_tools
    rpi4 = _plan("rpi4", src)  # bullseye
    assert rpi4.sysroot == src / "build-arm/sysroot-bullseye-arm64" and not rpi4.static_tools
    assert _plan("rpi3", src).sysroot == src / "build-arm/sysroot-bullseye-armhf"
    nano = _plan("jetson-nano", src)  # glibc 2.27: older than any sysroot here
    assert nano.static_tools and "fully static" in nano.why
    assert _plan("host", src).sysroot is None
    assert "-DGEARSHIFT_STATIC_LIBSTDCXX=ON" in rpi4.cmake_args()
    assert f"-DGEARSHIFT_SYSROOT={src / 'build-arm/sysroot-bullseye-arm64'}" in rpi4.cmake_args()
    # static tools take the compiler's own static glibc; the extension the sysroot
    assert "-DGEARSHIFT_STATIC_TOOLS=ON" in nano.cmake_args()
    assert "-DGEARSHIFT_SYSROOT=" in nano.cmake_args()
    assert f"-DGEARSHIFT_SYSROOT={nano.sysroot}" in nano.cmake_args(tools=False)
    assert "-DGEARSHIFT_STATIC_TOOLS=OFF" in nano.cmake_args(tools=False)
    args = gb.cmake_args(load_board("rpi4"), REPO, rpi4)
    assert args[-3:] == rpi4.cmake_args()
    # no wheel to build (the Nano's Python 3.6): nothing fetched, tools static
    none_fetched = gb.plan_link(
        load_board("jetson-nano"), {"cxx": "g++"}, src / "nowhere", None,
        logf=src / "log", log=print, extension=False,
    )  # fmt: skip
    assert none_fetched.static_tools and none_fetched.sysroot is None


def test_link_plan_overrides(fetched_sysroots, tmp_path):
    none = _plan("rpi4", fetched_sysroots, "none")
    assert none.sysroot is None and "own glibc" in none.why
    with pytest.raises(gb.BuildError, match="not a sysroot"):
        _plan("rpi4", fetched_sysroots, tmp_path / "empty")
    mine = tmp_path / "mine"
    (mine / "usr/include").mkdir(parents=True)
    (mine / "usr/include/stdio.h").write_text("")
    (mine / "SYSROOT.txt").write_text("release=bullseye\nglibc=2.31\n")
    plan = _plan("rpi4", fetched_sysroots, mine)
    assert plan.sysroot == mine and "glibc 2.31" in plan.why


def test_link_plan_fetch_failure_says_how(tmp_path, monkeypatch):
    monkeypatch.setattr(gb, "toolchain_glibc", lambda cxx: "2.36")

    def failing_run(cmd, *, log, cwd=None, env=None):
        raise gb.BuildError("bash failed (exit 100); full log: x")

    monkeypatch.setattr(gb, "_run", failing_run)
    with pytest.raises(gb.BuildError, match=r"fetch_sysroot.sh arm64 .* bullseye.*--sysroot none"):
        _plan("rpi4", tmp_path)


def test_check_abi_fails_with_the_binary_version_and_limit(monkeypatch):
    from gearshift.abi import Violation

    def fake_check(data, levels, *, name=None):
        return [Violation(name, "libm.so.6", "GLIBC_2.29", f"{levels.os} has GLIBC_2.27", ("exp",))]

    monkeypatch.setattr(gb, "check_binary", fake_check)
    with pytest.raises(gb.BuildError) as e:
        gb.check_abi(load_board("jetson-nano"), {"bin/gearshift-run": _elf(0xB7)})
    msg = str(e.value)
    assert msg.startswith("board jetson-nano: the build does not fit its oldest OS")
    assert "bin/gearshift-run needs GLIBC_2.29 from libm.so.6 (symbols: exp)" in msg
    assert "Ubuntu 18.04 has GLIBC_2.27" in msg and "\n" not in msg


# -- an installed package's shipped sources -------------------------------------------------
def _fake_installed(root: Path) -> Path:
    pkg = root / "site-packages" / "gearshift"
    for rel, text in {
        "__init__.py": "",
        "build.py": "",
        "_core.cpython-311-x86_64-linux-gnu.so": "ELF",
        "converters/__init__.py": "",
        "_boards/rpi4.toml": "name = 'rpi4'",
        "_boards/toolchains/aarch64-linux-gnu.cmake": "",
        "_src/CMakeLists.txt": "project(gearshift)",
        "_src/runtime_cpp/src/runtime.cc": "int x;",
        "_src/python/gearshift/_core.cc": "",
        "_src/scripts/fetch_sysroot.sh": "",
    }.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    return pkg


def test_unpack_source_lays_out_the_tree_and_keeps_unchanged_files(tmp_path, monkeypatch):
    pkg = _fake_installed(tmp_path)
    monkeypatch.setattr(gb, "__file__", str(pkg / "build.py"))
    dest = gb.find_source(unpack_to=tmp_path / "src")
    assert dest == (tmp_path / "src").resolve()
    for rel in (
        "CMakeLists.txt", "runtime_cpp/src/runtime.cc", "python/gearshift/_core.cc",
        "python/gearshift/__init__.py", "converters/__init__.py", "boards/rpi4.toml",
        "boards/toolchains/aarch64-linux-gnu.cmake", "scripts/fetch_sysroot.sh",
    ):  # fmt: skip
        assert (dest / rel).is_file(), rel
    assert not list(dest.rglob("*.so")) and not (dest / "python/gearshift/_src").exists()
    kept = dest / "runtime_cpp/src/runtime.cc"
    os.utime(kept, (1_000_000, 1_000_000))
    (pkg / "_src/runtime_cpp/src/gone.cc").write_text("")
    gb.find_source(unpack_to=tmp_path / "src")
    (pkg / "_src/runtime_cpp/src/gone.cc").unlink()
    (pkg / "_src/CMakeLists.txt").write_text("project(gearshift) # changed")
    gb.find_source(unpack_to=tmp_path / "src")
    assert kept.stat().st_mtime == 1_000_000  # unchanged bytes: not rewritten
    assert not (dest / "runtime_cpp/src/gone.cc").exists()
    assert (dest / "CMakeLists.txt").read_text().endswith("# changed")


def test_reset_build_folders(tmp_path):
    """Build folders configured for another link plan, or by a gearshift that
    recorded none there (configured without a sysroot), are made afresh."""
    work = tmp_path / ".build"
    (work / "cmake").mkdir(parents=True)
    (work / "cmake" / "CMakeCache.txt").write_text("stale")
    (work / "link-plan.json").write_text("plan-a")  # an older gearshift's record
    assert gb.reset_build_folders(work, "plan-a")  # no record in the folder: stale
    assert not (work / "cmake" / "CMakeCache.txt").exists()
    (work / "cmake" / "CMakeCache.txt").write_text("configured for plan-a")
    assert not gb.reset_build_folders(work, "plan-a")  # same plan: kept
    assert (work / "cmake" / "CMakeCache.txt").exists()
    (work / "wheel" / "CMakeCache.txt").write_text("configured for plan-a")
    assert gb.reset_build_folders(work, "plan-b")  # another plan: both made afresh
    assert not (work / "cmake" / "CMakeCache.txt").exists()
    assert not (work / "wheel" / "CMakeCache.txt").exists()
    assert (work / "cmake" / ".gearshift-link-plan").read_text() == "plan-b"
    assert not gb.reset_build_folders(tmp_path / "fresh", "plan-a")  # nothing to remove
