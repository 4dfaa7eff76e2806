"""converters/gear_reference.py: the whole-gear oracle on hand-built 1.1 files.

The q8/q4 gears are checked against an independent chain of quant_ref calls
(the plumbing: parameters, weights, attributes, op order) and, loosely,
against the float graph; the float gears against reference.py directly.
"""

from __future__ import annotations

import numpy as np
import pytest
from gear_bytes import Builder, add_all_gears, tiny_model

from gearshift import gear_codec
from gearshift import gear_format as gf
from gearshift.converters import quant_ref as qr
from gearshift.converters.gear_reference import run_gear, run_gear_int8
from gearshift.converters.ir import Graph, Node
from gearshift.converters.reference import run_graph


@pytest.fixture(scope="module")
def tiny():
    b, x = tiny_model()
    return b, x, gf.read_gear(b.bytes())


def test_float_gears(tiny):
    b, x, f = tiny
    want = run_graph(b.graph, x)["y"]
    np.testing.assert_array_equal(run_gear(f, "fp32", x)["y"], want)
    # fp16: weights from f16 storage, the other constants f32 storage rounded to half
    assert f.constants("fp16")["conv/w"].dtype == np.float16
    assert f.constants("fp16")["conv/b"].dtype == np.float32
    g16 = b.graph
    saved = {n: t.data for n, t in g16.tensors.items() if t.is_const}
    try:
        for n, v in saved.items():
            g16.tensors[n].data = qr.quantize_f16(v).astype(np.float32)
        want16 = run_graph(g16, x)["y"]
    finally:
        for n, v in saved.items():
            g16.tensors[n].data = v
    np.testing.assert_array_equal(run_gear(f, "fp16", x)["y"], want16)
    assert np.max(np.abs(want16 - want)) < 2e-3
    # fp32r: q8r4 weights, within the residual's error of fp32
    yr = run_gear(f, "fp32r", x)["y"]
    assert 0 < np.max(np.abs(yr - want)) < 5e-3


def _chain(b: Builder, f: gf.GearFile, gear: str, x: np.ndarray) -> np.ndarray:
    """The tiny graph's int8 gear, written out op by op with quant_ref."""
    acts = {n: qr.QParams.of(s, z) for n, (s, z) in f.activations(gear).items()}
    consts = f.constants(gear)
    st = f.constant_storage(gear)

    def wq(name: str) -> tuple[np.ndarray, qr.QParams]:
        q = f.storage_quant(st[name])
        if q.axis is None:
            return consts[name], qr.QParams.of(q.scale[0], int(q.zero_point[0]))
        return consts[name], qr.QParams.of(q.scale, q.zero_point, q.axis)

    xq = qr.quantize(x, acts["x"])
    w, wp = wq("conv/w")
    c = qr.q8_conv2d(
        xq, acts["x"], w, wp, consts["conv/b"], acts["c"], (1, 1), (1, 1), "SAME", "RELU"
    )
    w, wp = wq("dw/w")
    d = qr.q8_depthwise_conv2d(
        c, acts["c"], w, wp, consts["dw/b"], acts["d"], (2, 2), (1, 1), "SAME", "RELU6"
    )
    p = qr.q8_max_pool(d, acts["d"], acts["p"], (2, 2), (1, 1), "VALID")
    k, kp = wq("mul/k")
    m = qr.q8_mul(p, acts["p"], k, kp, acts["m"])
    mn = qr.q8_mean(m, acts["m"], acts["mn"], (1, 2), False)
    w, wp = wq("fc/w")
    fc = qr.q8_fully_connected(mn, acts["mn"], w, wp, consts["fc/b"], acts["f"])
    h = qr.q8_table_op(fc, acts["f"], acts["h"], "HARD_SWISH")
    cat = np.concatenate([h, h], axis=1)
    r = cat.reshape(-1, 2, 5)
    pd = qr.q8_pad(r, acts["r"], [[0, 0], [0, 0], [1, 0]])
    y = qr.q8_softmax(pd, acts["pd"], acts["y"], 1.0)
    return qr.dequantize(y, acts["y"])


@pytest.mark.parametrize("gear", ["int8", "int4"])
def test_integer_gears_match_the_chain(tiny, gear):
    b, x, f = tiny
    got = run_gear(f, gear, x)["y"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, _chain(b, f, gear, x))
    ints = run_gear_int8(f, gear, x)
    assert set(ints) == {n for n, t in b.graph.tensors.items() if not t.is_const}
    assert all(v.dtype == np.int8 for v in ints.values())


def test_int4_uses_the_q4m_view(tiny):
    _b, _x, f = tiny
    st = f.constant_storage("int4")
    base = f.manifest["storage"][st["conv/w"]]["base"]
    q = f.storage_values(base)
    np.testing.assert_array_equal(f.constants("int4")["conv/w"], gear_codec.q4m_values(q, 0))
    assert not np.array_equal(f.constants("int4")["conv/w"], f.constants("int8")["conv/w"])


def test_integer_gear_close_to_float(tiny):
    b, x, f = tiny
    want = run_graph(b.graph, x)["y"]
    assert np.max(np.abs(run_gear(f, "int8", x)["y"] - want)) < 0.05


def test_inputs_forms_and_errors(tiny):
    b, x, f = tiny
    data = b.bytes()
    ref = run_gear(f, "int8", x)["y"]
    np.testing.assert_array_equal(run_gear(data, "int8", {"x": x})["y"], ref)
    np.testing.assert_array_equal(run_gear(data, "int8", x[:1])["y"], ref[:1])
    with pytest.raises(ValueError, match="expected shape"):
        run_gear(f, "int8", x[:, :5])
    with pytest.raises(ValueError, match="expected inputs"):
        run_gear(f, "int8", {"z": x})
    with pytest.raises(ValueError, match="unknown gear"):
        run_gear(f, "int3", x)
    with pytest.raises(ValueError, match="not q8/q4"):
        run_gear_int8(f, "fp32", x)


# -- one op at a time: the oracle passes each op's parameters through unchanged -----
def _one_op(op: str, attrs: dict, shapes: list, out_shape: tuple, const: np.ndarray | None = None):
    g = Graph()
    names = []
    for i, s in enumerate(shapes):
        g.add_tensor(f"x{i}", s)
        names.append(f"x{i}")
    if const is not None:
        names.append(g.add_const("k", const))
    g.add_tensor("y", out_shape)
    g.add_node(Node("n", op, names, ["y"], attrs))
    g.inputs, g.outputs = [n for n in names if n.startswith("x")], ["y"]
    rng = np.random.default_rng(3)
    xs = {n: (rng.normal(size=(2, *s[1:])) * 2).astype(np.float32) for n, s in zip(names, shapes)}
    b = Builder(g)
    add_all_gears(b, xs)
    f = gf.read_gear(b.bytes())
    acts = {n: qr.QParams.of(s, z) for n, (s, z) in f.activations("int8").items()}
    qs = [qr.quantize(xs[n], acts[n]) for n in g.inputs]
    return f, xs, acts, qs


P4 = (-1, 4, 4, 3)
ONE_OP = [
    ("ADD", {"activation": "RELU"}, [P4, P4], P4, None,
     lambda q, a, c: qr.q8_add(q[0], a["x0"], q[1], a["x1"], a["y"], "RELU")),
    ("MUL", {"activation": "NONE"}, [P4], P4, np.array([0.5, -1.0, 2.0], np.float32),
     lambda q, a, c: qr.q8_mul(q[0], a["x0"], *c, a["y"])),
    ("AVERAGE_POOL_2D", {"filter": [3, 3], "stride": [2, 2], "padding": "SAME"}, [P4],
     (-1, 2, 2, 3), None,
     lambda q, a, c: qr.q8_avg_pool(q[0], a["x0"], a["y"], (3, 3), (2, 2), "SAME")),
    ("MEAN", {"axes": [1, 2], "keep_dims": True}, [P4], (-1, 1, 1, 3), None,
     lambda q, a, c: qr.q8_mean(q[0], a["x0"], a["y"], (1, 2), True)),
    ("RELU", {}, [P4], P4, None, lambda q, a, c: qr.q8_relu(q[0], a["x0"], a["y"], "RELU")),
    ("RELU6", {}, [P4], P4, None, lambda q, a, c: qr.q8_relu(q[0], a["x0"], a["y"], "RELU6")),
    ("RELU_N1_TO_1", {}, [P4], P4, None,
     lambda q, a, c: qr.q8_relu(q[0], a["x0"], a["y"], "RELU_N1_TO_1")),
    ("LOGISTIC", {}, [P4], P4, None,
     lambda q, a, c: qr.q8_table_op(q[0], a["x0"], a["y"], "LOGISTIC")),
    ("TANH", {}, [P4], P4, None, lambda q, a, c: qr.q8_table_op(q[0], a["x0"], a["y"], "TANH")),
    ("SOFTMAX", {"beta": 0.5}, [P4], P4, None,
     lambda q, a, c: qr.q8_softmax(q[0], a["x0"], a["y"], 0.5)),
    ("CONCATENATION", {"axis": 3, "activation": "RELU6"}, [P4, P4], (-1, 4, 4, 6), None,
     lambda q, a, c: qr.q8_concatenation(q, 3, a["y"], "RELU6")),
]  # fmt: skip


@pytest.mark.parametrize(("op", "attrs", "shapes", "out", "const", "kernel"), ONE_OP)
def test_single_ops(op, attrs, shapes, out, const, kernel):
    f, xs, acts, qs = _one_op(op, attrs, shapes, out, const)
    c = []
    if const is not None:
        s = f.constant_storage("int8")["k"]
        q = f.storage_quant(s)
        c = [f.storage_values(s), qr.QParams.of(q.scale[0], int(q.zero_point[0]))]
    want = kernel(qs, acts, c)
    got = run_gear_int8(f, "int8", xs)["y"]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(run_gear(f, "int8", xs)["y"], qr.dequantize(want, acts["y"]))
