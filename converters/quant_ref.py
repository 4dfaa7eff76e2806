"""Reference quantizers and integer kernels: the numpy oracle for the q8/q4 gears.

Plain, vectorised numpy, written for reading. The C++ ``ref`` kernels must match
the integer kernels here bit for bit, and every optimised ISA kernel must match
those (docs/ARCHITECTURE.md). Nothing here is fast on purpose.

Semantics followed (facts looked up, code written from the definitions):

* **Fixed-point requantization** is gemmlowp's / TFLite's reference
  (``tensorflow/lite/kernels/internal/common.h`` ``MultiplyByQuantizedMultiplier``
  in its default *double rounding* form, i.e. without ``TFLITE_SINGLE_ROUNDING``;
  gemmlowp ``fixedpoint.h`` ``SaturatingRoundingDoublingHighMul`` and
  ``RoundingDivideByPOT``; ``quantization_util.cc`` ``QuantizeMultiplier``):

  - ``quantize_multiplier(m)``: ``m = q * 2**shift`` with ``q`` in [0.5, 1)
    (``frexp``); ``q_fixed = round_half_away(q * 2**31)``; if that is ``2**31``,
    halve it and bump ``shift``; ``shift < -31`` flushes to ``(0, 0)`` and
    ``shift > 30`` saturates to ``(2**31 - 1, 30)``.
  - ``srdhm(a, b)`` = ``(a*b + nudge) / 2**31`` in int64, with C's truncating
    division, ``nudge = 2**30`` if ``a*b >= 0`` else ``1 - 2**30``; the one
    overflowing case ``a == b == INT32_MIN`` saturates to ``INT32_MAX``.
  - ``rounding_divide_by_pot(x, e)`` = ``(x >> e) + (rem > thr)`` with
    ``rem = x & (2**e - 1)``, ``thr = (2**e - 1) >> 1 (+1 if x < 0)``:
    round to nearest, ties away from zero (so -2.5 -> -3, as gemmlowp).
  - ``multiply_by_quantized_multiplier(x, m, s)`` =
    ``rdbpot(srdhm(x * 2**max(s, 0), m), max(-s, 0))``. The left shift wraps in
    32 bits like the C++ (where overflow is a caller bug; real layers never get
    there).
  - ``multiply_by_quantized_multiplier_single_round(x, m, s)`` = TFLite's
    ``TFLITE_SINGLE_ROUNDING`` form, ``(x * m + 2**(30 - s)) >> (31 - s)`` in
    int64 (an arithmetic shift: nearest, ties toward +inf), not wrapped: what
    LiteRT's reference int8 ``FULLY_CONNECTED`` uses (measured, per-channel and
    per-tensor weights alike; docs/QUANTIZATION.md), so ``q8_fully_connected``
    does too. ``|x * m| < 2**62``, so the sum never overflows int64.

* **Kernels** follow TFLite's reference integer kernels
  (``reference_integer_ops::ConvPerChannel``, ``DepthwiseConvPerChannel``,
  ``FullyConnected``, ``AddElementwise``, ``AveragePool``, ``MaxPool``):
  int32 accumulation of ``(x - x_zp) * w`` (weights symmetric, zero point 0),
  plus the int32 bias, requantized per output channel by
  ``x_scale * w_scale[c] / y_scale`` (computed in double from float32 scales;
  double rounding, except ``FULLY_CONNECTED``: single rounding, as LiteRT),
  plus ``y_zp``, clamped to the fused activation's range. Padding taps are
  skipped, which equals padding with ``x_zp``. The int32 accumulator wraps
  like the C++ would. ``q8_add`` uses TFLite's ``left_shift = 20`` scheme;
  ``q8_avg_pool`` divides by the count of in-bounds taps rounding half away
  from zero. Tests check these against LiteRT's kernels bit for bit.

* **Quantizers**: int8 weights symmetric per output channel,
  ``scale = max|w| / 127``, values in [-127, 127] (TFLite's symmetric
  per-channel scheme); int8 activations asymmetric per tensor with the range
  nudged to contain 0 exactly (gemmlowp ``ChooseQuantizationParams``); bias
  int32 with ``scale = x_scale * w_scale[c]``. Float -> int rounding is half
  away from zero (``std::round``, TFLite's ``TfLiteRound``) everywhere.

* **fp16** is IEEE half with round-to-nearest-even (numpy's cast); finite values
  beyond +-65504 saturate to +-65504 instead of becoming inf (a weight of 7e4
  is better served by 65504 than by inf, which would poison every output);
  NaN stays NaN.

* **int4** (q4): symmetric, blocks of ``group`` (default 32) consecutive weights
  along the reduction (input) dimension, one fp16 scale per block; or per
  output channel (``group=None``). Values are in [-8, 7] with the scale chosen
  from the block's signed extreme ``d = w_ext / -8`` (ggml ``Q4_0``'s trick: the
  extreme maps exactly onto -8, so all 16 levels are used) -- this measured
  lower error than [-7, 7] with ``d = max|w| / 7``; see docs/QUANTIZATION.md
  for the numbers on a trained model. Packed two per byte, low nibble first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np

from .reference import (
    move_values,
    same_padding,
    transpose_conv_accumulate,
)

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "QParams",
    "activation_range",
    "choose_qparams",
    "dequantize",
    "dequantize_output",
    "dequantize_q4",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_single_round",
    "pack_int4",
    "q8_add",
    "q8_avg_pool",
    "q8_concatenation",
    "q8_conv2d",
    "q8_depthwise_conv2d",
    "q8_div",
    "q8_fully_connected",
    "q8_leaky_relu",
    "q8_lookup_table",
    "q8_max_pool",
    "q8_maximum",
    "q8_mean",
    "q8_minimum",
    "q8_move",
    "q8_mul",
    "q8_pad",
    "q8_prelu",
    "q8_relu",
    "q8_requantize",
    "q8_resize_bilinear",
    "q8_softmax",
    "q8_sub",
    "q8_table_op",
    "q8_transpose_conv",
    "quantize",
    "quantize_bias",
    "quantize_f16",
    "quantize_input",
    "quantize_multiplier",
    "quantize_multipliers",
    "quantize_q4",
    "quantize_weights_q8",
    "round_half_away",
    "rounding_divide_by_pot",
    "srdhm",
    "unpack_int4",
    "weight_channel_axis",
]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
F16_MAX = 65504.0

ArrayLike = Union[np.ndarray, float, int]


# -- rounding and fp16 ------------------------------------------------------------
def round_half_away(x: ArrayLike) -> np.ndarray:
    """``std::round``: nearest, ties away from zero (numpy's ``round`` ties to even)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_f16(w: np.ndarray) -> np.ndarray:
    """float -> IEEE half, round to nearest even, finite overflow saturated to +-65504."""
    w = np.asarray(w, dtype=np.float32)
    clipped = np.where(np.isfinite(w), np.clip(w, -F16_MAX, F16_MAX), w)
    return clipped.astype(np.float16)


# -- fixed point ------------------------------------------------------------------
def _wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's complement wrap of int64 values into int32 range (kept as int64)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def quantize_multiplier(m: float) -> tuple[int, int]:
    """Real multiplier -> ``(int32 q_fixed, shift)`` with ``m ~= q_fixed * 2**(shift - 31)``."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(float(m))
    q_fixed = int(round_half_away(q * 2.0**31))
    if q_fixed == 2**31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return INT32_MAX, 30
    return q_fixed, shift


def quantize_multipliers(ms: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` over an array: ``(int32 multipliers, int32 shifts)``."""
    flat = np.atleast_1d(np.asarray(ms, dtype=np.float64)).ravel()
    pairs = [quantize_multiplier(float(m)) for m in flat]
    return (
        np.array([p[0] for p in pairs], dtype=np.int32),
        np.array([p[1] for p in pairs], dtype=np.int32),
    )


def srdhm(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values (int64 result)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b  # |ab| <= 2**62: exact in int64
    s = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))  # C division truncates toward zero
    return np.where((a == b) & (a == INT32_MIN), INT32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2**exponent``, nearest, ties away from zero."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    if np.any((e < 0) | (e > 31)):
        raise ValueError("exponent must be in [0, 31]")
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(
    x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike
) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier`` (double rounding); broadcasts per channel."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(srdhm(_wrap_int32(x << left), multiplier), right)


def multiply_by_quantized_multiplier_single_round(
    x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike
) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier`` with ``TFLITE_SINGLE_ROUNDING``.

    ``(x * multiplier + 2**(30 - shift)) >> (31 - shift)`` in int64, ``shift`` in
    [-31, 31] (31: no rounding term): one rounding, to nearest with ties toward
    +inf (the shift is arithmetic). The int64 result is not wrapped to int32 (a
    caller clamps it). ``x`` int32 and ``|multiplier| < 2**31`` keep every step
    within int64. Broadcasts per channel.
    """
    x = np.asarray(x, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    total = 31 - np.asarray(shift, dtype=np.int64)
    if np.any((total < 0) | (total > 62)):
        raise ValueError("shift must be in [-31, 31]")
    rounding = (np.int64(1) << total) >> 1  # 2**(total - 1), 0 when total == 0
    return (x * m + rounding) >> total


# -- quantization parameters -------------------------------------------------------
@dataclass(frozen=True)
class QParams:
    """Affine quantization of one tensor: ``real = scale * (q - zero_point)``.

    ``scale`` is float32, a scalar (per tensor) or a vector along ``axis`` (per
    channel); ``zero_point`` is an int, or a vector of zeros for per-channel weights.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None

    @staticmethod
    def of(scale: ArrayLike, zero_point: ArrayLike = 0, axis: int | None = None) -> QParams:
        s = np.asarray(scale, dtype=np.float32)
        z = np.asarray(zero_point, dtype=np.int64)
        if np.any(~(s > 0)) or np.any(~np.isfinite(s)):
            raise ValueError(f"scales must be finite and > 0, got {s}")
        return QParams(s, z, axis)

    def _bcast(self, a: np.ndarray, ndim: int) -> np.ndarray:
        if self.axis is None or a.ndim == 0:
            return a
        shape = [1] * ndim
        shape[self.axis] = a.size
        return a.reshape(shape)


def choose_qparams(rmin: float, rmax: float, qmin: int = -128, qmax: int = 127) -> QParams:
    """Asymmetric per-tensor params from a float range, 0 exactly representable (gemmlowp).

    The range is widened to include 0; the zero point is taken from whichever
    end gives the smaller rounding error, rounded and clamped to [qmin, qmax].
    """
    rmin, rmax = min(float(rmin), 0.0), max(float(rmax), 0.0)
    if rmax == rmin:  # all zeros: any scale represents them; pick 1
        return QParams.of(1.0, 0)
    scale = np.float32((rmax - rmin) / (qmax - qmin))
    zp_from_min = qmin - rmin / float(scale)
    zp_from_max = qmax - rmax / float(scale)
    err_min = abs(qmin) + abs(rmin / float(scale))
    err_max = abs(qmax) + abs(rmax / float(scale))
    zp = zp_from_min if err_min < err_max else zp_from_max
    zp = int(np.clip(round_half_away(zp), qmin, qmax))
    return QParams.of(scale, zp)


def quantize(x: np.ndarray, qp: QParams, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """``clamp(round(x / scale) + zp)`` as int8 (TFLite ``AffineQuantize``)."""
    x = np.asarray(x, dtype=np.float64)
    s = qp._bcast(qp.scale.astype(np.float64), x.ndim)
    z = qp._bcast(qp.zero_point, x.ndim)
    return np.clip(round_half_away(x / s) + z, qmin, qmax).astype(np.int8)


def dequantize(q: np.ndarray, qp: QParams) -> np.ndarray:
    """``scale * (q - zp)`` as float32."""
    q = np.asarray(q, dtype=np.int64)
    s = qp._bcast(qp.scale.astype(np.float64), q.ndim)
    z = qp._bcast(qp.zero_point, q.ndim)
    return (s * (q - z)).astype(np.float32)


def weight_channel_axis(op: str) -> int:
    """Output-channel axis of a filter.

    CONV_2D and TRANSPOSE_CONV ``[O,KH,KW,I]`` and FC ``[O,I]`` -> 0,
    DEPTHWISE ``[1,KH,KW,C*M]`` -> 3.
    """
    if op in ("CONV_2D", "FULLY_CONNECTED"):
        return 0
    if op == "TRANSPOSE_CONV":  # [O,KH,KW,C], like CONV_2D
        return 0
    if op == "DEPTHWISE_CONV_2D":
        return 3
    raise ValueError(f"no quantized weights for op {op!r}")


def quantize_weights_q8(w: np.ndarray, axis: int) -> tuple[np.ndarray, QParams]:
    """Symmetric per-channel int8: ``scale[c] = max|w[c]| / 127``, zero point 0.

    Values are in [-127, 127] (never -128, so that ``-w`` is representable).

    An all-zero channel gets scale 1 (any positive scale is exact for zeros,
    and a zero scale would be rejected at load).
    """
    w = np.asarray(w, dtype=np.float32)
    axis = axis % w.ndim
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.max(np.abs(w), axis=other).astype(np.float32)
    scale = np.where(amax > 0, amax / np.float32(127), np.float32(1)).astype(np.float32)
    qp = QParams.of(scale, np.zeros(scale.shape, np.int64), axis)
    return quantize(w, qp, -127, 127), qp


def quantize_bias(b: np.ndarray, x_scale: float, w_scale: ArrayLike) -> np.ndarray:
    """int32 bias with ``scale[c] = x_scale * w_scale[c]`` (float32 product, as TFLite)."""
    s = np.float32(x_scale) * np.asarray(w_scale, dtype=np.float32)
    q = round_half_away(np.asarray(b, np.float64) / s.astype(np.float64))
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def activation_range(act: str, qp: QParams, qmin: int = -128, qmax: int = 127) -> tuple[int, int]:
    """Quantized clamp bounds of a fused activation.

    As TFLite's ``CalculateActivationRangeQuantized``.
    """

    def q(f: float) -> int:
        # float32 division, as the C++ does it
        return int(qp.zero_point) + int(round_half_away(np.float32(f) / np.float32(qp.scale)))

    if act == "NONE":
        return qmin, qmax
    if act == "RELU":
        return max(qmin, q(0.0)), qmax
    if act == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if act == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"unknown activation {act!r}")


# -- integer kernels ---------------------------------------------------------------
def _requantize(
    acc: np.ndarray, real_multiplier: np.ndarray, y: QParams, act: str, single: bool = False
) -> np.ndarray:
    """int32 accumulator (last axis = channel) -> int8 output; ``single``: single rounding
    (:func:`multiply_by_quantized_multiplier_single_round`), else double."""
    m, s = quantize_multipliers(real_multiplier)
    if m.size == 1:
        m, s = m[0], s[0]
    if single:
        out = multiply_by_quantized_multiplier_single_round(acc, m, s)
    else:
        out = multiply_by_quantized_multiplier(acc, m, s)
    out = out + int(y.zero_point)
    lo, hi = activation_range(act, y)
    return np.clip(out, lo, hi).astype(np.int8)


def _out_multiplier(x: QParams, w: QParams, y: QParams) -> np.ndarray:
    """``x_scale * w_scale[c] / y_scale`` in double from float32 scales, as TFLite."""
    return np.float64(x.scale) * np.atleast_1d(w.scale).astype(np.float64) / np.float64(y.scale)


def _taps(
    xq: np.ndarray,
    pad_value: int,
    kh: int,
    kw: int,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: str,
) -> tuple[int, int, list[tuple[int, int, np.ndarray, np.ndarray]]]:
    """Per kernel tap ``(i, j, input slice, in-bounds mask)`` over the padded input."""
    sh, sw = stride
    dh, dw = dilation
    _n, h, w, _c = xq.shape
    oh, pt, pb = same_padding(h, kh, sh, dh, padding)
    ow, pl, pr = same_padding(w, kw, sw, dw, padding)
    xp = np.pad(xq, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=pad_value)
    valid = np.pad(np.ones((h, w), bool), ((pt, pb), (pl, pr)), constant_values=False)
    taps = []
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            rs = slice(r0, r0 + (oh - 1) * sh + 1, sh)
            cs = slice(c0, c0 + (ow - 1) * sw + 1, sw)
            taps.append((i, j, xp[:, rs, cs, :], valid[rs, cs]))
    return oh, ow, taps


def q8_conv2d(
    xq: np.ndarray,
    x: QParams,
    wq: np.ndarray,
    w: QParams,
    bias: np.ndarray | None,
    y: QParams,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    padding: str = "SAME",
    activation: str = "NONE",
) -> np.ndarray:
    """int8 CONV_2D, NHWC input, OHWI filter, per-channel weights (TFLite ``ConvPerChannel``)."""
    o, kh, kw, _c = wq.shape
    x32 = np.asarray(xq, np.int64) - int(x.zero_point)
    oh, ow, taps = _taps(x32, 0, kh, kw, stride, dilation, padding)
    acc = np.zeros((xq.shape[0], oh, ow, o), np.int64)
    wq = np.asarray(wq, np.int64)
    for i, j, sl, _valid in taps:
        acc += sl @ wq[:, i, j, :].T
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return _requantize(_wrap_int32(acc), _out_multiplier(x, w, y), y, activation)


def q8_depthwise_conv2d(
    xq: np.ndarray,
    x: QParams,
    wq: np.ndarray,
    w: QParams,
    bias: np.ndarray | None,
    y: QParams,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    padding: str = "SAME",
    activation: str = "NONE",
) -> np.ndarray:
    """int8 DEPTHWISE_CONV_2D, filter ``[1,KH,KW,C*M]``.

    Output channel ``c*M + m`` reads input channel ``c`` (TFLite ``DepthwiseConvPerChannel``).
    """
    _, kh, kw, cm = wq.shape
    mult = cm // xq.shape[3]
    x32 = np.repeat(np.asarray(xq, np.int64) - int(x.zero_point), mult, axis=3)
    oh, ow, taps = _taps(x32, 0, kh, kw, stride, dilation, padding)
    acc = np.zeros((xq.shape[0], oh, ow, cm), np.int64)
    wq = np.asarray(wq, np.int64)
    for i, j, sl, _valid in taps:
        acc += sl * wq[0, i, j, :]
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return _requantize(_wrap_int32(acc), _out_multiplier(x, w, y), y, activation)


def q8_fully_connected(
    xq: np.ndarray,
    x: QParams,
    wq: np.ndarray,
    w: QParams,
    bias: np.ndarray | None,
    y: QParams,
    activation: str = "NONE",
) -> np.ndarray:
    """int8 FULLY_CONNECTED, ``[N,I] x [O,I]^T``; per-tensor or per-channel weights.

    Requantized with *single* rounding
    (:func:`multiply_by_quantized_multiplier_single_round`), as LiteRT's reference
    int8 ``FULLY_CONNECTED`` does with per-channel and per-tensor weights alike,
    where the convolutions round twice.
    """
    x32 = np.asarray(xq, np.int64) - int(x.zero_point)
    acc = x32 @ np.asarray(wq, np.int64).T
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    return _requantize(_wrap_int32(acc), _out_multiplier(x, w, y), y, activation, single=True)


def q8_add(
    aq: np.ndarray, a: QParams, bq: np.ndarray, b: QParams, y: QParams, activation: str = "NONE"
) -> np.ndarray:
    """int8 ADD (TFLite ``AddElementwise``): both inputs rescaled to ``2 * max scale`` with
    20 bits of headroom, summed, then rescaled to the output; broadcasting as numpy."""
    return _q8_add_sub(aq, a, bq, b, y, activation, 1)


def _q8_add_sub(
    aq: np.ndarray, a: QParams, bq: np.ndarray, b: QParams, y: QParams, activation: str, sign: int
) -> np.ndarray:
    """ADD (``sign`` 1) and SUB (``sign`` -1, input b's multiplier negated, as TFLite)."""
    left_shift = 20
    twice_max = 2.0 * float(max(np.float32(a.scale), np.float32(b.scale)))
    m1, s1 = quantize_multiplier(float(np.float32(a.scale)) / twice_max)
    m2, s2 = quantize_multiplier(float(np.float32(b.scale)) / twice_max)
    m2 *= sign
    mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * float(np.float32(y.scale))))
    va = (np.asarray(aq, np.int64) - int(a.zero_point)) << left_shift
    vb = (np.asarray(bq, np.int64) - int(b.zero_point)) << left_shift
    total = multiply_by_quantized_multiplier(va, m1, s1) + multiply_by_quantized_multiplier(
        vb, m2, s2
    )
    out = multiply_by_quantized_multiplier(_wrap_int32(total), mo, so) + int(y.zero_point)
    lo, hi = activation_range(activation, y)
    return np.clip(out, lo, hi).astype(np.int8)


def q8_avg_pool(
    xq: np.ndarray,
    x: QParams,
    y: QParams,
    pool: tuple[int, int],
    stride: tuple[int, int],
    padding: str = "VALID",
    activation: str = "NONE",
) -> np.ndarray:
    """int8 AVERAGE_POOL_2D (TFLite ``AveragePool``): sum of in-bounds taps divided by
    their count, rounding half away from zero. Input and output share (scale, zp)."""
    if float(x.scale) != float(y.scale) or int(x.zero_point) != int(y.zero_point):
        raise ValueError("q8_avg_pool needs equal input and output quantization")
    x64 = np.asarray(xq, np.int64)
    oh, ow, taps = _taps(x64, 0, pool[0], pool[1], stride, (1, 1), padding)
    acc = np.zeros((xq.shape[0], oh, ow, xq.shape[3]), np.int64)
    count = np.zeros((oh, ow), np.int64)
    for _i, _j, sl, valid in taps:
        acc += sl
        count += valid
    cnt = count[None, :, :, None]
    half = cnt // 2
    # C integer division truncates toward zero: ties go away from zero.
    avg = np.where(acc > 0, (acc + half) // cnt, -((-acc + half) // cnt))
    lo, hi = activation_range(activation, y)
    return np.clip(avg, lo, hi).astype(np.int8)


def q8_max_pool(
    xq: np.ndarray,
    x: QParams,
    y: QParams,
    pool: tuple[int, int],
    stride: tuple[int, int],
    padding: str = "VALID",
    activation: str = "NONE",
) -> np.ndarray:
    """int8 MAX_POOL_2D: max of in-bounds taps, clamped. Input and output share (scale, zp)."""
    if float(x.scale) != float(y.scale) or int(x.zero_point) != int(y.zero_point):
        raise ValueError("q8_max_pool needs equal input and output quantization")
    x64 = np.asarray(xq, np.int64)
    oh, ow, taps = _taps(x64, -(2**40), pool[0], pool[1], stride, (1, 1), padding)
    out = np.full((xq.shape[0], oh, ow, xq.shape[3]), -(2**40), np.int64)
    for _i, _j, sl, _valid in taps:
        out = np.maximum(out, sl)
    lo, hi = activation_range(activation, y)
    return np.clip(out, lo, hi).astype(np.int8)


# -- int4 ------------------------------------------------------------------------
def _as_rows(w: np.ndarray, axis: int) -> np.ndarray:
    """Filter -> ``[O, K]``: output channels as rows, the reduction dimension as K."""
    w = np.moveaxis(np.asarray(w, np.float32), axis % w.ndim, 0)
    return w.reshape(w.shape[0], -1)


def quantize_q4(
    w: np.ndarray, axis: int, group: int | None = 32, levels: str = "q4_0"
) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric 4-bit weights in blocks along the reduction dimension.

    Returns ``(q, scales)``: ``q`` int8 values ``[O, K_padded]`` (K zero-padded to
    a multiple of ``group``), ``scales`` float16 ``[O, K_padded // group]``.
    ``group=None`` gives one block per output channel. ``levels="q4_0"``:
    ``d = w_ext / -8`` from the block's signed extreme, values in [-8, 7];
    ``levels="sym7"``: ``d = max|w| / 7``, values in [-7, 7]. The scale is
    rounded to fp16 *before* quantizing, so that ``q * d`` is what the
    runtime reconstructs. A block whose scale is 0 in fp16 stores zeros.
    """
    rows = _as_rows(w, axis)
    o, k = rows.shape
    g = k if group is None else int(group)
    kp = -(-k // g) * g
    rows = np.pad(rows, ((0, 0), (0, kp - k))).reshape(o, kp // g, g)
    if levels == "q4_0":
        idx = np.argmax(np.abs(rows), axis=2)[..., None]
        ext = np.take_along_axis(rows, idx, axis=2)[..., 0]
        d = quantize_f16(ext / np.float32(-8.0))
        lo, hi = -8, 7
    elif levels == "sym7":
        d = quantize_f16(np.max(np.abs(rows), axis=2) / np.float32(7.0))
        lo, hi = -7, 7
    else:
        raise ValueError(f"levels must be 'q4_0' or 'sym7', got {levels!r}")
    d32 = d.astype(np.float64)[..., None]
    safe = np.where(d32 == 0, 1.0, d32)
    q = np.where(d32 == 0, 0, np.clip(round_half_away(rows / safe), lo, hi))
    return q.reshape(o, kp).astype(np.int8), d


def dequantize_q4(
    q: np.ndarray, scales: np.ndarray, shape: tuple[int, ...], axis: int
) -> np.ndarray:
    """Inverse of :func:`quantize_q4`: float32 filter of ``shape`` (padding dropped)."""
    o, kp = q.shape
    nb = scales.shape[1]
    rows = (q.reshape(o, nb, kp // nb) * scales.astype(np.float32)[..., None]).reshape(o, kp)
    moved = list(shape)
    ax = axis % len(shape)
    moved.insert(0, moved.pop(ax))
    k = int(np.prod(moved[1:], dtype=np.int64))
    return np.moveaxis(rows[:, :k].reshape(moved), 0, ax).astype(np.float32)


def pack_int4(q: np.ndarray) -> np.ndarray:
    """int4 values (int8 array in [-8, 7], even count) -> bytes.

    Element ``2i`` goes to the low nibble of byte ``i``, element ``2i + 1`` to the high one.
    """
    flat = np.asarray(q, np.int8).ravel()
    if flat.size % 2:
        raise ValueError("pack_int4 needs an even number of values")
    if flat.min(initial=0) < -8 or flat.max(initial=0) > 7:
        raise ValueError("int4 values must be in [-8, 7]")
    u = flat.astype(np.uint8) & 0x0F
    return (u[0::2] | (u[1::2] << 4)).astype(np.uint8)


def unpack_int4(packed: np.ndarray) -> np.ndarray:
    """Bytes -> int8 values in [-8, 7], two per byte, low nibble first (sign-extended)."""
    p = np.asarray(packed, np.uint8).ravel()
    nib = np.empty(p.size * 2, np.uint8)
    nib[0::2] = p & 0x0F
    nib[1::2] = p >> 4
    return ((nib.astype(np.int16) ^ 8) - 8).astype(np.int8)


# -- the rest of the int8 gear (docs/QUANTIZATION.md "The int8 gear, op by op") ------
def quantize_input(x: np.ndarray, qp: QParams) -> np.ndarray:
    """Graph input on entry to a q8/q4 gear: ``clamp(rha((double)x / (double)s) + z)``."""
    return quantize(np.asarray(x, np.float32), qp)


def dequantize_output(q: np.ndarray, qp: QParams) -> np.ndarray:
    """Graph output on exit from a q8/q4 gear: ``(float)((double)s * (q - z))``."""
    return dequantize(q, qp)


def _requantize_to(
    acc: np.ndarray, real_multiplier: float, y: QParams, lo: int, hi: int
) -> np.ndarray:
    """``clamp(MBQM(acc, real_multiplier) + zy, lo, hi)`` as int8 (one multiplier)."""
    m, s = quantize_multiplier(real_multiplier)
    out = multiply_by_quantized_multiplier(_wrap_int32(acc), m, s) + int(y.zero_point)
    return np.clip(out, lo, hi).astype(np.int8)


def q8_mul(
    aq: np.ndarray, a: QParams, bq: np.ndarray, b: QParams, y: QParams, activation: str = "NONE"
) -> np.ndarray:
    """int8 MUL (TFLite ``MulElementwise``), NumPy broadcasting:
    ``MBQM((qa - za) * (qb - zb), sa * sb / sy) + zy``, the multiplier in double."""
    prod = (np.asarray(aq, np.int64) - int(a.zero_point)) * (
        np.asarray(bq, np.int64) - int(b.zero_point)
    )
    m = np.float64(a.scale) * np.float64(b.scale) / np.float64(y.scale)
    return _requantize_to(prod, float(m), y, *activation_range(activation, y))


def mean_multiplier(x_scale: float, y_scale: float, n: int) -> tuple[int, int]:
    """int8 MEAN's fixed-point multiplier and shift, as LiteRT's reference kernel derives
    them: ``(M, s) = quantize_multiplier(sx / sy)``, then ``k = min(floor(log2 n), 32,
    31 + s)``, ``M' = (M << k) // n`` (int64, truncating), ``s' = s - k``."""
    m, shift = quantize_multiplier(float(np.float64(x_scale) / np.float64(y_scale)))
    if n <= 0:
        return m, shift
    k = max(0, min(int(n).bit_length() - 1, 32, 31 + shift))
    return int((int(m) << k) // int(n)), shift - k


def q8_mean(
    xq: np.ndarray, x: QParams, y: QParams, axes: tuple[int, ...] | list[int], keep_dims: bool
) -> np.ndarray:
    """int8 MEAN: ``acc = sum(q - zx)`` over the reduced positions (int32), ``n`` their
    count, ``MBQM(acc, M', s') + zy`` with :func:`mean_multiplier`'s ``(M', s')`` (the
    1/n folded into the integer multiplier), clamped to [-128, 127]."""
    xq = np.asarray(xq, np.int64)
    axes = tuple(int(a) for a in axes)
    n = int(np.prod([xq.shape[a] for a in axes], dtype=np.int64)) if axes else 1
    acc = np.sum(xq - int(x.zero_point), axis=axes, keepdims=bool(keep_dims))
    m, s = mean_multiplier(float(x.scale), float(y.scale), n)
    out = multiply_by_quantized_multiplier(_wrap_int32(acc), m, s) + int(y.zero_point)
    return np.clip(out, -128, 127).astype(np.int8)


def q8_relu(xq: np.ndarray, x: QParams, y: QParams, op: str = "RELU") -> np.ndarray:
    """int8 RELU / RELU6 / RELU_N1_TO_1: ``MBQM(q - zx, sx / sy) + zy``, clamped to the
    activation's range in ``y`` (TFLite ``QuantizedReluX``)."""
    if op not in ("RELU", "RELU6", "RELU_N1_TO_1"):
        raise ValueError(f"not a relu: {op!r}")
    m = np.float64(x.scale) / np.float64(y.scale)
    acc = np.asarray(xq, np.int64) - int(x.zero_point)
    return _requantize_to(acc, float(m), y, *activation_range(op, y))


def _logistic_f64(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-v))


TABLE_FUNCTIONS = {
    "LOGISTIC": _logistic_f64,
    "TANH": np.tanh,
    "HARD_SWISH": lambda v: v * np.minimum(np.maximum(v + 3.0, 0.0), 6.0) / 6.0,
}


def q8_lookup_table(op: str, x: QParams, y: QParams) -> np.ndarray:
    """The 256-entry int8 table of LOGISTIC / TANH / HARD_SWISH, indexed by ``q + 128``:
    ``v = (double)sx * (q - zx)``, ``f(v)`` in double, ``clamp(rha(f / (double)sy) + zy)``."""
    q = np.arange(-128, 128, dtype=np.int64)
    v = np.float64(x.scale) * (q - int(x.zero_point)).astype(np.float64)
    f = TABLE_FUNCTIONS[op](v)
    out = round_half_away(f / np.float64(y.scale)) + int(y.zero_point)
    return np.clip(out, -128, 127).astype(np.int8)


def q8_table_op(xq: np.ndarray, x: QParams, y: QParams, op: str) -> np.ndarray:
    """int8 LOGISTIC / TANH / HARD_SWISH through :func:`q8_lookup_table`."""
    return q8_lookup_table(op, x, y)[np.asarray(xq, np.int64) + 128]


def q8_softmax(xq: np.ndarray, x: QParams, y: QParams, beta: float = 1.0) -> np.ndarray:
    """int8 SOFTMAX along the last axis: ``e_i = exp((double)beta * sx * (q_i - max q))``,
    summed in index order, ``clamp(rha(e_i / sum / (double)sy) + zy)``.

    ``beta`` is used as a float32 (the attribute "fits a float"), widened to double.
    """
    q = np.asarray(xq, np.int64)
    d = (q - q.max(axis=-1, keepdims=True)).astype(np.float64)
    e = np.exp(np.float64(np.float32(beta)) * np.float64(x.scale) * d)
    total = np.cumsum(e, axis=-1)[..., -1:]  # sequential, index order (np.sum is pairwise)
    out = round_half_away(e / total / np.float64(y.scale)) + int(y.zero_point)
    return np.clip(out, -128, 127).astype(np.int8)


def q8_pad(
    xq: np.ndarray, x: QParams, paddings: list[list[int]], value: float | None = None
) -> np.ndarray:
    """int8 PAD: values unchanged, new positions filled with the zero point, or (a PAD with
    ``value``, 1.3) with ``clamp(rha(value / s) + z)``."""
    fill = int(x.zero_point)
    if value is not None:
        fill = int(np.clip(round_half_away(float(value) / np.float64(x.scale)) + fill, -128, 127))
    return np.pad(np.asarray(xq, np.int8), [tuple(p) for p in paddings], constant_values=fill)


def q8_concatenation(
    xs: list[np.ndarray], axis: int, y: QParams, activation: str = "NONE"
) -> np.ndarray:
    """int8 CONCATENATION: values unchanged (inputs share ``y``'s params), then the fused
    activation's clamp in ``y``."""
    out = np.concatenate([np.asarray(x, np.int8) for x in xs], axis=axis)
    lo, hi = activation_range(activation, y)
    return np.clip(out, lo, hi).astype(np.int8)


# -- format 1.3 ops (docs/QUANTIZATION.md rows marked 1.3) ---------------------------
def q8_transpose_conv(
    xq: np.ndarray,
    x: QParams,
    wq: np.ndarray,
    w: QParams,
    bias: np.ndarray | None,
    y: QParams,
    stride: tuple[int, int],
    padding: str,
    output_size: tuple[int, int],
    activation: str = "NONE",
) -> np.ndarray:
    """int8 TRANSPOSE_CONV (TFLite ``reference_integer_ops::TransposeConv``): int32
    accumulation of ``(qx - zx) * qw`` into every output position a tap reaches, plus the
    int32 bias, ``MBQM(acc, sx * sw[c] / sy) + zy``, clamped to the activation."""
    x64 = np.asarray(xq, np.int64) - int(x.zero_point)
    acc = transpose_conv_accumulate(
        x64, np.asarray(wq, np.int64), stride, padding, output_size, np.int64
    )
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    return _requantize(_wrap_int32(acc), _out_multiplier(x, w, y), y, activation)


def q8_sub(
    aq: np.ndarray, a: QParams, bq: np.ndarray, b: QParams, y: QParams, activation: str = "NONE"
) -> np.ndarray:
    """int8 SUB: :func:`q8_add` with input b's multiplier negated (TFLite's int8 SUB)."""
    return _q8_add_sub(aq, a, bq, b, y, activation, -1)


def q8_div(
    aq: np.ndarray, a: QParams, bq: np.ndarray, b: QParams, y: QParams, activation: str = "NONE"
) -> np.ndarray:
    """int8 DIV in double: ``clamp(rha((sa * (qa - za)) / (sb * (qb - zb)) / sy) + zy)``;
    ``qb == zb`` gives the clamp bound by the numerator's sign, and ``zy`` for 0/0."""
    num = np.float64(a.scale) * (np.asarray(aq, np.int64) - int(a.zero_point)).astype(np.float64)
    den = np.float64(b.scale) * (np.asarray(bq, np.int64) - int(b.zero_point)).astype(np.float64)
    num, den = np.broadcast_arrays(num, den)
    lo, hi = activation_range(activation, y)
    safe = np.where(den == 0, 1.0, den)
    q = round_half_away(num / safe / np.float64(y.scale)) + int(y.zero_point)
    q = np.where(den == 0, np.where(num > 0, 127, np.where(num < 0, -128, int(y.zero_point))), q)
    return np.clip(q, lo, hi).astype(np.int8)


def q8_maximum(aq: np.ndarray, bq: np.ndarray) -> np.ndarray:
    """int8 MAXIMUM: max of the int8 values (inputs and output share one ``(s, z)``)."""
    return np.maximum(np.asarray(aq, np.int8), np.asarray(bq, np.int8))


def q8_minimum(aq: np.ndarray, bq: np.ndarray) -> np.ndarray:
    """int8 MINIMUM: min of the int8 values (inputs and output share one ``(s, z)``)."""
    return np.minimum(np.asarray(aq, np.int8), np.asarray(bq, np.int8))


def q8_leaky_relu(xq: np.ndarray, x: QParams, y: QParams, alpha: float) -> np.ndarray:
    """int8 LEAKY_RELU (TFLite ``QuantizeLeakyRelu``): ``d = q - zx``; ``MBQM(d, sx / sy)``
    if ``d >= 0``, else ``MBQM(d, alpha * sx / sy)``; ``+ zy``, clamp."""
    d = np.asarray(xq, np.int64) - int(x.zero_point)
    m1, s1 = quantize_multiplier(float(np.float64(x.scale) / np.float64(y.scale)))
    ma, sa = quantize_multiplier(
        float(np.float64(np.float32(alpha)) * np.float64(x.scale) / np.float64(y.scale))
    )
    pos = multiply_by_quantized_multiplier(d, m1, s1)
    neg = multiply_by_quantized_multiplier(d, ma, sa)
    out = np.where(d >= 0, pos, neg) + int(y.zero_point)
    return np.clip(out, -128, 127).astype(np.int8)


def q8_prelu(xq: np.ndarray, x: QParams, aq: np.ndarray, a: QParams, y: QParams) -> np.ndarray:
    """int8 PRELU (TFLite ``BroadcastPrelu4DSlow``): ``d = q - zx``; ``MBQM(d, sx / sy)`` if
    ``d >= 0``, else ``MBQM(d * (qa - za), sx * sa / sy)``; ``+ zy``, clamp; alpha broadcast."""
    d = np.asarray(xq, np.int64) - int(x.zero_point)
    al = np.asarray(aq, np.int64) - int(a.zero_point)
    d, al = np.broadcast_arrays(d, al)
    m1, s1 = quantize_multiplier(float(np.float64(x.scale) / np.float64(y.scale)))
    m2, s2 = quantize_multiplier(
        float(np.float64(x.scale) * np.float64(a.scale) / np.float64(y.scale))
    )
    pos = multiply_by_quantized_multiplier(d, m1, s1)
    neg = multiply_by_quantized_multiplier(d * al, m2, s2)
    out = np.where(d >= 0, pos, neg) + int(y.zero_point)
    return np.clip(out, -128, 127).astype(np.int8)


def _c_div(a: np.ndarray, b: int) -> np.ndarray:
    """C integer division (truncates toward zero) of int64 values by a positive ``b``."""
    a = np.asarray(a, np.int64)
    return np.where(a >= 0, a // b, -((-a) // b))


def _bilinear_taps_10(
    size_in: int, size_out: int, align_corners: bool, half_pixel_centers: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One axis of TFLite's integer RESIZE_BILINEAR: ``(lo, hi, v)`` with ``v`` the source
    coordinate in 10-bit fixed point. ``scale_10 = (1024 * in + out / 2) / out`` (integer
    division; ``in - 1``, ``out - 1`` with ``align_corners`` and ``out > 1``)."""
    if align_corners and size_out > 1:
        num, den = size_in - 1, size_out - 1
    else:
        num, den = size_in, size_out
    scale_10 = ((1 << 10) * num + den // 2) // den
    o = np.arange(size_out, dtype=np.int64)
    v = o * scale_10 + (scale_10 // 2 - (1 << 9) if half_pixel_centers else 0)
    lo = np.maximum(_c_div(v, 1 << 10), 0)
    hi = np.minimum(_c_div(v + (1 << 10) - 1, 1 << 10), size_in - 1)
    return lo, hi, v


def q8_resize_bilinear(
    xq: np.ndarray, size: tuple[int, int], align_corners: bool, half_pixel_centers: bool
) -> np.ndarray:
    """int8 RESIZE_BILINEAR (TFLite's integer kernel): taps weighted in 10-bit fixed point,
    summed in int64, divided by 2^20 rounding half away from zero. Same ``(s, z)`` in and out."""
    x = np.asarray(xq, np.int64)
    y0, y1, vy = _bilinear_taps_10(x.shape[1], size[0], align_corners, half_pixel_centers)
    x0, x1, vx = _bilinear_taps_10(x.shape[2], size[1], align_corners, half_pixel_centers)
    one = 1 << 10
    wy1 = (vy - one * y0)[None, :, None, None]  # weight of the hi row
    wx1 = (vx - one * x0)[None, None, :, None]
    wy0, wx0 = one - wy1, one - wx1
    acc = (
        x[:, y0][:, :, x0] * wy0 * wx0
        + x[:, y1][:, :, x0] * wy1 * wx0
        + x[:, y0][:, :, x1] * wy0 * wx1
        + x[:, y1][:, :, x1] * wy1 * wx1
    )
    rounded = acc + np.where(acc > 0, 1 << 19, -(1 << 19))
    return _c_div(rounded, 1 << 20).astype(np.int8)


def q8_requantize(xq: np.ndarray, x: QParams, y: QParams) -> np.ndarray:
    """int8 QUANTIZE (int8 to int8, TFLite's ``Requantize``): ``MBQM(q - zx, sx / sy) + zy``,
    clamp."""
    m = np.float64(x.scale) / np.float64(y.scale)
    return _requantize_to(np.asarray(xq, np.int64) - int(x.zero_point), float(m), y, -128, 127)


def q8_move(op: str, xq: np.ndarray, attrs: dict) -> np.ndarray:
    """RESIZE_NEAREST_NEIGHBOR, DEPTH_TO_SPACE, SPACE_TO_DEPTH, TRANSPOSE, SLICE, GATHER:
    int8 values moved unchanged (the float kernels' index arithmetic, on int8)."""
    return np.ascontiguousarray(move_values(op, np.asarray(xq, np.int8), attrs))
