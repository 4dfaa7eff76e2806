"""Removes nodes that compute nothing at inference time.

Keras models carry training-only layers (Dropout, GaussianNoise, ...) that the
importer turns into ``IDENTITY``, and reshapes that do not change the shape.
Each costs a copy at run time and blocks batch-norm folding and activation
fusion, so they go first.
"""

from __future__ import annotations

from ..ir import Graph, bypass
from . import PassResult

__all__ = ["drop_noops"]


def drop_noops(graph: Graph) -> PassResult:
    """In place: drops ``IDENTITY`` nodes and ``RESHAPE`` nodes to the same shape.

    An identity that maps a graph input straight to a graph output cannot be
    dropped; it becomes a same-shape ``RESHAPE`` (a format op) instead.
    """
    result = PassResult("drop_noops")
    for node in list(graph.nodes):
        if node.op == "IDENTITY":
            pass
        elif node.op == "RESHAPE":
            x, y = node.inputs[0], node.outputs[0]
            if x is None or graph.tensors[x].shape != graph.tensors[y].shape:
                continue
        else:
            continue
        if bypass(graph, node):
            result.changes.append(f"removed {node.op} {node.name!r}")
        elif node.op == "IDENTITY":
            x = node.inputs[0]
            assert x is not None
            node.op = "RESHAPE"
            node.attrs = {"shape": list(graph.tensors[x].shape[1:])}
            result.changes.append(f"identity {node.name!r} kept as a same-shape RESHAPE")
    graph.prune()
    return result
