"""Float islands: which layers of the integer gears compute in float32 (FORMAT.md 1.5).

``gs.convert(float_layers=[...])`` names them; ``float_layers="auto"`` measures them: each
candidate layer (a convolution, depthwise, transposed convolution or dense layer) is put
alone in float, the int8 gear of that file is run on the calibration inputs by the C++
runtime, and the candidate's score is how much of the all-int8 output error it removes
(the error of an output: its mean squared difference from the source model's output,
divided by that output's variance, averaged over outputs). The layers with the largest
gains are kept within the budget: a count of layers, or (a float below 1) a share of the
model's weight elements. Single-layer gains are not additive, so the combination chosen is
measured once more and reported.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ir import Graph

ISLAND_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
#: at most this many calibration inputs are run per candidate (the ranking, not the ranges)
AUTO_SAMPLES = 32
DEFAULT_BUDGET = 4


@dataclass
class IslandChoice:
    """What ``float_layers="auto"`` chose and measured."""

    layers: list[str]
    error_int8: float  # normalized output error, all int8
    error_islands: float  # with the chosen layers in float
    gains: dict[str, float] = field(default_factory=dict)  # candidate -> error removed alone

    def note(self) -> str:
        if not self.layers:
            return f"float islands (auto): none helps (int8 output error {self.error_int8:.3g})"
        return (
            f"float islands (auto, by measured output error): {', '.join(self.layers)}; "
            f"output error {self.error_int8:.3g} -> {self.error_islands:.3g}"
        )


def output_error(ref: Sequence[np.ndarray], got: Sequence[np.ndarray]) -> float:
    """Mean over outputs of MSE / variance of the reference (0: exact)."""
    errs = []
    for r, y in zip(ref, got):
        r64 = np.asarray(r, np.float64)
        var = float(np.var(r64)) or 1.0
        errs.append(float(np.mean((r64 - np.asarray(y, np.float64)) ** 2)) / var)
    return float(np.mean(errs)) if errs else 0.0


def candidates(graph: Graph) -> list[str]:
    """Layers with constant weights, in graph order."""
    return [
        n.name
        for n in graph.nodes
        if n.op in ISLAND_OPS and n.inputs[1] is not None and graph.tensors[n.inputs[1]].is_const
    ]


def _weight_elements(graph: Graph, name: str) -> int:
    node = next(n for n in graph.nodes if n.name == name)
    return int(graph.tensors[node.inputs[1]].size)  # type: ignore[index]


def choose_float_layers(
    graph: Graph,
    qplan: Any,
    xs: list[np.ndarray],
    ref: list[np.ndarray],
    budget: float = DEFAULT_BUDGET,
    say: Callable[[str], None] = lambda _m: None,
) -> IslandChoice:
    """The layers to compute in float (see the module docstring). Needs the C++ runtime."""
    from ..runtime import Runtime
    from .write_gear import write_gear

    if budget <= 0:
        raise ValueError(f"float_budget must be > 0 (a count, or a share below 1), got {budget}")
    n = min(AUTO_SAMPLES, xs[0].shape[0])
    xs, ref = [x[:n] for x in xs], [r[:n] for r in ref]
    names = list(graph.outputs)

    folder = tempfile.mkdtemp(prefix="gearshift-islands-")
    path = os.path.join(folder, "probe.gear")

    def measure(layers: Sequence[str]) -> float:
        write_gear(graph, path, ("int8",), storage="exact", qplan=qplan, float_nodes=layers)
        rt = Runtime(path, gear="int8")
        y = rt.run(xs[0] if len(xs) == 1 else list(xs))
        got = [y] if len(names) == 1 else [y[k] for k in names]
        return output_error(ref, got)

    try:
        base = measure(())
        gains: dict[str, float] = {}
        cands = candidates(graph)
        say(f"float islands: measuring {len(cands)} layers alone in float on {n} inputs")
        for name in cands:
            gains[name] = base - measure([name])
        ranked = sorted((g, c) for c, g in gains.items() if g > 0)[::-1]
        total = sum(_weight_elements(graph, c) for c in cands) or 1
        chosen: list[str] = []
        used = 0
        for _gain, name in ranked:
            size = _weight_elements(graph, name)
            if budget >= 1 and len(chosen) >= int(budget):
                break
            if budget < 1 and (used + size) / total > budget:
                continue
            chosen.append(name)
            used += size
        order = {c: i for i, c in enumerate(cands)}
        chosen.sort(key=order.__getitem__)
        final = measure(chosen) if chosen else base
    finally:
        for f in os.listdir(folder):
            os.unlink(os.path.join(folder, f))
        os.rmdir(folder)
    return IslandChoice(chosen, base, final, gains)
