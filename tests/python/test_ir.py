"""IR invariants, graph passes on hand-built graphs, and the reference interpreter's ops.

No TensorFlow needed: graphs are built by hand and the expected values come
from plain formulas.
"""

from __future__ import annotations

import numpy as np
import pytest

from gearshift.converters import reference
from gearshift.converters.ir import Graph, IRError, Node, bypass
from gearshift.converters.passes import run_passes
from gearshift.converters.passes.drop_noops import drop_noops
from gearshift.converters.passes.fold_batchnorm import fold_batchnorm
from gearshift.converters.passes.fuse_activation import fuse_activation

RNG = np.random.default_rng(0)


def rnd(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def conv_bn_graph(act_between: bool = False, extra_consumer: bool = False) -> Graph:
    """x -> CONV_2D -> [RELU] -> BATCH_NORM -> out (optionally conv output also read)."""
    g = Graph()
    g.add_tensor("x", (-1, 5, 5, 2))
    g.inputs = ["x"]
    w = g.add_const("w", rnd(3, 3, 3, 2))
    b = g.add_const("b", rnd(3))
    g.add_tensor("c", (-1, 5, 5, 3))
    attrs = {"stride": [1, 1], "dilation": [1, 1], "padding": "SAME", "activation": "NONE"}
    g.add_node(Node("conv", "CONV_2D", ["x", w, b], ["c"], attrs))
    src = "c"
    if act_between:
        g.add_tensor("r", (-1, 5, 5, 3))
        g.add_node(Node("relu", "RELU", ["c"], ["r"]))
        src = "r"
    bn = [g.add_const(n, v) for n, v in [("gamma", rnd(3)), ("beta", rnd(3)), ("mean", rnd(3))]]
    var = g.add_const("var", RNG.uniform(0.5, 2.0, 3))
    g.add_tensor("y", (-1, 5, 5, 3))
    g.add_node(Node("bn", "BATCH_NORM", [src, *bn, var], ["y"], {"epsilon": 1e-3}))
    g.outputs = ["y"]
    if extra_consumer:
        g.add_tensor("z", (-1, 5, 5, 3))
        g.add_node(Node("relu2", "RELU", [src], ["z"]))
        g.outputs = ["y", "z"]
    g.validate()
    return g


def test_validate_catches_errors():
    g = conv_bn_graph()
    g.nodes.reverse()
    with pytest.raises(IRError, match="used before it is produced"):
        g.validate()
    g = conv_bn_graph()
    with pytest.raises(IRError, match="cannot be written"):
        g.validate(format_only=True)  # BATCH_NORM is IR-only
    g = conv_bn_graph()
    g.outputs = ["nope"]
    with pytest.raises(IRError, match="never produced"):
        g.validate()
    g = conv_bn_graph()
    g.nodes[0].attrs["activation"] = "GELU"
    with pytest.raises(IRError, match="unknown activation"):
        g.validate()
    with pytest.raises(IRError, match="data shape"):
        Graph().add_tensor("t", (2, 2), np.zeros((4,), np.float32))


def test_unique_names_and_queries():
    g = conv_bn_graph()
    assert g.unique_name("conv") == "conv_1"
    assert g.unique_name("conv", among="tensors") == "conv"
    assert g.unique_name("c", among="nodes") == "c"
    assert g.producer("c").name == "conv"
    assert [n.name for n in g.consumers("c")] == ["bn"]
    assert g.op_counts() == {"CONV_2D": 1, "BATCH_NORM": 1}
    assert {t.name for t in g.constants()} == {"w", "b", "gamma", "beta", "mean", "var"}


def test_fold_batchnorm_folds_into_conv():
    g = conv_bn_graph()
    x = rnd(2, 5, 5, 2)
    before = reference.run(g, x)
    res = fold_batchnorm(g)
    assert res.count == 1 and "folded" in res.changes[0]
    assert g.op_counts() == {"CONV_2D": 1}
    assert g.outputs == ["y"] and g.nodes[0].outputs == ["y"]
    assert "gamma" not in g.tensors and "w" not in g.tensors  # old constants pruned
    np.testing.assert_allclose(reference.run(g, x), before, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("act_between,extra", [(True, False), (False, True)])
def test_fold_batchnorm_lowers_when_not_foldable(act_between, extra):
    g = conv_bn_graph(act_between, extra)
    x = rnd(2, 5, 5, 2)
    before = reference.run_graph(g, x)
    res = fold_batchnorm(g)
    assert "lowered" in res.changes[0]
    counts = g.op_counts()
    assert counts["MUL"] == 1 and counts["ADD"] == 1 and "BATCH_NORM" not in counts
    after = reference.run_graph(g, x)
    for k in before:
        np.testing.assert_allclose(after[k], before[k], rtol=1e-5, atol=1e-5)


def test_fuse_activation_rules():
    g = conv_bn_graph(act_between=True)
    fold_batchnorm(g)  # lowered: conv -> relu -> mul -> add
    res = fuse_activation(g)
    assert res.count == 1
    assert g.nodes[0].attrs["activation"] == "RELU" and "RELU" not in g.op_counts()
    # not fused when the un-activated value is needed elsewhere
    g = conv_bn_graph(act_between=True)
    g.add_tensor("z", (-1, 5, 5, 3))
    g.add_node(Node("relu6", "RELU6", ["c"], ["z"]))
    g.outputs.append("z")
    assert fuse_activation(g).count == 0


def test_fuse_activation_keeps_graph_output():
    g = Graph()
    g.add_tensor("a", (-1, 4))
    g.add_tensor("b", (-1, 4))
    g.add_tensor("s", (-1, 4))
    g.add_tensor("r", (-1, 4))
    g.inputs = ["a", "b"]
    g.add_node(Node("add", "ADD", ["a", "b"], ["s"], {"activation": "NONE"}))
    g.add_node(Node("relu6", "RELU6", ["s"], ["r"]))
    g.outputs = ["s", "r"]
    assert fuse_activation(g).count == 0
    g.outputs = ["r"]
    assert fuse_activation(g).count == 1
    assert g.nodes[0].outputs == ["r"] and g.nodes[0].attrs["activation"] == "RELU6"


def test_drop_noops_and_bypass():
    g = Graph()
    g.add_tensor("x", (-1, 2, 3))
    g.inputs = ["x"]
    for name in ("i1", "r", "i2"):
        g.add_tensor(name, (-1, 2, 3))
    g.add_node(Node("i1", "IDENTITY", ["x"], ["i1"]))
    g.add_node(Node("r", "RESHAPE", ["i1"], ["r"], {"shape": [2, 3]}))
    g.add_node(Node("i2", "IDENTITY", ["r"], ["i2"]))
    g.outputs = ["i2"]
    res = drop_noops(g)
    # an input that is directly an output keeps one same-shape RESHAPE
    assert g.op_counts() == {"RESHAPE": 1}
    assert g.outputs == ["i2"] and g.nodes[0].inputs == ["x"]
    assert res.count == 3
    g.validate(format_only=True)
    assert bypass(g, g.nodes[0]) is False


def test_run_passes_validates_after_each():
    g = conv_bn_graph(act_between=True)
    results = run_passes(g)
    assert [r.name for r in results] == ["drop_noops", "fold_batchnorm", "fuse_activation"]
    g.validate(format_only=True)


# ---------------------------------------------------------------------------
# reference interpreter vs formulas
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size,k,s,d,padding,expected",
    [
        (7, 3, 2, 1, "SAME", (4, 1, 1)),
        (8, 3, 2, 1, "SAME", (4, 0, 1)),
        (7, 3, 1, 2, "SAME", (7, 2, 2)),
        (7, 3, 2, 1, "VALID", (3, 0, 0)),
        (9, 3, 1, 2, "VALID", (5, 0, 0)),
        (1, 2, 2, 1, "SAME", (1, 0, 1)),
    ],
)
def test_same_padding(size, k, s, d, padding, expected):
    assert reference.same_padding(size, k, s, d, padding) == expected


def _single(op: str, x: np.ndarray, out_shape, attrs=None, consts=()) -> np.ndarray:
    g = Graph()
    g.add_tensor("x", (-1, *x.shape[1:]))
    g.inputs = ["x"]
    names = [c if c is None else g.add_const(f"c{i}", c) for i, c in enumerate(consts)]
    g.add_tensor("y", out_shape)
    g.add_node(Node("n", op, ["x", *names], ["y"], attrs or {}))
    g.outputs = ["y"]
    g.validate(format_only=True)
    return reference.run(g, x)


def test_reference_conv_matches_naive_loops():
    x, w, b = rnd(1, 6, 5, 2), rnd(3, 2, 3, 2), rnd(3)
    attrs = {"stride": [2, 1], "dilation": [1, 2], "padding": "SAME", "activation": "RELU"}
    y = _single("CONV_2D", x, (-1, 3, 5, 3), attrs, (w, b))
    # naive: out = ceil(6/2)=3 rows (ek=2, total=max((3-1)*2+2-6,0)=0), cols ek=5, pad 2/2
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (0, 0)))
    ref = np.zeros((1, 3, 5, 3))
    for oy in range(3):
        for ox in range(5):
            for o in range(3):
                acc = b[o]
                for i in range(2):
                    for j in range(3):
                        acc += xp[0, oy * 2 + i, ox + j * 2, :] @ w[o, i, j, :]
                ref[0, oy, ox, o] = max(acc, 0)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_reference_depthwise_channel_order():
    x, w = rnd(1, 4, 4, 2), rnd(1, 3, 3, 4)
    attrs = {"stride": [1, 1], "dilation": [1, 1], "padding": "VALID", "depth_multiplier": 2}
    y = _single("DEPTHWISE_CONV_2D", x, (-1, 2, 2, 4), attrs, (w, None))
    for c in range(2):
        for m in range(2):
            ref = sum(
                x[0, i : i + 2, j : j + 2, c] * w[0, i, j, c * 2 + m]
                for i in range(3)
                for j in range(3)
            )
            np.testing.assert_allclose(y[0, :, :, c * 2 + m], ref, rtol=1e-5, atol=1e-5)


def test_reference_pools_ignore_padding():
    x = rnd(1, 3, 3, 1)
    attrs = {"filter": [2, 2], "stride": [2, 2], "padding": "SAME", "activation": "NONE"}
    avg = _single("AVERAGE_POOL_2D", x, (-1, 2, 2, 1), attrs)
    assert np.isclose(avg[0, 1, 1, 0], x[0, 2, 2, 0])  # a window with one real position
    assert np.isclose(avg[0, 0, 1, 0], x[0, 0:2, 2, 0].mean())
    mx = _single("MAX_POOL_2D", -np.abs(x), (-1, 2, 2, 1), attrs)
    assert np.isclose(mx[0, 1, 1, 0], -abs(x[0, 2, 2, 0]))  # padding (0) is not a candidate


def test_reference_elementwise_ops():
    x = rnd(2, 3, 4) * 4
    np.testing.assert_allclose(_single("RELU_N1_TO_1", x, (-1, 3, 4)), np.clip(x, -1, 1))
    np.testing.assert_allclose(
        _single("HARD_SWISH", x, (-1, 3, 4)), x * np.clip(x + 3, 0, 6) / 6, rtol=1e-6
    )
    np.testing.assert_allclose(_single("LOGISTIC", x, (-1, 3, 4)), 1 / (1 + np.exp(-x)), rtol=1e-6)
    big = np.array([[-1000.0, 0.0, 1000.0]], np.float32)
    np.testing.assert_allclose(_single("LOGISTIC", big, (-1, 3)), [[0.0, 0.5, 1.0]])
    sm = _single("SOFTMAX", x, (-1, 3, 4), {"beta": 2.0})
    e = np.exp(2 * x - (2 * x).max(-1, keepdims=True))
    np.testing.assert_allclose(sm, e / e.sum(-1, keepdims=True), rtol=1e-5)
    m = _single("MEAN", x, (-1, 4), {"axes": [1], "keep_dims": False})
    np.testing.assert_allclose(m, x.mean(1), rtol=1e-5, atol=1e-6)
    r = _single("RESHAPE", x, (-1, 2, 6), {"shape": [2, -1]})
    np.testing.assert_array_equal(r, x.reshape(2, 2, 6))
    p = _single("PAD", x, (-1, 4, 6), {"paddings": [[0, 0], [1, 0], [0, 2]]})
    assert p.shape == (2, 4, 6) and p[:, 0].sum() == 0 and p[:, :, 4:].sum() == 0
    w, b = rnd(5, 4), rnd(5)
    fc = _single("FULLY_CONNECTED", x, (-1, 3, 5), {"activation": "NONE"}, (w, b))
    np.testing.assert_allclose(fc, x @ w.T + b, rtol=1e-5, atol=1e-5)
    c = rnd(4)
    mul = _single("MUL", x, (-1, 3, 4), {"activation": "RELU6"}, (c,))
    np.testing.assert_allclose(mul, np.clip(x * c, 0, 6), rtol=1e-6)


def test_reference_refuses_wrong_input_shape():
    g = Graph()
    g.add_tensor("x", (-1, 3, 4))
    g.add_tensor("y", (-1, 3, 4))
    g.add_node(Node("n", "RELU", ["x"], ["y"]))
    g.inputs, g.outputs = ["x"], ["y"]
    with pytest.raises(ValueError, match="expected shape"):
        reference.run(g, rnd(2, 3))
    with pytest.raises(ValueError, match="computed shape"):
        _single("RELU", rnd(2, 3), (-1, 3, 4))
