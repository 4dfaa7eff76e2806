"""The int8 gear of an imported integer TFLite model: the file's own numbers as a QuantPlan.

Activation ``(scale, zero_point)`` per tensor (uint8 shifted to int8), int8
weights (a per-tensor scale repeated per output channel: the same
multipliers), int32 biases whose scale is ``x_scale * w_scale``, int8
constant operands. Where the file's numbers cannot be kept as they are
(asymmetric or uint8 weights, a bias of another scale) they are re-derived
from the dequantized values and the import notes it: that part of the gear
then differs from LiteRT (docs/QUANTIZATION.md "Imported integer TFLite
models").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .ir import Graph, Node
from .quant_ref import QParams, quantize, quantize_weights_q8
from .quantize import (
    TIED_OPS,
    WEIGHT_AXIS,
    QuantPlan,
    bias_qparams,
    quantize_bias_q32,
    quantize_constant,
)
from .tflite_file import TensorInfo

__all__ = ["file_plan", "same_params", "tensor_qparams"]

_INT_TYPES = ("int8", "uint8")


def tensor_qparams(t: TensorInfo) -> QParams:
    """``t``'s int8 params (uint8: zero point - 128); per-channel keeps its axis."""
    zp = t.zero_point - (128 if t.type_name == "uint8" else 0)
    if t.scale.size == 1:
        return QParams.of(t.scale[0], int(zp[0]))
    return QParams.of(t.scale, zp, t.quantized_dimension)


def same_params(a: QParams, b: QParams) -> bool:
    return bool(np.array_equal(a.scale, b.scale) and np.array_equal(a.zero_point, b.zero_point))


@dataclass
class _Context:
    g: Graph
    qact: dict[str, QParams]  # IR activation -> the file's int8 params
    qconst: dict[str, tuple[np.ndarray, TensorInfo]]  # IR constant -> the file's raw ints
    notes: list[str]
    requantized_inputs: list[str] = field(default_factory=list)
    requantized_weights: list[str] = field(default_factory=list)


def file_plan(
    graph: Graph,
    qact: dict[str, QParams],
    qconst: dict[str, tuple[np.ndarray, TensorInfo]],
    notes: list[str],
) -> QuantPlan:
    """The QuantPlan of a fully quantized graph (every activation in ``qact``); may insert
    QUANTIZE nodes (:func:`_tie_params`) and appends to ``notes``."""
    ctx = _Context(graph, qact, qconst, notes)
    _tie_params(ctx)
    plan = _build_plan(ctx)
    if ctx.requantized_inputs:
        notes.append(
            f"{len(ctx.requantized_inputs)} value-moving op(s) had inputs with other int8 "
            f"parameters than their output, now requantized by a QUANTIZE node first "
            f"(e.g. {ctx.requantized_inputs[0]}): at most 1 unit from LiteRT there"
        )
    if ctx.requantized_weights:
        notes.append(
            f"{len(ctx.requantized_weights)} weight tensor(s) re-quantized symmetric per "
            f"channel (the file's are asymmetric or per another axis, e.g. "
            f"{ctx.requantized_weights[0]!r}): the int8 gear differs from LiteRT there"
        )
    return plan


def _tie_params(ctx: _Context) -> None:
    """Where a value-moving op's input has other params than its output (TFLite
    requantizes there, e.g. CONCATENATION), insert a QUANTIZE node: the format
    needs them equal (FORMAT.md "Compute tokens")."""
    for node in list(ctx.g.nodes):
        if node.op not in TIED_OPS:
            continue
        out = ctx.qact[node.outputs[0]]
        for k, x in enumerate(node.inputs):
            if x is None or ctx.g.tensors[x].is_const:
                continue
            qp = ctx.qact[x]
            if same_params(qp, out):
                continue
            y = ctx.g.unique_name(f"{x}/requantized", "tensors")
            ctx.g.add_tensor(y, ctx.g.tensors[x].shape)
            ctx.qact[y] = out
            q = Node(ctx.g.unique_name(y, "nodes"), "QUANTIZE", [x], [y])
            ctx.g.nodes.insert(ctx.g.nodes.index(node), q)
            node.inputs[k] = y
            ctx.requantized_inputs.append(f"{node.op} {node.name!r}")


def _build_plan(ctx: _Context) -> QuantPlan:
    plan = QuantPlan(
        activations={
            t: ctx.qact[t] for t in ctx.g.tensors if t in ctx.qact and not ctx.g.tensors[t].is_const
        }
    )
    for n in ctx.g.nodes:
        for pos, t in enumerate(n.inputs):
            if t is None or not ctx.g.tensors[t].is_const:
                continue
            if n.op in WEIGHT_AXIS and pos == 1:
                plan.weights[t] = _plan_weight(ctx, n, t)
            elif n.op in WEIGHT_AXIS and pos == 2:
                plan.biases[t] = _plan_bias(ctx, n, t, plan)
            elif t not in plan.others:
                plan.others[t] = _plan_other(ctx, n, t)
    return plan


def _plan_weight(ctx: _Context, n: Node, t: str) -> tuple[np.ndarray, QParams]:
    axis = WEIGHT_AXIS[n.op]
    raw = ctx.qconst.get(t)
    data = np.asarray(ctx.g.tensors[t].data)
    if raw is not None:
        q, info = raw
        # the file's values where its scales can be used as they are (a zero scale, which
        # some converters write for an all-zero channel, is requantized from the floats)
        usable = bool(np.all(np.isfinite(info.scale)) and np.all(info.scale > 0))
        if (
            usable
            and info.type_name == "int8"
            and not np.any(info.zero_point)
            and q.shape == data.shape
        ):
            if info.scale.size == 1:
                scale = np.full(data.shape[axis], info.scale[0], np.float32)
                return np.asarray(q, np.int8), QParams.of(
                    scale, np.zeros(scale.size, np.int64), axis
                )
            if info.quantized_dimension == axis:
                return np.asarray(q, np.int8), QParams.of(
                    info.scale, np.zeros(info.scale.size, np.int64), axis
                )
    if t not in ctx.requantized_weights:
        ctx.requantized_weights.append(t)
    return quantize_weights_q8(data, axis)


def _plan_bias(ctx: _Context, n: Node, t: str, plan: QuantPlan) -> tuple[np.ndarray, QParams]:
    # _build_plan visits a node's weights (input 1) before its bias (input 2)
    x_qp = plan.activations[n.inputs[0]]  # type: ignore[index]
    w_qp = plan.weights[n.inputs[1]][1]  # type: ignore[index]
    b_qp = bias_qparams(x_qp, w_qp)
    raw = ctx.qconst.get(t)
    if raw is not None and raw[1].type_name == "int32":
        q, info = raw
        s = np.broadcast_to(info.scale, b_qp.scale.shape).astype(np.float32)
        if np.allclose(s, b_qp.scale, rtol=1e-6, atol=0):
            return np.asarray(q, np.int32), b_qp
    return quantize_bias_q32(np.asarray(ctx.g.tensors[t].data), x_qp, w_qp)


def _plan_other(ctx: _Context, n: Node, t: str) -> tuple[np.ndarray, QParams]:
    data = np.asarray(ctx.g.tensors[t].data)
    if n.op in TIED_OPS:
        qp = ctx.qact[n.outputs[0]]
        return quantize(data, qp), qp
    raw = ctx.qconst.get(t)
    if raw is not None:
        q, info = raw
        if info.type_name in _INT_TYPES and info.scale.size == 1 and q.shape == data.shape:
            qp = tensor_qparams(info)
            shift = 128 if info.type_name == "uint8" else 0
            return (q.astype(np.int64) - shift).astype(np.int8), qp
    return quantize_constant(data)
