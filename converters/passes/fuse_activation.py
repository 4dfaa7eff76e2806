"""Fuses RELU / RELU6 / RELU_N1_TO_1 nodes into the op that produces their input.

A fused activation is applied while the result is still in registers, which
saves one pass over the tensor and one arena buffer. Keras expresses
``Conv2D(activation="relu")`` and ``Conv2D -> ReLU()`` alike; both end up as
one ``CONV_2D`` with ``activation: "RELU"``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..ir import FUSABLE_ACTIVATION_OPS, Graph
from ..quant_ref import QParams
from . import PassResult

__all__ = ["FUSABLE_ACTIVATIONS", "fuse_activation", "same_qparams"]

FUSABLE_ACTIVATIONS = ("RELU", "RELU6", "RELU_N1_TO_1")


def same_qparams(a: QParams, b: QParams) -> bool:
    """Equal scale(s) and zero point(s): a requantization between them is the identity."""
    return (
        a.scale.shape == b.scale.shape
        and bool(np.all(a.scale == b.scale))
        and bool(np.all(np.asarray(a.zero_point) == np.asarray(b.zero_point)))
    )


def fuse_activation(graph: Graph, qact: Mapping[str, QParams] | None = None) -> PassResult:
    """In place: folds each activation node into its producer where that is exact.

    Conditions: the producer supports ``activation`` and has none yet, and its
    output is read by the activation only and is not a graph output (else the
    un-activated value would be lost). With ``qact`` (an imported integer
    model's own int8 parameters per tensor), also: the activation's output has
    the producer output's parameters. Where they differ, LiteRT rounds twice
    (the producer into its own scale, then the activation's requantization)
    and a fused op would round once, so the separate int8 activation stays.
    """
    result = PassResult("fuse_activation")
    for node in list(graph.nodes):
        if node.op not in FUSABLE_ACTIVATIONS:
            continue
        x, y = node.inputs[0], node.outputs[0]
        assert x is not None
        producer = graph.producer(x)
        if (
            producer is None
            or producer.op not in FUSABLE_ACTIVATION_OPS
            or producer.activation != "NONE"
            or x in graph.outputs
            or len(graph.consumers(x)) != 1
        ):
            continue
        if qact is not None and x in qact and y in qact and not same_qparams(qact[x], qact[y]):
            continue  # the file's int8 gear rounds twice here: keep both nodes
        producer.attrs["activation"] = node.op
        producer.outputs = [y if t == x else t for t in producer.outputs]
        graph.remove_node(node)
        del graph.tensors[x]
        result.changes.append(f"fused {node.op} {node.name!r} into {producer.op} {producer.name!r}")
    return result
