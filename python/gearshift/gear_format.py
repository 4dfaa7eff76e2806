"""Pure-Python reader of the ``.gear`` format (docs/FORMAT.md, version 1.0).

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
from typing import Any, Union

import numpy as np

from .errors import FormatError

__all__ = [
    "ACTIVATIONS",
    "ALIGNMENT",
    "HEADER_SIZE",
    "MAGIC",
    "OPS",
    "SECTION_ENTRY_SIZE",
    "SECTION_MANIFEST",
    "SECTION_TENSOR_DATA",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "GearFile",
    "Header",
    "Section",
    "align_offset",
    "crc32c",
    "fast_crc32c",
    "read_gear",
]

MAGIC = b"GEAR"
VERSION_MAJOR = 1
VERSION_MINOR = 0
ALIGNMENT = 64
HEADER_SIZE = 64
SECTION_ENTRY_SIZE = 32
SECTION_MANIFEST = 1
SECTION_TENSOR_DATA = 2
MAX_SECTIONS = 1024
MAX_MANIFEST_BYTES = 64 << 20
MAX_JSON_DEPTH = 64
MAX_JSON_VALUES = 1 << 20  # every JSON value counts, containers included; keys do not
MAX_RANK = 6
OPTIONAL_KINDS = range(1024, 65536)
SECTION_NAMES = {SECTION_MANIFEST: "MANIFEST", SECTION_TENSOR_DATA: "TENSOR_DATA"}

# struct layouts, little-endian, exactly as the C structs in FORMAT.md 2.1/2.2.
HEADER_STRUCT = struct.Struct("<4sHHIIQQII24s")
SECTION_STRUCT = struct.Struct("<IIQQII")
HEADER_CRC_OFFSET = 32  # byte offset of FileHeader.header_crc32c
assert HEADER_STRUCT.size == HEADER_SIZE and SECTION_STRUCT.size == SECTION_ENTRY_SIZE

DTYPE_SIZES = {"f32": 4}
DTYPE_NUMPY = {"f32": np.dtype("<f4")}
COMPUTE_DTYPES = {"f32": {"f32"}}
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")

# op -> required attrs with their JSON type check. Optional attrs (activation,
# beta) are checked when present.
_CONV_ATTRS = {"stride": "pair", "dilation": "pair", "padding": "padding"}
_POOL_ATTRS = {"filter": "pair", "stride": "pair", "padding": "padding"}
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
}
# Inputs per op: (minimum, maximum); None = unbounded.
OP_ARITY: dict[str, tuple[int, int | None]] = {
    "CONV_2D": (3, 3),
    "DEPTHWISE_CONV_2D": (3, 3),
    "FULLY_CONNECTED": (3, 3),
    "ADD": (2, 2),
    "MUL": (2, 2),
    "CONCATENATION": (1, None),
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

    ``data`` holds the whole file; :meth:`storage_array` returns read-only
    numpy views into it (no copy), as the C++ runtime uses mmapped weights.
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

    def storage_array(self, index: int) -> np.ndarray:
        """Storage entry ``index`` as a read-only array view of its stored shape."""
        entry = self.manifest["storage"][index]
        sec = self.sections[entry["section"]]
        start = sec.offset + entry["offset"]
        buf = memoryview(self.data)[start : start + entry["length"]]
        arr = np.frombuffer(buf, dtype=DTYPE_NUMPY[entry["dtype"]])
        return arr.reshape(entry["shape"])

    def constants(self, gear: str | None = None) -> dict[str, np.ndarray]:
        """Tensor name -> stored array for every constant of ``gear`` (default: the first)."""
        gears = self.manifest["gears"]
        g = gears[0] if gear is None else next((g for g in gears if g["name"] == gear), None)
        if g is None:
            raise ValueError(f"unknown gear {gear!r}; the file carries {self.gear_names}")
        tensors = self.manifest["tensors"]
        return {tensors[t]["name"]: self.storage_array(s) for t, s in g["constants"]}


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
    _validate_manifest(manifest, sections, header.alignment)
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
    manifests = 0
    for s in sections:
        label = s.label()
        if s.kind not in SECTION_NAMES and s.kind not in OPTIONAL_KINDS:
            raise FormatError(f"{label}: unknown section kind {s.kind}")
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
# Manifest validation
# ---------------------------------------------------------------------------
_I64_MAX = 2**63 - 1
_I32_MAX = 2**31 - 1  # attribute integers (FORMAT.md 2.3, Nodes)
_F32_MAX = float(np.finfo(np.float32).max)
_BIAS_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
# op -> every attribute key it may carry (anything else is refused).
OP_ATTR_KEYS: dict[str, tuple[str, ...]] = {
    op: tuple(attrs)
    + (
        ("activation",)
        if op in _BIAS_OPS
        or op in ("MAX_POOL_2D", "AVERAGE_POOL_2D", "ADD", "MUL", "CONCATENATION")
        else ()
    )
    + (("beta",) if op == "SOFTMAX" else ())
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
    elif kind == "beta":
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


def _static_shape_checks(
    op: str, ins: list[int], attrs: dict[str, Any], shapes: list[Any], w: str
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


def _validate_manifest(m: dict[str, Any], sections: list[Section], alignment: int) -> None:
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
        _static_shape_checks(op, ins, attrs, shapes, w)
    for i in range(nt):
        ok = const[i] or i in inputs or i in produced
        _need(ok, f"tensors[{i}]", "not a constant, not a graph input and produced by no node")
    for o in outputs:
        _need(o in available, "outputs", f"output tensor {o} is never produced")

    storage = _get(m, "storage", list, "manifest")
    for k, s in enumerate(storage):
        w = f"storage[{k}]"
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
        dtype = _get(s, "dtype", str, w)
        _need(dtype in DTYPE_SIZES, f"{w}.dtype", f"unknown dtype {dtype[:40]!r}")
        shape = _int_list(_get(s, "shape", list, w), f"{w}.shape")
        _need(len(shape) <= MAX_RANK, f"{w}.shape", f"rank {len(shape)} exceeds {MAX_RANK}")
        _need(all(d >= 1 for d in shape), f"{w}.shape", "every dimension must be >= 1")
        _need(_bytes_fit(shape), f"{w}.shape", f"element count of {shape} x 4 bytes overflows")
        enc = _get(s, "encoding", str, w)
        _need(enc == "dense", f"{w}.encoding", f'expected "dense", found {enc[:40]!r}')
        _need(s.get("quant") is None, f"{w}.quant", "must be absent or null in format 1.0")
        expected = math.prod(shape) * DTYPE_SIZES[dtype]
        _need(length == expected, f"{w}.length", f"expected {expected} ({dtype} x {shape})")

    gears = _get(m, "gears", list, "manifest")
    _need(bool(gears), "gears", "the file carries no gear")
    const_ids = {i for i in range(nt) if const[i]}
    gnames: set[str] = set()
    for k, g in enumerate(gears):
        w = f"gears[{k}]"
        gname = _get(g, "name", str, w)
        _need(gname != "", f"{w}.name", "gear names must be non-empty")
        _need(gname not in gnames, w, f"gear name {gname[:60]!r} is not unique")
        gnames.add(gname)
        compute = _get(g, "compute", str, w)
        _need(compute in COMPUTE_DTYPES, f"{w}.compute", f"unknown compute token {compute[:40]!r}")
        seen: set[int] = set()
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
            seen.add(t)
            _need(
                storage[s]["shape"] == tensors[t]["shape"],
                pw,
                f"storage shape {storage[s]['shape']} != tensor shape {tensors[t]['shape']}",
            )
            _need(
                storage[s]["dtype"] in COMPUTE_DTYPES[compute],
                pw,
                f"storage dtype {storage[s]['dtype']} cannot feed compute {compute}",
            )
        missing = sorted(const_ids - seen)
        _need(not missing, w, f"no storage for constant tensors {missing[:8]}")
