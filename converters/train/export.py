"""What ``gearshift.convert`` does with a model that ``gearshift.train`` returned.

- ``prune(structure="channel")``: the pruned channels (filter, bias and any
  folded batch norm exactly zero) are removed from the graph with
  ``passes.prune_channels``, the same plan the training masks came from.
- ``qat``: the int8 ranges are the ones the model learned (see ``qat.py``),
  not a fresh calibration.
Unstructured and 2:4 pruning need nothing: the zeros are in the weights, and
the writer stores int8 weights with zeros sparse where that is smaller.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import Graph
from .prune import training_marks

__all__ = ["remove_pruned_channels"]


def _channel_norms(graph: Graph) -> dict[str, np.ndarray]:
    out = {}
    for n in graph.nodes:
        if n.op not in ("CONV_2D", "FULLY_CONNECTED") or n.inputs[1] is None:
            continue
        w = graph.tensors[n.inputs[1]].data
        if w is None:
            continue
        s = np.abs(w.reshape(w.shape[0], -1).astype(np.float64)).sum(axis=1)
        b = n.inputs[2] if len(n.inputs) > 2 else None
        if b is not None and graph.tensors[b].data is not None:
            s = s + np.abs(graph.tensors[b].data.astype(np.float64))
        out[n.name] = s
    return out


def remove_pruned_channels(model: Any, graph: Graph) -> list[str]:
    """Removes a channel-pruned model's zeroed channels from ``graph`` in place; notes."""
    marks = training_marks(model)
    if not marks or marks.get("kind") != "prune" or marks.get("structure") != "channel":
        return []
    from ...convert import Prune
    from ..passes.prune_channels import plan_channels, remove_channels

    norms = _channel_norms(graph)
    prune = Prune(
        sparsity=min(float(marks["sparsity"]), 0.99),
        method="channel",
        scope="layer",
        include_first_last=bool(marks.get("include_first_last", False)),
    )
    plan = plan_channels(graph, prune, scores=norms)
    live = [
        p
        for p, idx in plan.removed.items()
        if len(idx) and np.any(norms.get(p, np.zeros(0))[idx] > 0)
    ]
    remove_channels(graph, plan)
    graph.validate()
    notes = [f"removed {plan.channels_removed} channels pruned by gearshift.train.prune"]
    if live:
        notes.append(
            "the removed channels of " + ", ".join(live) + " were not all zero (weights changed "
            "after pruning?): removal changed the model's function"
        )
    return notes
