"""Format 1.3's ops on the Python side: the float kernels of reference.py against
TensorFlow, a graph of every new op written, read back and run by the whole-gear
oracle (fp32 exact, int8/int4 close to float), and the reader's validation of
the new attributes (FORMAT.md "Ops added in 1.3")."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from gearshift import FormatError
from gearshift import gear_format as gf
from gearshift.converters import calibrate, gear_reference, quantize, reference, write_gear
from gearshift.converters.ir import Graph, Node

RNG = np.random.default_rng(1300)
X = RNG.normal(size=(3, 6, 5, 4)).astype(np.float32)


def _run(op: str, xs: list[np.ndarray], attrs: dict | None = None) -> np.ndarray:
    node = Node("n", op, [], ["y"], attrs or {})
    return np.asarray(reference._eval(node, xs), np.float32)


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.mark.parametrize(
    ("padding", "stride", "out"),
    [("SAME", 2, (12, 10)), ("VALID", 2, (13, 11)), ("SAME", 1, (6, 5)), ("VALID", 3, (19, 16))],
)
def test_transpose_conv_vs_tf(tf, padding, stride, out) -> None:
    w = RNG.normal(size=(7, 3, 3, 4)).astype(np.float32)  # [O, KH, KW, C]
    b = RNG.normal(size=(7,)).astype(np.float32)
    attrs = {"stride": [stride, stride], "padding": padding, "output_size": list(out)}
    got = _run("TRANSPOSE_CONV", [X, w, b], {**attrs, "activation": "RELU6"})
    want = tf.nn.conv2d_transpose(X, w.transpose(1, 2, 0, 3), [3, *out, 7], stride, padding)
    np.testing.assert_allclose(got, np.clip(want.numpy() + b, 0, 6), atol=2e-5)
    no_bias = _run("TRANSPOSE_CONV", [X, w, None], attrs)
    np.testing.assert_allclose(no_bias, want.numpy(), atol=2e-5)


def test_binary_ops_vs_tf(tf) -> None:
    b = (RNG.normal(size=(1, 1, 5, 4)) + 0.1).astype(np.float32)
    np.testing.assert_array_equal(_run("SUB", [X, b]), (X - b))
    np.testing.assert_array_equal(_run("DIV", [X, b]), tf.math.divide(X, b).numpy())
    np.testing.assert_array_equal(_run("MAXIMUM", [X, b]), tf.maximum(X, b).numpy())
    np.testing.assert_array_equal(_run("MINIMUM", [X, b]), tf.minimum(X, b).numpy())
    relu = _run("SUB", [X, b], {"activation": "RELU"})
    np.testing.assert_array_equal(relu, np.maximum(X - b, 0))
    z = np.array([1.0, -1.0, 0.0], np.float32)
    with np.errstate(all="ignore"):
        assert np.array_equal(
            _run("DIV", [z, np.zeros(3, np.float32)]), np.array([np.inf, -np.inf, np.nan]), True
        )


def test_leaky_relu_and_prelu_vs_tf(tf) -> None:
    np.testing.assert_array_equal(
        _run("LEAKY_RELU", [X], {"alpha": 0.2}), tf.nn.leaky_relu(X, 0.2).numpy()
    )
    alpha = RNG.uniform(0, 0.5, size=(1, 5, 4)).astype(np.float32)
    want = tf.nn.relu(X) - alpha * tf.nn.relu(-X)
    np.testing.assert_allclose(_run("PRELU", [X, alpha]), want.numpy(), rtol=1e-6, atol=1e-7)


FLAGS = [(False, False), (True, False), (False, True)]


@pytest.mark.parametrize(("align", "half"), FLAGS)
@pytest.mark.parametrize("size", [(11, 7), (3, 2), (1, 1)])
def test_resize_vs_tf(tf, align, half, size) -> None:
    attrs = {"size": list(size), "align_corners": align, "half_pixel_centers": half}
    want = tf.compat.v1.image.resize_bilinear(X, size, align_corners=align, half_pixel_centers=half)
    np.testing.assert_allclose(_run("RESIZE_BILINEAR", [X], attrs), want.numpy(), atol=2e-6)
    want = tf.compat.v1.image.resize_nearest_neighbor(
        X, size, align_corners=align, half_pixel_centers=half
    )
    np.testing.assert_array_equal(_run("RESIZE_NEAREST_NEIGHBOR", [X], attrs), want.numpy())


def test_value_moving_ops_vs_tf(tf) -> None:
    np.testing.assert_array_equal(
        _run("DEPTH_TO_SPACE", [X], {"block_size": 2}), tf.nn.depth_to_space(X, 2).numpy()
    )
    x6 = X[:, :, :4]
    np.testing.assert_array_equal(
        _run("SPACE_TO_DEPTH", [x6], {"block_size": 2}), tf.nn.space_to_depth(x6, 2).numpy()
    )
    d2s = _run("DEPTH_TO_SPACE", [X], {"block_size": 2})
    np.testing.assert_array_equal(_run("SPACE_TO_DEPTH", [d2s], {"block_size": 2}), X)
    np.testing.assert_array_equal(
        _run("TRANSPOSE", [X], {"perm": [0, 3, 1, 2]}), tf.transpose(X, [0, 3, 1, 2]).numpy()
    )
    sl = {"begin": [1, 0, 1], "end": [6, 4, 3], "strides": [2, 3, 1]}
    want = tf.strided_slice(X, [0, 1, 0, 1], [3, 6, 4, 3], [1, 2, 3, 1])
    np.testing.assert_array_equal(_run("SLICE", [X], sl), want.numpy())
    ga = {"axis": 2, "indices": [4, 0, 0, 2]}
    np.testing.assert_array_equal(_run("GATHER", [X], ga), tf.gather(X, [4, 0, 0, 2], axis=2))
    pads = [[0, 0], [1, 2], [0, 1], [3, 0]]
    want = tf.pad(X, pads, constant_values=-1.5)
    np.testing.assert_array_equal(_run("PAD", [X], {"paddings": pads, "value": -1.5}), want)
    np.testing.assert_array_equal(_run("QUANTIZE", [X]), X)


# -- a graph of every 1.3 op, written and run by the whole-gear oracle -------------------
def every_op_graph() -> Graph:
    rng = np.random.default_rng(1301)
    g = Graph()
    g.add_tensor("x", (-1, 6, 6, 4))
    g.inputs = ["x"]

    def add(op, ins, shape, attrs=None):
        name = op.lower()
        g.add_tensor(name, shape)
        g.add_node(Node(name, op, ins, [name], attrs or {}))
        return name

    w = g.add_const("tc/w", rng.normal(size=(5, 3, 3, 4)).astype(np.float32) * 0.3)
    b = g.add_const("tc/b", rng.normal(size=(5,)).astype(np.float32) * 0.1)
    tc = {"stride": [2, 2], "padding": "SAME", "output_size": [12, 12], "activation": "NONE"}
    t = add("TRANSPOSE_CONV", ["x", w, b], (-1, 12, 12, 5), tc)
    al = g.add_const("alpha", rng.uniform(0.1, 0.3, size=(1, 1, 5)).astype(np.float32))
    p = add("PRELU", [t, al], (-1, 12, 12, 5))
    rs = {"size": [8, 8], "align_corners": False, "half_pixel_centers": True}
    r = add("RESIZE_BILINEAR", [p], (-1, 8, 8, 5), rs)
    lr = add("LEAKY_RELU", [r], (-1, 8, 8, 5), {"alpha": 0.2})
    s = add("SUB", [lr, r], (-1, 8, 8, 5), {"activation": "NONE"})
    mx = add("MAXIMUM", [s, lr], (-1, 8, 8, 5))
    mn = add("MINIMUM", [mx, r], (-1, 8, 8, 5))
    sl = {"begin": [0, 0, 0], "end": [8, 8, 4], "strides": [2, 1, 1]}
    sc = add("SLICE", [mn], (-1, 4, 8, 4), sl)
    d2s = add("DEPTH_TO_SPACE", [sc], (-1, 8, 16, 1), {"block_size": 2})
    s2d = add("SPACE_TO_DEPTH", [d2s], (-1, 4, 8, 4), {"block_size": 2})
    tr = add("TRANSPOSE", [s2d], (-1, 8, 4, 4), {"perm": [0, 2, 1, 3]})
    ga = add("GATHER", [tr], (-1, 8, 4, 3), {"axis": 3, "indices": [2, 0, 1]})
    rn = {"size": [16, 8], "align_corners": True, "half_pixel_centers": False}
    nn = add("RESIZE_NEAREST_NEIGHBOR", [ga], (-1, 16, 8, 3), rn)
    pd = {"paddings": [[0, 0], [1, 1], [0, 0], [0, 0]], "value": 0.5}
    pad = add("PAD", [nn], (-1, 18, 8, 3), pd)
    q = add("QUANTIZE", [pad], (-1, 18, 8, 3))
    two = g.add_const("two", np.full((1,), 2.0, np.float32))
    add("DIV", [q, two], (-1, 18, 8, 3), {"activation": "RELU"})
    g.outputs = ["div"]
    return g


def test_every_op_graph_round_trip(tmp_path) -> None:
    g = every_op_graph()
    x = RNG.normal(size=(4, 6, 6, 4)).astype(np.float32)
    want = reference.run_graph(g, x, keep_all=True)
    plan = quantize.quantize_graph(g, calibrate.calibrate(g, [x], progress=False))
    # the value-moving ops share parameters; TRANSPOSE_CONV weights are per channel axis 0
    assert plan.activations["slice"] == plan.activations["gather"]
    assert plan.weights["tc/w"][1].axis == 0 and plan.biases["tc/b"][0].dtype == np.int32
    path = tmp_path / "all13.gear"
    # exact storage: the fp32 gear's weights are the graph's bit for bit
    write_gear.write_gear(g, path, gears=("fp32", "int8", "int4"), qplan=plan, storage="exact")
    f = gf.read_gear(path)
    assert f.version == (1, 6)  # binary params; in the JSON form 1.3 (the ops)
    np.testing.assert_array_equal(gear_reference.run_gear(f, "fp32", x)["div"], want["div"])
    q8 = gear_reference.run_gear_int8(f, "int8", x)
    acts = f.activations("int8")
    for name in ("transpose_conv", "prelu", "resize_bilinear", "gather", "pad", "div"):
        s, z = acts[name]
        err = np.abs((q8[name].astype(np.float64) - z) * s - want[name]) / s
        assert err.max() < 6, (name, err.max())  # error accumulated along the chain
    assert gear_reference.run_gear(f, "int4", x)["div"].shape == (4, 18, 8, 3)


def test_minor_version_follows_the_ops(tmp_path) -> None:
    g = Graph()
    g.add_tensor("x", (-1, 4))
    g.add_tensor("y", (-1, 6))
    g.add_node(Node("p", "PAD", ["x"], ["y"], {"paddings": [[0, 0], [1, 1]]}))
    g.inputs, g.outputs = ["x"], ["y"]
    write_gear.write_gear(g, tmp_path / "a.gear")
    assert gf.read_gear(tmp_path / "a.gear").version == (1, 0)
    g.nodes[0].attrs["value"] = 1.0
    write_gear.write_gear(g, tmp_path / "b.gear")
    assert gf.read_gear(tmp_path / "b.gear").version == (1, 3)


# -- reader validation ----------------------------------------------------------------
def _node_file(op, attrs, x_shape, y_shape, consts=()) -> bytes:
    g = Graph()
    g.add_tensor("x", tuple(x_shape))
    g.add_tensor("y", tuple(y_shape))
    ins = ["x"]
    for i, c in enumerate(consts):
        ins.append(None if c is None else g.add_const(f"c{i}", c))
    g.add_node(Node("n", op, ins, ["y"], attrs))
    g.inputs, g.outputs = ["x"], ["y"]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "n.gear"
        write_gear.write_gear(g, path)
        return path.read_bytes()


X4 = [-1, 6, 4, 8]
RS = {"size": [3, 2], "align_corners": False, "half_pixel_centers": False}
SL = {"begin": [0, 1, 2], "end": [6, 4, 8], "strides": [1, 2, 3]}


@pytest.mark.parametrize(
    ("op", "attrs", "ok"),
    [
        ("TRANSPOSE", {"perm": [0, 2, 1, 3]}, True),
        ("TRANSPOSE", {"perm": [1, 0, 2, 3]}, False),  # moves the batch
        ("TRANSPOSE", {"perm": [0, 2, 2, 3]}, False),
        ("TRANSPOSE", {"perm": [0, 2, 1]}, False),
        ("SLICE", SL, True),
        ("SLICE", {**SL, "end": [7, 4, 8]}, False),  # past the dimension
        ("SLICE", {**SL, "begin": [0, 4, 2]}, False),  # begin == end
        ("SLICE", {**SL, "strides": [1, 0, 1]}, False),
        ("SLICE", {**SL, "begin": [0, 1]}, False),  # rank-1 entries
        ("SLICE", {"begin": [0, 1, 2], "end": [6, 4, 8]}, False),  # missing strides
        ("GATHER", {"axis": 3, "indices": [7, 0]}, True),
        ("GATHER", {"axis": 3, "indices": [8]}, False),
        ("GATHER", {"axis": 0, "indices": [0]}, False),  # the batch
        ("GATHER", {"axis": 4, "indices": [0]}, False),
        ("GATHER", {"axis": 1, "indices": []}, False),
        ("DEPTH_TO_SPACE", {"block_size": 2}, True),
        ("DEPTH_TO_SPACE", {"block_size": 3}, False),  # 8 channels, not a multiple of 9
        ("SPACE_TO_DEPTH", {"block_size": 2}, True),
        ("SPACE_TO_DEPTH", {"block_size": 4}, False),  # H = 6
        ("SPACE_TO_DEPTH", {"block_size": 0}, False),
        ("RESIZE_BILINEAR", RS, True),
        ("RESIZE_BILINEAR", {**RS, "align_corners": True, "half_pixel_centers": True}, False),
        ("RESIZE_BILINEAR", {**RS, "size": [0, 2]}, False),
        ("RESIZE_BILINEAR", {"size": [3, 2], "align_corners": False}, False),
        ("RESIZE_NEAREST_NEIGHBOR", {**RS, "align_corners": 1}, False),
        ("LEAKY_RELU", {"alpha": 0.1}, True),
        ("LEAKY_RELU", {"alpha": "0.1"}, False),
        ("LEAKY_RELU", {}, False),
        ("QUANTIZE", {}, True),
        ("QUANTIZE", {"activation": "RELU"}, False),
        ("PAD", {"paddings": [[0, 0]] * 4, "value": -2.5}, True),
        ("PAD", {"paddings": [[0, 0]] * 4, "value": "1"}, False),
        ("PAD", {"paddings": [[0, 0]] * 4, "value": 1e39}, False),
    ],
)
def test_attr_checks(op, attrs, ok) -> None:
    data = _node_file(op, attrs, X4, [-1, 1])
    if ok:
        gf.read_gear(data)
    else:
        with pytest.raises(FormatError, match=r"^nodes\[0\]"):  # names the node
            gf.read_gear(data)


def test_resize_needs_rank_4() -> None:
    with pytest.raises(FormatError, match="rank 4"):
        gf.read_gear(_node_file("RESIZE_BILINEAR", RS, [-1, 6, 4], [-1, 1]))


def _tconv(x_shape, w_shape, b_shape, attrs=None) -> bytes:
    a = attrs or {"stride": [2, 2], "padding": "SAME", "output_size": [12, 8]}
    w = np.ones(w_shape, np.float32)
    b = None if b_shape is None else np.ones(b_shape, np.float32)
    return _node_file("TRANSPOSE_CONV", a, x_shape, [-1, 12, 8, 3], [w, b])


def test_transpose_conv_checks() -> None:
    gf.read_gear(_tconv(X4, (3, 3, 3, 8), (3,)))
    gf.read_gear(_tconv(X4, (3, 3, 3, 8), None))  # the bias is optional
    for bad, why in [
        (_tconv(X4, (3, 3, 3, 4), (3,)), "input channels"),
        (_tconv(X4, (3, 3, 3, 8), (4,)), "bias shape"),
        (_tconv([-1, 6, 8], (3, 3, 3, 8), (3,)), "rank 4"),
        (_tconv(X4, (3, 3, 3, 8), (3,), {"stride": [2, 2], "padding": "SAME"}), "output_size"),
        (
            _tconv(
                X4, (3, 3, 3, 8), (3,), {"stride": [2, 2], "padding": "SAME", "output_size": [0, 8]}
            ),
            "output_size",
        ),
    ]:
        with pytest.raises(FormatError, match=why):
            gf.read_gear(bad)


def test_prelu_alpha_checks() -> None:
    gf.read_gear(_node_file("PRELU", {}, X4, [-1, 1], [np.ones((1, 1, 8), np.float32)]))
    with pytest.raises(FormatError, match="broadcast"):
        gf.read_gear(_node_file("PRELU", {}, X4, [-1, 1], [np.ones((3,), np.float32)]))
    with pytest.raises(FormatError, match=r"PRELU takes 2 inputs, found 1"):
        gf.read_gear(_node_file("PRELU", {}, X4, [-1, 1]))


def test_tied_ops_are_checked_in_int8(tmp_path) -> None:
    g = every_op_graph()
    x = RNG.normal(size=(2, 6, 6, 4)).astype(np.float32)
    plan = quantize.quantize_graph(g, calibrate.calibrate(g, [x], progress=False))
    from gearshift.converters.quant_ref import QParams

    plan.activations["gather"] = QParams.of(np.float32(plan.activations["gather"].scale) * 2, 0)
    write_gear.write_gear(g, tmp_path / "t.gear", gears=("int8",), qplan=plan)
    with pytest.raises(FormatError, match="GATHER"):
        gf.read_gear(tmp_path / "t.gear")
