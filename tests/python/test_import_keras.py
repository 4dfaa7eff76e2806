"""Keras importer + passes vs Keras itself, through the numpy reference interpreter.

Independent of the C++ runtime: for every supported layer a small model with
random weights (and non-trivial BatchNormalization statistics) is imported,
passed through the standard passes and run by ``converters.reference``; the
result must match ``model(x)`` within 1e-4 of the output's scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

keras = pytest.importorskip("keras")
layers = keras.layers

from gearshift.converters import UnsupportedOpError, reference  # noqa: E402
from gearshift.converters.import_keras import import_keras  # noqa: E402
from gearshift.converters.passes import run_passes  # noqa: E402


def randomize(model, seed: int = 0, keep_kernels: bool = False) -> None:
    """Random weights everywhere; BN variances positive, so BN is far from identity.

    ``keep_kernels`` keeps Keras' fan-in-scaled kernel initialisation (deep
    models with N(0, 0.5) kernels blow activations up to where float32
    rounding, not the converter, dominates the comparison).
    """
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if "variance" in w.path:
            v = rng.uniform(0.5, 2.0, shape)
        elif "gamma" in w.path:
            v = rng.uniform(0.5, 1.5, shape)
        elif keep_kernels and "kernel" in w.path:
            continue
        else:
            v = rng.normal(0.0, 0.2 if keep_kernels else 0.5, shape)
        w.assign(v.astype(np.float32))


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    scale = max(float(np.abs(ref).max()), 1e-6)
    return float(np.abs(got.astype(np.float64) - ref).max()) / scale


def check(model, batch: int = 2, seed: int = 0, tol: float = 1e-4, keep_kernels: bool = False):
    """Imports, runs passes and compares with Keras; returns the final graph."""
    randomize(model, seed, keep_kernels)
    rng = np.random.default_rng(seed + 1)
    xs = [rng.standard_normal((batch, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    ref = model(xs[0] if len(xs) == 1 else xs, training=False)
    refs = [np.asarray(r) for r in (ref if isinstance(ref, (list, tuple)) else [ref])]
    g = import_keras(model)
    before = reference.run_graph(g, dict(zip(g.inputs, xs)))
    run_passes(g)
    g.validate(format_only=True)
    after = reference.run_graph(g, dict(zip(g.inputs, xs)))
    for name, r in zip(g.outputs, refs):
        assert rel_err(after[name], r) <= tol, name
        assert name in before
    return g


def seq(shape, *ls) -> keras.Model:
    return keras.Sequential([keras.Input(shape), *ls])


CASES: dict[str, Callable[[], keras.Model]] = {
    "conv_same_s2_odd": lambda: seq(
        (9, 7, 3), layers.Conv2D(5, 3, strides=2, padding="same", activation="relu")
    ),
    "conv_valid_dil2_nobias": lambda: seq(
        (11, 10, 2), layers.Conv2D(4, (3, 2), dilation_rate=2, use_bias=False)
    ),
    "conv_same_dil2_tanh": lambda: seq(
        (8, 8, 3), layers.Conv2D(3, 3, dilation_rate=(2, 1), padding="same", activation="tanh")
    ),
    "conv_s2_even_same": lambda: seq(
        (8, 8, 2), layers.Conv2D(3, 4, strides=(2, 3), padding="same")
    ),
    "depthwise_m2_s2": lambda: seq(
        (9, 9, 3), layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same")
    ),
    "depthwise_dil2_valid_relu6": lambda: seq(
        (10, 9, 4), layers.DepthwiseConv2D(3, dilation_rate=2, activation="relu6")
    ),
    "dense_rank2_sigmoid": lambda: seq((7,), layers.Dense(5, activation="sigmoid")),
    "dense_rank3_nobias": lambda: seq((3, 6), layers.Dense(4, use_bias=False)),
    "dense_rank4_softmax": lambda: seq((2, 3, 6), layers.Dense(4, activation="softmax")),
    "maxpool_same_s2": lambda: seq((7, 7, 2), layers.MaxPooling2D(2, padding="same")),
    "maxpool_valid_3s2": lambda: seq((9, 8, 2), layers.MaxPooling2D(3, strides=2)),
    "avgpool_same_3s2": lambda: seq(
        (7, 7, 3), layers.AveragePooling2D(3, strides=2, padding="same")
    ),
    "avgpool_valid": lambda: seq((6, 6, 3), layers.AveragePooling2D((2, 3))),
    "gap": lambda: seq((5, 5, 4), layers.GlobalAveragePooling2D()),
    "gap_keepdims": lambda: seq((5, 5, 4), layers.GlobalAveragePooling2D(keepdims=True)),
    "relu_layers": lambda: seq(
        (6,), layers.Dense(6), layers.ReLU(), layers.Dense(5), layers.ReLU(6.0)
    ),
    "activations": lambda: seq(
        (8,),
        layers.Activation("relu6"),
        layers.Dense(8),
        layers.Activation("hard_swish"),
        layers.Activation("linear"),
        layers.Activation("tanh"),
        layers.Dense(8),
        layers.Activation("sigmoid"),
        layers.Dense(4),
        layers.Activation("softmax"),
    ),
    "softmax_layer": lambda: seq((3, 5), layers.Dense(5), layers.Softmax()),
    "flatten_reshape": lambda: seq(
        (4, 4, 3),
        layers.Flatten(),
        layers.Dense(12),
        layers.Reshape((2, 2, 3)),
        layers.Conv2D(2, 1),
        layers.Reshape((-1,)),
    ),
    "zero_padding": lambda: seq(
        (5, 4, 2), layers.ZeroPadding2D(((1, 2), (0, 3))), layers.Conv2D(2, 3)
    ),
    "noops": lambda: seq(
        (6,),
        layers.Dropout(0.5),
        layers.Dense(6),
        layers.GaussianNoise(1.0),
        layers.ActivityRegularization(0.1),
        layers.GaussianDropout(0.3),
        layers.Dense(3),
    ),
    "spatial_dropout": lambda: seq((5, 5, 2), layers.Conv2D(3, 3), layers.SpatialDropout2D(0.5)),
}


def _merge_model(kind: str) -> keras.Model:
    a = keras.Input((4, 4, 3), name="a")
    b = keras.Input((4, 4, 3), name="b")
    c = keras.Input((1, 1, 3), name="c")
    if kind == "add3":
        y = layers.Add()([a, b, layers.Conv2D(3, 1)(a)])
        return keras.Model([a, b], y)
    if kind == "mul_broadcast":
        gate = layers.Conv2D(3, 1, activation="sigmoid")(c)
        return keras.Model([a, c], layers.Multiply()([a, gate]))
    if kind == "mul_rank":
        v = keras.Input((3,), name="v")
        return keras.Model([a, v], layers.Multiply()([a, layers.Dense(3)(v)]))
    if kind == "concat":
        y = layers.Concatenate()([a, layers.Conv2D(2, 1)(b)])
        z = layers.Concatenate(axis=1)([y, layers.Conv2D(5, 1)(a)])
        return keras.Model([a, b], z)
    raise AssertionError(kind)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer(case):
    check(CASES[case]())


@pytest.mark.parametrize("kind", ["add3", "mul_broadcast", "mul_rank", "concat"])
def test_merge_layers(kind):
    g = check(_merge_model(kind))
    assert len(g.inputs) == 2


def test_fused_activation_counts():
    model = seq((6, 6, 2), layers.Conv2D(3, 3, activation="relu"), layers.ReLU(6.0))
    g = check(model)
    # relu fused; the RELU6 after it stays (the conv already has an activation)
    assert g.op_counts() == {"CONV_2D": 1, "RELU6": 1}
    assert g.nodes[0].attrs["activation"] == "RELU"


def test_batchnorm_folded_into_conv_depthwise_dense():
    model = seq(
        (8, 8, 3),
        layers.Conv2D(4, 3, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(6.0),
        layers.DepthwiseConv2D(3, depth_multiplier=2),
        layers.BatchNormalization(epsilon=0.01),
        layers.GlobalAveragePooling2D(),
        layers.Dense(5),
        layers.BatchNormalization(center=False),
    )
    g = check(model)
    assert g.op_counts() == {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "MEAN": 1, "FULLY_CONNECTED": 1}
    assert g.nodes[0].attrs["activation"] == "RELU6"


def test_batchnorm_lowered_where_not_foldable():
    inp = keras.Input((6, 6, 3))
    x = layers.BatchNormalization(scale=False)(inp)  # on an input
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.BatchNormalization()(x)  # after a fused activation
    y = layers.Conv2D(4, 1)(x)
    z = layers.BatchNormalization()(y)  # y also read by the Add
    out = layers.Add()([y, z])
    g = check(keras.Model(inp, out))
    counts = g.op_counts()
    assert "BATCH_NORM" not in counts
    assert counts["MUL"] == 3 and counts["ADD"] == 4


def test_shared_layer_shares_weights():
    dense = layers.Dense(4)
    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], layers.Add()([dense(a), dense(dense(b))]))
    g = check(model)
    fcs = [n for n in g.nodes if n.op == "FULLY_CONNECTED"]
    assert len(fcs) == 3 and len({n.inputs[1] for n in fcs}) == 1
    assert len({n.name for n in g.nodes}) == len(g.nodes)


def test_nested_models_are_flattened():
    inner_seq = keras.Sequential(
        [keras.Input((6, 6, 2)), layers.Conv2D(3, 3, padding="same"), layers.BatchNormalization()],
        name="inner_seq",
    )
    ii = keras.Input((6, 6, 3))
    inner_fn = keras.Model(ii, layers.ReLU()(layers.Conv2D(4, 1)(ii)), name="inner_fn")
    inp = keras.Input((6, 6, 2))
    x = inner_fn(inner_seq(inp))
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.Model(inp, x, name="mid")])
    g = check(model)
    assert g.op_counts() == {"CONV_2D": 2}


def test_multiple_outputs_keep_order_and_names():
    inp = keras.Input((5,), name="x_in")
    h = layers.Dense(4, name="hidden", activation="relu")(inp)
    out1 = layers.Dense(2, name="head_a")(h)
    model = keras.Model(inp, [out1, h])
    g = check(model)
    assert g.inputs == ["x_in"]
    assert g.outputs == ["head_a", "hidden"]
    # "hidden" (after its relu) is a graph output; the un-activated FC value is not,
    # so the relu still fuses into the FC.
    assert g.op_counts() == {"FULLY_CONNECTED": 2}


def test_output_that_is_an_input():
    inp = keras.Input((3,))
    model = keras.Model(inp, [layers.Dense(2)(inp), layers.Dropout(0.1)(inp)])
    g = check(model)
    assert g.op_counts() == {"FULLY_CONNECTED": 1, "RESHAPE": 1}


def test_unsupported_layers_all_listed_with_counts():
    a = keras.Input((5, 4))
    x = layers.LSTM(3, return_sequences=True)(a)
    x = layers.LSTM(2)(x)
    b = keras.Input((4, 4, 4, 1))
    y = layers.Flatten()(layers.Conv3D(2, 2)(b))
    c = keras.Input((6, 6, 4))
    z = layers.Conv2D(4, 3, groups=2)(c)
    z = layers.ReLU(negative_slope=0.1, threshold=0.5)(z)
    z = layers.Conv2D(2, 1, activation="gelu")(z)
    z = layers.Flatten()(z)
    model = keras.Model([a, b, c], layers.Concatenate()([x, y, z]))
    with pytest.raises(UnsupportedOpError) as e:
        import_keras(model)
    msg = str(e.value)
    assert msg.startswith("unsupported layers: ")
    assert "LSTM ×2" in msg and "Conv3D ×1" in msg
    assert "Conv2D (groups=2) ×1" in msg
    assert "ReLU (threshold=0.5) ×1" in msg
    assert "Conv2D (activation=gelu) ×1" in msg
    assert "supported: " in msg and "DepthwiseConv2D" in msg
    assert isinstance(e.value, ValueError)


def test_channels_first_refused():
    model = seq((3, 8, 8), layers.Conv2D(2, 3, data_format="channels_first"))
    with pytest.raises(UnsupportedOpError, match="channels_first"):
        import_keras(model)


def test_unknown_spatial_dims_refused():
    model = seq((None, None, 3), layers.Conv2D(2, 3))
    with pytest.raises(ValueError, match="unknown dimension"):
        import_keras(model)


def test_unbuilt_sequential_refused():
    with pytest.raises(ValueError, match="not built"):
        import_keras(keras.Sequential([layers.Dense(2)]))


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_import_from_file(tmp_path, ext):
    model = seq((6, 6, 2), layers.Conv2D(3, 3), layers.BatchNormalization(), layers.Flatten())
    randomize(model)
    path = tmp_path / f"m{ext}"
    model.save(path)
    g = import_keras(str(path))
    run_passes(g)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 2)).astype(np.float32)
    assert rel_err(reference.run(g, x), np.asarray(model(x))) <= 1e-4


def test_nested_mobilenet_v2():
    base = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights=None
    )
    inp = keras.Input((96, 96, 3))
    x = layers.GlobalAveragePooling2D()(base(inp))
    x = layers.Dropout(0.2)(x)
    model = keras.Model(inp, layers.Dense(10)(x))
    g = check(model, batch=2, keep_kernels=True)
    counts = g.op_counts()
    n_bn = sum(type(layer).__name__ == "BatchNormalization" for layer in base.layers)
    n_conv = sum(type(layer).__name__ == "Conv2D" for layer in base.layers)
    n_dw = sum(type(layer).__name__ == "DepthwiseConv2D" for layer in base.layers)
    assert n_bn == n_conv + n_dw  # every BN follows a conv ...
    assert "MUL" not in counts and "BATCH_NORM" not in counts  # ... and is folded
    assert counts["CONV_2D"] == n_conv and counts["DEPTHWISE_CONV_2D"] == n_dw
    assert "RELU6" not in counts  # all fused
    assert counts["PAD"] == 4 and counts["ADD"] == 10
