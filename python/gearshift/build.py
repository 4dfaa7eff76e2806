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
* ``BUILD_INFO.json``: board, flags, compiler and CMake versions, git describe,
  and what each binary needs from the board's OS (``abi``).

The binaries must run on the board profile's oldest OS (``oldest_os``, with its
``glibc`` and ``glibcxx`` levels). They link libstdc++ and libgcc statically;
when the cross compiler's glibc is newer than the board's, they are compiled
against an older Debian release's C library (a sysroot fetched once by
``scripts/fetch_sysroot.sh`` into ``build-arm/sysroot-<release>-<arch>`` of the
source tree); when no such release is old enough, the C++ tools are linked
fully statically. Every binary's symbol versions are then checked
(``gearshift.abi``); one that needs more than the board's OS has fails the
build, naming the binary, the version, the symbols and the limit. The wheel is
tagged with the manylinux platform its extension really satisfies.

Run from an installed package (no git clone), the runtime sources shipped in
``gearshift/_src`` are unpacked into ``OUT/.build/source`` and built there.

Errors are ``BuildError`` (a ``ValueError``): a missing cross compiler names the
Debian package to install; an unknown board lists the boards.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import re
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

from gearshift.abi import Violation, check_binary, glibc_needed, manylinux_tag
from gearshift.boards import BoardProfile, load_board
from gearshift.elf import ElfError, read_elf, version_definitions

__all__ = ["BuildError", "TargetPython", "build", "check_toolchain", "find_source"]

TOOLS = ("gearshift-run", "gearshift-bench")
RUNTIME_LIB = "libgearshift_runtime.a"

# per target triple: Debian architecture, wheel platform tag, ELF e_machine
DEBIAN_ARCH = {"aarch64-linux-gnu": "arm64", "arm-linux-gnueabihf": "armhf"}
WHEEL_PLATFORM = {"aarch64-linux-gnu": "linux_aarch64", "arm-linux-gnueabihf": "linux_armv7l"}
ELF_MACHINE = {"aarch64-linux-gnu": 0xB7, "arm-linux-gnueabihf": 0x28}
ELF_NAMES = {0x03: "x86", 0x28: "ARM (32-bit)", 0x3E: "x86-64", 0xB7: "AArch64"}
# manylinux platform suffix per wheel platform tag
MANYLINUX_ARCH = {"linux_aarch64": "aarch64", "linux_armv7l": "armv7l", "linux_x86_64": "x86_64"}
# Debian releases scripts/fetch_sysroot.sh can unpack, and their glibc, newest first
SYSROOT_RELEASES = {"bullseye": "2.31"}


class BuildError(ValueError):
    """A build that cannot start or did not succeed (one-line message)."""


# -- checks -------------------------------------------------------------------------
def find_source(source: str | Path | None = None, unpack_to: str | Path | None = None) -> Path:
    """The gearshift source tree: ``source``, the tree this package lives in,
    or (an installed package) its shipped sources unpacked into ``unpack_to``
    (default ``~/.cache/gearshift/source``)."""
    if source is not None:
        root = Path(source).resolve()
        if not _is_source(root):
            raise BuildError(
                f"{root} is not a gearshift source tree (no CMakeLists.txt with runtime_cpp/)"
            )
        return root
    here = Path(__file__).resolve()
    root = here.parents[2]
    if _is_source(root):
        return root
    if _is_source(here.parent / "_src"):
        dest = Path(unpack_to) if unpack_to else Path.home() / ".cache" / "gearshift" / "source"
        return unpack_source(here.parent, dest)
    raise BuildError(
        "gearshift build needs the project's source tree (CMakeLists.txt, runtime_cpp/), "
        "and this gearshift is an installed package without it (no gearshift/_src): "
        "pass --source DIR (a git clone of gearshift)"
    )


def unpack_source(package: Path, dest: Path) -> Path:
    """Rebuild a source tree from an installed package: ``_src`` (CMakeLists.txt,
    runtime_cpp/, setup.py, scripts) plus the package's own Python files laid
    out as in the repository (python/gearshift, converters, boards). Files
    whose bytes are unchanged are left alone (their times too: a second build
    only recompiles what changed); the sysroots in ``dest/build-arm`` are kept."""
    dest = dest.resolve()
    want: dict[Path, Path] = {}  # destination -> source file

    def add(src_dir: Path, dst_dir: Path, skip_top: tuple[str, ...] = ()) -> None:
        for f in src_dir.rglob("*"):
            rel = f.relative_to(src_dir)
            if (
                not f.is_file()
                or "__pycache__" in rel.parts
                or f.suffix in (".so", ".pyc")
                or rel.parts[0] in skip_top
            ):
                continue
            want[dst_dir / rel] = f

    add(package / "_src", dest)
    add(package, dest / "python" / "gearshift", ("_src", "_boards", "converters"))
    add(package / "converters", dest / "converters")
    add(package / "_boards", dest / "boards")
    for sub in ("python", "converters", "boards", "runtime_cpp", "scripts"):
        for old in (dest / sub).rglob("*") if (dest / sub).is_dir() else []:
            if old.is_file() and old not in want:
                old.unlink()  # removed from the package since the last unpack
    for dst, src in want.items():
        data = src.read_bytes()
        if dst.is_file() and dst.read_bytes() == data:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)
        shutil.copymode(src, dst)
    if not _is_source(dest):
        raise BuildError(f"unpacking the shipped sources into {dest} did not make a source tree")
    return dest


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
        core = check_wheel_name(z.namelist(), wheel)
        head = z.open(core).read(64)
    if board.cross:
        got, want = elf_machine(head), ELF_MACHINE[board.triple]
        if got != want:
            raise BuildError(
                f"{wheel.name}: {core} is {ELF_NAMES.get(got, hex(got))}, "
                f"expected {ELF_NAMES[want]} for board {board.name}"
            )
    return core


def _wheel_core(wheel: Path) -> tuple[str, bytes]:
    with zipfile.ZipFile(wheel) as z:
        name = check_wheel_name(z.namelist(), wheel)
        return name, z.read(name)


def check_wheel_name(names: list[str], wheel: Path) -> str:
    cores = [n for n in names if n.startswith("gearshift/_core") and n.endswith(".so")]
    if len(cores) != 1:
        raise BuildError(f"{wheel.name}: expected one gearshift/_core*.so, found {cores}")
    return cores[0]


def check_abi(board: BoardProfile, binaries: dict[str, Path | bytes]) -> dict[str, Any]:
    """Each binary's needs against the board's levels: the record for
    BUILD_INFO, or BuildError listing every version the board's OS lacks."""
    levels = board.levels
    report: dict[str, Any] = {}
    bad: list[Violation] = []
    for label, data in binaries.items():
        try:
            info = read_elf(data)
        except ElfError as e:
            raise BuildError(f"{label}: {e}") from None
        report[label] = {
            "static": info.static,
            "needed": list(info.needed),
            "glibc": glibc_needed(info),
            "versions": sorted({n.version for n in info.needs}),
        }
        bad += check_binary(data, levels, name=label)
    if bad:
        shown = "; ".join(str(v) for v in bad[:6])
        more = f" (and {len(bad) - 6} more)" if len(bad) > 6 else ""
        raise BuildError(
            f"board {board.name}: the build does not fit its oldest OS ({levels.os}, "
            f"glibc {levels.glibc}, GLIBCXX {levels.glibcxx or 'any'}): {shown}{more}"
        )
    return report


def retag_wheel(wheel: Path, platform_tag: str) -> Path:
    """The wheel with its platform tag replaced (file name, WHEEL's Tag lines,
    RECORD's hash of WHEEL); the old file is removed."""
    parts = wheel.name[: -len(".whl")].split("-")
    if len(parts) < 5:
        raise BuildError(f"{wheel.name}: not a wheel file name")
    old_plat = parts[-1]
    if old_plat == platform_tag:
        return wheel
    parts[-1] = platform_tag
    dest = wheel.with_name("-".join(parts) + ".whl")
    with zipfile.ZipFile(wheel) as zin:
        items = [(i, zin.read(i.filename)) for i in zin.infolist()]
    wheel_file = next((i.filename for i, _ in items if i.filename.endswith(".dist-info/WHEEL")), "")
    if not wheel_file:
        raise BuildError(f"{wheel.name}: no .dist-info/WHEEL")
    out = []
    new_wheel = b""
    for info, data in items:
        if info.filename == wheel_file:
            text = data.decode("utf-8")
            text = re.sub(rf"^(Tag: .*-){re.escape(old_plat)}$", rf"\g<1>{platform_tag}", text,
                          flags=re.M)  # fmt: skip
            data = new_wheel = text.encode("utf-8")
        out.append((info, data))
    digest = base64.urlsafe_b64encode(hashlib.sha256(new_wheel).digest()).rstrip(b"=").decode()
    record_line = f"{wheel_file},sha256={digest},{len(new_wheel)}"
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in out:
            if info.filename.endswith(".dist-info/RECORD"):
                lines = data.decode("utf-8").splitlines()
                lines = [record_line if ln.startswith(wheel_file + ",") else ln for ln in lines]
                data = ("\n".join(lines) + "\n").encode("utf-8")
            zout.writestr(info, data)
    if dest != wheel:
        wheel.unlink()
    return dest


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


@dataclass(frozen=True)
class LinkPlan:
    """How the board's binaries are linked to fit its oldest OS."""

    sysroot: Path | None  # an older release's C library to build against
    static_tools: bool  # gearshift-run/-bench fully static
    why: str  # one line: for the log and BUILD_INFO

    def cmake_args(self, tools: bool = True) -> list[str]:
        """For the tools' build (``tools``) or the extension's. Fully static
        tools link the cross compiler's own static glibc, never an older
        sysroot's: before glibc 2.34, a static program's std::thread finds
        libpthread's weak symbols unresolved and aborts at the first thread."""
        static = tools and self.static_tools
        sysroot = None if static else self.sysroot
        return [
            "-DGEARSHIFT_STATIC_LIBSTDCXX=ON",
            f"-DGEARSHIFT_SYSROOT={sysroot or ''}",
            f"-DGEARSHIFT_STATIC_TOOLS={'ON' if static else 'OFF'}",
        ]


def cmake_args(
    board: BoardProfile, source: Path, plan: LinkPlan | None = None, *, tools: bool = True
) -> list[str]:
    """The -D options that select the board (toolchain file and CPU flags) and,
    with ``plan``, how the tools (or the extension) link."""
    flags = " ".join(board.cflags)
    extra = plan.cmake_args(tools) if plan is not None else []
    if board.cross:
        assert board.toolchain is not None
        return [
            f"-DCMAKE_TOOLCHAIN_FILE={board.toolchain.resolve()}",
            f"-DGEARSHIFT_BOARD_CFLAGS={flags}",
            f"-DGEARSHIFT_QEMU_CPU={board.qemu_cpu}",
            *extra,
        ]
    return [f"-DCMAKE_CXX_FLAGS={flags}", f"-DCMAKE_C_FLAGS={flags}", *extra]


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def toolchain_glibc(cxx: str) -> str | None:
    """The newest GLIBC_x.y the compiler's own libc.so.6 defines, None if unknown."""
    path = _first_line([cxx, "-print-file-name=libc.so.6"])
    if not Path(path).is_absolute() or not Path(path).is_file():
        return None
    try:
        names = version_definitions(Path(path).resolve())
    except (ElfError, OSError):
        return None
    found = [n[len("GLIBC_") :] for n in names if re.match(r"^GLIBC_\d+(\.\d+)+$", n)]
    return max(found, key=_version) if found else None


def sysroot_glibc(root: Path) -> str | None:
    """The glibc of a sysroot made by scripts/fetch_sysroot.sh (its SYSROOT.txt)."""
    try:
        text = (root / "SYSROOT.txt").read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r"^glibc=(\d+\.\d+)$", text, re.M)
    return m.group(1) if m else None


def plan_link(
    board: BoardProfile,
    tools: dict[str, str],
    src: Path,
    sysroot: str | Path | None,
    *,
    logf: Path,
    log: Callable[[str], None],
    extension: bool = True,
) -> LinkPlan:
    """Choose how to meet the board's glibc: the cross compiler's own, an older
    Debian release's (fetched when missing), or fully static tools (then the
    sysroot is for the extension only, and not fetched without one)."""
    if not board.cross:
        return LinkPlan(None, False, "native build for this machine")
    want = board.glibc
    assert want is not None
    if isinstance(sysroot, str) and sysroot == "none":
        return LinkPlan(None, False, "--sysroot none: the cross compiler's own glibc")
    if sysroot is not None:
        root = Path(sysroot).resolve()
        have = sysroot_glibc(root)
        if not (root / "usr" / "include" / "stdio.h").is_file():
            raise BuildError(f"--sysroot {root}: no usr/include/stdio.h (not a sysroot)")
        why = f"sysroot {root} (glibc {have or 'unknown'})"
        return LinkPlan(root, False, why)
    own = toolchain_glibc(tools["cxx"])
    if own is not None and _version(own) <= _version(want):
        return LinkPlan(None, False, f"the cross compiler's glibc {own} <= the board's {want}")
    fits = [r for r, g in SYSROOT_RELEASES.items() if _version(g) <= _version(want)]
    release = fits[0] if fits else list(SYSROOT_RELEASES)[-1]
    debarch = DEBIAN_ARCH[board.triple]
    root = src / "build-arm" / f"sysroot-{release}-{debarch}"
    if not fits and not extension:
        return LinkPlan(
            None, True, f"no sysroot with glibc <= {want}: fully static tools (no extension)"
        )
    if not (root / f".stamp-sysroot-{release}").is_file():
        script = src / "scripts" / "fetch_sysroot.sh"
        log(f"   fetching Debian {release}'s {debarch} C library into {root} (once)")
        try:
            _run(["bash", script, debarch, root, release], log=logf)
        except BuildError as e:
            raise BuildError(
                f"{e}; fetch it by hand with: bash {script} {debarch} {root} {release} "
                f"(or pass --sysroot DIR, or --sysroot none to build against the cross "
                f"compiler's glibc {own or '?'})"
            ) from None
    glibc = SYSROOT_RELEASES[release]
    if fits:
        return LinkPlan(root, False, f"Debian {release} sysroot (glibc {glibc} <= {want})")
    # no release old enough: the tools carry their own C library; the
    # extension is built against the oldest sysroot and checked like the rest
    return LinkPlan(
        root,
        True,
        f"no sysroot with glibc <= {want} (oldest: {release}, {glibc}): "
        "fully static tools; the extension against Debian " + release,
    )


def build_info(
    board: BoardProfile,
    tools: dict[str, str],
    source: Path,
    files: list[str],
    wheel: str | None,
    wheel_note: str,
    abi: dict[str, Any] | None = None,
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
        "abi": abi,
    }


def reset_build_folders(work: Path, link_plan: str) -> bool:
    """Removes each CMake build folder under ``work`` (``cmake``, ``wheel``)
    unless it was configured for ``link_plan`` (recorded in the folder itself,
    ``.gearshift-link-plan``), and records it in each.

    The sysroot's flags enter CMake's cached CMAKE_CXX_FLAGS at the first
    configure only, so another link plan needs fresh folders; so do folders
    a gearshift that recorded no plan there configured (without a sysroot:
    they would link against the cross compiler's newer glibc). Returns
    whether anything was removed."""
    removed = False
    for folder in (work / "cmake", work / "wheel"):
        stamp = folder / ".gearshift-link-plan"
        if folder.exists() and (
            not stamp.is_file() or stamp.read_text(encoding="utf-8") != link_plan
        ):
            shutil.rmtree(folder, ignore_errors=True)
            removed = True
        folder.mkdir(parents=True, exist_ok=True)
        stamp.write_text(link_plan, encoding="utf-8")
    (work / "link-plan.json").unlink(missing_ok=True)  # where earlier versions kept one
    return removed


def build(
    board_name: str,
    out: str | Path | None = None,
    *,
    jobs: int | None = None,
    wheel: bool = True,
    source: str | Path | None = None,
    python_root: str | Path | None = None,
    sysroot: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build gearshift for ``board_name`` into ``out``; returns BUILD_INFO.

    ``sysroot``: None chooses (and fetches) an older glibc when the board
    needs one; a folder uses that one; ``"none"`` builds against the cross
    compiler's own glibc. The build fails when a binary needs more than the
    board's oldest OS has."""
    board = load_board(board_name)  # an unknown name first lists the boards
    out_dir = Path(out if out is not None else f"dist-{board.name}").resolve()
    work = out_dir / ".build"
    src = find_source(source, unpack_to=work / "source")
    if (src / "boards").is_dir():  # the profiles and toolchain files of the tree built
        board = load_board(board_name, src / "boards")
    tools = check_toolchain(board)
    work.mkdir(parents=True, exist_ok=True)
    logf = work / "build.log"
    logf.write_text("", encoding="utf-8")
    jobs = jobs or os.cpu_count() or 2
    gen = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={tools['ninja']}"] if "ninja" in tools else []
    extension = wheel and board.python_supported
    plan = plan_link(board, tools, src, sysroot, logf=logf, log=log, extension=extension)

    reset_build_folders(
        work, json.dumps({"tools": plan.cmake_args(True), "ext": plan.cmake_args(False)})
    )

    # 1. runtime library and tools
    what = f"{board.triple or 'native'} {' '.join(board.cflags)}"
    log(f"== {board.name}: runtime and tools ({what}; {plan.why})")
    cdir = work / "cmake"
    _run(
        [
            tools["cmake"], "-S", src, "-B", cdir, *gen, *cmake_args(board, src, plan),
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
    binaries: dict[str, Path | bytes] = {}
    for t in TOOLS:
        shutil.copy2(cdir / t, out_dir / "bin" / t)
        files.append(f"bin/{t}")
        binaries[f"bin/{t}"] = out_dir / "bin" / t
    # the tools are checked before anything else is built: a clear failure early
    check_abi(board, binaries)
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
            whl = _build_wheel(
                board, target, src, work, out_dir / "wheels", tools, jobs, logf, plan
            )
            core = check_wheel(whl, board)
            _, core_data = _wheel_core(whl)
            binaries[f"wheel:{core}"] = core_data
            check_abi(board, {f"{whl.name}:{core}": core_data})
            # the manylinux tag its extension really satisfies (PEP 600)
            tag = manylinux_tag(read_elf(core_data), MANYLINUX_ARCH[target.platform])
            whl = retag_wheel(whl, tag)
            wheel_name = f"wheels/{whl.name}"
            files.append(wheel_name)
            note = f"{core}: checked {'ELF ' + board.triple if board.cross else 'native'}, {tag}"

    levels = board.levels
    abi = {
        "oldest_os": levels.os,
        "glibc": levels.glibc,
        "glibcxx": levels.glibcxx,
        "link": plan.why,
        "sysroot": str(plan.sysroot) if plan.sysroot else None,
        "static_tools": plan.static_tools,
        "binaries": check_abi(board, binaries),
    }
    info = build_info(board, tools, src, files, wheel_name, note, abi)
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
    plan: LinkPlan | None = None,
) -> Path:
    """setup.py bdist_wheel with CMAKE_ARGS for the board, in a build folder of
    its own (the source tree's build/ is left alone)."""
    base = work / "wheel"
    # keep the CMake build (build/temp*: incremental), drop what bdist_wheel packs
    for old in [base / "dist", base / "bdist", *base.glob("build/lib*")]:
        shutil.rmtree(old, ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)
    wheels.mkdir(parents=True, exist_ok=True)
    args = cmake_args(board, src, plan, tools=False)
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
