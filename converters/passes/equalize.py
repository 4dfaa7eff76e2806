"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization") for the
integer gears.

A layer A whose output feeds only layer B, with nothing but a positively
homogeneous activation between them (none or ReLU: ``f(s x) = s f(x)`` for
``s > 0``), computes the same function when A's output channel ``c`` (its
filter and bias) is divided by ``s_c`` and B's input channel ``c`` multiplied by
it. With ``s_c = sqrt(r1_c / r2_c)`` (``r1_c``: the largest ``|w|`` of A's
channel, ``r2_c``: of B's input channel) both become ``sqrt(r1_c r2_c)``: the
channels of A's output, which share one int8 scale, come closer to one range.
That is what a depthwise layer followed by a pointwise one needs most:
depthwise channels differ widely and their output is quantized per tensor.

The float gears keep the source's weights (bit for bit in exact files); only
the integer gears are calibrated and quantized on the equalized copy
(``convert(equalize=True)``).
"""

from __future__ import annotations

import copy

import numpy as np

from ..ir import Graph, Node
from . import PassResult

__all__ = ["EQUALIZABLE_ACTIVATIONS", "equalize", "equalized_copy"]

EQUALIZABLE_ACTIVATIONS = ("NONE", "RELU")
# scales outside [1/S, S] are clipped: a channel whose weights are all ~0 has no range to equalize
MAX_SCALE = 1e3


# (output-channel axis, input-channel axis) of the weight of a layer that maps channel c
# to channel c: CONV_2D [O,KH,KW,I], depthwise (multiplier 1) [1,KH,KW,C]
_AXES = {"CONV_2D": (0, 3), "DEPTHWISE_CONV_2D": (3, 3)}


def _axes(node: Node) -> tuple[int, int] | None:
    if node.op == "DEPTHWISE_CONV_2D" and int(node.attrs.get("depth_multiplier", 1)) != 1:
        return None
    return _AXES.get(node.op)


def _pairs(graph: Graph) -> list[tuple[Node, Node]]:
    consumers = graph.consumer_map()
    pairs = []
    for a in graph.nodes:
        if _axes(a) is None or a.activation not in EQUALIZABLE_ACTIVATIONS:
            continue
        y = a.outputs[0]
        users = consumers.get(y, [])
        if y in graph.outputs or len(users) != 1:
            continue
        b = users[0]
        if _axes(b) is None or b.inputs[0] != y or y in b.inputs[1:]:
            continue
        wa, wb = a.inputs[1], b.inputs[1]
        if (
            wa is None
            or wb is None
            or not graph.tensors[wa].is_const
            or not graph.tensors[wb].is_const
        ):
            continue
        if len(consumers.get(wa, [])) != 1 or len(consumers.get(wb, [])) != 1:
            continue  # a shared weight would change elsewhere too
        bias = a.inputs[2] if len(a.inputs) > 2 else None
        if bias is not None and len(consumers.get(bias, [])) != 1:
            continue
        pairs.append((a, b))
    return pairs


def _channel_max(w: np.ndarray, axis: int) -> np.ndarray:
    other = tuple(i for i in range(w.ndim) if i != axis)
    return np.max(np.abs(w.astype(np.float64)), axis=other)


def equalize(graph: Graph) -> PassResult:
    """In place: equalizes every eligible (A, B) pair once (see the module doc)."""
    result = PassResult("equalize")
    for a, b in _pairs(graph):
        wa = graph.tensors[a.inputs[1]]
        wb = graph.tensors[b.inputs[1]]
        axes_a, axes_b = _axes(a), _axes(b)
        assert axes_a is not None and axes_b is not None
        assert wa.data is not None and wb.data is not None
        ax_a, ax_b = axes_a[0], axes_b[1]
        r1, r2 = _channel_max(wa.data, ax_a), _channel_max(wb.data, ax_b)
        if r1.shape != r2.shape:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.sqrt(r1 / r2)
        s = np.where(np.isfinite(s) & (s > 0), s, 1.0)
        s = np.clip(s, 1.0 / MAX_SCALE, MAX_SCALE)
        shape_a = [1] * wa.data.ndim
        shape_a[ax_a] = s.size
        shape_b = [1] * wb.data.ndim
        shape_b[ax_b] = s.size
        wa.data = (wa.data / s.reshape(shape_a)).astype(np.float32)
        wb.data = (wb.data * s.reshape(shape_b)).astype(np.float32)
        bias = a.inputs[2] if len(a.inputs) > 2 else None
        if bias is not None and graph.tensors[bias].data is not None:
            t = graph.tensors[bias]
            t.data = (t.data / s).astype(np.float32)
        spread = float(r1.max() / max(r1.min(), 1e-30))
        result.changes.append(
            f"{a.name} -> {b.name}: {s.size} channels, range spread {spread:.3g} -> "
            f"{float(np.sqrt(r1 * r2).max() / max(np.sqrt(r1 * r2).min(), 1e-30)):.3g}"
        )
    return result


def equalized_copy(graph: Graph) -> tuple[Graph, PassResult, set[str]]:
    """A deep copy of ``graph`` with :func:`equalize` applied; the names of the
    constants whose values changed (their float-gear storage must not be derived
    from the integer gears' values)."""
    g = copy.deepcopy(graph)
    before = {t.name: t.data for t in g.constants()}
    result = equalize(g)
    changed = {t.name for t in g.constants() if t.data is not before[t.name]}
    return g, result, changed
