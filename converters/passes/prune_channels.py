"""Structured channel pruning: whole output channels of CONV_2D / FULLY_CONNECTED
go, and so do the matching positions in every tensor downstream, so the graph
itself gets smaller.

How channels are followed. Every activation tensor of rank >= 2 gets a *label*
per position of its last (channel) axis: an element of a union-find. A layer
with a private constant filter starts fresh elements, one per output channel;
ops that keep channels apart pass labels on (element-wise activations, pools,
PAD, MEAN over other axes, BATCH_NORM, per-channel ADD/MUL constants), or move
them (DEPTHWISE_CONV_2D repeats each label ``depth_multiplier`` times,
CONCATENATION on the channel axis concatenates them, a RESHAPE whose new last
axis is a multiple ``k*C`` of the old one tiles them, which is exactly the
flatten index ``(h*W+w)*C+c``). ADD/MUL of two activations *ties* the labels
at equal positions (union): tied channels go together or not at all.

Anything else *fixes* the labels it reads (a graph input or output, SOFTMAX,
MEAN over the channel axis, a RESHAPE that splits the channel axis, a layer
whose filter is shared, an op not listed): their class can never be removed.
This is the refusal: an unhandled case keeps channels rather than producing
a wrong graph, and the reason ends up in the report.

A removable unit is a union-find class that is not fixed, scored by the
summed L1 (or L2) norms of its members' filters. The plan is pure data (masks
by tensor name), so it can be applied to a copy of the graph either by
removing channels (:func:`remove_channels`) or by zeroing every constant
position that removal would delete (:func:`mask_channels`): the two must give
the same outputs, which is how the tests check the surgery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..ir import Graph, Node
from .prune_layers import edge_layers, set_const

if TYPE_CHECKING:
    from ...convert import Prune

__all__ = ["ChannelPlan", "mask_channels", "plan_channels", "remove_channels"]

# Ops computed channel by channel: labels pass through unchanged.
_PER_CHANNEL = frozenset(
    {
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "LOGISTIC",
        "TANH",
        "HARD_SWISH",
        "IDENTITY",
        "MAX_POOL_2D",
        "AVERAGE_POOL_2D",
    }
)


class _Classes:
    """Union-find over channel elements; a class may be fixed, with the first reason."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.reason: dict[int, str] = {}

    def new(self, n: int, fixed: str | None = None) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        if fixed is not None:
            for e in range(start, start + n):
                self.reason[e] = fixed
        return np.arange(start, start + n, dtype=np.int64)

    def find(self, a: int) -> int:
        p = self.parent
        while p[a] != a:
            p[a] = p[p[a]]
            a = p[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(int(a)), self.find(int(b))
        if ra == rb:
            return
        self.parent[rb] = ra
        why = self.reason.pop(rb, None)
        if why is not None:
            self.reason.setdefault(ra, why)

    def fix(self, labels: np.ndarray, why: str) -> None:
        for e in np.unique(labels):
            self.reason.setdefault(self.find(int(e)), why)

    def why_fixed(self, a: int) -> str | None:
        return self.reason.get(self.find(int(a)))


@dataclass
class _Trace:
    """Labels of every tracked tensor, and the fresh elements of each producer."""

    classes: _Classes = field(default_factory=_Classes)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    producers: dict[str, np.ndarray] = field(default_factory=dict)


def _rank_ok(graph: Graph, t: str) -> bool:
    shape = graph.tensors[t].shape
    return len(shape) >= 2 and shape[-1] > 0


class _Tracer:
    def __init__(self, graph: Graph, protected: set[str]) -> None:
        self.g = graph
        self.protected = protected
        self.tr = _Trace()
        self.cm = graph.consumer_map()

    # -- helpers -------------------------------------------------------------------
    def acts(self, node: Node) -> list[str]:
        return [t for t in node.inputs if t is not None and not self.g.tensors[t].is_const]

    def private(self, name: str | None) -> bool:
        """A constant read by exactly one node input (so it may be sliced in place)."""
        if name is None:
            return True
        t = self.g.tensors[name]
        return (
            t.is_const
            and len(self.cm.get(name, [])) == 1
            and self.cm[name][0].inputs.count(name) == 1
        )

    def refuse(self, node: Node, why: str) -> None:
        """Fixes every label ``node`` reads; its outputs get fixed labels too."""
        why = f"{node.op} {node.name!r} {why}"
        cl = self.tr.classes
        for t in self.acts(node):
            if t in self.tr.labels:
                cl.fix(self.tr.labels[t], why)
        for t in node.outputs:
            if _rank_ok(self.g, t):
                self.tr.labels[t] = cl.new(self.g.tensors[t].shape[-1], fixed=why)

    def tie(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(a.tolist(), b.tolist()):
            self.tr.classes.union(x, y)

    # -- the walk --------------------------------------------------------------------
    def run(self) -> _Trace:
        g, cl = self.g, self.tr.classes
        for name in g.inputs:
            if _rank_ok(g, name):
                self.tr.labels[name] = cl.new(g.tensors[name].shape[-1], f"graph input {name!r}")
        for node in g.nodes:
            acts = self.acts(node)
            if len(node.outputs) != 1:
                self.refuse(node, "has several outputs")
            elif not acts or any(t not in self.tr.labels for t in acts):
                self.refuse(node, "reads a tensor without a channel axis")
            elif not _rank_ok(g, node.outputs[0]):
                self.refuse(node, "writes a tensor without a channel axis")
            else:
                out = self.step(node, acts)
                if isinstance(out, str):
                    self.refuse(node, out)
                elif len(out) != g.tensors[node.outputs[0]].shape[-1]:
                    self.refuse(node, "changes the channel count in a way not followed")
                else:
                    self.tr.labels[node.outputs[0]] = out
        for name in g.outputs:
            if name in self.tr.labels:
                cl.fix(self.tr.labels[name], f"graph output {name!r}")
        return self.tr

    def step(self, node: Node, acts: list[str]) -> np.ndarray | str:
        """The output labels of ``node``, or why its channels are not followed."""
        op, lab, g = node.op, self.tr.labels, self.g
        x = acts[0]
        if op in ("CONV_2D", "FULLY_CONNECTED"):
            return self.layer(node, x)
        if op == "DEPTHWISE_CONV_2D":
            if not self.private(node.inputs[1]) or not self.private(node.inputs[2]):
                return "shares its filter or bias with another node"
            return np.repeat(lab[x], int(node.attrs["depth_multiplier"]))
        if op in _PER_CHANNEL:
            return lab[x]
        if op == "PAD":
            before, after = (int(p) for p in node.attrs["paddings"][-1])
            why = f"PAD {node.name!r} adds channels"
            return np.concatenate(
                [self.tr.classes.new(before, why), lab[x], self.tr.classes.new(after, why)]
            )
        if op == "MEAN":
            rank = len(g.tensors[x].shape)
            axes = {int(a) % rank for a in node.attrs["axes"]}
            if rank - 1 in axes or 0 in axes:
                return "reduces over the channel (or batch) axis"
            return lab[x]
        if op == "BATCH_NORM":
            return lab[x] if self.consts_fit(node, len(lab[x])) else "has odd constant shapes"
        if op in ("ADD", "MUL"):
            return self.binary(node, acts)
        if op == "CONCATENATION":
            return self.concat(node, acts)
        if op == "RESHAPE":
            c, d = len(lab[x]), g.tensors[node.outputs[0]].shape[-1]
            if d % c:
                return "splits the channel axis"
            return np.tile(lab[x], d // c)
        return "is not followed by channel pruning"

    def layer(self, node: Node, x: str) -> np.ndarray | str:
        """CONV_2D / FULLY_CONNECTED: reads channels (its filter's last axis), starts new ones."""
        g, cl = self.g, self.tr.classes
        w, b = node.inputs[1], node.inputs[2] if len(node.inputs) > 2 else None
        if w is None or not g.tensors[w].is_const:
            return "has a non-constant filter"
        if not self.private(w):
            return "shares its filter with another node"
        if b is not None and not g.tensors[b].is_const:
            return "has a non-constant bias"
        if g.tensors[w].shape[-1] != len(self.tr.labels[x]):
            return "has a filter that does not match its input channels"
        o = g.tensors[w].shape[0]
        if node.name in self.protected:
            why = f"{node.name!r} is a first or last layer (include_first_last=True prunes it)"
            out = cl.new(o, fixed=why)
        else:
            out = cl.new(o)
        self.tr.producers[node.name] = out
        return out

    def consts_fit(self, node: Node, c: int) -> bool:
        """Every constant input broadcasts along the channel axis or has ``c`` entries."""
        for t in node.inputs:
            if t is not None and self.g.tensors[t].is_const:
                shape = self.g.tensors[t].shape
                if shape and shape[-1] not in (1, c):
                    return False
        return True

    def binary(self, node: Node, acts: list[str]) -> np.ndarray | str:
        """ADD / MUL: equal channel positions are tied; a 1-channel operand broadcasts."""
        c = self.g.tensors[node.outputs[0]].shape[-1]
        if not self.consts_fit(node, c):
            return "has a constant that does not match the channel axis"
        full = [self.tr.labels[t] for t in acts if len(self.tr.labels[t]) == c]
        if not full:
            return "broadcasts every operand over the channel axis"
        for t in acts:
            lt = self.tr.labels[t]
            if len(lt) == c:
                self.tie(full[0], lt)
            elif len(lt) == 1:
                self.tr.classes.fix(lt, f"{node.op} {node.name!r} broadcasts it over channels")
            else:
                return "mixes operands with different channel counts"
        return full[0]

    def concat(self, node: Node, acts: list[str]) -> np.ndarray | str:
        g, lab = self.g, self.tr.labels
        rank = len(g.tensors[node.outputs[0]].shape)
        axis = int(node.attrs["axis"]) % rank
        if axis == rank - 1:
            parts = []
            for t in node.inputs:
                if t is None:
                    continue
                if g.tensors[t].is_const:
                    why = f"CONCATENATION {node.name!r} appends constant channels"
                    parts.append(self.tr.classes.new(g.tensors[t].shape[-1], why))
                else:
                    parts.append(lab[t])
            return np.concatenate(parts)
        if len(acts) != len([t for t in node.inputs if t is not None]):
            return "concatenates a constant along a non-channel axis"
        first = lab[acts[0]]
        if any(len(lab[t]) != len(first) for t in acts):
            return "concatenates tensors with different channel counts"
        for t in acts[1:]:
            self.tie(first, lab[t])
        return first


@dataclass
class ChannelPlan:
    """Which channels go: pure data by tensor and node name, applicable to a copy.

    ``keep`` holds a boolean mask over the last axis for every tensor that
    loses positions; ``removed`` the removed output channels of each producer
    (also those that lose none); ``groups`` the producers tied together;
    ``fixed`` why a producer keeps (some of) its channels whatever the scores;
    ``removable`` how many channel classes could have gone at all.
    """

    keep: dict[str, np.ndarray] = field(default_factory=dict)
    removed: dict[str, np.ndarray] = field(default_factory=dict)
    groups: list[list[str]] = field(default_factory=list)
    fixed: dict[str, str] = field(default_factory=dict)
    removable: int = 0

    @property
    def channels_removed(self) -> int:
        return sum(len(r) for r in self.removed.values())


def _norms(graph: Graph, node: Node, norm: str) -> np.ndarray:
    w = graph.tensors[node.inputs[1]].data  # type: ignore[index]
    assert w is not None
    rows = np.abs(w.reshape(w.shape[0], -1).astype(np.float64))
    return rows.sum(axis=1) if norm == "l1" else np.sqrt((rows * rows).sum(axis=1))


def _quota(sparsity: float, n: int) -> int:
    """Classes to remove out of ``n``: the nearest whole number, never all."""
    return min(int(np.floor(sparsity * n + 0.5)), n - 1)


def plan_channels(
    graph: Graph, prune: Prune, scores: Mapping[str, np.ndarray] | None = None
) -> ChannelPlan:
    """Chooses the channels to remove (see the module docstring); changes nothing.

    The first and last layers keep their output channels unless
    ``prune.include_first_last``. ``scores`` (producer node name -> one
    non-negative score per output channel, e.g. ``gearshift.train``'s Taylor or
    Fisher importance) replaces the filter norms of the producers it names.
    """
    first, last = edge_layers(graph)
    protected = set() if prune.include_first_last else first | last
    tr = _Tracer(graph, protected).run()
    cl = tr.classes
    nodes = {n.name: n for n in graph.nodes}
    roots = {p: np.array([cl.find(int(e)) for e in els]) for p, els in tr.producers.items()}

    # Producers tied through any class form a group (connected components).
    owner: dict[int, str] = {}
    parent = {p: p for p in roots}

    def find(p: str) -> str:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for p, rs in roots.items():
        for r in rs.tolist():
            if r in owner:
                parent[find(p)] = find(owner[r])
            else:
                owner[r] = p
    groups: dict[str, list[str]] = {}
    for p in roots:
        groups.setdefault(find(p), []).append(p)

    # Scores: summed filter norms of the members of each class (normalised per
    # producer for a global ranking, so that fan-in does not decide).
    scope = prune.effective_scope
    score: dict[int, float] = {}
    members: dict[int, int] = {}
    for p, rs in roots.items():
        if scores is not None and p in scores:
            nrm = np.asarray(scores[p], np.float64).reshape(-1)
        else:
            nrm = _norms(graph, nodes[p], prune.norm)
        if scope == "global":
            mean = float(nrm.mean()) if len(nrm) else 1.0
            nrm = nrm / (mean if mean > 0 else 1.0)
        for r, v in zip(rs.tolist(), nrm.tolist()):
            score[r] = score.get(r, 0.0) + v
            members[r] = members.get(r, 0) + 1

    plan = ChannelPlan(groups=sorted(sorted(ps) for ps in groups.values()))
    candidates: list[tuple[float, int, str]] = []  # (score, class, group)
    sizes: dict[str, int] = {}
    for gid, ps in groups.items():
        classes = sorted({r for p in ps for r in roots[p].tolist()})
        free = [r for r in classes if r not in cl.reason]
        if not free:
            continue
        sizes[gid] = len(classes)
        for r in free:
            s = score[r] / members[r] if scope == "global" else score[r]
            candidates.append((s, r, gid))
    candidates.sort()
    plan.removable = len(candidates)

    chosen: set[int] = set()
    if scope == "layer":
        for gid, n in sizes.items():
            mine = [r for _, r, g in candidates if g == gid]
            chosen.update(mine[: _quota(prune.sparsity, n)])
    else:
        quota = int(np.floor(prune.sparsity * sum(sizes.values()) + 0.5))
        left = dict(sizes)
        for _, r, gid in candidates:
            if len(chosen) >= quota:
                break
            if left[gid] > 1:
                chosen.add(r)
                left[gid] -= 1

    for t, els in tr.labels.items():
        k = np.array([cl.find(int(e)) not in chosen for e in els.tolist()], dtype=bool)
        if not k.all():
            plan.keep[t] = k
    for p, rs in roots.items():
        plan.removed[p] = np.flatnonzero([r in chosen for r in rs.tolist()])
        reasons = [cl.reason[r] for r in rs.tolist() if r in cl.reason]
        if reasons:
            n = len(reasons)
            plan.fixed[p] = f"{n}/{len(rs)} output channels kept: {reasons[0]}"
    return plan


def _slice(a: np.ndarray, keep: np.ndarray | None, axis: int) -> np.ndarray:
    return a if keep is None else np.compress(keep, a, axis=axis)


def _zero(a: np.ndarray, keep: np.ndarray | None, axis: int) -> np.ndarray:
    if keep is None:
        return a
    a = a.copy()
    idx: list[slice | np.ndarray] = [slice(None)] * a.ndim
    idx[axis] = ~keep
    a[tuple(idx)] = 0.0
    return a


def _edit_layers(graph: Graph, plan: ChannelPlan, fn) -> None:
    """Applies ``fn(array, keep, axis)`` to every filter and bias position the plan touches."""
    for node in graph.nodes:
        if node.op not in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"):
            continue
        ko = plan.keep.get(node.outputs[0])
        w_name, b_name = node.inputs[1], node.inputs[2] if len(node.inputs) > 2 else None
        if w_name is None or not graph.tensors[w_name].is_const:
            continue
        w = graph.tensors[w_name].data
        assert w is not None
        if node.op == "DEPTHWISE_CONV_2D":
            new_w = fn(w, ko, 3)
        else:
            new_w = fn(fn(w, plan.keep.get(node.inputs[0]), w.ndim - 1), ko, 0)  # type: ignore[arg-type]
        if new_w is not w:
            set_const(graph, node, 1, new_w)
        if b_name is not None and ko is not None:
            set_const(graph, node, 2, fn(graph.tensors[b_name].data, ko, 0))


def remove_channels(graph: Graph, plan: ChannelPlan) -> None:
    """In place: deletes the planned channels from filters, biases, per-channel
    constants, RESHAPE targets and tensor shapes; drops constants left unused."""
    _edit_layers(graph, plan, _slice)
    for node in graph.nodes:
        ko = plan.keep.get(node.outputs[0])
        if ko is None:
            continue
        if node.op in ("ADD", "MUL", "BATCH_NORM"):
            for i, t in enumerate(node.inputs):
                if t is None or not graph.tensors[t].is_const:
                    continue
                data = graph.tensors[t].data
                assert data is not None
                if data.ndim and data.shape[-1] == len(ko) and len(ko) > 1:
                    set_const(graph, node, i, _slice(data, ko, data.ndim - 1))
        elif node.op == "RESHAPE":
            node.attrs = {**node.attrs, "shape": [*node.attrs["shape"][:-1], int(ko.sum())]}
    for t, k in plan.keep.items():
        shape = graph.tensors[t].shape
        graph.tensors[t].shape = (*shape[:-1], int(k.sum()))
    graph.prune()


def mask_channels(graph: Graph, plan: ChannelPlan) -> None:
    """In place: zeroes every filter and bias entry :func:`remove_channels` would
    delete, keeping all shapes: the oracle for the surgery (same outputs)."""
    _edit_layers(graph, plan, _zero)
    graph.prune()
