"""The int8 ops quant_ref.py gained for the whole-gear oracle (MUL, MEAN, RELU*, the
LOGISTIC/TANH/HARD_SWISH tables, SOFTMAX, PAD, CONCATENATION, graph input/output):
against float math (within 1 unit), and against LiteRT's reference kernels.

LiteRT (``BUILTIN_REF``) agrees bit for bit on RELU, RELU6, LOGISTIC, TANH, SOFTMAX,
MUL and PAD. It differs by at most 1 unit on HARD_SWISH (TFLite's int8 kernel is a
16-bit fixed-point evaluation, not a table of the exact function) and on MEAN
(TFLite rounds twice: requantizes by ``sx / sy``, then divides by the count,
or divides its fixed-point multiplier by the count in integers);
QUANTIZATION.md's MEAN is the single-rounding ``MBQM(acc, sx / (sy * n))``.
"""

from __future__ import annotations

import numpy as np
import pytest

from gearshift.converters import quant_ref as qr
from gearshift.converters import reference
from gearshift.converters.ir import Node


def _float(op: str, xs: list[np.ndarray], attrs: dict | None = None) -> np.ndarray:
    return np.asarray(reference._eval(Node("n", op, [], ["y"], attrs or {}), xs), np.float64)


def _close(got: np.ndarray, yf: np.ndarray, y: qr.QParams, lo: int = -128, hi: int = 127):
    want = np.clip(qr.quantize(yf, y), lo, hi)
    assert got.dtype == np.int8
    assert np.max(np.abs(got.astype(int) - want.astype(int))) <= 1


def _q(x: np.ndarray) -> tuple[np.ndarray, qr.QParams, np.ndarray]:
    qp = qr.choose_qparams(float(x.min()), float(x.max()))
    q = qr.quantize(x, qp)
    return q, qp, qr.dequantize(q, qp).astype(np.float64)


RNG = np.random.default_rng(0)
X = (RNG.normal(size=(3, 5, 4, 6)) * 3).astype(np.float32)


def test_input_output_conversion() -> None:
    qp = qr.QParams.of(0.5, 3)
    x = np.array([0.25, -0.25, 0.75, 100.0, -100.0], np.float32)
    np.testing.assert_array_equal(qr.quantize_input(x, qp), [4, 2, 5, 127, -128])  # ties away
    y = qr.dequantize_output(np.array([3, 4, -128], np.int8), qp)
    assert y.dtype == np.float32 and y.tolist() == [0.0, 0.5, -65.5]


def test_mul_broadcast_and_activation() -> None:
    aq, a, ad = _q(X)
    bq, b, bd = _q((RNG.normal(size=(6,)) * 2).astype(np.float32))
    yf = ad * bd
    y = qr.choose_qparams(yf.min(), yf.max())
    _close(qr.q8_mul(aq, a, bq, b, y), yf, y)
    lo, hi = qr.activation_range("RELU6", y)
    _close(qr.q8_mul(aq, a, bq, b, y, "RELU6"), np.clip(yf, 0, 6), y, lo, hi)


@pytest.mark.parametrize(("axes", "keep"), [((1, 2), True), ((1, 2), False), ((3,), False)])
def test_mean(axes, keep) -> None:
    xq, x, xd = _q(X + 1.0)
    yf = _float("MEAN", [xd], {"axes": list(axes), "keep_dims": keep})
    y = qr.choose_qparams(yf.min(), yf.max())
    got = qr.q8_mean(xq, x, y, axes, keep)
    assert got.shape == yf.shape
    _close(got, yf, y)


@pytest.mark.parametrize("op", ["RELU", "RELU6", "RELU_N1_TO_1"])
def test_relus(op) -> None:
    xq, x, xd = _q(X)
    y = qr.choose_qparams(-1.0, 6.0)
    lo, hi = qr.activation_range(op, y)
    got = qr.q8_relu(xq, x, y, op)
    assert got.min() >= lo and got.max() <= hi
    _close(got, _float(op, [xd]), y, lo, hi)
    with pytest.raises(ValueError):
        qr.q8_relu(xq, x, y, "TANH")


@pytest.mark.parametrize(
    ("op", "y"),
    [("LOGISTIC", (1 / 256, -128)), ("TANH", (1 / 128, 0)), ("HARD_SWISH", (0.05, -60))],
)
def test_tables(op, y) -> None:
    xq, x, xd = _q(X)
    yq = qr.QParams.of(*y)
    table = qr.q8_lookup_table(op, x, yq)
    assert table.shape == (256,) and table.dtype == np.int8
    if op != "HARD_SWISH":
        assert np.all(np.diff(table.astype(int)) >= 0)  # monotonic functions
    got = qr.q8_table_op(xq, x, yq, op)
    np.testing.assert_array_equal(got, table[xq.astype(int) + 128])
    _close(got, _float(op, [xd]), yq)


def test_logistic_table_saturates_without_warnings() -> None:
    t = qr.q8_lookup_table("LOGISTIC", qr.QParams.of(100.0, 0), qr.QParams.of(1 / 256, -128))
    assert t[0] == -128 and t[-1] == 127


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_softmax(beta) -> None:
    xq, x, xd = _q(X)
    y = qr.QParams.of(1 / 256, -128)
    got = qr.q8_softmax(xq, x, y, beta)
    _close(got, _float("SOFTMAX", [xd], {"beta": beta}), y)


def test_softmax_sums_in_index_order() -> None:
    # A long row: a pairwise sum (np.sum) and the sequential one may differ in the last bit.
    x = qr.QParams.of(0.01, 0)
    q = np.arange(-128, 128, dtype=np.int8)[None, :].repeat(3, 0)
    e = np.exp(np.float64(1.0) * np.float64(np.float32(0.01)) * (q.astype(np.float64) - 127))
    total = 0.0
    for v in e[0]:
        total += v
    want = np.clip(qr.round_half_away(e / total / (1 / 256)) - 128, -128, 127)
    np.testing.assert_array_equal(qr.q8_softmax(q, x, qr.QParams.of(1 / 256, -128)), want)


def test_pad_and_concatenation() -> None:
    x = qr.QParams.of(0.1, -7)
    q = np.arange(12, dtype=np.int8).reshape(1, 3, 4)
    p = qr.q8_pad(q, x, [[0, 0], [1, 0], [0, 2]])
    assert p.shape == (1, 4, 6) and p[0, 0, 0] == -7 and p[0, 1, 5] == -7
    np.testing.assert_array_equal(p[0, 1:, :4], q[0])
    c = qr.q8_concatenation([q, -q], 2, x, "RELU")
    assert c.shape == (1, 3, 8) and c.min() == -7  # RELU clamps at the zero point
    np.testing.assert_array_equal(c[..., :4], q)


# -- LiteRT's reference kernels ------------------------------------------------------
@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("ai_edge_litert.interpreter")
    return pytest.importorskip("keras")


def _lite_case(keras, build, xs: list[np.ndarray], op_name: str):
    """(int8 inputs, their params, output params, LiteRT's int8 output) of one-op model."""
    from test_quant_ref import _litert, _op_tensors, _qp

    inputs = [keras.Input(x.shape[1:]) for x in xs]
    out = build(*inputs)
    model = keras.Model(inputs if len(inputs) > 1 else inputs[0], out)
    interp = _litert(model, xs)
    ins, outd = _op_tensors(interp, op_name)
    qs = [qr.quantize(x, _qp(d)) for d, x in zip(ins, xs)]
    for d, q in zip(ins, qs):
        interp.set_tensor(d["index"], q)
    interp.invoke()
    y = interp.get_tensor(interp.get_output_details()[0]["index"])
    return qs, [_qp(d) for d in ins[: len(xs)]], _qp(outd), y


UNARY_LITE = [
    ("RELU", lambda k: k.layers.ReLU(), lambda q, a, y: qr.q8_relu(q, a, y, "RELU"), 0),
    ("RELU6", lambda k: k.layers.ReLU(6.0), lambda q, a, y: qr.q8_relu(q, a, y, "RELU6"), 0),
    (
        "LOGISTIC",
        lambda k: k.layers.Activation("sigmoid"),
        lambda q, a, y: qr.q8_table_op(q, a, y, "LOGISTIC"),
        0,
    ),
    (
        "TANH",
        lambda k: k.layers.Activation("tanh"),
        lambda q, a, y: qr.q8_table_op(q, a, y, "TANH"),
        0,
    ),
    (
        "HARD_SWISH",
        lambda k: k.layers.Activation("hard_swish"),
        lambda q, a, y: qr.q8_table_op(q, a, y, "HARD_SWISH"),
        1,  # TFLite's fixed-point hard swish
    ),
]


@pytest.mark.parametrize(("op", "layer", "kernel", "tol"), UNARY_LITE)
def test_unary_vs_litert(keras, op, layer, kernel, tol) -> None:
    x = (np.random.default_rng(20).normal(size=(16, 6, 6, 3)) * 3).astype(np.float32)
    (xq,), (xp,), yp, y_lite = _lite_case(keras, layer(keras), [x], op)
    diff = np.abs(kernel(xq, xp, yp).astype(int) - y_lite.astype(int))
    assert diff.max() <= tol


def test_softmax_vs_litert(keras) -> None:
    x = (np.random.default_rng(21).normal(size=(64, 10)) * 3).astype(np.float32)
    (xq,), (xp,), yp, y_lite = _lite_case(keras, keras.layers.Softmax(), [x], "SOFTMAX")
    assert (float(yp.scale), int(yp.zero_point)) == (1 / 256, -128)
    np.testing.assert_array_equal(qr.q8_softmax(xq, xp, yp), y_lite)


def test_mul_vs_litert(keras) -> None:
    rng = np.random.default_rng(22)
    a = rng.normal(size=(16, 5, 5, 3)).astype(np.float32)
    b = (rng.normal(size=(16, 5, 5, 3)) * 4).astype(np.float32)
    mul = keras.layers.Multiply()
    (aq, bq), (ap, bp), yp, y_lite = _lite_case(keras, lambda u, v: mul([u, v]), [a, b], "MUL")
    np.testing.assert_array_equal(qr.q8_mul(aq, ap, bq, bp, yp), y_lite)


@pytest.mark.parametrize("keep", [True, False])
def test_mean_vs_litert(keras, keep) -> None:
    x = np.random.default_rng(23).normal(size=(32, 7, 6, 5)).astype(np.float32)
    layer = keras.layers.GlobalAveragePooling2D(keepdims=keep)
    (xq,), (xp,), yp, y_lite = _lite_case(keras, layer, [x], "MEAN")
    diff = np.abs(qr.q8_mean(xq, xp, yp, (1, 2), keep).astype(int) - y_lite.astype(int))
    assert diff.max() <= 1  # TFLite rounds twice (see the module docstring)


def test_pad_vs_litert(keras) -> None:
    x = (np.random.default_rng(24).normal(size=(8, 4, 4, 3)) + 1).astype(np.float32)
    layer = keras.layers.ZeroPadding2D(((1, 0), (2, 1)))
    (xq,), (xp,), yp, y_lite = _lite_case(keras, layer, [x], "PAD")
    assert (float(xp.scale), int(xp.zero_point)) == (float(yp.scale), int(yp.zero_point))
    np.testing.assert_array_equal(qr.q8_pad(xq, xp, [[0, 0], [1, 0], [2, 1], [0, 0]]), y_lite)
