"""Post-training int8 quantization of a graph: the parameters of the int8 and int4 gears.

Input: a graph after the passes, and a calibrated float range per activation
tensor (``calibrate.calibrate``). Output: :class:`QuantPlan`, every number the
writer puts into the ``q8``/``q4`` gears of a ``.gear`` file (FORMAT.md
"Compute tokens", QUANTIZATION.md "The int8 gear, op by op"):

- an int8 ``(scale, zero_point)`` per non-constant tensor, chosen from its
  range as gemmlowp does, with the ties the format requires: the inputs and
  output of MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE, PAD, CONCATENATION and the
  value-moving ops of 1.3 (:data:`TIED_OPS`) share one set of parameters
  (from the union of their ranges), and SOFTMAX outputs get TFLite's fixed ``(1/256, -128)``;
- conv/depthwise/dense/transpose-conv weights symmetric per output channel, biases int32 at
  ``x_scale * w_scale[c]``;
- any other constant operand (of ADD, MUL, CONCATENATION, ...) asymmetric per
  tensor from its own min and max.

Both integer gears share all of it: the int4 gear's weights are derived from
the int8 ones in the file (the ``q4m`` encoding).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .ir import Graph
from .quant_ref import QParams, choose_qparams, quantize, quantize_bias, quantize_weights_q8

__all__ = [
    "TIED_OPS",
    "WEIGHT_AXIS",
    "WEIGHT_OPS",
    "QuantPlan",
    "bias_qparams",
    "quantize_bias_q32",
    "quantize_constant",
    "quantize_graph",
    "refit_plan",
]

WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
# Output-channel axis of each WEIGHT_OPS filter (quant_ref.weight_channel_axis).
WEIGHT_AXIS = {"CONV_2D": 0, "FULLY_CONNECTED": 0, "DEPTHWISE_CONV_2D": 3, "TRANSPOSE_CONV": 0}
# Ops whose int8 form moves values without rescaling: one (scale, zp) for all
# their non-constant inputs and their output (FORMAT.md "Compute tokens").
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
SOFTMAX_QPARAMS = (1.0 / 256.0, -128)


def bias_qparams(x_qp: QParams, w_qp: QParams) -> QParams:
    """A conv/dense bias's int32 params: ``x_scale * w_scale[c]`` (float32 product, as TFLite)."""
    b_scale = (np.float32(x_qp.scale) * w_qp.scale).astype(np.float32)
    return QParams.of(b_scale, np.zeros(b_scale.shape, np.int64), 0)


def quantize_bias_q32(data: np.ndarray, x_qp: QParams, w_qp: QParams) -> tuple[np.ndarray, QParams]:
    """A bias as int32 values at :func:`bias_qparams`."""
    return quantize_bias(data, float(x_qp.scale), w_qp.scale), bias_qparams(x_qp, w_qp)


def quantize_constant(data: np.ndarray) -> tuple[np.ndarray, QParams]:
    """Any other constant operand: int8, asymmetric per tensor from its own min and max."""
    qp = choose_qparams(float(data.min(initial=0.0)), float(data.max(initial=0.0)))
    return quantize(data, qp), qp


@dataclass
class QuantPlan:
    """The integer gears' numbers, by tensor name."""

    activations: dict[str, QParams] = field(default_factory=dict)
    # conv/depthwise/dense weights: int8 values and per-channel params
    weights: dict[str, tuple[np.ndarray, QParams]] = field(default_factory=dict)
    # their biases: int32 values and per-channel params (x_scale * w_scale)
    biases: dict[str, tuple[np.ndarray, QParams]] = field(default_factory=dict)
    # every other constant operand: int8 values and per-tensor params
    others: dict[str, tuple[np.ndarray, QParams]] = field(default_factory=dict)
    # the int4 gear's own weights where they are not the q4m view of ``weights``
    # (``weight_rounding``): int8 values on the q4m grid, with ``weights``' params
    q4_weights: dict[str, np.ndarray] = field(default_factory=dict)
    # weights the int4 gear keeps at int8 besides the first layers' (``int4_int8_layers``)
    q4_int8: set[str] = field(default_factory=set)
    # the int4 gear's own biases where they are not ``biases`` (bias correction measured
    # on the int4 gear): int32 values with ``biases``' params; the writer stores them as
    # the int4 gear's own entries (identical ones are shared)
    q4_biases: dict[str, tuple[np.ndarray, QParams]] = field(default_factory=dict)


class _Groups:
    """Union-find over tensor names (ties between tensors that share parameters)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _activation_params(graph: Graph, ranges: dict[str, tuple[float, float]]) -> dict[str, QParams]:
    names = [t.name for t in graph.tensors.values() if not t.is_const]
    missing = [n for n in names if n not in ranges]
    if missing:
        raise ValueError(
            f"no calibrated range for {len(missing)} tensor(s), e.g. {missing[0]!r}: "
            "calibrate the graph after the passes"
        )
    groups = _Groups()
    fixed: dict[str, tuple[float, int]] = {}
    ranges = dict(ranges)
    for n in graph.nodes:
        if n.op in TIED_OPS:
            for t in n.inputs:
                if t is None:
                    continue
                data = graph.tensors[t].data
                if data is not None:  # a constant operand moves unchanged too: same params
                    ranges[t] = (float(np.min(data, initial=0.0)), float(np.max(data, initial=0.0)))
                    names.append(t)
                groups.union(n.outputs[0], t)
        if n.op == "SOFTMAX":
            fixed[n.outputs[0]] = SOFTMAX_QPARAMS
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    pinned: dict[str, tuple[float, int]] = {}
    for name in names:
        root = groups.find(name)
        rmin, rmax = ranges[name]
        lo[root] = min(lo.get(root, 0.0), float(rmin))
        hi[root] = max(hi.get(root, 0.0), float(rmax))
        if name in fixed:
            pinned[root] = fixed[name]
    out: dict[str, QParams] = {}
    for name in names:
        root = groups.find(name)
        if root in pinned:
            scale, zp = pinned[root]
            out[name] = QParams.of(np.float32(scale), zp)
        else:
            out[name] = choose_qparams(lo[root], hi[root])
    return out


def quantize_graph(graph: Graph, ranges: dict[str, tuple[float, float]]) -> QuantPlan:
    """Integer-gear parameters for ``graph`` from calibrated ``ranges`` (see module doc)."""
    params = _activation_params(graph, ranges)
    plan = QuantPlan(activations={k: v for k, v in params.items() if not graph.tensors[k].is_const})
    weight_axis = WEIGHT_AXIS
    for n in graph.nodes:
        consts = [
            (i, t) for i, t in enumerate(n.inputs) if t is not None and graph.tensors[t].is_const
        ]
        for i, t in consts:
            data = np.asarray(graph.tensors[t].data, np.float32)
            if n.op in WEIGHT_OPS and i == 1:
                if t not in plan.weights:
                    plan.weights[t] = quantize_weights_q8(data, weight_axis[n.op])
            elif n.op in WEIGHT_OPS and i == 2:
                x_qp = plan.activations[n.inputs[0]]
                w_qp = quantize_weights_q8(
                    np.asarray(graph.tensors[n.inputs[1]].data, np.float32), weight_axis[n.op]
                )[1]
                q, b_qp = quantize_bias_q32(data, x_qp, w_qp)
                prev = plan.biases.get(t)
                if prev is not None and not np.array_equal(prev[0], q):
                    raise ValueError(
                        f"bias {t!r} is shared by layers with different input scales; "
                        "the int8 gear needs one bias per layer"
                    )
                plan.biases[t] = (q, b_qp)
            elif t not in plan.others:
                if t in params:  # tied to a CONCATENATION/... output
                    plan.others[t] = (quantize(data, params[t]), params[t])
                else:
                    plan.others[t] = quantize_constant(data)
    return plan


def refit_plan(graph: Graph, plan: QuantPlan) -> QuantPlan:
    """An imported model's own int8 numbers, fitted to ``graph`` after the passes and pruning.

    Entries of tensors the passes removed are dropped. A weight pruned to exact
    zeros gets int8 value 0 there (the rest keep the file's values); a weight
    whose shape changed (channel pruning) is re-quantized per channel, and so is
    its bias. Activation parameters stay the file's: a range does not depend on
    how many channels share it.
    """
    missing = [
        t.name for t in graph.tensors.values() if not t.is_const and t.name not in plan.activations
    ]
    if missing:
        raise ValueError(
            f"{len(missing)} tensor(s) have no int8 parameters after the passes, e.g. "
            f"{missing[0]!r}: convert with calibration= instead"
        )
    out = QuantPlan(activations={k: v for k, v in plan.activations.items() if k in graph.tensors})
    for n in graph.nodes:
        for i, t in enumerate(n.inputs):
            if t is None or not graph.tensors[t].is_const:
                continue
            data = np.asarray(graph.tensors[t].data, np.float32)
            if n.op in WEIGHT_OPS and i == 1:
                prev = plan.weights.get(t)
                if prev is not None and prev[0].shape == data.shape:
                    out.weights[t] = (np.where(data == 0, 0, prev[0]).astype(np.int8), prev[1])
                else:
                    out.weights[t] = quantize_weights_q8(data, WEIGHT_AXIS[n.op])
            elif n.op in WEIGHT_OPS and i == 2:
                prev = plan.biases.get(t)
                w = n.inputs[1]
                same_w = (
                    w is not None
                    and w in plan.weights
                    and plan.weights[w][0].shape == (graph.tensors[w].shape)
                )
                if prev is not None and prev[0].shape == data.shape and same_w:
                    out.biases[t] = prev
                else:
                    assert w is not None
                    x_qp = out.activations[n.inputs[0]]  # type: ignore[index]
                    out.biases[t] = quantize_bias_q32(data, x_qp, out.weights[w][1])
            elif t not in out.others:
                prev = plan.others.get(t)
                if prev is not None and prev[0].shape == data.shape:
                    out.others[t] = prev
                else:
                    out.others[t] = quantize_constant(data)
    return out
