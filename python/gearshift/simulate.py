"""``gearshift simulate``: play a battery/temperature trace against a model, in the trace's time.

One real inference per trace row, no sleeping: the shifter's clock is the
row's ``time_s``, its power source the trace itself, so an hour of battery
drain plays in as many inferences as the trace has rows. The latencies are
real (measured on this machine); the charge and temperature are the trace's.
numpy only; the plot needs matplotlib (``pip install gearshift[plot]``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .power import PowerState, Source, Trace
from .runtime import Runtime
from .shifter import Shifter

__all__ = ["SimulationRow", "format_timeline", "plot_timeline", "simulate"]


@dataclass
class SimulationRow:
    time_s: float
    charge_pct: float | None
    charging: bool | None
    temp_c: float | None
    gear: str
    reason: str
    latency_ms: float
    accuracy: float | None  # the gear's measured accuracy, where a report gave it


class _TraceAt(Source):
    """The trace's state at the simulation's current time (set per row)."""

    def __init__(self, trace: Trace) -> None:
        super().__init__()
        self.trace = trace
        self.t = 0.0

    def describe(self) -> str:
        return self.trace.describe()

    def _read(self) -> tuple[PowerState, str | None]:
        return self.trace.state_at(self.t), None


def _inputs(rt: Runtime, x: np.ndarray | None, seed: int = 0) -> Any:
    if x is not None:
        return x
    rng = np.random.default_rng(seed)
    shapes = [tuple(1 if d < 0 else d for d in spec.shape) for spec in rt.inputs]
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return xs[0] if len(xs) == 1 else xs


def simulate(
    path: str | os.PathLike[str],
    trace: str | os.PathLike[str],
    latency_budget_ms: float | None,
    x: np.ndarray | None = None,
    accuracy: dict[str, float] | None = None,
    threads: int = 1,
    **shifter_options: Any,
) -> list[SimulationRow]:
    """Plays ``trace`` (CSV ``time_s,charge_pct,charging,temp_c``) against ``path``.

    ``x``: the input to run (default: standard-normal data of the model's
    input shape, batch 1). ``accuracy``: gear -> accuracy to show (e.g. from
    ``gearshift convert --json``). Extra keywords go to :class:`Shifter`.
    """
    rt = Runtime(path, threads=threads)
    tr = Trace(trace, clock=lambda: 0.0)
    source = _TraceAt(tr)
    now = [tr.rows[0][0]]
    shifter = Shifter(
        rt,
        latency_budget_ms=latency_budget_ms,
        power=source,
        clock=lambda: now[0],
        **shifter_options,
    )
    inp = _inputs(rt, x)
    shifter.probe(inp)
    rows = []
    for t, _charge, _charging, _temp in tr.rows:
        now[0] = source.t = t
        gear, reason = shifter.decide(t)
        if rt.gear != gear:
            rt.gear = gear
        rt.run(inp)
        latency = float(rt.last_latency_ms)
        shifter.observe(latency)
        state = tr.state_at(t)
        rows.append(
            SimulationRow(
                time_s=t,
                charge_pct=state.charge_pct,
                charging=state.charging,
                temp_c=state.temp_c,
                gear=gear,
                reason=reason,
                latency_ms=latency,
                accuracy=(accuracy or {}).get(gear),
            )
        )
    return rows


def format_timeline(rows: list[SimulationRow], gears: tuple[str, ...] = ()) -> str:
    """A table: one line per row where the gear changed, plus the first and last rows."""
    from .bench import table

    out = [("time s", "charge %", "power", "temp C", "gear", "latency ms", "accuracy", "reason")]
    for i, r in enumerate(rows):
        changed = i == 0 or r.gear != rows[i - 1].gear or i == len(rows) - 1
        if not changed:
            continue
        out.append(
            (
                f"{r.time_s:g}",
                "-" if r.charge_pct is None else f"{r.charge_pct:.0f}",
                "-" if r.charging is None else ("mains" if r.charging else "battery"),
                "-" if r.temp_c is None else f"{r.temp_c:.1f}",
                r.gear,
                f"{r.latency_ms:.3f}",
                "-" if r.accuracy is None else f"{r.accuracy:.4f}",
                r.reason,
            )
        )
    counts = {
        g: sum(r.gear == g for r in rows) for g in (gears or dict.fromkeys(r.gear for r in rows))
    }
    summary = ", ".join(f"{g} {n}" for g, n in counts.items())
    return table(out) + f"\n{len(rows)} rows; runs per gear: {summary}"


def to_json(rows: list[SimulationRow]) -> dict[str, Any]:
    """``{"steps": [...one dict per trace row...], "summary": {...}}``."""
    gears = list(dict.fromkeys(r.gear for r in rows))
    summary: dict[str, Any] = {
        "rows": len(rows),
        "duration_s": rows[-1].time_s - rows[0].time_s if rows else 0.0,
        "switches": sum(a.gear != b.gear for a, b in zip(rows, rows[1:])),
        "runs_per_gear": {g: sum(r.gear == g for r in rows) for g in gears},
        "mean_latency_ms_per_gear": {
            g: float(np.mean([r.latency_ms for r in rows if r.gear == g])) for g in gears
        },
    }
    acc = [r.accuracy for r in rows if r.accuracy is not None]
    if len(acc) == len(rows) and rows:
        summary["mean_accuracy"] = float(np.mean(acc))
    return {"steps": [asdict(r) for r in rows], "summary": summary}


def plot_timeline(rows: list[SimulationRow], gears: tuple[str, ...], out: str) -> None:
    """Charge, temperature, latency and gear over time, one panel each, to ``out`` (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError(
            "--plot needs matplotlib: pip install matplotlib (or gearshift[plot])"
        ) from None
    t = [r.time_s for r in rows]
    fig, ax = plt.subplots(4, 1, sharex=True, figsize=(9, 8))
    ax[0].plot(t, [np.nan if r.charge_pct is None else r.charge_pct for r in rows])
    ax[0].set_ylabel("charge %")
    ax[1].plot(t, [np.nan if r.temp_c is None else r.temp_c for r in rows], color="tab:red")
    ax[1].set_ylabel("temp °C")
    ax[2].plot(t, [r.latency_ms for r in rows], color="tab:green")
    ax[2].set_ylabel("latency ms")
    order = list(gears)
    ax[3].step(t, [order.index(r.gear) for r in rows], where="post", color="tab:purple")
    ax[3].set_yticks(range(len(order)), order)
    ax[3].invert_yaxis()
    ax[3].set_ylabel("gear")
    ax[3].set_xlabel("trace time (s)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
