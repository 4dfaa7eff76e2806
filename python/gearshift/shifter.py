"""The shifter: picks the gear for each run from the latency budget, battery and heat.

    rt = gs.Runtime("model.gear")
    shifter = gs.Shifter(rt, latency_budget_ms=20, power=gs.power.auto(), battery_floor=10)
    y = shifter.run(x)          # chooses the gear, runs, records why
    shifter.log[-1]             # ShiftLogEntry(time_s, gear, reason, latency_ms, charge_pct, ...)

The policy engine is the C++ ShiftController (runtime_cpp/include/gearshift/
shifter.h), the same one on-board C++ programs use; this class is the run
loop around it. docs/SHIFTER.md has the rules and constants.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Union

from gearshift._extension import load_core
from gearshift.power import PowerState, Source, as_state, auto

_core = load_core()  # ImportError saying how to build it when missing

__all__ = ["ShiftContext", "ShiftLogEntry", "Shifter"]


class _RuntimeLike(Protocol):
    gear: str

    @property
    def gears(self) -> tuple[str, ...]: ...

    @property
    def last_latency_ms(self) -> float: ...

    def run(self, x: Any) -> Any: ...


@dataclass(frozen=True)
class ShiftContext:
    """What a user policy sees: ``policy(ctx)`` returns a gear name or ``(gear, reason)``."""

    now_s: float
    gears: tuple[str, ...]  # most precise first
    current: str | None  # None before the first run
    since_switch_s: float  # time in the current gear (inf at first)
    predicted_ms: dict[str, float | None]  # None while unknown
    latency_budget_ms: float | None
    power: PowerState


@dataclass(frozen=True)
class ShiftLogEntry:
    """One run: when, which gear, why, how long, and the power state seen."""

    time_s: float
    gear: str
    reason: str
    latency_ms: float | None
    switched: bool
    charge_pct: float | None
    charging: bool | None
    power_w: float | None
    temp_c: float | None
    throttled: bool | None
    under_voltage: bool | None
    energy_j: float | None  # power_w * latency where the power is known


PolicyFn = Callable[[ShiftContext], Union[str, tuple[str, str]]]


class Shifter:
    """Runs a runtime in the gear the policy picks for each input.

    Args:
        runtime: a :class:`gearshift.Runtime` (or anything with ``gears``,
            a settable ``gear``, ``run(x)`` and ``last_latency_ms``).
        latency_budget_ms: largest acceptable latency; ``None``: no budget.
        power: a :mod:`gearshift.power` source (anything with ``read()``),
            ``"auto"`` (default: :func:`gearshift.power.auto`) or ``None``.
        battery_floor: at or below this charge (%) while discharging, the
            cheapest gear.
        battery_thresholds: descending charges (%) below which each step down
            applies while discharging.
        policy: a callable ``policy(ctx: ShiftContext)`` returning a gear name
            or ``(gear, reason)``; replaces the default policy entirely.
        benchmark: ``gearshift bench --json`` output (a path or the parsed
            dict) seeding the latency predictions instead of a probe.
        probe_runs: runs per unseeded gear (after one warm-up) at the first
            :meth:`run`; 0: no probe (each gear is measured by its first run).
        clock: seconds (default ``time.monotonic``); inject one to simulate.
        Others as in docs/SHIFTER.md: ``battery_hysteresis``, ``temp_step_down_c``,
        ``temp_cheapest_c``, ``temp_hysteresis_c``, ``upshift_margin``,
        ``min_dwell_s``, ``ewma_alpha``, ``power_interval_s``, ``log_capacity``.
    """

    def __init__(
        self,
        runtime: _RuntimeLike,
        latency_budget_ms: float | None = None,
        power: Source | Any | str | None = "auto",
        battery_floor: float = 10.0,
        battery_thresholds: Sequence[float] = (50.0, 25.0),
        *,
        policy: PolicyFn | None = None,
        benchmark: str | os.PathLike[str] | dict[str, Any] | None = None,
        probe_runs: int = 3,
        battery_hysteresis: float = 3.0,
        temp_step_down_c: float = 70.0,
        temp_cheapest_c: float = 80.0,
        temp_hysteresis_c: float = 5.0,
        upshift_margin: float = 0.15,
        min_dwell_s: float = 2.0,
        ewma_alpha: float = 0.2,
        power_interval_s: float = 1.0,
        log_capacity: int = 10000,
        clock: Callable[[], float] | None = None,
        min_accuracy: float | None = None,
        max_accuracy_drop: float | None = None,
    ) -> None:
        if latency_budget_ms is not None and not latency_budget_ms > 0:
            raise ValueError(f"latency_budget_ms must be > 0 or None, got {latency_budget_ms!r}")
        if not isinstance(probe_runs, int) or isinstance(probe_runs, bool) or probe_runs < 0:
            raise ValueError(f"probe_runs must be an integer >= 0, got {probe_runs!r}")
        self.runtime = runtime
        self.latency_budget_ms = latency_budget_ms
        self.gears = _allowed_gears(runtime, min_accuracy, max_accuracy_drop)
        self._ctrl = _core.ShiftController(
            list(self.gears),
            {
                "latency_budget_ms": float(latency_budget_ms or 0.0),
                "battery_thresholds_pct": [float(t) for t in battery_thresholds],
                "battery_floor_pct": float(battery_floor),
                "battery_hysteresis_pct": float(battery_hysteresis),
                "temp_step_down_c": float(temp_step_down_c),
                "temp_cheapest_c": float(temp_cheapest_c),
                "temp_hysteresis_c": float(temp_hysteresis_c),
                "upshift_margin": float(upshift_margin),
                "min_dwell_s": float(min_dwell_s),
                "ewma_alpha": float(ewma_alpha),
                "probe_runs": probe_runs,
                "power_interval_s": float(power_interval_s),
                "log_capacity": int(log_capacity),
            },
        )
        if isinstance(power, str):
            if power != "auto":
                raise ValueError(f"power must be a source, 'auto' or None, got {power!r}")
            power = auto()
            if not power.sources:
                warnings.warn(
                    "gearshift: no power or thermal source found under /sys; "
                    "shifting on latency alone",
                    RuntimeWarning,
                    stacklevel=2,
                )
        if power is not None and not callable(getattr(power, "read", None)):
            raise ValueError(f"power must have a read() method, got {power!r}")
        self.power = power
        self._power_interval_s = float(power_interval_s)
        self._power_state = PowerState()
        self._last_read: float | None = None
        self._power_warned = False
        self._probe_runs = probe_runs
        self._probed = False
        self._clock = clock or time.monotonic
        if benchmark is not None:
            self.seed_from_benchmark(benchmark)
        else:
            self._seed_from_cache()
        self.policy = policy

    # -- configuration ------------------------------------------------------------
    @property
    def policy(self) -> PolicyFn | None:
        return self._policy

    @policy.setter
    def policy(self, fn: PolicyFn | None) -> None:
        if fn is not None and not callable(fn):
            raise ValueError(f"policy must be callable or None, got {fn!r}")
        self._policy = fn
        self._ctrl.set_policy(None if fn is None else self._call_policy)

    def _call_policy(self, c: dict[str, Any]) -> tuple[str, str]:
        assert self._policy is not None
        ctx = ShiftContext(
            now_s=c["now_s"],
            gears=tuple(c["gears"]),
            current=c["current"],
            since_switch_s=c["since_switch_s"],
            predicted_ms=dict(zip(c["gears"], c["predicted_ms"])),
            latency_budget_ms=self.latency_budget_ms,
            power=PowerState(**c["power"]),
        )
        r = self._policy(ctx)
        if isinstance(r, str):
            return r, "policy"
        if isinstance(r, tuple) and len(r) == 2 and all(isinstance(v, str) for v in r):
            return r[0], r[1]
        raise ValueError(f"a policy returns a gear name or (gear, reason), got {r!r}")

    def seed(self, gear: str, latency_ms: float) -> None:
        """Sets a gear's expected latency on an unloaded board (skips its probe)."""
        self._ctrl.seed(gear, float(latency_ms))

    def seed_from_benchmark(self, benchmark: str | os.PathLike[str] | dict[str, Any]) -> None:
        """Seeds from ``gearshift bench --json`` output (a path or the parsed dict)."""
        if isinstance(benchmark, dict):
            text = json.dumps(benchmark)
        else:
            with open(os.fspath(benchmark), encoding="utf-8") as f:
                text = f.read()
        self._ctrl.seed_from_benchmark(text)

    # -- running --------------------------------------------------------------------
    def read_power(self, now: float | None = None) -> PowerState:
        """The power state, read at most every ``power_interval_s``."""
        if self.power is None:
            return self._power_state
        now = self._clock() if now is None else now
        if self._last_read is not None and now - self._last_read < self._power_interval_s:
            return self._power_state
        self._last_read = now
        try:
            state = as_state(self.power.read())
        except Exception as e:  # a source never stops inference
            state = PowerState()
            if not self._power_warned:
                self._power_warned = True
                warnings.warn(
                    f"gearshift: power source {self.power!r} failed ({type(e).__name__}: {e}); "
                    "shifting on latency alone",
                    RuntimeWarning,
                    stacklevel=3,
                )
        self._power_state = state
        return state

    def _cacheable(self) -> bool:
        from .runtime import Runtime

        return isinstance(self.runtime, Runtime)

    def _seed_from_cache(self) -> None:
        """Seeds from this machine's cached cost table (gearshift.costs), if any."""
        if not self._cacheable():
            return
        from . import costs

        rt = self.runtime
        cached = costs.load(rt.path, rt.threads, rt.isa, tuple(self.gears))
        for g, ms in (cached or {}).items():
            self._ctrl.seed(g, ms)

    def probe(self, x: Any) -> None:
        """Measures every unseeded gear on ``x`` (one warm-up, then probe_runs runs)
        and stores the medians in this machine's cost cache (gearshift.costs)."""
        rt = self.runtime
        start = rt.gear
        measured: dict[str, float] = {}
        try:
            for g in self._ctrl.unseeded():
                rt.gear = g
                rt.run(x)
                samples = []
                for _ in range(self._probe_runs):
                    rt.run(x)
                    samples.append(float(rt.last_latency_ms))
                samples.sort()
                if samples and samples[len(samples) // 2] > 0:
                    self._ctrl.seed(g, samples[len(samples) // 2])
                    measured[g] = samples[len(samples) // 2]
        finally:
            rt.gear = start
        if measured and self._cacheable():
            from . import costs

            costs.store(rt.path, rt.threads, rt.isa, measured)

    def decide(self, now: float | None = None) -> tuple[str, str]:
        """Chooses the gear for the next run and logs the decision: (gear, reason).

        For loops that run the runtime themselves; report the run with :meth:`observe`.
        """
        now = self._clock() if now is None else float(now)
        state = self.read_power(now)
        gear, reason = self._ctrl.decide(now, state.to_dict())
        return gear, reason

    def observe(self, latency_ms: float) -> None:
        """Reports the latency of the run :meth:`decide` prepared."""
        self._ctrl.observe(float(latency_ms))

    def run(self, x: Any, **kwargs: Any) -> Any:
        """Picks the gear, runs ``x`` in it (``runtime.run(x, **kwargs)``), records the run."""
        if not self._probed:
            self._probed = True
            if self._probe_runs > 0:
                self.probe(x)
        gear, _ = self.decide()
        if self.runtime.gear != gear:
            self.runtime.gear = gear
        y = self.runtime.run(x, **kwargs)
        self.observe(self.runtime.last_latency_ms)
        return y

    __call__ = run

    # -- what happened ------------------------------------------------------------------
    @property
    def gear(self) -> str | None:
        """The gear of the last decision (None before the first run)."""
        return self._ctrl.current or None

    @property
    def log(self) -> list[ShiftLogEntry]:
        """Every decision and its run, oldest first (at most ``log_capacity``)."""
        raw = self._ctrl.log()
        return [
            ShiftLogEntry(
                time_s=e["time_s"],
                gear=e["gear"],
                reason=e["reason"],
                latency_ms=e["latency_ms"],
                switched=e["switched"],
                charge_pct=e["charge_pct"],
                charging=e["charging"],
                power_w=e["power_w"],
                temp_c=e["temp_c"],
                throttled=e["throttled"],
                under_voltage=e["under_voltage"],
                energy_j=e["energy_j"],
            )
            for e in raw
        ]

    def clear_log(self) -> None:
        self._ctrl.clear_log()

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        """Per gear: runs, ewma_ms, base_ms, predicted_ms, energy_j_per_run (None if unknown)."""
        return {s["gear"]: {k: v for k, v in s.items() if k != "gear"} for s in self._ctrl.stats()}

    def energy_per_inference(self) -> dict[str, float | None]:
        """Mean joules per inference per gear, where the source gave the power."""
        return {g: s["energy_j_per_run"] for g, s in self.stats.items()}

    @property
    def predicted_ms(self) -> dict[str, float | None]:
        return dict(zip(self._ctrl.gears, self._ctrl.predicted()))

    @property
    def load(self) -> float:
        """Measured / expected latency, averaged: 1.0 on an unloaded board."""
        return float(self._ctrl.load)

    def __repr__(self) -> str:
        budget = "none" if self.latency_budget_ms is None else f"{self.latency_budget_ms:g} ms"
        return f"Shifter(gears={tuple(self._ctrl.gears)}, budget={budget}, gear={self.gear!r})"


def _allowed_gears(
    runtime: Any, min_accuracy: float | None, max_accuracy_drop: float | None
) -> tuple[str, ...]:
    """The runtime's gears that keep the accuracy floor (all without one): each
    gear's accuracy as convert measured it on the validation data (the file's
    metadata, Runtime.gear_info). The most precise gear always stays; a gear
    with no recorded accuracy is left out once a floor is set."""
    gears = tuple(runtime.gears)
    for name, v in (("min_accuracy", min_accuracy), ("max_accuracy_drop", max_accuracy_drop)):
        if v is not None and not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
            raise ValueError(f"{name} must be in [0, 1] or None, got {v!r}")
    if min_accuracy is None and max_accuracy_drop is None:
        return gears
    info = getattr(runtime, "gear_info", None)
    acc = {g: (info or {}).get(g, {}).get("accuracy") for g in gears}
    if all(a is None for a in acc.values()):
        raise ValueError(
            "an accuracy floor needs each gear's accuracy in the file: convert with "
            "validation=(x, labels) (gearshift convert --validation xy.npz)"
        )
    known = [a for a in acc.values() if a is not None]
    floor = max(
        min_accuracy if min_accuracy is not None else 0.0,
        max(known) - max_accuracy_drop if max_accuracy_drop is not None else 0.0,
    )
    return tuple(
        g for i, g in enumerate(gears) if i == 0 or (acc[g] is not None and acc[g] >= floor)
    )
