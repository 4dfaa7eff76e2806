"""Float islands (FORMAT.md 1.5): nodes of an integer gear computed in float32.

The C++ runtime against the numpy oracle (converters/gear_reference.py) on the tiny graph
with islands at the start, in the middle and at the end, in int8 and int4, exact and
compact storage, reference and dispatched kernels: every int8 tensor bit for bit, every
float tensor and output within float32 rounding. Both readers refuse bad ``float_nodes``
with a message naming the field; a file without islands is what it was (minor version,
bytes); the sensitivity-driven choice keeps a deliberately fragile layer in float.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gear_bytes import tiny_graph
from test_reader_parity import reader_verdict, rebuild, runtime_verdict

import gearshift as gs
from gearshift import gear_format as gf
from gearshift.converters.calibrate import calibrate
from gearshift.converters.gear_reference import run_gear, run_gear_int8
from gearshift.converters.ir import Graph, Node
from gearshift.converters.islands import (
    candidates,
    choose_float_layers,
    choose_float_tail,
    close_islands,
    heads,
    tail,
)
from gearshift.converters.quantize import quantize_graph
from gearshift.converters.reference import run_graph
from gearshift.converters.write_gear import write_gear

ISLANDS = {
    "start": ("conv",),
    "middle": ("mul", "mean"),
    "middle_dw": ("dw", "pool"),
    "end": ("softmax",),
    "start_and_end": ("conv", "fc", "hs", "cat", "reshape", "pad", "softmax"),
}


@pytest.fixture(scope="module")
def tiny():
    g = tiny_graph()
    x = np.random.default_rng(1).normal(size=(16, 6, 6, 2)).astype(np.float32)
    qplan = quantize_graph(g, calibrate(g, [{"x": x}], progress=False, warn=False))
    return g, x, qplan


def _write(tiny, path: Path, islands, storage: str = "exact") -> Path:
    g, _, qplan = tiny
    write_gear(g, path, ("fp32", "int8", "int4"), storage=storage, qplan=qplan, float_nodes=islands)
    return path


@pytest.mark.parametrize("storage", ["exact", "compact"])
@pytest.mark.parametrize("where", list(ISLANDS))
def test_runtime_matches_oracle(tiny, tmp_path, where, storage):
    _, x, _ = tiny
    path = _write(tiny, tmp_path / "t.gear", ISLANDS[where], storage)
    f = gf.read_gear(path)
    for gear in ("int8", "int4"):
        g = f.gear(gear)
        assert g["compute"] == ("q8+f32" if gear == "int8" else "q4+f32")
        names = [n["name"] for n in f.manifest["nodes"]]
        assert [names[k] for k in g["float_nodes"]] == list(ISLANDS[where])
        want = run_gear_int8(f, gear, x)
        acts = f.activations(gear)
        for isa in ("ref", None):
            rt = gs.Runtime(path, gear=gear, keep_tensors=True, **({"isa": isa} if isa else {}))
            y = rt.run(x)
            np.testing.assert_allclose(y, run_gear(f, gear, x)["y"], rtol=1e-5, atol=1e-6)
            for name, v in want.items():
                if name == "x":
                    continue
                got = rt.read_tensor(name)
                if v.dtype == np.int8:  # integer tensors: bit for bit
                    s, z = acts[name]
                    q = np.round(got.astype(np.float64) / np.float32(s)) + z
                    np.testing.assert_array_equal(q, v, err_msg=f"{gear} {isa} {name}")
                else:
                    np.testing.assert_allclose(got, v, rtol=1e-5, atol=1e-6, err_msg=name)


def test_islands_change_the_integer_gear_only(tiny, tmp_path):
    """The fp32 gear is unchanged; an island's weights are the fp32 gear's own entries."""
    _, x, _ = tiny
    plain = _write(tiny, tmp_path / "plain.gear", ())
    isl = _write(tiny, tmp_path / "isl.gear", ISLANDS["start_and_end"])
    a, b = gs.Runtime(plain), gs.Runtime(isl)
    np.testing.assert_array_equal(a.run(x), b.run(x))
    f = gf.read_gear(isl)
    fp32 = dict(map(tuple, f.gear("fp32")["constants"]))
    for t, s in f.gear("int8")["constants"]:
        if f.manifest["storage"][s]["dtype"] == "f32":
            assert fp32[t] == s
    # the float head moves the int8 output towards the float model
    ref = run_graph(tiny[0], x)["y"]
    a.gear = b.gear = "int8"
    assert np.abs(b.run(x) - ref).mean() < np.abs(a.run(x) - ref).mean()


def test_files_without_islands_are_unchanged(tiny, tmp_path):
    p1 = _write(tiny, tmp_path / "a.gear", ())
    f = gf.read_gear(p1)
    assert f.header.version_minor == 6  # binary params (1.6); no island
    assert all(g["compute"] in ("f32", "q8", "q4") for g in f.manifest["gears"])
    assert all("float_nodes" not in g for g in f.manifest["gears"])
    g, _, qplan = tiny
    p2 = tmp_path / "b.gear"
    write_gear(g, p2, ("fp32", "int8", "int4"), storage="exact", qplan=qplan)
    assert p1.read_bytes() == p2.read_bytes()
    # In the JSON form (what 1.5 writers wrote) the lowest minor: 1 without islands, 5 with.
    write_gear(g, p2, ("fp32", "int8", "int4"), storage="exact", qplan=qplan, binary=False)
    assert gf.read_gear(p2).header.version_minor == 1
    c = tmp_path / "c.gear"
    write_gear(
        g, c, ("fp32", "int8"), storage="exact", qplan=qplan, float_nodes=("conv",), binary=False
    )
    assert gf.read_gear(c).header.version_minor == 5


def _edit(path: Path, change) -> bytes:
    base = gf.read_gear(path)
    m = json.loads(bytes(base.section_bytes(0)))
    change(m)
    return rebuild(base, json.dumps(m).encode())


def _int8(m):
    return next(g for g in m["gears"] if g["name"] == "int8")


def _node(m, name):
    return next(k for k, n in enumerate(m["nodes"]) if n["name"] == name)


HOSTILE = {
    "float_nodes on a q8 gear": (
        lambda m: _int8(m).update(compute="q8"),
        "float_nodes",
    ),
    "q8+f32 without float_nodes": (lambda m: _int8(m).pop("float_nodes"), "float_nodes"),
    "empty float_nodes": (lambda m: _int8(m).update(float_nodes=[]), "float_nodes"),
    "index out of range": (lambda m: _int8(m).update(float_nodes=[0, 99]), "float_nodes"),
    "not increasing": (lambda m: _int8(m).update(float_nodes=[0, 0]), "float_nodes"),
    "not an integer": (lambda m: _int8(m).update(float_nodes=["conv"]), "float_nodes"),
    "float node with int8 weights": (
        lambda m: _int8(m).update(float_nodes=[_node(m, "conv"), _node(m, "dw")]),
        "dw/w",
    ),
    "int8 node with float weights": (
        lambda m: _int8(m).update(float_nodes=[_node(m, "dw")]),
        "conv/w",
    ),
    "unknown compute token": (lambda m: _int8(m).update(compute="q8+f16"), "q8+f16"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_both_readers_refuse_bad_islands(tiny, tmp_path, case):
    good = _write(tiny, tmp_path / "good.gear", ("conv",))
    change, word = HOSTILE[case]
    data = _edit(good, change)
    bad = tmp_path / "bad.gear"
    bad.write_bytes(data)
    rt, rd = runtime_verdict(bad), reader_verdict(data)
    assert rt is not None and word in rt, rt
    assert rd == rt  # read_gear refuses with the runtime's message


def test_close_islands_follows_the_heads():
    """A float head's reshape and concatenation join it (else quantized again); a
    weighted layer never joins by itself."""
    g = tiny_graph()
    assert close_islands(g, ["fc"]) == ["fc", "hs", "cat", "reshape", "pad", "softmax"]
    assert close_islands(g, ["conv"]) == ["conv"]  # dw has weights: stays int8
    assert close_islands(g, ["dw"]) == ["dw", "pool", "mul", "mean"]


def test_heads_and_candidates():
    g = tiny_graph()
    assert candidates(g) == ["conv", "dw", "fc"]
    assert heads(g) == ["fc"]  # the last weighted layer
    # a layer whose constant another node reads is no candidate (it could not be float alone)
    g.nodes[3].inputs[1] = "fc/b"  # MUL reads the FC's bias
    assert candidates(g) == ["conv", "dw"]


def _fragile_graph() -> Graph:
    """x -> conv a -> conv b -> y, where b's output has one channel 500x the others: its
    int8 output range crushes the small channels, so b alone in float fixes most error."""
    rng = np.random.default_rng(3)
    g = Graph()
    g.add_tensor("x", (-1, 8, 8, 3))
    for t in ("a", "y"):
        g.add_tensor(t, (-1, 8, 8, 4))
    wa = g.add_const("a/w", rng.normal(size=(4, 3, 3, 3)).astype(np.float32) * 0.3)
    wb = rng.normal(size=(4, 1, 1, 4)).astype(np.float32) * 0.3
    wb[0] *= 500.0
    wb = g.add_const("b/w", wb)
    conv = {"stride": [1, 1], "dilation": [1, 1], "padding": "SAME", "activation": "NONE"}
    g.add_node(Node("a", "CONV_2D", ["x", wa, None], ["a"], dict(conv)))
    g.add_node(Node("b", "CONV_2D", ["a", wb, None], ["y"], dict(conv)))
    g.inputs, g.outputs = ["x"], ["y"]
    g.validate(format_only=True)
    return g


def test_auto_choice_keeps_the_fragile_layer_in_float():
    g = _fragile_graph()
    x = np.random.default_rng(4).normal(size=(32, 8, 8, 3)).astype(np.float32)
    qplan = quantize_graph(g, calibrate(g, [{"x": x}], progress=False, warn=False))
    ref = [run_graph(g, x)["y"]]
    choice = choose_float_layers(g, qplan, [x], ref, budget=1)
    assert choice.layers == ["b"], choice
    assert choice.error_islands < 0.2 * choice.error_int8
    assert choice.gains["b"] > 10 * max(choice.gains["a"], 0.0)
    assert "b" in choice.note()


def test_heads_plus_auto_starts_from_the_heads():
    """float_layers="heads+auto": the heads stay in float whatever the search finds, and
    the budget counts only the layers it adds."""
    g = _fragile_graph()
    x = np.random.default_rng(4).normal(size=(32, 8, 8, 3)).astype(np.float32)
    qplan = quantize_graph(g, calibrate(g, [{"x": x}], progress=False, warn=False))
    ref = [run_graph(g, x)["y"]]
    assert heads(g) == ["b"]
    choice = choose_float_layers(g, qplan, [x], ref, budget=1, start=heads(g))
    assert "b" in choice.layers and "b" not in choice.gains  # fixed, not a candidate
    assert set(choice.gains) == {"a"}
    alone = choose_float_layers(g, qplan, [x], ref, budget=1)
    assert choice.error_int8 == pytest.approx(alone.error_islands)  # measured with b in float


def test_convert_float_layers(tmp_path):
    """gs.convert(float_layers=[...]): the named layer (and the weightless tail after it)
    computes in float in the int8 gear, reported; unknown names are refused by name."""
    keras = pytest.importorskip("keras")
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            layers.Conv2D(4, 3, activation="relu", name="body"),
            layers.Flatten(name="flat"),
            layers.Dense(3, name="head"),
            layers.Softmax(name="probs"),
        ]
    )
    x = np.random.default_rng(5).standard_normal((32, 8, 8, 2)).astype(np.float32)
    out = tmp_path / "m.gear"
    report = gs.convert(
        model, out, gears=("fp32", "int8"), calibration=x, progress=False, float_layers=["head"]
    )
    assert report.float_layers[0] == "head" and "body" not in report.float_layers
    assert any("float islands: head" in n for n in report.gear("int8").notes)
    rt = gs.Runtime(out, gear="int8")
    assert rt.gear_info["int8"]["compute"] == "q8+f32"
    np.testing.assert_allclose(
        rt.run(x), run_gear(gf.read_gear(out), "int8", x)["probs"], rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"no layer named.*'nope'"):
        gs.convert(
            model, out, gears=("int8",), calibration=x, progress=False, float_layers=["nope"]
        )


def _residual_graph() -> Graph:
    """x -> conv a -> dw b -> conv c -> add(a, c) -> conv head -> y: the add's skip input
    comes from before any cut after ``a``."""
    rng = np.random.default_rng(6)
    g = Graph()
    g.add_tensor("x", (-1, 6, 6, 3))
    for t in ("a", "b", "c", "r"):
        g.add_tensor(t, (-1, 6, 6, 4))
    g.add_tensor("y", (-1, 6, 6, 2))
    conv = {"stride": [1, 1], "dilation": [1, 1], "padding": "SAME", "activation": "NONE"}
    dw = {**conv, "depth_multiplier": 1}

    def const(name: str, shape: tuple[int, ...]) -> str:
        return g.add_const(name, (rng.normal(size=shape) * 0.4).astype(np.float32))

    g.add_node(Node("a", "CONV_2D", ["x", const("a/w", (4, 3, 3, 3)), None], ["a"],
                    {**conv, "activation": "RELU"}))  # fmt: skip
    g.add_node(Node("b", "DEPTHWISE_CONV_2D", ["a", const("b/w", (1, 3, 3, 4)), None], ["b"], dw))
    g.add_node(Node("c", "CONV_2D", ["b", const("c/w", (4, 1, 1, 4)), None], ["c"], dict(conv)))
    g.add_node(Node("add", "ADD", ["a", "c"], ["r"], {"activation": "NONE"}))
    g.add_node(Node("head", "CONV_2D", ["r", const("h/w", (2, 1, 1, 4)), None], ["y"], dict(conv)))
    g.inputs, g.outputs = ["x"], ["y"]
    g.validate(format_only=True)
    return g


def test_a_float_tail_keeps_the_residual_stream_float():
    """Islands over single layers leave an add with an int8 skip input integer (its output
    is rounded to int8 again); a tail takes every node after the cut, that add included."""
    g = _residual_graph()
    assert heads(g) == ["head"]
    assert "add" not in close_islands(g, ["b", "c", "head"])
    assert tail(g, "b") == ["b", "c", "add", "head"]
    assert tail(g, "head") == ["head"]


def test_float_tail_matches_the_oracle(tmp_path):
    g = _residual_graph()
    x = np.random.default_rng(7).normal(size=(8, 6, 6, 3)).astype(np.float32)
    qplan = quantize_graph(g, calibrate(g, [{"x": x}], progress=False, warn=False))
    path = tmp_path / "t.gear"
    write_gear(g, path, ("fp32", "int8"), storage="exact", qplan=qplan, float_nodes=tail(g, "b"))
    f = gf.read_gear(path)
    want = run_gear_int8(f, "int8", x)
    acts = f.activations("int8")
    for isa in ("ref", None):
        rt = gs.Runtime(path, gear="int8", keep_tensors=True, **({"isa": isa} if isa else {}))
        np.testing.assert_allclose(rt.run(x), run_gear(f, "int8", x)["y"], rtol=1e-5, atol=1e-6)
        s, z = acts["a"]  # the int8 tensor before the cut: bit for bit
        q = np.round(rt.read_tensor("a").astype(np.float64) / np.float32(s)) + z
        np.testing.assert_array_equal(q, want["a"])


def test_float_tail_choice_measures_each_cut_within_the_budget():
    g = _residual_graph()
    x = np.random.default_rng(8).normal(size=(32, 6, 6, 3)).astype(np.float32)
    qplan = quantize_graph(g, calibrate(g, [{"x": x}], progress=False, warn=False))
    ref = [run_graph(g, x)["y"]]
    one = choose_float_tail(g, qplan, [x], ref, budget=1)
    assert set(one.gains) == {"c"}  # tail(c) holds c besides the head; tail(b) b and c
    three = choose_float_tail(g, qplan, [x], ref, budget=3)
    assert set(three.gains) == {"a", "b", "c"}
    assert three.error_islands == pytest.approx(
        min(three.error_int8 - gain for gain in three.gains.values())
    )
    assert three.error_islands <= three.error_int8
    assert three.layers == tail(g, three.cut) and "float tail" in three.note()
    with pytest.raises(ValueError, match="float_budget"):
        choose_float_tail(g, qplan, [x], ref, budget=0)


def test_convert_float_tail(tmp_path):
    keras = pytest.importorskip("keras")
    layers = keras.layers
    inp = keras.Input((8, 8, 2))
    a = layers.Conv2D(4, 3, padding="same", activation="relu", name="a")(inp)
    c = layers.Conv2D(4, 1, name="c")(layers.DepthwiseConv2D(3, padding="same", name="b")(a))
    r = layers.Add(name="add")([a, c])
    model = keras.Model(inp, layers.Conv2D(2, 1, name="head")(r))
    x = np.random.default_rng(9).standard_normal((32, 8, 8, 2)).astype(np.float32)
    out = tmp_path / "m.gear"
    report = gs.convert(
        model, out, gears=("fp32", "int8"), calibration=x, progress=False,
        float_layers="tail", float_budget=1,
    )  # fmt: skip
    note = " ".join(report.gear("int8").notes)
    assert "float tail" in note, note
    assert report.float_layers[-1] == "head" and "a" not in report.float_layers
    np.testing.assert_allclose(
        gs.Runtime(out, gear="int8").run(x),
        run_gear(gf.read_gear(out), "int8", x)["head"],
        rtol=1e-5,
        atol=1e-6,
    )
