"""Per-node profile: Runtime.profiling / last_profile and gearshift bench --profile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import gearshift as gs
from gearshift.bench import summarize_profile
from gearshift.cli import main
from gearshift.gear_format import read_gear

GOLDEN = Path(__file__).parent / "data" / "golden_v1_0.gear"


def test_runtime_times_every_node_in_order():
    rt = gs.Runtime(str(GOLDEN))
    spec = rt.inputs[0]
    x = np.zeros([1 if d == -1 else d for d in spec.shape], np.float32)
    rt.run(x)
    assert rt.last_profile == []  # off by default
    rt.profiling = True
    assert rt.profiling
    rt.run(x)
    prof = rt.last_profile
    nodes = read_gear(str(GOLDEN)).manifest["nodes"]
    assert [(n, o) for n, o, _ in prof] == [(n["name"], n["op"]) for n in nodes]
    assert all(ms >= 0 for _, _, ms in prof)
    assert sum(ms for _, _, ms in prof) <= rt.last_latency_ms * 1.01 + 1e-3


def test_summarize_profile_takes_node_medians_and_sums_op_types():
    runs = [
        [("a", "CONV_2D", 1.0), ("b", "RELU", 0.1), ("c", "CONV_2D", 2.0)],
        [("a", "CONV_2D", 3.0), ("b", "RELU", 0.3), ("c", "CONV_2D", 2.0)],
        [("a", "CONV_2D", 2.0), ("b", "RELU", 0.2), ("c", "CONV_2D", 9.0)],
    ]
    p = summarize_profile(runs, median_ms=5.0)
    assert [n["ms"] for n in p["nodes"]] == [2.0, 0.2, 2.0]
    assert p["ops"][0] == {"op": "CONV_2D", "nodes": 2, "ms": 4.0, "share": 0.8}
    assert p["ops"][1]["op"] == "RELU"
    assert p["other_ms"] == 5.0 - 4.2


def test_cli_bench_profile_prints_and_writes_it(tmp_path, capsys):
    out = tmp_path / "b.json"
    argv = ["bench", str(GOLDEN), "--runs", "3", "--power", "none", "--profile", "--json", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "profile of gear fp32" in text and "slowest" in text
    prof = json.loads(out.read_text())["gears"]["fp32"]["profile"]
    assert prof["nodes"] and prof["ops"]
    assert {n["op"] for n in prof["nodes"]} == {o["op"] for o in prof["ops"]}
