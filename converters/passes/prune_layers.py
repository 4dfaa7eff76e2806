"""What the pruning methods share: which nodes are layers, which are at the edges,
and how to replace a constant without touching another node's copy.

A *layer* is a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED node whose filter
is a constant. The *first* layers are those a graph input reaches without
passing another layer, the *last* ones those that reach a graph output without
passing another layer: on a chain that is the first and the last layer, on a
multi-branch graph it is every layer touching an input or an output. They are
the most sensitive to pruning (the first sees raw inputs, the last writes the
scores) and hold few weights, so they are kept dense unless asked.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..ir import Graph, Node

__all__ = [
    "LAYER_OPS",
    "PruneError",
    "const_users",
    "edge_layers",
    "layers",
    "out_channels",
    "set_const",
]

LAYER_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


class PruneError(ValueError):
    """Pruning was asked for but cannot be done as asked; the message says why."""


def layers(graph: Graph) -> list[Node]:
    """The prunable layers, in graph (topological) order."""
    return [
        n
        for n in graph.nodes
        if n.op in LAYER_OPS
        and len(n.inputs) > 1
        and n.inputs[1] is not None
        and graph.tensors[n.inputs[1]].is_const
    ]


def out_channels(graph: Graph, node: Node) -> int:
    """Output channels of a layer: filter axis 0 (CONV_2D, FC) or 3 (depthwise)."""
    w = graph.tensors[node.inputs[1]]  # type: ignore[index]
    return int(w.shape[3] if node.op == "DEPTHWISE_CONV_2D" else w.shape[0])


def edge_layers(graph: Graph) -> tuple[set[str], set[str]]:
    """``(first, last)``: names of the layers next to the graph inputs / outputs."""
    names = {n.name for n in layers(graph)}
    consumers = graph.consumer_map()
    producers = graph.producers()

    first: set[str] = set()
    seen: set[str] = set()
    todo = deque(graph.inputs)
    while todo:
        t = todo.popleft()
        for n in consumers.get(t, []):
            if n.name in seen:
                continue
            seen.add(n.name)
            if n.name in names:
                first.add(n.name)
            else:
                todo.extend(n.outputs)

    last: set[str] = set()
    seen = set()
    todo = deque(graph.outputs)
    while todo:
        t = todo.popleft()
        n = producers.get(t)
        if n is None or n.name in seen:
            continue
        seen.add(n.name)
        if n.name in names:
            last.add(n.name)
        else:
            todo.extend(i for i in n.inputs if i is not None and not graph.tensors[i].is_const)
    return first, last


def const_users(graph: Graph, name: str) -> int:
    """How many node inputs read constant ``name`` (a node reading it twice counts twice)."""
    return sum(1 for n in graph.nodes for t in n.inputs if t == name)


def set_const(graph: Graph, node: Node, index: int, data: np.ndarray) -> None:
    """Gives ``node.inputs[index]`` the value ``data``.

    In place when the node is the constant's only user, so that filter names
    survive; otherwise under a new name, because the constant's other users
    (a shared Keras layer, a shared scalar) must keep their value.
    """
    name = node.inputs[index]
    assert name is not None
    data = np.ascontiguousarray(data, dtype=np.float32)
    if const_users(graph, name) == 1 and name not in graph.outputs:
        t = graph.tensors[name]
        t.data = data
        t.shape = tuple(int(d) for d in data.shape)
    else:
        node.inputs[index] = graph.add_const(f"{name}/pruned", data)
