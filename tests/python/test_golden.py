"""Golden files: every format version ever written stays readable, with the
same results, by both readers (C++ runtime and pure-Python)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import gearshift as gs
from gearshift.gear_format import read_gear

DATA = Path(__file__).parent / "data"


def test_golden_v1_0_runtime():
    io = np.load(DATA / "golden_v1_0_io.npz")
    rt = gs.Runtime(DATA / "golden_v1_0.gear")
    assert rt.gears == ("fp32",)
    np.testing.assert_allclose(rt.run(io["x"]), io["y"], rtol=1e-5, atol=1e-6)


def test_golden_v1_0_python_reader():
    gf = read_gear(DATA / "golden_v1_0.gear")
    assert gf.version == (1, 0)
    ops = [n["op"] for n in gf.manifest["nodes"]]
    for op in (
        "PAD",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "ADD",
        "AVERAGE_POOL_2D",
        "HARD_SWISH",
        "CONCATENATION",
        "RESHAPE",
        "FULLY_CONNECTED",
        "SOFTMAX",
    ):
        assert op in ops, op


def test_golden_v1_4_uint8_runtime():
    """The first integer-interface file: uint8 in and out, LiteRT's integers exactly."""
    io = np.load(DATA / "golden_v1_4_uint8_io.npz")
    rt = gs.Runtime(DATA / "golden_v1_4_uint8.gear", gear="int8")
    assert [s.dtype for s in rt.inputs + rt.outputs] == ["uint8", "uint8"]
    y = rt.run(io["x"])
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y, io["y"])


def test_golden_v1_4_python_reader():
    gf = read_gear(DATA / "golden_v1_4_uint8.gear")
    assert gf.version == (1, 4)
    t = gf.manifest["tensors"]
    assert t[gf.manifest["inputs"][0]]["io"]["dtype"] == "u8"


def test_golden_v1_4_inspect_shows_the_interface():
    from gearshift.describe import describe, format_description

    d = describe(DATA / "golden_v1_4_uint8.gear")
    assert d["inputs"][0]["dtype"] == "uint8" and len(d["inputs"][0]["quantization"]) == 2
    assert "uint8 (scale" in format_description(d)


def test_golden_v1_4_cli_run_takes_and_writes_uint8(tmp_path):
    """``gearshift run`` passes the integers through: uint8 .npy in, uint8 .npy out."""
    import subprocess
    import sys

    io = np.load(DATA / "golden_v1_4_uint8_io.npz")
    np.save(tmp_path / "x.npy", io["x"])
    gear, x, y = DATA / "golden_v1_4_uint8.gear", tmp_path / "x.npy", tmp_path / "y.npy"
    args = ["run", str(gear), "--gear", "int8", "--input", str(x), "--output", str(y)]
    r = subprocess.run(
        [sys.executable, "-m", "gearshift.cli", *args], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y, io["y"])
