"""Raw keras.ops calls in functional graphs (``x + 3.0``, ``ops.relu(x)``...):
the exact ones convert and match Keras, the rest are refused by name, and
MobileNetV3 (whose hard_sigmoid is ``ReLU(6.)(x + 3.) * (1/6)``) converts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import gearshift as gs
from gearshift.errors import UnsupportedOpError
from helpers import convert_and_run, keras_out, rel_err

keras = pytest.importorskip("keras")

TOL = 1e-4
ops = keras.ops
C = 4
_PER_CHANNEL = np.linspace(0.5, 1.5, C).astype(np.float32)


def _unary(fn: Callable[[keras.KerasTensor], keras.KerasTensor]) -> keras.Model:
    inp = keras.Input((5, 5, C))
    return keras.Model(inp, fn(inp))


def _binary(fn: Callable[..., keras.KerasTensor]) -> keras.Model:
    a, b = keras.Input((5, 5, C)), keras.Input((5, 5, C))
    return keras.Model([a, b], fn(a, b))


# Single-input graphs: scalars, reversed operands, per-channel and spatial arrays.
UNARY: dict[str, Callable[[keras.KerasTensor], keras.KerasTensor]] = {
    "add_scalar": lambda x: x + 3.0,
    "radd_scalar": lambda x: 3.0 + x,
    "sub_scalar": lambda x: x - 0.5,
    "rsub_scalar": lambda x: 2.0 - x,
    "mul_scalar": lambda x: x * (1.0 / 6.0),
    "rmul_int": lambda x: 2 * x,
    "div_scalar": lambda x: x / 6.0,
    "div_numpy_scalar": lambda x: ops.divide(x, np.float32(7.0)),
    "add_per_channel": lambda x: x + _PER_CHANNEL,
    "mul_per_channel": lambda x: x * _PER_CHANNEL,
    "sub_per_channel": lambda x: x - _PER_CHANNEL,
    "div_per_channel": lambda x: x / _PER_CHANNEL,
    "mul_spatial": lambda x: x * np.linspace(-1, 1, 5 * C).reshape(5, 1, C).astype(np.float32),
    "add_batch1_array": lambda x: x + _PER_CHANNEL.reshape(1, 1, 1, C),
    "hard_sigmoid_mnv3": lambda x: keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0),
    "relu": ops.relu,
    "relu6": ops.relu6,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "hard_swish": ops.hard_swish,
    "hard_silu": ops.hard_silu,
    "silu": ops.silu,
    "hard_sigmoid": ops.hard_sigmoid,
    "softmax": ops.softmax,
    "softmax_axis3": lambda x: ops.softmax(x, axis=3),
    "negative": lambda x: -x,
    "ops_negative": ops.negative,
    "reshape": lambda x: ops.reshape(x, (-1, 25 * C)),
    "reshape_3d": lambda x: ops.reshape(x, (-1, 25, C)),
    "concat_self": lambda x: ops.concatenate([x, x * 2.0], axis=-1),
    "concat_axis1": lambda x: ops.concatenate([x, -x], axis=1),
    "mean_spatial": lambda x: ops.mean(x, axis=(1, 2)),
    "mean_keepdims": lambda x: ops.mean(x, axis=[1, 2], keepdims=True),
    "mean_one_axis": lambda x: ops.mean(x, axis=-2),
    "chain": lambda x: ops.relu(ops.reshape((x - 1.0) / 2.0, (-1, 25 * C)) * 3.0 + 0.25),
}

BINARY: dict[str, Callable[..., keras.KerasTensor]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "mul_same": lambda a, b: a * a,
    "concat": lambda a, b: ops.concatenate([a, b], axis=-1),
    "se_broadcast": lambda a, b: a * ops.mean(b, axis=(1, 2), keepdims=True),
    "ops_functions": lambda a, b: ops.subtract(ops.add(a, b), ops.multiply(a, b)),
}


def _inputs(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-4, 4, (2, 5, 5, C)).astype(np.float32) for _ in range(n)]


def _check(model: keras.Model, xs: list[np.ndarray], path: Path) -> None:
    x = xs[0] if len(xs) == 1 else xs
    got = convert_and_run(model, x, path)
    ref = model(x, training=False)
    if isinstance(got, dict):  # several inputs: outputs by name, in model order
        got = next(iter(got.values()))
    assert got.shape == tuple(ref.shape)
    assert rel_err(got, np.asarray(ref)) <= TOL


@pytest.mark.parametrize("name", sorted(UNARY))
def test_raw_op_unary_graph(name: str, tmp_path: Path) -> None:
    _check(_unary(UNARY[name]), _inputs(1), tmp_path / "m.gear")


@pytest.mark.parametrize("name", sorted(BINARY))
def test_raw_op_tensor_tensor(name: str, tmp_path: Path) -> None:
    _check(_binary(BINARY[name]), _inputs(2), tmp_path / "m.gear")


def test_raw_op_emits_format_ops(tmp_path: Path) -> None:
    """``2 - x`` is MUL by -1 then ADD 2; ``x / 6`` is MUL by the float32 1/6."""
    from gearshift.converters.import_keras import import_keras

    g = import_keras(_unary(lambda x: (2.0 - x) / 6.0))
    ops_used = [n.op for n in g.nodes]
    assert ops_used == ["MUL", "ADD", "MUL"]
    consts = sorted(float(t.data.reshape(-1)[0]) for t in g.tensors.values() if t.data is not None)
    assert consts == sorted([-1.0, 2.0, float(np.float32(1.0 / 6.0))])


REFUSED: dict[str, tuple[Callable[[keras.KerasTensor], keras.KerasTensor], str]] = {
    "sin": (ops.sin, "keras.ops.Sin"),
    "exp": (ops.exp, "keras.ops.Exp"),
    "divide_by_tensor": (lambda x: 1.0 / x, "keras.ops.TrueDivide (division by a tensor)"),
    "softmax_axis1": (lambda x: ops.softmax(x, axis=1), "keras.ops.Softmax (axis=1"),
    "mean_batch": (lambda x: ops.mean(x, axis=(0, 1)), "keras.ops.Mean (axis=[0, 1]"),
    "mean_all": (lambda x: ops.mean(x), "keras.ops.Mean (axis=None"),
    "reshape_batch": (lambda x: ops.reshape(x, (2, -1)), "keras.ops.Reshape (newshape=(2, -1)"),
    "const_grows": (
        lambda x: x + np.ones((3, 5, 5, C), np.float32),
        "keras.ops.Add (constant of shape (3, 5, 5, 4)",
    ),
    "const_widens_axis": (
        lambda x: ops.mean(x, axis=2, keepdims=True) * np.ones((5, 3, C), np.float32),
        "keras.ops.Multiply (constant of shape (5, 3, 4) does not fit",
    ),
    "backend_tensor_operand": (
        lambda x: x * ops.convert_to_tensor(_PER_CHANNEL),
        "keras.ops.Multiply (operand of type",
    ),
    "concat_batch": (lambda x: ops.concatenate([x, x], axis=0), "keras.ops.Concatenate (axis=[0]"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_raw_op_refused_by_name(name: str, tmp_path: Path) -> None:
    fn, expected = REFUSED[name]
    with pytest.raises(UnsupportedOpError) as info:
        gs.convert(_unary(fn), tmp_path / "m.gear", gears=("fp32",))
    assert expected in str(info.value)


def test_raw_op_refusals_listed_together(tmp_path: Path) -> None:
    model = _unary(lambda x: ops.cos(ops.sin(x) + 1.0))
    with pytest.raises(UnsupportedOpError, match=r"keras\.ops\.Sin ×1.*keras\.ops\.Cos ×1"):
        gs.convert(model, tmp_path / "m.gear", gears=("fp32",))


def _stats_bn(model: keras.Model, seed: int) -> None:
    """Non-trivial BN statistics, so a wrong fold or operand order shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, g.shape).astype(np.float32),
                    rng.normal(0, 0.2, b.shape).astype(np.float32),
                    rng.normal(0, 0.2, m.shape).astype(np.float32),
                    rng.uniform(0.5, 1.5, v.shape).astype(np.float32),
                ]
            )


@pytest.mark.parametrize("arch", ["MobileNetV3Small", "MobileNetV3Large"])
def test_mobilenet_v3_full(arch: str, tmp_path: Path) -> None:
    """minimalistic=False: hard_sigmoid is raw ``x + 3.`` and ``* (1/6)`` ops."""
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, arch)(
        input_shape=(96, 96, 3),
        weights=None,
        minimalistic=False,
        include_preprocessing=True,
        classifier_activation=None,
    )
    _stats_bn(model, seed=1)
    x = np.random.default_rng(2).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    got = convert_and_run(model, x, tmp_path / "m.gear")
    ref = keras_out(model, x)
    assert got.shape == ref.shape == (2, 1000)
    assert float(ref.std()) > 1e-3  # not a comparison between near-constants
    assert rel_err(got, ref) <= TOL
