"""Keras layers that import onto the format 1.3 ops, end to end.

Each tiny model (random weights, fixed seed) goes through ``gs.convert`` with
every gear and runs in the C++ runtime: fp32 must match Keras within 1e-5 of
the output's scale, fp16 the numpy oracle (``converters.gear_reference``)
within its rounding, and int8/int4 the oracle bit for bit, with int8 close to
Keras. The imported graph must use the 1.3 op (no decomposition), and the
layer settings the format cannot express are refused by name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from helpers import keras_out, rel_err

keras = pytest.importorskip("keras")
layers = keras.layers
ops = keras.ops

import gearshift as gs  # noqa: E402
from gearshift import gear_format as gf  # noqa: E402
from gearshift.converters import UnsupportedOpError  # noqa: E402
from gearshift.converters.gear_reference import run_gear  # noqa: E402
from gearshift.converters.import_keras import import_keras  # noqa: E402
from gearshift.converters.write_gear import repack  # noqa: E402

GEARS = ("fp32", "fp16", "int8", "int4")
FP32_TOL = 1e-5
COMPACT_TOL = 1e-3  # converters.compact_refine.COMPACT_TARGET
FP16_TOL = 1e-5  # the runtime's fp16 gear vs the oracle's (same f16 constants)
INT8_TOL = 0.1  # int8 vs Keras, relative to the output's scale (a few LSB of wide tensors)


def seq(shape: tuple[int, ...], *ls: layers.Layer) -> keras.Model:
    return keras.Sequential([keras.Input(shape), *ls])


def merge(layer: layers.Layer, shapes: list[tuple[int, ...]]) -> keras.Model:
    ins = [keras.Input(s) for s in shapes]
    return keras.Model(ins, layer(ins))


def unary(shape: tuple[int, ...], fn: Callable[[keras.KerasTensor], keras.KerasTensor]):
    inp = keras.Input(shape)
    return keras.Model(inp, fn(inp))


def binary(shape: tuple[int, ...], fn: Callable[..., keras.KerasTensor]) -> keras.Model:
    a, b = keras.Input(shape), keras.Input(shape)
    return keras.Model([a, b], fn(a, b))


def conv1d_pair(layer: layers.Layer) -> keras.Model:
    """Two Conv1D branches merged: the merge runs on their [N,1,W,C] views."""
    inp = keras.Input((8, 3))
    a = layers.Conv1D(4, 3, padding="same")(inp)
    b = layers.Conv1D(4, 3, padding="same")(inp)
    return keras.Model(inp, layer([a, b]))


def randomize(model: keras.Model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.5, tuple(w.shape)).astype(np.float32))


# name -> (model builder, the 1.3 op the graph must hold)
CASES: dict[str, tuple[Callable[[], keras.Model], str]] = {
    "conv_transpose_same_s2": (
        lambda: seq((5, 5, 3), layers.Conv2DTranspose(4, 3, strides=2, padding="same")),
        "TRANSPOSE_CONV",
    ),
    "conv_transpose_valid_relu": (
        lambda: seq(
            (4, 5, 2), layers.Conv2DTranspose(3, (3, 2), strides=(2, 1), activation="relu")
        ),
        "TRANSPOSE_CONV",
    ),
    "conv_transpose_same_even_k_nobias_tanh": (
        lambda: seq(
            (4, 4, 3),
            layers.Conv2DTranspose(
                2, 4, strides=2, padding="same", use_bias=False, activation="tanh"
            ),
        ),
        "TRANSPOSE_CONV",
    ),
    "subtract": (lambda: merge(layers.Subtract(), [(4, 4, 3), (4, 4, 3)]), "SUB"),
    "subtract_broadcast": (lambda: merge(layers.Subtract(), [(4, 4, 3), (1, 1, 3)]), "SUB"),
    "maximum3": (lambda: merge(layers.Maximum(), [(4, 4, 3)] * 3), "MAXIMUM"),
    "minimum": (lambda: merge(layers.Minimum(), [(6,), (6,)]), "MINIMUM"),
    "maximum_1d_views": (lambda: conv1d_pair(layers.Maximum()), "MAXIMUM"),
    "subtract_1d_views": (lambda: conv1d_pair(layers.Subtract()), "SUB"),
    "ops_maximum_const": (lambda: unary((4, 4, 3), lambda x: ops.maximum(x, 0.25)), "MAXIMUM"),
    "ops_minimum_per_channel": (
        lambda: unary((4, 4, 3), lambda x: ops.minimum(np.float32([0.5, -0.5, 1.0]), x)),
        "MINIMUM",
    ),
    "ops_subtract_tensors": (lambda: binary((4, 4, 3), ops.subtract), "SUB"),
    "ops_max_min_tensors": (
        lambda: binary((4, 4, 3), lambda a, b: ops.minimum(ops.maximum(a, b), a * 0.5)),
        "MAXIMUM",
    ),
    "ops_leaky_relu": (lambda: unary((4, 4, 3), lambda x: ops.leaky_relu(x, 0.15)), "LEAKY_RELU"),
    "leaky_relu": (lambda: seq((4, 4, 3), layers.LeakyReLU(negative_slope=0.1)), "LEAKY_RELU"),
    "leaky_relu_slope_above_1": (
        lambda: seq((4, 4, 3), layers.LeakyReLU(negative_slope=1.5)),
        "LEAKY_RELU",
    ),
    "relu_negative_slope": (lambda: seq((4, 4, 3), layers.ReLU(negative_slope=0.3)), "LEAKY_RELU"),
    "activation_leaky_relu": (
        lambda: seq((4, 4, 3), layers.Conv2D(4, 1), layers.Activation("leaky_relu")),
        "LEAKY_RELU",
    ),
    "dense_leaky_relu": (lambda: seq((5,), layers.Dense(3, activation="leaky_relu")), "LEAKY_RELU"),
    "prelu_shared_hw": (
        lambda: seq((4, 4, 3), layers.Conv2D(4, 1), layers.PReLU(shared_axes=[1, 2])),
        "PRELU",
    ),
    "prelu_unshared": (lambda: seq((3, 4, 2), layers.PReLU()), "PRELU"),
    "prelu_shared_w": (lambda: seq((3, 4, 2), layers.PReLU(shared_axes=[2])), "PRELU"),
    "prelu_dense": (lambda: seq((5,), layers.Dense(4), layers.PReLU()), "PRELU"),
    "prelu_1d": (
        lambda: seq((6, 3), layers.Conv1D(4, 2), layers.PReLU(shared_axes=[1])),
        "PRELU",
    ),
    "upsampling_nearest": (lambda: seq((3, 4, 2), layers.UpSampling2D((2, 3))), "RESIZE_NEAREST"),
    "upsampling_nearest_7": (lambda: seq((2, 3, 2), layers.UpSampling2D(7)), "RESIZE_NEAREST"),
    "upsampling_bilinear": (
        lambda: seq((3, 4, 2), layers.UpSampling2D((2, 3), interpolation="bilinear")),
        "RESIZE_BILINEAR",
    ),
    "resizing_bilinear_up_down": (lambda: seq((6, 6, 3), layers.Resizing(9, 4)), "RESIZE_BILINEAR"),
    "resizing_nearest": (
        lambda: seq((6, 5, 3), layers.Resizing(4, 11, interpolation="nearest")),
        "RESIZE_NEAREST",
    ),
    "permute": (lambda: seq((3, 4, 5), layers.Permute((2, 3, 1))), "TRANSPOSE"),
    "permute_3d": (lambda: seq((3, 5), layers.Permute((2, 1)), layers.Dense(2)), "TRANSPOSE"),
    "cropping": (lambda: seq((7, 6, 2), layers.Cropping2D(((1, 2), (0, 3)))), "SLICE"),
    "hard_swish": (lambda: seq((4, 4, 3), layers.Activation("hard_swish")), "HARD_SWISH"),
    "decoder": (
        lambda: seq(
            (4, 4, 3),
            layers.Conv2D(6, 3, padding="same", activation="relu6"),
            layers.Conv2DTranspose(4, 3, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.UpSampling2D(interpolation="bilinear"),
            layers.Cropping2D(1),
            layers.Conv2D(2, 1, activation="hard_silu"),
        ),
        "TRANSPOSE_CONV",
    ),
}


def _inputs(model: keras.Model, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(2.0 * rng.standard_normal((4, *t.shape[1:]))).astype(np.float32) for t in model.inputs]


def _check_gears(path: Path, x: np.ndarray | list[np.ndarray], ref: np.ndarray) -> None:
    """Every gear in the runtime: fp32 vs Keras, the rest vs the oracle, int8 vs Keras."""
    f = gf.read_gear(str(path))
    out_name = f.manifest["tensors"][f.manifest["outputs"][0]]["name"]
    # compact storage's residual weights (q8r8 for small tensors) are within the compact
    # target of the source; the runtime still equals the oracle on the same weights
    residual = any(s["encoding"] in ("q8r4", "q8r8") for s in f.manifest["storage"])
    source_tol = COMPACT_TOL if residual else FP32_TOL
    for gear in GEARS:
        got = np.asarray(gs.Runtime(path, gear=gear).run(x))
        assert got.shape == ref.shape, gear
        want = run_gear(f, gear, x)[out_name]
        if gear == "fp32":
            assert rel_err(got, want) <= FP32_TOL, rel_err(got, want)
            assert rel_err(got, ref) <= source_tol, rel_err(got, ref)
            assert rel_err(want, ref) <= source_tol, rel_err(want, ref)
        elif gear == "fp16":
            assert rel_err(got, want) <= FP16_TOL, rel_err(got, want)
        else:
            np.testing.assert_array_equal(got, want, err_msg=gear)
        if gear == "int8":
            assert rel_err(got, ref) <= INT8_TOL, rel_err(got, ref)


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_13_vs_keras(name: str, tmp_path: Path) -> None:
    build, op = CASES[name]
    keras.utils.set_random_seed(0)
    model = build()
    randomize(model, seed=len(name))
    assert any(n.op.startswith(op) for n in import_keras(model).nodes)
    xs = _inputs(model, seed=len(name) + 1)
    x = xs[0] if len(xs) == 1 else xs
    path = tmp_path / "m.gear"
    gs.convert(model, path, gears=GEARS, calibration=x, progress=False)
    # The lowest minor that expresses the file, in the JSON form (binary params are 1.6,
    # a small weight's 8-bit residual 1.7).
    f = gf.read_gear(str(path))
    r8 = any(s["encoding"] == "q8r8" for s in f.manifest["storage"])
    assert f.version == (1, 7 if r8 else 6)
    repack(path, tmp_path / "json.gear", binary=False)
    json_minor = gf.read_gear(str(tmp_path / "json.gear")).version[1]
    assert json_minor == 7 if r8 else (json_minor == 3) == (op != "HARD_SWISH")
    _check_gears(path, x, keras_out(model, x))


def test_native_ops_replace_decompositions() -> None:
    """One op per layer: no MUL/ADD/RELU chains for LeakyReLU, PReLU, Subtract."""
    a, b = keras.Input((4, 4, 3)), keras.Input((4, 4, 3))
    x = layers.LeakyReLU(0.1)(a)
    x = layers.PReLU(shared_axes=[1, 2], name="prelu")(x)
    x = layers.Subtract()([x, b])
    x = layers.ReLU(negative_slope=0.3)(x)
    g = import_keras(keras.Model([a, b], x))
    assert [n.op for n in g.nodes] == ["LEAKY_RELU", "PRELU", "SUB", "LEAKY_RELU"]
    assert g.tensors["prelu/alpha"].shape == (1, 1, 3)
    assert [n.attrs.get("alpha") for n in g.nodes if n.op == "LEAKY_RELU"] == [
        pytest.approx(0.1),
        pytest.approx(0.3),
    ]


def test_attrs_follow_format() -> None:
    inp = keras.Input((5, 6, 3))
    x = layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="up")(inp)
    x = layers.Cropping2D(((1, 2), (3, 0)), name="crop")(x)
    x = layers.Permute((3, 1, 2), name="perm")(x)
    x = layers.UpSampling2D(2, interpolation="bilinear", name="resize")(x)
    g = import_keras(keras.Model(inp, x))
    attrs = {n.name: n.attrs for n in g.nodes}
    assert attrs["up"] == {
        "stride": [2, 2],
        "padding": "SAME",
        "output_size": [10, 12],
        "activation": "NONE",
    }
    assert g.tensors["up/filter"].shape == (4, 3, 3, 3)  # [O, KH, KW, C]
    assert attrs["crop"] == {"begin": [1, 3, 0], "end": [8, 12, 4], "strides": [1, 1, 1]}
    assert attrs["perm"] == {"perm": [0, 3, 1, 2]}
    assert attrs["resize"] == {"size": [8, 14], "align_corners": False, "half_pixel_centers": True}


REFUSED: dict[str, tuple[layers.Layer, str]] = {
    "dilated": (
        layers.Conv2DTranspose(2, 3, dilation_rate=2),
        "Conv2DTranspose (dilation_rate=(2, 2))",
    ),
    "output_padding": (
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=1),
        "Conv2DTranspose (output_padding=",
    ),
    "channels_first": (
        layers.Conv2DTranspose(2, 3, data_format="channels_first"),
        "Conv2DTranspose (data_format=channels_first)",
    ),
    "bicubic_upsampling": (
        layers.UpSampling2D(interpolation="bicubic"),
        "UpSampling2D (interpolation=bicubic)",
    ),
    "resizing_crop": (
        layers.Resizing(4, 8, crop_to_aspect_ratio=True),
        "Resizing (crop_to_aspect_ratio=True)",
    ),
    "resizing_pad": (
        layers.Resizing(4, 8, pad_to_aspect_ratio=True),
        "Resizing (pad_to_aspect_ratio=True)",
    ),
    "resizing_antialias": (layers.Resizing(3, 3, antialias=True), "Resizing (antialias=True)"),
    "resizing_area": (layers.Resizing(4, 4, interpolation="area"), "Resizing (interpolation=area)"),
    "relu_threshold": (layers.ReLU(threshold=0.5), "ReLU (threshold=0.5)"),
    "relu_slope_and_max": (
        layers.ReLU(max_value=6.0, negative_slope=0.1),
        "ReLU (negative_slope=0.1, max_value=6.0)",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_settings(name: str) -> None:
    layer, key = REFUSED[name]
    with pytest.raises(UnsupportedOpError) as info:
        import_keras(seq((6, 6, 2), layer))
    assert key in str(info.value)


def test_batchnorm_folds_into_transpose_conv(tmp_path: Path) -> None:
    """BatchNormalization after Conv2DTranspose folds into its filter and bias (output
    channel axis 0), then the ReLU fuses: one TRANSPOSE_CONV node, fp32 exact to Keras."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2DTranspose(5, 3, strides=2, padding="same")(inp)
    x = keras.layers.BatchNormalization()(x)
    model = keras.Model(inp, keras.layers.ReLU()(x))
    rng = np.random.default_rng(0)
    model.layers[2].set_weights(
        [rng.uniform(0.5, 2, 5), rng.normal(0, 1, 5), rng.normal(0, 1, 5), rng.uniform(0.5, 2, 5)]
    )
    graph = import_keras(model)
    from gearshift.converters.passes import run_passes

    run_passes(graph)
    assert graph.op_counts() == {"TRANSPOSE_CONV": 1}
    xs = rng.normal(size=(4, 8, 8, 3)).astype(np.float32)
    gs.convert(model, tmp_path / "m.gear", gears=("fp32",), progress=False)
    got = gs.Runtime(tmp_path / "m.gear").run(xs)
    assert rel_err(got, keras_out(model, xs)) < 1e-5
