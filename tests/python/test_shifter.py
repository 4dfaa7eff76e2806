"""gs.Shifter with fake runtimes (fake latencies per gear times a load the test
sets), an injected clock and callback/trace power sources: deterministic, no
sleeping. The gear follows the budget as latency rises and falls; thresholds
and hysteresis hold; dwell time is respected; a trace draining 100% -> 3%
shifts down through the gears in order and never up; plugging in shifts up;
user policies; energy; a failing source warns once; a real fp32 file runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gearshift as gs
from gearshift.shifter import ShiftContext

GEARS = ("fp32", "fp16", "int8", "int4")
COST = {"fp32": 4.0, "fp16": 2.5, "int8": 1.5, "int4": 1.0}
DATA = Path(__file__).parent / "data"


class FakeRuntime:
    def __init__(self, gears: tuple[str, ...] = GEARS, cost: dict[str, float] | None = None):
        self.gears = gears
        self.gear = gears[0]
        self.cost = cost or COST
        self.load = 1.0
        self.last_latency_ms = 0.0
        self.runs: dict[str, int] = {g: 0 for g in gears}

    def run(self, x: Any) -> str:
        self.last_latency_ms = self.cost[self.gear] * self.load
        self.runs[self.gear] += 1
        return self.gear


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def rig(power: dict[str, Any] | None = None, cost: dict[str, float] | None = None, **kw: Any):
    rt = FakeRuntime(cost=cost)
    clock = Clock()
    state: dict[str, Any] = dict(power or {})
    kw.setdefault("power_interval_s", 0.0)
    sh = gs.Shifter(rt, power=gs.power.Callback(lambda: state), clock=clock, **kw)

    def step(dt: float = 1.0) -> str:
        clock.t += dt
        return sh.run(None)

    return rt, sh, state, step


def test_probe_then_most_precise_gear_that_fits() -> None:
    rt, sh, _, step = rig(latency_budget_ms=3.0, min_dwell_s=0)
    assert step() == "fp16"
    assert rt.runs == {"fp32": 4, "fp16": 5, "int8": 4, "int4": 4}
    assert sh.stats["fp32"]["base_ms"] == 4.0
    e = sh.log[-1]
    assert (e.gear, e.latency_ms) == ("fp16", 2.5)
    assert e.reason.startswith("latency: fp32 predicted 4 ms > 3 ms")
    assert sh.gear == "fp16" and rt.gear == "fp16"


def test_follows_the_budget_as_latency_rises_and_falls() -> None:
    rt, sh, _, step = rig(latency_budget_ms=5.0, min_dwell_s=0)
    assert step() == "fp32"
    rt.load = 2.2
    seen = [step() for _ in range(30)]
    assert seen[-1] == "int8"
    idx = [GEARS.index(g) for g in seen]
    assert idx == sorted(idx)  # down in order, never up while the load rises
    assert sh.load == pytest.approx(2.2, abs=0.01)
    rt.load = 1.0
    assert [step() for _ in range(30)][-1] == "fp32"


def test_battery_thresholds_and_hysteresis() -> None:
    _, sh, state, step = rig(min_dwell_s=0, battery_floor=10, battery_thresholds=(50, 25))
    state["charging"] = False
    seq = []
    for c in (80, 49, 51, 53, 24, 26, 10, 12, 14):
        state["charge_pct"] = float(c)
        seq.append(step())
    assert seq == ["fp32", "fp16", "fp16", "fp32", "int8", "int8", "int4", "int4", "int8"]
    state["charging"] = True
    assert step() == "fp32"
    assert sh.log[-1].reason.startswith("mains:")


def test_dwell_time_respected() -> None:
    rt, sh, _, step = rig(latency_budget_ms=5.0, min_dwell_s=3.0)
    step()
    for i in range(200):
        rt.load = 4.0 if (i // 7) % 2 else 1.0
        step(0.5)
    switches = [e.time_s for e in sh.log if e.switched]
    assert len(switches) > 3
    assert all(b - a >= 3.0 - 1e-9 for a, b in zip(switches, switches[1:]))
    assert any(e.reason.startswith("dwell:") for e in sh.log)


def test_draining_trace_shifts_down_in_order_then_plugging_in_shifts_up(tmp_path: Path) -> None:
    rows = ["time_s,charge_pct,charging,temp_c"]
    rows += [f"{t * 60},{100 - t},0,45" for t in range(98)]  # 100% -> 3%, one percent a minute
    rows.append("5880,3,1,45")
    p = tmp_path / "drain.csv"
    p.write_text("\n".join(rows) + "\n")
    clock = Clock()
    rt = FakeRuntime()
    sh = gs.Shifter(
        rt,
        latency_budget_ms=10.0,
        power=gs.power.Trace(p, speed=60.0, clock=clock),
        clock=clock,
        power_interval_s=0.0,
    )
    order: list[str] = []
    for _ in range(98):
        g = sh.run(None)
        if not order or order[-1] != g:
            order.append(g)
        clock.t += 1.0
    assert tuple(order) == GEARS
    assert sh.log[-1].charge_pct == 3.0
    clock.t += 1.0
    assert sh.run(None) == "fp32"


def test_thermal_step_down_and_throttle_flag() -> None:
    _, _, state, step = rig(min_dwell_s=2.0)
    state["temp_c"] = 50.0
    assert step() == "fp32"
    state["temp_c"] = 72.0
    assert [step(5), step(), step()] == ["fp16", "fp16", "int8"]
    state["temp_c"] = 85.0
    assert step(5) == "int4"
    state.clear()
    state["throttled"] = True  # still throttling (a Raspberry Pi's firmware flag): stay down
    assert step(5) == "int4"
    state["throttled"] = False  # recovered: one step back up per dwell
    assert [step(2.5), step(2.5), step(2.5)] == ["int8", "fp16", "fp32"]


def test_user_policy_callable() -> None:
    seen: list[ShiftContext] = []

    def policy(ctx: ShiftContext) -> tuple[str, str]:
        seen.append(ctx)
        return ("int8", "mine") if (ctx.power.temp_c or 0) > 40 else ("fp32", "cool")

    _, sh, state, step = rig(latency_budget_ms=1.0, policy=policy)
    state["temp_c"] = 30.0
    assert step() == "fp32" and sh.log[-1].reason == "cool"
    state["temp_c"] = 50.0
    assert step(0.001) == "int8" and sh.log[-1].reason == "mine"
    assert seen[-1].predicted_ms["fp32"] == pytest.approx(4.0)
    assert seen[-1].gears == GEARS and seen[-1].current == "fp32"

    sh.policy = lambda ctx: "int4"
    assert step() == "int4" and sh.log[-1].reason == "policy"
    sh.policy = lambda ctx: "fp8"
    with pytest.raises(ValueError, match="unknown gear 'fp8'"):
        step()

    def raising(ctx: ShiftContext) -> str:
        raise KeyError("boom")

    sh.policy = raising
    with pytest.raises(KeyError, match="boom"):
        step()
    sh.policy = lambda ctx: 3  # type: ignore[assignment,return-value]
    with pytest.raises(ValueError, match="gear name or"):
        step()
    sh.policy = None
    assert step(5) == "int4"  # default again: the 1 ms budget


def test_energy_per_inference() -> None:
    _, sh, _, step = rig({"power_w": 5.0}, latency_budget_ms=3.0)
    step()
    assert sh.log[-1].energy_j == pytest.approx(0.0125)
    e = sh.energy_per_inference()
    assert e["fp16"] == pytest.approx(0.0125) and e["fp32"] is None


def test_failing_source_warns_once_and_latency_decides() -> None:
    class Broken:
        def read(self) -> gs.power.PowerState:
            raise OSError("gone")

    rt = FakeRuntime()
    sh = gs.Shifter(rt, latency_budget_ms=3.0, power=Broken(), power_interval_s=0.0)
    with pytest.warns(RuntimeWarning, match="gone"):
        assert sh.run(None) == "fp16"
    assert [sh.run(None) for _ in range(3)] == ["fp16"] * 3  # no second warning (error filter)


def test_power_read_at_most_every_interval() -> None:
    reads = []
    clock = Clock()
    rt = FakeRuntime()

    def fn() -> None:
        reads.append(clock.t)

    sh = gs.Shifter(rt, power=gs.power.Callback(fn), clock=clock, power_interval_s=1.0)
    for _ in range(10):
        sh.run(None)
        clock.t += 0.25
    assert len(reads) == 3


def test_benchmark_seed_skips_the_probe(tmp_path: Path) -> None:
    bench = {"gears": {g: {"latency_ms": {"median": c}} for g, c in COST.items()}}
    p = tmp_path / "bench.json"
    p.write_text(json.dumps(bench))
    rt = FakeRuntime()
    sh = gs.Shifter(rt, latency_budget_ms=2.0, power=None, benchmark=p)
    assert sh.run(None) == "int8"
    assert sum(rt.runs.values()) == 1
    assert sh.predicted_ms["fp32"] == pytest.approx(4.0, rel=0.01)
    sh2 = gs.Shifter(FakeRuntime(), power=None, benchmark=bench)
    assert sh2.stats["int4"]["base_ms"] == 1.0


def test_bad_arguments() -> None:
    rt = FakeRuntime()
    with pytest.raises(ValueError, match="latency_budget_ms"):
        gs.Shifter(rt, latency_budget_ms=0, power=None)
    with pytest.raises(ValueError, match="battery_thresholds"):
        gs.Shifter(rt, power=None, battery_thresholds=(20, 50))
    with pytest.raises(ValueError, match="battery_floor"):
        gs.Shifter(rt, power=None, battery_floor=60)
    with pytest.raises(ValueError, match="power"):
        gs.Shifter(rt, power="battery")
    with pytest.raises(ValueError, match="probe_runs"):
        gs.Shifter(rt, power=None, probe_runs=-1)


def test_auto_power_without_sources_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gs.shifter, "auto", lambda: gs.power.Composite())
    with pytest.warns(RuntimeWarning, match="no power or thermal source"):
        gs.Shifter(FakeRuntime())


def test_real_runtime_fp32_file() -> None:
    io = np.load(DATA / "golden_v1_0_io.npz")
    rt = gs.Runtime(DATA / "golden_v1_0.gear")
    sh = gs.Shifter(rt, latency_budget_ms=1000.0, power=None, probe_runs=2)
    y = sh.run(io["x"])
    np.testing.assert_allclose(y, rt.run(io["x"]), rtol=0, atol=0)
    e = sh.log[-1]
    assert e.gear == "fp32" and e.latency_ms is not None and e.latency_ms >= 0
    assert sh.stats["fp32"]["runs"] == 1


# int4 slower than int8 and fp16 no faster than fp32 (a CPU without 4-bit or
# fp16 arithmetic): every rule steps by measured cost, never into those gears.
SLOW_LOW = {"fp32": 4.0, "fp16": 3.9, "int8": 1.5, "int4": 1.7}


def test_rules_step_by_measured_cost_where_lower_gears_are_slower() -> None:
    _, sh, state, step = rig(cost=SLOW_LOW, latency_budget_ms=0.5, min_dwell_s=0)
    assert step() == "int8"  # nothing fits: the fastest gear, not the last one
    assert "fastest: int8" in sh.log[-1].reason
    _, sh, state, step = rig(cost=SLOW_LOW, min_dwell_s=0)
    state.update(charging=False, charge_pct=40.0)
    assert step() == "int8"  # one battery step down the ladder fp32, int8
    assert "skipped: fp16 (by fp32), int4 (by int8)" in sh.log[-1].reason
    state.update(charge_pct=5.0)
    assert step() == "int8"  # the floor: the fastest gear
    state.update(charging=True, temp_c=75.0)
    assert step() == "int8"  # thermal: one ladder step from fp32
    state.update(temp_c=40.0)
    assert step() == "fp32"
    assert all(e.gear not in ("fp16", "int4") for e in sh.log)
    _, sh, state, step = rig(cost=COST, latency_budget_ms=0.5, min_dwell_s=0)
    assert step() == "int4"  # monotone costs: the last gear is the fastest
