"""Post-training pruning (converters/passes/prune.py) on small Keras models.

Everything runs through the numpy reference interpreter, so no C++ build is
needed. Weights are random (Keras' fan-in-scaled kernels, random biases and
BatchNorm statistics): no training, the tests stay fast. The strongest check
is for channel pruning: removing channels must give exactly the outputs of
the unpruned graph with those channels' filter entries zeroed
(``mask_channels``), which tests the shape surgery independently of how the
channels were chosen.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

keras = pytest.importorskip("keras")
layers = keras.layers

import gearshift as gs  # noqa: E402
from gearshift.converters import reference  # noqa: E402
from gearshift.converters.import_keras import import_keras  # noqa: E402
from gearshift.converters.ir import Graph, Node  # noqa: E402
from gearshift.converters.passes import run_passes  # noqa: E402
from gearshift.converters.passes.prune import PruneError, apply_pruning, two_four  # noqa: E402
from gearshift.converters.passes.prune_channels import (  # noqa: E402
    mask_channels,
    plan_channels,
)
from gearshift.converters.passes.prune_layers import edge_layers  # noqa: E402
from gearshift.converters.passes.prune_layers import layers as graph_layers  # noqa: E402


# -- models ----------------------------------------------------------------------------
def digits_cnn():
    x = keras.Input((8, 8, 1))
    y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = layers.Conv2D(16, 3, use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.MaxPooling2D()(y)
    y = layers.Flatten()(y)
    y = layers.Dense(32, activation="relu")(y)
    y = layers.Dense(24, activation="relu")(y)
    y = layers.Dense(10, activation="softmax")(y)
    return keras.Model(x, y, name="digits")


def residual_cnn():
    x = keras.Input((8, 8, 3))
    stem = layers.Conv2D(16, 3, padding="same", activation="relu", name="stem")(x)
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="b1a")(stem)
    h = layers.Conv2D(16, 3, padding="same", name="b1b")(h)
    y = layers.ReLU()(layers.Add()([stem, h]))
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="b2a")(y)
    h = layers.Conv2D(16, 3, padding="same", name="b2b")(h)
    y = layers.ReLU()(layers.Add()([y, h]))
    y = layers.Conv2D(24, 1, activation="relu", name="head")(y)
    y = layers.GlobalAveragePooling2D()(y)
    return keras.Model(x, layers.Dense(10, name="logits")(y), name="residual")


def concat_cnn():
    x = keras.Input((8, 8, 3))
    s = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    a = layers.Conv2D(8, 1, activation="relu", name="branch_a")(s)
    b = layers.Conv2D(12, 3, padding="same", activation="tanh", name="branch_b")(s)
    b = layers.ZeroPadding2D(1)(b)
    b = layers.AveragePooling2D(3, strides=1)(b)
    y = layers.Concatenate(name="cat")([a, b, s])
    y = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="mix")(y)
    y = layers.Flatten()(y)
    return keras.Model(x, layers.Dense(5, name="logits")(y), name="concat")


def separable_cnn():
    x = keras.Input((8, 8, 3))
    y = layers.Conv2D(16, 3, padding="same", activation="relu6", name="stem")(x)
    y = layers.Conv2D(16, 1, activation="relu", name="expand")(y)
    y = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(y)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU(6.0)(y)
    y = layers.Conv2D(24, 1, activation="relu", name="project")(y)
    y = layers.SeparableConv2D(32, 3, padding="same", activation="relu", name="sep")(y)
    y = layers.GlobalAveragePooling2D()(y)
    return keras.Model(x, layers.Dense(10, name="logits")(y), name="separable")


MODELS = {"digits": digits_cnn, "residual": residual_cnn, "concat": concat_cnn}
MODELS["separable"] = separable_cnn
_CACHE: dict[str, tuple[Graph, np.ndarray]] = {}


def model_graph(name: str) -> tuple[Graph, np.ndarray]:
    """The model's IR after the standard passes (a fresh copy), and an input batch."""
    if name not in _CACHE:
        keras.utils.set_random_seed(0)
        model = MODELS[name]()
        rng = np.random.default_rng(0)
        for w in model.weights:
            shape = tuple(w.shape)
            if "kernel" in w.path:
                continue  # Keras' fan-in-scaled initialisation keeps activations O(1)
            if "variance" in w.path:
                v = rng.uniform(0.5, 2.0, shape)
            elif "gamma" in w.path:
                v = rng.uniform(0.5, 1.5, shape)
            else:
                v = rng.normal(0.0, 0.1, shape)
            w.assign(v.astype(np.float32))
        g = import_keras(model)
        run_passes(g)
        x = rng.standard_normal((4, *model.inputs[0].shape[1:])).astype(np.float32)
        _CACHE[name] = (g, x)
    g, x = _CACHE[name]
    return copy.deepcopy(g), x


def run(g: Graph, x: np.ndarray) -> np.ndarray:
    return np.asarray(reference.run(g, x), np.float64)


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-6))


def weights(g: Graph) -> dict[str, np.ndarray]:
    return {n.name: g.tensors[n.inputs[1]].data for n in graph_layers(g)}


# -- magnitude --------------------------------------------------------------------------
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_magnitude_sparsity(scope):
    g, _ = model_graph("residual")
    first, last = edge_layers(g)
    assert first == {"stem"} and last == {"logits"}
    before = weights(g)
    report = apply_pruning(g, gs.Prune(0.6, "magnitude", scope=scope))
    g.validate(format_only=True)
    after = weights(g)
    inner = [n for n in after if n not in first | last]
    for n in first | last:  # untouched by default
        np.testing.assert_array_equal(after[n], before[n])
        assert report.layer(n).method == "dense" and "include_first_last" in report.layer(n).note
    zeros = sum(int((after[n] == 0).sum()) for n in inner)
    total = sum(after[n].size for n in inner)
    assert abs(zeros / total - 0.6) <= len(inner) / total  # exact up to rounding
    if scope == "layer":
        for n in inner:
            assert abs(report.layer(n).sparsity - 0.6) <= 1 / after[n].size
    else:  # one threshold: every surviving weight is at least every pruned one
        kept = np.concatenate([np.abs(before[n][after[n] != 0]) for n in inner])
        gone = np.concatenate([np.abs(before[n][after[n] == 0]) for n in inner])
        assert kept.min() >= gone.max()
        assert len({round(report.layer(n).sparsity, 2) for n in inner}) > 1
    # Only zeros were introduced, biases untouched.
    for n in inner:
        nz = after[n] != 0
        np.testing.assert_array_equal(after[n][nz], before[n][nz])
    assert report.nonzero_after < report.nonzero_before
    assert "total" in report.format() and "stem" in str(report)


def test_magnitude_include_first_last():
    g, _ = model_graph("digits")
    report = apply_pruning(g, gs.Prune(0.5, include_first_last=True, scope="layer"))
    for r in report.layers:
        assert r.method == "magnitude" and abs(r.sparsity - 0.5) < 0.01
    assert abs(report.achieved_sparsity - 0.5) < 0.01


def test_magnitude_shared_filter_pruned_once():
    x = keras.Input((6,))
    dense = layers.Dense(8, activation="relu", name="shared")
    y = dense(layers.Dense(8, name="d0")(x))
    y = dense(layers.Dense(8, name="d1")(y))  # Dense(8) on 8 inputs, called twice
    g = import_keras(keras.Model(x, layers.Dense(3, name="out")(y)))
    report = apply_pruning(g, gs.Prune(0.5, scope="layer"))
    shared = [n for n in g.nodes if n.op == "FULLY_CONNECTED" and n.inputs[1].startswith("shared")]
    assert len(shared) == 2 and shared[0].inputs[1] == shared[1].inputs[1]
    assert (g.tensors[shared[0].inputs[1]].data == 0).sum() == 32
    assert {r.method for r in report.layers if r.name.startswith("shared")} == {"magnitude"}


# -- 2:4 --------------------------------------------------------------------------------
def test_two_four_pattern():
    g, _ = model_graph("separable")
    before = weights(g)
    report = apply_pruning(g, gs.Prune(0.5, "2:4"))
    g.validate(format_only=True)
    after = weights(g)
    pruned = [r.name for r in report.layers if r.method == "2:4"]
    assert {"expand", "project", "sep"} <= set(pruned)
    for n in pruned:
        groups = after[n].reshape(-1, 4)
        assert ((groups != 0).sum(axis=1) == 2).all()
        # the two kept are the two largest of the group
        b = np.abs(before[n].reshape(-1, 4))
        kept = np.where(groups != 0, b, np.inf).min(axis=1)
        dropped = np.where(groups == 0, b, -np.inf).max(axis=1)
        assert (kept >= dropped).all()
        assert report.layer(n).sparsity == 0.5
    notes = {r.name: r.note for r in report.layers}
    assert "depthwise" in notes["dw"] and "depthwise" in notes["sep/depthwise"]
    np.testing.assert_array_equal(after["dw"], before["dw"])
    assert "first layer" in notes["stem"] and "last layer" in notes["logits"]


def test_two_four_leaves_odd_inputs_dense():
    g, _ = model_graph("concat")  # mix reads 8+12+8=28 channels, branch_b reads 8, ...
    report = apply_pruning(g, gs.Prune(0.5, "2:4", include_first_last=True))
    assert report.layer("stem").method == "dense"  # 3 input channels
    assert "not a multiple of 4" in report.layer("stem").note
    assert report.layer("mix").method == "2:4"
    w = np.arange(1, 25, dtype=np.float32).reshape(2, 12) * np.where(np.arange(12) % 2, 1, -1)
    np.testing.assert_array_equal(two_four(w)[0, :4], [0, 0, -3, 4])
    with pytest.raises(PruneError, match="divisible by 4"):
        two_four(np.ones((2, 3), np.float32))


# -- closeness for small sparsity --------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize(
    "prune,tol",
    [
        (gs.Prune(0.1, "magnitude"), 0.08),
        (gs.Prune(0.1, "magnitude", scope="layer"), 0.08),
        # untrained weights have little redundancy: removing one channel in eight
        # moves the output by 5-35% of its scale (the trained test below is tighter)
        (gs.Prune(0.1, "channel", norm="l2"), 0.4),
    ],
    ids=["magnitude-global", "magnitude-layer", "channel"],
)
def test_small_sparsity_close(name, prune, tol):
    g, x = model_graph(name)
    ref = run(g, x)
    apply_pruning(g, prune)
    g.validate(format_only=True)
    assert rel_err(run(g, x), ref) < tol


@pytest.mark.parametrize("name,tol", [("separable", 0.1), ("digits", 0.4), ("residual", 0.6)])
def test_two_four_close(name, tol):
    """2:4 halves the weights, so "close" is looser than for 10% magnitude pruning.

    Untrained networks have no redundancy, so the bound is on the weights: the
    two kept of four hold most of each layer's energy (about 80% for Keras'
    uniform initialisation, against 50% for a random two of four), and the
    output stays within ``tol`` of its scale.
    """
    g, x = model_graph(name)
    ref = run(g, x)
    before = weights(g)
    report = apply_pruning(g, gs.Prune(0.5, "2:4"))
    after = weights(g)
    for r in report.layers:
        if r.method == "2:4":
            kept = float((after[r.name].astype(np.float64) ** 2).sum())
            assert kept >= 0.75 * float((before[r.name].astype(np.float64) ** 2).sum())
    assert rel_err(run(g, x), ref) < tol


# -- channel pruning ----------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_channel_equals_masking(name, scope):
    """Removing channels == zeroing their filter entries in the unpruned graph."""
    g, x = model_graph(name)
    prune = gs.Prune(0.3, "channel", scope=scope, include_first_last=True)
    plan = plan_channels(copy.deepcopy(g), prune)
    assert plan.channels_removed > 0
    masked = copy.deepcopy(g)
    mask_channels(masked, plan)
    sizes = {n.name: g.tensors[n.inputs[1]].shape for n in graph_layers(g)}
    report = apply_pruning(g, prune)
    g.validate(format_only=True)
    np.testing.assert_allclose(run(g, x), run(masked, x), rtol=1e-5, atol=1e-6)
    total = 0
    for n in graph_layers(g):  # the graph itself is smaller
        assert np.prod(g.tensors[n.inputs[1]].shape) <= np.prod(sizes[n.name])
        if n.op == "DEPTHWISE_CONV_2D":  # follows its input channels, times the multiplier
            removed = int((~plan.keep.get(n.outputs[0], np.ones(1, bool))).sum())
        else:
            removed = len(plan.removed[n.name])
        assert report.layer(n.name).channels_removed == removed
        total += removed
    assert report.weights_after < report.weights_before
    assert report.channels_removed == total
    assert g.tensors[g.outputs[0]].shape[-1] == run(masked, x).shape[-1]
    assert g.tensors[g.inputs[0]].shape[1:] == x.shape[1:]


def test_channel_before_passes():
    """Straight from the importer: unfolded BATCH_NORM and IDENTITY nodes are followed."""
    keras.utils.set_random_seed(1)
    model = digits_cnn()
    g = import_keras(model)
    assert {"BATCH_NORM"} <= set(g.op_counts())
    x = np.random.default_rng(2).standard_normal((3, 8, 8, 1)).astype(np.float32)
    prune = gs.Prune(0.25, "channel")
    masked = copy.deepcopy(g)
    mask_channels(masked, plan_channels(copy.deepcopy(g), prune))
    report = apply_pruning(g, prune)
    assert report.channels_removed > 0
    bn = next(n for n in g.nodes if n.op == "BATCH_NORM")
    assert g.tensors[bn.inputs[1]].shape == (12,)
    np.testing.assert_allclose(run(g, x), run(masked, x), rtol=1e-5, atol=1e-6)


def test_channel_per_layer_fraction_and_shapes():
    g, x = model_graph("digits")
    report = apply_pruning(g, gs.Prune(0.25, "channel"))
    # conv (first) and the output dense (last) keep their outputs by default
    conv1, conv2, fc1, fc2, out = (n.name for n in graph_layers(g))
    assert report.layer(conv1).channels_removed == 0
    assert report.layer(out).channels_removed == 0
    assert (report.layer(conv2).channels_removed, report.layer(fc1).channels_removed) == (4, 8)
    assert report.layer(fc2).channels_removed == 6
    shapes = {n.name: g.tensors[n.inputs[1]].shape for n in graph_layers(g)}
    assert shapes[conv2] == (12, 3, 3, 8)
    assert shapes[fc1] == (24, 3 * 3 * 12)  # flatten of [3,3,12]
    assert shapes[fc2] == (18, 24) and shapes[out] == (10, 18)
    flat = next(n for n in g.nodes if n.op == "RESHAPE")
    assert flat.attrs["shape"] == [108] and g.tensors[flat.outputs[0]].shape == (-1, 108)
    assert run(g, x).shape == (4, 10)


def test_channel_flatten_index():
    """FC after Flatten: removing channel c drops inputs (h*W+w)*C+c for every h, w."""
    g, _x = model_graph("digits")
    conv2 = graph_layers(g)[1]
    fc1 = graph_layers(g)[2]
    w_fc = g.tensors[fc1.inputs[1]].data.copy()
    prune = gs.Prune(0.25, "channel")
    plan = plan_channels(g, prune)
    removed = plan.removed[conv2.name]
    c = 16
    keep = np.ones(w_fc.shape[1], bool)
    for hw in range(9):
        keep[hw * c + removed] = False
    apply_pruning(g, prune)
    np.testing.assert_array_equal(
        g.tensors[fc1.inputs[1]].data, w_fc[plan.keep[fc1.outputs[0]]][:, keep]
    )


def test_channel_residual_ties():
    g, _ = model_graph("residual")
    prune = gs.Prune(0.25, "channel", include_first_last=True)
    plan = plan_channels(g, prune)
    tied = next(grp for grp in plan.groups if "b1b" in grp)
    assert set(tied) == {"stem", "b1b", "b2b"}
    removed = {p: plan.removed[p].tolist() for p in tied}
    assert removed["stem"] == removed["b1b"] == removed["b2b"] and len(removed["stem"]) == 4
    # scored by summed norms: the removed ones have the smallest sum of L1 norms
    nodes = {n.name: n for n in g.nodes}
    total = sum(
        np.abs(g.tensors[nodes[p].inputs[1]].data).reshape(16, -1).sum(axis=1) for p in tied
    )
    assert set(np.argsort(total)[:4].tolist()) == set(removed["stem"])
    # untied layers lose their own quarter
    assert len(plan.removed["b1a"]) == 4 and len(plan.removed["head"]) == 6
    # default: the stem is a first layer, so its tie group keeps everything
    plan = plan_channels(g, gs.Prune(0.25, "channel"))
    assert all(len(plan.removed[p]) == 0 for p in tied)
    assert "first or last layer" in plan.fixed["b1b"]


def test_channel_residual_with_input_skip_refused():
    """x + conv(x): the conv's channels are tied to the graph input, which stays."""
    x = keras.Input((6, 6, 4))
    h = layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(x)
    h = layers.Conv2D(4, 3, padding="same", name="c2")(h)
    y = layers.Add()([x, h])
    y = layers.Conv2D(8, 1, name="c3")(y)
    y = layers.GlobalAveragePooling2D()(y)
    g = import_keras(keras.Model(x, layers.Dense(3, name="out")(y)))
    run_passes(g)
    report = apply_pruning(g, gs.Prune(0.5, "channel", include_first_last=True))
    assert report.layer("c2").channels_removed == 0
    assert "graph input" in report.layer("c2").note
    assert report.layer("c1").channels_removed == 4
    assert report.layer("c3").channels_removed == 4


def test_channel_concat_offsets():
    g, _ = model_graph("concat")
    prune = gs.Prune(0.25, "channel", include_first_last=True)
    plan = plan_channels(g, prune)
    cat = next(n for n in g.nodes if n.op == "CONCATENATION")
    k = plan.keep[cat.outputs[0]]
    a, b, s = (plan.removed[p] for p in ("branch_a", "branch_b", "stem"))
    expect = np.ones(28, bool)
    expect[a] = False
    expect[8 + b] = False
    expect[20 + s] = False
    np.testing.assert_array_equal(k, expect)
    apply_pruning(g, prune)
    mix = next(n for n in g.nodes if n.name == "mix")
    assert g.tensors[mix.inputs[1]].shape[-1] == int(expect.sum())


def test_channel_depthwise_multiplier():
    g, _x = model_graph("separable")
    prune = gs.Prune(0.25, "channel")
    plan = plan_channels(g, prune)
    dw = next(n for n in g.nodes if n.name == "dw")
    removed = plan.removed["expand"]
    assert len(removed) == 4
    k = plan.keep[dw.outputs[0]]
    np.testing.assert_array_equal(np.flatnonzero(~k), np.sort(np.r_[2 * removed, 2 * removed + 1]))
    report = apply_pruning(g, prune)
    assert g.tensors[dw.inputs[1]].shape == (1, 3, 3, 24)
    assert dw.attrs["depth_multiplier"] == 2
    assert report.layer("dw").channels_removed == 8 and report.layer("dw").method == "channel"


def test_channel_refusals():
    """Softmax over channels, a channel-splitting reshape and an output: channels stay."""
    x = keras.Input((4, 4, 2))
    h = layers.Conv2D(8, 1, name="c0")(x)
    a = layers.Conv2D(8, 1, name="to_softmax")(h)
    a = layers.Softmax()(a)
    b = layers.Conv2D(8, 1, name="to_split")(h)
    b = layers.Reshape((4, 4, 2, 4))(b)
    b = layers.Reshape((4, 4, 8))(b)
    y = layers.Concatenate()([a, b])
    g = import_keras(keras.Model(x, layers.Conv2D(4, 1, name="out")(y)))
    run_passes(g)
    ref = run(g, np.ones((1, 4, 4, 2), np.float32))
    report = apply_pruning(g, gs.Prune(0.5, "channel", include_first_last=True))
    assert "SOFTMAX" in report.layer("to_softmax").note
    assert "splits the channel axis" in report.layer("to_split").note
    assert report.layer("to_softmax").channels_removed == 0
    assert report.layer("to_split").channels_removed == 0
    assert report.layer("c0").channels_removed == 4
    assert "graph output" in report.layer("out").note
    assert run(g, np.ones((1, 4, 4, 2), np.float32)).shape == ref.shape


def test_nothing_to_prune_errors():
    x = keras.Input((6,))
    h = layers.Dense(6, activation="relu", name="first")(x)
    g = import_keras(keras.Model(x, layers.Dense(3, name="last")(h)))
    for method, s in (("magnitude", 0.3), ("2:4", 0.5), ("channel", 0.3)):
        with pytest.raises(PruneError, match="include_first_last=True"):
            apply_pruning(copy.deepcopy(g), gs.Prune(s, method))
    # one dense layer: its outputs are the graph's, so no channel can go
    one = import_keras(keras.Model(x, layers.Dense(3, name="only")(x)))
    with pytest.raises(PruneError, match="graph output"):
        apply_pruning(one, gs.Prune(0.3, "channel", include_first_last=True))
    with pytest.raises(PruneError, match="divisible by 4"):
        apply_pruning(copy.deepcopy(g), gs.Prune(0.5, "2:4", include_first_last=True))
    # sparsity 0 is a no-op, not an error
    report = apply_pruning(copy.deepcopy(g), gs.Prune(0.0, "channel"))
    assert report.channels_removed == 0


def test_prune_options_validation():
    assert gs.Prune(0.3, "channel").effective_scope == "layer"
    assert gs.Prune(0.3).effective_scope == "global"
    for bad in (dict(scope="net"), dict(norm="l3"), dict(include_first_last=1)):
        with pytest.raises(ValueError):
            gs.Prune(0.3, **bad)


def test_report_dict_and_progress(capsys):
    import json

    g, _ = model_graph("digits")
    report = apply_pruning(g, gs.Prune(0.5), progress=True)
    d = json.loads(json.dumps(report.to_dict()))
    assert d["method"] == "magnitude" and len(d["layers"]) == 5
    assert 0 < d["achieved_sparsity"] < 0.5
    assert capsys.readouterr().err == ""  # not a terminal: no progress lines


def test_handmade_graph_mean_pad_mul():
    """IR-level ops the importer rarely emits: PAD, MEAN keep_dims, per-channel MUL."""
    g = Graph()
    rng = np.random.default_rng(3)
    g.add_tensor("x", (-1, 5, 5, 3))
    g.inputs = ["x"]

    def layer(name, op, inputs, shape, **attrs):
        g.add_tensor(name, shape)
        g.add_node(Node(name, op, inputs, [name], attrs))

    w0 = g.add_const("w0", rng.normal(size=(8, 3, 3, 3)))
    b0 = g.add_const("b0", rng.normal(size=8))
    layer(
        "c0",
        "CONV_2D",
        ["x", w0, b0],
        (-1, 5, 5, 8),
        stride=[1, 1],
        padding="SAME",
        activation="RELU",
    )
    layer("p", "PAD", ["c0"], (-1, 7, 7, 8), paddings=[[0, 0], [1, 1], [1, 1], [0, 0]])
    scale = g.add_const("scale", rng.normal(size=8))
    layer("m", "MUL", ["p", scale], (-1, 7, 7, 8), activation="NONE")
    layer("avg", "MEAN", ["m"], (-1, 1, 1, 8), axes=[1, 2], keep_dims=True)
    w1 = g.add_const("w1", rng.normal(size=(4, 8)))
    layer("fc", "FULLY_CONNECTED", ["avg", w1, None], (-1, 1, 1, 4))
    g.outputs = ["fc"]
    g.validate()
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    prune = gs.Prune(0.5, "channel", include_first_last=True)
    masked = copy.deepcopy(g)
    mask_channels(masked, plan_channels(copy.deepcopy(g), prune))
    report = apply_pruning(g, prune)
    assert report.layer("c0").channels_removed == 4
    assert g.tensors["scale"].shape == (4,) and g.tensors["avg"].shape == (-1, 1, 1, 4)
    np.testing.assert_allclose(run(g, x), run(masked, x), rtol=1e-5, atol=1e-6)
