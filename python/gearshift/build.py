"""``gearshift build --board NAME``: build the runtime for a board.

Cross-compiles (natively compiles for ``host``) from the project's source tree,
with the board profile's toolchain file and CPU flags:

* ``lib/libgearshift_runtime.a`` and ``include/`` (the C++ runtime),
* ``bin/gearshift-run`` and ``bin/gearshift-bench`` (no Python needed),
* ``wheels/gearshift-<version>-cp311-cp311-linux_aarch64.whl`` (the Python
  package with ``_core`` built for the board) when the target Python's headers
  are available: Debian's ``libpython3.11-dev:<arch>`` unpacked into a folder by
  ``scripts/fetch_target_python.sh ARCH DIR`` (default folder
  ``build-arm/sysroot-<arch>`` of the source tree, or ``--python-root``), or
  installed multiarch under ``/usr/include/<triple>``,
* ``BUILD_INFO.json``: board, flags, compiler and CMake versions, git describe.

Errors are ``BuildError`` (a ``ValueError``): a missing cross compiler names the
Debian package to install; an unknown board lists the boards.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gearshift.boards import BoardProfile, load_board

__all__ = ["BuildError", "TargetPython", "build", "check_toolchain", "find_source"]

TOOLS = ("gearshift-run", "gearshift-bench")
RUNTIME_LIB = "libgearshift_runtime.a"

# per target triple: Debian architecture, wheel platform tag, ELF e_machine
DEBIAN_ARCH = {"aarch64-linux-gnu": "arm64", "arm-linux-gnueabihf": "armhf"}
WHEEL_PLATFORM = {"aarch64-linux-gnu": "linux_aarch64", "arm-linux-gnueabihf": "linux_armv7l"}
ELF_MACHINE = {"aarch64-linux-gnu": 0xB7, "arm-linux-gnueabihf": 0x28}
ELF_NAMES = {0x03: "x86", 0x28: "ARM (32-bit)", 0x3E: "x86-64", 0xB7: "AArch64"}


class BuildError(ValueError):
    """A build that cannot start or did not succeed (one-line message)."""


# -- checks -------------------------------------------------------------------------
def find_source(source: str | Path | None = None) -> Path:
    """The gearshift source tree: ``source``, or the tree this package lives in."""
    if source is not None:
        root = Path(source).resolve()
        if not _is_source(root):
            raise BuildError(
                f"{root} is not a gearshift source tree (no CMakeLists.txt with runtime_cpp/)"
            )
        return root
    root = Path(__file__).resolve().parents[2]
    if _is_source(root):
        return root
    raise BuildError(
        "gearshift build needs the project's source tree (CMakeLists.txt, runtime_cpp/), "
        "and this gearshift is an installed package without it: pass --source DIR "
        "(a git clone of gearshift)"
    )


def _is_source(root: Path) -> bool:
    return (root / "CMakeLists.txt").is_file() and (root / "runtime_cpp").is_dir()


def _tool(name: str) -> str | None:
    """A build tool on PATH or next to this Python (a virtual environment's bin/)."""
    found = shutil.which(name)
    if found:
        return found
    here = Path(sys.executable).parent / name
    return str(here) if here.is_file() and os.access(here, os.X_OK) else None


def check_toolchain(board: BoardProfile) -> dict[str, str]:
    """The compilers and build tools for ``board``; BuildError naming the
    package to install when one is missing."""
    if board.cross:
        cxx = shutil.which(f"{board.triple}-g++")
        cc = shutil.which(f"{board.triple}-gcc")
        if not cxx or not cc:
            missing = f"{board.triple}-g++" if not cxx else f"{board.triple}-gcc"
            raise BuildError(
                f"cross compiler {missing} not found (board {board.name}, {board.arch}): "
                f"install Debian's g++-{board.triple} (sudo apt-get install g++-{board.triple})"
            )
    else:
        cxx = shutil.which("c++") or shutil.which("g++")
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cxx:
            raise BuildError(
                "no C++ compiler (c++/g++) found: install g++ (sudo apt-get install g++)"
            )
    cmake = _tool("cmake")
    if not cmake:
        raise BuildError("cmake not found: pip install cmake (or sudo apt-get install cmake)")
    tools = {"cxx": cxx, "cc": cc or "", "cmake": cmake}
    ninja = _tool("ninja")
    if ninja:
        tools["ninja"] = ninja
    return tools


# -- the target Python -------------------------------------------------------------
@dataclass(frozen=True)
class TargetPython:
    """Where the board's Python headers are, and how its extensions are named."""

    version: str  # "3.11"
    include_dir: Path
    ext_suffix: str  # ".cpython-311-aarch64-linux-gnu.so"
    platform: str  # wheel platform tag, "linux_aarch64"

    @property
    def tag(self) -> str:
        return "cp" + self.version.replace(".", "")


def _host_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def find_target_python(
    board: BoardProfile, source: Path, python_root: str | Path | None = None
) -> tuple[TargetPython | None, str]:
    """The target Python for a wheel, or (None, why not)."""
    if not board.cross:
        import sysconfig

        ver = _host_python()

        inc = Path(sysconfig.get_paths()["include"])
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        return TargetPython(ver, inc, suffix, plat), ""
    if not board.python_supported:
        return None, (
            f"the board's Python ({board.python}) is older than gearshift supports; "
            "use the C++ tools"
        )
    ver = board.python
    debarch = DEBIAN_ARCH[board.triple]
    host_ver = _host_python()
    if ver != host_ver:
        return None, (
            f"a wheel for Python {ver} needs a Python {ver} on this machine to build it "
            f"(this is {host_ver})"
        )
    if python_root:
        roots = [Path(python_root).resolve()]
    else:
        roots = [source / "build-arm" / f"sysroot-{debarch}", Path("/")]
    for root in roots:
        inc = root / "usr" / "include" / f"python{ver}"
        arch_inc = root / "usr" / "include" / board.triple / f"python{ver}"
        if (inc / "Python.h").is_file() and (arch_inc / "pyconfig.h").is_file():
            suffix = f".cpython-{ver.replace('.', '')}-{board.triple}.so"
            return TargetPython(ver, inc, suffix, WHEEL_PLATFORM[board.triple]), ""
    where = " or ".join(str(r) for r in roots)
    return None, (
        f"no {debarch} Python {ver} headers in {where}: fetch them with "
        f"scripts/fetch_target_python.sh {debarch} build-arm/sysroot-{debarch} "
        f"(Debian libpython{ver}-dev:{debarch}) or pass --python-root"
    )


# -- ELF check ------------------------------------------------------------------------
def elf_machine(data: bytes) -> int:
    """e_machine of an ELF file's header bytes (BuildError if not ELF)."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        raise BuildError("not an ELF file")
    order = "<" if data[5] == 1 else ">"
    return struct.unpack_from(order + "H", data, 18)[0]


def check_wheel(wheel: Path, board: BoardProfile) -> str:
    """The name of the wheel's ``_core`` extension, checked to be built for
    ``board``'s architecture."""
    with zipfile.ZipFile(wheel) as z:
        cores = [n for n in z.namelist() if n.startswith("gearshift/_core") and n.endswith(".so")]
        if len(cores) != 1:
            raise BuildError(f"{wheel.name}: expected one gearshift/_core*.so, found {cores}")
        head = z.open(cores[0]).read(64)
    if board.cross:
        got, want = elf_machine(head), ELF_MACHINE[board.triple]
        if got != want:
            raise BuildError(
                f"{wheel.name}: {cores[0]} is {ELF_NAMES.get(got, hex(got))}, "
                f"expected {ELF_NAMES[want]} for board {board.name}"
            )
    return cores[0]


# -- running ---------------------------------------------------------------------------
def _run(
    cmd: Sequence[str], *, log: Path, cwd: Path | None = None, env: dict | None = None
) -> None:
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ " + shlex.join(str(c) for c in cmd) + "\n")
        f.flush()
        r = subprocess.run(
            [str(c) for c in cmd], cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT
        )
    if r.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
        sys.stderr.write("\n".join(tail) + "\n")
        raise BuildError(f"{Path(cmd[0]).name} failed (exit {r.returncode}); full log: {log}")


def _first_line(cmd: Sequence[str]) -> str:
    try:
        r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lines = (r.stdout or r.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def _git_describe(source: Path) -> str:
    try:
        r = subprocess.run(
            ["git", "-C", str(source), "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else "unknown"


def cmake_args(board: BoardProfile, source: Path) -> list[str]:
    """The -D options that select the board (toolchain file and CPU flags)."""
    flags = " ".join(board.cflags)
    if board.cross:
        assert board.toolchain is not None
        return [
            f"-DCMAKE_TOOLCHAIN_FILE={board.toolchain.resolve()}",
            f"-DGEARSHIFT_BOARD_CFLAGS={flags}",
            f"-DGEARSHIFT_QEMU_CPU={board.qemu_cpu}",
        ]
    return [f"-DCMAKE_CXX_FLAGS={flags}", f"-DCMAKE_C_FLAGS={flags}"]


def build_info(
    board: BoardProfile,
    tools: dict[str, str],
    source: Path,
    files: list[str],
    wheel: str | None,
    wheel_note: str,
) -> dict[str, Any]:
    """The BUILD_INFO.json record of one build."""
    return {
        "board": board.name,
        "description": board.description,
        "arch": board.arch,
        "triple": board.triple or None,
        "cpu": board.cpu,
        "cflags": list(board.cflags),
        "isa": list(board.isa),
        "threads": board.threads,
        "python": board.python or _host_python(),
        "compiler": {"cxx": tools["cxx"], "version": _first_line([tools["cxx"], "--version"])},
        "cmake": _first_line([tools["cmake"], "--version"]),
        "git": _git_describe(source),
        "built_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": files,
        "wheel": wheel,
        "wheel_note": wheel_note,
    }


def build(
    board_name: str,
    out: str | Path | None = None,
    *,
    jobs: int | None = None,
    wheel: bool = True,
    source: str | Path | None = None,
    python_root: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build gearshift for ``board_name`` into ``out``; returns BUILD_INFO."""
    board = load_board(board_name)  # an unknown name first lists the boards
    src = find_source(source)
    if (src / "boards").is_dir():  # the profiles and toolchain files of the tree built
        board = load_board(board_name, src / "boards")
    tools = check_toolchain(board)
    out_dir = Path(out if out is not None else f"dist-{board.name}").resolve()
    work = out_dir / ".build"
    work.mkdir(parents=True, exist_ok=True)
    logf = work / "build.log"
    logf.write_text("", encoding="utf-8")
    jobs = jobs or os.cpu_count() or 2
    gen = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={tools['ninja']}"] if "ninja" in tools else []

    # 1. runtime library and tools
    what = f"{board.triple or 'native'} {' '.join(board.cflags)}"
    log(f"== {board.name}: runtime and tools ({what})")
    cdir = work / "cmake"
    _run(
        [
            tools["cmake"], "-S", src, "-B", cdir, *gen, *cmake_args(board, src),
            "-DCMAKE_BUILD_TYPE=Release", "-DGEARSHIFT_BUILD_TOOLS=ON",
            "-DGEARSHIFT_BUILD_TESTS=OFF", "-DGEARSHIFT_BUILD_PYTHON=OFF",
        ],
        log=logf,
    )  # fmt: skip
    _run(
        [tools["cmake"], "--build", cdir, "-j", str(jobs), "--target", "gearshift_runtime", *TOOLS],
        log=logf,
    )
    files = []
    for sub in ("lib", "bin", "include", "wheels"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    (out_dir / "lib").mkdir()
    (out_dir / "bin").mkdir()
    shutil.copy2(cdir / RUNTIME_LIB, out_dir / "lib" / RUNTIME_LIB)
    files.append(f"lib/{RUNTIME_LIB}")
    for t in TOOLS:
        shutil.copy2(cdir / t, out_dir / "bin" / t)
        files.append(f"bin/{t}")
    shutil.copytree(src / "runtime_cpp" / "include", out_dir / "include")
    files.append("include/")

    # 2. the Python wheel
    wheel_name: str | None = None
    note = "--no-wheel"
    if wheel:
        target, note = find_target_python(board, src, python_root)
        if target is None:
            log(f"   no wheel: {note}")
        else:
            log(f"== {board.name}: Python {target.version} wheel ({target.platform})")
            whl = _build_wheel(board, target, src, work, out_dir / "wheels", tools, jobs, logf)
            core = check_wheel(whl, board)
            wheel_name = f"wheels/{whl.name}"
            files.append(wheel_name)
            note = f"{core}: checked {'ELF ' + board.triple if board.cross else 'native'}"

    info = build_info(board, tools, src, files, wheel_name, note)
    (out_dir / "BUILD_INFO.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {out_dir} ({', '.join(files)})")
    return info


def _build_wheel(
    board: BoardProfile,
    target: TargetPython,
    src: Path,
    work: Path,
    wheels: Path,
    tools: dict[str, str],
    jobs: int,
    logf: Path,
) -> Path:
    """setup.py bdist_wheel with CMAKE_ARGS for the board, in a build folder of
    its own (the source tree's build/ is left alone)."""
    base = work / "wheel"
    # keep the CMake build (build/temp*: incremental), drop what bdist_wheel packs
    for old in [base / "dist", base / "bdist", *base.glob("build/lib*")]:
        shutil.rmtree(old, ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)
    wheels.mkdir(parents=True, exist_ok=True)
    args = cmake_args(board, src)
    if board.cross:
        soabi = target.ext_suffix[1:-3]  # cpython-311-aarch64-linux-gnu
        args += [
            f"-DPython_INCLUDE_DIR={target.include_dir}",
            # Debian's pyconfig.h includes <TRIPLE/python3.X/pyconfig.h>
            f"-DCMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES={target.include_dir.parent}",
            f"-DPython_SOABI={soabi}",
            f"-DPYTHON_MODULE_EXTENSION={target.ext_suffix}",
            "-DPYTHON_MODULE_DEBUG_POSTFIX=",
            "-DPYTHON_IS_DEBUG=0",
        ]
    env = dict(os.environ)
    env["CMAKE_ARGS"] = shlex.join(args)
    env["GEARSHIFT_BOARD"] = board.name
    env["CMAKE_BUILD_PARALLEL_LEVEL"] = str(jobs)
    env["SETUPTOOLS_EXT_SUFFIX"] = target.ext_suffix
    # setup.py calls "cmake" and may use ninja: the ones found above go first on PATH
    extra = {str(Path(tools[t]).parent) for t in ("cmake", "ninja") if t in tools}
    env["PATH"] = os.pathsep.join([*sorted(extra), env.get("PATH", "")])
    cmd = [
        sys.executable, "setup.py", "-q",
        "egg_info", "--egg-base", base,
        "build", "--build-base", base / "build",
        "bdist_wheel", "--bdist-dir", base / "bdist", "--dist-dir", base / "dist",
        "--plat-name", target.platform,
    ]  # fmt: skip
    _run(cmd, log=logf, cwd=src, env=env)
    made = sorted((base / "dist").glob("gearshift-*.whl"))
    if len(made) != 1:
        raise BuildError(f"setup.py bdist_wheel made {len(made)} wheels in {base / 'dist'}")
    dest = wheels / made[0].name
    shutil.copy2(made[0], dest)
    return dest
