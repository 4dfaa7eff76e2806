"""The int8 kernels of format 1.3's ops (quant_ref.py) against LiteRT, bit for bit.

Each case converts a one-op TensorFlow function with full integer quantization
(``lite13.LiteCase``), runs it on LiteRT's reference kernels (``BUILTIN_REF``),
and feeds the op's own int8 input, weights and parameters to our kernel.

Bit-exact: TRANSPOSE_CONV (SAME/VALID, strides 1/2, fused RELU), SUB, MAXIMUM,
MINIMUM, LEAKY_RELU, PRELU, RESIZE_BILINEAR (all three coordinate modes),
RESIZE_NEAREST_NEIGHBOR, DEPTH_TO_SPACE (LiteRT's reference resolver lacks
its version 2: the default kernels run it), SPACE_TO_DEPTH, TRANSPOSE,
STRIDED_SLICE, GATHER, PADV2 and QUANTIZE (int8 to int8).

DIV: LiteRT's int8 kernel (reciprocal in fixed point, ``reference_ops::Div``)
agrees with QUANTIZATION.md's double formula wherever the result is not
within one unit of the output zero point; where the true quotient is that
small its final rounding shift exceeds 31 bits (undefined in C++) and x86
returns garbage (measured: up to 146 units off, e.g. -128 or 127 for
``1 / 60``). A divisor equal to its zero point makes LiteRT fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from lite13 import LiteCase

from gearshift.converters import quant_ref as qr

tf = pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert.interpreter")

RNG = np.random.default_rng(130)
X = RNG.normal(size=(4, 6, 5, 4)).astype(np.float32)
Y = (RNG.normal(size=(4, 6, 5, 4)) * 3).astype(np.float32)


def _same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("padding", "stride", "out", "act"),
    [("SAME", 2, (12, 10), "RELU"), ("VALID", 2, (13, 11), "NONE"), ("SAME", 1, (6, 5), "NONE")],
)
def test_transpose_conv(padding, stride, out, act) -> None:
    w = (RNG.normal(size=(3, 3, 6, 4)) * 0.3).astype(np.float32)  # TF: [KH, KW, O, C]
    b = (RNG.normal(size=(6,)) * 0.1).astype(np.float32)

    def fn(a):
        y = tf.nn.conv2d_transpose(a, w, [4, *out, 6], stride, padding) + b
        return tf.nn.relu(y) if act == "RELU" else y

    c = LiteCase(fn, [X], "TRANSPOSE_CONV")
    assert c.ops == ["TRANSPOSE_CONV"]  # activation fused
    xq, xp = c.input(2)  # TFLite: output_shape, weights, input, bias
    wq, wp = c.input(1)
    assert wp.axis == 0 and wq.shape == (6, 3, 3, 4)
    bias = c.value(c.ins[3])
    got = qr.q8_transpose_conv(xq, xp, wq, wp, bias, c.yp, (stride, stride), padding, out, act)
    _same(got, c.y)


@pytest.mark.parametrize("broadcast", [False, True])
def test_sub(broadcast) -> None:
    b = Y[:1, :1, :1, :] if broadcast else Y
    c = LiteCase(lambda u, v: u - v, [X, b], "SUB")
    (aq, ap), (bq, bp) = c.input(0), c.input(1)
    _same(qr.q8_sub(aq, ap, bq, bp, c.yp), c.y)


def test_sub_fused_relu() -> None:
    c = LiteCase(lambda u, v: tf.nn.relu(u - v), [X, Y], "SUB")
    assert c.ops == ["SUB"]
    (aq, ap), (bq, bp) = c.input(0), c.input(1)
    _same(qr.q8_sub(aq, ap, bq, bp, c.yp, "RELU"), c.y)


@pytest.mark.parametrize("op", ["MAXIMUM", "MINIMUM"])
def test_maximum_minimum(op) -> None:
    f = tf.maximum if op == "MAXIMUM" else tf.minimum
    c = LiteCase(lambda u, v: f(u, v), [X, Y], op)
    (aq, ap), (bq, bp) = c.input(0), c.input(1)
    params = {(float(q.scale), int(q.zero_point)) for q in (ap, bp, c.yp)}
    assert len(params) == 1  # tied, as FORMAT.md requires
    kern = qr.q8_maximum if op == "MAXIMUM" else qr.q8_minimum
    _same(kern(aq, bq), c.y)


@pytest.mark.parametrize("alpha", [0.1, 0.3])
def test_leaky_relu(alpha) -> None:
    c = LiteCase(lambda u: tf.nn.leaky_relu(u, alpha), [Y], "LEAKY_RELU")
    xq, xp = c.input(0)
    _same(qr.q8_leaky_relu(xq, xp, c.yp, alpha), c.y)


@pytest.mark.parametrize("shape", [(1, 1, 4), (6, 5, 4)])
def test_prelu(shape) -> None:
    alpha = RNG.uniform(0.05, 0.4, size=shape).astype(np.float32)
    c = LiteCase(lambda u: tf.nn.relu(u) + (-alpha) * tf.nn.relu(-u), [Y], "PRELU")
    (xq, xp), (aq, ap) = c.input(0), c.input(1)
    assert ap.axis is None
    _same(qr.q8_prelu(xq, xp, aq, ap, c.yp), c.y)


FLAGS = [(False, False), (True, False), (False, True)]


@pytest.mark.parametrize(("align", "half"), FLAGS)
@pytest.mark.parametrize("size", [(11, 7), (3, 2)])
def test_resize_bilinear(align, half, size) -> None:
    c = LiteCase(
        lambda u: tf.compat.v1.image.resize_bilinear(
            u, size, align_corners=align, half_pixel_centers=half
        ),
        [X],
        "RESIZE_BILINEAR",
    )
    xq, xp = c.input(0)
    assert (float(xp.scale), int(xp.zero_point)) == (float(c.yp.scale), int(c.yp.zero_point))
    _same(qr.q8_resize_bilinear(xq, size, align, half), c.y)


@pytest.mark.parametrize(("align", "half"), FLAGS)
def test_resize_nearest(align, half) -> None:
    c = LiteCase(
        lambda u: tf.compat.v1.image.resize_nearest_neighbor(
            u, (11, 7), align_corners=align, half_pixel_centers=half
        ),
        [X],
        "RESIZE_NEAREST_NEIGHBOR",
    )
    attrs = {"size": [11, 7], "align_corners": align, "half_pixel_centers": half}
    _same(qr.q8_move("RESIZE_NEAREST_NEIGHBOR", c.input(0)[0], attrs), c.y)


MOVES = [
    ("DEPTH_TO_SPACE", lambda u: tf.nn.depth_to_space(u, 2), {"block_size": 2}, X, False),
    (
        "SPACE_TO_DEPTH",
        lambda u: tf.nn.space_to_depth(u, 2),
        {"block_size": 2},
        X[:, :, :4],
        True,
    ),
    ("TRANSPOSE", lambda u: tf.transpose(u, [0, 3, 1, 2]), {"perm": [0, 3, 1, 2]}, X, True),
    (
        "STRIDED_SLICE",
        lambda u: u[:, 1:5:2, 0:4, 1:3],
        {"begin": [1, 0, 1], "end": [5, 4, 3], "strides": [2, 1, 1]},
        X,
        True,
    ),
    (
        "GATHER",
        lambda u: tf.gather(u, [3, 0, 2], axis=3),
        {"axis": 3, "indices": [3, 0, 2]},
        X,
        True,
    ),
]


@pytest.mark.parametrize(("op", "fn", "attrs", "x", "ref"), MOVES, ids=[m[0] for m in MOVES])
def test_value_moving_ops(op, fn, attrs, x, ref) -> None:
    c = LiteCase(fn, [x], op, ref=ref)
    ours = "SLICE" if op == "STRIDED_SLICE" else op
    _same(qr.q8_move(ours, c.input(0)[0], attrs), c.y)


def test_pad_value() -> None:
    pads = [[0, 0], [1, 2], [0, 1], [0, 0]]
    c = LiteCase(lambda u: tf.pad(u, pads, constant_values=0.7), [X + 1], "PADV2")
    xq, xp = c.input(0)
    fill = c.value(c.ins[2])
    assert int(fill.ravel()[0]) == int(
        qr.q8_pad(xq[:, :1, :1], xp, [[0, 0], [1, 0], [0, 0], [0, 0]], 0.7)[0, 0, 0, 0]
    )
    _same(qr.q8_pad(xq, xp, pads, 0.7), c.y)


def test_quantize_int8_to_int8() -> None:
    # CONCATENATION ties its inputs to its output: the converter requantizes the
    # LOGISTIC output (fixed at 1/256, -128) with an int8-to-int8 QUANTIZE.
    def fn(u, v):
        return tf.concat([tf.sigmoid(u), v], axis=-1)

    try:
        c = LiteCase(fn, [X, Y], "QUANTIZE")
    except AssertionError as e:  # the converter chose another way
        pytest.skip(f"no int8 QUANTIZE in the converted model: {e}")
    xq, xp = c.input(0)
    _same(qr.q8_requantize(xq, xp, c.yp), c.y)


def test_div_matches_where_litert_is_defined() -> None:
    rng = np.random.default_rng(131)
    a = (rng.normal(size=(4, 8, 8, 8)) * 3).astype(np.float32)
    b = rng.normal(size=(4, 8, 8, 8)).astype(np.float32)
    b = np.where(np.abs(b) < 0.3, 0.3, b).astype(np.float32)  # no divisor at its zero point
    for fn, act in ((tf.math.divide, "NONE"), (lambda u, v: tf.nn.relu6(u / v), "RELU6")):
        c = LiteCase(fn, [a, b], "DIV")
        (aq, ap), (bq, bp) = c.input(0), c.input(1)
        got = qr.q8_div(aq, ap, bq, bp, c.yp, act)
        near_zero = np.abs(got.astype(int) - int(c.yp.zero_point)) <= 1
        np.testing.assert_array_equal(got[~near_zero], c.y[~near_zero])
        assert (~near_zero).mean() > 0.4  # RELU6 clamps half of them to the zero point
