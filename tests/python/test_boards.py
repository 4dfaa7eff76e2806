"""Board profiles (boards/*.toml): every one loads and validates, the CLI lists
them, and broken or unknown profiles give clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift.boards import BoardError, BoardProfile, boards_dir, list_boards, load_board

EXPECTED = {
    "rpi3",
    "rpi4",
    "rpi5",
    "jetson-nano",
    "jetson-xavier-nx",
    "jetson-orin-nano",
    "generic-aarch64",
    "generic-armv7",
    "host",
}


def gearshift(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gearshift.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_all_expected_boards_exist():
    assert set(list_boards()) >= EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_profile_loads_and_validates(name):
    b = load_board(name)
    assert isinstance(b, BoardProfile)
    assert b.name == name
    assert b.sources, "facts must name their sources"
    if b.cross:
        assert b.toolchain is not None and b.toolchain.is_file()
        assert b.toolchain.parent.name == "toolchains"
        assert b.qemu_cpu
        assert not any("native" in f for f in b.cflags)
        assert b.threads >= 1
    else:
        assert b.toolchain is None
    assert all("pypi" not in s.lower() for s in b.sources)
    json.dumps(b.to_dict())


def test_known_facts():
    # dotprod: ARMv8.2 cores A76/A78AE yes; A72/A57/A53 and NVIDIA Carmel no
    assert "neon_dot" in load_board("rpi5").isa
    assert "neon_dot" in load_board("jetson-orin-nano").isa
    for name in ("rpi3", "rpi4", "jetson-nano", "jetson-xavier-nx"):
        assert "neon_dot" not in load_board(name).isa, name
    assert "neon_fp16" in load_board("jetson-xavier-nx").isa
    # i8mm is ARMv8.6: none of these boards has it
    assert not any("i8mm" in load_board(n).isa for n in EXPECTED)
    assert load_board("jetson-nano").cuda_arch == "sm_53"
    assert load_board("jetson-xavier-nx").cuda_arch == "sm_72"
    assert load_board("jetson-orin-nano").cuda_arch == "sm_87"
    assert load_board("rpi4").cuda_arch is None
    assert load_board("rpi3").arch == "armv7"
    assert "-mfloat-abi=hard" in load_board("rpi3").cflags
    assert not load_board("jetson-nano").python_supported  # Python 3.6
    assert load_board("rpi5").python_supported


def test_unknown_board_lists_names():
    with pytest.raises(BoardError, match="unknown board 'nope'") as e:
        load_board("nope")
    for name in EXPECTED:
        assert name in str(e.value)


def _copy_boards(tmp_path: Path) -> Path:
    d = tmp_path / "boards"
    shutil.copytree(boards_dir(), d, ignore=shutil.ignore_patterns("*.md", "__pycache__"))
    return d


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t + 'colour = "red"\n', "unknown key.*colour"),
        (lambda t: t.replace('\ncpu = "cortex-a72"\n', "\n"), "missing field.*cpu"),
        (lambda t: t.replace('arch = "aarch64"', 'arch = "mips"'), "'arch' must be one of"),
        (lambda t: t.replace('"-mcpu=cortex-a72"', '"-march=native"'), "only the 'host'"),
        (lambda t: t.replace('isa = ["neon"]', 'isa = ["avx2"]'), "isa avx2 not valid"),
        (lambda t: t.replace("threads = 4", 'threads = "4"'), "'threads' must be a int"),
        (lambda t: t.replace('python = "3.11"', 'python = "three"'), "'python' must be"),
        (lambda t: t.replace('name = "rpi4"', 'name = "rpi9"'), "file's stem"),
        (lambda t: t + "[broken\n", "not valid TOML"),
    ],
)
def test_broken_profile_clear_error(tmp_path, edit, message):
    d = _copy_boards(tmp_path)
    p = d / "rpi4.toml"
    p.write_text(edit(p.read_text()))
    with pytest.raises(BoardError, match=message) as e:
        load_board("rpi4", directory=d)
    assert "rpi4.toml" in str(e.value)


def test_missing_toolchain_is_an_error(tmp_path):
    d = _copy_boards(tmp_path)
    (d / "toolchains" / "arm-linux-gnueabihf.cmake").unlink()
    with pytest.raises(BoardError, match=r"arm-linux-gnueabihf\.cmake.*does not exist"):
        load_board("rpi3", directory=d)


def test_toolchains_never_hard_code_a_cpu():
    tcdir = boards_dir() / "toolchains"
    common = (tcdir / "linux-gnu-common.cmake").read_text()
    for tc in tcdir.glob("*.cmake"):
        text = "\n".join(
            line for line in tc.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        assert "-mcpu=" not in text and "-march=" not in text, tc
        if tc.name != "linux-gnu-common.cmake":
            assert "include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-common.cmake)" in text, tc
    assert "GEARSHIFT_BOARD_CFLAGS" in common
    assert "CMAKE_CROSSCOMPILING_EMULATOR" in common


def test_cli_lists_boards():
    r = gearshift("boards")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "ARCH", "CPU", "ISA"]
    for name in EXPECTED:
        assert any(line.split()[0] == name for line in lines[1:]), name


def test_cli_boards_json():
    r = gearshift("boards", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {b["name"] for b in data} >= EXPECTED
    rpi5 = next(b for b in data if b["name"] == "rpi5")
    assert rpi5["arch"] == "aarch64" and "neon_dot" in rpi5["isa"]
    assert rpi5["toolchain"] == "toolchains/aarch64-linux-gnu.cmake"


def test_cli_one_board():
    r = gearshift("boards", "jetson-orin-nano")
    assert r.returncode == 0, r.stderr
    assert "cortex-a78ae" in r.stdout and "sm_87" in r.stdout
    r = gearshift("boards", "jetson-orin-nano", "--json")
    assert json.loads(r.stdout)["cuda_compute_capability"] == "8.7"


def test_cli_unknown_board():
    r = gearshift("boards", "nope")
    assert r.returncode == 1
    assert r.stderr.startswith("error: unknown board 'nope'")
    assert "rpi4" in r.stderr and "Traceback" not in r.stderr
