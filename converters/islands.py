"""Float islands: which layers of the integer gears compute in float32 (FORMAT.md 1.5).

``gs.convert(float_layers=[...])`` names them; ``float_layers="auto"`` measures them: each
candidate layer (a convolution, depthwise, transposed convolution or dense layer) is put
alone in float, the int8 gear of that file is run on the calibration inputs by the C++
runtime, and the candidate's score is how much of the all-int8 output error
(:func:`output_error`, or the caller's metric) it removes. Single-layer gains are not
additive, so the choice is then greedy among the best twelve: each round adds the layer
that lowers the error most together with those already chosen, within the budget (a count
of layers, or, a float below 1, a share of the model's weight elements), until none helps.
Every measurement writes the int8 gear with the islands closed over the layers without
weights that follow them (:func:`close_islands`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ir import Graph

Metric = Callable[[list[np.ndarray], list[np.ndarray]], float]
ISLAND_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
#: at most this many calibration inputs are run per candidate (the ranking, not the ranges)
AUTO_SAMPLES = 64
DEFAULT_BUDGET = 4
#: the best single layers that the greedy rounds choose among
SHORTLIST = 12
BATCH = 16  # inputs per run (bounds the arena)


@dataclass
class IslandChoice:
    """What ``float_layers="auto"`` chose and measured."""

    layers: list[str]
    error_int8: float  # output error (the metric), all int8
    error_islands: float  # with the chosen layers in float
    gains: dict[str, float] = field(default_factory=dict)  # candidate -> error removed alone
    cut: str = ""  # float_layers="tail": the first layer of the float tail ("" if none)
    is_tail: bool = False  # chosen by float_layers="tail"

    def note(self) -> str:
        if self.is_tail and not self.cut:
            return (
                f"float tail: no cut helps (int8 output error {self.error_int8:.3g}); "
                f"the heads in float: {', '.join(self.layers)}"
            )
        if self.cut:
            return (
                f"float tail (by measured output error) from {self.cut}: {len(self.layers)} "
                f"nodes, the heads included; output error {self.error_int8:.3g} -> "
                f"{self.error_islands:.3g}"
            )
        if not self.layers:
            return f"float islands (auto): none helps (int8 output error {self.error_int8:.3g})"
        return (
            f"float islands (auto, by measured output error): {', '.join(self.layers)}; "
            f"output error {self.error_int8:.3g} -> {self.error_islands:.3g}"
        )


def output_error(ref: Sequence[np.ndarray], got: Sequence[np.ndarray]) -> float:
    """The gear's output error against the source's, 0 when exact.

    Per output element (position), the squared error over the inputs divided by the
    reference's variance at that position across the inputs (plus 1% of the mean such
    variance, so that constant positions do not dominate); averaged over positions, then
    over outputs. Normalizing per position rather than by the whole tensor's variance is
    what lets a detector's scores count: its background logits vary by hundreds between
    images and would hide the error of the few anchors that decide the detection (with the
    whole-tensor variance, BlazeFace's choice was four early layers that did not help)."""
    errs = []
    for r, y in zip(ref, got):
        r64 = np.asarray(r, np.float64)
        d2 = np.mean((r64 - np.asarray(y, np.float64)) ** 2, axis=0)
        var = np.var(r64, axis=0)
        denom = var + 0.01 * float(np.mean(var)) + 1e-30
        errs.append(float(np.mean(d2 / denom)))
    return float(np.mean(errs)) if errs else 0.0


def _shared_constants(graph: Graph) -> set[str]:
    """Constants that several nodes read (a float node may not share one with an integer
    node, FORMAT.md 1.5)."""
    readers: dict[str, int] = {}
    for n in graph.nodes:
        for t in set(n.inputs):
            if t is not None and graph.tensors[t].data is not None:
                readers[t] = readers.get(t, 0) + 1
    return {t for t, k in readers.items() if k > 1}


def candidates(graph: Graph) -> list[str]:
    """Layers with constant weights that no other node shares, in graph order."""
    shared = _shared_constants(graph)
    return [
        n.name
        for n in graph.nodes
        if n.op in ISLAND_OPS
        and n.inputs[1] is not None
        and graph.tensors[n.inputs[1]].is_const
        and not shared.intersection(t for t in n.inputs if t is not None)
    ]


def close_islands(graph: Graph, layers: Sequence[str]) -> list[str]:
    """``layers`` plus the nodes without weights that should compute in float with them.

    Dequantizing an int8 tensor is exact and quantizing a float one is not, so a node
    without weights joins the islands where every non-constant input is float, and, in the
    graph's tail (nodes from which no weighted layer is reached: the reshapes,
    concatenations and activations after a detector's heads), where any input is float.
    Otherwise a float head would be quantized again on its way to the outputs. Graph
    order."""
    weighted = {
        n.name
        for n in graph.nodes
        if n.op in ISLAND_OPS and n.inputs[1] is not None and graph.tensors[n.inputs[1]].is_const
    }
    shared = _shared_constants(graph)
    consumers: dict[str, list[str]] = {}
    for n in graph.nodes:
        for t in n.inputs:
            if t is not None:
                consumers.setdefault(t, []).append(n.name)
    by_name = {n.name: n for n in graph.nodes}
    tail: set[str] = set()
    for n in reversed(graph.nodes):
        if n.name in weighted:
            continue
        if all(c in tail for t in n.outputs for c in consumers.get(t, [])):
            tail.add(n.name)
    chosen = set(layers)
    float_tensors: set[str] = set()
    for n in graph.nodes:
        ins = [t for t in n.inputs if t is not None and graph.tensors[t].data is None]
        mine = shared.isdisjoint(t for t in n.inputs if t is not None)
        if n.name not in chosen and n.name not in weighted and ins and mine:
            flt = [t in float_tensors for t in ins]
            if all(flt) or (n.name in tail and any(flt)):
                chosen.add(n.name)
        if n.name in chosen:
            float_tensors.update(by_name[n.name].outputs)
    return [n.name for n in graph.nodes if n.name in chosen]


def heads(graph: Graph) -> list[str]:
    """The last weighted layers: candidates from which no other weighted layer is reached
    (a detector's classifier and box regressors, a landmark model's final layers)."""
    weighted = {
        n.name
        for n in graph.nodes
        if n.op in ISLAND_OPS and n.inputs[1] is not None and graph.tensors[n.inputs[1]].is_const
    }
    consumers: dict[str, list[str]] = {}
    for n in graph.nodes:
        for t in n.inputs:
            if t is not None:
                consumers.setdefault(t, []).append(n.name)
    reaches: dict[str, bool] = {}  # node -> a weighted layer lies downstream
    for n in reversed(graph.nodes):
        nxt = [c for t in n.outputs for c in consumers.get(t, [])]
        reaches[n.name] = any(c in weighted or reaches[c] for c in nxt)
    cands = set(candidates(graph))
    return [n.name for n in graph.nodes if n.name in cands and not reaches[n.name]]


def tail(graph: Graph, cut: str) -> list[str]:
    """The nodes from ``cut`` to the end in graph order, with the heads: a float tail.

    Unlike islands over single layers, a tail keeps the activations between its layers
    float - a residual stream whose skip input comes from before the cut is dequantized
    once (exactly) and stays float - so no int8 activation rounding is left after the cut.
    A node that reads a constant shared with a node before the cut stays integer."""
    names = [n.name for n in graph.nodes]
    shared = _shared_constants(graph)
    before = {t for n in graph.nodes[: names.index(cut)] for t in n.inputs if t in shared}
    after = [
        n.name
        for n in graph.nodes[names.index(cut) :]
        if before.isdisjoint(t for t in n.inputs if t is not None)
    ]
    return close_islands(graph, sorted({*after, *heads(graph)}, key=names.index))


def _weight_elements(graph: Graph, name: str) -> int:
    node = next(n for n in graph.nodes if n.name == name)
    return int(graph.tensors[node.inputs[1]].size)  # type: ignore[index]


def within_budget(sizes: Sequence[int], budget: float, total: int) -> bool:
    """A choice of layers with weight elements ``sizes`` fits ``budget``: at most
    ``budget`` layers, or, below 1, at most that share of ``total`` weight elements."""
    if budget >= 1:
        return len(sizes) <= int(budget)
    return sum(sizes) / total <= budget


def _within_budget(graph: Graph, layers: Sequence[str], budget: float, total: int) -> bool:
    return within_budget([_weight_elements(graph, c) for c in layers], budget, total)


class Probe:
    """Measures one integer gear of trial files on at most ``AUTO_SAMPLES`` calibration
    inputs against the source's outputs: ``with Probe(...) as measure: measure(layers)``
    with those float islands (closed by :func:`close_islands`), or
    ``measure.file(write)`` for a file ``write(path)`` makes (``int4_layers``' trials).
    Each call rewrites one file in a temporary folder."""

    def __init__(
        self, graph: Graph, qplan: Any, xs: list[np.ndarray], ref: list[np.ndarray],
        error: Metric, gear: str,
    ) -> None:  # fmt: skip
        self.n = min(AUTO_SAMPLES, xs[0].shape[0])
        self.graph, self.qplan, self.error, self.gear = graph, qplan, error, gear
        self.xs, self.ref = [x[: self.n] for x in xs], [r[: self.n] for r in ref]
        self.folder = tempfile.TemporaryDirectory(prefix=f"gearshift-probe-{gear}-")

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.folder.cleanup()

    def __call__(self, layers: Sequence[str]) -> float:
        from .write_gear import write_gear

        layers = close_islands(self.graph, layers)
        return self.file(
            lambda path: write_gear(
                self.graph, path, (self.gear,), storage="exact", qplan=self.qplan,
                float_nodes=layers,
            )
        )  # fmt: skip

    def file(self, write: Callable[[str], None]) -> float:
        """The error of the gear of the file ``write(path)`` writes."""
        from ..runtime import Runtime

        path = os.path.join(self.folder.name, "probe.gear")
        write(path)
        rt = Runtime(path, gear=self.gear)
        names, xs, parts = list(self.graph.outputs), self.xs, []
        for i in range(0, self.n, BATCH):
            y = rt.run(xs[0][i : i + BATCH] if len(xs) == 1 else [x[i : i + BATCH] for x in xs])
            parts.append([y] if len(names) == 1 else [y[k] for k in names])
        got = [np.concatenate(col) for col in zip(*parts)]
        return float(self.error(self.ref, got))


def choose_float_tail(
    graph: Graph,
    qplan: Any,
    xs: list[np.ndarray],
    ref: list[np.ndarray],
    budget: float = DEFAULT_BUDGET,
    say: Callable[[str], None] = lambda _m: None,
    metric: Metric | None = None,
    gear: str = "int8",
) -> IslandChoice:
    """``float_layers="tail"``: the heads and a float tail of the graph (:func:`tail`),
    its cut chosen by measurement - every cut at a weighted layer whose tail holds at most
    ``budget`` weighted layers besides the heads (a count, or, below 1, a share of the
    model's weight elements) is measured, and the one with the least error is kept (the
    shorter on a tie). ``gains`` maps each cut to the error its tail removes."""
    if budget <= 0:
        raise ValueError(f"float_budget must be > 0 (a count, or a share below 1), got {budget}")
    error = metric or output_error
    cands = candidates(graph)
    fixed = set(heads(graph))
    total = sum(_weight_elements(graph, c) for c in cands) or 1
    body = set(cands) - fixed  # what the budget counts
    tails = {c: tail(graph, c) for c in cands if c not in fixed}
    cuts = [
        c
        for c, t in tails.items()
        if _within_budget(graph, [x for x in t if x in body], budget, total)
    ]
    with Probe(graph, qplan, xs, ref, error, gear) as measure:
        base = measure(sorted(fixed))
        say(f"float tail: measuring {len(cuts)} cuts on {measure.n} inputs")
        errors = {c: measure(tails[c]) for c in cuts}
    gains = {c: base - e for c, e in errors.items()}
    if not errors or min(errors.values()) >= base:
        layers = close_islands(graph, sorted(fixed))  # in graph order
        return IslandChoice(layers, base, base, gains, is_tail=True)
    # the least error; among equal errors the latest cut (the shortest tail)
    best = min(reversed(cuts), key=errors.__getitem__)
    return IslandChoice(tails[best], base, errors[best], gains, cut=best, is_tail=True)


def choose_float_layers(
    graph: Graph,
    qplan: Any,
    xs: list[np.ndarray],
    ref: list[np.ndarray],
    budget: float = DEFAULT_BUDGET,
    say: Callable[[str], None] = lambda _m: None,
    metric: Metric | None = None,
    gear: str = "int8",
    start: Sequence[str] = (),
) -> IslandChoice:
    """The layers to compute in float (see the module docstring). Needs the C++ runtime.

    ``metric(ref, got)``: the error to reduce (lower is better), from the source's and the
    gear's outputs on the calibration inputs, in graph output order; default
    :func:`output_error`. A task's own measure (a detector's box IoU) ranks the layers by
    what matters for it. ``gear``: the integer gear measured (``int4`` in a file whose only
    integer gear it is: its weights, ``qplan.q4_weights`` included, decide). ``start``:
    layers in float from the outset (``float_layers="heads+auto"``: the heads), measured
    with every candidate and kept; the budget counts the layers added to them."""
    error = metric or output_error
    if budget <= 0:
        raise ValueError(f"float_budget must be > 0 (a count, or a share below 1), got {budget}")
    fixed = list(start)
    with Probe(graph, qplan, xs, ref, error, gear) as measure:
        n = measure.n
        base = measure(fixed)
        gains: dict[str, float] = {}
        cands = [c for c in candidates(graph) if c not in set(fixed)]
        say(f"float islands: measuring {len(cands)} layers alone in float on {n} inputs")
        for name in cands:
            gains[name] = base - measure([*fixed, name])
        ranked = [c for g, c in sorted((g, c) for c, g in gains.items() if g > 0)[::-1]]
        total = sum(_weight_elements(graph, c) for c in cands) or 1

        def fits(layers: list[str]) -> bool:
            return _within_budget(graph, layers, budget, total)

        # Greedy over the best single layers: gains are not additive (a float head
        # matters only if the layers feeding it are accurate enough, and two layers
        # may fix the same error), so each round adds the layer that helps most with
        # the ones already chosen, until none helps or the budget is spent.
        shortlist = ranked[:SHORTLIST]
        chosen: list[str] = []
        current = base
        while True:
            trials = [(measure([*fixed, *chosen, c]), c) for c in shortlist if fits([*chosen, c])]
            if not trials:
                break
            err, best = min(trials)
            if err >= current:
                break
            chosen.append(best)
            shortlist.remove(best)
            current = err
        order = {n.name: i for i, n in enumerate(graph.nodes)}
        chosen = sorted([*fixed, *chosen], key=order.__getitem__)
        final = current
        chosen = close_islands(graph, chosen) if chosen else []
    return IslandChoice(chosen, base, final, gains)
