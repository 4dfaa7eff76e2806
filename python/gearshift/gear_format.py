"""Reader of the ``.gear`` format (docs/FORMAT.md, version 1.6) for Python.

There is one validator of the format: the C++ reader the runtime uses
(runtime_cpp/src/format/gear_reader.cc). :func:`read_gear` runs it first,
through the compiled extension (``gearshift._core.validate_gear``: exactly
what ``gearshift.Runtime`` checks when it opens a file), and raises its
:class:`gearshift.FormatError` unchanged. Only a file the runtime accepts is
then decoded here: the header, the section table and the manifest into the
objects ``gearshift inspect`` and the numpy oracle use, and payloads into
numpy arrays. This module has no rejection rules of its own, so ``inspect``
and the runtime accept and refuse the same files by construction.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from . import gear_codec, sparse_codec
from ._extension import load_core
from .sparse_codec import SPARSE_ENCODINGS

__all__ = [
    "ALIGNMENT",
    "HEADER_SIZE",
    "MAGIC",
    "SECTION_ENTRY_SIZE",
    "SECTION_MANIFEST",
    "SECTION_PARAMS",
    "SECTION_TENSOR_DATA",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "GearFile",
    "Header",
    "Quant",
    "Section",
    "align_offset",
    "crc32c",
    "fast_crc32c",
    "read_gear",
]

MAGIC = b"GEAR"
VERSION_MAJOR = 1
VERSION_MINOR = 7
ALIGNMENT = 64
HEADER_SIZE = 64
SECTION_ENTRY_SIZE = 32
SECTION_MANIFEST = 1
SECTION_TENSOR_DATA = 2
SECTION_PARAMS = 3  # 1.6: binary quant/activation parameters (FORMAT.md 2.4)
SECTION_NAMES = {
    SECTION_MANIFEST: "MANIFEST",
    SECTION_TENSOR_DATA: "TENSOR_DATA",
    SECTION_PARAMS: "PARAMS",
}

# struct layouts, little-endian, exactly as the C structs in FORMAT.md 2.1/2.2.
HEADER_STRUCT = struct.Struct("<4sHHIIQQII24s")
SECTION_STRUCT = struct.Struct("<IIQQII")
HEADER_CRC_OFFSET = 32  # byte offset of FileHeader.header_crc32c
assert HEADER_STRUCT.size == HEADER_SIZE and SECTION_STRUCT.size == SECTION_ENTRY_SIZE

DTYPE_NUMPY = {
    "f32": np.dtype("<f4"),
    "f16": np.dtype("<f2"),
    "i8": np.dtype("i1"),
    "i32": np.dtype("<i4"),
}


# ---------------------------------------------------------------------------
# CRC-32C
# ---------------------------------------------------------------------------
def _make_tables() -> list[list[int]]:
    poly = 0x82F63B78
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (poly if c & 1 else 0)
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
    return tables


_T = _make_tables()


def crc32c(data: Any, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of a bytes-like object, continuing from ``crc``.

    Same convention as ``zlib.crc32``: ``crc32c(b, crc32c(a)) == crc32c(a + b)``.
    Pure Python (slicing-by-8 tables): slow, about 10 MB/s, but dependency-free
    and independent of the C++ implementation it checks.
    """
    mv = memoryview(data).cast("B")
    n = len(mv)
    c = (crc ^ 0xFFFFFFFF) & 0xFFFFFFFF
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    n8 = n - n % 8
    if n8:
        words = np.frombuffer(mv[:n8], dtype="<u8").tolist()
        for w in words:
            v = w ^ c
            c = (
                t7[v & 0xFF]
                ^ t6[(v >> 8) & 0xFF]
                ^ t5[(v >> 16) & 0xFF]
                ^ t4[(v >> 24) & 0xFF]
                ^ t3[(v >> 32) & 0xFF]
                ^ t2[(v >> 40) & 0xFF]
                ^ t1[(v >> 48) & 0xFF]
                ^ t0[v >> 56]
            )
    for b in mv[n8:].tolist():
        c = (c >> 8) ^ t0[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF


def fast_crc32c(data: Any, crc: int = 0) -> int:
    """CRC-32C through the compiled extension when it is built, else :func:`crc32c`."""
    try:
        from gearshift import _core

        fn = _core.crc32c
    except (ImportError, AttributeError):
        return crc32c(data, crc)
    return int(fn(memoryview(data).cast("B"), crc))


def align_offset(x: int, alignment: int = ALIGNMENT) -> int:
    """The smallest multiple of ``alignment`` that is >= ``x`` (FORMAT.md 1)."""
    return x + (alignment - x % alignment) % alignment


# ---------------------------------------------------------------------------
# Structures
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Header:
    magic: bytes
    version_major: int
    version_minor: int
    alignment: int
    section_count: int
    file_size: int
    section_table_offset: int
    header_crc32c: int
    flags: int
    reserved: bytes


@dataclass(frozen=True)
class Section:
    index: int
    kind: int
    flags: int
    offset: int
    size: int
    crc32c: int
    reserved: int

    @property
    def kind_name(self) -> str:
        return SECTION_NAMES.get(self.kind, f"kind {self.kind}")

    def label(self) -> str:
        return f"section {self.index} ({self.kind_name})"


@dataclass
class GearFile:
    """A ``.gear`` file the C++ reader validated, decoded.

    ``data`` holds the whole file; :meth:`storage_values` returns read-only
    numpy views into it for ``dense`` entries (no copy), as the C++ runtime
    uses mmapped weights, and materialises ``q8r4``/``q8r8``/``q4m`` values and the
    sparse (``bitmap``/``csr``/``2:4``) ones, densified.
    """

    header: Header
    sections: list[Section]
    manifest: dict[str, Any]
    data: bytes | memoryview = field(repr=False)

    @property
    def version(self) -> tuple[int, int]:
        return (self.header.version_major, self.header.version_minor)

    @property
    def gear_names(self) -> tuple[str, ...]:
        return tuple(g["name"] for g in self.manifest["gears"])

    def section_bytes(self, index: int) -> memoryview:
        s = self.sections[index]
        return memoryview(self.data)[s.offset : s.offset + s.size]

    def storage_payload(self, index: int) -> memoryview:
        """The stored bytes of entry ``index`` (empty for ``q4m``, which has no payload)."""
        entry = self.manifest["storage"][index]
        if entry["encoding"] == "q4m":
            return memoryview(b"")
        start = self.sections[entry["section"]].offset + entry["offset"]
        return memoryview(self.data)[start : start + entry["length"]]

    def storage_quant(self, index: int) -> Quant | None:
        """Entry ``index``'s quantization parameters (a ``q4m`` entry's are its base's)."""
        entry = self.manifest["storage"][index]
        if entry["encoding"] == "q4m":
            return self.storage_quant(entry["base"])
        q = entry.get("quant")
        return None if q is None else _parse_quant(q)

    def storage_values(self, index: int) -> np.ndarray:
        """The values entry ``index`` yields, exactly as FORMAT.md defines them.

        ``dense``: a read-only view of the payload in its dtype (float32,
        float16, int8, int32). ``bitmap``/``csr``/``2:4``: the int8 values
        densified (zeros where nothing is stored). ``q8r4`` / ``q8r8``: float32
        ``s[c] * (q + r * 2^-bits)`` in binary32 (over a sparse base: at its
        stored slots, exact zero elsewhere). ``q4m``: int8, the base's
        (densified) values by the integer rule.
        """
        entry = self.manifest["storage"][index]
        enc = entry["encoding"]
        if enc == "dense":
            arr = np.frombuffer(self.storage_payload(index), dtype=DTYPE_NUMPY[entry["dtype"]])
            return arr.reshape(entry["shape"])
        if enc in SPARSE_ENCODINGS:
            arr = self._sparse(index)[0]
            arr.flags.writeable = False
            return arr
        base = entry["base"]
        bq = self.storage_quant(base)
        assert bq is not None and bq.axis is not None  # checked by the C++ reader
        bits = gear_codec.RESIDUAL_BITS.get(enc)
        if bits and self.manifest["storage"][base]["encoding"] in SPARSE_ENCODINGS:
            q, slots = self._sparse(base)
            r = gear_codec.unpack_residuals(self.storage_payload(index), slots.size, bits)
            return sparse_codec.q8r4_sparse_values(q, r, slots, bq.scale, bq.axis, bits)
        q = self.storage_values(base)
        if bits:
            r = gear_codec.unpack_residuals(self.storage_payload(index), q.size, bits)
            return gear_codec.residual_values(q, r.reshape(q.shape), bq.scale, bq.axis, bits)
        return gear_codec.q4m_values(q, bq.axis, int(entry["block"]))

    def _sparse(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(dense int8 values, stored slots) of sparse entry ``index`` (checked by the C++
        reader)."""
        entry = self.manifest["storage"][index]
        q = self.storage_quant(index)
        assert q is not None and q.axis is not None
        return sparse_codec.decode_slots(
            self.storage_payload(index), entry["encoding"], entry["shape"], q.axis, entry["nnz"]
        )

    def storage_nnz(self, index: int) -> int | None:
        """The ``nnz`` of a sparse entry (its stored non-zeros); None for other encodings."""
        entry = self.manifest["storage"][index]
        return int(entry["nnz"]) if entry["encoding"] in SPARSE_ENCODINGS else None

    def storage_array(self, index: int) -> np.ndarray:
        """Same as :meth:`storage_values` (the 1.0 name, kept for callers)."""
        return self.storage_values(index)

    def gear(self, name: str | None = None) -> dict[str, Any]:
        """The manifest entry of gear ``name`` (default: the first, highest precision)."""
        gears = self.manifest["gears"]
        g = gears[0] if name is None else next((g for g in gears if g["name"] == name), None)
        if g is None:
            raise ValueError(f"unknown gear {name!r}; the file carries {self.gear_names}")
        return g

    def constants(self, gear: str | None = None) -> dict[str, np.ndarray]:
        """Tensor name -> values (:meth:`storage_values`) of every constant of ``gear``."""
        g = self.gear(gear)
        tensors = self.manifest["tensors"]
        return {tensors[t]["name"]: self.storage_values(s) for t, s in g["constants"]}

    def constant_storage(self, gear: str | None = None) -> dict[str, int]:
        """Tensor name -> storage index of every constant of ``gear``."""
        tensors = self.manifest["tensors"]
        return {tensors[t]["name"]: s for t, s in self.gear(gear)["constants"]}

    def activations(self, gear: str | None = None) -> dict[str, tuple[float, int]]:
        """Tensor name -> int8 ``(scale, zero_point)`` of a q8/q4 gear (empty for f32/f16).

        ``scale`` is the float32 value as a Python float.
        """
        tensors = self.manifest["tensors"]
        return {
            tensors[t]["name"]: (float(np.float32(s)), int(z))
            for t, s, z in self.gear(gear).get("activations") or []
        }


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


def _validate(data: bytes, verify_checksums: bool) -> None:
    """The C++ reader's verdict on ``data`` (raises its FormatError unchanged). Never
    skipped: without the extension this raises ImportError saying how to build it."""
    load_core().validate_gear(data, verify_checksums)


def read_gear(source: Source, verify_checksums: bool = True) -> GearFile:
    """Reads a ``.gear`` file from a path or from bytes, validated by the C++ reader.

    A file ``gearshift.Runtime`` refuses raises the runtime's
    :class:`gearshift.FormatError` (same message). ``verify_checksums=False``
    skips the data sections' CRC (never the header's or the manifest's), as the
    runtime's option of the same name. Raises ImportError, saying how to build
    it, when the compiled extension is missing.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = os.fspath(source)
        if os.path.isdir(path):
            raise ValueError(f"expected a .gear file, got a directory: {path!r}")
        with open(path, "rb") as f:
            data = f.read()
    # The bytes decoded below are the bytes validated: no second open of the path.
    _validate(data, verify_checksums)
    header = Header(*HEADER_STRUCT.unpack_from(data, 0))
    sections = [
        Section(i, *SECTION_STRUCT.unpack_from(data, HEADER_SIZE + i * SECTION_ENTRY_SIZE))
        for i in range(header.section_count)
    ]
    m = next(s for s in sections if s.kind == SECTION_MANIFEST)
    manifest = json.loads(data[m.offset : m.offset + m.size])
    _expand_params(manifest, sections, data)
    return GearFile(header=header, sections=sections, manifest=manifest, data=data)


# ---------------------------------------------------------------------------
# 1.6 params references (FORMAT.md 2.4)
# ---------------------------------------------------------------------------
_F32_LE, _I32_LE = np.dtype("<f4"), np.dtype("<i4")
_ACT_RECORD = np.dtype([("t", "<i4"), ("s", "<f4"), ("z", "<i4")])  # 12 bytes, no padding


def _params_ref(ref: dict[str, Any], params: Section, data: bytes, dtype: np.dtype) -> np.ndarray:
    """The values a params reference ``{"offset", "count"}`` points at (bounds checked
    by the C++ reader)."""
    return np.frombuffer(data, dtype, ref["count"], params.offset + ref["offset"])


def _expand_params(manifest: dict[str, Any], sections: list[Section], data: bytes) -> None:
    """Replaces every params reference by the JSON array it stands for, so that every
    user of ``GearFile.manifest`` sees one form."""
    params = next((s for s in sections if s.kind == SECTION_PARAMS), None)
    if params is None:
        return  # the C++ reader refuses a reference without a PARAMS section
    for entry in manifest["storage"]:
        q = entry.get("quant")
        if not isinstance(q, dict):
            continue
        if isinstance(q.get("scale"), dict):
            q["scale"] = [float(x) for x in _params_ref(q["scale"], params, data, _F32_LE)]
        if isinstance(q.get("zero_point"), dict):
            v = _params_ref(q["zero_point"], params, data, _I32_LE)
            q["zero_point"] = [int(x) for x in v]
    for g in manifest["gears"]:
        if isinstance(g.get("activations"), dict):
            r = _params_ref(g["activations"], params, data, _ACT_RECORD)
            g["activations"] = [[int(t), float(s), int(z)] for t, s, z in r.tolist()]


# ---------------------------------------------------------------------------
# Storage quantization (FORMAT.md 2.3 "Storage")
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Quant:
    """A storage entry's ``quant``: ``real = scale * (value - zero_point)``.

    ``axis`` is None for one set of parameters for the whole tensor, else the
    channel axis; ``scale`` is float32 and ``zero_point`` int64, one element
    per channel (or one).
    """

    axis: int | None
    scale: np.ndarray
    zero_point: np.ndarray

    def same_as(self, other: Quant) -> bool:
        return (
            self.axis == other.axis
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
        )


def _parse_quant(q: dict[str, Any]) -> Quant:
    """A validated ``quant`` object as arrays (each scale is exactly a float32: FORMAT.md)."""
    scale = np.array(q["scale"], np.float32)
    zps = q.get("zero_point")
    zero_point = np.zeros(scale.size, np.int64) if zps is None else np.array(zps, np.int64)
    return Quant(q.get("axis"), scale, zero_point)
