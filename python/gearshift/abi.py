"""Which glibc and libstdc++ a board's OS offers, and whether a binary fits.

A board profile names the oldest OS it supports and that OS's glibc
(``glibc = "2.31"``) and libstdc++ (``glibcxx = "3.4.28"``) levels. The C++
ABI (``CXXABI_1.3.x``) and libgcc_s (``GCC_x.y.z``) levels follow from the
libstdc++ level: each libstdc++ release comes with one GCC release
(``GLIBCXX_LEVELS``, from GCC's libstdc++ ABI policy document).

``check_binary(path, levels)`` reads a binary's symbol version needs
(``gearshift.elf``) and returns one ``Violation`` per version the OS lacks,
with the symbols that need it; ``manylinux_tag`` gives the PEP 600 platform
tag an extension really satisfies.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from gearshift.elf import ElfInfo, read_elf

__all__ = [
    "GLIBCXX_LEVELS",
    "MANYLINUX_GLIBC",
    "Levels",
    "Violation",
    "check_binary",
    "glibc_needed",
    "host_levels",
    "manylinux_tag",
]

# GLIBCXX_3.4.N -> (first GCC release with it, CXXABI_1.3.M it brings), from
# "ABI Policy and Guidelines" of the libstdc++ manual
# (https://gcc.gnu.org/onlinedocs/libstdc++/manual/abi.html, "History").
GLIBCXX_LEVELS: dict[str, tuple[str, str]] = {
    "3.4.19": ("4.8.3", "1.3.7"),
    "3.4.20": ("4.9.0", "1.3.8"),
    "3.4.21": ("5.1.0", "1.3.9"),
    "3.4.22": ("6.1.0", "1.3.10"),
    "3.4.23": ("7.1.0", "1.3.11"),
    "3.4.24": ("7.2.0", "1.3.11"),
    "3.4.25": ("8.1.0", "1.3.11"),
    "3.4.26": ("9.1.0", "1.3.12"),
    "3.4.27": ("9.2.0", "1.3.12"),
    "3.4.28": ("9.3.0", "1.3.12"),
    "3.4.29": ("11.1.0", "1.3.13"),
    "3.4.30": ("12.1.0", "1.3.13"),
    "3.4.31": ("13.1.0", "1.3.14"),
    "3.4.32": ("13.2.0", "1.3.14"),
    "3.4.33": ("14.1.0", "1.3.15"),
}
# Libraries every glibc Linux has (the manylinux policy's list, the parts a
# C++ program can need); anything else must come with the program.
SYSTEM_LIBRARIES = re.compile(
    r"^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libgcc_s\.so\.1"
    r"|libstdc\+\+\.so\.6|ld-linux[-a-z0-9_.]*\.so\.\d|ld-linux\.so\.\d)$"
)
# Version names without a number, and the glibc that introduced them.
_NAMED = {"GLIBC_ABI_DT_RELR": "2.36"}
_VERSION = re.compile(r"^(GLIBCXX|GLIBC|CXXABI|GCC)_(\d+(?:\.\d+)*)$")


def _tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


@dataclass(frozen=True)
class Levels:
    """What an OS provides; None: not limited (the host's libstdc++)."""

    os: str
    glibc: str | None
    glibcxx: str | None

    @property
    def cxxabi(self) -> str | None:
        return None if self.glibcxx is None else GLIBCXX_LEVELS[self.glibcxx][1]

    @property
    def gcc(self) -> str | None:
        return None if self.glibcxx is None else GLIBCXX_LEVELS[self.glibcxx][0]

    def limit(self, family: str) -> str | None:
        return {
            "GLIBC": self.glibc,
            "GLIBCXX": self.glibcxx,
            "CXXABI": self.cxxabi,
            "GCC": self.gcc,
        }[family]


@dataclass(frozen=True)
class Violation:
    binary: str
    library: str
    version: str  # as needed: "GLIBC_2.34"
    limit: str  # what the OS has: "GLIBC_2.31", or why none fits
    symbols: tuple[str, ...]

    def __str__(self) -> str:
        syms = ", ".join(self.symbols[:4]) + (" ..." if len(self.symbols) > 4 else "")
        via = f" (symbols: {syms})" if syms else ""
        return f"{self.binary} needs {self.version} from {self.library}{via}; {self.limit}"


def host_levels() -> Levels:
    """This machine's glibc (the host profile: a native build runs here)."""
    lib, ver = platform.libc_ver()
    glibc = ver if lib == "glibc" and ver else None
    return Levels(f"this machine ({platform.platform()})", glibc, None)


def glibc_needed(info: ElfInfo) -> str | None:
    """The newest GLIBC_x.y a binary needs ("2.31"), None when it needs none."""
    best: tuple[int, ...] | None = None
    for n in info.needs:
        v = _NAMED.get(n.version)
        m = _VERSION.match(n.version)
        if v is None and m and m.group(1) == "GLIBC":
            v = m.group(2)
        if v is not None and (best is None or _tuple(v) > best):
            best = _tuple(v)
    return None if best is None else ".".join(map(str, best))


def check_binary(
    path: str | Path | bytes, levels: Levels, *, name: str | None = None
) -> list[Violation]:
    """Every symbol version (and shared library) ``path`` needs that an OS at
    ``levels`` lacks; empty when it fits."""
    info = read_elf(path)
    label = name or ("<bytes>" if isinstance(path, bytes) else os.fspath(path))
    out = []
    for lib in info.needed:
        if not SYSTEM_LIBRARIES.match(lib):
            out.append(
                Violation(label, lib, lib, f"{lib} is not a system library of {levels.os}", ())
            )
    for n in info.needs:
        version = n.version
        if version in _NAMED:
            family, ver = "GLIBC", _NAMED[version]
        else:
            m = _VERSION.match(version)
            if m is None:
                # GLIBC_PRIVATE (glibc-internal), CXXABI_TM_1, CXXABI_ARM_1.3.3: only the
                # private one is never portable; the others exist since GCC 4.x
                if version.endswith("_PRIVATE"):
                    out.append(
                        Violation(label, n.library, version, "a private glibc symbol", n.symbols)
                    )
                continue
            family, ver = m.group(1), m.group(2)
        limit = levels.limit(family)
        if limit is not None and _tuple(ver) > _tuple(limit):
            out.append(
                Violation(
                    label,
                    n.library,
                    version,
                    f"{levels.os} has {family}_{limit}",
                    n.symbols,
                )
            )
    return out


# glibc levels that have a manylinux policy (the manylinux build images'
# glibc; auditwheel's policy list): a wheel's tag names one of them, so that
# `auditwheel show` reports the same tag.
MANYLINUX_GLIBC = (
    "2.17", "2.24", "2.26", "2.27", "2.28", "2.31", "2.34", "2.35", "2.36", "2.37", "2.38",
    "2.39", "2.40", "2.41",
)  # fmt: skip


def manylinux_tag(info: ElfInfo, arch: str) -> str:
    """The PEP 600 tag (``manylinux_2_31_aarch64``) a binary satisfies: the
    oldest manylinux glibc level at or above the newest GLIBC_x.y it needs."""
    need = _tuple(glibc_needed(info) or "2.17")[:2]
    level = next((v for v in MANYLINUX_GLIBC if _tuple(v) >= need), None)
    major, minor = _tuple(level)[:2] if level else need
    return f"manylinux_{major}_{minor}_{arch}"
