"""Golden files: every format version ever written stays readable, with the
same results, by both readers (C++ runtime and pure-Python)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


# Files of make_golden_versions.py: (file, format version, gears).
VERSIONS = [
    ("golden_v1_1", (1, 1), ("fp32", "fp16", "int8", "int4")),
    ("golden_v1_2", (1, 2), ("fp32", "int8", "int8-sparse")),
    ("golden_v1_3", (1, 3), ("fp32", "int8")),
    ("golden_v1_5", (1, 5), ("fp32", "int8")),
    ("golden_v1_6", (1, 6), ("fp32", "fp16", "int8", "int4")),
]
INTEGER_GEARS = ("int8", "int4", "int8-sparse")


@pytest.mark.parametrize("name,version,gears", VERSIONS, ids=[v[0] for v in VERSIONS])
def test_golden_versions_runtime(name, version, gears):
    """Every gear of every version's file gives the outputs it gave when written: integer
    gears bit for bit (integer arithmetic, the same on every ISA), float gears to float
    rounding (kernels differ in summation order across ISAs)."""
    _check_runtime(name, gears, np.load(DATA / "golden_versions_io.npz"))


def _check_runtime(name: str, gears: tuple[str, ...], io) -> None:
    """Each gear of ``name``.gear against its saved outputs in ``io``."""
    rt = gs.Runtime(DATA / f"{name}.gear")
    assert rt.gears == gears
    for g in gears:
        rt.gear = g
        y = rt.run(io["x"])
        if g in INTEGER_GEARS:
            np.testing.assert_array_equal(y, io[f"{name}/{g}"], err_msg=g)
        else:
            np.testing.assert_allclose(y, io[f"{name}/{g}"], rtol=1e-5, atol=1e-6, err_msg=g)


@pytest.mark.parametrize("name,version,gears", VERSIONS, ids=[v[0] for v in VERSIONS])
def test_golden_versions_python_reader(name, version, gears):
    """The pure-Python reader reads every version, and the numpy oracle gets the int8
    gear's outputs from it bit for bit (q8 arithmetic is exact integer arithmetic; the
    1.5 file's last layer is a float island, equal to float rounding)."""
    from gearshift.converters.gear_reference import run_gear

    gf = read_gear(DATA / f"{name}.gear")
    assert gf.version == version
    assert gf.gear_names == gears
    io = np.load(DATA / "golden_versions_io.npz")
    (y,) = run_gear(gf, "int8", io["x"]).values()
    if "float_nodes" in gf.gear("int8"):
        np.testing.assert_allclose(y, io[f"{name}/int8"], rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(y, io[f"{name}/int8"])


def test_golden_v1_6_is_v1_1_with_binary_params():
    """The 1.6 file and its JSON-form repack (the 1.1 file) hold the same model: the same
    manifest once the params references are read, the same weights, the same outputs."""
    from gearshift.gear_format import SECTION_PARAMS, SECTION_TENSOR_DATA

    a, b = read_gear(DATA / "golden_v1_6.gear"), read_gear(DATA / "golden_v1_1.gear")
    assert [s.kind for s in a.sections] == [1, SECTION_PARAMS, SECTION_TENSOR_DATA]
    assert [s.kind for s in b.sections] == [1, SECTION_TENSOR_DATA]
    for e in a.manifest["storage"]:  # the data section's index is all that differs
        if "section" in e:
            e["section"] = 1
    assert a.manifest == b.manifest
    data = [bytes(f.section_bytes(len(f.sections) - 1)) for f in (a, b)]
    assert data[0] == data[1]
    io = np.load(DATA / "golden_versions_io.npz")
    for g in ("fp32", "fp16", "int8", "int4"):
        np.testing.assert_array_equal(io[f"golden_v1_6/{g}"], io[f"golden_v1_1/{g}"])


# Files of make_golden_v1_7.py (the q8r8 encoding): (file, gears).
V1_7 = [
    ("golden_v1_7", ("fp32", "fp16", "int8", "int4")),
    ("golden_v1_7_sparse", ("fp32", "int8")),
]


@pytest.mark.parametrize("name,gears", V1_7, ids=[v[0] for v in V1_7])
def test_golden_v1_7(name, gears):
    """q8r8 entries (over dense and over sparse bases) read and run as when written, in
    both readers: the runtime's integer gears bit for bit, float gears to float rounding;
    the Python reader decodes every q8r8 entry to the values the numpy oracle runs the
    int8 gear's float twin on, and the oracle's int8 outputs equal the runtime's."""
    from gearshift.converters.gear_reference import run_gear

    io = np.load(DATA / "golden_v1_7_io.npz")
    _check_runtime(name, gears, io)
    gf = read_gear(DATA / f"{name}.gear")
    assert gf.version == (1, 7)
    encodings = {e["encoding"] for e in gf.manifest["storage"]}
    assert "q8r8" in encodings
    (y,) = run_gear(gf, "int8", io["x"]).values()
    np.testing.assert_array_equal(y, io[f"{name}/int8"])
    (y,) = run_gear(gf, "fp32", io["x"]).values()
    np.testing.assert_allclose(y, io[f"{name}/fp32"], rtol=1e-5, atol=1e-6)
