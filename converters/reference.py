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

__all__ = [
    "MOVE_OPS",
    "bilinear_taps",
    "float_constants",
    "graph_from_gear",
    "move_values",
    "nearest_indices",
    "resize_scale",
    "run",
    "run_graph",
    "same_padding",
    "transpose_conv_accumulate",
    "transpose_conv_padding",
]


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


def transpose_conv_padding(
    h: int, w: int, kh: int, kw: int, stride: tuple[int, int], padding: str, out: tuple[int, int]
) -> tuple[int, int]:
    """``(pt, pl)`` of TRANSPOSE_CONV: the padding before of a forward ``CONV_2D`` from
    ``out`` to ``[h, w]`` (FORMAT.md: SAME ``max((H-1)*sh + KH - OH, 0) / 2``, VALID 0)."""
    if padding == "VALID":
        return 0, 0
    if padding != "SAME":
        raise ValueError(f"padding must be SAME or VALID, got {padding!r}")
    sh, sw = stride
    oh, ow = out
    return max((h - 1) * sh + kh - oh, 0) // 2, max((w - 1) * sw + kw - ow, 0) // 2


def transpose_conv_accumulate(
    x: np.ndarray,
    w: np.ndarray,
    stride: tuple[int, int],
    padding: str,
    out: tuple[int, int],
    dtype: type = np.float64,
) -> np.ndarray:
    """``y[n, iy*sh + ky - pt, ix*sw + kx - pl, o] += x[n,iy,ix,c] * w[o,ky,kx,c]``, positions
    outside ``[OH, OW]`` dropped; no bias. ``dtype`` float64 (float) or int64 (int8 gear)."""
    o, kh, kw, c = w.shape
    n, h, wd, cx = x.shape
    if cx != c:
        raise ValueError(f"input has {cx} channels, filter expects {c}")
    sh, sw = stride
    oh, ow = out
    pt, pl = transpose_conv_padding(h, wd, kh, kw, stride, padding, out)
    rows = max((h - 1) * sh + kh, pt + oh)
    cols = max((wd - 1) * sw + kw, pl + ow)
    buf = np.zeros((n, rows, cols, o), dtype)
    xs = x.astype(dtype)
    for ky in range(kh):
        for kx in range(kw):
            contrib = xs @ w[:, ky, kx, :].astype(dtype).T
            buf[:, ky : ky + (h - 1) * sh + 1 : sh, kx : kx + (wd - 1) * sw + 1 : sw, :] += contrib
    return buf[:, pt : pt + oh, pl : pl + ow, :]


def _transpose_conv(node: Node, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    a = node.attrs
    y = transpose_conv_accumulate(x, w, tuple(a["stride"]), a["padding"], tuple(a["output_size"]))
    if b is not None:
        y = y + b
    return y


def resize_scale(size_in: int, size_out: int, align_corners: bool) -> np.float32:
    """TFLite's resize scale in float32: ``(in-1)/(out-1)`` with ``align_corners`` (and
    ``out > 1``), else ``in/out``."""
    if align_corners and size_out > 1:
        return np.float32(size_in - 1) / np.float32(size_out - 1)
    return np.float32(size_in) / np.float32(size_out)


def bilinear_taps(
    size_in: int, size_out: int, align_corners: bool, half_pixel_centers: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output position of one axis: ``(lo, hi, f)`` as FORMAT.md's RESIZE_BILINEAR
    (float32 source coordinate ``v``, ``lo = max(floor(v), 0)``, ``hi = min(ceil(v), in-1)``,
    ``f = v - lo``)."""
    scale = resize_scale(size_in, size_out, align_corners)
    o = np.arange(size_out, dtype=np.float32)
    half = np.float32(0.5)
    v = ((o + half) * scale - half if half_pixel_centers else o * scale).astype(np.float32)
    lo = np.maximum(np.floor(v), 0).astype(np.int64)
    hi = np.minimum(np.ceil(v).astype(np.int64), size_in - 1)
    f = (v - lo.astype(np.float32)).astype(np.float32)
    return lo, hi, f


def nearest_indices(
    size_in: int, size_out: int, align_corners: bool, half_pixel_centers: bool
) -> np.ndarray:
    """RESIZE_NEAREST_NEIGHBOR's source index per output position (TFLite's, float32)."""
    scale = resize_scale(size_in, size_out, align_corners)
    offset = np.float32(0.5 if half_pixel_centers else 0.0)
    v = ((np.arange(size_out, dtype=np.float32) + offset) * scale).astype(np.float32)
    v64 = v.astype(np.float64)  # std::round: half away from zero, exact
    src = np.sign(v64) * np.floor(np.abs(v64) + 0.5) if align_corners else np.floor(v64)
    return np.clip(src.astype(np.int64), 0, size_in - 1)


def _resize_bilinear(node: Node, x: np.ndarray) -> np.ndarray:
    a = node.attrs
    oh, ow = a["size"]
    ac, hp = bool(a["align_corners"]), bool(a["half_pixel_centers"])
    y0, y1, fy = bilinear_taps(x.shape[1], oh, ac, hp)
    x0, x1, fx = bilinear_taps(x.shape[2], ow, ac, hp)
    xd = x.astype(np.float64)
    fy = fy.astype(np.float64)[None, :, None, None]
    fx = fx.astype(np.float64)[None, None, :, None]
    top = xd[:, y0][:, :, x0] * (1 - fx) + xd[:, y0][:, :, x1] * fx
    bot = xd[:, y1][:, :, x0] * (1 - fx) + xd[:, y1][:, :, x1] * fx
    return top * (1 - fy) + bot * fy


def resize_nearest(x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    oh, ow = attrs["size"]
    ac, hp = bool(attrs["align_corners"]), bool(attrs["half_pixel_centers"])
    rows = nearest_indices(x.shape[1], oh, ac, hp)
    cols = nearest_indices(x.shape[2], ow, ac, hp)
    return x[:, rows][:, :, cols]


def depth_to_space(x: np.ndarray, b: int) -> np.ndarray:
    """``y[n, h*b + i, w*b + j, c] = x[n, h, w, (i*b + j) * C/b² + c]``."""
    n, h, w, c = x.shape
    if c % (b * b):
        raise ValueError(f"DEPTH_TO_SPACE: {c} channels is not a multiple of {b}*{b}")
    cc = c // (b * b)
    return x.reshape(n, h, w, b, b, cc).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * b, w * b, cc)


def space_to_depth(x: np.ndarray, b: int) -> np.ndarray:
    """The inverse of :func:`depth_to_space`."""
    n, h, w, c = x.shape
    if h % b or w % b:
        raise ValueError(f"SPACE_TO_DEPTH: {h}x{w} is not a multiple of {b}")
    return (
        x.reshape(n, h // b, b, w // b, b, c)
        .transpose(0, 1, 3, 2, 4, 5)
        .reshape(n, h // b, w // b, b * b * c)
    )


def slice_axes(x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    """SLICE: ``x[:, begin[0]:end[0]:strides[0], ...]`` (axes 1.. only)."""
    idx = tuple(
        slice(int(b), int(e), int(s))
        for b, e, s in zip(*(attrs[k] for k in ("begin", "end", "strides")))
    )
    return x[(slice(None), *idx)]


def move_values(op: str, x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    """The ops that only move values (any dtype): the same code serves f32 and int8."""
    if op == "DEPTH_TO_SPACE":
        return depth_to_space(x, int(attrs["block_size"]))
    if op == "SPACE_TO_DEPTH":
        return space_to_depth(x, int(attrs["block_size"]))
    if op == "TRANSPOSE":
        return np.transpose(x, [int(p) for p in attrs["perm"]])
    if op == "SLICE":
        return slice_axes(x, attrs)
    if op == "GATHER":
        return np.take(x, np.asarray(attrs["indices"], np.int64), axis=int(attrs["axis"]))
    if op == "RESIZE_NEAREST_NEIGHBOR":
        return resize_nearest(x, attrs)
    raise ValueError(f"not a value-moving op: {op!r}")


MOVE_OPS = (
    "DEPTH_TO_SPACE",
    "SPACE_TO_DEPTH",
    "TRANSPOSE",
    "SLICE",
    "GATHER",
    "RESIZE_NEAREST_NEIGHBOR",
)


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
        value = np.float32(a.get("value", 0.0))
        return np.pad(args[0], [tuple(p) for p in a["paddings"]], constant_values=value)  # type: ignore[call-overload]
    elif op == "TRANSPOSE_CONV":
        y = _transpose_conv(node, *args)  # type: ignore[arg-type]
    elif op == "SUB":
        y = np.subtract(args[0], args[1], dtype=np.float64)
    elif op == "DIV":
        with np.errstate(divide="ignore", invalid="ignore"):  # IEEE: inf / nan
            y = np.divide(
                np.asarray(args[0], np.float32), np.asarray(args[1], np.float32), dtype=np.float32
            )
    elif op == "MAXIMUM":
        return np.maximum(args[0], args[1])
    elif op == "MINIMUM":
        return np.minimum(args[0], args[1])
    elif op == "LEAKY_RELU":
        x = np.asarray(args[0], np.float64)
        return np.where(x >= 0, x, np.float64(np.float32(a["alpha"])) * x)
    elif op == "PRELU":
        x = np.asarray(args[0], np.float64)
        return np.where(x >= 0, x, np.asarray(args[1], np.float64) * x)
    elif op == "RESIZE_BILINEAR":
        return _resize_bilinear(node, args[0])  # type: ignore[arg-type]
    elif op in MOVE_OPS:
        return move_values(op, args[0], a)  # type: ignore[arg-type]
    elif op == "QUANTIZE":
        return args[0]  # type: ignore[return-value]
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

    ``f32``: the stored values (``dense``, or ``q8r4`` / ``q8r8`` materialised bit-exactly).
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
        elif g["compute"] in ("q8", "q4", "q8+f32", "q4+f32") and v.dtype.kind in "iu":
            # (a float island's constant, 1.5, is f32/f16 storage: kept as it is)
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
