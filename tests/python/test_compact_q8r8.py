"""Format 1.7's ``q8r8`` (int8 base + 8-bit residual) and compact storage's ladder.

The codec rule against hand values and its error bound; the writer giving small
weights (and ``keep_r8``'s large ones) q8r8, the file marked 1.7, the C++
runtime equal to the Python reader's values; compact and exact files with the
same int8 gears bit for bit; and ``convert``'s two-stage refinement (q8r4 ->
q8r8, then -> float32), measured against the exact fp32 gear of the same graph
(so a pruned model is not promoted for the error pruning adds on purpose).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

import gearshift as gs
from gearshift import gear_codec
from gearshift import gear_format as gf
from gearshift.converters import compact_refine
from gearshift.converters import write_gear as wg
from gearshift.converters.calibrate import calibrate
from gearshift.converters.gear_reference import run_gear
from gearshift.converters.ir import Graph, Node
from gearshift.converters.quantize import quantize_graph


# -- codec ------------------------------------------------------------------------------
def test_residual_values_by_hand() -> None:
    q = np.array([[1, -127], [0, 127]], np.int8)
    r = np.array([[1, -128], [127, -1]], np.int8)
    scale = np.array([1.0, 0.5], np.float32)
    v = gear_codec.residual_values(q, r, scale, 0, 8)
    assert v.dtype == np.float32
    assert v.tolist() == [[1.00390625, -127.5], [0.5 * 127 / 256, 0.5 * (127 - 1 / 256)]]


def test_residual_is_within_a_512th_of_a_step_and_reads_back() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 3, 3, 8)).astype(np.float32)
    scale = (np.abs(w).reshape(16, -1).max(axis=1) / 127).astype(np.float32)
    q = np.clip(np.round(w / scale[:, None, None, None]), -127, 127).astype(np.int8)
    r = gear_codec.residual(w, q, scale, 0, 8)
    assert r.min() >= -128 and r.max() <= 127
    v = gear_codec.residual_values(q, r, scale, 0, 8)
    step = scale[:, None, None, None]
    err = np.abs(v.astype(np.float64) - w) / step
    assert err.max() <= 1 / 256 + 1e-6  # s / 512, s / 256 where +128/256 clamps to 127
    assert np.mean(err <= 1 / 512 + 1e-6) > 0.99
    # 16 times finer than q8r4
    r4 = gear_codec.q8r4_residual(w, q, scale, 0)
    err4 = np.abs(gear_codec.q8r4_values(q, r4, scale, 0).astype(np.float64) - w) / step
    assert err.mean() < err4.mean() / 10
    payload = gear_codec.pack_residuals(r, 8)
    assert payload.dtype == np.uint8 and payload.size == r.size
    np.testing.assert_array_equal(gear_codec.unpack_residuals(payload, r.size, 8), r.ravel())


def test_pack_residuals_refuses_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"\[-128, 127\]"):
        gear_codec.pack_residuals(np.array([128]), 8)
    with pytest.raises(ValueError, match=r"expected"):
        gear_codec.unpack_residuals(b"\x00\x01", 3, 8)


# -- writer -----------------------------------------------------------------------------
def _cnn() -> Graph:
    """x [N,8,8,3] -> CONV 3x3 (16, relu) -> CONV 3x3 (128) -> MEAN -> FC 10: the second
    conv (18,432 weights) is large enough for q8r4, the others are not."""
    rng = np.random.default_rng(5)
    g = Graph()
    g.add_tensor("x", (-1, 8, 8, 3))
    g.inputs = ["x"]
    w1 = g.add_const("c1/w", (rng.normal(size=(16, 3, 3, 3)) * 0.3).astype(np.float32))
    b1 = g.add_const("c1/b", (rng.normal(size=16) * 0.1).astype(np.float32))
    w2 = g.add_const("c2/w", (rng.normal(size=(128, 3, 3, 16)) * 0.1).astype(np.float32))
    w3 = g.add_const("fc/w", (rng.normal(size=(10, 128)) * 0.1).astype(np.float32))
    for name, shape in (("h1", (-1, 8, 8, 16)), ("h2", (-1, 8, 8, 128)), ("m", (-1, 128))):
        g.add_tensor(name, shape)
    g.add_tensor("y", (-1, 10))
    conv = {"stride": [1, 1], "dilation": [1, 1], "padding": "SAME"}
    g.add_node(Node("c1", "CONV_2D", ["x", w1, b1], ["h1"], {**conv, "activation": "RELU"}))
    g.add_node(Node("c2", "CONV_2D", ["h1", w2, None], ["h2"], {**conv, "activation": "NONE"}))
    g.add_node(Node("mean", "MEAN", ["h2"], ["m"], {"axes": [1, 2], "keep_dims": False}))
    g.add_node(Node("fc", "FULLY_CONNECTED", ["m", w3, None], ["y"], {"activation": "NONE"}))
    g.outputs = ["y"]
    g.validate()
    return g


@pytest.fixture(scope="module")
def cnn():
    g = _cnn()
    x = np.random.default_rng(6).uniform(-1, 1, (16, 8, 8, 3)).astype(np.float32)
    return g, x, quantize_graph(g, calibrate(g, [x], progress=False, warn=False))


def _fp32_encodings(path: Path) -> dict[str, str]:
    f = gf.read_gear(path)
    names = [t["name"] for t in f.manifest["tensors"]]
    return {
        names[t]: f.manifest["storage"][s]["encoding"]
        for t, s in f.gear("fp32")["constants"]
        if names[t].endswith(("/w", "/filter", "/weights"))
    }


def test_small_weights_get_q8r8_large_q8r4_and_the_file_is_1_7(cnn, tmp_path: Path) -> None:
    g, x, plan = cnn
    path = tmp_path / "c.gear"
    wg.write_gear(g, path, ("fp32", "fp16", "int8", "int4"), qplan=plan)
    assert _fp32_encodings(path) == {"c1/w": "q8r8", "c2/w": "q8r4", "fc/w": "q8r8"}
    f = gf.read_gear(path)
    assert f.version == (1, 7)
    # the runtime computes on the values the Python reader decodes (the oracle's)
    for gear in ("fp32", "fp16"):
        got = gs.Runtime(path, gear=gear).run(x)
        (want,) = run_gear(f, gear, x).values()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=gear)
    # without a q8r8 entry the writer keeps the lower minor
    exact = tmp_path / "e.gear"
    wg.write_gear(g, exact, ("fp32", "int8"), qplan=plan, storage="exact")
    assert gf.read_gear(exact).version == (1, 6)


def test_keep_r8_and_keep_f32_move_weights_up_the_ladder(cnn, tmp_path: Path) -> None:
    g, x, plan = cnn
    path = tmp_path / "c.gear"
    wg.write_gear(g, path, ("fp32", "int8"), qplan=plan, keep_r8={"c2/w"}, keep_f32={"c1/w"})
    assert _fp32_encodings(path) == {"c1/w": "dense", "c2/w": "q8r8", "fc/w": "q8r8"}
    exact = tmp_path / "e.gear"
    wg.write_gear(g, exact, ("fp32", "int8"), qplan=plan, storage="exact")
    want = gs.Runtime(exact).run(x)
    compact_err = np.abs(gs.Runtime(path).run(x) - want).max() / np.abs(want).max()
    wg.write_gear(g, tmp_path / "r4.gear", ("fp32", "int8"), qplan=plan)
    r4_err = np.abs(gs.Runtime(tmp_path / "r4.gear").run(x) - want).max() / np.abs(want).max()
    assert compact_err < r4_err / 4


def test_weights_on_the_int8_grid_keep_a_4_bit_residual_of_zeros(cnn, tmp_path) -> None:
    """Weights that are int8 values times their scale (an imported int8 model's) need no
    residual: the 8-bit one would be all zeros, so the writer stores the 4-bit one (the
    same values, half the bytes) and the fp32 gear reads them exactly."""
    g, _, plan = cnn
    g = copy.deepcopy(g)  # the fixture's graph is shared
    for name in ("c1/w", "fc/w"):
        q, qp = plan.weights[name]
        shape = [1] * q.ndim
        shape[qp.axis] = -1
        scale = np.asarray(qp.scale, np.float32).reshape(shape)
        g.tensors[name].data = (np.asarray(q, np.float32) * scale).astype(np.float32)
    path = tmp_path / "grid.gear"
    wg.write_gear(g, path, ("fp32", "int8"), qplan=plan)
    enc = _fp32_encodings(path)
    assert enc["c1/w"] == enc["fc/w"] == "q8r4", enc
    f = gf.read_gear(path)
    names = [t["name"] for t in f.manifest["tensors"]]
    for t, s in f.gear("fp32")["constants"]:
        if names[t] in ("c1/w", "fc/w"):
            np.testing.assert_array_equal(f.storage_values(s), g.tensors[names[t]].data)


@pytest.mark.parametrize("gears", [("fp32", "int8"), ("fp32", "int8", "int4")])
def test_compact_and_exact_files_have_the_same_integer_gears(cnn, tmp_path, gears) -> None:
    g, x, plan = cnn
    wg.write_gear(g, tmp_path / "c.gear", gears, qplan=plan)
    wg.write_gear(g, tmp_path / "e.gear", gears, qplan=plan, storage="exact")
    for gear in gears[1:]:
        np.testing.assert_array_equal(
            gs.Runtime(tmp_path / "c.gear", gear=gear).run(x),
            gs.Runtime(tmp_path / "e.gear", gear=gear).run(x),
            err_msg=gear,
        )


# -- convert's refinement -----------------------------------------------------------------
def _keras_cnn():
    keras = pytest.importorskip("keras")
    from keras import layers

    keras.utils.set_random_seed(11)
    inp = keras.Input((8, 8, 3))
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="small")(inp)
    h = layers.Conv2D(128, 3, padding="same", activation="relu", name="large")(h)
    h = layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, layers.Dense(10, name="head")(h))


def _fp32_err(path: Path, exact: Path, x: np.ndarray) -> float:
    want = gs.Runtime(exact).run(x)
    return float(np.abs(gs.Runtime(path).run(x) - want).max() / np.abs(want).max())


def test_refinement_moves_large_weights_to_q8r8_before_float32(tmp_path, monkeypatch) -> None:
    model = _keras_cnn()
    x = np.random.default_rng(12).uniform(-1, 1, (32, 8, 8, 3)).astype(np.float32)
    exact = tmp_path / "e.gear"
    gs.convert(model, exact, gears=("fp32",), calibration=x, storage="exact", progress=False)
    plain = tmp_path / "p.gear"
    gs.convert(model, plain, gears=("fp32", "int8"), calibration=x, progress=False)
    assert _fp32_encodings(plain)["large/filter"] == "q8r4"
    r4 = _fp32_err(plain, exact, x)
    # a target under the q8r4 error: the large conv moves to q8r8, nothing to float32
    monkeypatch.setattr(compact_refine, "COMPACT_TARGET", r4 / 4)
    out = tmp_path / "r8.gear"
    rep = gs.convert(model, out, gears=("fp32", "int8"), calibration=x, progress=False)
    enc = _fp32_encodings(out)
    assert enc["large/filter"] == "q8r8" and "dense" not in enc.values(), enc
    assert _fp32_err(out, exact, x) <= r4 / 4
    note = " ".join(rep.gear("fp32").notes)
    assert "1 large weights with an 8-bit residual (q8r8), 0 kept float32" in note, note
    # a target no residual meets: every weight ends float32, and the report says so
    monkeypatch.setattr(compact_refine, "COMPACT_TARGET", 0.0)
    out = tmp_path / "f32.gear"
    rep = gs.convert(model, out, gears=("fp32", "int8"), calibration=x, progress=False)
    assert set(_fp32_encodings(out).values()) == {"dense"}
    assert "kept float32" in " ".join(rep.gear("fp32").notes)
    # the integer gear never changes
    np.testing.assert_array_equal(
        gs.Runtime(out, gear="int8").run(x), gs.Runtime(plain, gear="int8").run(x)
    )


def test_the_exact_files_own_error_is_taken_off_the_target(tmp_path, monkeypatch) -> None:
    """The compact gear is held within the target of the source, not only of the exact
    file: where the exact file is itself some way from the source (another summation
    order), refinement aims that much lower."""
    from gearshift.converters import convert as cv

    model = _keras_cnn()
    x = np.random.default_rng(14).uniform(-1, 1, (32, 8, 8, 3)).astype(np.float32)
    exact = tmp_path / "e.gear"
    gs.convert(model, exact, gears=("fp32",), calibration=x, storage="exact", progress=False)
    plain = tmp_path / "p.gear"
    gs.convert(model, plain, gears=("fp32", "int8"), calibration=x, progress=False)
    r4 = _fp32_err(plain, exact, x)
    monkeypatch.setattr(compact_refine, "COMPACT_TARGET", r4 * 1.5)  # q8r4 alone meets it
    load = cv._load_source

    def offset_source(*args, **kwargs):  # the source's outputs moved by r4 of their scale
        src = load(*args, **kwargs)
        outputs = src.outputs

        def moved(xs):
            return [y + r4 * np.abs(y).max() for y in outputs(xs)]

        src.outputs = moved
        return src

    monkeypatch.setattr(cv, "_load_source", offset_source)
    out = tmp_path / "m.gear"
    rep = gs.convert(model, out, gears=("fp32", "int8"), calibration=x, progress=False)
    note = " ".join(rep.gear("fp32").notes)
    assert _fp32_encodings(out)["large/filter"] == "q8r8", note
    assert "less the exact file's own" in note, note
    assert _fp32_err(out, exact, x) <= r4 * 0.75  # half the target: the floor


def test_pruned_model_is_measured_against_its_own_exact_gear(tmp_path) -> None:
    """Pruning changes the function on purpose; compact storage is judged against the
    pruned graph stored exactly, so nothing is promoted for the pruning's own error."""
    model = _keras_cnn()
    x = np.random.default_rng(13).uniform(-1, 1, (32, 8, 8, 3)).astype(np.float32)
    out = tmp_path / "p.gear"
    rep = gs.convert(
        model, out, gears=("fp32", "int8"), calibration=x, prune=gs.Prune(0.6), progress=False
    )
    enc = _fp32_encodings(out)
    assert "dense" not in enc.values(), enc
    assert not any("kept float32" in n for n in rep.gear("fp32").notes)
    f = gf.read_gear(out)
    bases = {
        f.manifest["storage"][e["base"]]["encoding"] for e in f.manifest["storage"] if "base" in e
    }
    assert bases & {"bitmap", "csr", "2:4"}  # q8r8 over a sparse base
