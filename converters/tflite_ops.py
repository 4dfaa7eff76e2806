"""One function per TFLite operator: how it becomes FORMAT.md ops in the IR.

Each handler gets the importer (``import_tflite._Importer``), the operator's
input and output tensor indices (-1: an absent optional input), its builtin
options object (schema object API; None when the file stores none) and the
operator itself (for custom options). Shapes and attributes follow the TFLite
schema; the batch (dimension 0) must pass through every op untouched.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .ir import Node
from .tflite_quant import same_params, tensor_qparams

if TYPE_CHECKING:
    from .import_tflite import _Importer

__all__ = ["HANDLERS", "fold_ints"]

Handler = Callable[["_Importer", list[int], list[int], Any, Any], None]
HANDLERS: dict[str, Handler] = {}
_PADDING = {0: "SAME", 1: "VALID"}


def _handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return register


def _opt(opts: Any, field: str, default: Any) -> Any:
    return default if opts is None else getattr(opts, field, default)


def _padding(imp: _Importer, opts: Any) -> str:
    p = _opt(opts, "padding", 0)
    if p not in _PADDING:
        raise imp.fail(f"unknown padding {p}")
    return _PADDING[p]


def _weight(imp: _Importer, i: int, what: str = "weights") -> str:
    if i < 0 or not imp.is_const(i):
        raise imp.fail(f"{what} computed at run time are not supported (they must be constants)")
    return imp.const_name(i)


def _bias(imp: _Importer, ins: list[int], pos: int) -> str | None:
    if len(ins) <= pos or ins[pos] < 0:
        return None
    return _weight(imp, ins[pos], "biases")


def _inner(imp: _Importer, x: str, shape: tuple[int, ...], like: str, suffix: str) -> str:
    """A new activation tensor for an intermediate result (int8 params copied from ``like``)."""
    name = imp.g.unique_name(f"{x}/{suffix}", "tensors")
    imp.g.add_tensor(name, (-1, *shape[1:]))
    if like in imp.qact:
        imp.qact[name] = imp.qact[like]
    return name


# -- convolutions and dense -------------------------------------------------------------
@_handles("CONV_2D")
def _conv(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    x, w = imp.act(ins[0]), _weight(imp, ins[1])
    c_in, c_w = imp.info(ins[0]).shape[-1], imp.info(ins[1]).shape[-1]
    if c_in != c_w:
        raise imp.fail(f"grouped convolution ({c_in} channels, filter depth {c_w})")
    attrs = {
        "stride": [int(_opt(opts, "strideH", 1)), int(_opt(opts, "strideW", 1))],
        "dilation": [int(_opt(opts, "dilationHFactor", 1)), int(_opt(opts, "dilationWFactor", 1))],
        "padding": _padding(imp, opts),
    }
    imp.emit_fused("CONV_2D", [x, w, _bias(imp, ins, 2)], outs[0], opts, attrs)


@_handles("DEPTHWISE_CONV_2D")
def _depthwise(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    x, w = imp.act(ins[0]), _weight(imp, ins[1])
    c, cm = imp.info(ins[0]).shape[-1], imp.info(ins[1]).shape[-1]
    if c < 1 or cm < 1 or cm % c:
        raise imp.fail(f"filter depth {cm} is not a positive multiple of the {c} input channels")
    attrs = {
        "stride": [int(_opt(opts, "strideH", 1)), int(_opt(opts, "strideW", 1))],
        "dilation": [int(_opt(opts, "dilationHFactor", 1)), int(_opt(opts, "dilationWFactor", 1))],
        "padding": _padding(imp, opts),
        # from the shapes: some converters write 0 or a stale depth_multiplier
        "depth_multiplier": cm // c,
    }
    imp.emit_fused("DEPTHWISE_CONV_2D", [x, w, _bias(imp, ins, 2)], outs[0], opts, attrs)


@_handles("FULLY_CONNECTED")
def _dense(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    if int(_opt(opts, "weightsFormat", 0)) != 0:
        raise imp.fail("shuffled (SHUFFLED4x16INT8) weights are not supported")
    x, w = imp.act(ins[0]), _weight(imp, ins[1])
    xs, n_in = imp.info(ins[0]).shape, imp.info(ins[1]).shape[-1]
    out_shape = imp.info(outs[0]).shape
    if len(xs) > 2 and len(out_shape) == 2:  # keep_num_dims False: the input is flattened
        if int(np.prod(xs[1:])) != n_in or out_shape[0] != xs[0]:
            raise imp.fail(
                f"flattening input {list(xs)} to rows of {n_in} would mix the batch into rows"
            )
        flat = _inner(imp, x, (xs[0], n_in), x, "flat")
        imp.g.add_node(
            Node(imp.g.unique_name(flat, "nodes"), "RESHAPE", [x], [flat], {"shape": [n_in]})
        )
        x = flat
    imp.emit_fused("FULLY_CONNECTED", [x, w, _bias(imp, ins, 2)], outs[0], opts, {})


def _transpose_conv_attrs(
    imp: _Importer, out: int, padding: str, stride: list[int]
) -> dict[str, Any]:
    shape = imp.info(out).shape
    if len(shape) != 4:
        raise imp.fail(f"output shape {list(shape)} is not NHWC")
    return {"stride": stride, "padding": padding, "output_size": [shape[1], shape[2]]}


@_handles("TRANSPOSE_CONV")
def _transpose_conv(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    size = imp.params(ins[0])
    if size[1:3] != list(imp.info(outs[0]).shape[1:3]):
        raise imp.fail(f"output_shape {size} disagrees with the output tensor")
    x, w = imp.act(ins[2]), _weight(imp, ins[1])
    stride = [int(_opt(opts, "strideH", 1)), int(_opt(opts, "strideW", 1))]
    attrs = _transpose_conv_attrs(imp, outs[0], _padding(imp, opts), stride)
    imp.emit_fused("TRANSPOSE_CONV", [x, w, _bias(imp, ins, 3)], outs[0], opts, attrs)


@_handles("CUSTOM:Convolution2DTransposeBias")
def _transpose_conv_bias(
    imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any
) -> None:
    """MediaPipe's transpose convolution with bias: inputs x, weights, bias; its custom
    options are a ``TfLiteTransposeConvParams`` (int32 padding 1=SAME 2=VALID, stride_w,
    stride_h)."""
    raw = bytes(np.asarray(op.customOptions if op.customOptions is not None else [], np.uint8))
    if len(raw) < 12 or len(ins) != 3:
        raise imp.fail("Convolution2DTransposeBias needs 3 inputs and 12 bytes of options")
    pad, sw, sh = struct.unpack("<3i", raw[:12])
    if pad not in (1, 2) or sw < 1 or sh < 1:
        raise imp.fail(f"bad options: padding {pad}, stride {sh}x{sw}")
    x, w = imp.act(ins[0]), _weight(imp, ins[1])
    attrs = _transpose_conv_attrs(imp, outs[0], "SAME" if pad == 1 else "VALID", [sh, sw])
    imp.emit("TRANSPOSE_CONV", [x, w, _bias(imp, ins, 2)], outs[0], {**attrs, "activation": "NONE"})


# -- element-wise ---------------------------------------------------------------------
@_handles("ADD", "SUB", "MUL", "DIV")
def _binary_fused(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    name = imp.tf.op_names[imp.op_index]
    imp.emit_fused(name, [imp.operand(ins[0]), imp.operand(ins[1])], outs[0], opts, {})


@_handles("MAXIMUM", "MINIMUM")
def _binary(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    name = imp.tf.op_names[imp.op_index]
    imp.emit(name, [imp.operand(ins[0]), imp.operand(ins[1])], outs[0])


@_handles("RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH")
def _unary(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    imp.emit(imp.tf.op_names[imp.op_index], [imp.act(ins[0])], outs[0])


@_handles("LEAKY_RELU")
def _leaky_relu(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    imp.emit("LEAKY_RELU", [imp.act(ins[0])], outs[0], {"alpha": float(_opt(opts, "alpha", 0.2))})


@_handles("PRELU")
def _prelu(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    imp.emit("PRELU", [imp.act(ins[0]), _weight(imp, ins[1], "PRELU alphas")], outs[0])


@_handles("SOFTMAX")
def _softmax(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    imp.emit("SOFTMAX", [imp.act(ins[0])], outs[0], {"beta": float(_opt(opts, "beta", 1.0))})


# -- shape and layout -----------------------------------------------------------------
def _keeps_batch(imp: _Importer, a: tuple[int, ...], b: tuple[int, ...]) -> None:
    if not a or not b or a[0] != b[0]:
        raise imp.fail(
            f"changes the batch dimension ({list(a)} -> {list(b)}): gearshift graphs keep "
            "dimension 0 as the batch"
        )


@_handles("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def _reshape(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    x = imp.act(ins[0])
    a, b = imp.info(ins[0]).shape, imp.info(outs[0]).shape
    _keeps_batch(imp, a, b)
    if a == b:
        imp.alias(outs[0], x)
        return
    imp.emit("RESHAPE", [x], outs[0], {"shape": list(b[1:])})


def _axis(imp: _Importer, a: int, rank: int, what: str) -> int:
    """Axis ``a`` of a rank-``rank`` tensor in [0, rank), as TFLite reads negative axes;
    an error naming ``what`` where it has no such axis (a scalar has none)."""
    if not -rank <= a < rank:
        raise imp.fail(f"{what} {a} does not exist in a tensor of rank {rank}")
    return a % rank


@_handles("TRANSPOSE")
def _transpose(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    rank = imp.rank(ins[0])
    perm = [_axis(imp, p, rank, "permutation axis") for p in imp.params(ins[1])]
    if sorted(perm) != list(range(rank)) or perm[0] != 0:
        raise imp.fail(f"permutation {perm} must keep axis 0 (the batch) first")
    if perm == list(range(rank)):
        imp.alias(outs[0], imp.act(ins[0]))
        return
    imp.emit("TRANSPOSE", [imp.act(ins[0])], outs[0], {"perm": perm})


@_handles("PAD", "PADV2")
def _pad(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    rank = imp.rank(ins[0])
    pads = np.asarray(imp.params(ins[1]), np.int64).reshape(-1, 2)
    if pads.shape[0] != rank or np.any(pads < 0) or np.any(pads[0] != 0):
        raise imp.fail(f"paddings {pads.tolist()} (the batch cannot be padded)")
    attrs: dict[str, Any] = {"paddings": pads.tolist()}
    if len(ins) > 2 and ins[2] >= 0:
        value = float(np.asarray(imp.fconst(ins[2])).ravel()[0])
        if value != 0.0:
            attrs["value"] = value
    imp.emit("PAD", [imp.act(ins[0])], outs[0], attrs)


@_handles("CONCATENATION")
def _concat(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    rank = imp.rank(outs[0])
    axis = int(_opt(opts, "axis", 0)) % max(rank, 1)
    if axis == 0:
        raise imp.fail("concatenation along the batch axis")
    xs: list[str | None] = [imp.operand(i) for i in ins]
    imp.emit_fused("CONCATENATION", xs, outs[0], opts, {"axis": axis})


# -- pooling and reductions --------------------------------------------------------------
@_handles("MAX_POOL_2D", "AVERAGE_POOL_2D")
def _pool(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    attrs = {
        "filter": [int(_opt(opts, "filterHeight", 1)), int(_opt(opts, "filterWidth", 1))],
        "stride": [int(_opt(opts, "strideH", 1)), int(_opt(opts, "strideW", 1))],
        "padding": _padding(imp, opts),
    }
    name = imp.tf.op_names[imp.op_index]
    imp.emit_fused(name, [imp.act(ins[0])], outs[0], opts, attrs)


@_handles("MEAN")
def _mean(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    rank = imp.rank(ins[0])
    axes = sorted({_axis(imp, a, rank, "MEAN axis") for a in imp.params(ins[1])})
    if 0 in axes:
        raise imp.fail("a mean over the batch axis")
    attrs = {"axes": axes, "keep_dims": bool(_opt(opts, "keepDims", False))}
    imp.emit("MEAN", [imp.act(ins[0])], outs[0], attrs)


# -- resampling ---------------------------------------------------------------------------
@_handles("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def _resize(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    size = imp.params(ins[1])
    if len(size) != 2 or min(size) < 1:
        raise imp.fail(f"size {size} must be two positive integers")
    attrs = {
        "size": size,
        "align_corners": bool(_opt(opts, "alignCorners", False)),
        "half_pixel_centers": bool(_opt(opts, "halfPixelCenters", False)),
    }
    imp.emit(imp.tf.op_names[imp.op_index], [imp.act(ins[0])], outs[0], attrs)


@_handles("DEPTH_TO_SPACE", "SPACE_TO_DEPTH")
def _block(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    b = int(_opt(opts, "blockSize", 0))
    if b < 1:
        raise imp.fail(f"block size {b}")
    imp.emit(imp.tf.op_names[imp.op_index], [imp.act(ins[0])], outs[0], {"block_size": b})


# -- slicing ------------------------------------------------------------------------------
def _emit_slice(imp: _Importer, x_index: int, out: int, bounds: list[tuple[int, int, int]]) -> None:
    """``y = x[b0:e0:s0, ...]`` then a reshape to ``out``'s shape (dropped axes)."""
    x = imp.act(x_index)
    shape = imp.info(x_index).shape
    b0, e0, s0 = bounds[0]
    if (b0, min(e0, shape[0]), s0) != (0, shape[0], 1):
        raise imp.fail("slicing the batch axis")
    sliced = tuple(len(range(b, e, s)) for b, e, s in bounds)
    if min(sliced) < 1:
        raise imp.fail(f"an empty slice {bounds}")
    target = imp.info(out).shape
    if int(np.prod(sliced)) != int(np.prod(target)):
        raise imp.fail(f"slice {sliced} does not match output shape {list(target)}")
    full = all((b, e, s) == (0, d, 1) for (b, e, s), d in zip(bounds[1:], shape[1:]))
    if full:
        src = x
    elif sliced == target:
        imp.emit("SLICE", [x], out, _slice_attrs(bounds))
        return
    else:
        src = _inner(imp, x, sliced, x, "slice")
        node = Node(imp.g.unique_name(src, "nodes"), "SLICE", [x], [src], _slice_attrs(bounds))
        imp.g.add_node(node)
    if sliced == target:
        imp.alias(out, src)
        return
    _keeps_batch(imp, sliced, target)
    imp.emit("RESHAPE", [src], out, {"shape": list(target[1:])})


def _slice_attrs(bounds: list[tuple[int, int, int]]) -> dict[str, Any]:
    return {
        "begin": [b for b, _, _ in bounds[1:]],
        "end": [e for _, e, _ in bounds[1:]],
        "strides": [s for _, _, s in bounds[1:]],
    }


@_handles("STRIDED_SLICE")
def _strided_slice(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    shape = imp.info(ins[0]).shape
    begin, end = imp.params(ins[1]), imp.params(ins[2])
    strides = imp.params(ins[3]) if len(ins) > 3 and ins[3] >= 0 else [1] * len(begin)
    if _opt(opts, "ellipsisMask", 0) or _opt(opts, "newAxisMask", 0):
        raise imp.fail("ellipsis_mask and new_axis_mask are not supported")
    bmask, emask = int(_opt(opts, "beginMask", 0)), int(_opt(opts, "endMask", 0))
    shrink, offset = int(_opt(opts, "shrinkAxisMask", 0)), bool(_opt(opts, "offset", False))
    bounds = []
    for ax, dim in enumerate(shape):
        if ax >= len(begin):
            bounds.append((0, dim, 1))
            continue
        b = None if bmask >> ax & 1 else begin[ax]
        e = None if emask >> ax & 1 else end[ax]
        s = strides[ax]
        if offset and e is not None:
            e = (b or 0) + e
        if shrink >> ax & 1:
            b = begin[ax] + dim if begin[ax] < 0 else begin[ax]
            e, s = b + 1, 1
        if s < 1:
            raise imp.fail(f"stride {s}: negative or zero strides are not supported")
        start, stop, step = slice(b, e, s).indices(dim)
        bounds.append((start, max(stop, start), step))
    _emit_slice(imp, ins[0], outs[0], bounds)


@_handles("SLICE")
def _slice(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    shape = imp.info(ins[0]).shape
    begin, size = imp.params(ins[1]), imp.params(ins[2])
    bounds = []
    for b, n, dim in zip(begin, size, shape):
        e = dim if n == -1 else b + n
        if not 0 <= b <= e <= dim:
            raise imp.fail(f"slice begin {begin} size {size} outside {list(shape)}")
        bounds.append((b, e, 1))
    _emit_slice(imp, ins[0], outs[0], bounds)


def _split_pieces(imp: _Importer, x: int, axis: int, sizes: list[int], outs: list[int]) -> None:
    shape = imp.info(x).shape
    axis %= len(shape)
    if axis == 0:
        raise imp.fail("splitting the batch axis")
    start = 0
    for size, out in zip(sizes, outs):
        bounds = [(0, d, 1) for d in shape]
        bounds[axis] = (start, start + size, 1)
        _emit_slice(imp, x, out, bounds)
        start += size


@_handles("SPLIT")
def _split(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    axis = imp.params(ins[0])[0]
    dim = imp.info(ins[1]).shape[_axis(imp, axis, imp.rank(ins[1]), "SPLIT axis")]
    if not outs or dim % len(outs):
        raise imp.fail(f"{dim} does not split into {len(outs)} equal parts")
    _split_pieces(imp, ins[1], axis, [dim // len(outs)] * len(outs), outs)


@_handles("SPLIT_V")
def _split_v(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    axis = _axis(imp, imp.params(ins[2])[0], imp.rank(ins[0]), "SPLIT_V axis")
    dim = imp.info(ins[0]).shape[axis]
    sizes = imp.params(ins[1])
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = dim - (sum(sizes) + 1)
    if sum(sizes) != dim or min(sizes) < 1:
        raise imp.fail(f"split sizes {sizes} do not add up to {dim}")
    _split_pieces(imp, ins[0], axis, sizes, outs)


@_handles("GATHER")
def _gather(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    shape = imp.info(ins[0]).shape
    axis = int(_opt(opts, "axis", 0)) % max(len(shape), 1)
    if int(_opt(opts, "batchDims", 0)) != 0 or axis == 0:
        raise imp.fail("gathering along the batch axis (or with batch_dims) is not supported")
    idx = imp.raw(ins[1]).astype(np.int64)
    if np.any(idx < 0) or np.any(idx >= shape[axis]):
        raise imp.fail(f"indices outside [0, {shape[axis]})")
    x = imp.act(ins[0])
    attrs = {"axis": axis, "indices": [int(i) for i in idx.ravel()]}
    target = imp.info(outs[0]).shape
    gathered = (*shape[:axis], idx.size, *shape[axis + 1 :])
    if gathered == target:
        imp.emit("GATHER", [x], outs[0], attrs)
        return
    tmp = _inner(imp, x, gathered, x, "gather")
    imp.g.add_node(Node(imp.g.unique_name(tmp, "nodes"), "GATHER", [x], [tmp], attrs))
    imp.emit("RESHAPE", [tmp], outs[0], {"shape": list(target[1:])})


# -- quantization boundaries ------------------------------------------------------------------
@_handles("QUANTIZE", "DEQUANTIZE")
def _quantize(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    """Float<->int conversions are identities in the IR (gears choose their own arithmetic);
    an int8-to-int8 QUANTIZE that changes the parameters stays a QUANTIZE node."""
    x = imp.act(ins[0])
    src, dst = imp.info(ins[0]), imp.info(outs[0])
    ints = ("int8", "uint8")
    both_int = src.type_name in ints and dst.type_name in ints and x in imp.qact
    if both_int and not same_params(imp.qact[x], tensor_qparams(dst)):
        imp.emit("QUANTIZE", [x], outs[0])
        return
    imp.alias(outs[0], x)


# -- shape arithmetic on constants ------------------------------------------------------------
def _slice_1d(imp: _Importer, x: np.ndarray, ins: list[int], opts: Any) -> np.ndarray:
    if x.ndim != 1:
        raise imp.fail("STRIDED_SLICE of a constant integer tensor of rank > 1")
    b, e = imp.params(ins[1])[0], imp.params(ins[2])[0]
    s = imp.params(ins[3])[0] if len(ins) > 3 and ins[3] >= 0 else 1
    if int(_opt(opts, "shrinkAxisMask", 0)) & 1:
        return np.asarray(x[b % x.size])
    begin = None if int(_opt(opts, "beginMask", 0)) & 1 else b
    end = None if int(_opt(opts, "endMask", 0)) & 1 else e
    return x[begin:end:s]


def fold_ints(imp: _Importer, name: str, ins: list[int], out: int, opts: Any) -> np.ndarray:
    """An integer op whose inputs are all constants (shape arithmetic), computed here."""
    xs = [imp.raw(i) for i in ins if i >= 0]
    if name == "PACK":
        y = np.stack(xs, axis=int(_opt(opts, "axis", 0)))
    elif name == "CONCATENATION":
        y = np.concatenate(xs, axis=int(_opt(opts, "axis", 0)))
    elif name == "STRIDED_SLICE":
        y = _slice_1d(imp, xs[0], ins, opts)
    elif name in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
        y = xs[0].reshape(imp.info(out).shape)
    elif name == "GATHER":
        y = np.take(xs[0], xs[1], axis=int(_opt(opts, "axis", 0)))
    elif name in ("ADD", "SUB", "MUL"):
        y = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply}[name](xs[0], xs[1])
    else:
        raise imp.fail(f"{name} on constant integer tensors is not supported")
    return np.asarray(y, np.int64)


@_handles("PACK")
def _pack(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    raise imp.fail("PACK of computed tensors (only PACK in shape arithmetic is folded)")


@_handles("SHAPE")
def _shape(imp: _Importer, ins: list[int], outs: list[int], opts: Any, op: Any) -> None:
    raise imp.fail("SHAPE is folded to a constant before this point")  # never reached
