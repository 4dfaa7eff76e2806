"""Board profiles: what a target board's CPU, OS and Python offer.

One TOML file per board lives in ``boards/`` (installed as the data package
``gearshift._boards``); ``boards/toolchains/<triple>.cmake`` holds the CMake
toolchain file each cross target names. A profile is data only: the compiler
flags it may use, the ISA extensions the runtime may assume, the default
thread count, the OS's Python, the QEMU CPU that emulates it, the oldest OS
release it supports with that release's glibc and libstdc++ levels (what the
built binaries may need, checked by ``gearshift build``) and, for Jetson
boards, the CUDA compute capability.

``load_board(name)`` reads and validates one profile; ``list_boards()`` lists
the names. Errors are ``BoardError`` (a ``ValueError``) naming the file, the
field, and what was expected.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gearshift.abi import GLIBCXX_LEVELS, Levels, host_levels

__all__ = ["ARCHES", "ISA_TOKENS", "BoardError", "BoardProfile", "list_boards", "load_board"]

ARCHES = ("aarch64", "armv7", "x86_64", "native")
# the triple each architecture's toolchain file is named after ("" = native build)
TRIPLES = {
    "aarch64": "aarch64-linux-gnu",
    "armv7": "arm-linux-gnueabihf",
    "x86_64": "x86_64-linux-gnu",
    "native": "",
}
ISA_TOKENS = {
    "aarch64": ("neon", "neon_dot", "neon_fp16", "i8mm"),
    "armv7": ("neon", "neon_dot", "neon_fp16"),
    "x86_64": ("avx2", "avx512", "avx512_vnni"),
    "native": (),
}
_VERSION = re.compile(r"^\d+\.\d+$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
MIN_PYTHON = (3, 9)


class BoardError(ValueError):
    """A board profile that is unknown, unreadable or invalid."""


@dataclass(frozen=True)
class BoardProfile:
    """One board: see ``boards/*.toml`` for the meaning of each field."""

    name: str
    description: str
    arch: str
    triple: str
    cpu: str
    cflags: tuple[str, ...]
    isa: tuple[str, ...]
    threads: int  # default thread count; 0 = every core found at run time
    ram_gb: tuple[float, ...]
    os: str
    python: str  # "X.Y" of the OS's python3 ("" for host: this interpreter)
    sources: tuple[str, ...]
    numpy: str | None = None
    qemu_cpu: str | None = None
    cuda_compute_capability: str | None = None
    notes: str = ""
    oldest_os: str | None = None  # the oldest OS release supported ("" for host)
    glibc: str | None = None  # that OS's glibc, "2.31"
    glibcxx: str | None = None  # that OS's libstdc++ symbol level, "3.4.28"
    path: Path | None = field(default=None, compare=False)

    @property
    def cross(self) -> bool:
        """True when building for this board needs a cross toolchain."""
        return self.arch != "native"

    @property
    def toolchain(self) -> Path | None:
        """The CMake toolchain file for this board, or None for a native build."""
        if not self.triple:
            return None
        base = self.path.parent if self.path is not None else boards_dir()
        return base / "toolchains" / f"{self.triple}.cmake"

    @property
    def cuda_arch(self) -> str | None:
        """CUDA architecture name such as ``sm_87``, or None without a CUDA GPU."""
        cc = self.cuda_compute_capability
        return None if cc is None else "sm_" + cc.replace(".", "")

    @property
    def levels(self) -> Levels:
        """The glibc/libstdc++ levels the board's binaries must fit (the host:
        this machine's glibc)."""
        if not self.cross:
            return host_levels()
        assert self.oldest_os and self.glibc and self.glibcxx  # validated on load
        return Levels(self.oldest_os, self.glibc, self.glibcxx)

    @property
    def python_supported(self) -> bool:
        """Whether the OS's own Python can run the gearshift package."""
        if not self.python:
            return True
        major, minor = (int(p) for p in self.python.split("."))
        return (major, minor) >= MIN_PYTHON

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("path")
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        d["toolchain"] = None if self.toolchain is None else f"toolchains/{self.triple}.cmake"
        d["cuda_arch"] = self.cuda_arch
        d["python_supported"] = self.python_supported
        return d


# -- where the profiles are ----------------------------------------------------------
def boards_dir() -> Path:
    """The folder holding the profiles: the installed ``gearshift._boards`` data
    package, or ``boards/`` of the source tree."""
    try:
        from importlib.resources import files

        d = Path(str(files("gearshift._boards")))
        if d.is_dir() and any(d.glob("*.toml")):
            return d
    except (ImportError, TypeError, ValueError, OSError):
        pass
    try:  # a namespace package on Python 3.9, where files() cannot take one
        from importlib.util import find_spec

        spec = find_spec("gearshift._boards")
        for loc in (spec.submodule_search_locations or []) if spec else []:
            if any(Path(loc).glob("*.toml")):
                return Path(loc)
    except (ImportError, ValueError):
        pass
    return Path(__file__).resolve().parents[2] / "boards"


def _dir(directory: str | Path | None) -> Path:
    return boards_dir() if directory is None else Path(directory)


def list_boards(directory: str | Path | None = None) -> list[str]:
    """Names of the available board profiles, sorted."""
    d = _dir(directory)
    return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []


# -- reading and validating ----------------------------------------------------------
def _toml_loads(text: str, path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        try:
            import tomli as tomllib
        except ImportError:
            raise BoardError(
                "reading board profiles on Python < 3.11 needs the 'tomli' package: "
                "pip install tomli (or pip install 'gearshift[convert]')"
            ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"board profile {path}: not valid TOML: {e}") from None


_REQUIRED = {
    "name": str,
    "description": str,
    "arch": str,
    "triple": str,
    "cpu": str,
    "cflags": list,
    "isa": list,
    "threads": int,
    "ram_gb": list,
    "os": str,
    "python": str,
    "sources": list,
}
_OPTIONAL = {
    "numpy": str,
    "qemu_cpu": str,
    "cuda_compute_capability": str,
    "notes": str,
    "oldest_os": str,
    "glibc": str,
    "glibcxx": str,
}
_GLIBC = re.compile(r"^2\.\d+$")


def _check(data: dict[str, Any], path: Path, stem: str) -> BoardProfile:
    def bad(msg: str) -> BoardError:
        return BoardError(f"board profile {path}: {msg}")

    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        known = ", ".join([*_REQUIRED, *_OPTIONAL])
        raise bad(f"unknown key(s) {', '.join(unknown)}; known keys: {known}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise bad(f"missing field(s) {', '.join(missing)}")
    for k, v in data.items():
        want = _REQUIRED.get(k) or _OPTIONAL[k]
        if not isinstance(v, want) or (want is int and isinstance(v, bool)):
            raise bad(f"field '{k}' must be a {want.__name__}, found {type(v).__name__} {v!r}")
    for k in ("cflags", "isa", "sources"):
        if not all(isinstance(x, str) and x for x in data[k]):
            raise bad(f"field '{k}' must be a list of non-empty strings")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in data["ram_gb"]):
        raise bad("field 'ram_gb' must be a list of numbers (GB)")

    name, arch = data["name"], data["arch"]
    if name != stem or not _NAME.match(name):
        raise bad(
            f"'name' must be the file's stem {stem!r} (lower-case, digits, '-'), found {name!r}"
        )
    if arch not in ARCHES:
        raise bad(f"'arch' must be one of {', '.join(ARCHES)}; found {arch!r}")
    if data["triple"] != TRIPLES[arch]:
        raise bad(f"arch {arch} needs triple {TRIPLES[arch]!r}, found {data['triple']!r}")
    bad_isa = [t for t in data["isa"] if t not in ISA_TOKENS[arch]]
    if bad_isa:
        allowed = ", ".join(ISA_TOKENS[arch]) or "none (detected at run time)"
        raise bad(f"isa {', '.join(bad_isa)} not valid for {arch}; allowed: {allowed}")
    if len(set(data["isa"])) != len(data["isa"]):
        raise bad("'isa' lists an extension twice")
    if arch != "native" and any(
        f.startswith(("-march=native", "-mcpu=native")) for f in data["cflags"]
    ):
        raise bad("only the 'host' (arch native) profile may use -march=native/-mcpu=native")
    if data["threads"] < 0 or (data["threads"] == 0 and arch != "native"):
        raise bad(f"'threads' must be >= 1 (0 only for a native build), found {data['threads']}")
    py = data["python"]
    if not (_VERSION.match(py) or (py == "" and arch == "native")):
        raise bad(f"'python' must be a version like '3.11', found {py!r}")
    for k in ("numpy", "cuda_compute_capability"):
        if k in data and not _VERSION.match(data[k]):
            raise bad(f"'{k}' must be a version like '8.7', found {data[k]!r}")
    if arch != "native" and not data.get("qemu_cpu"):
        raise bad("a cross target needs 'qemu_cpu' (the CPU QEMU emulates for its tests)")
    if arch != "native":
        lacking = [k for k in ("oldest_os", "glibc", "glibcxx") if not data.get(k)]
        if lacking:
            raise bad(
                f"a cross target needs {', '.join(lacking)}: the oldest OS release it supports "
                "and that release's glibc ('2.31') and libstdc++ ('3.4.28') levels"
            )
        if not _GLIBC.match(data["glibc"]):
            raise bad(f"'glibc' must be a version like '2.31', found {data['glibc']!r}")
        if data["glibcxx"] not in GLIBCXX_LEVELS:
            known = ", ".join(GLIBCXX_LEVELS)
            raise bad(f"'glibcxx' must be a GLIBCXX level ({known}), found {data['glibcxx']!r}")
    elif any(k in data for k in ("glibc", "glibcxx")):
        raise bad("the native profile takes its glibc from this machine: no 'glibc'/'glibcxx'")
    if not data["sources"]:
        raise bad("'sources' must name at least one document the facts were checked against")

    prof = BoardProfile(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}, path=path
    )
    tc = prof.toolchain
    if tc is not None and not (path.parent / "toolchains" / tc.name).is_file():
        raise bad(f"toolchain file toolchains/{tc.name} (for triple {prof.triple}) does not exist")
    return prof


def load_board(name: str, directory: str | Path | None = None) -> BoardProfile:
    """Read and validate the profile ``boards/<name>.toml``.

    Raises ``BoardError`` for an unknown name (listing the available ones) or
    an invalid profile (naming the field and what was expected).
    """
    d = _dir(directory)
    path = d / f"{name}.toml"
    if not _NAME.match(name) or not path.is_file():
        names = ", ".join(list_boards(d)) or f"none found in {d}"
        raise BoardError(f"unknown board {name!r}; available boards: {names}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BoardError(f"board profile {path}: cannot read: {e}") from None
    return _check(_toml_loads(text, path), path, name)
