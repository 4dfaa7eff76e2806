"""rt.gear_costs and the per-device cost cache the shifter decides by."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gearshift as gs
from gearshift import costs
from gearshift.converters.calibrate import calibrate
from gearshift.converters.ir import Graph, Node
from gearshift.converters.quantize import quantize_graph
from gearshift.converters.write_gear import write_gear

GEARS = ("fp32", "fp16", "int8", "int4")


def four_gears(path: Path, seed: int = 3, metadata: dict[str, str] | None = None) -> Path:
    rng = np.random.default_rng(seed)
    g = Graph()
    g.add_tensor("x", (-1, 16))
    w = g.add_const("fc/w", rng.standard_normal((8, 16)).astype(np.float32))
    b = g.add_const("fc/b", rng.standard_normal(8).astype(np.float32))
    g.add_tensor("y", (-1, 8))
    g.add_node(Node("fc", "FULLY_CONNECTED", ["x", w, b], ["y"], {"activation": "RELU"}))
    g.inputs, g.outputs = ["x"], ["y"]
    x = rng.standard_normal((32, 16)).astype(np.float32)
    plan = quantize_graph(g, calibrate(g, [x], progress=False))
    write_gear(g, path, GEARS, metadata=metadata, qplan=plan)
    return path


@pytest.fixture()
def gear_file(tmp_path) -> Path:
    return four_gears(tmp_path / "m.gear")


def counting(monkeypatch) -> list[int]:
    calls = []
    real = costs.measure

    def measure(rt, x=None, runs=5):
        calls.append(1)
        return real(rt, x, runs)

    monkeypatch.setattr(costs, "measure", measure)
    return calls


def test_measured_once_then_cached_per_file_cpu_and_threads(gear_file, tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    rt = gs.Runtime(gear_file)
    table = rt.gear_costs
    assert list(table) == list(GEARS) and all(t["latency_ms"] > 0 for t in table.values())
    assert rt.gear == "fp32"  # the probe puts the gear back
    assert gs.Runtime(gear_file).gear_costs == table and len(calls) == 1  # from the cache
    assert set(gs.Runtime(gear_file, threads=2).gear_costs) == set(GEARS)  # another thread count
    assert len(calls) == 2
    other = four_gears(tmp_path / "other.gear", seed=4)  # other content: measured
    assert set(gs.Runtime(other).gear_costs) == set(GEARS)
    assert len(calls) == 3


def test_dominated_gears_are_named(gear_file):
    rt = gs.Runtime(gear_file)
    costs.store(rt.path, rt.threads, rt.isa, {"fp32": 4.0, "fp16": 3.9, "int8": 1.5, "int4": 1.7})
    table = rt.gear_costs
    assert table["int4"] == {"latency_ms": 1.7, "dominated_by": "int8"}
    assert table["fp16"]["dominated_by"] == "fp32" and "dominated_by" not in table["int8"]


def test_a_corrupt_cache_is_ignored_with_a_warning(gear_file, monkeypatch):
    rt = gs.Runtime(gear_file)
    assert set(rt.gear_costs) == set(GEARS)
    files = list(costs.cache_dir().glob("costs-*.json"))
    assert len(files) == 1
    files[0].write_text("{not json")
    calls = counting(monkeypatch)
    with pytest.warns(RuntimeWarning, match="ignoring the cost cache"):
        table = gs.Runtime(gear_file).gear_costs
    assert len(calls) == 1 and set(table) == set(GEARS)
    doc = json.loads(files[0].read_text())  # rewritten whole
    doc["latency_ms"]["int8"] = -5  # a hostile value: not trusted
    doc["latency_ms"]["nope"] = 1.0
    files[0].write_text(json.dumps(doc))
    assert costs.load(rt.path, rt.threads, rt.isa, GEARS).keys() == set(GEARS) - {"int8"}


def test_the_shifter_seeds_from_the_cache_and_its_probe_fills_it(gear_file):
    rt = gs.Runtime(gear_file)
    shifter = gs.Shifter(rt, latency_budget_ms=1000, power=None)
    assert set(shifter._ctrl.unseeded()) == set(GEARS)  # nothing cached yet
    shifter.run(np.zeros((1, 16), np.float32))  # probes every gear, stores the medians
    cached = costs.load(rt.path, rt.threads, rt.isa, GEARS)
    assert cached is not None and set(cached) == set(GEARS)
    again = gs.Shifter(gs.Runtime(gear_file), latency_budget_ms=1000, power=None)
    assert again._ctrl.unseeded() == []  # seeded from the cache: no probe needed


def test_inspect_costs_says_which_gears_are_dominated(gear_file, capsys):
    from gearshift.cli import main

    rt = gs.Runtime(gear_file)
    costs.store(rt.path, rt.threads, rt.isa, {"fp32": 4.0, "fp16": 3.9, "int8": 1.5, "int4": 1.7})
    assert main(["inspect", str(gear_file), "--costs"]) == 0
    text = capsys.readouterr().out
    assert "measured costs" in text and "dominated by int8: skipped" in text
    assert main(["inspect", str(gear_file), "--costs", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["gear_costs"]["fp16"] == {"latency_ms": 3.9, "dominated_by": "fp32"}


def test_an_accuracy_floor_needs_accuracies_in_the_file(gear_file):
    rt = gs.Runtime(gear_file)
    assert rt.gear_info["int4"] == {"compute": "q4", "accuracy": None, "max_rel_error": None}
    with pytest.raises(ValueError, match="convert with validation"):
        gs.Shifter(rt, power=None, min_accuracy=0.9)
    assert gs.Shifter(rt, power=None).gears == GEARS


def test_bench_refreshes_the_cost_table(gear_file):
    from gearshift.bench import bench_file

    result = bench_file(str(gear_file), runs=3, warmup=1)
    rt = gs.Runtime(gear_file)
    cached = costs.load(rt.path, rt.threads, rt.isa, GEARS)
    # by the runtime's own clock, as the shifter measures (latency_ms is the whole call)
    assert cached == {g: r["runtime_latency_ms"]["median"] for g, r in result["gears"].items()}


def test_the_accuracy_floor_keeps_the_gears_that_meet_it(tmp_path):
    acc = {"fp32": "0.98", "fp16": "0.98", "int8": "0.965", "int4": "0.90"}
    meta = {f"gearshift.accuracy.{g}": a for g, a in acc.items()}
    rt = gs.Runtime(four_gears(tmp_path / "m.gear", metadata=meta))
    assert rt.gear_info["int8"]["accuracy"] == pytest.approx(0.965)
    assert gs.Shifter(rt, power=None, min_accuracy=0.96).gears == ("fp32", "fp16", "int8")
    assert gs.Shifter(rt, power=None, max_accuracy_drop=0.01).gears == ("fp32", "fp16")
    assert gs.Shifter(rt, power=None, min_accuracy=0.99).gears == ("fp32",)  # fp32 always stays
    with pytest.raises(ValueError, match="min_accuracy must be in"):
        gs.Shifter(rt, power=None, min_accuracy=2.0)


def test_bench_with_watts_records_energy_per_inference(gear_file, tmp_path):
    from test_bench_energy import fake_battery

    from gearshift.bench import bench_file

    power = gs.power.auto(root=fake_battery(tmp_path / "sys", 4.0))
    result = bench_file(str(gear_file), runs=3, warmup=1, power=power)
    table = gs.Runtime(gear_file).gear_costs
    for g in GEARS:
        assert table[g]["joules_per_inference"] == pytest.approx(
            result["gears"][g]["joules_per_inference"]
        )


def test_another_cpu_misses_the_cache(gear_file, monkeypatch):
    rt = gs.Runtime(gear_file)
    costs.store(rt.path, rt.threads, rt.isa, {g: 1.0 for g in GEARS})
    assert costs.load(rt.path, rt.threads, rt.isa, GEARS) is not None
    monkeypatch.setattr(costs, "cpu_model", lambda: "Some Other CPU")
    assert costs.load(rt.path, rt.threads, rt.isa, GEARS) is None
