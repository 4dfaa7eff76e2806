"""``gearshift.Interpreter`` over ``.gear`` files, with neither TensorFlow nor LiteRT:
what a board runs (these tests also run in the emulated aarch64 Python with numpy
1.24). The expected integers are LiteRT's, stored with the golden file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gearshift as gs

DATA = Path(__file__).parent / "data"
GEAR = DATA / "golden_v1_4_uint8.gear"


@pytest.fixture(scope="module")
def io():
    data = np.load(DATA / "golden_v1_4_uint8_io.npz")
    return data["x"], data["y"]


def test_litert_script_on_a_gear(io):
    xs, ys = io
    it = gs.Interpreter(model_path=str(GEAR))
    assert it.gear == "int8" and it.gears == ("fp32", "int8")
    it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    assert d["dtype"] is np.uint8 and list(d["shape"]) == [1, 12, 12, 3]
    assert list(d["shape_signature"]) == [-1, 12, 12, 3]
    scale, zero_point = d["quantization"]
    assert scale > 0 and 0 <= zero_point <= 255
    assert d["quantization_parameters"]["zero_points"].dtype == np.int32
    for x, y in zip(xs, ys):
        it.set_tensor(d["index"], x[None])
        it.invoke()
        got = it.get_tensor(o["index"])
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got[0], y)


def test_batch_views_and_signature(io):
    xs, ys = io
    it = gs.Interpreter(model_content=GEAR.read_bytes())
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(d["index"], [len(xs), 12, 12, 3])
    it.allocate_tensors()
    assert list(it.get_output_details()[0]["shape"]) == [len(xs), ys.shape[1]]
    out = it.tensor(o["index"])
    it.tensor(d["index"])()[...] = xs
    it.invoke()
    np.testing.assert_array_equal(out(), ys)
    sigs = it.get_signature_list()
    (key,) = sigs
    (name,) = sigs[key]["inputs"]
    res = it.get_signature_runner()(**{name: xs[:2]})
    (y,) = res.values()
    np.testing.assert_array_equal(y, ys[:2])


def test_errors_as_litert_raises_them(io):
    xs, _ = io
    it = gs.Interpreter(model_path=GEAR)
    d = it.get_input_details()[0]
    with pytest.raises(RuntimeError):
        it.invoke()
    with pytest.raises(ValueError):
        it.set_tensor(d["index"], xs[:1])
    it.allocate_tensors()
    with pytest.raises(ValueError, match="FLOAT32 but expected type UINT8"):
        it.set_tensor(d["index"], xs[:1].astype(np.float32))
    with pytest.raises(ValueError, match="Dimension mismatch"):
        it.set_tensor(d["index"], xs[:2])
    with pytest.raises(ValueError, match="Invalid tensor index"):
        it.get_tensor(-1)


def test_corrupt_gear_is_refused_not_rebuilt(tmp_path):
    """A user's .gear is never rewritten: a corrupt one is an error (not a cache entry)."""
    bad = bytearray(GEAR.read_bytes())
    bad[-5] ^= 0x40
    path = tmp_path / "bad.gear"
    path.write_bytes(bytes(bad))
    with pytest.raises(gs.FormatError, match="CRC"):
        gs.Interpreter(model_path=path)
    assert path.read_bytes() == bytes(bad)


def test_float_gear_and_float_model(io):
    xs, ys = io
    it = gs.Interpreter(model_path=GEAR, gear="fp32")
    it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    it.set_tensor(d["index"], xs[:1])
    it.invoke()
    y = it.get_tensor(o["index"])
    assert y.dtype == np.uint8 and np.abs(y.astype(int) - ys[:1].astype(int)).max() <= 8
    # a float model: float32 in and out, its tensor names as the signature
    f = gs.Interpreter(model_path=DATA / "golden_v1_0.gear")
    f.allocate_tensors()
    data = np.load(DATA / "golden_v1_0_io.npz")
    fd = f.get_input_details()[0]
    assert fd["dtype"] is np.float32 and fd["quantization"] == (0.0, 0)
    f.resize_tensor_input(fd["index"], data["x"].shape)
    f.allocate_tensors()
    f.set_tensor(fd["index"], data["x"])
    f.invoke()
    got = f.get_tensor(f.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, data["y"], rtol=1e-5, atol=1e-6)
    assert f.get_signature_list() == {
        "serving_default": {"inputs": ["image"], "outputs": ["probs"]}
    }


def test_tflite_without_tensorflow(io):
    """The golden model's .tflite, opened with the importer alone, no TensorFlow (on
    the emulated board, TensorFlow does not exist): LiteRT's schema module where it
    is installed, else the builtin flatbuffer reader (numpy only)."""
    xs, ys = io
    it = gs.Interpreter(model_path=str(DATA / "golden_v1_4_uint8.tflite"))
    assert it.gear == "int8" and it.gears == ("fp32", "int8")
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(d["index"], list(xs.shape))
    it.allocate_tensors()
    it.set_tensor(d["index"], xs)
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(o["index"]), ys)


def test_shifter_behind_invoke(io):
    """A Shifter on it.runtime picks the gear of each invoke; the arrays stay uint8."""
    xs, ys = io
    it = gs.Interpreter(model_path=GEAR)
    it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    shifter = gs.Shifter(it.runtime, latency_budget_ms=1e6, power=None, probe_runs=0)
    it.runner = shifter
    it.set_tensor(d["index"], xs[:1])
    it.invoke()
    assert len(shifter.log) == 1 and shifter.log[0].gear == it.gear
    y = it.get_tensor(o["index"])
    assert y.dtype == np.uint8
    if it.gear == "int8":
        np.testing.assert_array_equal(y, ys[:1])
    with pytest.raises(ValueError, match="this interpreter's runtime"):
        it.runner = gs.Shifter(gs.Runtime(GEAR), power=None)
