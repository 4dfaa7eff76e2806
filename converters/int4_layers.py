"""Which layers the int4 gear keeps at int8, by measured sensitivity
(``gs.convert(int4_int8_layers="auto")``).

The int4 gear's 4-bit weights cost some layers far more output error than others (a thin
layer early in the network, a head that decides a detection). ``"auto"`` starts from the
layers kept at int8 for free (those reading a graph input, and every depthwise layer,
which the runtime packs as int8 in either gear) and measures the rest: each candidate
convolution or dense layer is put alone back at int8, the int4 gear of that file (with
the float islands, if any) runs on the calibration inputs on the C++ runtime, and its
score is how much of the int4 gear's output error (:func:`islands.output_error`, or the
caller's metric) it removes. The candidates are then taken greedily in that order, each
kept if the error falls with it together with those already chosen, within the budget: a
count of layers, or (a number below 1) a share of the int4 gear's 4-bit weight elements,
which bounds what the choice costs in the int4 gear's memory (a weight held as int8 takes
at least half a byte more once packed; measured in docs/QUANTIZATION.md), stopping after
:data:`MAX_REJECTED` candidates that did not help. The weights the int4 gear rounds on
its own (``weight_rounding``) are measured as they will be written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ir import Graph
from .islands import Metric, Probe, output_error, within_budget

#: ``int4_int8_budget``'s default: at most a quarter of the 4-bit weights back at int8
DEFAULT_BUDGET = 0.25
#: the greedy pass tries at most this many ranked candidates beyond the ones it keeps
MAX_REJECTED = 12
CANDIDATE_OPS = ("CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


@dataclass
class Int8Choice:
    """What ``int4_int8_layers="auto"`` chose and measured."""

    layers: list[str]  # node names, graph order
    weights: list[str]  # their weight tensors
    error_int4: float  # the int4 gear's output error (the metric) before the choice
    error_chosen: float  # with the chosen layers at int8
    elements: int = 0  # weight elements kept at int8
    candidate_elements: int = 0  # every candidate's weight elements (the 4-bit ones)
    gains: dict[str, float] = field(default_factory=dict)  # candidate -> error removed alone

    def note(self) -> str:
        if not self.layers:
            return (
                "kept at int8 (int4_int8_layers auto): none helps "
                f"(int4 output error {self.error_int4:.3g})"
            )
        share = self.elements / max(self.candidate_elements, 1)
        shown = ", ".join(self.layers[:6]) + (
            f", ... ({len(self.layers) - 6} more)" if len(self.layers) > 6 else ""
        )
        return (
            f"kept at int8 (int4_int8_layers auto, by measured output error): {shown}; "
            f"{self.elements:,} weights ({share:.1%} of the 4-bit ones) held as int8 in the "
            f"int4 gear; output error {self.error_int4:.3g} -> {self.error_chosen:.3g}"
        )


def candidates(graph: Graph, kept: Collection[str], skip: Collection[str]) -> list[tuple[str, str]]:
    """``(node, weight)`` of the layers the int4 gear holds at 4 bits: convolutions and
    dense layers with constant weights of their own, not yet kept at int8 (``kept``:
    weight names) nor computed in float (``skip``: node names), in graph order."""
    readers: dict[str, int] = {}
    for n in graph.nodes:
        for t in set(n.inputs):
            if t is not None:
                readers[t] = readers.get(t, 0) + 1
    out = []
    for n in graph.nodes:
        w = n.inputs[1] if len(n.inputs) > 1 else None
        if n.op not in CANDIDATE_OPS or w is None or graph.tensors[w].data is None:
            continue
        if w in kept or n.name in skip or readers.get(w, 0) > 1:
            continue
        out.append((n.name, w))
    return out


def choose_int8_layers(
    graph: Graph,
    qplan: Any,
    xs: list[np.ndarray],
    ref: list[np.ndarray],
    budget: float = DEFAULT_BUDGET,
    islands: Sequence[str] = (),
    say: Callable[[str], None] = lambda _m: None,
    metric: Metric | None = None,
) -> Int8Choice:
    """The layers the int4 gear keeps at int8 besides ``qplan.q4_int8`` and the first
    layers (module docstring). Needs the C++ runtime. ``xs``/``ref``: the calibration
    inputs and the source's outputs there; ``islands``: the integer gears' float nodes."""
    from .write_gear import int4_int8_layers, write_gear

    if budget <= 0:
        raise ValueError(
            f"int4_int8_budget must be > 0 (a count, or a share below 1), got {budget}"
        )
    error = metric or output_error
    base_kept = set(qplan.q4_int8)
    cands = candidates(graph, int4_int8_layers(graph) | base_kept, set(islands))
    size = {w: int(graph.tensors[w].data.size) for _, w in cands}  # type: ignore[union-attr]
    total = sum(size.values())

    with Probe(graph, qplan, xs, ref, error, "int4") as probe:

        def measure(weights: Collection[str]) -> float:
            plan = dataclasses.replace(qplan, q4_int8=base_kept | set(weights))
            return probe.file(
                lambda path: write_gear(
                    graph, path, ("int4",), storage="exact", qplan=plan, float_nodes=islands
                )
            )

        base = measure(())
        say(f"int4 layers at int8: measuring {len(cands)} layers alone at int8 on {probe.n} inputs")
        gains = {node: base - measure([w]) for node, w in cands}
        by_node = dict(cands)
        ranked = [c for c in sorted(gains, key=lambda c: -gains[c]) if gains[c] > 0]
        chosen: list[str] = []
        current, rejected = base, 0
        for node in ranked:  # greedy in ranked order: gains are not additive
            trial = [*chosen, by_node[node]]
            if not within_budget([size[w] for w in trial], budget, total):
                continue
            err = measure(trial)
            if err < current:
                chosen, current = trial, err
            else:
                rejected += 1
                if rejected >= MAX_REJECTED:
                    break
    kept = set(chosen)
    layers = [node for node, w in cands if w in kept]
    return Int8Choice(
        layers=layers,
        weights=[w for _, w in cands if w in kept],
        error_int4=base,
        error_chosen=current,
        elements=sum(size[w] for w in kept),
        candidate_elements=total,
        gains=gains,
    )
