"""converters/quant_ref.py: fixed point, quantizers, int4 packing, and the q8 kernels
against float math (within 1 unit) and against LiteRT's reference kernels (bit for bit)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gearshift.converters import quant_ref as qr
from gearshift.converters import reference
from gearshift.converters.dtypes import GEARS, gear_to_token, token_to_gear
from gearshift.converters.ir import Node

I32MIN, I32MAX = qr.INT32_MIN, qr.INT32_MAX


# -- dtypes -------------------------------------------------------------------------
def test_gear_table_round_trips() -> None:
    tokens = [gear_to_token(g) for g in GEARS]
    assert tokens == ["f32", "f32", "f16", "f16", "q8", "q8", "q4", "q4"]
    for g in GEARS:
        assert token_to_gear(gear_to_token(g)) == g.removesuffix("-sparse")
    with pytest.raises(ValueError, match="unknown gear"):
        gear_to_token("int3")


# -- fixed point ---------------------------------------------------------------------
def _srdhm_scalar(a: int, b: int) -> int:
    """Straight from the definition, in Python's unbounded ints."""
    if a == b == I32MIN:
        return I32MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return int(math.copysign(abs(ab + nudge) // (1 << 31), ab + nudge))


def _rdbpot_scalar(x: int, e: int) -> int:
    # round(x / 2**e), ties away from zero, exact rational arithmetic
    q, r = divmod(abs(x), 1 << e)
    if 2 * r >= (1 << e) and e > 0:
        q += 1
    return q if x >= 0 else -q


def test_srdhm_edges_and_random() -> None:
    assert qr.srdhm(I32MIN, I32MIN) == I32MAX
    assert qr.srdhm(I32MIN, I32MAX) == -I32MAX
    assert qr.srdhm(I32MAX, I32MAX) == I32MAX - 1
    rng = np.random.default_rng(0)
    a = rng.integers(I32MIN, I32MAX, 2000, endpoint=True)
    b = rng.integers(I32MIN, I32MAX, 2000, endpoint=True)
    a[:4] = [I32MIN, I32MIN, 0, -1]
    b[:4] = [I32MIN, 1, I32MIN, 1 << 30]
    got = qr.srdhm(a, b)
    want = [_srdhm_scalar(int(x), int(y)) for x, y in zip(a, b)]
    np.testing.assert_array_equal(got, want)


def test_rounding_divide_by_pot_ties_away_from_zero() -> None:
    x = np.array([5, -5, 6, -6, 7, -7, 2, -2, 3, -3])
    np.testing.assert_array_equal(
        qr.rounding_divide_by_pot(x, 1), [3, -3, 3, -3, 4, -4, 1, -1, 2, -2]
    )
    rng = np.random.default_rng(1)
    xs = rng.integers(I32MIN, I32MAX, 3000, endpoint=True)
    es = rng.integers(0, 31, 3000, endpoint=True)
    got = qr.rounding_divide_by_pot(xs, es)
    np.testing.assert_array_equal(got, [_rdbpot_scalar(int(x), int(e)) for x, e in zip(xs, es)])
    with pytest.raises(ValueError):
        qr.rounding_divide_by_pot(1, 32)


def test_quantize_multiplier() -> None:
    assert qr.quantize_multiplier(0.0) == (0, 0)
    assert qr.quantize_multiplier(0.5) == (1 << 30, 0)
    assert qr.quantize_multiplier(1.0) == (1 << 30, 1)
    assert qr.quantize_multiplier(1e-12) == (0, 0)  # shift < -31: flushed
    assert qr.quantize_multiplier(2.0**40) == (I32MAX, 30)  # saturated
    # q rounds up to exactly 2**31 -> halved, shift bumped
    assert qr.quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)
    rng = np.random.default_rng(2)
    for m in rng.uniform(1e-6, 4.0, 200):
        q, s = qr.quantize_multiplier(float(m))
        assert (1 << 30) <= q <= I32MAX
        assert abs(q * 2.0 ** (s - 31) - m) <= m * 2.0**-30


def test_multiply_by_quantized_multiplier_close_to_real() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-(1 << 20), 1 << 20, 1000)
    for m in (0.000123, 0.3, 0.75, 1.9, 7.5):
        qm, s = qr.quantize_multiplier(m)
        got = qr.multiply_by_quantized_multiplier(x, qm, s)
        assert np.max(np.abs(got - x * m)) <= 1.0


# -- quantizers ----------------------------------------------------------------------
def test_fp16_rne_and_saturation() -> None:
    w = np.array([1.0, 1 + 2**-11, 1 + 3 * 2**-11, 7e4, -1e9, np.inf, np.nan], np.float32)
    h = qr.quantize_f16(w)
    assert h.dtype == np.float16
    np.testing.assert_array_equal(h[:5], [1.0, 1.0, 1 + 2**-9, 65504, -65504])
    assert np.isinf(h[5]) and np.isnan(h[6])


def test_round_half_away() -> None:
    np.testing.assert_array_equal(
        qr.round_half_away([0.5, 1.5, 2.5, -0.5, -2.5]), [1, 2, 3, -1, -3]
    )


@pytest.mark.parametrize(
    ("op", "shape"),
    [("CONV_2D", (8, 3, 3, 4)), ("DEPTHWISE_CONV_2D", (1, 3, 3, 6)), ("FULLY_CONNECTED", (5, 7))],
)
def test_weights_q8_per_channel(op: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(4)
    w = rng.normal(size=shape).astype(np.float32)
    axis = qr.weight_channel_axis(op)
    w[(slice(None),) * axis + (0,)] = 0.0  # an all-zero channel
    q, qp = qr.quantize_weights_q8(w, axis)
    assert q.dtype == np.int8 and q.min() >= -127 and q.max() <= 127
    assert qp.scale.shape == (shape[axis],) and np.all(qp.scale > 0)
    assert np.all(
        np.max(np.abs(q.astype(int)), axis=tuple(i for i in range(w.ndim) if i != axis))[1:] == 127
    )
    err = np.abs(qr.dequantize(q, qp) - w)
    assert np.all(err <= qp._bcast(qp.scale, w.ndim) / 2 + 1e-7)


def test_choose_qparams_zero_exact() -> None:
    for lo, hi in [(-1.0, 3.0), (0.2, 5.0), (-4.0, -0.5), (-0.013, 0.97)]:
        qp = qr.choose_qparams(lo, hi)
        assert -128 <= int(qp.zero_point) <= 127
        assert qr.dequantize(qr.quantize(np.array([0.0]), qp), qp)[0] == 0.0
        x = np.linspace(min(lo, 0), max(hi, 0), 101)
        assert np.max(np.abs(qr.dequantize(qr.quantize(x, qp), qp) - x)) <= float(qp.scale) * 0.51
    assert int(qr.choose_qparams(0.0, 2.0).zero_point) == -128
    assert float(qr.choose_qparams(0.0, 0.0).scale) == 1.0


def test_bias_int32() -> None:
    b = np.array([0.5, -0.25, 1e-3], np.float32)
    q = qr.quantize_bias(b, 0.02, np.array([0.01, 0.02, 0.04], np.float32))
    assert q.dtype == np.int32
    np.testing.assert_array_equal(q, [2500, -625, 1])


# -- int4 ----------------------------------------------------------------------------
def test_int4_pack_round_trip() -> None:
    v = np.arange(-8, 8, dtype=np.int8)
    p = qr.pack_int4(v)
    assert p.size == 8 and p[0] == ((-8 & 0xF) | ((-7 & 0xF) << 4))
    np.testing.assert_array_equal(qr.unpack_int4(p), v)
    rng = np.random.default_rng(5)
    r = rng.integers(-8, 8, 1000).astype(np.int8)
    np.testing.assert_array_equal(qr.unpack_int4(qr.pack_int4(r)), r)
    with pytest.raises(ValueError):
        qr.pack_int4(np.array([8, 0], np.int8))


@pytest.mark.parametrize("group", [32, 64, None])
@pytest.mark.parametrize("levels", ["q4_0", "sym7"])
def test_int4_quantize_round_trip(group: int | None, levels: str) -> None:
    rng = np.random.default_rng(6)
    w = rng.normal(size=(6, 3, 3, 10)).astype(np.float32)  # K = 90: a partial last block
    q, d = qr.quantize_q4(w, 0, group, levels)
    assert d.dtype == np.float16 and q.min() >= -8 and q.max() <= 7
    back = qr.dequantize_q4(q, d, w.shape, 0)
    assert back.shape == w.shape
    g = 90 if group is None else group
    step = np.repeat(d.astype(np.float32), g, axis=1)[:, :90].reshape(w.shape)
    # sym7: half a step; q4_0: the side opposite the extreme clips at +7, one step
    tol = 0.5 if levels == "sym7" else 1.0
    assert np.all(np.abs(back - w) <= np.abs(step) * tol + 1e-3)
    # depthwise: channel axis 3
    wd = rng.normal(size=(1, 3, 3, 5)).astype(np.float32)
    q, d = qr.quantize_q4(wd, 3, group, levels)
    assert qr.dequantize_q4(q, d, wd.shape, 3).shape == wd.shape


# -- kernels vs float math ------------------------------------------------------------
def _float_op(
    op: str, xs: list[np.ndarray], consts: list[np.ndarray | None], attrs: dict
) -> np.ndarray:
    """The float op through the reference interpreter's evaluator."""
    node = Node("n", op, [], ["y"], attrs)
    return np.asarray(reference._eval(node, [*xs, *consts]), np.float64)


def _check_vs_float(got: np.ndarray, yf: np.ndarray, y: qr.QParams, act: str) -> None:
    want = qr.quantize(yf, y)
    lo, hi = qr.activation_range(act, y)
    want = np.clip(want, lo, hi)
    assert got.dtype == np.int8
    assert np.max(np.abs(got.astype(int) - want.astype(int))) <= 1


@pytest.mark.parametrize(
    ("stride", "padding", "act"),
    [((1, 1), "SAME", "NONE"), ((2, 2), "SAME", "RELU"), ((1, 2), "VALID", "RELU6")],
)
def test_q8_conv_and_depthwise_vs_float(stride, padding, act) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 9, 8, 3)).astype(np.float32)
    xqp = qr.choose_qparams(x.min(), x.max())
    xq = qr.quantize(x, xqp)
    xd = qr.dequantize(xq, xqp)
    attrs = {"stride": list(stride), "padding": padding, "dilation": [1, 1], "activation": act}
    for op, wshape in (("CONV_2D", (5, 3, 3, 3)), ("DEPTHWISE_CONV_2D", (1, 3, 3, 6))):
        w = rng.normal(size=wshape).astype(np.float32) * 0.3
        b = rng.normal(size=wshape[qr.weight_channel_axis(op)]).astype(np.float32) * 0.1
        wq, wqp = qr.quantize_weights_q8(w, qr.weight_channel_axis(op))
        bq = qr.quantize_bias(b, float(xqp.scale), wqp.scale)
        a = dict(attrs, depth_multiplier=2) if op == "DEPTHWISE_CONV_2D" else attrs
        wd = qr.dequantize(wq, wqp)
        bd = bq.astype(np.float64) * float(xqp.scale) * wqp.scale.astype(np.float64)
        yf = _float_op(op, [xd], [wd, bd], a)
        y = qr.choose_qparams(yf.min(), yf.max())
        kern = qr.q8_conv2d if op == "CONV_2D" else qr.q8_depthwise_conv2d
        got = kern(xq, xqp, wq, wqp, bq, y, stride, (1, 1), padding, act)
        _check_vs_float(got, yf, y, act)


def test_q8_fc_add_pools_vs_float() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(4, 20)).astype(np.float32)
    xqp = qr.choose_qparams(x.min(), x.max())
    xq = qr.quantize(x, xqp)
    w = rng.normal(size=(7, 20)).astype(np.float32) * 0.2
    wq, wqp = qr.quantize_weights_q8(w, 0)
    bq = qr.quantize_bias(np.zeros(7), float(xqp.scale), wqp.scale)
    yf = qr.dequantize(xq, xqp).astype(np.float64) @ qr.dequantize(wq, wqp).T.astype(np.float64)
    y = qr.choose_qparams(yf.min(), yf.max())
    _check_vs_float(qr.q8_fully_connected(xq, xqp, wq, wqp, bq, y, "RELU"), yf, y, "RELU")

    a = rng.normal(size=(2, 5, 5, 3)).astype(np.float32)
    b = rng.normal(size=(2, 5, 5, 3)).astype(np.float32) * 3
    aqp, bqp = qr.choose_qparams(a.min(), a.max()), qr.choose_qparams(b.min(), b.max())
    aq, bq8 = qr.quantize(a, aqp), qr.quantize(b, bqp)
    yf = qr.dequantize(aq, aqp).astype(np.float64) + qr.dequantize(bq8, bqp)
    y = qr.choose_qparams(yf.min(), yf.max())
    _check_vs_float(qr.q8_add(aq, aqp, bq8, bqp, y), yf, y, "NONE")

    attrs = {"filter": [3, 3], "stride": [2, 2], "padding": "SAME", "activation": "NONE"}
    for op, kern in (("AVERAGE_POOL_2D", qr.q8_avg_pool), ("MAX_POOL_2D", qr.q8_max_pool)):
        yf = _float_op(op, [qr.dequantize(aq, aqp)], [], attrs)
        got = kern(aq, aqp, aqp, (3, 3), (2, 2), "SAME")
        _check_vs_float(got, yf, aqp, "NONE")


# -- kernels vs LiteRT, bit for bit ---------------------------------------------------
def _litert(model, reps: list[np.ndarray], per_tensor_dense: bool = False):
    """Full-integer TFLite conversion + a LiteRT interpreter on the reference kernels
    (``BUILTIN_REF``), inputs resized to the representative batch; ``per_tensor_dense``:
    FULLY_CONNECTED weights with one scale (TF's default is one per output channel)."""
    tf = pytest.importorskip("tensorflow")
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if per_tensor_dense:
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    n = len(reps[0])
    conv.representative_dataset = lambda: ([r[i : i + 1] for r in reps] for i in range(n))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    interp = litert.Interpreter(
        model_content=conv.convert(),
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
    )
    for d in interp.get_input_details():
        interp.resize_tensor_input(d["index"], [n, *d["shape"][1:]])
    interp.allocate_tensors()
    return interp


def _qp(detail: dict, axis_for_channels: int | None = None) -> qr.QParams:
    p = detail["quantization_parameters"]
    s, z = p["scales"], p["zero_points"]
    if s.size == 1:
        return qr.QParams.of(s[0], int(z[0]))
    return qr.QParams.of(s, z, p["quantized_dimension"])


def _op_tensors(interp, op_name: str):
    """(input details, output detail) of the single op named ``op_name``."""
    ops = [o for o in interp._get_ops_details() if o["op_name"] == op_name]
    assert len(ops) == 1, [o["op_name"] for o in interp._get_ops_details()]
    td = {t["index"]: t for t in interp.get_tensor_details()}
    return [td.get(i) for i in ops[0]["inputs"]], td[ops[0]["outputs"][0]]


def _run_int8(interp, xs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    outs = []
    qs = []
    for d, x in zip(interp.get_input_details(), xs):
        qp = _qp(d)
        q = qr.quantize(x, qp)
        interp.set_tensor(d["index"], q)
        qs.append(q)
    interp.invoke()
    outs = interp.get_tensor(interp.get_output_details()[0]["index"])
    return qs, outs


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("ai_edge_litert.interpreter")
    return pytest.importorskip("keras")


def _single_input_case(keras, layer, shape, rng, op_name):
    inp = keras.Input(shape[1:])
    model = keras.Model(inp, layer(inp))
    x = rng.normal(size=shape).astype(np.float32)
    interp = _litert(model, [x])
    (xq,), y_lite = _run_int8(interp, [x])
    ins, out = _op_tensors(interp, op_name)
    return interp, xq, y_lite, ins, out


def _weights(interp, ins):
    w = interp.get_tensor(ins[1]["index"])
    wqp = _qp(ins[1])
    b = interp.get_tensor(ins[2]["index"]) if len(ins) > 2 and ins[2] is not None else None
    return w, wqp, b


@pytest.mark.parametrize(
    ("stride", "padding", "act"),
    [((1, 1), "same", None), ((2, 2), "same", "relu"), ((2, 1), "valid", "relu6")],
)
def test_q8_conv2d_bit_exact_vs_litert(keras, stride, padding, act) -> None:
    keras.utils.set_random_seed(10)
    rng = np.random.default_rng(10)
    layer = keras.layers.Conv2D(
        6, 3, strides=stride, padding=padding, activation=act, bias_initializer="random_normal"
    )
    interp, xq, y_lite, ins, out = _single_input_case(keras, layer, (8, 9, 7, 4), rng, "CONV_2D")
    w, wqp, b = _weights(interp, ins)
    fused = {"relu": "RELU", "relu6": "RELU6", None: "NONE"}[act]
    got = qr.q8_conv2d(xq, _qp(ins[0]), w, wqp, b, _qp(out), stride, (1, 1), padding.upper(), fused)
    np.testing.assert_array_equal(got, y_lite)


def test_q8_depthwise_bit_exact_vs_litert(keras) -> None:
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    layer = keras.layers.DepthwiseConv2D(
        3,
        strides=2,
        padding="same",
        depth_multiplier=2,
        activation="relu",
        bias_initializer="random_normal",
    )
    interp, xq, y_lite, ins, out = _single_input_case(
        keras, layer, (8, 9, 9, 3), rng, "DEPTHWISE_CONV_2D"
    )
    w, wqp, b = _weights(interp, ins)
    got = qr.q8_depthwise_conv2d(
        xq, _qp(ins[0]), w, wqp, b, _qp(out), (2, 2), (1, 1), "SAME", "RELU"
    )
    np.testing.assert_array_equal(got, y_lite)


def test_q8_fully_connected_bit_exact_vs_litert(keras) -> None:
    keras.utils.set_random_seed(12)
    rng = np.random.default_rng(12)
    layer = keras.layers.Dense(10, activation="relu", bias_initializer="random_normal")
    interp, xq, y_lite, ins, out = _single_input_case(
        keras, layer, (16, 24), rng, "FULLY_CONNECTED"
    )
    w, wqp, b = _weights(interp, ins)
    got = qr.q8_fully_connected(xq, _qp(ins[0]), w, wqp, b, _qp(out), "RELU")
    np.testing.assert_array_equal(got, y_lite)


@pytest.mark.parametrize("per_tensor", [False, True], ids=["per_channel", "per_tensor"])
@pytest.mark.parametrize("act", [None, "relu"])
def test_q8_fully_connected_rounds_once_like_litert(keras, per_tensor, act) -> None:
    """LiteRT's reference int8 FULLY_CONNECTED requantizes with single rounding (where
    CONV_2D rounds twice), with per-channel and per-tensor weights alike: over 4096 rows
    of random int8 input, q8_fully_connected equals it on every value, while the
    double-rounding requantization misses some (this test can tell them apart)."""
    keras.utils.set_random_seed(13)
    rng = np.random.default_rng(13)
    layer = keras.layers.Dense(24, activation=act, bias_initializer="random_normal")
    inp = keras.Input((48,))
    model = keras.Model(inp, layer(inp))
    interp = _litert(model, [rng.normal(size=(16, 48)).astype(np.float32)], per_tensor)
    ins, out = _op_tensors(interp, "FULLY_CONNECTED")
    w, wqp, b = _weights(interp, ins)
    assert np.size(wqp.scale) == (1 if per_tensor else 24)
    d = interp.get_input_details()[0]
    xq = rng.integers(-128, 128, size=(4096, 48), dtype=np.int8)
    interp.resize_tensor_input(d["index"], xq.shape)
    interp.allocate_tensors()
    interp.set_tensor(d["index"], xq)
    interp.invoke()
    y_lite = interp.get_tensor(interp.get_output_details()[0]["index"])
    fused = "RELU" if act else "NONE"
    xqp, yqp = _qp(ins[0]), _qp(out)
    np.testing.assert_array_equal(qr.q8_fully_connected(xq, xqp, w, wqp, b, yqp, fused), y_lite)
    acc = (xq.astype(np.int64) - int(xqp.zero_point)) @ w.astype(np.int64).T + b
    twice = qr._requantize(acc, qr._out_multiplier(xqp, wqp, yqp), yqp, fused)
    assert np.count_nonzero(twice != y_lite) > 0


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_q8_pools_bit_exact_vs_litert(keras, kind) -> None:
    rng = np.random.default_rng(13)
    cls = keras.layers.AveragePooling2D if kind == "avg" else keras.layers.MaxPooling2D
    layer = cls(3, strides=2, padding="same")
    op = "AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D"
    _interp, xq, y_lite, ins, out = _single_input_case(keras, layer, (8, 9, 8, 3), rng, op)
    kern = qr.q8_avg_pool if kind == "avg" else qr.q8_max_pool
    got = kern(xq, _qp(ins[0]), _qp(out), (3, 3), (2, 2), "SAME")
    np.testing.assert_array_equal(got, y_lite)


def test_q8_add_bit_exact_vs_litert(keras) -> None:
    rng = np.random.default_rng(14)
    a_in, b_in = keras.Input((5, 5, 3)), keras.Input((5, 5, 3))
    model = keras.Model([a_in, b_in], keras.layers.Add()([a_in, b_in]))
    a = rng.normal(size=(8, 5, 5, 3)).astype(np.float32)
    b = rng.normal(size=(8, 5, 5, 3)).astype(np.float32) * 4

    interp = _litert(model, [a, b])
    ins, out = _op_tensors(interp, "ADD")
    # Quantize each array with the params of the operand it is fed to.
    qs = [qr.quantize(v, _qp(d)) for d, v in zip(ins, (a, b))]
    for d, q in zip(ins, qs):
        interp.set_tensor(d["index"], q)
    interp.invoke()
    y_lite = interp.get_tensor(interp.get_output_details()[0]["index"])
    got = qr.q8_add(qs[0], _qp(ins[0]), qs[1], _qp(ins[1]), _qp(out))
    np.testing.assert_array_equal(got, y_lite)
