"""gearshift bench reports joules per inference where a power source gives watts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gearshift as gs
from gearshift.bench import bench_file
from gearshift.cli import main

GOLDEN = Path(__file__).parent / "data" / "golden_v1_0.gear"


def fake_battery(root: Path, watts: float) -> Path:
    bat = root / "class" / "power_supply" / "BAT0"
    bat.mkdir(parents=True)
    for name, value in {
        "type": "Battery",
        "capacity": "50",
        "status": "Discharging",
        "power_now": str(int(watts * 1e6)),  # microwatts
    }.items():
        (bat / name).write_text(value + "\n")
    return root


def test_joules_per_inference_from_a_fake_battery(tmp_path):
    root = fake_battery(tmp_path / "sys", 5.0)
    result = bench_file(str(GOLDEN), runs=5, warmup=1, power=gs.power.auto(root=root))
    g = result["gears"]["fp32"]
    assert g["power_w"] == pytest.approx(5.0)
    assert g["joules_per_inference"] == pytest.approx(5.0 * g["latency_ms"]["median"] / 1e3)


def test_no_power_no_energy_fields(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", str(GOLDEN), "--runs", "3", "--power", "none", "--json", str(out)]) == 0
    g = json.loads(out.read_text())["gears"]["fp32"]
    assert "joules_per_inference" not in g
    assert (
        main(
            ["bench", str(GOLDEN), "--runs", "3", "--power", str(fake_battery(tmp_path / "s", 2.0))]
        )
        == 0
    )
    assert "mJ / inference" in capsys.readouterr().out


def test_dominated_gears_follow_the_shifters_rule():
    from gearshift.bench import dominated_gears, format_bench

    order = ["fp32", "fp16", "int8", "int4"]
    assert dominated_gears(order, {"fp32": 4.0, "fp16": 2.5, "int8": 1.5, "int4": 1.0}) == {}
    got = dominated_gears(order, {"fp32": 4.0, "fp16": 3.9, "int8": 1.5, "int4": 1.7})
    assert got == {"fp16": "fp32", "int4": "int8"}  # fp16 not 5% faster; int4 slower
    assert dominated_gears(order, {"fp32": 4.0, "int8": 1.5}) == {}  # gears not benchmarked
    result = {
        "file": "m.gear",
        "file_bytes": 1024,
        "batch": 1,
        "gears": {
            g: {
                "latency_ms": {"min": ms, "median": ms, "p90": ms, "p99": ms},
                "runs": 1,
                "threads": 1,
                "arena_bytes": 0,
                "peak_rss_bytes": 0,
                **({"dominated_by": got[g]} if g in got else {}),
            }
            for g, ms in {"fp32": 4.0, "fp16": 3.9, "int8": 1.5, "int4": 1.7}.items()
        },
    }
    text = format_bench(result)
    assert "int4: dominated by int8 on this machine" in text and "fp16: dominated by fp32" in text
