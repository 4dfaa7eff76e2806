"""``gearshift simulate``: a battery trace played against a real four-gear file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_costs import four_gears

from gearshift.cli import main
from gearshift.simulate import simulate

GEARS = ("fp32", "fp16", "int8", "int4")


@pytest.fixture(scope="module")
def gear_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return four_gears(tmp_path_factory.mktemp("sim") / "m.gear")


def draining_trace(path: Path) -> Path:
    """100% down to 3% on battery, then plugged in; temperature flat."""
    lines = ["time_s,charge_pct,charging,temp_c"]
    for i in range(40):
        lines.append(f"{i * 60},{100 - i * 2.5:.1f},0,45")
    for i in range(40, 50):
        lines.append(f"{i * 60},{3 + (i - 40):.1f},1,45")
    path.write_text("\n".join(lines) + "\n")
    return path


def bench(costs: dict[str, float]) -> dict:
    """A ``gearshift bench --json``-shaped cost table (latency medians, ms)."""
    return {"gears": {g: {"latency_ms": {"median": ms}} for g, ms in costs.items()}}


MONOTONE = {"fp32": 4.0, "fp16": 2.5, "int8": 1.5, "int4": 1.0}
INT4_SLOW = {"fp32": 4.0, "fp16": 3.9, "int8": 1.5, "int4": 1.7}  # int4 slower than int8


def test_drain_shifts_down_in_order_then_charging_shifts_up(gear_file, tmp_path):
    rows = simulate(
        gear_file,
        draining_trace(tmp_path / "t.csv"),
        latency_budget_ms=1000.0,
        min_dwell_s=0,
        benchmark=bench(MONOTONE),
    )
    assert len(rows) == 50 and rows[0].time_s == 0 and rows[-1].time_s == 49 * 60
    rank = {g: i for i, g in enumerate(GEARS)}
    discharging = [rank[r.gear] for r in rows if r.charging is False]
    assert discharging == sorted(discharging)  # never up while discharging
    assert rows[0].gear == "fp32" and discharging[-1] == rank["int4"]  # fastest near empty
    assert rows[-1].gear == "fp32"  # plugged in: precision first
    assert all(r.latency_ms >= 0 and r.reason for r in rows)


def test_drain_where_the_last_gear_is_not_the_cheapest(gear_file, tmp_path):
    """Measured costs, not precision order: int4 (slower than int8 on this
    machine) and fp16 (no faster than fp32) are dominated and never chosen."""
    rows = simulate(
        gear_file,
        draining_trace(tmp_path / "t.csv"),
        latency_budget_ms=1000.0,
        min_dwell_s=0,
        benchmark=bench(INT4_SLOW),
    )
    gears = {r.gear for r in rows}
    assert gears == {"fp32", "int8"}
    discharging = [r for r in rows if r.charging is False]
    assert discharging[-1].gear == "int8"  # near empty: the fastest gear
    assert "skipped: fp16 (by fp32), int4 (by int8)" in discharging[-1].reason
    assert rows[-1].gear == "fp32"


def test_cli_writes_timeline_json_and_plot(gear_file, tmp_path, capsys):
    trace = draining_trace(tmp_path / "t.csv")
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"gears": [{"name": "int8", "accuracy": 0.97}]}))
    out = tmp_path / "timeline.json"
    costs = tmp_path / "bench.json"
    costs.write_text(json.dumps(bench(MONOTONE)))
    args = ["simulate", str(gear_file), "--trace", str(trace), "--latency-budget-ms", "50"]
    args += ["--json", str(out), "--report", str(report), "--bench", str(costs)]
    plot = None
    try:
        import matplotlib  # noqa: F401

        plot = tmp_path / "t.png"
        args += ["--plot", str(plot)]
    except ImportError:
        pass
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "runs per gear" in text and "int8" in text and "0.9700" in text
    assert f"cost table (from {costs}): fp32 4 ms, fp16 2.5 ms, int8 1.5 ms, int4 1 ms" in text
    doc = json.loads(out.read_text())
    steps = doc["steps"]
    keys = {"time_s", "charge_pct", "charging", "temp_c", "gear", "reason", "latency_ms"}
    assert len(steps) == 50 and keys <= set(steps[0])
    assert doc["summary"]["rows"] == 50 and sum(doc["summary"]["runs_per_gear"].values()) == 50
    if plot is not None:
        assert plot.stat().st_size > 1000


def test_cli_missing_trace_is_a_clean_error(gear_file, tmp_path, capsys):
    assert main(["simulate", str(gear_file), "--trace", str(tmp_path / "no.csv")]) == 1
    assert capsys.readouterr().err.startswith("error: trace file not found")
