"""Pure-Python reader of the ``.gear`` format (docs/FORMAT.md, version 1.6).

This is the second, independent implementation of the spec: the C++ runtime
is the first. ``gearshift inspect`` uses it to describe a file without
loading the runtime, and the round-trip tests use it to check the writer
without trusting the writer's own code. It needs numpy only; it never imports
the converters or TensorFlow.

Every check follows FORMAT.md section 3, in order, and the first failure is
raised as :class:`gearshift.FormatError` whose message names the field, what
was expected and what was found.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Union

import numpy as np

from . import gear_codec, sparse_codec
from .errors import FormatError
from .gear_codec import Q4M_MAX_BLOCK as _Q4M_MAX_BLOCK
from .sparse_codec import SPARSE_ENCODINGS

__all__ = [
    "ACTIVATIONS",
    "ALIGNMENT",
    "HEADER_SIZE",
    "MAGIC",
    "OPS",
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
VERSION_MINOR = 6
ALIGNMENT = 64
HEADER_SIZE = 64
SECTION_ENTRY_SIZE = 32
SECTION_MANIFEST = 1
SECTION_TENSOR_DATA = 2
SECTION_PARAMS = 3  # 1.6: binary quant/activation parameters (FORMAT.md 2.4)
MAX_SECTIONS = 1024
MAX_MANIFEST_BYTES = 64 << 20
MAX_JSON_DEPTH = 64
MAX_JSON_VALUES = 1 << 20  # every JSON value counts, containers included; keys do not
MAX_RANK = 6
OPTIONAL_KINDS = range(1024, 65536)
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

DTYPE_SIZES = {"f32": 4, "f16": 2, "i8": 1, "i32": 4}
DTYPE_NUMPY = {
    "f32": np.dtype("<f4"),
    "f16": np.dtype("<f2"),
    "i8": np.dtype("i1"),
    "i32": np.dtype("<i4"),
}
ENCODINGS = ("dense", "q8r4", "q4m", *SPARSE_ENCODINGS)
# encodings that hold int8 values a q8r4/q4m entry may derive from, and a q8 weight may use
I8_BASE_ENCODINGS = ("dense", *SPARSE_ENCODINGS)
# compute token -> storage dtypes its constants may have (the per-role rules
# of q8/q4 are checked on top, in _check_integer_constant).
COMPUTE_DTYPES = {
    "f32": {"f32"},
    "f16": {"f16", "f32"},
    "q8": {"i8", "i32"},
    "q4": {"i8", "i32"},
    # 1.5: integer gears with float islands (their float nodes' constants are f32/f16)
    "q8+f32": {"i8", "i32", "f32", "f16"},
    "q4+f32": {"i8", "i32", "f32", "f16"},
}
ISLAND_COMPUTE = ("q8+f32", "q4+f32")
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")

# op -> required attrs with their JSON type check. Optional attrs (activation,
# beta) are checked when present.
_CONV_ATTRS = {"stride": "pair", "dilation": "pair", "padding": "padding"}
_POOL_ATTRS = {"filter": "pair", "stride": "pair", "padding": "padding"}
_RESIZE_ATTRS = {"size": "pair", "align_corners": "bool", "half_pixel_centers": "bool"}
OPS: dict[str, dict[str, str]] = {
    "CONV_2D": _CONV_ATTRS,
    "DEPTHWISE_CONV_2D": {**_CONV_ATTRS, "depth_multiplier": "posint"},
    "FULLY_CONNECTED": {},
    "MAX_POOL_2D": _POOL_ATTRS,
    "AVERAGE_POOL_2D": _POOL_ATTRS,
    "MEAN": {"axes": "intlist", "keep_dims": "bool"},
    "RELU": {},
    "RELU6": {},
    "RELU_N1_TO_1": {},
    "LOGISTIC": {},
    "TANH": {},
    "HARD_SWISH": {},
    "SOFTMAX": {},
    "ADD": {},
    "MUL": {},
    "CONCATENATION": {"axis": "nonnegint"},
    "RESHAPE": {"shape": "intlist"},
    "PAD": {"paddings": "pairs"},
    # 1.3
    "TRANSPOSE_CONV": {"stride": "pair", "padding": "padding", "output_size": "pair"},
    "SUB": {},
    "DIV": {},
    "MAXIMUM": {},
    "MINIMUM": {},
    "LEAKY_RELU": {"alpha": "number"},
    "PRELU": {},
    "RESIZE_BILINEAR": _RESIZE_ATTRS,
    "RESIZE_NEAREST_NEIGHBOR": _RESIZE_ATTRS,
    "DEPTH_TO_SPACE": {"block_size": "posint"},
    "SPACE_TO_DEPTH": {"block_size": "posint"},
    "TRANSPOSE": {"perm": "intlist"},
    "SLICE": {"begin": "intlist", "end": "intlist", "strides": "intlist"},
    "GATHER": {"axis": "nonnegint", "indices": "intlist"},
    "QUANTIZE": {},
}
# Inputs per op: (minimum, maximum); None = unbounded.
OP_ARITY: dict[str, tuple[int, int | None]] = {
    "CONV_2D": (3, 3),
    "DEPTHWISE_CONV_2D": (3, 3),
    "FULLY_CONNECTED": (3, 3),
    "ADD": (2, 2),
    "MUL": (2, 2),
    "CONCATENATION": (1, None),
    "TRANSPOSE_CONV": (3, 3),
    "SUB": (2, 2),
    "DIV": (2, 2),
    "MAXIMUM": (2, 2),
    "MINIMUM": (2, 2),
    "PRELU": (2, 2),
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
    """A parsed and validated ``.gear`` file.

    ``data`` holds the whole file; :meth:`storage_values` returns read-only
    numpy views into it for ``dense`` entries (no copy), as the C++ runtime
    uses mmapped weights, and materialises ``q8r4``/``q4m`` values and the
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
        return None if q is None else _parse_quant(q, entry["dtype"], entry["shape"], "quant")

    def storage_values(self, index: int) -> np.ndarray:
        """The values entry ``index`` yields, exactly as FORMAT.md defines them.

        ``dense``: a read-only view of the payload in its dtype (float32,
        float16, int8, int32). ``bitmap``/``csr``/``2:4``: the int8 values
        densified (zeros where nothing is stored). ``q8r4``: float32
        ``s[c] * (q + r * 0.0625)`` in binary32 (over a sparse base: at its
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
        assert bq is not None and bq.axis is not None  # checked when the file was read
        if enc == "q8r4" and self.manifest["storage"][base]["encoding"] in SPARSE_ENCODINGS:
            q, slots = self._sparse(base)
            r = gear_codec.unpack_nibbles(self.storage_payload(index), slots.size)
            return sparse_codec.q8r4_sparse_values(q, r, slots, bq.scale, bq.axis)
        q = self.storage_values(base)
        if enc == "q8r4":
            r = gear_codec.unpack_nibbles(self.storage_payload(index), q.size)
            return gear_codec.q8r4_values(q, r.reshape(q.shape), bq.scale, bq.axis)
        return gear_codec.q4m_values(q, bq.axis, int(entry["block"]))

    def _sparse(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(dense int8 values, stored slots) of sparse entry ``index`` (checked at read)."""
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


def read_gear(source: Source, verify_checksums: bool = True) -> GearFile:
    """Reads and validates a ``.gear`` file from a path or from bytes.

    ``verify_checksums=False`` skips the data sections' CRC (never the
    header's or the manifest's), as the runtime's option of the same name.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data: bytes | memoryview = bytes(source)
    else:
        path = os.fspath(source)
        if os.path.isdir(path):
            raise ValueError(f"expected a .gear file, got a directory: {path!r}")
        with open(path, "rb") as f:
            data = f.read()
    header = _read_header(data)
    sections = _read_sections(data, header, verify_checksums)
    manifest = _read_manifest(data, sections)
    _expand_params(manifest, sections, data)
    _validate_manifest(manifest, sections, header.alignment, data)
    return GearFile(header=header, sections=sections, manifest=manifest, data=data)


def _read_header(data: bytes | memoryview) -> Header:
    n = len(data)
    if n < HEADER_SIZE:
        raise FormatError(f"header: file is {n} bytes, shorter than the {HEADER_SIZE}-byte header")
    h = Header(*HEADER_STRUCT.unpack_from(data, 0))
    if h.magic != MAGIC:
        raise FormatError(f"header.magic: expected {MAGIC!r}, found {bytes(h.magic)!r}")
    if h.version_major != VERSION_MAJOR:
        newer = "newer" if h.version_major > VERSION_MAJOR else "older"
        raise FormatError(
            f"header.version: file is format {h.version_major}.{h.version_minor} "
            f"({newer} major), this reader reads {VERSION_MAJOR}.x "
            f"(up to {VERSION_MAJOR}.{VERSION_MINOR})"
        )
    a = h.alignment
    if a < 16 or a > 65536 or a & (a - 1):
        raise FormatError(f"header.alignment: expected a power of two in [16, 65536], found {a}")
    if h.flags != 0:
        raise FormatError(f"header.flags: expected 0 (no flags defined), found {h.flags:#x}")
    if h.file_size != n:
        what = "truncated" if n < h.file_size else "extended"
        raise FormatError(
            f"header.file_size: header says {h.file_size} bytes, file is {n} bytes ({what})"
        )
    if not 1 <= h.section_count <= MAX_SECTIONS:
        raise FormatError(
            f"header.section_count: expected 1..{MAX_SECTIONS}, found {h.section_count}"
        )
    if h.section_table_offset != HEADER_SIZE:
        raise FormatError(
            f"header.section_table_offset: expected {HEADER_SIZE}, found {h.section_table_offset}"
        )
    table_end = h.section_table_offset + h.section_count * SECTION_ENTRY_SIZE
    if table_end > n:
        raise FormatError(
            f"header: section table of {h.section_count} entries ends at {table_end}, "
            f"past the end of the {n}-byte file"
        )
    buf = bytearray(data[:HEADER_SIZE])
    buf[HEADER_CRC_OFFSET : HEADER_CRC_OFFSET + 4] = b"\0\0\0\0"
    crc = fast_crc32c(data[HEADER_SIZE:table_end], fast_crc32c(buf))
    if crc != h.header_crc32c:
        raise FormatError(
            f"header.header_crc32c: CRC32C mismatch: stored {h.header_crc32c:#010x}, "
            f"computed {crc:#010x}"
        )
    return h


def _read_sections(data: bytes | memoryview, h: Header, verify_checksums: bool) -> list[Section]:
    n = len(data)
    table_end = HEADER_SIZE + h.section_count * SECTION_ENTRY_SIZE
    sections = [
        Section(i, *SECTION_STRUCT.unpack_from(data, HEADER_SIZE + i * SECTION_ENTRY_SIZE))
        for i in range(h.section_count)
    ]
    prev_end = table_end
    manifests = params = 0
    for s in sections:
        label = s.label()
        if s.kind not in SECTION_NAMES and s.kind not in OPTIONAL_KINDS:
            newer = (
                f"; the file is format 1.{h.version_minor}, newer than this reader's "
                f"1.{VERSION_MINOR}: a newer gearshift reads it"
                if h.version_minor > VERSION_MINOR
                else ""
            )
            raise FormatError(
                f"{label}: unknown section kind {s.kind} (known: 1 = MANIFEST, "
                f"2 = TENSOR_DATA, 3 = PARAMS, optional 1024..65535){newer}"
            )
        params += s.kind == SECTION_PARAMS
        if params > 1:
            raise FormatError(f"{label}: a second PARAMS section; a file has at most one")
        if s.kind == SECTION_PARAMS and s.size > MAX_MANIFEST_BYTES:
            raise FormatError(
                f"{label}: {s.size} bytes, more than the PARAMS limit of {MAX_MANIFEST_BYTES}"
            )
        manifests += s.kind == SECTION_MANIFEST
        if s.flags != 0:
            raise FormatError(f"{label}: flags: expected 0, found {s.flags:#x}")
        if s.offset % h.alignment:
            raise FormatError(
                f"{label}: offset {s.offset} is not a multiple of the alignment {h.alignment}"
            )
        if s.offset < prev_end:
            raise FormatError(
                f"{label}: offset {s.offset} overlaps the previous section or the section "
                f"table (ends at {prev_end}); sections must be in increasing offset order"
            )
        end = s.offset + s.size
        if end > n:
            raise FormatError(
                f"{label}: bytes [{s.offset}, {end}) extend past the end of the {n}-byte file"
            )
        prev_end = end
    if manifests != 1:
        raise FormatError(
            f"section table: expected exactly one MANIFEST section, found {manifests}"
        )
    for s in sections:
        if s.kind == SECTION_TENSOR_DATA and not verify_checksums:
            continue
        crc = fast_crc32c(memoryview(data)[s.offset : s.offset + s.size])
        if crc != s.crc32c:
            raise FormatError(
                f"{s.label()}: CRC32C mismatch: stored {s.crc32c:#010x}, computed {crc:#010x}"
            )
    return sections


_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_limits(obj: Any) -> tuple[int, int, bool]:
    """(nesting depth, number of values, whether a string holds a lone surrogate).

    Values are counted as the C++ parser counts them: the top-level value,
    every array element and every object member value, containers included;
    object keys are not values.
    """
    depth, count, bad = 0, 0, False
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        count += 1
        if isinstance(o, dict):
            depth = max(depth, d)
            bad = bad or any(_SURROGATE.search(k) for k in o)
            stack.extend((c, d + 1) for c in o.values())
        elif isinstance(o, list):
            depth = max(depth, d)
            stack.extend((c, d + 1) for c in o)
        elif isinstance(o, str):
            bad = bad or _SURROGATE.search(o) is not None
    return depth, count, bad


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON number {name}")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate object key {k[:60]!r}")
        out[k] = v
    return out


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number {text[:40]} out of the range of a double")
    return v


def _json_int(text: str) -> int | float:
    # Like the C++ parser: an integer token outside int64 is a double (so not
    # an integer for the validator), and must still be finite.
    if len(text) <= 20:
        v = int(text)
        if -(2**63) <= v < 2**63:
            return v
    return _finite_float(text)


def _read_manifest(data: bytes | memoryview, sections: list[Section]) -> dict[str, Any]:
    s = next(s for s in sections if s.kind == SECTION_MANIFEST)
    if s.size > MAX_MANIFEST_BYTES:
        raise FormatError(f"{s.label()}: {s.size} bytes, more than the {MAX_MANIFEST_BYTES} limit")
    raw = bytes(memoryview(data)[s.offset : s.offset + s.size])
    if raw.startswith(b"\xef\xbb\xbf"):
        raise FormatError(f"{s.label()}: starts with a UTF-8 byte-order mark")
    try:
        manifest = json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_json_int,
            object_pairs_hook=_unique_pairs,
        )
    except RecursionError:
        raise FormatError(
            f"{s.label()}: invalid JSON: nesting deeper than {MAX_JSON_DEPTH}"
        ) from None
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"{s.label()}: invalid JSON: {e}") from None
    depth, count, lone_surrogate = _json_limits(manifest)
    if depth > MAX_JSON_DEPTH:
        raise FormatError(f"{s.label()}: invalid JSON: nesting deeper than {MAX_JSON_DEPTH}")
    if count > MAX_JSON_VALUES:
        raise FormatError(
            f"{s.label()}: invalid JSON: {count} values, more than the limit of {MAX_JSON_VALUES}"
        )
    if lone_surrogate:
        raise FormatError(f"{s.label()}: invalid JSON: unpaired surrogate in a \\u escape")
    if not isinstance(manifest, dict):
        raise FormatError(f"manifest: expected a JSON object, found {type(manifest).__name__}")
    return manifest


# ---------------------------------------------------------------------------
# 1.6 params references (FORMAT.md 2.4)
# ---------------------------------------------------------------------------
_F32_LE, _I32_LE = np.dtype("<f4"), np.dtype("<i4")
_ACT_RECORD = np.dtype([("t", "<i4"), ("s", "<f4"), ("z", "<i4")])  # 12 bytes, no padding


def _params_ref(
    ref: dict[str, Any], where: str, params: Section | None, data: Any, dtype: np.dtype
) -> np.ndarray:
    """The values a params reference ``{"offset", "count"}`` points at, bounds checked."""
    _need(
        params is not None,
        where,
        'a params reference {"offset", "count"}, but the file has no PARAMS section '
        "(kind 3, format 1.6); write the values as a JSON array or add the section",
    )
    assert params is not None
    off, n = ref.get("offset"), ref.get("count")
    _need(_is_int(off) and off >= 0, f"{where}.offset", f"expected an integer >= 0, found {off}")
    _need(off % 4 == 0, f"{where}.offset", f"offset {off} is not a multiple of 4")
    _need(_is_int(n) and n >= 1, f"{where}.count", f"expected an integer >= 1, found {n}")
    _need(
        off + n * dtype.itemsize <= params.size,
        where,
        f"{n} values of {dtype.itemsize} bytes from offset {off} lie outside "
        f"{params.label()} of {params.size} bytes",
    )
    start = params.offset + off
    return np.frombuffer(data, dtype, n, start)


def _expand_params(manifest: dict[str, Any], sections: list[Section], data: Any) -> None:
    """Replaces every params reference by the JSON array it stands for, so that the
    validator and every user of ``GearFile.manifest`` see one form. The values then
    meet the JSON form's rules (checked by the validator, as for JSON arrays)."""
    params = next((s for s in sections if s.kind == SECTION_PARAMS), None)
    storage = manifest.get("storage")
    for k, entry in enumerate(storage if isinstance(storage, list) else []):
        q = entry.get("quant") if isinstance(entry, dict) else None
        if not isinstance(q, dict):
            continue
        w = f"storage[{k}].quant"
        if isinstance(q.get("scale"), dict):
            v = _params_ref(q["scale"], f"{w}.scale", params, data, _F32_LE)
            q["scale"] = [float(x) for x in v]
        if isinstance(q.get("zero_point"), dict):
            v = _params_ref(q["zero_point"], f"{w}.zero_point", params, data, _I32_LE)
            q["zero_point"] = [int(x) for x in v]
    gears = manifest.get("gears")
    for j, g in enumerate(gears if isinstance(gears, list) else []):
        if isinstance(g, dict) and isinstance(g.get("activations"), dict):
            r = _params_ref(g["activations"], f"gears[{j}].activations", params, data, _ACT_RECORD)
            g["activations"] = [[int(t), float(s), int(z)] for t, s, z in r.tolist()]


# ---------------------------------------------------------------------------
# Manifest validation
# ---------------------------------------------------------------------------
_I64_MAX = 2**63 - 1
_I32_MAX = 2**31 - 1  # attribute integers (FORMAT.md 2.3, Nodes)
_F32_MAX = float(np.finfo(np.float32).max)
_BIAS_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
_ACTIVATION_OPS = ("MAX_POOL_2D", "AVERAGE_POOL_2D", "ADD", "MUL", "CONCATENATION", "SUB", "DIV")
# op -> every attribute key it may carry (anything else is refused).
OP_ATTR_KEYS: dict[str, tuple[str, ...]] = {
    op: tuple(attrs)
    + (("activation",) if op in _BIAS_OPS or op in _ACTIVATION_OPS else ())
    + (("beta",) if op == "SOFTMAX" else ())
    + (("value",) if op == "PAD" else ())
    for op, attrs in OPS.items()
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v <= _I64_MAX


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise FormatError(f"manifest: {where}: {msg}")


def _get(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    _need(isinstance(obj, dict), where, f"expected an object, found {type(obj).__name__}")
    _need(key in obj, where, f"missing key {key!r}")
    v = obj[key]
    if kind is int:
        ok = _is_int(v)
    elif kind is bool:
        ok = isinstance(v, bool)
    else:
        ok = isinstance(v, kind) and not isinstance(v, bool)
    names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
    _need(ok, f"{where}.{key}", f"expected {names}, found {json.dumps(v)[:60]}")
    return v


def _int_list(v: Any, where: str) -> list[int]:
    _need(
        isinstance(v, list) and all(_is_int(x) for x in v),
        where,
        f"expected an integer array, found {json.dumps(v)[:60]}",
    )
    return v


def _bytes_fit(shape: list[int], elem_size: int = 4) -> bool:
    """Whether product(shape) * elem_size fits int64 (-1, the batch, counts as 1)."""
    return math.prod(max(d, 1) for d in shape) * elem_size <= _I64_MAX


def _check_attr(kind: str, v: Any, where: str) -> None:
    if kind == "pair":
        _need(
            isinstance(v, list)
            and len(v) == 2
            and all(_is_int(x) and 1 <= x <= _I32_MAX for x in v),
            where,
            f"expected two integers in [1, 2^31-1], found {json.dumps(v)[:60]}",
        )
    elif kind == "padding":
        _need(v in ("SAME", "VALID"), where, f'expected "SAME" or "VALID", found {json.dumps(v)}')
    elif kind == "activation":
        _need(
            isinstance(v, str) and v in ACTIVATIONS,
            where,
            f"expected one of {ACTIVATIONS}, found {json.dumps(v)[:60]}",
        )
    elif kind == "posint":
        _need(
            _is_int(v) and 1 <= v <= _I32_MAX,
            where,
            f"expected an integer in [1, 2^31-1], found {json.dumps(v)[:60]}",
        )
    elif kind == "nonnegint":
        _need(
            _is_int(v) and 0 <= v <= _I32_MAX,
            where,
            f"expected an integer in [0, 2^31-1], found {json.dumps(v)[:60]}",
        )
    elif kind == "intlist":
        _int_list(v, where)
    elif kind == "bool":
        _need(isinstance(v, bool), where, f"expected true/false, found {json.dumps(v)}")
    elif kind in ("beta", "number"):
        _need(
            isinstance(v, (int, float)) and not isinstance(v, bool) and abs(float(v)) <= _F32_MAX,
            where,
            f"expected a number that fits a float, found {json.dumps(v)[:60]}",
        )
    elif kind == "pairs":
        _need(
            isinstance(v, list)
            and all(
                isinstance(p, list)
                and len(p) == 2
                and all(_is_int(x) and 0 <= x <= _I32_MAX for x in p)
                for p in v
            ),
            where,
            f"expected [[before, after], ...] of integers in [0, 2^31-1], "
            f"found {json.dumps(v)[:60]}",
        )


def _check_node_attrs(op: str, attrs: dict[str, Any], in_shapes: list[Any], w: str) -> None:
    """Attribute presence, types and ranges of one node (FORMAT.md 2.3, Nodes)."""
    for key in attrs:
        _need(key in OP_ATTR_KEYS[op], f"{w}.attrs", f"unknown attribute {key[:40]!r} for {op}")
    for key, kind in OPS[op].items():
        _need(key in attrs, f"{w}.attrs", f"missing required attribute {key!r}")
        _check_attr(kind, attrs[key], f"{w}.attrs.{key}")
    if "activation" in attrs:
        _check_attr("activation", attrs["activation"], f"{w}.attrs.activation")
    if "beta" in attrs:
        _check_attr("beta", attrs["beta"], f"{w}.attrs.beta")
    if "value" in attrs:
        _check_attr("number", attrs["value"], f"{w}.attrs.value")
    rank = len(in_shapes[0])
    if op == "MEAN":
        axes = attrs["axes"]
        _need(
            len(axes) <= MAX_RANK
            and all(0 <= a < rank for a in axes)
            and len(set(axes)) == len(axes),
            f"{w}.attrs.axes",
            f"expected distinct axes in [0, {rank}), found {axes}",
        )
    elif op == "CONCATENATION":
        axis = attrs["axis"]
        _need(axis < rank, f"{w}.attrs.axis", f"axis {axis} out of range for rank {rank}")
    elif op == "RESHAPE":
        shape = attrs["shape"]
        _need(
            len(shape) <= MAX_RANK - 1
            and all(d == -1 or d >= 1 for d in shape)
            and shape.count(-1) <= 1
            and _bytes_fit(shape),
            f"{w}.attrs.shape",
            f"expected at most {MAX_RANK - 1} dims >= 1 with at most one -1, found {shape}",
        )
    elif op == "PAD":
        pads = attrs["paddings"]
        _need(len(pads) == rank, f"{w}.attrs.paddings", f"expected {rank} pairs, found {len(pads)}")
    else:
        _check_attrs_13(op, attrs, in_shapes[0], w)


def _check_attrs_13(op: str, attrs: dict[str, Any], x: list[int], w: str) -> None:
    """Attribute ranges of the ops added in 1.3 against the input's declared shape ``x``
    (FORMAT.md "Ops added in 1.3": the batch, axis 0, is never moved, sliced or gathered)."""
    rank = len(x)
    if op == "RESIZE_BILINEAR":
        _need(
            not (attrs["align_corners"] and attrs["half_pixel_centers"]),
            f"{w}.attrs",
            "align_corners and half_pixel_centers are not both true",
        )
    elif op == "TRANSPOSE":
        perm = attrs["perm"]
        _need(
            sorted(perm) == list(range(rank)) and perm[:1] == [0],
            f"{w}.attrs.perm",
            f"expected a permutation of 0..{rank - 1} starting with 0, found {perm[:16]}",
        )
    elif op == "SLICE":
        for key in ("begin", "end", "strides"):
            v = attrs[key]
            _need(
                len(v) == rank - 1,
                f"{w}.attrs.{key}",
                f"expected {rank - 1} entries (axes 1..{rank - 1}), found {len(v)}",
            )
        for i, (b, e, st) in enumerate(zip(attrs["begin"], attrs["end"], attrs["strides"])):
            dim = x[i + 1]
            _need(
                0 <= b < e <= dim and 1 <= st <= _I32_MAX,
                f"{w}.attrs",
                f"axis {i + 1}: expected 0 <= begin < end <= {dim} and strides >= 1, found "
                f"begin {b}, end {e}, strides {st}",
            )
    elif op == "GATHER":
        axis, idx = attrs["axis"], attrs["indices"]
        _need(1 <= axis < rank, f"{w}.attrs.axis", f"expected an axis in [1, {rank}), found {axis}")
        dim = x[axis] if 1 <= axis < rank else 0
        _need(
            len(idx) >= 1 and all(0 <= i < dim for i in idx),
            f"{w}.attrs.indices",
            f"expected at least one index, each in [0, {dim}), found {idx[:16]}",
        )


def _static_shape_checks(
    op: str, ins: list[int], attrs: dict[str, Any], shapes: list[Any], const: list[bool], w: str
) -> None:
    """Shape facts that need no batch size (FORMAT.md 2.3; gear_reader.cc StaticChecks)."""
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x, f = shapes[ins[0]], shapes[ins[1]]
        _need(len(x) == 4, w, f"{op} input shape {x} must have rank 4 (NHWC)")
        _need(len(f) == 4, w, f"{op} filter shape {f} must have rank 4")
        if op == "CONV_2D":
            out_channels = f[0]
            _need(f[3] == x[3], w, f"{op} filter {f} input channels differ from the input {x}")
        else:
            out_channels = f[3]
            _need(f[0] == 1, w, f"{op} filter shape {f} must start with 1")
            m = attrs["depth_multiplier"]
            _need(f[3] == x[3] * m, w, f"{op} filter shape {f} must have C*M = {x[3]}*{m} channels")
        if ins[2] >= 0:
            b = shapes[ins[2]]
            _need(b == [out_channels], w, f"{op} bias shape {b} must be [{out_channels}]")
    elif op == "FULLY_CONNECTED":
        x, wt = shapes[ins[0]], shapes[ins[1]]
        _need(len(wt) == 2, w, f"{op} weights shape {wt} must have rank 2")
        _need(len(x) >= 1, w, f"{op} input must have rank >= 1")
        _need(x[-1] in (-1, wt[1]), w, f"{op} weights {wt} do not match the input {x}")
        if ins[2] >= 0:
            b = shapes[ins[2]]
            _need(b == [wt[0]], w, f"{op} bias shape {b} must be [{wt[0]}]")
    elif op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        x = shapes[ins[0]]
        _need(len(x) == 4, w, f"{op} input shape {x} must have rank 4 (NHWC)")
    elif op == "CONCATENATION":
        ranks = {len(shapes[t]) for t in ins}
        _need(len(ranks) == 1, w, f"{op} inputs differ in rank: {[shapes[t] for t in ins]}")
    elif op == "TRANSPOSE_CONV":
        x, f = shapes[ins[0]], shapes[ins[1]]
        _need(len(x) == 4, w, f"{op} input shape {x} must have rank 4 (NHWC)")
        _need(len(f) == 4, w, f"{op} filter shape {f} must have rank 4")
        _need(f[3] == x[3], w, f"{op} filter {f} input channels differ from the input {x}")
        if ins[2] >= 0:
            b = shapes[ins[2]]
            _need(b == [f[0]], w, f"{op} bias shape {b} must be [{f[0]}]")
    elif op in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH"):
        x = shapes[ins[0]]
        _need(len(x) == 4, w, f"{op} input shape {x} must have rank 4 (NHWC)")
        b = attrs.get("block_size", 1)
        if op == "DEPTH_TO_SPACE":
            _need(x[3] % (b * b) == 0, w, f"{op} input channels {x[3]} not a multiple of {b}*{b}")
        elif op == "SPACE_TO_DEPTH":
            _need(
                x[1] % b == 0 and x[2] % b == 0,
                w,
                f"{op} input height and width {x[1:3]} not multiples of {b}",
            )
    elif op == "PRELU":
        x, a = shapes[ins[0]], shapes[ins[1]]
        _need(const[ins[1]], w, f"{op} alpha (input 1) must be a constant")
        fits = len(a) <= len(x) and all(
            d == 1 or d == xd or xd == -1 for d, xd in zip(a[::-1], x[::-1])
        )
        _need(fits, w, f"{op} alpha shape {a} does not broadcast to the input {x}")


def _validate_manifest(
    m: dict[str, Any], sections: list[Section], alignment: int, data: bytes | memoryview
) -> None:
    if "producer" in m:
        _get(m, "producer", str, "manifest")
    if "metadata" in m:
        _get(m, "metadata", dict, "manifest")
    tensors = _get(m, "tensors", list, "manifest")
    names: set[str] = set()
    const: list[bool] = []
    shapes: list[list[int]] = []
    for i, t in enumerate(tensors):
        w = f"tensors[{i}]"
        name = _get(t, "name", str, w)
        _need(name != "" and name not in names, w, f"name {name[:60]!r} is empty or not unique")
        names.add(name)
        shape = _int_list(_get(t, "shape", list, w), f"{w}.shape")
        _need(len(shape) <= MAX_RANK, w, f"rank {len(shape)} exceeds {MAX_RANK}")
        dtype = _get(t, "dtype", str, w)
        _need(dtype == "f32", f"{w}.dtype", f'expected "f32", found {dtype[:40]!r}')
        is_const = t.get("const", False)
        _need(isinstance(is_const, bool), f"{w}.const", "expected true/false")
        const.append(is_const)
        shapes.append(shape)
        for d, dim in enumerate(shape):
            ok = dim >= 1 or (d == 0 and dim == -1 and not is_const)
            _need(ok, f"{w}.shape", f"dimension {d} is {dim}; expected >= 1 (or -1 for batch)")
        _need(_bytes_fit(shape), f"{w}.shape", f"element count of {shape} x 4 bytes overflows")
    nt = len(tensors)

    def index(v: Any, where: str, allow_absent: bool = False) -> int:
        ok = _is_int(v) and (0 <= v < nt or (allow_absent and v == -1))
        _need(ok, where, f"tensor index {json.dumps(v)[:40]} out of range [0, {nt})")
        return v

    def index_list(key: str) -> list[int]:
        out = [index(v, f"{key}[{k}]") for k, v in enumerate(_get(m, key, list, "manifest"))]
        _need(len(set(out)) == len(out), key, f"a tensor index is listed twice: {out[:16]}")
        return out

    produced: set[int] = set()
    inputs = index_list("inputs")
    outputs = index_list("outputs")
    _need(bool(outputs), "outputs", "the graph has no outputs")
    for i in inputs:
        _need(not const[i], "inputs", f"graph input {i} is a constant")
    for i, t in enumerate(tensors):
        if "io" in t:
            _check_io(t["io"], f"tensors[{i}].io", i in inputs or i in outputs)
    available = set(inputs) | {i for i in range(nt) if const[i]}
    for k, node in enumerate(_get(m, "nodes", list, "manifest")):
        w = f"nodes[{k}]"
        nname = _get(node, "name", str, w)
        w = f"node {nname[:60]!r} ({w})"
        op = _get(node, "op", str, w)
        _need(op in OPS, w, f"unknown op {op[:40]!r}")
        ins = _get(node, "inputs", list, w)
        lo, hi = OP_ARITY.get(op, (1, 1))
        _need(len(ins) >= lo and (hi is None or len(ins) <= hi), w, f"{op} takes {lo}..{hi} inputs")
        for j, v in enumerate(ins):
            index(v, f"{w}.inputs[{j}]", allow_absent=op in _BIAS_OPS and j == 2)
            _need(v == -1 or v in available, w, f"input tensor {v} used before it is produced")
        outs = _get(node, "outputs", list, w)
        _need(len(outs) == 1, f"{w}.outputs", f"{op} has exactly 1 output, found {len(outs)}")
        for j, v in enumerate(outs):
            index(v, f"{w}.outputs[{j}]")
            _need(
                not const[v] and v not in inputs and v not in produced,
                w,
                f"output tensor {v} is a constant, a graph input or produced twice",
            )
            produced.add(v)
            available.add(v)
        attrs = node.get("attrs", {})
        _need(isinstance(attrs, dict), f"{w}.attrs", "expected an object")
        _check_node_attrs(op, attrs, [shapes[t] for t in ins if t >= 0], w)
        _static_shape_checks(op, ins, attrs, shapes, const, w)
    for i in range(nt):
        ok = const[i] or i in inputs or i in produced
        _need(ok, f"tensors[{i}]", "not a constant, not a graph input and produced by no node")
    for o in outputs:
        _need(o in available, "outputs", f"output tensor {o} is never produced")

    storage = _get(m, "storage", list, "manifest")
    quants, i8_values = _validate_storage(storage, sections, alignment, data)
    nodes = m["nodes"]
    gears = _get(m, "gears", list, "manifest")
    _need(bool(gears), "gears", "the file carries no gear")
    gnames: set[str] = set()
    for k, g in enumerate(gears):
        w = f"gears[{k}]"
        gname = _get(g, "name", str, w)
        _need(gname != "", f"{w}.name", "gear names must be non-empty")
        _need(gname not in gnames, w, f"gear name {gname[:60]!r} is not unique")
        gnames.add(gname)
        w = f"gear {gname[:60]!r} ({w})"
        _validate_gear(g, w, tensors, const, nodes, storage, quants, i8_values)
    _check_two_four(storage, gears, tensors, nodes)


def _check_io(io: Any, w: str, at_interface: bool) -> None:
    """1.4: a graph input/output's integer interface (FORMAT.md "Tensors")."""
    _need(at_interface, w, "only graph inputs and outputs carry an io")
    _need(isinstance(io, dict), w, "expected an object")
    dtype = _get(io, "dtype", str, w)
    _need(dtype in ("i8", "u8"), f"{w}.dtype", f'expected "i8" or "u8", found {dtype[:40]!r}')
    _need("scale" in io, w, 'missing required key "scale"')
    _need(_f32_scale(io["scale"]) is not None, f"{w}.scale", "expected a float32 value > 0")
    zp = io.get("zero_point")
    lo, hi = (-128, 127) if dtype == "i8" else (0, 255)
    _need(_is_int(zp) and lo <= zp <= hi, f"{w}.zero_point", f"expected an integer in [{lo}, {hi}]")


# ---------------------------------------------------------------------------
# Storage (FORMAT.md 2.3 "Storage")
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


def _f32_scale(v: Any) -> np.float32 | None:
    """``v`` as a float32 scale if it is a finite float32 value > 0 exactly (FORMAT.md:
    a number that is not one, e.g. ``0.1``, is refused, as the C++ reader does)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if not (math.isfinite(float(v)) and abs(float(v)) <= _F32_MAX):
        return None
    f = np.float32(v)
    if float(f) != float(v):
        return None
    return f if np.isfinite(f) and f > 0 else None


def _parse_quant(q: Any, dtype: str, shape: list[int], w: str) -> Quant:
    """Checks one ``quant`` object (FORMAT.md "quant") and returns it parsed."""
    _need(isinstance(q, dict), w, f"expected an object, found {json.dumps(q)[:60]}")
    axis = q.get("axis")
    if axis is not None:
        _need(
            _is_int(axis) and 0 <= axis < len(shape),
            f"{w}.axis",
            f"expected null or an axis in [0, {len(shape)}), found {json.dumps(axis)[:40]}",
        )
    n = 1 if axis is None else shape[axis]
    scale = _get(q, "scale", list, w)
    _need(len(scale) == n, f"{w}.scale", f"expected {n} values, found {len(scale)}")
    scales = [_f32_scale(v) for v in scale]
    bad = next((j for j, v in enumerate(scales) if v is None), None)
    _need(
        bad is None,
        f"{w}.scale[{bad}]",
        f"expected a finite float32 > 0, found {json.dumps(scale[bad] if bad is not None else 0)}",
    )
    zps = q.get("zero_point")
    if zps is None:
        zps = [0] * n
    _need(
        isinstance(zps, list) and all(_is_int(z) for z in zps),
        f"{w}.zero_point",
        f"expected an integer array, found {json.dumps(zps)[:60]}",
    )
    _need(len(zps) == n, f"{w}.zero_point", f"expected {n} values, found {len(zps)}")
    lo, hi = (-128, 127) if dtype == "i8" else (0, 0)
    bad = next((j for j, z in enumerate(zps) if not lo <= z <= hi), None)
    _need(
        bad is None,
        f"{w}.zero_point[{bad}]",
        f"expected an integer in [{lo}, {hi}] for {dtype}, "
        f"found {zps[bad] if bad is not None else 0}",
    )
    return Quant(axis, np.array(scales, np.float32), np.array(zps, np.int64))


def _check_payload(
    s: dict[str, Any], w: str, expected: int | None, sections: list[Section], alignment: int
) -> None:
    """``section``/``offset``/``length`` of an entry with a payload: in bounds, and the right
    size when ``expected`` is known (a ``q8r4``'s depends on its base: checked later)."""
    sec = _get(s, "section", int, w)
    _need(
        0 <= sec < len(sections) and sections[sec].kind == SECTION_TENSOR_DATA,
        f"{w}.section",
        f"{sec} is not the index of a TENSOR_DATA section",
    )
    off = _get(s, "offset", int, w)
    length = _get(s, "length", int, w)
    _need(off >= 0 and off % alignment == 0, f"{w}.offset", f"{off} not aligned to {alignment}")
    _need(
        length >= 0 and off + length <= sections[sec].size,
        w,
        f"bytes [{off}, {off + length}) outside section {sec} of {sections[sec].size} bytes",
    )
    if expected is not None:
        what = f"{s['encoding']} {s['dtype']} x {s['shape']}"
        if s["encoding"] in SPARSE_ENCODINGS:
            what += f" with nnz {s['nnz']}"
        _need(length == expected, f"{w}.length", f"expected {expected} ({what}), found {length}")


# storage index -> its int8 values (dense view, or a sparse entry densified)
I8Values = Callable[[int], np.ndarray]


# A sparse entry describes at most this many values per payload byte (FORMAT.md).
SPARSE_VALUES_PER_BYTE = 1024


def _check_sparse_fields(s: dict[str, Any], w: str, shape: list[int], q: Quant) -> int:
    """``nnz`` and the applicability of a sparse entry; returns its payload length."""
    enc = s["encoding"]
    _need(
        q.axis is not None,
        f"{w}.quant.axis",
        f"a {enc} entry needs per-channel quant (the rows are channels), found null",
    )
    assert q.axis is not None
    nnz = _get(s, "nnz", int, w)
    n = math.prod(shape)
    most = n // 2 if enc == "2:4" else n
    _need(0 <= nnz <= most, f"{w}.nnz", f"expected an integer in [0, {most}], found {nnz}")
    if enc == "2:4":
        _need(
            q.axis == 0 and shape[-1] % 4 == 0,
            f"{w}.encoding",
            f"2:4 needs a CONV_2D/FULLY_CONNECTED weight (channel axis 0) whose last dimension "
            f"is a multiple of 4, found axis {q.axis} and shape {shape}",
        )
    length = sparse_codec.sparse_length(enc, shape, q.axis, nnz)
    most_values = SPARSE_VALUES_PER_BYTE * max(length, 64)
    _need(
        n <= most_values,
        w,
        f"a {enc} entry of {length} bytes describes {n} values; at most {most_values} "
        f"(1024 per payload byte, 64 bytes min)",
    )
    return length


def _validate_storage(
    storage: list[Any], sections: list[Section], alignment: int, data: bytes | memoryview
) -> tuple[list[Quant | None], I8Values]:
    """Every storage entry's fields, bounds, length and ``quant``; then every ``base``; then
    every sparse payload's contents.

    Returns the parsed ``quant`` of every entry (a ``q4m`` entry's is its base's)
    and a function giving an int8 entry's values (sparse ones decoded once).
    """
    quants: list[Quant | None] = []
    for k, s in enumerate(storage):
        w = f"storage[{k}]"
        dtype = _get(s, "dtype", str, w)
        _need(dtype in DTYPE_SIZES, f"{w}.dtype", f"unknown dtype {dtype[:40]!r}")
        shape = _int_list(_get(s, "shape", list, w), f"{w}.shape")
        _need(len(shape) <= MAX_RANK, f"{w}.shape", f"rank {len(shape)} exceeds {MAX_RANK}")
        _need(all(d >= 1 for d in shape), f"{w}.shape", "every dimension must be >= 1")
        size = DTYPE_SIZES[dtype]
        _need(
            _bytes_fit(shape, size),
            f"{w}.shape",
            f"element count of {shape} x {size} bytes overflows",
        )
        enc = _get(s, "encoding", str, w)
        _need(enc in ENCODINGS, f"{w}.encoding", f"expected one of {ENCODINGS}, found {enc[:40]!r}")
        sparse = enc in SPARSE_ENCODINGS
        want_dtype = "i8" if sparse else {"q8r4": "f32", "q4m": "i8"}.get(enc)
        _need(
            want_dtype in (None, dtype),
            f"{w}.dtype",
            f"encoding {enc} yields {want_dtype}, found {dtype!r}",
        )
        if enc in I8_BASE_ENCODINGS:
            _need("base" not in s, f"{w}.base", "only q8r4 and q4m entries have a base")
        if not sparse:
            _need("nnz" not in s, f"{w}.nnz", "only bitmap, csr and 2:4 entries have nnz")
        q = s.get("quant")
        parsed: Quant | None = None
        if dtype in ("i8", "i32") and enc in I8_BASE_ENCODINGS:
            _need(q is not None, f"{w}.quant", f"required for {dtype} storage")
            parsed = _parse_quant(q, dtype, shape, f"{w}.quant")
        elif enc != "q4m":
            _need(q is None, f"{w}.quant", f"must be absent or null for {dtype} storage")
        quants.append(parsed)
        n = math.prod(shape)
        if enc == "q4m":
            for key in ("section", "offset"):
                _need(key not in s, f"{w}.{key}", "a q4m entry has no payload: must be absent")
            _need(
                s.get("length", 0) == 0 and _is_int(s.get("length", 0)),
                f"{w}.length",
                "a q4m entry has no payload: must be absent or 0",
            )
            block = _get(s, "block", int, w)
            _need(
                1 <= block <= _Q4M_MAX_BLOCK,
                f"{w}.block",
                f"expected an integer in [1, {_Q4M_MAX_BLOCK}], found {block}",
            )
        elif sparse:
            assert parsed is not None
            expected = _check_sparse_fields(s, w, shape, parsed)
            _check_payload(s, w, expected, sections, alignment)
        else:
            _check_payload(s, w, n * size if enc == "dense" else None, sections, alignment)
    for k, s in enumerate(storage):
        if s["encoding"] in I8_BASE_ENCODINGS:
            continue
        w = f"storage[{k}]"
        b = _get(s, "base", int, w)
        _need(0 <= b < len(storage), f"{w}.base", f"storage index {b} out of range")
        base, bq = storage[b], quants[b]
        _need(
            base["dtype"] == "i8"
            and base["encoding"] in I8_BASE_ENCODINGS
            and bq is not None
            and bq.axis is not None,
            f"{w}.base",
            f"storage[{b}] is not an i8 entry (dense, bitmap, csr or 2:4) with per-channel quant",
        )
        _need(
            base["shape"] == s["shape"],
            f"{w}.base",
            f"storage[{b}] has shape {base['shape']}, this entry {s['shape']}",
        )
        if s["encoding"] == "q8r4":
            slots = sparse_codec.slot_count(base["encoding"], base["shape"], base.get("nnz", 0))
            what = f"q8r4 f32 x {s['shape']}: one nibble per value stored by storage[{b}]"
            if base["encoding"] != "dense":
                what += f" ({base['encoding']}, {slots} slots)"
            _need(
                s["length"] == (slots + 1) // 2,
                f"{w}.length",
                f"expected {(slots + 1) // 2} ({what}), found {s['length']}",
            )
        if s["encoding"] == "q4m":
            own = s.get("quant")
            if own is not None:
                mine = _parse_quant(own, "i8", s["shape"], f"{w}.quant")
                _need(mine.same_as(bq), f"{w}.quant", f"differs from its base storage[{b}]'s")
            quants[k] = bq
    decoded: dict[int, np.ndarray] = {}
    for k, s in enumerate(storage):
        if s["encoding"] not in SPARSE_ENCODINGS:
            continue
        start = sections[s["section"]].offset + s["offset"]
        payload = memoryview(data)[start : start + s["length"]]
        axis = quants[k].axis  # type: ignore[union-attr]
        try:
            decoded[k] = sparse_codec.decode_sparse(
                payload, s["encoding"], s["shape"], axis, s["nnz"]
            )
        except ValueError as e:
            raise FormatError(f"manifest: storage[{k}]: {e}") from None

    def i8_values(k: int) -> np.ndarray:
        if k in decoded:
            return decoded[k]
        e = storage[k]
        start = sections[e["section"]].offset + e["offset"]
        return np.frombuffer(memoryview(data)[start : start + e["length"]], np.int8)

    return quants, i8_values


# ---------------------------------------------------------------------------
# Gears (FORMAT.md 2.3 "Gears", "Compute tokens")
# ---------------------------------------------------------------------------
WEIGHT_AXES = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0, "TRANSPOSE_CONV": 0}
TIED_OPS = (
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
    "RESHAPE",
    "PAD",
    "CONCATENATION",
    # 1.3
    "MAXIMUM",
    "MINIMUM",
    "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR",
    "DEPTH_TO_SPACE",
    "SPACE_TO_DEPTH",
    "TRANSPOSE",
    "SLICE",
    "GATHER",
)


def _constant_roles(nodes: list[Any], const: list[bool]) -> dict[int, set[Any]]:
    """Constant tensor -> its roles in the integer gears: ``("weight", axis)``, ``"bias"``,
    ``"operand"`` (any other constant input)."""
    roles: dict[int, set[Any]] = {}
    for node in nodes:
        ins = node["inputs"]
        for j, t in enumerate(ins):
            if t < 0 or not const[t]:
                continue
            if node["op"] in WEIGHT_AXES and j == 1:
                role: Any = ("weight", WEIGHT_AXES[node["op"]])
            elif node["op"] in WEIGHT_AXES and j == 2:
                role = "bias"
            else:
                role = "operand"
            roles.setdefault(t, set()).add(role)
    return roles


def _check_integer_constant(
    role: Any,
    compute: str,
    k: int,
    storage: list[Any],
    quants: list[Quant | None],
    i8_values: I8Values,
    w: str,
) -> None:
    e, q = storage[k], quants[k]
    desc = f"storage[{k}] ({e['dtype']} {e['encoding']})"
    if isinstance(role, tuple):
        # a q4 gear may keep a layer at int8: the converter's per-layer fallback
        encs: tuple[str, ...] = I8_BASE_ENCODINGS + (("q4m",) if compute == "q4" else ())
        names = "dense, bitmap, csr or 2:4" + (" or q4m" if compute == "q4" else "")
        _need(
            e["dtype"] == "i8" and e["encoding"] in encs,
            w,
            f"a weight of a {compute} gear must be i8 {names}, found {desc}",
        )
        assert q is not None
        _need(
            q.axis == role[1] and not np.any(q.zero_point),
            w,
            f"weight quant must be symmetric per channel along axis {role[1]}, found axis "
            f"{q.axis} and zero points {q.zero_point.tolist()[:8]}",
        )
        values = k if e["encoding"] != "q4m" else e["base"]
        _need(
            not np.any(i8_values(values) == -128),
            w,
            f"weight values of storage[{values}] must be in [-127, 127] (symmetric), found -128",
        )
    elif role == "bias":
        _need(
            e["dtype"] == "i32" and e["encoding"] == "dense" and q is not None and q.axis == 0,
            w,
            f"a bias of a {compute} gear must be i32 dense with per-channel quant, found {desc}"
            + ("" if q is None else f" with quant axis {q.axis}"),
        )
    else:
        _need(
            e["dtype"] == "i8" and e["encoding"] == "dense" and q is not None and q.axis is None,
            w,
            f"a constant operand of a {compute} gear must be i8 dense with per-tensor quant, "
            f"found {desc}" + ("" if q is None else f" with quant axis {q.axis}"),
        )


def _parse_activations(
    g: dict[str, Any], w: str, tensors: list[Any], const: list[bool]
) -> dict[int, tuple[np.float32, int]]:
    acts: dict[int, tuple[np.float32, int]] = {}
    for j, item in enumerate(_get(g, "activations", list, w)):
        aw = f"{w}.activations[{j}]"
        _need(
            isinstance(item, list) and len(item) == 3,
            aw,
            f"expected [tensor, scale, zero_point], found {json.dumps(item)[:60]}",
        )
        t, scale, zp = item
        _need(
            _is_int(t) and 0 <= t < len(tensors) and not const[t],
            aw,
            f"{json.dumps(t)[:40]} is not the index of a non-constant tensor",
        )
        _need(t not in acts, aw, f"tensor {t} is listed twice")
        s32 = _f32_scale(scale)
        _need(s32 is not None, aw, f"scale: expected a finite float32 > 0, found {scale}")
        _need(
            _is_int(zp) and -128 <= zp <= 127,
            aw,
            f"zero_point: expected an integer in [-128, 127], found {json.dumps(zp)[:40]}",
        )
        acts[t] = (s32, zp)  # type: ignore[assignment]
    missing = [t for t in range(len(tensors)) if not const[t] and t not in acts]
    _need(
        not missing,
        f"{w}.activations",
        f"no parameters for tensor(s) {missing[:8]} ({tensors[missing[0]]['name'][:40]!r}, ...)"
        if missing
        else "",
    )
    return acts


def _check_tied(
    nodes: list[Any],
    acts: dict[int, tuple[np.float32, int]],
    const_quant: dict[int, Quant | None],
    tensors: list[Any],
    w: str,
) -> None:
    """Tied ops (pools, RESHAPE, PAD, CONCATENATION, the 1.3 value-moving ops): each input's
    (scale, zp) is the output's."""
    for node in nodes:
        if node["op"] not in TIED_OPS:
            continue
        out = node["outputs"][0]
        want = acts[out]
        for t in node["inputs"]:
            if t in acts:
                got = acts[t]
            else:
                q = const_quant.get(t)
                if q is None or q.axis is not None:
                    continue  # reported by the constant's own check
                got = (q.scale[0], int(q.zero_point[0]))
            _need(
                got[0] == want[0] and got[1] == want[1],
                f"{w}.activations",
                f"node {node['name'][:40]!r} ({node['op']}) moves values without rescaling: input "
                f"{tensors[t]['name'][:40]!r} has (scale {float(got[0])!r}, zero point {got[1]}), "
                f"output {tensors[out]['name'][:40]!r} has (scale {float(want[0])!r}, zero point "
                f"{want[1]})",
            )


def _validate_gear(
    g: dict[str, Any],
    w: str,
    tensors: list[Any],
    const: list[bool],
    nodes: list[Any],
    storage: list[Any],
    quants: list[Quant | None],
    i8_values: I8Values,
) -> None:
    compute = _get(g, "compute", str, w)
    if "sparse" in g:
        _get(g, "sparse", bool, w)
    _need(
        compute in COMPUTE_DTYPES,
        f"{w}.compute",
        f"expected one of {tuple(COMPUTE_DTYPES)}, found {compute[:40]!r}",
    )
    integer = compute in ("q8", "q4", *ISLAND_COMPUTE)
    floats = _float_nodes(g, w, compute, nodes)
    int_nodes = [n for k, n in enumerate(nodes) if k not in floats]
    roles = _constant_roles(int_nodes, const) if integer else {}
    float_reads = {t for k in floats for t in nodes[k]["inputs"] if t >= 0 and const[t]}
    const_ids = {i for i in range(len(tensors)) if const[i]}
    seen: dict[int, int] = {}
    for j, pair in enumerate(_get(g, "constants", list, w)):
        pw = f"{w}.constants[{j}]"
        _need(
            isinstance(pair, list) and len(pair) == 2 and all(_is_int(x) for x in pair),
            pw,
            "expected a [tensor, storage] pair",
        )
        t, s = pair
        _need(t in const_ids and t not in seen, pw, f"tensor {t} is not a constant or repeated")
        _need(0 <= s < len(storage), pw, f"storage index {s} out of range")
        seen[t] = s
        pw = f"{pw} (tensor {tensors[t]['name'][:40]!r})"
        _need(
            storage[s]["shape"] == tensors[t]["shape"],
            pw,
            f"storage shape {storage[s]['shape']} != tensor shape {tensors[t]['shape']}",
        )
        _need(
            storage[s]["dtype"] in COMPUTE_DTYPES[compute],
            pw,
            f"storage[{s}] dtype {storage[s]['dtype']} cannot feed compute {compute} "
            f"(takes {sorted(COMPUTE_DTYPES[compute])})",
        )
        if t in float_reads:  # 1.5: a float island's constant
            _need(
                t not in roles,
                pw,
                "is read by a float node and by an integer node; a constant belongs to one side "
                "of a float island",
            )
            _need(
                storage[s]["dtype"] in ("f32", "f16"),
                pw,
                f"a constant of a float node must be f32 (dense or q8r4) or f16, found "
                f"storage[{s}] ({storage[s]['dtype']} {storage[s]['encoding']})",
            )
        elif integer:
            # a constant no node reads has no role to check (as the C++ reader)
            for role in sorted(roles.get(t, set()), key=str):
                base = compute.split("+")[0]  # q8+f32 -> q8
                _check_integer_constant(role, base, s, storage, quants, i8_values, pw)
    missing = sorted(const_ids - set(seen))
    _need(not missing, w, f"no storage for constant tensors {missing[:8]}")
    if not integer:
        _need(
            g.get("activations") is None,
            f"{w}.activations",
            f"only q8 and q4 gears carry activation parameters, this one computes {compute}",
        )
        return
    acts = _parse_activations(g, w, tensors, const)
    _check_tied(int_nodes, acts, {t: quants[s] for t, s in seen.items()}, tensors, w)


def _float_nodes(g: dict[str, Any], w: str, compute: str, nodes: list[Any]) -> set[int]:
    """1.5: a ``q8+f32``/``q4+f32`` gear's ``float_nodes`` (required there, absent elsewhere:
    a reader that ignored the key would run the islands in int8)."""
    if compute not in ISLAND_COMPUTE:
        _need(
            "float_nodes" not in g,
            f"{w}.float_nodes",
            f"only q8+f32 and q4+f32 gears have float nodes; compute {compute!r} must leave it "
            "absent",
        )
        return set()
    _need(
        "float_nodes" in g,
        w,
        f"compute {compute!r} needs 'float_nodes': the indices of the nodes computed in float",
    )
    idx = g["float_nodes"]
    fw = f"{w}.float_nodes"
    _need(
        isinstance(idx, list) and all(_is_int(k) and 0 <= k < len(nodes) for k in idx),
        fw,
        f"expected node indices in [0, {len(nodes)}), found {json.dumps(idx)[:60]}",
    )
    _need(bool(idx), fw, "lists no node; a gear without float nodes computes 'q8' or 'q4'")
    _need(
        all(a < b for a, b in zip(idx, idx[1:])),
        fw,
        f"node indices must be strictly increasing, found {json.dumps(idx)[:60]}",
    )
    return set(idx)


def _check_two_four(
    storage: list[Any], gears: list[Any], tensors: list[Any], nodes: list[Any]
) -> None:
    """FORMAT.md: ``2:4`` only for ``CONV_2D`` and ``FULLY_CONNECTED`` weights. Every tensor a
    gear reads from a 2:4 entry (directly, or through a q8r4/q4m entry derived from it) must
    be used only as input 1 of such nodes."""
    uses: dict[int, list[str]] = {}
    for node in nodes:
        for j, t in enumerate(node["inputs"]):
            if t >= 0 and not (node["op"] in sparse_codec.TWO_FOUR_OPS and j == 1):
                uses.setdefault(t, []).append(f"input {j} of {node['op']} node {node['name']!r}")
    consumed = {t for node in nodes for t in node["inputs"] if t >= 0}
    for g in gears:
        for t, s in g["constants"]:
            for e in (s, storage[s].get("base")):
                if e is None or storage[e]["encoding"] != "2:4":
                    continue
                what = uses.get(t, [])[:1] or ([] if t in consumed else ["used by no node"])
                _need(
                    not what,
                    f"storage[{e}].encoding",
                    f"2:4 applies only to CONV_2D and FULLY_CONNECTED weights; gear "
                    f"{g['name'][:40]!r} reads it for tensor {tensors[t]['name'][:40]!r}, "
                    f"which is {what[0][:80] if what else ''}",
                )
