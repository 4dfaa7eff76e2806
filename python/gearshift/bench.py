"""Latency and memory per gear, shared by ``gearshift bench`` and benchmarks/.

Reports min/median/p90/p99 after a warm-up (benchncnn stops at min/max/avg,
which hides the tail that a latency budget cares about).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gearshift.runtime import Runtime


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (the whole process: every
    runtime it has loaded; ``gearshift bench`` measures each in a fresh child)."""
    from gearshift.bench_child import peak_rss_bytes as peak

    return peak()


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(samples_ms, dtype=np.float64)
    return {
        "min": float(a.min()),
        "median": float(np.median(a)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
    }


def random_inputs(rt: Runtime, batch: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = []
    for spec in rt.inputs:
        shape = tuple(batch if d == -1 else d for d in spec.shape)
        xs.append(rng.standard_normal(shape).astype(np.float32))
    return xs


def bench_file(
    path: str,
    gears: Sequence[str] | None = None,
    threads: int = 1,
    runs: int = 50,
    warmup: int = 5,
    batch: int = 1,
    power: Any = None,
    profile: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Benchmarks each gear of ``path``; returns the document of docs/BENCH.md
    (``results``, one per runtime and gear, and ``gears``: gearshift's by gear
    name). The medians also refresh this machine's cost table
    (``gearshift.costs``).

    ``power``: a ``gearshift.power`` source (or None). Where it reports
    ``power_w`` (read around each gear's blocks of runs, averaged), each gear
    also gets ``power_w`` and ``joules_per_inference`` (power times the median
    latency): the board's whole draw, not the model's alone.

    ``profile``: also time every node in the timed runs (a clock read per
    node) and add each gear's ``profile`` (:func:`summarize_profile`).

    ``options``: the rest of :func:`gearshift.bench_compare.run_bench`
    (``compare``, ``tflite``, ``validation``, ``duration_s``, ``memory``...).
    """
    from gearshift.bench_compare import run_bench

    return run_bench(
        path,
        gears=gears,
        threads=threads,
        runs=runs,
        warmup=warmup,
        batch=batch,
        power=power,
        profile=profile,
        **options,
    )


def summarize_profile(
    node_runs: Sequence[Sequence[tuple[str, str, float]]], median_ms: float
) -> dict[str, Any]:
    """Per-node and per-op-type times from profiled runs (each a list of
    ``(node, op, ms)`` in execution order): the median of each node over the
    runs, the op types' sums of those, and each one's share of the median
    latency; ``other_ms`` is what the nodes do not cover (graph input
    quantization, output copies)."""
    if not node_runs:
        return {"nodes": [], "ops": [], "other_ms": median_ms}
    first = node_runs[0]
    times = np.array([[ms for _, _, ms in run] for run in node_runs], dtype=np.float64)
    med = np.median(times, axis=0)
    total = max(median_ms, 1e-12)
    nodes = [
        {"name": name, "op": op, "ms": float(m), "share": float(m / total)}
        for (name, op, _), m in zip(first, med)
    ]
    ops: dict[str, dict[str, Any]] = {}
    for n in nodes:
        o = ops.setdefault(n["op"], {"op": n["op"], "nodes": 0, "ms": 0.0})
        o["nodes"] += 1
        o["ms"] += n["ms"]
    by_op = sorted(ops.values(), key=lambda o: -o["ms"])
    for o in by_op:
        o["share"] = o["ms"] / total
    return {
        "nodes": nodes,
        "ops": by_op,
        "other_ms": max(median_ms - float(med.sum()), 0.0),
    }


def format_profile(result: dict[str, Any], top: int = 15) -> str:
    """The per-op-type table and the ``top`` slowest nodes of each profiled gear."""
    out = []
    for g, r in result["gears"].items():
        prof = r.get("profile")
        if prof is None:
            continue
        median = r["latency_ms"]["median"]
        rows = [("op", "nodes", "ms", "share")]
        for o in prof["ops"]:
            rows.append((o["op"], str(o["nodes"]), f"{o['ms']:.3f}", f"{o['share']:.1%}"))
        rows.append(("(input/output, runtime)", "", f"{prof['other_ms']:.3f}", ""))
        out.append(f"\nprofile of gear {g} (median of {r['runs']} runs, {median:.3f} ms)")
        out.append(table(rows))
        slow = sorted(prof["nodes"], key=lambda n: -n["ms"])[:top]
        rows = [("node", "op", "ms", "share")]
        for n in slow:
            rows.append((n["name"], n["op"], f"{n['ms']:.3f}", f"{n['share']:.1%}"))
        out.append(f"slowest {len(slow)} of {len(prof['nodes'])} nodes")
        out.append(table(rows))
    return "\n".join(out)


def dominated_gears(order: Sequence[str], latency_ms: dict[str, float]) -> dict[str, str]:
    """Gear -> the more precise gear that is at most 5% slower than it (so the
    shifter never takes it on this machine): the shifter's own ladder rule
    (``gearshift::DominatedBy``), over ``order`` (most precise first); a gear
    without a latency is never dominated."""
    from . import _core

    by = _core.shift_dominated_by([float(latency_ms.get(g, math.nan)) for g in order])
    return {g: order[b] for g, b in zip(order, by) if b >= 0}


def format_bench(result: dict[str, Any]) -> str:
    head = f"{result['file']}  ({result['file_bytes'] / 1024:.1f} KiB, batch {result['batch']})"
    rows = [
        (
            "gear",
            "min ms",
            "median ms",
            "p90 ms",
            "p99 ms",
            "runs",
            "threads",
            "arena KiB",
            "peak RSS MiB",
            "mJ / inference",
        )
    ]
    for g, r in result["gears"].items():
        lat = r["latency_ms"]
        rows.append(
            (
                g,
                f"{lat['min']:.3f}",
                f"{lat['median']:.3f}",
                f"{lat['p90']:.3f}",
                f"{lat['p99']:.3f}",
                str(r["runs"]),
                str(r["threads"]),
                f"{r['arena_bytes'] / 1024:.1f}",
                f"{r['peak_rss_bytes'] / 2**20:.1f}",
                f"{r['joules_per_inference'] * 1e3:.3f}" if "joules_per_inference" in r else "-",
            )
        )
    notes = [
        f"{g}: dominated by {r['dominated_by']} on this machine (not 5% faster than a more "
        "precise gear); the shifter skips it"
        for g, r in result["gears"].items()
        if "dominated_by" in r
    ]
    return head + "\n" + table(rows) + "".join("\n" + n for n in notes)


def table(rows: Sequence[Sequence[str]]) -> str:
    """Aligned plain-text table; first row is the header."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
