"""Every starter op, converted and run through the C++ runtime, against
TensorFlow's own output for random shapes and parameters (1e-4 relative)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import convert_and_run, keras_out, rel_err

keras = pytest.importorskip("keras")
layers = keras.layers

RNG = np.random.default_rng(1234)


def _randomize(model: keras.Model, seed: int = 0) -> keras.Model:
    """Random weights everywhere, BN statistics included (defaults are trivial)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for w in ws:
            if isinstance(layer, layers.BatchNormalization):
                new.append(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
            else:
                new.append(rng.normal(0, 0.5, w.shape).astype(np.float32))
        if isinstance(layer, layers.BatchNormalization):
            # gamma, beta, mean, var: beta and mean may be negative
            new[1] = rng.normal(0, 0.5, new[1].shape).astype(np.float32)
            new[2] = rng.normal(0, 0.5, new[2].shape).astype(np.float32)
        layer.set_weights(new)
    return model


def _check(model: keras.Model, x: np.ndarray, tmp_path, threads: int = 1) -> None:
    _randomize(model)
    got = convert_and_run(model, x, tmp_path / "m.gear", threads=threads)
    ref = keras_out(model, x)
    assert got.shape == ref.shape
    assert rel_err(got, ref) <= 1e-4, rel_err(got, ref)


def _seq(input_shape, *ls) -> keras.Model:
    return keras.Sequential([keras.Input(input_shape), *ls])


def _x(shape, batch=2):
    return RNG.standard_normal((batch, *shape)).astype(np.float32)


CONV_CASES = [
    # (H, W, C, filters, kernel, strides, dilation, padding)
    (9, 9, 3, 4, 3, 1, 1, "same"),
    (9, 8, 3, 5, 3, 2, 1, "same"),
    (10, 10, 2, 4, 3, 2, 1, "valid"),
    (11, 7, 3, 3, (3, 5), (2, 1), 1, "same"),
    (12, 12, 4, 6, 3, 1, 2, "same"),
    (12, 12, 4, 6, 3, 1, 2, "valid"),
    (7, 7, 5, 8, 1, 1, 1, "valid"),
    (6, 6, 3, 4, 4, 2, 1, "same"),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "-".join(map(str, c)))
def test_conv2d(case, tmp_path):
    h, w, c, f, k, s, d, p = case
    m = _seq((h, w, c), layers.Conv2D(f, k, strides=s, dilation_rate=d, padding=p))
    _check(m, _x((h, w, c)), tmp_path)


@pytest.mark.parametrize(
    "case",
    [
        (9, 9, 3, 1, 3, 1, 1, "same"),
        (10, 9, 4, 2, 3, 2, 1, "same"),
        (11, 11, 3, 1, 3, 1, 2, "valid"),
        (8, 8, 2, 3, 5, 2, 1, "valid"),
    ],
    ids=lambda c: "-".join(map(str, c)),
)
def test_depthwise_conv2d(case, tmp_path):
    h, w, c, mult, k, s, d, p = case
    m = _seq(
        (h, w, c),
        layers.DepthwiseConv2D(k, strides=s, dilation_rate=d, padding=p, depth_multiplier=mult),
    )
    _check(m, _x((h, w, c)), tmp_path)


@pytest.mark.parametrize("shape", [(17,), (3, 5), (2, 3, 7)])
def test_dense(shape, tmp_path):
    _check(_seq(shape, layers.Dense(6)), _x(shape), tmp_path)


@pytest.mark.parametrize("pool", ["max", "avg"])
@pytest.mark.parametrize(
    "case",
    [
        (8, 8, 3, 2, 2, "valid"),
        (9, 9, 2, 3, 2, "same"),
        (7, 10, 3, (2, 3), (1, 2), "same"),
        (9, 9, 2, 3, 3, "valid"),
    ],
    ids=lambda c: "-".join(map(str, c)),
)
def test_pooling(pool, case, tmp_path):
    h, w, c, k, s, p = case
    cls = layers.MaxPooling2D if pool == "max" else layers.AveragePooling2D
    _check(_seq((h, w, c), cls(k, strides=s, padding=p)), _x((h, w, c)), tmp_path)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling(keepdims, tmp_path):
    _check(
        _seq((5, 6, 4), layers.GlobalAveragePooling2D(keepdims=keepdims)), _x((5, 6, 4)), tmp_path
    )


@pytest.mark.parametrize(
    "act",
    [
        layers.ReLU(),
        layers.ReLU(max_value=6.0),
        layers.Activation("relu"),
        layers.Activation("relu6"),
        layers.Activation("sigmoid"),
        layers.Activation("tanh"),
        layers.Activation("hard_swish"),
        layers.Activation("softmax"),
        layers.Softmax(),
    ],
    ids=["ReLU", "ReLU6", "relu", "relu6", "sigmoid", "tanh", "hard_swish", "softmax", "Softmax"],
)
def test_activations(act, tmp_path):
    x = _x((4, 5, 6)) * 4.0  # reach the saturating ranges
    _check(_seq((4, 5, 6), act), x, tmp_path)


@pytest.mark.parametrize("act", ["relu", "relu6", "sigmoid", "tanh", "hard_swish", "softmax"])
def test_fused_activation_on_conv_and_dense(act, tmp_path):
    m = _seq(
        (6, 6, 3),
        layers.Conv2D(4, 3, activation=act),
        layers.Flatten(),
        layers.Dense(5, activation=act),
    )
    _check(m, _x((6, 6, 3)) * 3.0, tmp_path)


def _functional(inputs, outputs):
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("op", ["add", "multiply"])
def test_binary(op, tmp_path):
    a = keras.Input((5, 5, 4))
    c1 = layers.Conv2D(4, 3, padding="same")(a)
    c2 = layers.Conv2D(4, 1)(a)
    out = (layers.Add() if op == "add" else layers.Multiply())([c1, c2])
    _check(_functional(a, out), _x((5, 5, 4)), tmp_path)


def test_multiply_broadcast_channel_gate(tmp_path):
    # squeeze-and-excitation style gate: [N,H,W,C] * [N,1,1,C]
    a = keras.Input((6, 6, 8))
    g = layers.GlobalAveragePooling2D(keepdims=True)(a)
    g = layers.Dense(8, activation="sigmoid")(g)
    out = layers.Multiply()([a, g])
    _check(_functional(a, out), _x((6, 6, 8)), tmp_path)


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate(axis, tmp_path):
    a = keras.Input((4, 4, 3))
    c1 = layers.Conv2D(2, 1)(a)
    c2 = layers.Conv2D(5, 1)(a)
    out = layers.Concatenate(axis=axis)([c1, a, c2] if axis == -1 else [a, a])
    _check(_functional(a, out), _x((4, 4, 3)), tmp_path)


def test_flatten_reshape(tmp_path):
    m = _seq(
        (4, 6, 2),
        layers.Reshape((8, 3, 2)),
        layers.Conv2D(3, 2),
        layers.Flatten(),
        layers.Reshape((-1, 3)),
        layers.Dense(2),
    )
    _check(m, _x((4, 6, 2)), tmp_path)


@pytest.mark.parametrize("pad", [1, ((1, 2), (0, 3))])
def test_zero_padding(pad, tmp_path):
    _check(_seq((5, 5, 2), layers.ZeroPadding2D(pad), layers.Conv2D(3, 3)), _x((5, 5, 2)), tmp_path)


@pytest.mark.parametrize("after", ["conv", "depthwise", "dense", "standalone"])
def test_batchnorm(after, tmp_path):
    first = {
        "conv": layers.Conv2D(4, 3, use_bias=False),
        "depthwise": layers.DepthwiseConv2D(3),
        "dense": layers.Dense(4),
        "standalone": layers.Activation("linear"),
    }[after]
    m = _seq((6, 6, 4), first, layers.BatchNormalization(), layers.ReLU())
    _check(m, _x((6, 6, 4)), tmp_path)


def test_dropout_is_dropped(tmp_path):
    m = _seq((10,), layers.Dense(8), layers.Dropout(0.5), layers.Dense(3))
    _check(m, _x((10,)), tmp_path)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_bit_identical(threads, tmp_path):
    import gearshift as gs

    m = _randomize(
        _seq(
            (12, 12, 3),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.DepthwiseConv2D(3, strides=2),
            layers.Flatten(),
            layers.Dense(5),
        )
    )
    x = _x((12, 12, 3), batch=3)
    gs.convert(m, tmp_path / "m.gear")
    base = gs.Runtime(tmp_path / "m.gear", threads=1).run(x)
    got = gs.Runtime(tmp_path / "m.gear", threads=threads).run(x)
    np.testing.assert_array_equal(got, base)
