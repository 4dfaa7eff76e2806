"""1-D Keras layers (audio, sensor time series), end to end.

The importer computes them with the 2-D format 1.0 ops on a ``[N,1,W,C]``
view of each ``[N,W,C]`` tensor. Each model gets random weights, goes through
``gs.convert`` and the C++ runtime, and must match ``model(x)`` within 1e-4 of
the output's scale.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from helpers import convert_and_run, keras_out, rel_err

keras = pytest.importorskip("keras")
layers = keras.layers

from gearshift.converters import UnsupportedOpError  # noqa: E402
from gearshift.converters.import_keras import import_keras, layer_problem  # noqa: E402
from gearshift.converters.passes import run_passes  # noqa: E402

TOL = 1e-4


def randomize(model: keras.Model, seed: int = 0) -> None:
    """Random weights; BN variances and gammas positive and far from 1."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if "variance" in w.path:
            v = rng.uniform(0.5, 2.0, shape)
        elif "gamma" in w.path:
            v = rng.uniform(0.5, 1.5, shape)
        else:
            v = rng.normal(0.0, 0.5, shape)
        w.assign(v.astype(np.float32))


def seq(shape: tuple[int, ...], *ls: layers.Layer) -> keras.Model:
    return keras.Sequential([keras.Input(shape), *ls])


def check(model: keras.Model, tmp_path: Path, batch: int = 2, seed: int = 0) -> None:
    randomize(model, seed)
    x = np.random.default_rng(seed + 1).standard_normal((batch, *model.inputs[0].shape[1:]))
    x = (2.0 * x).astype(np.float32)
    got = convert_and_run(model, x, tmp_path / "m.gear")
    ref = keras_out(model, x)
    assert got.shape == ref.shape
    assert rel_err(got, ref) <= TOL


def op_counts(model: keras.Model) -> dict[str, int]:
    g = import_keras(model)
    run_passes(g)
    return g.op_counts()


MODELS: dict[str, Callable[[], keras.Model]] = {
    "conv_valid": lambda: seq((17, 3), layers.Conv1D(4, 3)),
    "conv_same_stride2": lambda: seq((17, 3), layers.Conv1D(5, 4, strides=2, padding="same")),
    "conv_valid_stride2": lambda: seq((16, 2), layers.Conv1D(3, 5, strides=2)),
    "conv_dilated_same": lambda: seq(
        (15, 3), layers.Conv1D(4, 3, dilation_rate=2, padding="same", activation="relu")
    ),
    "conv_causal_dilated": lambda: seq(
        (13, 2), layers.Conv1D(3, 3, dilation_rate=2, padding="causal", activation="tanh")
    ),
    "conv_causal_nobias_swish": lambda: seq(
        (9, 4), layers.Conv1D(6, 2, padding="causal", use_bias=False, activation="swish")
    ),
    "conv_leaky": lambda: seq((11, 3), layers.Conv1D(4, 3, activation="leaky_relu")),
    "depthwise_mult2": lambda: seq(
        (15, 3), layers.DepthwiseConv1D(3, depth_multiplier=2, padding="same")
    ),
    "depthwise_stride2": lambda: seq(
        (16, 4), layers.DepthwiseConv1D(5, strides=2, activation="relu6")
    ),
    "depthwise_dilated": lambda: seq((13, 2), layers.DepthwiseConv1D(3, dilation_rate=2)),
    "separable_mult2": lambda: seq(
        (17, 3), layers.SeparableConv1D(5, 3, strides=2, padding="same", depth_multiplier=2)
    ),
    "separable_dilated": lambda: seq(
        (15, 4), layers.SeparableConv1D(3, 3, dilation_rate=2, activation="relu")
    ),
    "maxpool": lambda: seq((17, 3), layers.MaxPooling1D(2)),
    "maxpool_same_stride": lambda: seq((17, 3), layers.MaxPooling1D(3, strides=2, padding="same")),
    "avgpool": lambda: seq((15, 2), layers.AveragePooling1D(3)),
    "avgpool_same": lambda: seq((15, 2), layers.AveragePooling1D(4, strides=3, padding="same")),
    "gap": lambda: seq((13, 3), layers.GlobalAveragePooling1D()),
    "gap_keepdims": lambda: seq((13, 3), layers.GlobalAveragePooling1D(keepdims=True)),
    "gap_after_conv_keepdims": lambda: seq(
        (13, 3), layers.Conv1D(4, 3), layers.GlobalAveragePooling1D(keepdims=True)
    ),
    "gmp": lambda: seq((13, 3), layers.GlobalMaxPooling1D()),
    "gmp_keepdims": lambda: seq((13, 3), layers.GlobalMaxPooling1D(keepdims=True)),
    "zeropad": lambda: seq((9, 3), layers.ZeroPadding1D((2, 1)), layers.Conv1D(2, 3)),
    "zeropad_alone": lambda: seq((9, 3), layers.ZeroPadding1D(3)),
    "chain_dense": lambda: seq(
        (21, 2),
        layers.Conv1D(4, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.MaxPooling1D(2),
        layers.Dropout(0.5),
        layers.Dense(3),
    ),
    "chain_flatten": lambda: seq(
        (19, 2),
        layers.Conv1D(4, 3, strides=2),
        layers.Activation("sigmoid"),
        layers.AveragePooling1D(2),
        layers.Flatten(),
        layers.Dense(2),
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_1d_layer_matches_keras(name: str, tmp_path: Path) -> None:
    check(MODELS[name](), tmp_path, seed=len(name))


def test_residual_1d(tmp_path: Path) -> None:
    inp = keras.Input((17, 4))
    x = layers.Conv1D(4, 3, padding="same", activation="relu")(inp)
    y = layers.Conv1D(4, 3, padding="same")(x)
    y = layers.Add()([x, y])
    out = layers.GlobalMaxPooling1D()(layers.ReLU()(y))
    model = keras.Model(inp, out)
    check(model, tmp_path)
    counts = op_counts(model)
    # One RESHAPE in (input view) and one in GlobalMaxPooling1D: no pairs in between.
    assert counts["RESHAPE"] == 2, counts


def kws_model() -> keras.Model:
    """Keyword-spotting style: MFCC frames [49, 10] -> 12 classes."""
    inp = keras.Input((49, 10))
    x = inp
    for filters, stride in ((16, 1), (24, 2), (32, 1)):
        x = layers.Conv1D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        if filters == 24:
            x = layers.MaxPooling1D(2)(x)
    x = layers.DepthwiseConv1D(3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.2)(x)
    out = layers.Dense(12, activation="softmax")(x)
    return keras.Model(inp, out, name="kws")


def test_keyword_spotting_model(tmp_path: Path) -> None:
    model = kws_model()
    check(model, tmp_path, batch=3)
    counts = op_counts(model)
    assert "BATCH_NORM" not in counts and "IDENTITY" not in counts, counts
    assert counts["CONV_2D"] == 3 and counts["DEPTHWISE_CONV_2D"] == 1, counts
    assert "RELU" not in counts, counts  # fused into the convolutions
    # Only the input's view: the whole 1-D stack runs on [N,1,W,C].
    assert counts["RESHAPE"] == 1, counts
    assert counts == {
        "RESHAPE": 1,
        "CONV_2D": 3,
        "MAX_POOL_2D": 1,
        "DEPTHWISE_CONV_2D": 1,
        "MEAN": 1,
        "FULLY_CONNECTED": 1,
        "SOFTMAX": 1,
    }, counts


@pytest.mark.parametrize(
    "layer, key",
    [
        (layers.Conv1D(4, 3, groups=2), "Conv1D (groups=2)"),
        (layers.Conv1D(4, 3, data_format="channels_first"), "data_format=channels_first"),
        (layers.MaxPooling1D(2, data_format="channels_first"), "data_format=channels_first"),
        (layers.Cropping1D(1), "Cropping1D"),
    ],
)
def test_refused(layer: layers.Layer, key: str) -> None:
    model = seq((8, 4), layer)
    assert key in (layer_problem(layer) or "")
    with pytest.raises(UnsupportedOpError, match="unsupported layers"):
        import_keras(model)
