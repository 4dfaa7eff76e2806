"""Folds inference-mode batch normalization into the preceding linear op.

``BATCH_NORM`` (IR-only) computes ``(x - mean) / sqrt(var + eps) * gamma + beta``
per channel (last axis), that is ``x * scale + shift``. After a convolution or
a dense layer with no fused activation this is exact to fold into the weights:
``W' = W * scale`` along the output channel, ``b' = (b - mean) * scale + beta``.
Everywhere else it is lowered to ``MUL`` + ``ADD`` by per-channel constants,
which every gear can run.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from . import PassResult

__all__ = ["batchnorm_scale_shift", "fold_batchnorm"]

# Which axis of the filter holds the output channel, per foldable op.
_OUT_CHANNEL_AXIS = {
    "CONV_2D": 0,
    "DEPTHWISE_CONV_2D": 3,
    "FULLY_CONNECTED": 0,
    "TRANSPOSE_CONV": 0,
}


def batchnorm_scale_shift(graph: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(scale, shift)`` of a ``BATCH_NORM`` node, computed in float64."""
    gamma, beta, mean, var = (
        graph.tensors[t].data.astype(np.float64)  # type: ignore[union-attr]
        for t in bn.inputs[1:5]
        if t is not None
    )
    scale = gamma / np.sqrt(var + float(bn.attrs.get("epsilon", 1e-3)))
    return scale, beta - mean * scale


def _can_fold(graph: Graph, bn: Node) -> Node | None:
    x = bn.inputs[0]
    assert x is not None
    producer = graph.producer(x)
    if (
        producer is None
        or producer.op not in _OUT_CHANNEL_AXIS
        or producer.activation != "NONE"
        or x in graph.outputs
        or len(graph.consumers(x)) != 1
        or not graph.tensors[producer.inputs[1]].is_const  # type: ignore[index]
    ):
        return None
    return producer


def _fold(graph: Graph, bn: Node, producer: Node, scale: np.ndarray, shift: np.ndarray) -> None:
    w_name = producer.inputs[1]
    assert w_name is not None
    w = graph.tensors[w_name].data.astype(np.float64)  # type: ignore[union-attr]
    axis = _OUT_CHANNEL_AXIS[producer.op]
    bshape = [1] * w.ndim
    bshape[axis] = -1
    new_w = w * scale.reshape(bshape)
    b_name = producer.inputs[2]
    b = graph.tensors[b_name].data.astype(np.float64) if b_name else 0.0  # type: ignore[union-attr]
    new_b = b * scale + shift
    # New constants: the old ones may be shared with another node.
    producer.inputs[1] = graph.add_const(f"{producer.name}/filter_bn", new_w)
    producer.inputs[2] = graph.add_const(f"{producer.name}/bias_bn", new_b)
    x, y = producer.outputs[0], bn.outputs[0]
    producer.outputs = [y]
    graph.remove_node(bn)
    del graph.tensors[x]


def _lower(graph: Graph, bn: Node, scale: np.ndarray, shift: np.ndarray) -> None:
    x, y = bn.inputs[0], bn.outputs[0]
    assert x is not None
    mid = graph.unique_name(f"{bn.name}/scaled", among="tensors")
    graph.add_tensor(mid, graph.tensors[y].shape)
    scale_name = graph.add_const(f"{bn.name}/scale", scale)
    shift_name = graph.add_const(f"{bn.name}/shift", shift)
    mul = Node(graph.unique_name(f"{bn.name}/mul", among="nodes"), "MUL", [x, scale_name], [mid])
    add = Node(bn.name, "ADD", [mid, shift_name], [y])
    i = graph.nodes.index(bn)
    graph.nodes[i : i + 1] = [mul, add]
    mul.attrs["activation"] = "NONE"
    add.attrs["activation"] = "NONE"


def fold_batchnorm(graph: Graph) -> PassResult:
    """In place: folds every ``BATCH_NORM`` it can, lowers the rest to ``MUL``+``ADD``.

    Folding needs the producer to be ``CONV_2D``, ``DEPTHWISE_CONV_2D`` or
    ``FULLY_CONNECTED`` with constant weights, no fused activation, and its
    output read by the batch norm only. Unused constants are dropped after.
    """
    result = PassResult("fold_batchnorm")
    for bn in [n for n in graph.nodes if n.op == "BATCH_NORM"]:
        scale, shift = batchnorm_scale_shift(graph, bn)
        producer = _can_fold(graph, bn)
        if producer is not None:
            _fold(graph, bn, producer, scale, shift)
            result.changes.append(f"folded {bn.name!r} into {producer.op} {producer.name!r}")
        else:
            _lower(graph, bn, scale, shift)
            result.changes.append(f"lowered {bn.name!r} to MUL+ADD")
    graph.prune()
    return result
