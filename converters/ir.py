"""The converters' intermediate representation: a small, explicit dataflow graph.

It mirrors the ``.gear`` manifest (docs/FORMAT.md) so that writing a file is a
direct translation: op names and attrs are FORMAT.md's, activations are NHWC,
filters are OHWI / ``[1,KH,KW,C*M]`` / dense ``[O,I]``. Importers may emit a
few IR-only ops (``IDENTITY``, ``BATCH_NORM``) that passes remove or lower
before writing; :data:`FORMAT_OPS` tells them apart.

The graph is plain data (dataclasses, numpy arrays for constants). Passes
mutate it in place through the helpers here, which keep the invariants
:meth:`Graph.validate` checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "FORMAT_13_OPS",
    "FORMAT_OPS",
    "FUSABLE_ACTIVATION_OPS",
    "IR_ONLY_OPS",
    "Graph",
    "IRError",
    "IoSpec",
    "Node",
    "Tensor",
]

FORMAT_OPS = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "MAX_POOL_2D",
        "AVERAGE_POOL_2D",
        "MEAN",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "LOGISTIC",
        "TANH",
        "HARD_SWISH",
        "SOFTMAX",
        "ADD",
        "MUL",
        "CONCATENATION",
        "RESHAPE",
        "PAD",
        # 1.3
        "TRANSPOSE_CONV",
        "SUB",
        "DIV",
        "MAXIMUM",
        "MINIMUM",
        "LEAKY_RELU",
        "PRELU",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "DEPTH_TO_SPACE",
        "SPACE_TO_DEPTH",
        "TRANSPOSE",
        "SLICE",
        "GATHER",
        "QUANTIZE",
    }
)
# Ops (and PAD's ``value``) that need format 1.3 (FORMAT.md "Ops added in 1.3").
FORMAT_13_OPS = frozenset(
    {
        "TRANSPOSE_CONV",
        "SUB",
        "DIV",
        "MAXIMUM",
        "MINIMUM",
        "LEAKY_RELU",
        "PRELU",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "DEPTH_TO_SPACE",
        "SPACE_TO_DEPTH",
        "TRANSPOSE",
        "SLICE",
        "GATHER",
        "QUANTIZE",
    }
)
# IDENTITY: y = x (inference no-ops such as Dropout). BATCH_NORM: inputs x,
# gamma, beta, mean, variance (all [C] constants), attr epsilon; normalises
# the last axis. Both disappear before writing.
IR_ONLY_OPS = frozenset({"IDENTITY", "BATCH_NORM"})
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
FUSABLE_ACTIVATION_OPS = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "ADD",
        "MUL",
        "MAX_POOL_2D",
        "AVERAGE_POOL_2D",
        "CONCATENATION",
        "TRANSPOSE_CONV",
        "SUB",
        "DIV",
    }
)


class IRError(ValueError):
    """The graph breaks an invariant (a bug in an importer or a pass)."""


@dataclass
class Tensor:
    """A value in the graph.

    ``shape`` uses -1 for the batch dimension of activations. ``data`` is set
    for constants (weights) only, float32, with exactly ``shape``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "f32"
    data: np.ndarray | None = field(default=None, repr=False)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        """Number of elements (constants only; activations have a free batch)."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass
class Node:
    """One operation. ``inputs`` may hold ``None`` for an absent optional input
    (a convolution without bias), written as ``-1`` in the file."""

    name: str
    op: str
    inputs: list[str | None]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def activation(self) -> str:
        return self.attrs.get("activation", "NONE")


@dataclass(frozen=True)
class IoSpec:
    """How a graph input/output crosses the interface when the source model
    exchanged it as integers (FORMAT.md ``io``): ``dtype`` ``"i8"`` or
    ``"u8"``, ``real = scale * (q - zero_point)`` (zero point in the dtype's range)."""

    dtype: str
    scale: float
    zero_point: int


@dataclass
class Graph:
    """Tensors by name, nodes in topological order, graph inputs and outputs.

    ``io`` maps a graph input/output name to its integer interface (absent:
    float32); the writer keeps the entries of names that are still graph
    inputs or outputs.
    """

    tensors: dict[str, Tensor] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    io: dict[str, IoSpec] = field(default_factory=dict)

    # -- building ---------------------------------------------------------------
    def unique_name(self, base: str, among: str = "all") -> str:
        """``base`` if unused, else ``base_1``, ``base_2``, ...

        ``among`` is ``"tensors"``, ``"nodes"`` or ``"all"``: tensor and node
        names are separate namespaces in the file, so a node and its output
        tensor may share the layer's name.
        """
        taken: set[str] = set()
        if among in ("all", "tensors"):
            taken |= self.tensors.keys()
        if among in ("all", "nodes"):
            taken |= {n.name for n in self.nodes}
        if base not in taken:
            return base
        i = 1
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def add_tensor(self, name: str, shape: Iterable[int], data: np.ndarray | None = None) -> Tensor:
        if name in self.tensors:
            raise IRError(f"tensor {name!r} already exists")
        shape = tuple(int(d) for d in shape)
        if data is not None:
            data = np.ascontiguousarray(data, dtype=np.float32)
            if data.shape != shape:
                raise IRError(f"constant {name!r}: data shape {data.shape} != shape {shape}")
        t = Tensor(name, shape, "f32", data)
        self.tensors[name] = t
        return t

    def add_const(self, name: str, data: np.ndarray) -> str:
        """Adds a constant under a unique name derived from ``name``; returns that name."""
        name = self.unique_name(name)
        arr = np.asarray(data, dtype=np.float32)
        self.add_tensor(name, arr.shape, arr)
        return name

    def add_node(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    # -- queries ----------------------------------------------------------------
    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def producers(self) -> dict[str, Node]:
        return {t: n for n in self.nodes for t in n.outputs}

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def consumer_map(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for t in n.inputs:
                if t is not None:
                    out.setdefault(t, []).append(n)
        return out

    def constants(self) -> Iterator[Tensor]:
        return (t for t in self.tensors.values() if t.is_const)

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts

    # -- editing ----------------------------------------------------------------
    def remove_node(self, node: Node) -> None:
        self.nodes = [n for n in self.nodes if n is not node]

    def replace_uses(self, old: str, new: str) -> None:
        """Makes every consumer (and the graph outputs) read ``new`` instead of ``old``."""
        for n in self.nodes:
            n.inputs = [new if t == old else t for t in n.inputs]
        if old in self.outputs and old in self.io:  # the same values: the same interface
            self.io.setdefault(new, self.io.pop(old))
        self.outputs = [new if t == old else t for t in self.outputs]

    def prune(self) -> list[str]:
        """Drops tensors no node or graph input/output mentions; returns their names."""
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(t for t in n.inputs if t is not None)
            used.update(n.outputs)
        dead = [name for name in self.tensors if name not in used]
        for name in dead:
            del self.tensors[name]
        return dead

    # -- checks -------------------------------------------------------------------
    def validate(self, format_only: bool = False) -> None:
        """Raises :class:`IRError` unless the graph is well formed.

        Checks names, that every tensor exists, topological order, single
        producers, constants vs activations, and known ops. ``format_only``
        also refuses IR-only ops (the writer's precondition).
        """
        allowed = FORMAT_OPS if format_only else FORMAT_OPS | IR_ONLY_OPS
        for name, t in self.tensors.items():
            if name != t.name:
                raise IRError(f"tensor key {name!r} != tensor.name {t.name!r}")
            if t.dtype != "f32":
                raise IRError(f"tensor {name!r}: dtype {t.dtype!r}, only f32 exists")
            for i, d in enumerate(t.shape):
                if d < 1 and not (i == 0 and d == -1 and not t.is_const):
                    raise IRError(f"tensor {name!r}: bad dimension {d} at {i} in {t.shape}")
        for name in self.inputs:
            if name not in self.tensors:
                raise IRError(f"graph input {name!r} is not a tensor")
            if self.tensors[name].is_const:
                raise IRError(f"graph input {name!r} is a constant")
        available = set(self.inputs) | {t.name for t in self.constants()}
        node_names: set[str] = set()
        for n in self.nodes:
            if n.name in node_names:
                raise IRError(f"node name {n.name!r} used twice")
            node_names.add(n.name)
            if n.op not in allowed:
                raise IRError(f"node {n.name!r}: op {n.op!r} cannot be written to a .gear file")
            for t in n.inputs:
                if t is None:
                    continue
                if t not in self.tensors:
                    raise IRError(f"node {n.name!r}: input {t!r} does not exist")
                if t not in available:
                    raise IRError(f"node {n.name!r}: input {t!r} is used before it is produced")
            for t in n.outputs:
                if t not in self.tensors:
                    raise IRError(f"node {n.name!r}: output {t!r} does not exist")
                if t in available:
                    raise IRError(
                        f"node {n.name!r}: output {t!r} is a constant, an input or already produced"
                    )
                available.add(t)
            act = n.attrs.get("activation", "NONE")
            if act not in ACTIVATIONS:
                raise IRError(f"node {n.name!r}: unknown activation {act!r}")
        for t in self.outputs:
            if t not in available:
                raise IRError(f"graph output {t!r} is never produced")
        if not self.outputs:
            raise IRError("the graph has no outputs")


def bypass(graph: Graph, node: Node) -> bool:
    """Removes a one-input, one-output node whose output equals its input.

    The graph keeps its output names (they are what users see as
    ``rt.outputs``): when the node's output is a graph output, the producer of
    its input is renamed to produce that tensor instead. Returns False, leaving
    the graph unchanged, when that is impossible (the input is a graph input
    or is used elsewhere too).
    """
    x, y = node.inputs[0], node.outputs[0]
    assert x is not None
    if y not in graph.outputs:
        graph.remove_node(node)
        graph.replace_uses(y, x)
        del graph.tensors[y]
        return True
    producer = graph.producer(x)
    if producer is None or x in graph.outputs or len(graph.consumers(x)) != 1:
        return False
    graph.remove_node(node)
    producer.outputs = [y if t == x else t for t in producer.outputs]
    del graph.tensors[x]
    return True
