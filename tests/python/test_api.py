"""The Python API as the contract states it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import gearshift as gs


def test_import_does_not_import_tensorflow():
    code = (
        "import sys, gearshift; "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_runtime_info():
    info = gs.runtime_info()
    assert info["version"] == gs.__version__
    assert "1.0" in info["format_versions"]
    assert "ref" in info["isa_compiled"]
    assert isinstance(info["isa_detected"], tuple)


@pytest.fixture(scope="module")
def two_io_gear(tmp_path_factory):
    keras = pytest.importorskip("keras")
    layers = keras.layers
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    s = layers.Add()([layers.Dense(3, name="da")(a), layers.Dense(3, name="db")(b)])
    p = layers.Dense(2, name="head")(s)
    model = keras.Model([a, b], [s, p])
    path = tmp_path_factory.mktemp("api") / "two.gear"
    # exact storage: the tests compare with Keras to float rounding (compact storage's
    # residual weights are within its 1e-3 target, not 1e-5)
    gs.convert(model, path, storage="exact")
    return model, path


@pytest.fixture(scope="module")
def one_io_gear(tmp_path_factory):
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    path = tmp_path_factory.mktemp("api") / "one.gear"
    gs.convert(model, path, storage="exact")  # as two_io_gear
    return model, path


def test_specs_and_gears(one_io_gear):
    _, path = one_io_gear
    rt = gs.Runtime(path)
    assert len(rt.inputs) == 1 and len(rt.outputs) == 1
    spec = rt.inputs[0]
    assert isinstance(spec, gs.TensorSpec)
    assert spec.shape == (-1, 5) and spec.dtype == "float32"
    assert rt.outputs[0].shape == (-1, 3)
    assert rt.gears == ("fp32", "fp16")  # convert's default without calibration data
    assert rt.gear == "fp32"
    rt.gear = "fp32"
    with pytest.raises(ValueError, match="fp32, fp16"):
        rt.gear = "int8"


def test_unknown_gear_at_open(one_io_gear):
    with pytest.raises(ValueError, match="int4"):
        gs.Runtime(one_io_gear[1], gear="int4")


def test_run_single(one_io_gear):
    model, path = one_io_gear
    rt = gs.Runtime(path)
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    y = rt.run(x)
    np.testing.assert_allclose(y, np.asarray(model(x)), rtol=1e-5, atol=1e-5)
    assert rt.last_latency_ms > 0
    # float64 and non-contiguous inputs are converted (one copy)
    np.testing.assert_allclose(rt.run(x.astype(np.float64)), y, rtol=0, atol=0)
    xt = np.asfortranarray(x)
    np.testing.assert_array_equal(rt.run(xt), y)
    # out= writes into the caller's array
    out = np.empty((3, 3), np.float32)
    r = rt.run(x, out=out)
    assert r is out or np.shares_memory(r, out)
    np.testing.assert_array_equal(out, y)


def test_run_errors(one_io_gear):
    rt = gs.Runtime(one_io_gear[1])
    with pytest.raises(ValueError, match=r"expected shape \(N, 5\), got \(3, 4\)"):
        rt.run(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="batch axis"):
        rt.run(np.zeros((5,), np.float32))
    with pytest.raises(ValueError, match="float32"):
        rt.run(np.zeros((2, 5), np.int32))
    with pytest.raises(ValueError, match="out"):
        rt.run(np.zeros((2, 5), np.float32), out=np.empty((3, 3), np.float32))


def test_run_several_inputs(two_io_gear):
    model, path = two_io_gear
    rt = gs.Runtime(path)
    assert [s.name for s in rt.inputs] == ["a", "b"]
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 4)).astype(np.float32)
    b = rng.standard_normal((2, 4)).astype(np.float32)
    ref = [np.asarray(t) for t in model([a, b])]
    by_list = rt.run([a, b])
    by_dict = rt.run({"b": b, "a": a})
    assert isinstance(by_list, dict) and list(by_list) == [s.name for s in rt.outputs]
    for got in (by_list, by_dict):
        for r, name in zip(ref, [s.name for s in rt.outputs]):
            np.testing.assert_allclose(got[name], r, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="missing"):
        rt.run({"a": a})


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        gs.Runtime(tmp_path / "nope.gear")


def test_directory_is_refused(tmp_path):
    with pytest.raises(ValueError):
        gs.Runtime(tmp_path)


def test_convert_refuses_gears_not_yet_available(one_io_gear, tmp_path):
    model, _ = one_io_gear
    with pytest.raises(ValueError, match="int8"):
        gs.convert(model, tmp_path / "x.gear", gears=("fp32", "int8"))
    assert not (tmp_path / "x.gear").exists()
