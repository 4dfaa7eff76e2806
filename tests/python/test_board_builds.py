"""Real `gearshift build` cross builds, checked against the boards' oldest OSes.

* rpi4 (Raspberry Pi OS bullseye: glibc 2.31), with its wheel, from this tree:
  every binary's symbol versions within the profile's levels (our reader, and
  objdump for a cross-check), the wheel tagged manylinux_2_X as auditwheel
  reports it, and the tools run under qemu-aarch64 with bullseye's own glibc
  2.31 (its ld.so and libc from the sysroot), matching the host runtime.
* jetson-nano (JetPack 4.6, Ubuntu 18.04: glibc 2.27, older than any sysroot
  fetched here: fully static tools), from an *installed* gearshift: a wheel of
  this tree installed with pip --no-deps into a temporary venv, whose
  `gearshift build` unpacks the shipped runtime sources.

The output folders (build-arm/dist-rpi4: the same as scripts/test_arm_python.sh;
build-arm/boards-*, build-arm/pkg-host) are kept, so a second run only
relinks: measured on the 2-vCPU build VM beside other jobs, the first run
took about 8 + 4.5 + 5 minutes (rpi4 with its wheel, the host wheel, the
installed jetson-nano build), a second run of the module 72 s. Needs the
cross compiler (g++-aarch64-linux-gnu) and, for the first run, the network
(the bullseye sysroot: scripts/fetch_sysroot.sh); skips without them, or with
GEARSHIFT_SKIP_BOARD_BUILDS=1.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import gearshift as gs
from gearshift.abi import check_binary
from gearshift.boards import load_board
from gearshift.elf import read_elf

REPO = Path(__file__).resolve().parents[2]
ARM = REPO / "build-arm"
GOLDEN = REPO / "tests/python/data/golden_v1_0.gear"
VENV_BIN = Path(sys.executable).parent  # cmake and ninja of the project's venv

pytestmark = [
    # not in the emulated board Python of scripts/test_arm_python.sh
    pytest.mark.skipif(
        platform.machine() != "x86_64", reason="board builds run on an x86-64 build machine"
    ),
    pytest.mark.skipif(
        shutil.which("aarch64-linux-gnu-g++") is None,
        reason="no aarch64 cross compiler (apt-get install g++-aarch64-linux-gnu)",
    ),
    # the first run compiles three builds (~15 min on 2 cores; later runs ~72 s)
    pytest.mark.skipif(
        os.environ.get("GEARSHIFT_SKIP_BOARD_BUILDS") == "1",
        reason="GEARSHIFT_SKIP_BOARD_BUILDS=1",
    ),
]


def _env(isolated: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    if isolated:  # the installed copy only: no source tree on the path
        env.pop("PYTHONPATH", None)
    return env


def _fetch(script: str, *args: str) -> None:
    r = subprocess.run(["bash", str(REPO / "scripts" / script), *args], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"{script} {' '.join(args)} failed (network?): {r.stderr[-300:]!r}")


@pytest.fixture(scope="module")
def bullseye_arm64() -> Path:
    root = ARM / "sysroot-bullseye-arm64"
    _fetch("fetch_sysroot.sh", "arm64", str(root), "bullseye")
    return root


@pytest.fixture(scope="module")
def rpi4(bullseye_arm64) -> Path:
    """gearshift build --board rpi4 with its wheel (Debian's arm64 Python headers)."""
    headers = ARM / "sysroot-arm64"
    _fetch("fetch_target_python.sh", "arm64", str(headers))
    out = ARM / "dist-rpi4"
    cmd = [
        sys.executable, "-m", "gearshift.cli", "build", "--board", "rpi4", "-o", str(out),
        "--jobs", "2", "--source", str(REPO), "--python-root", str(headers),
    ]  # fmt: skip
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=3000)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def _qemu_outputs(emu: list[str], tool: Path, tmp_path: Path) -> None:
    """gearshift-run under qemu against the host runtime, every gear."""
    rt = gs.Runtime(str(GOLDEN))
    x = np.random.default_rng(5).standard_normal((2, 6, 6, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for gear in rt.gears:
        rt.gear = gear
        ref = rt.run(x)
        cmd = [*emu, str(tool), str(GOLDEN), "--input", str(tmp_path / "x.npy"),
               "--gear", gear, "--output", str(tmp_path / "y.npy")]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        y = np.load(tmp_path / "y.npy")
        if gear.startswith("int"):
            np.testing.assert_array_equal(y, ref)
        else:
            np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_rpi4_fits_bullseye(rpi4):
    board = load_board("rpi4")
    info = json.loads((rpi4 / "BUILD_INFO.json").read_text())
    abi = info["abi"]
    assert abi["glibc"] == "2.31" and abi["glibcxx"] == "3.4.28"
    assert "bullseye" in abi["link"] and not abi["static_tools"]
    for tool in ("gearshift-run", "gearshift-bench"):
        path = rpi4 / "bin" / tool
        assert check_binary(path, board.levels) == []
        elf = read_elf(path)
        assert elf.machine == 0xB7 and not elf.static
        # libstdc++ and libgcc are inside: only glibc is loaded
        assert set(elf.needed) <= {"libc.so.6", "libm.so.6", "libpthread.so.0"}, elf.needed
        assert abi["binaries"][f"bin/{tool}"]["glibc"] <= "2.31"
    wheel = rpi4 / info["wheel"]
    # exp@GLIBC_2.29 (libm) is its newest need: the manylinux level above it
    assert wheel.name.endswith("-cp311-cp311-manylinux_2_31_aarch64.whl"), wheel.name
    with zipfile.ZipFile(wheel) as z:
        core = next(n for n in z.namelist() if n.startswith("gearshift/_core"))
        data = z.read(core)
        assert any(n.startswith("gearshift/_src/runtime_cpp/src/") for n in z.namelist())
    assert check_binary(data, board.levels, name=core) == []
    assert "libstdc++.so.6" not in read_elf(data).needed


def test_rpi4_wheel_tag_is_what_auditwheel_reports(rpi4):
    pytest.importorskip("auditwheel")
    info = json.loads((rpi4 / "BUILD_INFO.json").read_text())
    wheel = rpi4 / info["wheel"]
    tag = wheel.name[: -len(".whl")].split("-")[-1]
    r = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert f'is consistent with the following platform tag: "{tag}"' in text, text


@pytest.mark.skipif(shutil.which("qemu-aarch64") is None, reason="no qemu-aarch64")
def test_rpi4_tools_run_on_bullseye_glibc(rpi4, bullseye_arm64, tmp_path):
    # -L: the dynamic loader and libc.so.6 of glibc 2.31, not the host's
    emu = ["qemu-aarch64", "-L", str(bullseye_arm64), "-cpu", "cortex-a72"]
    r = subprocess.run([*emu, str(rpi4 / "bin/gearshift-run"), "--info"], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert (bullseye_arm64 / "lib/aarch64-linux-gnu/libc-2.31.so").is_file()
    _qemu_outputs(emu, rpi4 / "bin/gearshift-run", tmp_path)


def test_objdump_agrees_on_the_cross_built_tools(rpi4):
    from test_abi import _objdump_refs  # the same parser as the host cross-check

    if shutil.which("objdump") is None:
        pytest.skip("no objdump")
    for tool in ("gearshift-run", "gearshift-bench"):
        path = rpi4 / "bin" / tool
        mine = {(n.library, n.version) for n in read_elf(path).needs}
        assert mine == _objdump_refs(path)


# -- from an installed package ---------------------------------------------------------------
@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A temporary venv with a wheel of this tree installed (--no-deps) and
    numpy reachable; returns its python."""
    base = ARM / "pkg-host"  # setup.py's build folder, kept: the extension rebuilds incrementally
    dist = tmp_path_factory.mktemp("dist")
    cmd = [
        sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(base),
        "build", "--build-base", str(base / "build"),
        "bdist_wheel", "--bdist-dir", str(base / "bdist"), "--dist-dir", str(dist),
    ]  # fmt: skip
    base.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(base / "bdist", ignore_errors=True)
    for old in (base / "build").glob("lib*"):
        shutil.rmtree(old)
    r = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=3000)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (wheel,) = dist.glob("gearshift-*.whl")
    size = wheel.stat().st_size
    with zipfile.ZipFile(wheel) as z:
        src = [i for i in z.infolist() if i.filename.startswith("gearshift/_src/")]
    packed = sum(i.compress_size for i in src)
    print(f"wheel {wheel.name}: {size / 1e6:.2f} MB, of which gearshift/_src {packed / 1e6:.2f} MB")
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
    )
    # numpy from the project's venv (only that directory: no editable gearshift)
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    numpy_dir = Path(np.__file__).resolve().parents[1]
    (Path(site) / "numpy_from_project.pth").write_text(str(numpy_dir) + "\n")
    r = subprocess.run(
        [str(py), "-c", "import gearshift, numpy; print(gearshift.__file__)"],
        capture_output=True, text=True, cwd=venv, env=_env(isolated=True),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(site), r.stdout
    return py


def test_installed_package_builds_jetson_nano(installed, tmp_path):
    out = ARM / "boards-jetson-nano"
    cmd = [
        str(installed), "-m", "gearshift.cli", "build", "--board", "jetson-nano", "-o", str(out),
        "--jobs", "2", "--no-wheel",
    ]  # fmt: skip
    r = subprocess.run(
        cmd, env=_env(isolated=True), capture_output=True, text=True, timeout=3000, cwd=tmp_path
    )
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads((out / "BUILD_INFO.json").read_text())
    src = out / ".build" / "source"
    assert info["abi"]["static_tools"] and "fully static" in info["abi"]["link"]
    for rel in ("CMakeLists.txt", "runtime_cpp/src/runtime.cc", "boards/jetson-nano.toml"):
        if (REPO / rel).exists():
            assert (src / rel).read_bytes() == (REPO / rel).read_bytes(), rel
    board = load_board("jetson-nano")
    for tool in ("gearshift-run", "gearshift-bench"):
        path = out / "bin" / tool
        elf = read_elf(path)
        assert elf.static and elf.needs == () and elf.machine == 0xB7
        assert check_binary(path, board.levels) == []
    if shutil.which("qemu-aarch64"):
        # static: no -L, no host or sysroot libraries at all
        _qemu_outputs(["qemu-aarch64", "-cpu", "cortex-a57"], out / "bin/gearshift-run", tmp_path)


def test_installed_package_ships_the_runtime_sources(installed):
    r = subprocess.run(
        [str(installed), "-c", "import gearshift, pathlib; "
         "print(pathlib.Path(gearshift.__file__).parent / '_src')"],
        capture_output=True, text=True, env=_env(isolated=True),
    )  # fmt: skip
    shipped = Path(r.stdout.strip())
    want = sorted(
        p.relative_to(REPO).as_posix()
        for d in ("runtime_cpp/include", "runtime_cpp/src", "runtime_cpp/tools")
        for p in (REPO / d).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    have = sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.is_file())
    assert set(want) <= set(have), sorted(set(want) - set(have))[:5]
    for rel in ("CMakeLists.txt", "setup.py", "scripts/fetch_sysroot.sh"):
        assert (shipped / rel).read_bytes() == (REPO / rel).read_bytes()
