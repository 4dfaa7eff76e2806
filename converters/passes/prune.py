"""Post-training pruning of the IR: the entry point :func:`apply_pruning`.

Runs after ``fold_batchnorm`` (a folded scale must not undo the zeros, and
channel norms must include it) and before calibration and quantization, on
plain numpy. The pruned weights stay float32 with explicit zeros (the mask is
the zeros themselves: symmetric quantizers keep a zero a zero), so every gear
derived from them is pruned too; sparse storage and kernels come later.

Methods (``Prune.method``):

- ``magnitude``: unstructured. Zeroes the ``sparsity`` fraction of smallest
  ``|w|`` of the CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED filters, with
  one threshold over all of them (``scope="global"``, the default: layers
  with many redundant weights give more) or the same fraction in every layer
  (``scope="layer"``). Exact counts: ties at the threshold are broken by
  position, so the achieved sparsity is the requested one to the weight.
- ``2:4``: in every group of four consecutive weights along the input axis
  (the last axis of CONV_2D ``[O,KH,KW,I]`` and FULLY_CONNECTED ``[O,I]``)
  the two largest ``|w|`` stay. Layers with ``I % 4 != 0`` and depthwise
  convolutions (whose taps are not summed over an input axis) stay dense
  and the report says so.
- ``channel``: structured; see :mod:`.prune_channels`.

Biases are never zeroed; in channel pruning they leave with their channel.
The first and last layers (:func:`.prune_layers.edge_layers`) are left alone
unless ``Prune(include_first_last=True)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...progress import Progress
from ..ir import Graph, Node
from .prune_channels import plan_channels, remove_channels
from .prune_layers import PruneError, edge_layers, layers, out_channels
from .prune_report import LayerPrune, PruneReport

if TYPE_CHECKING:
    from ...convert import Prune

__all__ = ["LayerPrune", "PruneError", "PruneReport", "apply_pruning"]


def apply_pruning(graph: Graph, prune: Prune, progress: bool = False) -> PruneReport:
    """Prunes ``graph`` **in place** as ``prune`` says; returns what it did.

    The graph stays valid (``Graph.validate``) and computes the same function
    up to the removed weights; channel pruning also shrinks tensor shapes.
    ``progress`` shows a progress line on a terminal (stderr).

    Raises :class:`PruneError` (a ValueError) when pruning was asked for
    (``sparsity > 0``) but no layer can be pruned, saying why (for example
    that the only layers are the first and last ones).
    """
    nodes = layers(graph)
    first, last = edge_layers(graph)
    protected = set() if prune.include_first_last else first | last
    before = {n.name: _stats(graph, n) for n in nodes}
    scope = "2:4 groups" if prune.method == "2:4" else prune.effective_scope
    report = PruneReport(prune.method, float(prune.sparsity), scope)
    notes: dict[str, str] = {}
    done: set[str] = set()
    for n in nodes:
        if n.name in protected:
            where = "first" if n.name in first else "last"
            kept = "output channels kept" if prune.method == "channel" else "kept dense"
            notes[n.name] = f"{where} layer, {kept} (include_first_last=True prunes it)"

    with Progress(None, f"pruning ({prune.method})", enabled=None if progress else False) as bar:
        if prune.method == "magnitude":
            _magnitude(graph, nodes, protected, prune, done, bar)
        elif prune.method == "2:4":
            _two_four(graph, nodes, protected, notes, done, bar)
        elif prune.method == "channel":
            _channels(graph, nodes, protected, prune, notes, done, report, bar)
        else:  # Prune validates this; a duck-typed stand-in may not
            raise PruneError(f"unknown pruning method {prune.method!r}")
    graph.validate()

    for n in nodes:
        (size, nnz, ch), (size2, nnz2, ch2) = before[n.name], _stats(graph, n)
        report.layers.append(
            LayerPrune(
                n.name,
                n.op,
                prune.method if n.name in done else "dense",
                size,
                size2,
                nnz,
                nnz2,
                ch,
                ch - ch2,
                notes.get(n.name, ""),
            )
        )
    return report


def _stats(graph: Graph, node: Node) -> tuple[int, int, int]:
    """``(weights, nonzero weights, output channels)`` of a layer."""
    w = graph.tensors[node.inputs[1]].data  # type: ignore[index]
    assert w is not None
    return int(w.size), int(np.count_nonzero(w)), out_channels(graph, node)


def _by_weight(nodes: list[Node]) -> dict[str, list[Node]]:
    """Layers grouped by filter tensor: a shared filter is pruned once, for all."""
    out: dict[str, list[Node]] = {}
    for n in nodes:
        out.setdefault(n.inputs[1], []).append(n)  # type: ignore[arg-type]
    return out


def _nothing_to_prune(nodes: list[Node], protected: set[str], what: str) -> PruneError:
    if not nodes:
        return PruneError("nothing to prune: the graph has no CONV_2D/DEPTHWISE/FC layer")
    names = ", ".join(repr(n.name) for n in nodes)
    if all(n.name in protected for n in nodes):
        return PruneError(
            f"nothing to prune: the only layers ({names}) are the first and last ones, "
            "kept dense by default; Prune(include_first_last=True) prunes them too"
        )
    return PruneError(f"nothing to prune: {what}")


def _magnitude(
    graph: Graph,
    nodes: list[Node],
    protected: set[str],
    prune: Prune,
    done: set[str],
    bar: Progress,
) -> None:
    groups = {
        w: ns for w, ns in _by_weight(nodes).items() if not any(n.name in protected for n in ns)
    }
    if not groups:
        if prune.sparsity > 0:
            raise _nothing_to_prune(nodes, protected, "no layer is eligible")
        return
    bar.total = len(groups)
    s = float(prune.sparsity)
    if prune.effective_scope == "layer":
        for w, ns in groups.items():
            t = graph.tensors[w]
            t.data = _zero_smallest(t.data, s)  # type: ignore[arg-type]
            done.update(n.name for n in ns)
            bar.update()
        return
    # Global: one ranking over all eligible weights, then split back.
    arrays = [graph.tensors[w].data for w in groups]
    flat = np.concatenate([np.abs(a).ravel() for a in arrays])  # type: ignore[union-attr]
    keep = _keep_mask(flat, s)
    start = 0
    for (w, ns), a in zip(groups.items(), arrays):
        assert a is not None
        k = keep[start : start + a.size].reshape(a.shape)
        start += a.size
        graph.tensors[w].data = np.where(k, a, np.float32(0)).astype(np.float32)
        done.update(n.name for n in ns)
        bar.update()


def _keep_mask(abs_values: np.ndarray, sparsity: float) -> np.ndarray:
    """False at the ``round(sparsity * n)`` smallest values (ties by position)."""
    n = abs_values.size
    k = min(int(np.floor(sparsity * n + 0.5)), n)
    keep = np.ones(n, dtype=bool)
    if k:
        keep[np.argsort(abs_values, kind="stable")[:k]] = False
    return keep


def _zero_smallest(a: np.ndarray, sparsity: float) -> np.ndarray:
    keep = _keep_mask(np.abs(a).ravel(), sparsity).reshape(a.shape)
    return np.where(keep, a, np.float32(0)).astype(np.float32)


def two_four(a: np.ndarray) -> np.ndarray:
    """Keeps the two largest ``|w|`` of every four consecutive along the last axis."""
    if a.shape[-1] % 4:
        raise PruneError(f"2:4 needs an input dimension divisible by 4, got {a.shape[-1]}")
    g = a.reshape(-1, 4)
    order = np.argsort(-np.abs(g), axis=1, kind="stable")
    keep = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(keep, order[:, :2], True, axis=1)
    return np.where(keep, g, np.float32(0)).astype(np.float32).reshape(a.shape)


def _two_four(
    graph: Graph,
    nodes: list[Node],
    protected: set[str],
    notes: dict[str, str],
    done: set[str],
    bar: Progress,
) -> None:
    groups = _by_weight(nodes)
    bar.total = len(groups)
    for w, ns in groups.items():
        t = graph.tensors[w]
        if any(n.name in protected for n in ns):
            pass
        elif any(n.op == "DEPTHWISE_CONV_2D" for n in ns):
            for n in ns:
                notes[n.name] = "depthwise: 2:4 applies to CONV_2D and FULLY_CONNECTED only"
        elif t.shape[-1] % 4:
            for n in ns:
                notes[n.name] = f"input dimension {t.shape[-1]} is not a multiple of 4; left dense"
        else:
            t.data = two_four(t.data)  # type: ignore[arg-type]
            done.update(n.name for n in ns)
        bar.update()
    if not done:
        raise _nothing_to_prune(
            nodes,
            protected,
            "no layer has an input dimension divisible by 4 (depthwise layers are never 2:4)",
        )


def _channels(
    graph: Graph,
    nodes: list[Node],
    protected: set[str],
    prune: Prune,
    notes: dict[str, str],
    done: set[str],
    report: PruneReport,
    bar: Progress,
) -> None:
    bar.total = 2
    plan = plan_channels(graph, prune)
    bar.update()
    for p, why in plan.fixed.items():
        notes.setdefault(p, why)
    if prune.sparsity > 0 and not plan.channels_removed:
        if not plan.removable:
            reasons = "; ".join(f"{p}: {why}" for p, why in plan.fixed.items())
            raise _nothing_to_prune(
                nodes, protected, f"no output channel can be removed ({reasons or 'no layer'})"
            )
        report.notes.append(
            f"sparsity {prune.sparsity:g} rounds to zero channels in every group of layers"
        )
    shrinking = {
        n.name
        for n in nodes
        if plan.keep.get(n.outputs[0]) is not None or plan.keep.get(n.inputs[0]) is not None  # type: ignore[arg-type]
    }
    remove_channels(graph, plan)
    bar.update()
    for n in nodes:
        if n.name in shrinking:
            done.add(n.name)
            if not len(plan.removed.get(n.name, ())) and n.op != "DEPTHWISE_CONV_2D":
                notes.setdefault(n.name, "input channels removed only")
    report.notes.extend(
        "tied: " + ", ".join(repr(p) for p in grp) for grp in plan.groups if len(grp) > 1
    )
