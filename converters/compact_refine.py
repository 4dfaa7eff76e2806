"""Compact storage chosen by measured error: which weights need more bits.

A compact file stores a conv/dense weight as its int8 values plus a 4-bit
residual (``q8r4``, within ``s / 16`` of each weight; small weights an
8-bit one, ``q8r8``, within ``s / 256``). Most tensors lose nothing that
shows in the outputs; a few amplify it (hand_landmark_lite's fp32 gear: 0.12
max relative error with every large weight in q8r4). This module finds those
few by measurement and moves them up one storage step (q8r4 -> q8r8, and if
that is not enough, -> float32: ``convert._refine_compact`` runs the two
stages), so the fp32 gear stays within a target error of the source while
the rest stay compact.

How: the compact fp32 gear and an exact fp32 file (written and run once for all
rounds) run the same inputs on the C++ runtime with every tensor kept
(``Runtime(keep_tensors=True)``). The error a layer *introduces* is its
output's relative error minus the largest relative error among its inputs;
the layers whose weights are candidates
are promoted in order of that introduced error, 1, 2, 4, ... at a time, the
file rewritten and measured again, until the output error is within the
target or no candidate is left; then the last round's additions are bisected
(the doubling may overshoot: hand_landmark_lite's last round went from 31 to
all 51 weights).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .ir import Graph

__all__ = [
    "COMPACT_TARGET",
    "REL_ERROR_FLOOR",
    "exact_reference",
    "introduced_errors",
    "refine_compact",
]

# The compact fp32 gear's max relative output error against the source that
# refinement aims for (the error a float32 runtime's own rounding stays far below).
COMPACT_TARGET = 1e-3
# Inputs the per-layer comparison runs on (the whole calibration set measures the result).
PROBE_INPUTS = 8


# A tensor whose largest magnitude is below this is compared absolutely: its
# relative error would measure noise (pose_landmark_full's presence output is
# ~4e-23 on synthetic inputs, and refinement chased it to float32 on every
# weight). convert's reported errors use the same floor.
REL_ERROR_FLOOR = 1e-6


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    err = float(np.max(np.abs(a.astype(np.float64) - b))) if b.size else 0.0
    return err / scale if scale >= REL_ERROR_FLOOR else err


@contextlib.contextmanager
def exact_reference(graph: Graph, xs: Sequence[np.ndarray]) -> Iterator[Any]:
    """The graph's exact fp32 gear on the runtime, run once on the probe inputs with
    every tensor kept: the reference each refinement round reads (its arena keeps the
    values until it runs again)."""
    from ..runtime import Runtime
    from .write_gear import write_gear

    with tempfile.TemporaryDirectory(prefix="gearshift-refine-") as folder:
        path = os.path.join(folder, "exact.gear")
        write_gear(graph, path, gears=("fp32",), storage="exact")
        rt = Runtime(path, keep_tensors=True, verify_checksums=False)
        rt.run(_feed(graph, xs))
        yield rt


def _feed(graph: Graph, xs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    return {t: np.ascontiguousarray(x[:PROBE_INPUTS]) for t, x in zip(graph.inputs, xs)}


def introduced_errors(
    graph: Graph,
    compact_path: str,
    xs: Sequence[np.ndarray],
    candidates: set[str],
    exact: Any = None,
) -> dict[str, float]:
    """For each weight in ``candidates``: the relative error its layer adds in the
    compact file's fp32 gear over an exact fp32 file, on ``xs`` (graph inputs).
    ``exact``: an open :func:`exact_reference` of the same ``xs``, else one is made."""
    from ..runtime import Runtime

    if exact is None:
        with exact_reference(graph, xs) as ref:
            return introduced_errors(graph, compact_path, xs, candidates, ref)
    compact = Runtime(compact_path, gear="fp32", keep_tensors=True, verify_checksums=False)
    compact.run(_feed(graph, xs))
    rel: dict[str, float] = {t: 0.0 for t in graph.inputs}
    out: dict[str, float] = {}
    for node in graph.nodes:
        y = node.outputs[0]
        rel[y] = _rel(compact.read_tensor(y), exact.read_tensor(y))
        w = node.inputs[1] if len(node.inputs) > 1 else None
        if w in candidates:
            before = max((rel.get(t, 0.0) for t in node.inputs if t is not None), default=0.0)
            out[w] = max(out.get(w, 0.0), rel[y] - before)
    return out


def refine_compact(
    graph: Graph,
    candidates: set[str],
    write: Callable[[set[str]], str],
    measure: Callable[[str], float],
    xs: Sequence[np.ndarray],
    target: float = COMPACT_TARGET,
    known: float | None = None,
) -> tuple[set[str], float, list[float]]:
    """Promotes ``candidates`` to the next storage step until ``measure(path) <= target``.

    ``write(keep)`` writes the file with those weights promoted and returns its
    path; ``measure(path)`` is the fp32 gear's max relative error against the
    source. ``known``: that error of the file as ``write(set())`` leaves it, when the
    caller has measured it already (not measured again). Returns the weights kept, the
    final error and the error after each round (the first: nothing kept).
    """
    keep: set[str] = set()
    path = write(keep)
    err = measure(path) if known is None else known
    history = [err]
    step = 1
    before: set[str] = set()
    last: list[str] = []  # the last round's additions, worst first
    with contextlib.ExitStack() as stack:
        exact = None  # opened at the first round: the exact gear does not change between rounds
        while err > target and len(keep) < len(candidates):
            if exact is None:
                exact = stack.enter_context(exact_reference(graph, xs))
            added = introduced_errors(graph, path, xs, candidates - keep, exact=exact)
            order = sorted(added, key=lambda w: -added[w])
            before, last = set(keep), order[:step]
            keep |= set(last)
            step *= 2
            path = write(keep)
            err = measure(path)
            history.append(err)
    if err <= target and len(last) > 1:
        # The doubling may have taken more than the target needs: the shortest
        # prefix of the last round's additions that meets it (bisection; the
        # whole round meets it).
        lo, hi, best = 0, len(last), err
        while hi - lo > 1:
            mid = (lo + hi) // 2
            e = measure(write(before | set(last[:mid])))
            history.append(e)
            if e <= target:
                hi, best = mid, e
            else:
                lo = mid
        keep, err = before | set(last[:hi]), best
        if mid != hi:  # the file on disk is a failed probe: write the choice again
            write(keep)
    return keep, err, history
