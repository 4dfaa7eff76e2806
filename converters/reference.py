"""A plain numpy interpreter of the IR: the converter-side oracle.

Every op of docs/FORMAT.md (plus the IR-only ``IDENTITY`` and ``BATCH_NORM``)
is written the obvious way, for clarity rather than speed. Tests compare
import + passes against Keras with it, independently of the C++ runtime, and
``convert`` falls back to it when the runtime extension is not built.
It can also run a graph read back from a ``.gear`` file (:func:`graph_from_gear`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from .ir import Graph, Node

__all__ = ["float_constants", "graph_from_gear", "run", "run_graph", "same_padding"]


def same_padding(size: int, k: int, s: int, d: int, padding: str) -> tuple[int, int, int]:
    """``(out, pad_before, pad_after)`` for one spatial axis, as FORMAT.md defines them."""
    ek = (k - 1) * d + 1
    if padding == "VALID":
        if size < ek:
            raise ValueError(f"VALID padding: input size {size} < effective kernel {ek}")
        return (size - ek) // s + 1, 0, 0
    if padding != "SAME":
        raise ValueError(f"padding must be SAME or VALID, got {padding!r}")
    out = -(-size // s)
    total = max((out - 1) * s + ek - size, 0)
    return out, total // 2, total - total // 2


def _activation(y: np.ndarray, act: str) -> np.ndarray:
    if act == "NONE":
        return y
    if act == "RELU":
        return np.maximum(y, 0)
    if act == "RELU6":
        return np.clip(y, 0, 6)
    if act == "RELU_N1_TO_1":
        return np.clip(y, -1, 1)
    raise ValueError(f"unknown activation {act!r}")


def _windows(
    x: np.ndarray, node: Node, kh: int, kw: int, pad_value: float
) -> tuple[np.ndarray, int, int, list[tuple[int, int, np.ndarray]]]:
    """Pads ``x`` and returns, per kernel tap, the strided input slice it sees."""
    sh, sw = node.attrs["stride"]
    dh, dw = node.attrs.get("dilation", [1, 1])
    padding = node.attrs["padding"]
    _n, h, w, _c = x.shape
    oh, pt, pb = same_padding(h, kh, sh, dh, padding)
    ow, pl, pr = same_padding(w, kw, sw, dw, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=pad_value)
    taps = []
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            sl = xp[:, r0 : r0 + (oh - 1) * sh + 1 : sh, c0 : c0 + (ow - 1) * sw + 1 : sw, :]
            taps.append((i, j, sl))
    return xp, oh, ow, taps


def _conv2d(node: Node, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    o, kh, kw, c = w.shape
    if x.shape[3] != c:
        raise ValueError(f"{node.name}: input has {x.shape[3]} channels, filter expects {c}")
    _, oh, ow, taps = _windows(x, node, kh, kw, 0.0)
    y = np.zeros((x.shape[0], oh, ow, o), np.float64)
    for i, j, sl in taps:
        y += sl.astype(np.float64) @ w[:, i, j, :].astype(np.float64).T
    if b is not None:
        y += b
    return y


def _depthwise(node: Node, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    _, kh, kw, cm = w.shape
    m = int(node.attrs["depth_multiplier"])
    if x.shape[3] * m != cm:
        raise ValueError(f"{node.name}: {x.shape[3]} channels x {m} != filter channels {cm}")
    x = np.repeat(x, m, axis=3)  # channel c*M+m reads input channel c
    _, oh, ow, taps = _windows(x, node, kh, kw, 0.0)
    y = np.zeros((x.shape[0], oh, ow, cm), np.float64)
    for i, j, sl in taps:
        y += sl * w[0, i, j, :].astype(np.float64)
    if b is not None:
        y += b
    return y


def _pool(node: Node, x: np.ndarray) -> np.ndarray:
    fh, fw = node.attrs["filter"]
    is_max = node.op == "MAX_POOL_2D"
    _, _oh, _ow, taps = _windows(x, node, fh, fw, -np.inf if is_max else 0.0)
    if is_max:
        return np.max(np.stack([sl for _, _, sl in taps]), axis=0)
    ones = np.ones((1, *x.shape[1:3], 1), np.float64)
    _, _, _, count_taps = _windows(ones, node, fh, fw, 0.0)
    total = sum(sl.astype(np.float64) for _, _, sl in taps)
    count = sum(sl for _, _, sl in count_taps)
    return total / count


def _softmax(x: np.ndarray, beta: float) -> np.ndarray:
    z = beta * x.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _logistic(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _reshape(node: Node, x: np.ndarray) -> np.ndarray:
    return x.reshape((x.shape[0], *node.attrs["shape"]))


def _batch_norm(node: Node, x: np.ndarray, g: np.ndarray, b: np.ndarray, mean, var) -> np.ndarray:
    eps = float(node.attrs.get("epsilon", 1e-3))
    return (x - mean) / np.sqrt(var.astype(np.float64) + eps) * g + b


def _fc(node: Node, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    y = x.astype(np.float64) @ w.astype(np.float64).T
    return y + b if b is not None else y


_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "RELU": lambda x: np.maximum(x, 0),
    "RELU6": lambda x: np.clip(x, 0, 6),
    "RELU_N1_TO_1": lambda x: np.clip(x, -1, 1),
    "LOGISTIC": _logistic,
    "TANH": np.tanh,
    "HARD_SWISH": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "IDENTITY": lambda x: x,
}


def _eval(node: Node, args: list[np.ndarray | None]) -> np.ndarray:
    op, a = node.op, node.attrs
    if op in _UNARY:
        return _UNARY[op](args[0])  # type: ignore[arg-type]
    if op == "CONV_2D":
        y = _conv2d(node, *args)  # type: ignore[arg-type]
    elif op == "DEPTHWISE_CONV_2D":
        y = _depthwise(node, *args)  # type: ignore[arg-type]
    elif op == "FULLY_CONNECTED":
        y = _fc(node, *args)  # type: ignore[arg-type]
    elif op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        y = _pool(node, args[0])  # type: ignore[arg-type]
    elif op == "MEAN":
        return np.mean(args[0], axis=tuple(a["axes"]), keepdims=bool(a["keep_dims"]))
    elif op == "SOFTMAX":
        return _softmax(args[0], float(a.get("beta", 1.0)))  # type: ignore[arg-type]
    elif op == "ADD":
        y = np.add(args[0], args[1], dtype=np.float64)
    elif op == "MUL":
        y = np.multiply(args[0], args[1], dtype=np.float64)
    elif op == "CONCATENATION":
        y = np.concatenate(args, axis=int(a["axis"]))  # type: ignore[arg-type]
    elif op == "RESHAPE":
        return _reshape(node, args[0])  # type: ignore[arg-type]
    elif op == "PAD":
        return np.pad(args[0], [tuple(p) for p in a["paddings"]])  # type: ignore[call-overload]
    elif op == "BATCH_NORM":
        return _batch_norm(node, *args)  # type: ignore[arg-type]
    else:
        raise ValueError(f"reference interpreter: unknown op {op!r} in node {node.name!r}")
    return _activation(y, a.get("activation", "NONE"))


def _input_map(graph: Graph, x: Any) -> dict[str, np.ndarray]:
    if isinstance(x, Mapping):
        items = dict(x)
    elif isinstance(x, (list, tuple)) and len(graph.inputs) > 1:
        items = dict(zip(graph.inputs, x))
    else:
        items = {graph.inputs[0]: x}
    missing = [n for n in graph.inputs if n not in items]
    if missing or len(items) != len(graph.inputs):
        raise ValueError(f"expected inputs {graph.inputs}, got {sorted(items)}")
    out = {}
    for name, arr in items.items():
        arr = np.asarray(arr, dtype=np.float32)
        want = graph.tensors[name].shape
        if arr.ndim != len(want) or any(w not in (-1, g) for w, g in zip(want, arr.shape)):
            raise ValueError(f"input {name!r}: expected shape {want}, got {arr.shape}")
        out[name] = arr
    return out


def run_graph(graph: Graph, x: Any, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Runs ``graph``; returns every output (or, with ``keep_all``, every tensor) by name.

    Arithmetic is float64 inside each op, rounded to float32 between ops, so
    the oracle is at least as accurate as any float32 runtime.
    """
    values: dict[str, np.ndarray] = _input_map(graph, x)
    for node in graph.nodes:
        args = [
            None if t is None else (graph.tensors[t].data if t not in values else values[t])
            for t in node.inputs
        ]
        try:
            y = _eval(node, args)
        except Exception as e:
            raise type(e)(f"node {node.name!r} ({node.op}): {e}") from e
        y = np.asarray(y, dtype=np.float32)
        want = graph.tensors[node.outputs[0]].shape
        if len(want) != y.ndim or any(w not in (-1, g) for w, g in zip(want, y.shape)):
            raise ValueError(
                f"node {node.name!r} ({node.op}): computed shape {y.shape}, declared {want}"
            )
        values[node.outputs[0]] = y
    if keep_all:
        return values
    return {name: values[name] for name in graph.outputs}


def run(graph: Graph, x: Any) -> np.ndarray | dict[str, np.ndarray]:
    """Like ``Runtime.run``: one output -> an array, several -> dict by name."""
    outs = run_graph(graph, x)
    return next(iter(outs.values())) if len(outs) == 1 else outs


def float_constants(gf: Any, gear: str | None = None) -> dict[str, np.ndarray]:
    """Tensor name -> float32 values of every constant of a gear, as its compute sees them.

    ``f32``: the stored values (``dense``, or ``q8r4`` materialised bit-exactly).
    ``f16``: half values (``f16`` storage, or ``f32`` storage rounded by
    ``quant_ref.quantize_f16``, as FORMAT.md says) widened to float32.
    ``q8``/``q4``: the dequantized integers, ``scale * (q - zero_point)``: only
    an approximation of what those gears compute (their arithmetic is integer
    throughout; ``gear_reference.run_gear`` runs them exactly).
    """
    from .quant_ref import QParams, dequantize, quantize_f16

    g = gf.gear(gear)
    tensors = gf.manifest["tensors"]
    out: dict[str, np.ndarray] = {}
    for t, s in g["constants"]:
        v = gf.storage_values(s)
        if g["compute"] == "f16":
            v = quantize_f16(v) if v.dtype == np.float32 else v
        elif g["compute"] in ("q8", "q4"):
            q = gf.storage_quant(s)
            v = dequantize(v, QParams.of(q.scale, q.zero_point, q.axis))
        out[tensors[t]["name"]] = np.array(v, dtype=np.float32)  # a writable copy
    return out


def graph_from_gear(source: Any, gear: str | None = None) -> Graph:
    """Rebuilds an IR graph from a ``.gear`` file: a path, bytes, or a ``GearFile``.

    Lets :func:`run` execute what was actually written, byte for byte: the
    fallback for measuring a file's error when the C++ runtime is not built.
    The constants are ``gear``'s as :func:`float_constants` gives them: exact
    for the f32 and f16 gears, dequantized for q8/q4.
    """
    from ..gear_format import GearFile, read_gear

    gf = source if isinstance(source, GearFile) else read_gear(source)
    m = gf.manifest
    consts = float_constants(gf, gear)
    g = Graph(metadata=dict(m.get("metadata", {})))
    names = [t["name"] for t in m["tensors"]]
    for t in m["tensors"]:
        data = consts[t["name"]] if t.get("const") else None
        g.add_tensor(t["name"], t["shape"], data)
    g.inputs = [names[i] for i in m["inputs"]]
    g.outputs = [names[i] for i in m["outputs"]]
    for n in m["nodes"]:
        g.add_node(
            Node(
                n["name"],
                n["op"],
                [None if i == -1 else names[i] for i in n["inputs"]],
                [names[i] for i in n["outputs"]],
                dict(n.get("attrs", {})),
            )
        )
    g.validate(format_only=True)
    return g
