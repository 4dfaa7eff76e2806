"""IR graph + gears -> ``.gear`` file, exactly as docs/FORMAT.md (1.7) lays it out.

File layout written here: header (64 B), section table (up to 3 x 32 B), zero
padding, section 0 = MANIFEST (JSON), zero padding, then (1.6, when there are
any) the PARAMS section with the binary per-channel scales, zero points and
activation parameters the manifest references (:func:`binary_params`), zero
padding, and the TENSOR_DATA section (every storage payload at an offset that
is a multiple of 64). The file ends
right after the last payload. Identical storage entries (same description
and bytes) are stored once; which entries each gear reads is
:func:`_plan_storage`'s business (compact: int8 + a 4- or 8-bit residual shared
by all gears; exact: float32 kept bit for bit; int8 weights with zeros in the
smallest of dense/bitmap/csr/2:4). The header says the lowest minor version
that expresses the file (:func:`_minor`).

Writing is atomic: the bytes go to a temporary file in the destination
folder, which is flushed, fsynced and ``os.replace``-d over the destination.
Any failure, including KeyboardInterrupt, removes the temporary file and
leaves a pre-existing destination untouched.

The struct packing is deliberately written out here rather than shared with
``gearshift.gear_format`` (the reader), so the round-trip tests compare two
independent implementations of the spec. Only the CRC function is shared.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from ..gear_codec import Q4M_BLOCK, pack_residuals
from ..gear_codec import residual as residual_of
from ..gear_format import fast_crc32c
from ..sparse_codec import (
    SPARSE_ENCODINGS,
    choose_encoding,
    encode_sparse,
    q8r4_sparse_residual,
)
from .dtypes import GEARS as DTYPE_GEARS
from .ir import FORMAT_13_OPS, Graph, Node
from .quant_ref import QParams, quantize_f16, quantize_weights_q8
from .quantize import QuantPlan

__all__ = [
    "GEARS",
    "StorageEntry",
    "WriteResult",
    "binary_params",
    "build_manifest",
    "repack",
    "write_gear",
]

FORMAT_MAJOR, FORMAT_MINOR = 1, 7
ALIGNMENT = 64
KIND_MANIFEST, KIND_TENSOR_DATA, KIND_PARAMS = 1, 2, 3
_HEADER = struct.Struct("<4sHHIIQQII24s")  # FileHeader, FORMAT.md 2.1
_SECTION = struct.Struct("<IIQQII")  # SectionEntry, FORMAT.md 2.2
_HEADER_SIZE, _SECTION_SIZE = 64, 32

# User-facing gear name -> compute token (converters/dtypes.py is the table).
GEARS = {name: spec.token for name, spec in DTYPE_GEARS.items()}
# Weight tensors smaller than this get an 8-bit residual (q8r8, 2 bytes a
# weight with the int8 base) in compact files, larger ones a 4-bit one (q8r4,
# 1.5 bytes): small layers such as the first ones amplify weight error the
# most, and they cost little. Measured on the digits CNN, whose layers are all
# small: compact fp32 error vs Keras 1.6e-3 with every layer q8r4 (half of it
# from the first conv's 144 weights), 1.1e-3 with only its 9,216-weight conv
# q8r4; the target is 1e-3. An 8-bit residual is 16 times finer.
COMPACT_MIN_ELEMENTS = 16384
_WEIGHT_AXIS = {"CONV_2D": 0, "FULLY_CONNECTED": 0, "DEPTHWISE_CONV_2D": 3, "TRANSPOSE_CONV": 0}


def _align(x: int, a: int = ALIGNMENT) -> int:
    return x + (a - x % a) % a


def _producer() -> str:
    try:
        from .. import __version__
    except ImportError:  # the package __init__ is still being written
        __version__ = "0.3.0"
    return f"gearshift {__version__}"


@dataclass(eq=False)
class StorageEntry:
    """One storage entry (FORMAT.md "Storage"): a payload, or a derivation of ``base``."""

    dtype: str  # f32, f16, i8, i32
    shape: tuple[int, ...]
    encoding: str = "dense"  # dense, q8r4, q4m, bitmap, csr, 2:4
    data: np.ndarray | None = None  # the payload bytes' array, little-endian; None for q4m
    base: StorageEntry | None = None
    block: int = 0
    quant: dict[str, Any] | None = None
    offset: int = 0
    index: int = -1
    tensors: list[str] = field(default_factory=list)
    nnz: int | None = None  # sparse encodings only: stored non-zeros
    # An i8 weight entry's dense values and, when sparse, its stored slots (flat indices in
    # payload order): what a q8r4 residual over it is computed from. Not written.
    values: np.ndarray | None = field(default=None, repr=False)
    slots: np.ndarray | None = field(default=None, repr=False)

    @property
    def length(self) -> int:
        return 0 if self.data is None else int(self.data.nbytes)

    def key(self) -> tuple[Any, ...]:
        """Identity for deduplication: same description and same bytes."""
        digest = (
            b""
            if self.data is None
            else hashlib.blake2b(self.data.tobytes(), digest_size=32).digest()
        )
        base = None if self.base is None else id(self.base)
        quant = json.dumps(self.quant, sort_keys=True)
        return (self.dtype, self.shape, self.encoding, base, self.block, quant, self.nnz, digest)


@dataclass
class WriteResult:
    """What was written: sizes for the conversion report."""

    path: str
    file_bytes: int
    manifest_bytes: int
    data_bytes: int
    gear_bytes: dict[str, int]  # bytes of the storage each gear reads (bases included)
    tensor_bytes: dict[str, int]  # constant tensor -> bytes it takes in the file (all gears)
    storage_entries: int
    deduplicated: int  # entries that share another's payload
    params_bytes: int = 0  # the PARAMS section (1.6), 0 when the file has none


def _jsonable(v: Any) -> Any:
    """attrs as plain JSON values: numpy scalars -> Python, tuples -> lists."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, str):
        return v
    raise TypeError(f"attribute value {v!r} of type {type(v).__name__} is not JSON-serialisable")


def _tensor_order(graph: Graph) -> list[str]:
    """Graph inputs, then tensors in the order the nodes first mention them."""
    order: dict[str, None] = dict.fromkeys(graph.inputs)
    for n in graph.nodes:
        order.update((t, None) for t in n.inputs if t is not None)
        order.update((t, None) for t in n.outputs)
    order.update((t, None) for t in graph.outputs)
    return list(order)


def _quant_json(qp: QParams, with_zero_point: bool = True) -> dict[str, Any]:
    """A QParams as FORMAT.md's ``quant`` object (float32 scales written exactly)."""
    scales = np.atleast_1d(np.asarray(qp.scale, np.float32))
    out: dict[str, Any] = {
        "axis": qp.axis,
        "scale": [float(x) for x in scales],
    }
    zps = np.atleast_1d(np.asarray(qp.zero_point, np.int64))
    if with_zero_point and np.any(zps != 0):
        out["zero_point"] = [int(z) for z in zps]
    return out


class _Planner:
    """Collects storage entries, sharing identical ones."""

    def __init__(self) -> None:
        self.entries: list[StorageEntry] = []
        self.by_key: dict[tuple[Any, ...], StorageEntry] = {}
        self.shared = 0

    def add(self, e: StorageEntry, tensor: str) -> StorageEntry:
        found = self.by_key.get(e.key())
        if found is None:
            self.by_key[e.key()] = e
            self.entries.append(e)
            found = e
        elif tensor not in found.tensors:
            self.shared += 1
        if tensor not in found.tensors:
            found.tensors.append(tensor)
        return found


def _weight_roles(graph: Graph) -> dict[str, tuple[str, int]]:
    """Constant tensor -> (op, input position) of its first consumer."""
    roles: dict[str, tuple[str, int]] = {}
    for n in graph.nodes:
        for i, t in enumerate(n.inputs):
            if t is not None and graph.tensors[t].is_const:
                roles.setdefault(t, (n.op, i))
    return roles


def _lift_midpoints(w: np.ndarray, q: np.ndarray, scale: np.ndarray, axis: int) -> np.ndarray:
    """Under a q8r4 residual, rounds up the int8 values just below a rounding midpoint
    (files without an integer gear only: it would change the int8 gear).

    The residual's 16 levels reach -8/16 but only +7/16 of a step: a weight
    with ``w / s - q > 15/32`` would be clamped to ``q + 7/16`` (error up to
    ``s / 16``). Storing ``q + 1`` with residual -8 gives the same value
    ``q + 1/2`` exactly, so every float-gear weight is within ``s / 32``; the
    int8 gear's value for those weights (about 3%) moves by under 0.53 of a
    step instead of 0.5. Measured on the digits CNN: compact fp32 error vs
    Keras on its test split 1.2e-3 before.
    """
    shape = [1] * w.ndim
    shape[axis] = scale.size
    d = w.astype(np.float64) / scale.astype(np.float64).reshape(shape) - q
    lift = (np.floor(np.abs(16.0 * d) + 0.5) * np.sign(d) >= 8) & (q < 127)
    return np.ascontiguousarray(np.where(lift, q + 1, q), "i1")


def _int8_base(
    p: _Planner,
    name: str,
    f32: np.ndarray,
    axis: int,
    qplan: QuantPlan | None,
    op: str = "",
    residual_bits: int = 0,
    lift: bool = False,
    values: np.ndarray | None = None,
) -> StorageEntry:
    """The i8 entry of a conv/dense weight: the int8 gear's, and the compact base.

    ``residual_bits``: 4 or 8 where a float gear reads a q8r4 / q8r8 residual over it.
    ``lift`` (a q8r4 residual over a base that no integer gear reads):
    :func:`_lift_midpoints`. A file with an int8/int4 gear keeps nearest
    rounding, so its integer gears equal an exact file's.

    Int8 values with zeros go in the smallest of dense/bitmap/csr/2:4
    (``sparse_codec.choose_encoding``, counting the residual the float gears
    add). A sparse base drops the residual of every value it does not store,
    so under a residual it is used only when those residuals are all 0
    (pruned weights are exact zeros): the float gears' values stay bit for bit
    what a dense base gives, else the base stays dense.

    ``values``: other int8 values at the same scales (an int4 gear's own, on the q4m
    grid: ``QuantPlan.q4_weights``).
    """
    if qplan is not None and name in qplan.weights:
        q, qp = qplan.weights[name]
        if values is not None:  # the int4 gear's own values, at the int8 gear's scales
            q = values
    else:
        q, qp = quantize_weights_q8(f32, axis)
    q = np.ascontiguousarray(q, "i1")
    if residual_bits == 4 and lift:
        q = _lift_midpoints(f32, q, np.asarray(qp.scale, np.float32), axis)
    quant = _quant_json(qp, False)
    entry = StorageEntry("i8", f32.shape, data=q, quant=quant, values=q)
    if np.any(q == 0):
        enc = choose_encoding(q, axis, op, residual_bits=residual_bits)
        if enc != "dense":
            sp = encode_sparse(q, axis, enc)
            lost = np.ones(q.size, bool)
            lost[sp.slots] = False
            scale = np.asarray(quant["scale"], np.float32)
            if not residual_bits or not np.any(
                residual_of(f32, q, scale, axis, residual_bits).ravel()[lost]
            ):
                entry = StorageEntry(
                    "i8", f32.shape, enc, sp.payload, quant=quant, nnz=sp.nnz, values=q
                )
                entry.slots = sp.slots
    return p.add(entry, name)


def _residual_entry(f32: np.ndarray, b: StorageEntry, axis: int, bits: int) -> StorageEntry:
    """The compact float entry over int8 base ``b``: one residual nibble (q8r4) or byte
    (q8r8) per stored value. An 8-bit residual whose every value is a multiple of 16 is
    written as the 4-bit one with the same values (r / 256 == (r / 16) / 16 exactly):
    weights that are already int8 values times their scale (an imported int8 model's)
    cost half a byte a weight, not one."""
    q = np.asarray(b.values, np.int8)
    scale = np.asarray(b.quant["scale"], np.float32)  # type: ignore[index]
    if b.slots is None:
        r = residual_of(f32, q, scale, axis, bits)
    else:
        r = q8r4_sparse_residual(f32, q, scale, axis, b.slots, bits)
    if bits == 8 and not np.any(r % 16):
        r, bits = (r // 16).astype(np.int8), 4
    return StorageEntry("f32", f32.shape, f"q8r{bits}", pack_residuals(r, bits), base=b)


def residual_weights(graph: Graph) -> set[str]:
    """The weights a compact file with a float gear stores with a residual (q8r4 or
    q8r8) unless ``keep_f32`` names them: every conv/depthwise/dense weight."""
    roles = _weight_roles(graph)
    return {
        name
        for name, (op, pos) in roles.items()
        if op in _WEIGHT_AXIS and pos == 1 and graph.tensors[name].data is not None
    }


def q8r4_weights(graph: Graph) -> set[str]:
    """The weights a compact file with a float gear stores as ``q8r4`` (before ``keep_r8``
    and ``keep_f32``): those of at least COMPACT_MIN_ELEMENTS values."""
    return {
        name
        for name in residual_weights(graph)
        if graph.tensors[name].data.size >= COMPACT_MIN_ELEMENTS  # type: ignore[union-attr]
    }


def int4_int8_layers(graph: Graph) -> set[str]:
    """Weights the int4 gears keep at int8: those of the layers reading a graph input.

    The first layer sees the raw input and its few weights amplify error the
    most. Measured on the digits CNN (30 epochs, fp32 98.4%): int4 weights
    everywhere 93.6%, with the first conv at int8 98.7% (QUANTIZATION.md).
    """
    inputs = set(graph.inputs)
    return {
        n.inputs[1]
        for n in graph.nodes
        if n.op in _WEIGHT_AXIS and n.inputs[0] in inputs and n.inputs[1] is not None
    }


def _plan_storage(
    graph: Graph,
    names: list[str],
    gears: tuple[str, ...],
    storage: str,
    qplan: QuantPlan | None,
    keep_f32: Collection[str] = (),
    island_consts: Collection[str] = (),
    island_data: Mapping[str, np.ndarray] | None = None,
    keep_r8: Collection[str] = (),
) -> tuple[list[StorageEntry], dict[str, dict[str, StorageEntry]], int]:
    """Storage entries and, per gear, tensor -> entry. See FORMAT.md "Storage".

    ``keep_f32``: weights that stay dense float32 in a compact file, ``keep_r8``: large
    weights that get an 8-bit residual instead of a 4-bit one (both chosen by their
    measured effect on the outputs, ``compact_refine``).
    ``island_consts``: constants of float island nodes (FORMAT.md 1.5): the integer gears
    read them as the fp32 gear does (the same entry: no extra bytes when it is written),
    or, where ``island_data`` has their values (an equalized copy's), as dense float32 of
    their own.

    Float gears (fp32, fp16) read conv/dense weights as ``q8r4`` in compact mode (int8 plus a
    4-bit residual: 1.5 bytes a weight, shared with the int8 gear's values), as ``q8r8`` (an
    8-bit residual, 2 bytes a weight) for tensors under COMPACT_MIN_ELEMENTS weights or in
    ``keep_r8``, and as dense f32 in exact mode, when fp32 is the only gear, or in ``keep_f32``;
    fp16 reads the same entry (the runtime rounds to half), except in an exact file without
    fp32, where it gets its own f16 payload. The int4 gear reads the ``q4m`` view of the int8
    values: no payload; where ``qplan.q4_weights`` holds its own values (``weight_rounding``)
    it reads the view of a base of its own (one byte a weight). An int8 weight base with zeros
    is stored sparse where that is smaller (:func:`_int8_base`). A ``<gear>-sparse`` gear
    reads exactly what its dense counterpart reads; only its ``sparse`` flag differs
    (FORMAT.md "Gears").
    """
    tokens = [GEARS[g] for g in gears]
    integer = any(t in ("q8", "q4") for t in tokens)
    if integer and qplan is None:
        raise ValueError("the int8/int4 gears need a QuantPlan (calibrated parameters)")
    exact = storage == "exact" or tuple(gears) == ("fp32",)
    # whether the compact float gears put a q8r4 residual over the int8 weight bases
    residual = not exact and any(t in ("f32", "f16") for t in tokens)
    # rounding up near-midpoints helps the float gears but would move int8 values
    lift = residual and not integer
    sparse_gears = any(DTYPE_GEARS[g].sparse for g in gears)
    roles = _weight_roles(graph)
    keep_int8 = int4_int8_layers(graph) | (qplan.q4_int8 if qplan is not None else set())
    p = _Planner()
    per_gear: dict[str, dict[str, StorageEntry]] = {g: {} for g in gears}
    for name in names:
        t = graph.tensors[name]
        if t.data is None:
            continue
        f32 = np.ascontiguousarray(t.data, dtype="<f4")
        op, pos = roles.get(name, ("", -1))
        is_weight = op in _WEIGHT_AXIS and pos == 1
        # the residual's width in compact files (see COMPACT_MIN_ELEMENTS); 0: dense float32
        bits = 0
        if is_weight and not exact and name not in keep_f32:
            bits = 4 if f32.size >= COMPACT_MIN_ELEMENTS and name not in keep_r8 else 8
        base: StorageEntry | None = None
        float_entry: StorageEntry | None = None
        own = None if island_data is None else island_data.get(name)
        for g, tok in zip(gears, tokens):
            if own is not None and name in island_consts and tok not in ("f32", "f16"):
                values = np.ascontiguousarray(own, dtype="<f4")
                per_gear[g][name] = p.add(StorageEntry("f32", values.shape, data=values), name)
                continue
            if tok in ("f32", "f16") or name in island_consts:
                if name in island_consts and tok not in ("f32", "f16"):
                    tok = "f32"  # an island computes as the f32 gear does
                if float_entry is None:
                    if bits:
                        b = base = base or _int8_base(
                            p, name, f32, _WEIGHT_AXIS[op], qplan, op, bits if residual else 0, lift
                        )
                        float_entry = p.add(_residual_entry(f32, b, _WEIGHT_AXIS[op], bits), name)
                    elif tok == "f16" and "fp32" not in gears:
                        f16 = np.ascontiguousarray(quantize_f16(f32), "<f2")
                        float_entry = p.add(StorageEntry("f16", f32.shape, data=f16), name)
                    else:
                        float_entry = p.add(StorageEntry("f32", f32.shape, data=f32), name)
                per_gear[g][name] = float_entry
                continue
            assert qplan is not None
            if is_weight:
                own4 = qplan.q4_weights.get(name) if tok == "q4" else None
                if own4 is not None and name not in keep_int8:
                    # the int4 gear's own rounding (weight_rounding): a base of its own
                    b = _int8_base(p, name, f32, _WEIGHT_AXIS[op], qplan, op, values=own4)
                else:
                    b = base = base or _int8_base(
                        p, name, f32, _WEIGHT_AXIS[op], qplan, op, bits if residual else 0, lift
                    )
                    if sparse_gears and residual and bits and b.encoding == "dense":
                        # The float gears' residual kept the shared base dense (it has
                        # int8 zeros that are not zero weights): the integer gears read a
                        # sparse twin of the same values, so a sparse gear stays sparse.
                        b = _int8_base(p, name, f32, _WEIGHT_AXIS[op], qplan, op)
                if tok == "q8" or name in keep_int8:
                    per_gear[g][name] = b
                else:
                    per_gear[g][name] = p.add(
                        StorageEntry(
                            "i8", f32.shape, "q4m", base=b, block=Q4M_BLOCK, quant=b.quant
                        ),
                        name,
                    )
            elif name in qplan.biases:
                own_b = qplan.q4_biases.get(name) if tok == "q4" else None
                q, qp = own_b if own_b is not None else qplan.biases[name]
                per_gear[g][name] = p.add(
                    StorageEntry(
                        "i32",
                        f32.shape,
                        data=np.ascontiguousarray(q, "<i4"),
                        quant=_quant_json(qp, with_zero_point=False),
                    ),
                    name,
                )
            else:
                q, qp = qplan.others[name]
                per_gear[g][name] = p.add(
                    StorageEntry(
                        "i8", f32.shape, data=np.ascontiguousarray(q, "i1"), quant=_quant_json(qp)
                    ),
                    name,
                )
    offset = 0
    for i, e in enumerate(p.entries):
        e.index = i
        if e.data is not None:
            e.offset = offset
            offset = _align(offset + e.length)
    return p.entries, per_gear, p.shared


def _storage_json(e: StorageEntry) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if e.data is not None:
        out.update(section=1, offset=e.offset, length=e.length)
    out.update(dtype=e.dtype, shape=list(e.shape), encoding=e.encoding)
    if e.nnz is not None:
        out["nnz"] = e.nnz
    if e.base is not None:
        out["base"] = e.base.index
    if e.encoding == "q4m":
        out["block"] = e.block
    if e.quant is not None:
        out["quant"] = e.quant
    return out


def _minor(manifest: dict[str, Any], params: bytes = b"") -> int:
    """The lowest minor that expresses the file: 1.0 readers keep reading fp32-only files,
    1.1 readers every file without sparse storage or a sparse gear, 1.2 readers every file
    without a 1.3 op or a PAD ``value``, 1.3 readers every file without an ``io``, 1.5
    readers every file without a PARAMS section (``params``: its bytes), 1.6 readers every
    file without a ``q8r8`` entry."""
    if any(s["encoding"] == "q8r8" for s in manifest["storage"]):
        return 7
    if params:
        return 6
    if any("float_nodes" in g for g in manifest["gears"]):
        return 5
    if any("io" in t for t in manifest["tensors"]):
        return 4
    if any(
        n["op"] in FORMAT_13_OPS or (n["op"] == "PAD" and "value" in n.get("attrs", {}))
        for n in manifest["nodes"]
    ):
        return 3
    if any(s["encoding"] in SPARSE_ENCODINGS for s in manifest["storage"]) or any(
        g.get("sparse") for g in manifest["gears"]
    ):
        return 2
    plain = all(s["dtype"] == "f32" and s["encoding"] == "dense" for s in manifest["storage"])
    return 0 if plain and all(g["compute"] == "f32" for g in manifest["gears"]) else 1


def binary_params(manifest: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The manifest with its parameter arrays moved to a PARAMS section (FORMAT.md 2.4).

    Returns a copy of ``manifest`` in which every ``quant.scale`` / ``quant.zero_point``
    of two or more values and every gear's ``activations`` is a params reference
    ``{"offset", "count"}``, and the section's bytes (little-endian float32 / int32 /
    12-byte records). One-element arrays stay JSON (a reference would be longer).
    Identical arrays are stored once. ``manifest`` itself is not modified."""
    out = json.loads(json.dumps(manifest))
    buf = bytearray()
    seen: dict[bytes, int] = {}

    def ref(raw: bytes, count: int) -> dict[str, int]:
        off = seen.get(raw)
        if off is None:
            off = seen[raw] = len(buf)
            buf.extend(raw)  # every element is 4 or 12 bytes: offsets stay multiples of 4
        return {"offset": off, "count": count}

    for entry in out["storage"]:
        q = entry.get("quant")
        if not q:
            continue
        if len(q["scale"]) > 1:
            q["scale"] = ref(np.asarray(q["scale"], "<f4").tobytes(), len(q["scale"]))
        zp = q.get("zero_point")
        if zp is not None and len(zp) > 1:
            q["zero_point"] = ref(np.asarray(zp, "<i4").tobytes(), len(zp))
    rec = np.dtype([("t", "<i4"), ("s", "<f4"), ("z", "<i4")])
    for g in out["gears"]:
        acts = g.get("activations")
        if acts:
            raw = np.array([tuple(a) for a in acts], rec).tobytes()
            g["activations"] = ref(raw, len(acts))
    if not buf:
        return manifest, b""
    return out, bytes(buf)


def island_plan(graph: Graph, float_nodes: Collection[str]) -> tuple[list[int], set[str]]:
    """The float island nodes' indices (graph order) and the constants they read.

    Raises ``ValueError`` naming an unknown node, or a constant that a float node and an
    integer node both read (FORMAT.md 1.5: a constant belongs to one side)."""
    wanted = set(float_nodes)
    known = {n.name for n in graph.nodes}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(f"float_layers: no node named {unknown[:5]} in the graph")
    idx = [k for k, n in enumerate(graph.nodes) if n.name in wanted]
    consts: set[str] = set()
    int_reads: dict[str, str] = {}
    for n in graph.nodes:
        for t in n.inputs:
            if t is None or graph.tensors[t].data is None:
                continue
            if n.name in wanted:
                consts.add(t)
            else:
                int_reads.setdefault(t, n.name)
    both = sorted(consts & set(int_reads))
    if both:
        raise ValueError(
            f"float_layers: constant {both[0]!r} is read by float node(s) and by integer node "
            f"{int_reads[both[0]]!r}; put both in float or neither"
        )
    return idx, consts


def _gear_bytes(entries: dict[str, StorageEntry]) -> int:
    seen: dict[int, int] = {}
    for e in entries.values():
        seen[e.index] = e.length
        if e.base is not None:
            seen[e.base.index] = e.base.length
    return sum(seen.values())


def build_manifest(
    graph: Graph,
    gears: tuple[str, ...] = ("fp32",),
    metadata: dict[str, str] | None = None,
    storage: str = "compact",
    qplan: QuantPlan | None = None,
    keep_f32: Collection[str] = (),
    float_nodes: Collection[str] = (),
    island_data: Mapping[str, np.ndarray] | None = None,
    keep_r8: Collection[str] = (),
) -> tuple[dict[str, Any], list[StorageEntry], dict[str, dict[str, StorageEntry]], int]:
    """The manifest dict, the storage entries, per gear tensor -> entry, and the shared count.

    ``float_nodes``: names of the nodes the integer gears compute in float32 (float islands,
    FORMAT.md 1.5; those gears are written ``q8+f32`` / ``q4+f32``)."""
    graph.validate(format_only=True)
    unknown = [g for g in gears if g not in GEARS]
    if unknown or not gears or len(set(gears)) != len(gears):
        raise ValueError(f"gears must be distinct names from {list(GEARS)}, got {list(gears)}")
    if storage not in ("compact", "exact"):
        raise ValueError(f"storage must be 'compact' or 'exact', got {storage!r}")
    gears = tuple(sorted(gears, key=lambda g: DTYPE_GEARS[g].rank))
    names = _tensor_order(graph)
    index = {name: i for i, name in enumerate(names)}
    island_nodes, island_consts = island_plan(graph, float_nodes)
    entries, per_gear, shared = _plan_storage(
        graph, names, gears, storage, qplan, keep_f32, island_consts, island_data, keep_r8
    )

    def node_json(n: Node) -> dict[str, Any]:
        return {
            "name": n.name,
            "op": n.op,
            "inputs": [-1 if t is None else index[t] for t in n.inputs],
            "outputs": [index[t] for t in n.outputs],
            "attrs": _jsonable(n.attrs),
        }

    tensors = []
    interface = set(graph.inputs) | set(graph.outputs)
    for name in names:
        t = graph.tensors[name]
        entry: dict[str, Any] = {"name": name, "shape": list(t.shape), "dtype": t.dtype}
        if t.is_const:
            entry["const"] = True
        io = graph.io.get(name)
        if io is not None and name in interface:  # 1.4: the source's integer interface
            entry["io"] = {
                "dtype": io.dtype,
                "scale": float(np.float32(io.scale)),
                "zero_point": int(io.zero_point),
            }
        tensors.append(entry)

    def gear_json(g: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": g,
            "compute": GEARS[g],
            "constants": [[index[t], per_gear[g][t].index] for t in names if t in per_gear[g]],
        }
        if DTYPE_GEARS[g].sparse:
            out["sparse"] = True
        if GEARS[g] in ("q8", "q4") and island_nodes:
            out["compute"] = GEARS[g] + "+f32"
            out["float_nodes"] = island_nodes
        if GEARS[g] in ("q8", "q4"):
            assert qplan is not None
            out["activations"] = [
                [index[t], float(np.float32(qp.scale)), int(qp.zero_point)]
                for t in names
                if (qp := qplan.activations.get(t)) is not None
            ]
        return out

    meta = {**graph.metadata, **(metadata or {})}
    manifest = {
        "producer": _producer(),
        "metadata": {str(k): str(v) for k, v in meta.items()},
        "tensors": tensors,
        "inputs": [index[t] for t in graph.inputs],
        "outputs": [index[t] for t in graph.outputs],
        "nodes": [node_json(n) for n in graph.nodes],
        "storage": [_storage_json(e) for e in entries],
        "gears": [gear_json(g) for g in gears],
    }
    return manifest, entries, per_gear, shared


def _write_data(f: IO[bytes], storage: list[StorageEntry]) -> tuple[int, int]:
    """Writes the TENSOR_DATA payloads with zero padding; returns ``(size, crc)``."""
    crc, pos = 0, 0
    for e in storage:
        if e.data is None:
            continue
        pad = e.offset - pos
        if pad:
            zeros = bytes(pad)
            f.write(zeros)
            crc = fast_crc32c(zeros, crc)
        buf = memoryview(e.data).cast("B")
        f.write(buf)
        crc = fast_crc32c(buf, crc)
        pos = e.offset + e.length
    return pos, crc


def _write_file(
    f: IO[bytes],
    manifest_bytes: bytes,
    storage: list[StorageEntry],
    minor: int = FORMAT_MINOR,
    params: bytes = b"",
    raw_data: bytes | memoryview | None = None,
) -> tuple[int, int]:
    """Writes the whole file into ``f``; returns ``(file_size, data_size)``.

    The TENSOR_DATA section is always the last one: its index is ``1`` without
    ``params`` and ``2`` with (the manifest's storage entries say which).
    ``raw_data``: the TENSOR_DATA payload as bytes (:func:`repack`) instead of
    ``storage``'s entries."""
    storage = [e for e in storage if e.data is not None]
    has_data = bool(raw_data) if raw_data is not None else bool(storage)
    count = 1 + bool(params) + has_data
    table_end = _HEADER_SIZE + count * _SECTION_SIZE
    manifest_off = _align(table_end)
    f.write(bytes(manifest_off))  # header + table + padding, filled in at the end
    f.write(manifest_bytes)
    sections = [(KIND_MANIFEST, manifest_off, len(manifest_bytes), fast_crc32c(manifest_bytes))]
    end = manifest_off + len(manifest_bytes)
    if params:
        params_off = _align(end)
        f.write(bytes(params_off - end))
        f.write(params)
        sections.append((KIND_PARAMS, params_off, len(params), fast_crc32c(params)))
        end = params_off + len(params)
    data_size = 0
    if has_data:
        data_off = _align(end)
        f.write(bytes(data_off - end))
        if raw_data is not None:
            f.write(raw_data)
            data_size, data_crc = len(raw_data), fast_crc32c(raw_data)
        else:
            data_size, data_crc = _write_data(f, storage)
        sections.append((KIND_TENSOR_DATA, data_off, data_size, data_crc))
        end = data_off + data_size
    table = b"".join(_SECTION.pack(k, 0, off, size, crc, 0) for k, off, size, crc in sections)

    def header(crc: int) -> bytes:
        return _HEADER.pack(
            b"GEAR", FORMAT_MAJOR, minor, ALIGNMENT, count, end, _HEADER_SIZE, crc, 0, b""
        )

    header_crc = fast_crc32c(table, fast_crc32c(header(0)))
    f.seek(0)
    f.write(header(header_crc))
    f.write(table)
    f.seek(end)
    return end, data_size


def write_gear(
    graph: Graph,
    path: str | os.PathLike[str],
    gears: tuple[str, ...] = ("fp32",),
    metadata: dict[str, str] | None = None,
    storage: str = "compact",
    qplan: QuantPlan | None = None,
    keep_f32: Collection[str] = (),
    float_nodes: Collection[str] = (),
    island_data: Mapping[str, np.ndarray] | None = None,
    binary: bool = True,
    keep_r8: Collection[str] = (),
) -> WriteResult:
    """Writes ``graph`` with ``gears`` to ``path`` atomically; see the module docstring.

    ``qplan`` (from ``quantize.quantize_graph``) is required for int8/int4.
    ``keep_f32``: weights a compact file stores as dense float32 anyway; ``keep_r8``: large
    weights it stores with an 8-bit residual (q8r8) instead of a 4-bit one.
    ``float_nodes``: nodes the integer gears compute in float32 (FORMAT.md 1.5);
    ``island_data``: their constants' float values where they differ from ``graph``'s (the
    equalized copy the integer gears were quantized from).
    ``binary``: store per-channel scales, zero points and activation parameters in a
    PARAMS section (format 1.6, :func:`binary_params`); ``False`` writes them as JSON
    arrays, a file that 1.5 readers read (same values, same results).
    """
    manifest, entries, per_gear, shared = build_manifest(
        graph, tuple(gears), metadata, storage, qplan, keep_f32, float_nodes, island_data, keep_r8
    )
    params = b""
    if binary:
        manifest, params = binary_params(manifest)
        if params:  # TENSOR_DATA moves from section 1 to section 2
            for s in manifest["storage"]:
                if "section" in s:
                    s["section"] = 2
    manifest_bytes = json.dumps(
        manifest, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"output folder does not exist: {folder!r}")
    if os.path.isdir(path):
        raise ValueError(f"output path is a directory: {path!r}")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            file_size, data_size = _write_file(
                f, manifest_bytes, entries, _minor(manifest, params), params
            )
            f.flush()
            os.fsync(f.fileno())
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)
    tensor_bytes: dict[str, int] = {}
    for e in entries:
        for t in e.tensors[:1]:  # a shared payload counts for its first tensor
            tensor_bytes[t] = tensor_bytes.get(t, 0) + e.length
    return WriteResult(
        path=path,
        file_bytes=file_size,
        manifest_bytes=len(manifest_bytes),
        data_bytes=data_size,
        gear_bytes={g: _gear_bytes(per_gear[g]) for g in per_gear},
        tensor_bytes=tensor_bytes,
        storage_entries=len(entries),
        deduplicated=shared,
        params_bytes=len(params),
    )


def repack(
    source: str | os.PathLike[str], path: str | os.PathLike[str], binary: bool = False
) -> int:
    """Rewrites a ``.gear`` file with its parameters in the other form; returns the size.

    ``binary=False`` moves a 1.6 file's PARAMS values back into JSON arrays: the same
    model, gears and weights (the TENSOR_DATA bytes are copied as they are), readable by
    1.5 readers, and marked with the lowest minor that expresses it. ``binary=True``
    does the opposite. Files with optional sections (1024..65535) are refused: they
    would be dropped. The source is validated by :func:`gearshift.gear_format.read_gear`.
    """
    from ..gear_format import SECTION_MANIFEST, SECTION_PARAMS, SECTION_TENSOR_DATA, read_gear

    gf = read_gear(source)  # expands params references into JSON arrays
    data_sections = [s for s in gf.sections if s.kind == SECTION_TENSOR_DATA]
    other = [s for s in gf.sections if s.kind not in (SECTION_MANIFEST, SECTION_PARAMS)]
    if len(data_sections) > 1 or len(other) > len(data_sections):
        raise ValueError(
            f"{os.fspath(source)!r}: repack handles files with one TENSOR_DATA section and no "
            "optional sections"
        )
    manifest = gf.manifest
    params = b""
    if binary:
        manifest, params = binary_params(manifest)
    index = 1 + bool(params)
    for e in manifest["storage"]:
        if "section" in e:
            e["section"] = index
    raw = gf.section_bytes(data_sections[0].index) if data_sections else None
    manifest_bytes = json.dumps(
        manifest, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")
    with open(path, "wb") as f:
        size, _ = _write_file(f, manifest_bytes, [], _minor(manifest, params), params, raw_data=raw)
    return size


def _fsync_dir(folder: str) -> None:
    """Makes the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
