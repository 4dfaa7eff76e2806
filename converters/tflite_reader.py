"""A ``.tflite`` flatbuffer reader in plain Python and numpy, for boards without
TensorFlow or LiteRT.

It decodes the tables the importer reads into objects shaped like the TFLite
schema module's object API (``ModelT``: ``model.subgraphs[0].tensors[i].shape``,
``op.builtinOptions.strideW``, ...), from the field numbers and defaults in
``tflite_schema``. FlatBuffers layout: a table starts with an int32 offset back
to its vtable (uint16 vtable size, uint16 table size, one uint16 field offset
per field id, 0 when absent: the default); offsets to strings, vectors and
sub-tables are uint32, relative to where they are stored; a vector or string
is a uint32 length followed by its elements. Every read is bounds-checked; a
bad offset raises :class:`ReaderError`, which ``tflite_file`` reports as a
corrupted file. ``tflite_file.read_tflite`` uses the schema module when one is
installed and this reader otherwise (tests compare the two on every model).
"""

from __future__ import annotations

import struct
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import tflite_schema as S

__all__ = ["SCHEMA", "ReaderError", "read_model"]

_SIZES = {"b": 1, "B": 1, "?": 1, "h": 2, "H": 2, "i": 4, "I": 4, "q": 8, "Q": 8, "f": 4, "d": 8}
_NUMPY = {"b": "i1", "B": "u1", "?": "?", "h": "<i2", "H": "<u2", "i": "<i4", "I": "<u4",
          "q": "<i8", "Q": "<u8", "f": "<f4", "d": "<f8"}  # fmt: skip
# Nesting deeper than this is a hostile file (the real schema nests 4 levels).
_MAX_DEPTH = 16


class ReaderError(ValueError):
    """A flatbuffer offset or length points outside the file."""


def _enum_class(name: str, values: dict[int, str]) -> type:
    return type(name, (), {v: k for k, v in values.items()})


# Stands in for the schema module where ``tflite_file`` needs its enums.
SCHEMA = SimpleNamespace(
    TensorType=_enum_class("TensorType", S.TENSOR_TYPE),
    BuiltinOperator=_enum_class("BuiltinOperator", S.BUILTIN_OPERATOR),
    __name__="gearshift.converters.tflite_reader",
)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.n = len(data)

    def scalar(self, code: str, pos: int) -> Any:
        size = _SIZES[code]
        if pos < 0 or pos + size > self.n:
            raise ReaderError(f"a {size}-byte value at {pos} is outside the {self.n}-byte file")
        return struct.unpack_from("<" + code, self.data, pos)[0]

    def deref(self, pos: int) -> int:
        """Where the uint32 offset stored at ``pos`` points."""
        return pos + self.scalar("I", pos)

    def vector(self, pos: int, item: int) -> tuple[int, int]:
        """(start, length) of the vector whose offset is stored at ``pos``."""
        v = self.deref(pos)
        length = self.scalar("I", v)
        if v + 4 + length * item > self.n:
            raise ReaderError(f"a vector of {length} x {item} bytes at {v} overruns the file")
        return v + 4, length

    def string(self, pos: int) -> bytes:
        start, length = self.vector(pos, 1)
        return bytes(self.data[start : start + length])

    def table(self, pos: int, name: str, depth: int = 0) -> SimpleNamespace:
        if depth > _MAX_DEPTH:
            raise ReaderError("tables nested too deep")
        spec = S.TABLES[name]
        vtable = pos - self.scalar("i", pos)
        vsize = self.scalar("H", vtable)
        if vsize < 4 or vsize % 2:
            raise ReaderError(f"vtable of {vsize} bytes at {vtable}")
        obj = SimpleNamespace()
        types: dict[str, int] = {}
        for fid, field in enumerate(spec):
            if field is None:
                continue
            fname, kind, default = field
            slot = 4 + 2 * fid
            off = self.scalar("H", vtable + slot) if slot + 2 <= vsize else 0
            if off == 0:
                value: Any = default
            else:
                value = self.field(pos + off, fname, kind, types, depth)
            if fname.endswith("Type") and kind == "B":
                types[fname[:-4]] = int(value or 0)
            setattr(obj, fname, value)
        return obj

    def field(self, at: int, fname: str, kind: str, types: dict[str, int], depth: int) -> Any:
        if kind in _SIZES:
            return self.scalar(kind, at)
        if kind == "str":
            return self.string(at)
        if kind.startswith("vec:"):
            code = kind[4:]
            start, length = self.vector(at, _SIZES[code])
            return np.frombuffer(self.data, _NUMPY[code], length, start).copy()
        if kind.startswith("table:"):
            return self.table(self.deref(at), kind[6:], depth + 1)
        if kind.startswith("tables:"):
            start, length = self.vector(at, 4)
            sub = kind[7:]
            return [self.table(self.deref(start + 4 * i), sub, depth + 1) for i in range(length)]
        if kind == "union":
            return self.union(at, fname, types.get(fname, 0), depth)
        raise ReaderError(f"unknown field kind {kind!r}")

    def union(self, at: int, fname: str, type_code: int, depth: int) -> Any:
        names = {
            "builtinOptions": S.BUILTIN_OPTIONS,
            "builtinOptions2": S.BUILTIN_OPTIONS_2,
            "arraySegments": S.SPARSE_INDEX_VECTOR,
            "arrayIndices": S.SPARSE_INDEX_VECTOR,
        }.get(fname, {})
        name = names.get(type_code)
        if name is None or name == "NONE" or name not in S.TABLES:
            return None  # an option table this reader does not know: its defaults apply
        return self.table(self.deref(at), name, depth + 1)


def read_model(data: bytes) -> SimpleNamespace:
    """The ``Model`` table of a ``.tflite`` file's bytes (the identifier is not checked)."""
    r = _Reader(data)
    try:
        return r.table(r.deref(0), "Model")
    except (struct.error, RecursionError, OverflowError) as e:
        raise ReaderError(str(e)) from None
