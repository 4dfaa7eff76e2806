"""gearshift.convert: argument checks, calibration forms, and the report."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

import gearshift as gs
from gearshift.converters import UnsupportedOpError
from gearshift.converters.convert import prepare_calibration


# -- argument checks: no TensorFlow needed, nothing written -------------------------
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"gears": ("fp32", "int8")}, r"int8 need calibration="),
        ({"gears": ("int9",)}, r"unknown gear.*int8-sparse"),
        ({"gears": ("int8",), "calibration": [[0.0]], "calibration_method": "x"}, "minmax"),
        ({"gears": ("fp64",)}, r"unknown gear.*'fp64'.*fp32"),
        ({"gears": ()}, "empty"),
        ({"gears": ("fp32", "fp32")}, "twice"),
        ({"prune": 0.5}, "gearshift.Prune"),
        ({"storage": "tiny"}, "compact"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    out = tmp_path / "m.gear"
    with pytest.raises(ValueError, match=match):
        gs.convert("unused.keras", out, **kwargs)
    assert not out.exists()


def test_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"m\.tflite"):
        gs.convert(tmp_path / "m.tflite", tmp_path / "m.gear")
    with pytest.raises(FileNotFoundError):
        gs.convert(tmp_path / "nope.keras", tmp_path / "m.gear")


def test_prune_validation():
    assert gs.Prune(0.5, "2:4").method == "2:4"
    for bad in [
        dict(sparsity=1.0),
        dict(sparsity=-0.1),
        dict(method="random"),
        dict(sparsity=0.3, method="2:4"),
        dict(sparsity=float("nan")),
    ]:
        with pytest.raises(ValueError):
            gs.Prune(**bad)


def test_calibration_forms():
    shapes = [(-1, 4, 3)]
    x = np.ones((5, 4, 3), np.float32)
    (b,), rnd = prepare_calibration(x, shapes)
    assert b.shape == (5, 4, 3) and not rnd
    (b,), _ = prepare_calibration([x[0], x[1:3]], shapes)  # a sample and a batch
    assert b.shape == (3, 4, 3)
    (b,), _ = prepare_calibration(lambda: x, shapes)
    assert b.shape == (5, 4, 3)
    (b,), _ = prepare_calibration((x for _ in range(100)), shapes, limit=12)
    assert b.shape == (12, 4, 3)
    (b,), rnd = prepare_calibration(None, shapes)
    assert b.shape == (8, 4, 3) and rnd
    with pytest.raises(ValueError, match=r"expected shape \(N, 4, 3\)"):
        prepare_calibration(np.ones((2, 3, 3)), shapes)
    two = [(-1, 2), (-1, 3)]
    a, b = prepare_calibration({"a": np.ones((4, 2)), "b": np.ones((4, 3))}, two)[0]
    assert a.shape == (4, 2) and b.shape == (4, 3)
    with pytest.raises(ValueError, match="2 inputs"):
        prepare_calibration(np.ones((4, 2)), two)


# -- end to end (TensorFlow) -------------------------------------------------------------
def test_convert_report(tmp_path, capsys):
    keras = pytest.importorskip("keras")
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            layers.Conv2D(4, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(6.0),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3, activation="softmax"),
        ],
        name="tiny",
    )
    x = np.random.default_rng(0).standard_normal((6, 8, 8, 2)).astype(np.float32)
    out = tmp_path / "tiny.gear"
    report = gs.convert(model, out, calibration=x, storage="exact")
    assert "gearshift: done" in capsys.readouterr().err
    assert report.file_bytes == os.path.getsize(out)
    g = report.gear("fp32")
    assert g.samples == 6 and g.error_backend in ("runtime", "reference")
    assert g.max_abs_error < 1e-5 and g.max_rel_error < 1e-4
    assert g.bytes == (4 * 3 * 3 * 2 + 4 + 3 * 4 + 3) * 4
    assert [r.op for r in report.layers] == ["CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]
    assert report.layers[0].activation == "RELU6" and report.layers[0].params == 76
    assert report.params == 76 + 15
    assert {p.name: len(p.changes) for p in report.passes} == {
        "drop_noops": 0,
        "fold_batchnorm": 1,
        "fuse_activation": 1,
    }
    text = str(report)
    assert "fp32" in text and "CONV_2D+RELU6" in text and "(N, 8, 8, 4)" in text
    d = json.loads(json.dumps(report.to_dict()))
    assert d["gears"][0]["name"] == "fp32" and d["layers"][0]["output_shape"] == [-1, 8, 8, 4]
    assert d["storage"] == "exact" and d["inputs"][0]["shape"] == [-1, 8, 8, 2]
    # quiet mode, from a saved file, default random calibration
    model.save(tmp_path / "tiny.keras")
    report2 = gs.convert(str(tmp_path / "tiny.keras"), out, progress=False)
    assert capsys.readouterr().err == ""
    assert report2.gear("fp32").samples == 8 and report2.source.endswith("tiny.keras")
    # the default gears: fp32 and fp16 without calibration data (the report says
    # why not int8/int4), all four with it (the first conversion above)
    assert [g.name for g in report2.gears] == ["fp32", "fp16"]
    assert "skipped: int8, int4: no calibration data" in str(report2)
    assert [g.name for g in report.gears] == ["fp32", "fp16", "int8", "int4"]


def test_measured_quality_is_stored_and_floors_the_shifter(tmp_path):
    """convert with validation data writes each gear's accuracy and error into the
    file; Runtime.gear_info reads them and a Shifter's accuracy floor keeps to them."""
    keras = pytest.importorskip("keras")
    layers = keras.layers
    model = keras.Sequential(
        [keras.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3)], name="mlp"
    )
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    labels = np.argmax(model.predict(x, verbose=0), axis=1)  # the source scores 1.0
    out = tmp_path / "m.gear"
    report = gs.convert(
        model, out, gears=("fp32", "int8"), calibration=x, validation=(x, labels), progress=False
    )
    rt = gs.Runtime(out)
    info = rt.gear_info
    assert info["fp32"]["accuracy"] == pytest.approx(report.gear("fp32").accuracy, abs=1e-6)
    assert info["int8"]["accuracy"] == pytest.approx(report.gear("int8").accuracy, abs=1e-6)
    assert info["int8"]["max_rel_error"] == pytest.approx(
        report.gear("int8").max_rel_error, rel=1e-5
    )
    assert info["int8"]["compute"] == "q8"
    int8 = info["int8"]["accuracy"]
    assert gs.Shifter(rt, power=None, min_accuracy=int8).gears == ("fp32", "int8")
    assert gs.Shifter(rt, power=None, max_accuracy_drop=1.0).gears == ("fp32", "int8")


def test_convert_unsupported_writes_nothing(tmp_path):
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.LSTM(2)])
    out = tmp_path / "m.gear"
    with pytest.raises(UnsupportedOpError, match="LSTM ×1"):
        gs.convert(model, out, progress=False)
    assert os.listdir(tmp_path) == []


def test_convert_prunes_every_gear(tmp_path):
    keras = pytest.importorskip("keras")
    from gearshift import gear_format as gf

    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.Conv2D(8, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(10),
        ]
    )
    x = np.random.default_rng(0).standard_normal((16, 8, 8, 1)).astype(np.float32)
    out = tmp_path / "p.gear"
    prune = gs.Prune(0.5, method="magnitude", include_first_last=True)
    report = gs.convert(model, out, calibration=x, prune=prune, progress=False, storage="exact")
    assert any("50.0% achieved" in line for line in report.pruning)
    assert "pruning: magnitude" in str(report)
    weights = gf.read_gear(out).constants("fp32")
    kernels = [w for name, w in weights.items() if w.ndim > 1]
    zeros = sum(int((w == 0).sum()) for w in kernels) / sum(w.size for w in kernels)
    assert zeros == pytest.approx(0.5, abs=0.01)


def test_convert_default_calibration_ignores_and_names_an_odd_input(tmp_path):
    """gs.convert's default method: one input 50x brighter than the 31 others is named
    in a warning and does not set the ranges; minmax follows it (a wider int8 step, so a
    larger mean error on the 31 ordinary inputs)."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3), keras.layers.Flatten()]
    )
    x = np.random.default_rng(1).uniform(0, 1, (32, 6, 6, 2)).astype(np.float32)
    x[9] *= 50.0
    normal = np.delete(x, 9, axis=0)
    errs = {}
    for method in ("input_percentile", "minmax"):
        out = tmp_path / f"{method}.gear"
        # recorded, not pytest.warns: that re-raises TensorFlow's own deprecation
        # warnings from this line, where the config's filter no longer ignores them
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            report = gs.convert(
                model,
                out,
                gears=("fp32", "int8"),
                calibration=x,
                progress=False,
                **({} if method == "input_percentile" else {"calibration_method": method}),
            )
        (msg,) = [
            str(w.message) for w in rec if "calibration input" in str(w.message)
        ]  # one warning, naming input 9
        assert msg.startswith("calibration input 9 alone sets the range of tensor")
        assert f"the {method!r} method" in msg
        assert report.calibration == f"{method} on 32 samples"
        rt = gs.Runtime(out, gear="int8")
        ref = keras.ops.convert_to_numpy(model(normal))
        errs[method] = float(np.abs(rt.run(normal) - ref).mean())
    assert errs["input_percentile"] < errs["minmax"] / 10  # measured: 0.0027 against 0.10
