"""What an ELF binary needs from the system: a small pure-Python reader.

``read_elf(path)`` returns the machine, the shared libraries it names
(``DT_NEEDED``), whether it is fully static, and its symbol version needs from
``.gnu.version_r`` (``GLIBC_2.34`` from ``libc.so.6``, ``GLIBCXX_3.4.30`` from
``libstdc++.so.6``, ...), each with the dynamic symbols bound to it (through
``.gnu.version``), so that a message can say *which* call needs a newer glibc.
``version_definitions(path)`` lists the versions a shared library provides
(``.gnu.version_d``): the newest ``GLIBC_*`` of a cross toolchain's libc.

32- and 64-bit, either byte order; only the section headers are read (as
``objdump -T``/``readelf -V`` do); no third-party dependency. Errors are
``ElfError`` (a ``ValueError``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ElfError", "ElfInfo", "VersionNeed", "read_elf", "version_definitions"]

SHT_DYNSYM = 11
SHT_DYNAMIC = 6
SHT_GNU_VERDEF = 0x6FFFFFFD
SHT_GNU_VERNEED = 0x6FFFFFFE
SHT_GNU_VERSYM = 0x6FFFFFFF
PT_DYNAMIC = 2
PT_INTERP = 3
DT_NEEDED = 1


class ElfError(ValueError):
    """A file that is not ELF, or whose tables point outside it."""


@dataclass(frozen=True)
class VersionNeed:
    """One version a binary needs from one library, and the symbols bound to it."""

    library: str  # "libc.so.6"
    version: str  # "GLIBC_2.34"
    symbols: tuple[str, ...]  # undefined dynamic symbols that need this version


@dataclass(frozen=True)
class ElfInfo:
    machine: int  # e_machine: 0x3E x86-64, 0xB7 AArch64, 0x28 ARM
    bits: int  # 32 or 64
    needed: tuple[str, ...]  # DT_NEEDED, in order
    interpreter: str | None  # PT_INTERP (the dynamic loader), None for static files
    needs: tuple[VersionNeed, ...]

    @property
    def static(self) -> bool:
        """A fully static executable: no dynamic loader, no shared library."""
        return self.interpreter is None and not self.needed


@dataclass(frozen=True)
class _Section:
    type: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int


class _Reader:
    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.name = data, name
        if len(data) < 52 or data[:4] != b"\x7fELF":
            raise ElfError(f"{name}: not an ELF file")
        if data[4] not in (1, 2) or data[5] not in (1, 2):
            raise ElfError(f"{name}: unknown ELF class {data[4]} or byte order {data[5]}")
        self.bits = 32 if data[4] == 1 else 64
        self.order = "<" if data[5] == 1 else ">"
        self.machine = self.u("H", 18)
        if self.bits == 64:
            phoff, shoff = self.u("Q", 32), self.u("Q", 40)
            phentsize, phnum, shentsize, shnum = (self.u("H", o) for o in (54, 56, 58, 60))
        else:
            phoff, shoff = self.u("I", 28), self.u("I", 32)
            phentsize, phnum, shentsize, shnum = (self.u("H", o) for o in (42, 44, 46, 48))
        self.sections = [self._section(shoff + i * shentsize) for i in range(shnum)]
        self.segments = [self._segment(phoff + i * phentsize) for i in range(phnum)]

    def u(self, fmt: str, offset: int) -> int:
        size = struct.calcsize(fmt)
        if offset < 0 or offset + size > len(self.data):
            raise ElfError(f"{self.name}: truncated (a table points past the end at {offset})")
        return struct.unpack_from(self.order + fmt, self.data, offset)[0]

    def _section(self, off: int) -> _Section:
        if self.bits == 64:
            # name, type, flags, addr, offset, size, link, info, align, entsize
            f = struct.Struct(self.order + "IIQQQQIIQQ")
        else:
            f = struct.Struct(self.order + "IIIIIIIIII")
        if off + f.size > len(self.data):
            raise ElfError(f"{self.name}: truncated section header table")
        v = f.unpack_from(self.data, off)
        return _Section(v[1], v[4], v[5], v[6], v[7], v[9])

    def _segment(self, off: int) -> tuple[int, int, int]:
        """(type, file offset, file size) of one program header."""
        if self.bits == 64:
            return self.u("I", off), self.u("Q", off + 8), self.u("Q", off + 32)
        return self.u("I", off), self.u("I", off + 4), self.u("I", off + 16)

    def string(self, section: _Section, index: int) -> str:
        start = section.offset + index
        if index >= section.size or start >= len(self.data):
            raise ElfError(f"{self.name}: string index {index} outside its table")
        end = self.data.find(b"\0", start, section.offset + section.size)
        return self.data[start : (end if end >= 0 else section.offset + section.size)].decode(
            "utf-8", "replace"
        )

    def linked(self, s: _Section) -> _Section:
        if not 0 < s.link < len(self.sections):
            raise ElfError(f"{self.name}: a section links to missing section {s.link}")
        return self.sections[s.link]

    def of_type(self, t: int) -> _Section | None:
        return next((s for s in self.sections if s.type == t), None)


def _load(path: str | Path | bytes) -> _Reader:
    if isinstance(path, bytes):
        return _Reader(path, "<bytes>")
    p = Path(path)
    return _Reader(p.read_bytes(), str(p))


def _needed(r: _Reader) -> list[str]:
    dyn = r.of_type(SHT_DYNAMIC)
    if dyn is None:
        return []
    strtab = r.linked(dyn)
    step = 16 if r.bits == 64 else 8
    fmt = "q" if r.bits == 64 else "i"
    out = []
    for off in range(dyn.offset, dyn.offset + dyn.size - step + 1, step):
        tag, val = r.u(fmt, off), r.u(fmt.upper(), off + step // 2)
        if tag == 0:
            break
        if tag == DT_NEEDED:
            out.append(r.string(strtab, val))
    return out


def _interpreter(r: _Reader) -> str | None:
    for typ, off, size in r.segments:
        if typ == PT_INTERP:
            return r.data[off : off + size].rstrip(b"\0").decode("utf-8", "replace")
    return None


def _version_needs(r: _Reader) -> dict[int, tuple[str, str]]:
    """vna_other index -> (library, version name), from .gnu.version_r."""
    sec = r.of_type(SHT_GNU_VERNEED)
    out: dict[int, tuple[str, str]] = {}
    if sec is None:
        return out
    strtab = r.linked(sec)
    off, seen = sec.offset, 0
    while seen < max(sec.info, 1) and off < sec.offset + sec.size:
        # Elf_Verneed: vn_version, vn_cnt, vn_file, vn_aux, vn_next
        cnt, file_, aux = r.u("H", off + 2), r.u("I", off + 4), r.u("I", off + 8)
        nxt = r.u("I", off + 12)
        library = r.string(strtab, file_)
        a = off + aux
        for _ in range(cnt):
            # Elf_Vernaux: vna_hash, vna_flags, vna_other, vna_name, vna_next
            other, name, anext = r.u("H", a + 6), r.u("I", a + 8), r.u("I", a + 12)
            out[other] = (library, r.string(strtab, name))
            if anext == 0:
                break
            a += anext
        seen += 1
        if nxt == 0:
            break
        off += nxt
    return out


def _symbols_by_version(r: _Reader) -> dict[int, list[str]]:
    """version index -> undefined dynamic symbols bound to it (.dynsym + .gnu.version)."""
    dynsym, versym = r.of_type(SHT_DYNSYM), r.of_type(SHT_GNU_VERSYM)
    out: dict[int, list[str]] = {}
    if dynsym is None or versym is None:
        return out
    strtab = r.linked(dynsym)
    entsize = dynsym.entsize or (24 if r.bits == 64 else 16)
    shndx_at = 6 if r.bits == 64 else 14
    for i in range(dynsym.size // entsize):
        off = dynsym.offset + i * entsize
        if r.u("H", off + shndx_at) != 0:  # defined here: not a need
            continue
        ver = r.u("H", versym.offset + 2 * i) & 0x7FFF
        if ver >= 2:
            out.setdefault(ver, []).append(r.string(strtab, r.u("I", off)))
    return out


def read_elf(path: str | Path | bytes) -> ElfInfo:
    """The machine, libraries, loader and symbol version needs of an ELF file."""
    r = _load(path)
    by_index = _version_needs(r)
    syms = _symbols_by_version(r)
    needs = tuple(
        VersionNeed(lib, ver, tuple(sorted(set(syms.get(idx, [])))))
        for idx, (lib, ver) in sorted(by_index.items())
    )
    return ElfInfo(r.machine, r.bits, tuple(_needed(r)), _interpreter(r), needs)


def version_definitions(path: str | Path | bytes) -> list[str]:
    """The versions a shared library defines (``.gnu.version_d``), in file order,
    the library's own soname entry excluded."""
    r = _load(path)
    sec = r.of_type(SHT_GNU_VERDEF)
    if sec is None:
        return []
    strtab = r.linked(sec)
    out, off = [], sec.offset
    for _ in range(max(sec.info, 1)):
        # Elf_Verdef: vd_version, vd_flags, vd_ndx, vd_cnt, vd_hash, vd_aux, vd_next
        flags, aux, nxt = r.u("H", off + 2), r.u("I", off + 12), r.u("I", off + 16)
        if not flags & 1:  # VER_FLG_BASE: the file's own name
            out.append(r.string(strtab, r.u("I", off + aux)))
        if nxt == 0:
            break
        off += nxt
    return out
