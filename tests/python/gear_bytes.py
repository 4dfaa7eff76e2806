"""Hand-built ``.gear`` 1.1/1.2 files for the reader and oracle tests.

Written from docs/FORMAT.md alone, independently of ``converters/write_gear.py``
(so the reader is not checked against the writer's own reading of the spec):
:func:`layout` places payloads in one TENSOR_DATA section, :func:`pack` lays
out header, section table and sections with their CRCs. :func:`tiny_model`
builds a small graph with fp32 / fp32-q8r4 / fp16 / int8 / int4 gears;
:func:`sparse_model` a pruned one whose int8 weights are stored ``bitmap``,
``csr`` and ``2:4``, encoded by :func:`spec_encode`, a plain per-element
transcription of FORMAT.md 1.2 that shares no code with ``sparse_codec``.
"""

from __future__ import annotations

import copy
import json
import struct
from typing import Any

import numpy as np

from gearshift import gear_codec
from gearshift import gear_format as gf
from gearshift.converters import quant_ref as qr
from gearshift.converters.ir import Graph, Node
from gearshift.converters.reference import run_graph

ALIGN = 64


def _align(x: int) -> int:
    return x + (ALIGN - x % ALIGN) % ALIGN


def layout(manifest: dict[str, Any], payloads: dict[int, bytes]) -> tuple[dict[str, Any], bytes]:
    """Copy of ``manifest`` whose storage entry ``k`` points at ``payloads[k]`` in section 1."""
    m = copy.deepcopy(manifest)
    data = b""
    for k, p in sorted(payloads.items()):
        off = _align(len(data))
        data += bytes(off - len(data)) + p
        m["storage"][k].update(section=1, offset=off, length=len(p))
    return m, data


def pack(manifest: dict[str, Any], data: bytes, minor: int = 1) -> bytes:
    """A complete file: header, two section entries, manifest, data; CRCs correct."""
    text = json.dumps(manifest).encode()
    man_off = _align(64 + 2 * 32)
    data_off = _align(man_off + len(text))
    size = data_off + len(data)
    table = struct.pack("<IIQQII", 1, 0, man_off, len(text), gf.crc32c(text), 0)
    table += struct.pack("<IIQQII", 2, 0, data_off, len(data), gf.crc32c(data), 0)
    head = bytearray(
        struct.pack("<4sHHIIQQII24s", b"GEAR", 1, minor, ALIGN, 2, size, 64, 0, 0, bytes(24))
    )
    struct.pack_into("<I", head, 32, gf.crc32c(table, gf.crc32c(bytes(head))))
    body = bytes(head) + table
    body += bytes(man_off - len(body)) + text
    body += bytes(data_off - len(body)) + data
    return body


def build(manifest: dict[str, Any], payloads: dict[int, bytes], minor: int = 1) -> bytes:
    return pack(*layout(manifest, payloads), minor=minor)


def quant_json(qp: qr.QParams) -> dict[str, Any]:
    scale = np.atleast_1d(qp.scale).astype(np.float32)
    zp = np.broadcast_to(np.atleast_1d(qp.zero_point), scale.shape)
    return {
        "axis": qp.axis,
        "scale": [float(s) for s in scale],
        "zero_point": [int(z) for z in zp],
    }


class Builder:
    """Accumulates storage entries (with their payloads) and gears over one float graph."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.names = list(graph.tensors)
        self.storage: list[dict[str, Any]] = []
        self.payloads: dict[int, bytes] = {}
        self.slots: dict[int, list[int]] = {}  # sparse entry -> stored slots (flat indices)
        self.gears: list[dict[str, Any]] = []

    def idx(self, name: str) -> int:
        return self.names.index(name)

    def dense(self, arr: np.ndarray, dtype: str, quant: dict[str, Any] | None = None) -> int:
        arr = np.ascontiguousarray(arr, dtype=gf.DTYPE_NUMPY[dtype])
        entry: dict[str, Any] = {"dtype": dtype, "shape": list(arr.shape), "encoding": "dense"}
        if quant is not None:
            entry["quant"] = quant
        self.storage.append(entry)
        self.payloads[len(self.storage) - 1] = arr.tobytes()
        return len(self.storage) - 1

    def q8r4(self, w: np.ndarray, base: int, q: np.ndarray, qp: qr.QParams) -> int:
        r = gear_codec.q8r4_residual(w, q, qp.scale, qp.axis)
        self.storage.append(
            {"dtype": "f32", "shape": list(w.shape), "encoding": "q8r4", "base": base}
        )
        self.payloads[len(self.storage) - 1] = gear_codec.pack_nibbles(r).tobytes()
        return len(self.storage) - 1

    def sparse(self, q: np.ndarray, encoding: str, quant: dict[str, Any]) -> int:
        """An i8 ``bitmap``/``csr``/``2:4`` entry of ``q`` (per-channel ``quant``)."""
        payload, nnz, slots = spec_encode(q, quant["axis"], encoding)
        self.storage.append(
            {
                "dtype": "i8",
                "shape": list(q.shape),
                "encoding": encoding,
                "nnz": nnz,
                "quant": quant,
            }
        )
        self.payloads[len(self.storage) - 1] = payload
        self.slots[len(self.storage) - 1] = slots
        return len(self.storage) - 1

    def q8r4_sparse(self, w: np.ndarray, base: int, q: np.ndarray, qp: qr.QParams) -> int:
        """A q8r4 entry over sparse ``base``: residuals of its stored slots, in their order."""
        r = gear_codec.q8r4_residual(w, q, qp.scale, qp.axis).ravel()[self.slots[base]]
        self.storage.append(
            {"dtype": "f32", "shape": list(w.shape), "encoding": "q8r4", "base": base}
        )
        self.payloads[len(self.storage) - 1] = gear_codec.pack_nibbles(r).tobytes()
        return len(self.storage) - 1

    def q4m(self, base: int, block: int = 32) -> int:
        shape = self.storage[base]["shape"]
        self.storage.append(
            {"dtype": "i8", "shape": shape, "encoding": "q4m", "base": base, "block": block}
        )
        return len(self.storage) - 1

    def gear(
        self, name: str, compute: str, consts: dict[str, int], acts=None, sparse: bool = False
    ) -> None:
        g: dict[str, Any] = {
            "name": name,
            "compute": compute,
            "constants": [[self.idx(t), s] for t, s in consts.items()],
        }
        if sparse:
            g["sparse"] = True
        if acts is not None:
            g["activations"] = [
                [self.idx(t), float(np.float32(qp.scale)), int(qp.zero_point)]
                for t, qp in acts.items()
            ]
        self.gears.append(g)

    def manifest(self) -> dict[str, Any]:
        g = self.graph
        tensors = []
        for name, t in g.tensors.items():
            e: dict[str, Any] = {"name": name, "shape": list(t.shape), "dtype": "f32"}
            if t.is_const:
                e["const"] = True
            tensors.append(e)
        return {
            "producer": "gear_bytes (tests)",
            "metadata": {},
            "tensors": tensors,
            "inputs": [self.idx(n) for n in g.inputs],
            "outputs": [self.idx(n) for n in g.outputs],
            "nodes": [
                {
                    "name": n.name,
                    "op": n.op,
                    "inputs": [-1 if i is None else self.idx(i) for i in n.inputs],
                    "outputs": [self.idx(o) for o in n.outputs],
                    "attrs": n.attrs,
                }
                for n in g.nodes
            ],
            "storage": self.storage,
            "gears": self.gears,
        }

    def bytes(self, minor: int = 1) -> bytes:
        return build(self.manifest(), self.payloads, minor)


TIED = ("MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "PAD", "CONCATENATION")
WEIGHT_AXES = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}


def activation_params(graph: Graph, x: Any) -> dict[str, qr.QParams]:
    """int8 params per non-constant tensor from the float ranges on ``x``; tied ops share
    one set (the union of their ranges); SOFTMAX outputs get (1/256, -128)."""
    values = run_graph(graph, x, keep_all=True)
    parent = {n: n for n in values}

    def find(a: str) -> str:
        while parent[a] != a:
            a = parent[a]
        return a

    for node in graph.nodes:
        if node.op in TIED:
            for i in node.inputs:
                if i in parent:
                    parent[find(i)] = find(node.outputs[0])
    ranges: dict[str, tuple[float, float]] = {}
    for n, v in values.items():
        r = find(n)
        lo, hi = ranges.get(r, (0.0, 0.0))
        ranges[r] = (min(lo, float(v.min())), max(hi, float(v.max())))
    out = {n: qr.choose_qparams(*ranges[find(n)]) for n in values}
    for node in graph.nodes:
        if node.op == "SOFTMAX":
            out[node.outputs[0]] = qr.QParams.of(1.0 / 256.0, -128)
    return out


def add_all_gears(b: Builder, x: Any, block: int = 32) -> dict[str, qr.QParams]:
    """fp32 (dense), fp32r (q8r4 weights), fp16 (f16 weights, other constants f32),
    int8 (q8) and int4 (q4m) gears for ``b.graph``; returns the activation params."""
    g = b.graph
    acts = activation_params(g, x)
    roles: dict[str, Any] = {}
    for node in g.nodes:
        for j, t in enumerate(node.inputs):
            if t is None or not g.tensors[t].is_const:
                continue
            if node.op in WEIGHT_AXES and j == 1:
                roles[t] = ("w", WEIGHT_AXES[node.op], node.inputs[0])
            elif node.op in WEIGHT_AXES and j == 2:
                roles[t] = ("b", node.inputs[0], node.inputs[1])
            else:
                roles[t] = ("o",)
    f32, f32r, f16, i8, i4 = {}, {}, {}, {}, {}
    wq: dict[str, tuple[np.ndarray, qr.QParams, int]] = {}
    for name, t in g.tensors.items():
        if not t.is_const:
            continue
        f32[name] = b.dense(t.data, "f32")
        if roles[name][0] == "w":
            q, qp = qr.quantize_weights_q8(t.data, roles[name][1])
            base = b.dense(q, "i8", quant_json(qp))
            wq[name] = (q, qp, base)
            i8[name] = base
            i4[name] = b.q4m(base, block)
            f32r[name] = b.q8r4(t.data, base, q, qp)
            f16[name] = b.dense(qr.quantize_f16(t.data), "f16")
        else:
            f32r[name] = f16[name] = f32[name]
    for name, t in g.tensors.items():
        if not t.is_const:
            continue
        if roles[name][0] == "b":
            _, xname, wname = roles[name]
            wqp = wq[wname][1]
            bq = qr.quantize_bias(t.data, float(acts[xname].scale), wqp.scale)
            s = np.float32(acts[xname].scale) * wqp.scale.astype(np.float32)
            i8[name] = i4[name] = b.dense(bq, "i32", quant_json(qr.QParams.of(s, 0, 0)))
        elif roles[name][0] == "o":
            qp = qr.choose_qparams(float(t.data.min()), float(t.data.max()))
            i8[name] = i4[name] = b.dense(qr.quantize(t.data, qp), "i8", quant_json(qp))
    b.gear("fp32", "f32", f32)
    b.gear("fp32r", "f32", f32r)
    b.gear("fp16", "f16", f16)
    b.gear("int8", "q8", i8, acts)
    b.gear("int4", "q4", i4, acts)
    return acts


def tiny_graph(seed: int = 0) -> Graph:
    """x [N,6,6,2] -> conv(RELU) -> depthwise(RELU6, stride 2) -> max pool -> MUL by a
    constant -> MEAN -> FC -> HARD_SWISH -> CONCATENATION with its own input ->
    RESHAPE -> PAD -> SOFTMAX."""
    rng = np.random.default_rng(seed)
    g = Graph()
    g.add_tensor("x", (-1, 6, 6, 2))
    w1 = g.add_const("conv/w", rng.normal(size=(4, 3, 3, 2)).astype(np.float32) * 0.5)
    b1 = g.add_const("conv/b", rng.normal(size=4).astype(np.float32) * 0.1)
    w2 = g.add_const("dw/w", rng.normal(size=(1, 3, 3, 8)).astype(np.float32) * 0.5)
    b2 = g.add_const("dw/b", rng.normal(size=8).astype(np.float32) * 0.1)
    k = g.add_const("mul/k", rng.uniform(0.5, 2.0, size=8).astype(np.float32))
    w3 = g.add_const("fc/w", rng.normal(size=(5, 8)).astype(np.float32) * 0.5)
    b3 = g.add_const("fc/b", rng.normal(size=5).astype(np.float32) * 0.1)
    shapes = {
        "c": (-1, 6, 6, 4), "d": (-1, 3, 3, 8), "p": (-1, 2, 2, 8), "m": (-1, 2, 2, 8),
        "mn": (-1, 8), "f": (-1, 5), "h": (-1, 5), "cat": (-1, 10), "r": (-1, 2, 5),
        "pd": (-1, 2, 6), "y": (-1, 2, 6),
    }  # fmt: skip
    for n, s in shapes.items():
        g.add_tensor(n, s)
    conv = {"stride": [1, 1], "dilation": [1, 1], "padding": "SAME"}
    g.add_node(Node("conv", "CONV_2D", ["x", w1, b1], ["c"], {**conv, "activation": "RELU"}))
    dw = {**conv, "stride": [2, 2], "depth_multiplier": 2, "activation": "RELU6"}
    g.add_node(Node("dw", "DEPTHWISE_CONV_2D", ["c", w2, b2], ["d"], dw))
    pool = {"filter": [2, 2], "stride": [1, 1], "padding": "VALID", "activation": "NONE"}
    g.add_node(Node("pool", "MAX_POOL_2D", ["d"], ["p"], pool))
    g.add_node(Node("mul", "MUL", ["p", k], ["m"], {"activation": "NONE"}))
    g.add_node(Node("mean", "MEAN", ["m"], ["mn"], {"axes": [1, 2], "keep_dims": False}))
    g.add_node(Node("fc", "FULLY_CONNECTED", ["mn", w3, b3], ["f"], {"activation": "NONE"}))
    g.add_node(Node("hs", "HARD_SWISH", ["f"], ["h"], {}))
    g.add_node(Node("cat", "CONCATENATION", ["h", "h"], ["cat"], {"axis": 1}))
    g.add_node(Node("reshape", "RESHAPE", ["cat"], ["r"], {"shape": [2, 5]}))
    g.add_node(Node("pad", "PAD", ["r"], ["pd"], {"paddings": [[0, 0], [0, 0], [1, 0]]}))
    g.add_node(Node("softmax", "SOFTMAX", ["pd"], ["y"], {"beta": 1.0}))
    g.inputs, g.outputs = ["x"], ["y"]
    g.validate(format_only=True)
    return g


def tiny_model(seed: int = 0, block: int = 32) -> tuple[Builder, np.ndarray]:
    """The tiny graph with all five gears, and its calibration input."""
    g = tiny_graph(seed)
    x = np.random.default_rng(seed + 1).normal(size=(4, 6, 6, 2)).astype(np.float32)
    b = Builder(g)
    add_all_gears(b, x, block)
    return b, x


# ---------------------------------------------------------------------------
# Format 1.2 sparse storage, transcribed element by element from FORMAT.md
# ---------------------------------------------------------------------------
def spec_encode(q: np.ndarray, axis: int, encoding: str) -> tuple[bytes, int, list[int]]:
    """``(payload, nnz, slots)`` of int8 ``q``; slots are flat C-order indices of the
    stored values in payload order. Slow and literal on purpose."""
    q = np.asarray(q, np.int8)
    flat_index = np.arange(q.size).reshape(q.shape)
    rows = np.moveaxis(q, axis, 0).reshape(q.shape[axis], -1).tolist()
    where = np.moveaxis(flat_index, axis, 0).reshape(q.shape[axis], -1).tolist()
    c, k = len(rows), len(rows[0])
    if encoding == "bitmap":
        bits = bytearray((c * k + 7) // 8)
        values, slots = [], []
        order = [x for row in where for x in row]
        for i, v in enumerate(x for row in rows for x in row):
            if v != 0:
                bits[i // 8] |= 1 << (i % 8)
                values.append(v)
                slots.append(order[i])
        return bytes(bits) + struct.pack(f"<{len(values)}b", *values), len(values), slots
    if encoding == "csr":
        ptr, cols, values, slots = [0], [], [], []
        for row, idx in zip(rows, where):
            for j, v in enumerate(row):
                if v != 0:
                    cols.append(j)
                    values.append(v)
                    slots.append(idx[j])
            ptr.append(len(values))
        fmt = "H" if k <= 65536 else "I"
        out = struct.pack(f"<{c + 1}I", *ptr) + struct.pack(f"<{len(cols)}{fmt}", *cols)
        return out + struct.pack(f"<{len(values)}b", *values), len(values), slots
    assert encoding == "2:4" and axis == 0 and q.shape[-1] % 4 == 0
    flat = q.ravel().tolist()
    values, nibbles, slots = [], [], []
    for g in range(len(flat) // 4):
        group = flat[4 * g : 4 * g + 4]
        nz = [p for p in range(4) if group[p] != 0]
        assert len(nz) <= 2, "not a 2:4 pattern"
        pos = sorted(nz + [p for p in range(4) if p not in nz][: 2 - len(nz)])
        values += [group[pos[0]], group[pos[1]]]
        slots += [4 * g + pos[0], 4 * g + pos[1]]
        nibbles.append(pos[0] | pos[1] << 2)
    if len(nibbles) % 2:
        nibbles.append(0)
    posb = bytes(nibbles[i] | nibbles[i + 1] << 4 for i in range(0, len(nibbles), 2))
    nnz = sum(v != 0 for v in values)
    return struct.pack(f"<{len(values)}b", *values) + posb, nnz, slots


def prune(w: np.ndarray, fraction: float, two_four: bool = False) -> np.ndarray:
    """``w`` with ``fraction`` of its values (the smallest) zeroed; ``two_four``: the two
    smallest of every four consecutive values instead."""
    w = np.array(w, np.float32)
    if two_four:
        g = w.reshape(-1, 4)
        small = np.argsort(np.abs(g), axis=1, kind="stable")[:, :2]
        np.put_along_axis(g, small, 0.0, axis=1)
        return g.reshape(w.shape)
    flat = w.ravel()
    order = np.argsort(np.abs(flat), kind="stable")
    flat[order[: round(fraction * flat.size)]] = 0.0
    return flat.reshape(w.shape)


SPARSE_PLAN = {"conv/w": "csr", "dw/w": "bitmap", "fc/w": "2:4"}


def sparse_graph(seed: int = 0) -> Graph:
    """:func:`tiny_graph` with its weights pruned: conv 80%, depthwise 60%, FC 2:4."""
    g = tiny_graph(seed)
    g.tensors["conv/w"].data = prune(g.tensors["conv/w"].data, 0.8)
    g.tensors["dw/w"].data = prune(g.tensors["dw/w"].data, 0.6)
    g.tensors["fc/w"].data = prune(g.tensors["fc/w"].data, 0.5, two_four=True)
    return g


def sparse_model(seed: int = 0) -> tuple[Builder, np.ndarray]:
    """The pruned tiny graph with the five gears of :func:`add_all_gears` (dense storage)
    plus ``fp32r-sparse`` (q8r4 over sparse bases), ``int8-sparse`` (sparse i8 weights,
    :data:`SPARSE_PLAN`) and ``int4-sparse`` (q4m over them)."""
    g = sparse_graph(seed)
    x = np.random.default_rng(seed + 1).normal(size=(4, 6, 6, 2)).astype(np.float32)
    b = Builder(g)
    acts = add_all_gears(b, x)
    m = b.manifest()
    f32r = {t: s for t, s in ((m["tensors"][t]["name"], s) for t, s in m["gears"][1]["constants"])}
    i8 = {t: s for t, s in ((m["tensors"][t]["name"], s) for t, s in m["gears"][3]["constants"])}
    i4 = dict(i8)
    for name, enc in SPARSE_PLAN.items():
        axis = WEIGHT_AXES[next(n.op for n in g.nodes if n.inputs[1:2] == [name])]
        w = g.tensors[name].data
        q, qp = qr.quantize_weights_q8(w, axis)
        base = b.sparse(q, enc, quant_json(qp))
        i8[name] = base
        i4[name] = b.q4m(base)
        f32r[name] = b.q8r4_sparse(w, base, q, qp)
    b.gear("fp32r-sparse", "f32", f32r, sparse=True)
    b.gear("int8-sparse", "q8", i8, acts, sparse=True)
    b.gear("int4-sparse", "q4", i4, acts, sparse=True)
    return b, x
