"""Layers the Keras importer builds from several format ops, end to end.

Each model gets random weights (and, where a layer has statistics, non-trivial
ones), goes through ``gs.convert`` to a ``.gear`` file and the C++ runtime,
and must match ``model(x)`` within 1e-4 of the output's scale. The
decompositions are exact in real arithmetic, so anything above float32
rounding is a converter bug.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from helpers import convert_and_run, keras_out, rel_err

keras = pytest.importorskip("keras")
layers = keras.layers

import gearshift as gs  # noqa: E402
from gearshift.converters import UnsupportedOpError  # noqa: E402
from gearshift.converters.import_keras import import_keras  # noqa: E402
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
        elif "count" in w.path:  # Normalization's adapt counter
            continue
        else:
            v = rng.normal(0.0, 0.5, shape)
        w.assign(v.astype(np.float32))


def seq(shape: tuple[int, ...], *ls: layers.Layer) -> keras.Model:
    return keras.Sequential([keras.Input(shape), *ls])


def check(model: keras.Model, tmp_path: Path, batch: int = 2, seed: int = 0) -> np.ndarray:
    """Converts and runs ``model`` on random input; asserts it matches Keras."""
    x = np.random.default_rng(seed + 1).standard_normal((batch, *model.inputs[0].shape[1:]))
    x = (3.0 * x).astype(np.float32)  # reach both sides of relu6(x+3), leaky kinks...
    got = convert_and_run(model, x, tmp_path / "m.gear")
    ref = keras_out(model, x)
    assert got.shape == ref.shape
    assert rel_err(got, ref) <= TOL
    return got


def normalization(shape: tuple[int, ...], seed: int = 3) -> layers.Normalization:
    """An adapted Normalization with per-channel means far from 0 and stds far from 1."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    data = rng.normal(rng.uniform(-2, 2, c), rng.uniform(0.3, 3.0, c), (64, *shape))
    norm = layers.Normalization(axis=-1)
    norm.adapt(data.astype(np.float32))
    return norm


CASES: dict[str, Callable[[], keras.Model]] = {
    "separable_same_s2_m2": lambda: seq(
        (9, 9, 3),
        layers.SeparableConv2D(5, 3, strides=2, padding="same", depth_multiplier=2),
    ),
    "separable_valid_dil2_relu": lambda: seq(
        (11, 10, 4),
        layers.SeparableConv2D(6, 3, dilation_rate=2, activation="relu"),
    ),
    "separable_nobias_swish_bn": lambda: seq(
        (8, 8, 3),
        layers.SeparableConv2D(4, (3, 2), padding="same", use_bias=False, activation="swish"),
        layers.BatchNormalization(),
    ),
    "separable_bn_relu_folds": lambda: seq(
        (8, 8, 3),
        layers.SeparableConv2D(4, 3, strides=(2, 2), depth_multiplier=2),
        layers.BatchNormalization(),
        layers.ReLU(),
    ),
    "rescaling_scalar": lambda: seq((5, 5, 3), layers.Rescaling(1.0 / 255, offset=-0.5)),
    "rescaling_per_channel": lambda: seq(
        (5, 5, 3),
        layers.Rescaling([0.5, 2.0, -1.5], offset=[0.1, -0.2, 0.3]),
        layers.Conv2D(2, 1),
    ),
    "rescaling_scale_only": lambda: seq((4, 3), layers.Rescaling(0.25)),
    "normalization": lambda: seq((6, 6, 3), normalization((6, 6, 3)), layers.Conv2D(2, 3)),
    "normalization_rank2": lambda: seq((5,), normalization((5,)), layers.Dense(3)),
    "global_max_pool": lambda: seq((5, 7, 4), layers.GlobalMaxPooling2D(), layers.Dense(3)),
    "global_max_pool_keepdims": lambda: seq((6, 5, 4), layers.GlobalMaxPooling2D(keepdims=True)),
    "activation_silu_hard_sigmoid": lambda: seq(
        (8,),
        layers.Dense(8, activation="silu"),
        layers.Activation("swish"),
        layers.Dense(8),
        layers.Activation("hard_sigmoid"),
        layers.Dense(6, activation="hard_sigmoid"),
        layers.Dense(6, activation="leaky_relu"),
    ),
    "conv_swish_depthwise_hard_sigmoid": lambda: seq(
        (7, 7, 3),
        layers.Conv2D(4, 3, strides=2, padding="same", activation="silu"),
        layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="hard_sigmoid"),
    ),
    "leaky_relu": lambda: seq(
        (6, 6, 2),
        layers.Conv2D(3, 3),
        layers.LeakyReLU(negative_slope=0.1),
        layers.Conv2D(3, 1),
        layers.LeakyReLU(negative_slope=0.7),
        layers.LeakyReLU(negative_slope=0.0),
        layers.LeakyReLU(negative_slope=1.0),
    ),
    "prelu_shared_hw": lambda: seq(
        (6, 6, 3), layers.Conv2D(4, 3), layers.PReLU(shared_axes=[1, 2])
    ),
    "prelu_unshared": lambda: seq((4, 5), layers.Dense(3), layers.PReLU()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_vs_keras(name: str, tmp_path: Path) -> None:
    model = CASES[name]()
    randomize(model)
    check(model, tmp_path)


def _merge_model(layer: Callable[[list], object], shapes: list[tuple[int, ...]]) -> keras.Model:
    ins = [keras.Input(s) for s in shapes]
    return keras.Model(ins, layer(ins))


@pytest.mark.parametrize(
    ("cls", "shapes"),
    [
        (layers.Subtract, [(4, 4, 3), (4, 4, 3)]),
        (layers.Subtract, [(4, 4, 3), (1, 1, 3)]),
        (layers.Average, [(4, 4, 3), (4, 4, 3)]),
        (layers.Average, [(5,), (5,), (5,)]),
    ],
)
def test_merge_layers(cls: type, shapes: list[tuple[int, ...]], tmp_path: Path) -> None:
    model = _merge_model(cls(), shapes)
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((2, *s)).astype(np.float32) for s in shapes]
    gs.convert(model, tmp_path / "m.gear", gears=("fp32",))
    got = gs.Runtime(tmp_path / "m.gear").run(xs if len(xs) > 1 else xs[0])
    assert rel_err(got, np.asarray(model(xs))) <= TOL


def test_passes_see_through_decompositions() -> None:
    """BN after a SeparableConv2D folds into its 1x1 conv, and RELU6 after
    hard_sigmoid's ADD 3 fuses into it; PReLU is one PRELU node (format 1.3)."""
    model = seq(
        (8, 8, 3),
        layers.SeparableConv2D(4, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Activation("hard_sigmoid"),
        layers.PReLU(shared_axes=[1, 2]),
    )
    g = import_keras(model)
    run_passes(g)
    g.validate(format_only=True)
    counts = g.op_counts()
    assert "BATCH_NORM" not in counts and "RELU6" not in counts
    assert counts["CONV_2D"] == 1 and counts["DEPTHWISE_CONV_2D"] == 1
    acts = {n.op: n.activation for n in g.nodes if n.activation != "NONE"}
    assert acts == {"CONV_2D": "RELU", "ADD": "RELU6"}
    assert counts["PRELU"] == 1
    names = list(g.tensors)
    assert len(names) == len(set(names))


def test_constants_named_deterministically() -> None:
    """Same model, same names; decomposition scalars are shared per value, and
    LeakyReLU/PReLU are single 1.3 ops (an attribute, Keras' alpha as stored)."""
    model = seq(
        (4, 4, 2),
        layers.Activation("hard_sigmoid", name="hs1"),
        layers.Activation("hard_sigmoid", name="hs2"),
        layers.LeakyReLU(0.2, name="leaky"),
        layers.PReLU(name="prelu"),
    )
    a, b = import_keras(model), import_keras(model)
    assert list(a.tensors) == list(b.tensors)
    assert [n.name for n in a.nodes] == [n.name for n in b.nodes]
    consts = sorted(t.name for t in a.tensors.values() if t.is_const)
    assert consts == ["const/one_sixth", "const/three", "prelu/alpha"]


def test_unsupported_message_names_counts_and_format() -> None:
    inp = keras.Input((8, 8, 3))
    x = layers.Cropping3D(1)(layers.Reshape((8, 8, 3, 1))(inp))
    x = layers.Reshape((6, 6, 1))(x)
    x = layers.UpSampling2D(interpolation="bicubic")(x)
    x = layers.UpSampling2D(interpolation="bicubic")(x)
    x = layers.Conv2DTranspose(3, 3, dilation_rate=2)(x)
    x = layers.Lambda(lambda t: t * 2.0)(x)
    x = layers.LayerNormalization()(x)
    x = layers.ReLU(max_value=4.0)(x)
    with pytest.raises(UnsupportedOpError) as e:
        import_keras(keras.Model(inp, x))
    msg = str(e.value)
    assert "Cropping3D ×1 (not supported in format 1.3)" in msg
    assert "UpSampling2D (interpolation=bicubic) ×2" in msg
    assert "Conv2DTranspose (dilation_rate=(2, 2)) ×1" in msg
    assert "LayerNormalization ×1 (not supported in format 1.3)" in msg
    assert "ReLU (max_value=4.0) ×1" in msg
    assert "Lambda ×1 (Lambda layers hold arbitrary Python; replace with built-in layers)" in msg


def test_normalization_invert_refused() -> None:
    norm = layers.Normalization(mean=1.0, variance=4.0, invert=True)
    with pytest.raises(UnsupportedOpError, match=r"Normalization \(invert=True\)"):
        import_keras(seq((3,), norm))


def realistic_unseen() -> keras.Model:
    keras.utils.set_random_seed(11)
    inp = keras.Input((24, 24, 3))
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inp)
    x = layers.SeparableConv2D(16, 3, strides=2, padding="same", activation="swish")(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(negative_slope=0.1)(x)
    y = layers.SeparableConv2D(16, 3, padding="same", depth_multiplier=2, use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.PReLU(shared_axes=[1, 2])(y)
    x = layers.Subtract()([x, y])
    x = layers.Conv2D(24, 3, dilation_rate=2, padding="same", activation="hard_sigmoid")(x)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inp, x)


def test_realistic_unseen_model(tmp_path: Path) -> None:
    model = realistic_unseen()
    randomize(model, seed=4)
    x = np.random.default_rng(2).uniform(0, 255, (3, 24, 24, 3)).astype(np.float32)
    got = convert_and_run(model, x, tmp_path / "m.gear")
    assert rel_err(got, keras_out(model, x)) <= TOL


def _app_stats(model: keras.Model, seed: int = 0) -> None:
    """Non-trivial BN and Normalization statistics on a Keras application,
    keeping its fan-in-scaled kernels (N(0, 0.5) kernels would blow a deep
    network up to where float32 rounding dominates the comparison)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if "variance" in w.path:
            w.assign(rng.uniform(0.5, 2.0, shape).astype(np.float32))
        elif "mean" in w.path:
            w.assign(rng.normal(0.0, 0.2, shape).astype(np.float32))
        elif "gamma" in w.path:
            w.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        elif "beta" in w.path:
            w.assign(rng.normal(0.0, 0.2, shape).astype(np.float32))


APPS: dict[str, Callable[[], keras.Model]] = {
    # minimalistic=False (raw keras.ops in its hard_sigmoid) is in test_import_keras_ops.py.
    "mobilenet_v3_small_minimalistic": lambda: keras.applications.MobileNetV3Small(
        input_shape=(96, 96, 3),
        weights=None,
        minimalistic=True,
        include_preprocessing=True,
        classifier_activation=None,
    ),
    "efficientnet_b0": lambda: keras.applications.EfficientNetB0(
        weights=None, input_shape=(64, 64, 3), classifier_activation=None
    ),
}


@pytest.mark.parametrize("name", sorted(APPS))
def test_keras_application(name: str, tmp_path: Path) -> None:
    """Keras applications built only from expressible layers (Rescaling,
    Normalization, swish, ...) convert whole and match Keras on their logits."""
    keras.utils.set_random_seed(0)
    model = APPS[name]()
    _app_stats(model)
    shape = model.inputs[0].shape[1:]
    x = np.random.default_rng(1).uniform(0, 255, (2, *shape)).astype(np.float32)
    got = convert_and_run(model, x, tmp_path / "m.gear")
    ref = keras_out(model, x)
    assert float(ref.std()) > 1e-3  # the comparison is not between near-constants
    assert rel_err(got, ref) <= TOL
