"""Whole models through the C++ runtime against Keras: a small CNN and
MobileNetV2 (alpha 0.35, 96x96, random weights)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import keras_out, rel_err

keras = pytest.importorskip("keras")
layers = keras.layers

import gearshift as gs  # noqa: E402


def small_cnn() -> keras.Model:
    keras.utils.set_random_seed(7)
    inp = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    y = layers.DepthwiseConv2D(3, padding="same")(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(8, 1)(y)
    x = layers.Add()([x, y])
    x = layers.MaxPooling2D()(x)
    z = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    x = layers.Concatenate()([x, layers.Conv2D(4, 1, activation="hard_swish")(x)])
    x = layers.Conv2D(16, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    z = layers.Flatten()(z)
    x = layers.Concatenate()([x, z])
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inp, x)


def _stats_bn(model: keras.Model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, g.shape).astype(np.float32),
                    rng.normal(0, 0.2, b.shape).astype(np.float32),
                    rng.normal(0, 0.2, m.shape).astype(np.float32),
                    rng.uniform(0.5, 1.5, v.shape).astype(np.float32),
                ]
            )


def test_small_cnn(tmp_path):
    model = small_cnn()
    _stats_bn(model)
    x = np.random.default_rng(0).standard_normal((4, 16, 16, 3)).astype(np.float32)
    path = tmp_path / "cnn.gear"
    report = gs.convert(model, path, calibration=x)
    assert "fp32" in str(report)
    rt = gs.Runtime(path)
    got = rt.run(x)
    assert rel_err(got, keras_out(model, x)) <= 1e-4
    # batch 1 and another batch size reuse the same runtime
    assert rel_err(rt.run(x[:1]), keras_out(model, x[:1])) <= 1e-4


@pytest.fixture(scope="module")
def mobilenet() -> keras.Model:
    keras.utils.set_random_seed(3)
    m = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10
    )
    _stats_bn(m, seed=1)
    return m


@pytest.mark.parametrize("threads", [1, 2])
def test_mobilenet_v2(mobilenet, tmp_path, threads):
    x = np.random.default_rng(1).uniform(-1, 1, (2, 96, 96, 3)).astype(np.float32)
    path = tmp_path / "mnv2.gear"
    gs.convert(mobilenet, path, gears=("fp32",), calibration=x)  # fp32 vs Keras only
    rt = gs.Runtime(path, threads=threads)
    got = rt.run(x)
    ref = keras_out(mobilenet, x)
    assert got.shape == ref.shape == (2, 10)
    assert rel_err(got, ref) <= 1e-4
    assert rt.arena_bytes > 0


def test_saved_keras_file(tmp_path):
    model = small_cnn()
    kpath = tmp_path / "cnn.keras"
    model.save(kpath)
    x = np.random.default_rng(2).standard_normal((2, 16, 16, 3)).astype(np.float32)
    gs.convert(str(kpath), tmp_path / "from_file.gear")
    got = gs.Runtime(tmp_path / "from_file.gear").run(x)
    assert rel_err(got, keras_out(model, x)) <= 1e-4


def test_h5_file(tmp_path):
    model = keras.Sequential(
        [keras.Input((6,)), layers.Dense(4, activation="relu"), layers.Dense(2)]
    )
    hpath = tmp_path / "m.h5"
    model.save(hpath)
    x = np.random.default_rng(3).standard_normal((3, 6)).astype(np.float32)
    gs.convert(hpath, tmp_path / "h5.gear")
    got = gs.Runtime(tmp_path / "h5.gear").run(x)
    assert rel_err(got, keras_out(model, x)) <= 1e-4


def test_unsupported_layers_listed_before_work(tmp_path):
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3)(inp)
    x = layers.LayerNormalization()(x)
    x = layers.LayerNormalization()(x)
    x = layers.Conv2DTranspose(2, 3, dilation_rate=2)(x)
    model = keras.Model(inp, x)
    out = tmp_path / "bad.gear"
    with pytest.raises(ValueError) as e:
        gs.convert(model, out)
    msg = str(e.value)
    assert "LayerNormalization" in msg and "2" in msg
    assert "Conv2DTranspose (dilation_rate=(2, 2))" in msg
    assert not out.exists()
