"""Latency and memory per gear, shared by ``gearshift bench`` and benchmarks/.

Reports min/median/p90/p99 after a warm-up (benchncnn stops at min/max/avg,
which hides the tail that a latency budget cares about).
"""

from __future__ import annotations

import math
import os
import platform
import resource
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from gearshift.runtime import Runtime


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (the whole process)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


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
) -> dict[str, Any]:
    """Benchmarks each gear of ``path``; returns the contract's JSON shape. The
    medians also refresh this machine's cost table (``gearshift.costs``).

    ``power``: a ``gearshift.power`` source (or None). Where it reports
    ``power_w`` (read before and after each gear's runs, averaged), each gear
    also gets ``power_w`` and ``joules_per_inference`` (power times the median
    latency): the board's whole draw, not the model's alone.

    ``profile``: also time every node in the timed runs (a clock read per
    node) and add each gear's ``profile`` (:func:`summarize_profile`).
    """
    rt = Runtime(path, threads=threads)
    chosen = list(rt.gears) if not gears else list(gears)
    unknown = [g for g in chosen if g not in rt.gears]
    if unknown:
        raise ValueError(f"unknown gear(s) {unknown}; {path} carries {list(rt.gears)}")
    xs = random_inputs(rt, batch)
    x = xs[0] if len(xs) == 1 else xs
    result: dict[str, Any] = {
        "file": os.fspath(path),
        "file_bytes": os.path.getsize(path),
        "batch": batch,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "gears": {},
    }
    rt.profiling = profile
    for g in chosen:
        rt.gear = g
        for _ in range(warmup):
            rt.run(x)
        watts = []
        if power is not None:
            watts.append(power.read().power_w)
        samples = []
        node_runs: list[list[tuple[str, str, float]]] = []
        for _ in range(runs):
            rt.run(x)
            samples.append(rt.last_latency_ms)
            if profile:
                node_runs.append(rt.last_profile)
        if power is not None:
            watts.append(power.read().power_w)
        known = [w for w in watts if w is not None]
        energy = {}
        if known:
            w = float(np.mean(known))
            energy = {
                "power_w": w,
                "joules_per_inference": w * percentiles(samples)["median"] / 1e3,
            }
        result["gears"][g] = {
            "latency_ms": percentiles(samples),
            "runs": runs,
            "threads": rt.threads,
            "peak_rss_bytes": peak_rss_bytes(),
            "file_bytes": result["file_bytes"],
            "arena_bytes": rt.arena_bytes,
            "prepared_bytes": rt.prepared_bytes,
            **energy,
        }
        if profile:
            result["gears"][g]["profile"] = summarize_profile(
                node_runs, percentiles(samples)["median"]
            )
    order = [g for g in rt.gears if g in result["gears"]]  # precision order
    medians = {g: result["gears"][g]["latency_ms"]["median"] for g in order}
    from . import costs

    joules = {
        g: result["gears"][g]["joules_per_inference"]
        for g in order
        if "joules_per_inference" in result["gears"][g]
    }
    costs.store(rt.path, rt.threads, rt.isa, medians, joules)  # the shifter's cost table
    for g, by in dominated_gears(order, medians).items():
        result["gears"][g]["dominated_by"] = by
    return result


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
