"""Bias correction of the integer gears (converters/bias_correction.py).

The model has weights whose int8 rounding errors do not cancel: every weight sits 0.45 of
a quantization step above an integer step (one weight per channel at 127 steps fixes the
scale), so nearest rounding moves all of them down, and its inputs are positive (uniform
[0, 1], then ReLUs): each layer's output drifts by a per-channel constant that the bias
can take back. Measured on inputs the calibration never saw: the corrected int8 and int4
gears' mean error against Keras must shrink by half at least. The corrected file stays
valid, only its int32 biases change, and the runtime matches the numpy oracle bit for bit
on it; an int8 ``.tflite`` keeps its own biases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")  # a host-side conversion feature (the board tests have no Keras)

import gearshift as gs
from gearshift import gear_format as gf
from gearshift.converters.bias_correction import MIN_POSITIONS, correct_biases
from gearshift.converters.calibrate import calibrate
from gearshift.converters.gear_reference import run_gear, run_gear_int8
from gearshift.converters.import_keras import import_keras
from gearshift.converters.passes import run_passes
from gearshift.converters.quantize import quantize_graph

GEARS = ("fp32", "int8", "int4")


def _biased_model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 1, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(32, activation="relu")(x)
    out = layers.Dense(4)(x)
    model = keras.Model(inp, out)
    step = 0.01
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        w = ws[0]
        k = rng.integers(-60, 60, w.shape).astype(np.float32)
        planted = (k + 0.45) * step
        planted.reshape(-1, w.shape[-1])[0] = 127 * step  # the channel's max: scale = step
        ws[0] = planted / np.sqrt(w[..., 0].size)  # keeps the activations of order 1
        ws[1] = rng.normal(0, 0.1, ws[1].shape).astype(np.float32)
        layer.set_weights(ws)
    return model


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("biascorr")
    model = _biased_model()
    rng = np.random.default_rng(4)
    cal = rng.uniform(0, 1, (64, 8, 8, 3)).astype(np.float32)
    test = rng.uniform(0, 1, (48, 8, 8, 3)).astype(np.float32)
    ref = np.asarray(model.predict(test, verbose=0), np.float32)
    files, reports = {}, {}
    for name, bc, gears in (
        ("off", False, GEARS),
        ("sequential", True, GEARS),
        ("weights", "weights", GEARS),
        ("int4", "sequential", ("fp32", "int4")),
        ("int4_off", False, ("fp32", "int4")),
        ("int8_only", "sequential", ("fp32", "int8")),
    ):
        files[name] = folder / f"{name}.gear"
        reports[name] = gs.convert(
            model, files[name], gears=gears, calibration=cal, bias_correction=bc, progress=False
        )
    return model, cal, test, ref, files, reports


def _mean_abs(path: Path, gear: str, x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.mean(np.abs(gs.Runtime(path, gear=gear).run(x) - ref)))


@pytest.mark.parametrize("mode", ["sequential", "weights"])
def test_reduces_int8_error_on_held_out_inputs(case, mode):
    _, _, test, ref, files, reports = case
    before = _mean_abs(files["off"], "int8", test, ref)
    after = _mean_abs(files[mode], "int8", test, ref)
    assert after < 0.5 * before, (before, after)
    note = next(n for g in reports[mode].gears if g.name == "int8" for n in g.notes)
    assert note.startswith(f"bias correction ({mode}, for the int8 gear") and "5 layers" in note


def test_reduces_int4_error_when_corrected_for_int4(case):
    _, _, test, ref, files, _ = case
    before = _mean_abs(files["int4_off"], "int4", test, ref)
    after = _mean_abs(files["int4"], "int4", test, ref)
    assert after < 0.5 * before, (before, after)


def test_a_file_with_both_integer_gears_corrects_each_on_its_own(case):
    # int8 and int4 each get biases measured on their own gear: the int4 gear's are its
    # own storage entries, and the int8 gear is the one a file without int4 has
    _, _, test, ref, files, reports = case
    both = gf.read_gear(files["sequential"])
    c8, c4 = both.constants("int8"), both.constants("int4")
    own = [k for k in c8 if c8[k].dtype == np.int32 and not np.array_equal(c8[k], c4[k])]
    assert own, "the int4 gear should have biases of its own"
    only8 = gf.read_gear(files["int8_only"]).constants("int8")
    assert all(np.array_equal(c8[k], only8[k]) for k in c8 if c8[k].dtype == np.int32)
    before = _mean_abs(files["off"], "int4", test, ref)
    after = _mean_abs(files["sequential"], "int4", test, ref)
    assert after < 0.5 * before, (before, after)
    notes = {g.name: [n for n in g.notes if n.startswith("bias correction")] for g in
             reports["sequential"].gears}  # fmt: skip
    assert notes["int8"][0].startswith("bias correction (sequential, for the int8 gear")
    assert notes["int4"][0].startswith("bias correction (sequential, for the int4 gear")


def test_only_the_int32_biases_change(case):
    _, _, test, _, files, _ = case
    off, on = gf.read_gear(files["off"]), gf.read_gear(files["sequential"])
    assert off.activations("int8") == on.activations("int8")
    c_off, c_on = off.constants("int8"), on.constants("int8")
    assert c_off.keys() == c_on.keys()
    changed = [k for k in c_off if not np.array_equal(c_off[k], c_on[k])]
    assert changed and all(c_on[k].dtype == np.int32 for k in changed), changed
    # the float gear keeps the source's biases
    y_off = gs.Runtime(files["off"], gear="fp32").run(test)
    np.testing.assert_array_equal(gs.Runtime(files["sequential"], gear="fp32").run(test), y_off)


@pytest.mark.parametrize(
    "gear,name", [("int8", "sequential"), ("int4", "int4"), ("int4", "sequential")]
)
def test_runtime_matches_oracle_on_corrected_gear(case, gear, name):
    _, _, test, _, files, _ = case
    path = files[name]
    f = gf.read_gear(path)
    want = run_gear_int8(f, gear, test)
    acts = f.activations(gear)
    rt = gs.Runtime(path, gear=gear, keep_tensors=True)
    y = rt.run(test)
    np.testing.assert_array_equal(y, next(iter(run_gear(f, gear, test).values())))
    inputs = {f.manifest["tensors"][i]["name"] for i in f.manifest["inputs"]}
    for name, v in want.items():
        if name in inputs:
            continue
        s, z = acts[name]
        q = np.round(rt.read_tensor(name).astype(np.float64) / np.float32(s)) + z
        np.testing.assert_array_equal(q, v, err_msg=f"{gear} {name}")


def test_correct_biases_leaves_plan_and_float_layers_alone():
    model = _biased_model()
    g = import_keras(model)
    run_passes(g)
    x = np.random.default_rng(5).uniform(0, 1, (16, 8, 8, 3)).astype(np.float32)
    plan = quantize_graph(g, calibrate(g, [{g.inputs[0]: x}], progress=False, warn=False))
    before = {k: v[0].copy() for k, v in plan.biases.items()}
    weighted = [n.name for n in g.nodes if n.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    out, result = correct_biases(g, plan, [x], skip=weighted[:1], progress=False)
    assert all(np.array_equal(plan.biases[k][0], before[k]) for k in before)  # a copy
    assert result.skipped == {weighted[0]: "computed in float"}
    skipped_bias = next(n.inputs[2] for n in g.nodes if n.name == weighted[0])
    np.testing.assert_array_equal(out.biases[skipped_bias][0], before[skipped_bias])
    assert len(result.corrected) == 4 and result.waves == 4  # a chain: one layer a wave
    assert x.shape[0] * 8 * 8 >= MIN_POSITIONS


def test_int8_tflite_keeps_its_own_biases(tmp_path):
    from int8_tflite import classifier, to_tflite

    src = to_tflite(classifier(), tmp_path / "int8.tflite", "int8")
    x = np.random.default_rng(0).uniform(-1, 1, (8, 12, 12, 3)).astype(np.float32)
    paths = {bc: tmp_path / f"{bc}.gear" for bc in (False, True)}
    notes = {}
    for bc, p in paths.items():
        r = gs.convert(src, p, gears=("int8",), bias_correction=bc, progress=False)
        notes[bc] = [n for g in r.gears for n in g.notes]
    assert any("not applied" in n for n in notes[True])
    a, b = gf.read_gear(paths[False]), gf.read_gear(paths[True])
    for k, v in a.constants("int8").items():
        np.testing.assert_array_equal(b.constants("int8")[k], v)
    np.testing.assert_array_equal(gs.Runtime(paths[True]).run(x), gs.Runtime(paths[False]).run(x))


def test_bad_value_says_what_is_accepted(case, tmp_path):
    model, cal, *_ = case
    with pytest.raises(ValueError, match="'sequential', 'weights'"):
        gs.convert(model, tmp_path / "x.gear", gears=("int8",), calibration=cal,
                   bias_correction="yes", progress=False)  # fmt: skip


def test_cli_flag(tmp_path):
    from gearshift.cli import build_parser

    a = build_parser().parse_args(["convert", "m.keras", "-o", "x.gear", "--bias-correction"])
    assert a.bias_correction and a.bias_correction_mode == "sequential"
    a = build_parser().parse_args(["convert", "m.keras", "-o", "x.gear"])
    assert not a.bias_correction


def test_with_float_islands_the_islands_are_left_alone(case, tmp_path):
    model, cal, test, ref, files, _ = case
    out = tmp_path / "heads.gear"
    r = gs.convert(model, out, gears=("fp32", "int8"), calibration=cal, float_layers="heads",
                   bias_correction=True, progress=False)  # fmt: skip
    note = next(n for g in r.gears if g.name == "int8" for n in g.notes if n.startswith("bias"))
    assert "4 layers; 1 skipped" in note, note
    assert r.float_layers and _mean_abs(out, "int8", test, ref) < _mean_abs(
        files["off"], "int8", test, ref
    )
