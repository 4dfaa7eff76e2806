"""Pruning masks from importance scores, for the three structures, in Keras kernel layout.

- ``unstructured``: the ``sparsity`` fraction of lowest-scored weights go, with
  one ranking over all eligible kernels (``scope="global"``), the same
  fraction in each (``scope="layer"``), or a per-layer fraction from the
  layer's shape (``scope="erk"``, :func:`erk_counts`: thin layers and
  depthwise kernels keep more, wide 1x1 expansions less); exact counts, ties
  by position. "``sparsity``" is always the fraction of the eligible kernels'
  weights (the Conv2D / DepthwiseConv2D / Dense kernels, less the first and
  last layers unless ``include_first_last``; biases and batch norm never).
- ``2:4``: in every group of four consecutive weights along the input axis (the
  format's: ``I`` of a Conv2D ``[KH,KW,I,O]`` for each ``(kh, kw, o)``, ``I`` of
  a Dense ``[I,O]``), the two lowest-scored go. Gradually: at sparsity ``s``
  the fraction ``s / 0.5`` of groups with the lowest sum of their two smallest
  scores is pruned, so the schedule ends with every group 2:4.
- ``channel``: whole output channels, chosen by ``passes.prune_channels`` on the
  model's IR (so channels tied through ADD, flattened into a Dense or followed
  by a depthwise layer go together, exactly as the converter will remove
  them), ranked by the summed scores of their filters. The mask zeroes every
  kernel and bias position the removal deletes, and the gamma and beta of a
  BatchNormalization reading a pruned channel, so the pruned channel outputs
  exactly zero and removing it at conversion changes nothing.

The first and last prunable layers (next to the model's inputs and outputs)
stay dense unless ``include_first_last`` (``gs.Prune``'s rule).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .scores import channel_scores, prunable_layers

__all__ = [
    "SCOPES",
    "STRUCTURES",
    "Masks",
    "channel_masks",
    "edge_layer_names",
    "erk_counts",
    "weight_masks",
]

STRUCTURES = ("unstructured", "2:4", "channel")
SCOPES = ("global", "layer", "erk")
# layer name -> {variable path: mask}
Masks = dict[str, dict[str, np.ndarray]]


def _ir(model: Any) -> Any:
    from ..import_keras import import_keras
    from ..passes import run_passes

    graph = import_keras(model)
    run_passes(graph)
    return graph


def edge_layer_names(model: Any) -> set[str]:
    """Names of the first and last prunable layers, as the converter finds them."""
    from ..passes.prune_layers import edge_layers

    first, last = edge_layers(_ir(model))
    return first | last


def _keep_lowest(values: np.ndarray, k: int) -> np.ndarray:
    """A boolean keep mask that drops the ``k`` lowest values (ties by position)."""
    keep = np.ones(values.size, dtype=bool)
    if k > 0:
        keep[np.argsort(values.ravel(), kind="stable")[:k]] = False
    return keep.reshape(values.shape)


def _count(sparsity: float, n: int) -> int:
    return min(int(np.floor(sparsity * n + 0.5)), n)


def erk_counts(shapes: dict[str, tuple[int, ...]], sparsity: float) -> dict[str, int]:
    """Weights to prune per kernel: the Erdős-Rényi-kernel allocation (Evci et al. 2020).

    A kernel of shape ``(d1, ..., dk)`` keeps the density ``eps * sum(d) / prod(d)``
    (capped at 1: a kernel too small to share in the pruning stays dense, and the
    others make up for it), with ``eps`` set so that exactly ``round(sparsity * N)``
    of the ``N`` weights go in total. So a thin kernel (16-32 channels) or a
    depthwise one ``[3, 3, C, 1]`` (``sum/prod`` about ``1/9``) keeps a larger
    share than a wide 1x1 expansion ``[1, 1, 32, 128]`` (about ``1/25``).
    The float counts are rounded by largest remainder, so they sum exactly.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    sizes = {name: int(np.prod(shape)) for name, shape in shapes.items()}
    total = sum(sizes.values())
    target = _count(sparsity, total)  # weights to prune overall
    if target == 0 or total == 0:
        return {name: 0 for name in shapes}
    raw = {name: sum(shapes[name]) / sizes[name] for name in shapes}
    dense: set[str] = set()
    while True:  # raise eps until the kept weights match; cap densities at 1
        free = [n for n in shapes if n not in dense]
        keep_budget = total - target - sum(sizes[n] for n in dense)
        eps = keep_budget / sum(raw[n] * sizes[n] for n in free)
        over = [n for n in free if eps * raw[n] >= 1.0]
        if not over:
            break
        dense.update(over)
    want = {n: (0.0 if n in dense else sizes[n] * (1.0 - eps * raw[n])) for n in shapes}
    counts = {n: int(np.floor(w)) for n, w in want.items()}
    rest = target - sum(counts.values())
    order = sorted(
        (n for n in shapes if n not in dense and counts[n] < sizes[n]),
        key=lambda n: (counts[n] - want[n], n),
    )
    for n in order[:rest]:
        counts[n] += 1
    return counts


def _to_groups(layer: Any, a: np.ndarray) -> np.ndarray | None:
    """Kernel -> ``[-1, 4]`` groups along the input axis (None: not 2:4-able)."""
    kind = type(layer).__name__
    if kind == "Conv2D":
        ir = a.transpose(3, 0, 1, 2)  # [O,KH,KW,I]
    elif kind == "Dense":
        ir = a.T  # [O,I]
    else:
        return None
    if ir.shape[-1] % 4:
        return None
    return ir.reshape(-1, 4)


def _from_groups(layer: Any, g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if type(layer).__name__ == "Conv2D":
        kh, kw, i, o = shape
        return g.reshape(o, kh, kw, i).transpose(1, 2, 3, 0)
    i, o = shape
    return g.reshape(o, i).T


def weight_masks(
    model: Any,
    scores: dict[str, np.ndarray],
    sparsity: float,
    structure: str = "unstructured",
    scope: str = "global",
    skip: set[str] | None = None,
) -> Masks:
    """Kernel masks (True = keep) for ``unstructured`` or ``2:4`` at ``sparsity``."""
    skip = skip or set()
    layers = [layer for layer in prunable_layers(model) if layer.name not in skip]
    masks: Masks = {}
    if structure == "unstructured":
        if scope == "erk":
            counts = erk_counts({la.name: tuple(scores[la.name].shape) for la in layers}, sparsity)
            for layer in layers:
                s = scores[layer.name]
                masks[layer.name] = {"kernel": _keep_lowest(s, counts[layer.name])}
            return masks
        if scope == "layer":
            for layer in layers:
                s = scores[layer.name]
                masks[layer.name] = {"kernel": _keep_lowest(s, _count(sparsity, s.size))}
            return masks
        if not layers:
            return masks
        flat = np.concatenate([scores[layer.name].ravel() for layer in layers])
        keep = _keep_lowest(flat, _count(sparsity, flat.size))
        start = 0
        for layer in layers:
            s = scores[layer.name]
            masks[layer.name] = {"kernel": keep[start : start + s.size].reshape(s.shape)}
            start += s.size
        return masks
    if structure != "2:4":
        raise ValueError(f"weight_masks: structure must be unstructured or 2:4, got {structure!r}")
    groups = {}
    for layer in layers:
        g = _to_groups(layer, scores[layer.name])
        if g is not None:
            groups[layer.name] = (layer, g)
    if not groups:
        return masks
    # the pair-drop cost of each group: its two smallest scores
    costs = np.concatenate([np.sort(g, axis=1)[:, :2].sum(axis=1) for _, g in groups.values()])
    frac = min(max(sparsity / 0.5, 0.0), 1.0)
    pruned = ~_keep_lowest(costs, _count(frac, costs.size))
    start = 0
    for name, (layer, g) in groups.items():
        sel = pruned[start : start + g.shape[0]]
        start += g.shape[0]
        order = np.argsort(g, axis=1, kind="stable")
        drop = np.zeros(g.shape, dtype=bool)
        np.put_along_axis(drop, order[:, :2], True, axis=1)
        keep = ~(drop & sel[:, None])
        masks[name] = {"kernel": _from_groups(layer, keep, scores[name].shape)}
    return masks


def _bn_after(model: Any) -> dict[str, Any]:
    """Layer name -> the BatchNormalization layer that reads its output directly."""
    from ..import_keras import iter_leaf_layers

    out: dict[str, Any] = {}
    for layer in iter_leaf_layers(model):
        if type(layer).__name__ != "BatchNormalization":
            continue
        try:
            src = layer.input._keras_history[0]
        except (AttributeError, ValueError):
            continue
        out[src.name] = layer
    return out


def channel_masks(
    model: Any,
    scores: dict[str, np.ndarray],
    sparsity: float,
    include_first_last: bool = False,
) -> tuple[Masks, int]:
    """Channel masks at ``sparsity`` (see the module doc) and the channels removed."""
    from ...convert import Prune
    from ..passes.prune_channels import plan_channels

    if sparsity <= 0:
        return {}, 0
    graph = _ir(model)
    by_name = {layer.name: layer for layer in prunable_layers(model)}
    ch = {name: channel_scores(by_name[name], s) for name, s in scores.items() if name in by_name}
    prune = Prune(
        sparsity=min(float(sparsity), 0.99),
        method="channel",
        scope="layer",
        include_first_last=include_first_last,
    )
    plan = plan_channels(graph, prune, scores=ch)
    masks: Masks = {}
    bns = _bn_after(model)
    for node in graph.nodes:
        layer = by_name.get(node.name)
        if layer is None or node.op not in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"):
            continue
        k = layer.kernel.shape
        mask = np.ones(tuple(k), dtype=bool)
        out_keep = plan.keep.get(node.outputs[0])
        in_keep = plan.keep.get(node.inputs[0]) if node.op != "DEPTHWISE_CONV_2D" else None
        m: dict[str, np.ndarray] = {}
        if out_keep is not None:
            if node.op == "DEPTHWISE_CONV_2D":
                mask &= out_keep.reshape(k[2], k[3])[None, None]
            else:
                mask &= out_keep
            if layer.use_bias:
                m["bias"] = out_keep.copy()
            bn = bns.get(layer.name)
            if bn is not None:
                bm = {
                    v: out_keep.copy()
                    for v in ("gamma", "beta")
                    if getattr(bn, v, None) is not None
                }
                masks[bn.name] = bm
        if in_keep is not None:
            axis = 2 if node.op == "CONV_2D" else 0
            shape = [1] * len(k)
            shape[axis] = k[axis]
            mask &= in_keep.reshape(shape)
        if not mask.all():
            m["kernel"] = mask
        if m:
            masks[layer.name] = m
    return masks, plan.channels_removed


def apply_masks(model: Any, masks: Masks) -> None:
    """Multiplies each masked variable by its mask, in place."""
    from ..import_keras import iter_leaf_layers

    for layer in iter_leaf_layers(model):
        for var, mask in masks.get(layer.name, {}).items():
            v = getattr(layer, var)
            v.assign(v.numpy() * mask.astype(v.numpy().dtype))


def sparsity_of(model: Any, masks: Masks) -> float:
    """Fraction of zero weights over the masked kernels."""
    total = zeros = 0
    for layer in prunable_layers(model):
        if layer.name in masks and "kernel" in masks[layer.name]:
            k = layer.kernel.numpy()
            total += k.size
            zeros += int(np.count_nonzero(k == 0))
    return zeros / total if total else 0.0
