"""Reading a ``.tflite`` flatbuffer, defensively, with the schema module LiteRT or TensorFlow
ships, or without either.

The bytes are decoded by ``schema_py_generated`` (object API) where LiteRT or
TensorFlow is installed, else by ``tflite_reader`` (plain Python and numpy, the
same object shapes); this module adds what the generated code does not do: it checks the file
identifier, turns the flatbuffers library's ``struct.error``/``IndexError`` on
a truncated or corrupted file into :class:`TFLiteFormatError`, bounds-checks
every tensor, buffer and opcode index before it is used, and decodes constant
tensors (dense or sparse-encoded, per TFLite's ``SparsityParameters``) into
numpy arrays whose size matches their shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "TFLiteFile",
    "TFLiteFormatError",
    "TensorInfo",
    "densify",
    "load_schema",
    "read_tflite",
]

_SCHEMA_MODULES = (
    "ai_edge_litert.schema_py_generated",
    "tensorflow.lite.python.schema_py_generated",
)
# TensorType -> (name, numpy dtype); types outside this map cannot be imported.
_TENSOR_TYPES = {
    0: ("float32", "<f4"),
    1: ("float16", "<f2"),
    2: ("int32", "<i4"),
    3: ("uint8", "u1"),
    4: ("int64", "<i8"),
    6: ("bool", "?"),
    7: ("int16", "<i2"),
    9: ("int8", "i1"),
    10: ("float64", "<f8"),
}
MAX_RANK = 8
MAX_DENSE_ELEMENTS = 1 << 28  # a decoded sparse constant above 1 GiB of float32 is refused


class TFLiteFormatError(ValueError):
    """The file is not a readable TFLite model (truncated, corrupted, another format)."""


def load_schema() -> ModuleType:
    """The TFLite flatbuffer schema module of LiteRT (preferred: lighter) or TensorFlow."""
    import importlib

    for name in _SCHEMA_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(
        "reading .tflite files needs the TFLite schema module of ai-edge-litert or "
        "tensorflow: pip install ai-edge-litert (or tensorflow)"
    )


@dataclass
class TensorInfo:
    """One tensor of the main subgraph, decoded and checked."""

    index: int
    name: str
    shape: tuple[int, ...]
    type_name: str
    # quantization: scale/zero_point arrays (empty when absent), the channel axis
    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int
    buffer: int
    sparsity: Any  # SparsityParametersT or None

    @property
    def quantized(self) -> bool:
        return self.scale.size > 0


@dataclass
class TFLiteFile:
    """A parsed model: the object-API tree, its raw bytes and the checked main subgraph."""

    path: str
    data: bytes
    schema: ModuleType
    model: Any  # schema.ModelT
    subgraph: Any  # schema.SubGraphT (the first one: the model's entry point)
    tensors: list[TensorInfo]
    op_names: list[str]  # per operator: builtin name, or "CUSTOM:<code>"

    def buffer_bytes(self, t: TensorInfo) -> bytes | None:
        """The constant data of ``t`` (None for activations), bounds-checked."""
        if t.buffer == 0:
            return None
        buf = self.model.buffers[t.buffer]
        if buf.offset > 1:  # data stored after the flatbuffer (models over 2 GB)
            end = buf.offset + buf.size
            if end > len(self.data):
                raise TFLiteFormatError(
                    f"tensor {t.name!r}: buffer {t.buffer} points past the end of the file"
                )
            return self.data[buf.offset : end]
        if buf.data is None or len(buf.data) == 0:
            return None
        return bytes(np.asarray(buf.data, np.uint8))

    def value(self, t: TensorInfo) -> np.ndarray | None:
        """``t``'s constant values in its own dtype and shape (sparse ones densified)."""
        raw = self.buffer_bytes(t)
        if raw is None:
            return None
        dtype = np.dtype(_TENSOR_TYPES[_type_code(self.schema, t.type_name)][1])
        if len(raw) % dtype.itemsize:
            raise TFLiteFormatError(
                f"tensor {t.name!r}: {len(raw)} bytes is not a whole number of {t.type_name}"
            )
        flat = np.frombuffer(raw, dtype)
        if t.sparsity is not None:
            return densify(flat, t.shape, t.sparsity, t.name)
        count = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
        if flat.size != count:
            raise TFLiteFormatError(
                f"tensor {t.name!r}: buffer holds {flat.size} values, shape {list(t.shape)} "
                f"needs {count}"
            )
        return flat.reshape(t.shape).copy()


def _type_code(schema: ModuleType, type_name: str) -> int:
    for code, (name, _) in _TENSOR_TYPES.items():
        if name == type_name:
            return code
    raise TFLiteFormatError(f"unknown tensor type {type_name!r}")


def _enum_names(cls: Any) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _ints(a: Any) -> list[int]:
    return [] if a is None else [int(v) for v in np.asarray(a).ravel()]


def read_tflite(source: str | os.PathLike[str] | bytes, reader: str = "auto") -> TFLiteFile:
    """Parses and checks a ``.tflite`` file (a path or its bytes).

    ``reader``: ``"schema"`` (LiteRT's or TensorFlow's generated module),
    ``"builtin"`` (``tflite_reader``, no dependency) or ``"auto"`` (the schema
    module where one is installed, else the builtin reader).
    """
    if reader not in ("auto", "schema", "builtin"):
        raise ValueError(f"reader must be 'auto', 'schema' or 'builtin', got {reader!r}")
    schema: Any = None
    if reader != "builtin":
        try:
            schema = load_schema()
        except ImportError:
            if reader == "schema":
                raise
    if isinstance(source, (bytes, bytearray)):
        data, path = bytes(source), "<bytes>"
    else:
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such model file: {path!r}")
        with open(path, "rb") as f:
            data = f.read()
    if len(data) < 8:
        raise TFLiteFormatError(f"{path}: {len(data)} bytes is too short for a TFLite model")
    if data[4:8] != b"TFL3":
        raise TFLiteFormatError(
            f"{path}: not a TFLite model (file identifier {data[4:8]!r}, expected b'TFL3')"
        )
    try:
        if schema is None:
            from . import tflite_reader

            model, schema = tflite_reader.read_model(data), tflite_reader.SCHEMA
        else:
            model = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception as e:  # the generated code raises whatever a bad offset triggers
        raise TFLiteFormatError(
            f"{path}: corrupted or truncated TFLite flatbuffer ({type(e).__name__}: {e})"
        ) from None
    return _check(path, data, schema, model)


def _check(path: str, data: bytes, schema: ModuleType, model: Any) -> TFLiteFile:
    def bad(msg: str) -> TFLiteFormatError:
        return TFLiteFormatError(f"{path}: {msg}")

    if not model.subgraphs:
        raise bad("the model has no subgraph")
    sg = model.subgraphs[0]
    buffers = model.buffers or []
    codes = model.operatorCodes or []
    raw_tensors = sg.tensors or []
    tensors = []
    for i, t in enumerate(raw_tensors):
        name = (t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else t.name) or ""
        name = name or f"tensor_{i}"
        if t.type not in _TENSOR_TYPES:
            type_name = _enum_names(schema.TensorType).get(t.type, str(t.type))
        else:
            type_name = _TENSOR_TYPES[t.type][0]
        shape = tuple(_ints(t.shape))
        if len(shape) > MAX_RANK or any(d < 0 or d > 1 << 31 for d in shape):
            raise bad(f"tensor {name!r} has an invalid shape {list(shape)}")
        if not 0 <= t.buffer < max(len(buffers), 1):
            raise bad(f"tensor {name!r} refers to buffer {t.buffer}, the model has {len(buffers)}")
        q = t.quantization
        scale = np.asarray(q.scale if q is not None and q.scale is not None else [], np.float32)
        zp = np.asarray(
            q.zeroPoint if q is not None and q.zeroPoint is not None else [], np.int64
        ).ravel()
        qdim = int(q.quantizedDimension) if q is not None else 0
        if scale.size and (zp.size not in (0, scale.size)):
            raise bad(f"tensor {name!r}: {scale.size} scales but {zp.size} zero points")
        if scale.size > 1 and not (0 <= qdim < len(shape) and shape[qdim] == scale.size):
            raise bad(f"tensor {name!r}: {scale.size} scales along axis {qdim} of {list(shape)}")
        if scale.size and not np.any(scale):  # some writers leave an all-zero record
            scale, zp = scale[:0], zp[:0]
        if scale.size and not np.all(np.isfinite(scale) & (scale > 0)):
            raise bad(f"tensor {name!r}: quantization scales must be finite and > 0")
        if zp.size == 0 and scale.size:
            zp = np.zeros(scale.size, np.int64)
        tensors.append(TensorInfo(i, name, shape, type_name, scale, zp, qdim, t.buffer, t.sparsity))
    n = len(tensors)
    names = _enum_names(schema.BuiltinOperator)
    op_names = []
    for k, op in enumerate(sg.operators or []):
        if not 0 <= op.opcodeIndex < len(codes):
            raise bad(f"operator {k} uses opcode {op.opcodeIndex}, the model has {len(codes)}")
        for idx in _ints(op.inputs) + _ints(op.outputs):
            if not -1 <= idx < n:
                raise bad(f"operator {k} refers to tensor {idx}, the subgraph has {n}")
        if any(i < 0 for i in _ints(op.outputs)):
            raise bad(f"operator {k} has an absent output")
        code = codes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.customCode
            custom = custom.decode("utf-8", "replace") if isinstance(custom, bytes) else custom
            name = f"CUSTOM:{custom}"
        op_names.append(name)
    for idx in _ints(sg.inputs) + _ints(sg.outputs):
        if not 0 <= idx < n:
            raise bad(f"the subgraph's inputs/outputs refer to tensor {idx}, it has {n}")
    return TFLiteFile(path, data, schema, model, sg, tensors, op_names)


# ---------------------------------------------------------------------------
# Sparse constants (DENSIFY inputs)
# ---------------------------------------------------------------------------
def _index_vector(vec: Any, what: str, name: str) -> np.ndarray:
    values = getattr(vec, "values", None)
    if values is None:
        raise TFLiteFormatError(f"sparse tensor {name!r}: {what} is missing")
    return np.asarray(values, np.int64).ravel()


def densify(values: np.ndarray, shape: tuple[int, ...], sp: Any, name: str = "") -> np.ndarray:
    """Decodes a TFLite sparse tensor (``SparsityParameters``) into a dense array.

    The stored values are visited in traversal order, level by level: a DENSE
    level of size D expands each position ``p`` into ``p*D + i``; a SPARSE_CSR
    level expands ``p`` into the positions ``segments[p] .. segments[p+1]``,
    whose coordinates are ``indices[j]``. Block dimensions (``block_map``) add
    an inner coordinate to the original dimension they split. Every segment and
    index is bounds-checked, so a hostile file fails cleanly.
    """
    if int(np.prod(shape, dtype=np.float64)) > MAX_DENSE_ELEMENTS:
        raise TFLiteFormatError(f"sparse tensor {name!r}: shape {list(shape)} is implausibly large")
    order = _ints(sp.traversalOrder)
    block_map = _ints(sp.blockMap)
    meta = sp.dimMetadata or []
    rank = len(shape)
    levels = rank + len(block_map)
    if sorted(order) != list(range(levels)) or len(meta) != levels:
        raise TFLiteFormatError(f"sparse tensor {name!r}: inconsistent traversal order")
    if any(not 0 <= b < rank for b in block_map):
        raise TFLiteFormatError(f"sparse tensor {name!r}: block map out of range")
    block = [1] * rank
    for j, b in enumerate(block_map):
        level = order.index(rank + j)
        block[b] = int(meta[level].denseSize)
        if block[b] < 1 or shape[b] % block[b]:
            raise TFLiteFormatError(f"sparse tensor {name!r}: bad block size {block[b]}")
    dims = [shape[d] // block[d] for d in range(rank)] + [block[b] for b in block_map]
    pos = np.zeros(1, np.int64)
    coords = np.zeros((1, levels), np.int64)
    for level, d in enumerate(order):
        m = meta[level]
        if int(m.format) == 0:  # DENSE
            size = int(m.denseSize)
            if size != dims[d]:
                raise TFLiteFormatError(
                    f"sparse tensor {name!r}: dense size {size} != dimension {dims[d]}"
                )
            pos = (pos[:, None] * size + np.arange(size)).ravel()
            coords = np.repeat(coords, size, axis=0)
            coords[:, d] = np.tile(np.arange(size), coords.shape[0] // max(size, 1))
        else:  # SPARSE_CSR
            seg = _index_vector(m.arraySegments, "array_segments", name)
            idx = _index_vector(m.arrayIndices, "array_indices", name)
            if pos.size and (pos.max() + 1 >= seg.size):
                raise TFLiteFormatError(f"sparse tensor {name!r}: segments too short")
            lo, hi = seg[pos], seg[pos + 1]
            if np.any(hi < lo) or (hi.size and (lo.min() < 0 or hi.max() > idx.size)):
                raise TFLiteFormatError(f"sparse tensor {name!r}: segments out of range")
            counts = hi - lo
            total = int(counts.sum())
            starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
            child = starts + np.arange(total)
            coords = np.repeat(coords, counts, axis=0)
            coords[:, d] = idx[child]
            if np.any(coords[:, d] < 0) or np.any(coords[:, d] >= dims[d]):
                raise TFLiteFormatError(f"sparse tensor {name!r}: index out of range")
            pos = child
    if pos.size and pos.max() >= values.size:
        raise TFLiteFormatError(
            f"sparse tensor {name!r}: {values.size} stored values, the encoding needs more"
        )
    full = coords[:, :rank].copy()
    for j, b in enumerate(block_map):
        full[:, b] = full[:, b] * block[b] + coords[:, rank + j]
    out = np.zeros(shape, values.dtype)
    if full.size:
        out[tuple(full.T)] = values[pos]
    return out
