// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// ADD and MUL walk the broadcast in BinaryParams' rank-6 strided frame (filled
// for every broadcast kind), one plain loop for every case: this is the
// reference, and int8 element-wise ops are memory-bound anyway.
#include "ops_q8/q8_elementwise.h"

#include <algorithm>
#include <cmath>

namespace gearshift {
namespace {

template <typename F>
void BinaryLoop(const BinaryParams& p, const int8_t* a, const int8_t* b, int8_t* y, F f) {
  const int64_t* s = p.shape;
  const int64_t* as = p.a_stride;
  const int64_t* bs = p.b_stride;
  for (int64_t i0 = 0; i0 < s[0]; ++i0) {
    for (int64_t i1 = 0; i1 < s[1]; ++i1) {
      for (int64_t i2 = 0; i2 < s[2]; ++i2) {
        for (int64_t i3 = 0; i3 < s[3]; ++i3) {
          for (int64_t i4 = 0; i4 < s[4]; ++i4) {
            const int8_t* ap = a + i0 * as[0] + i1 * as[1] + i2 * as[2] + i3 * as[3] + i4 * as[4];
            const int8_t* bp = b + i0 * bs[0] + i1 * bs[1] + i2 * bs[2] + i3 * bs[3] + i4 * bs[4];
            for (int64_t i5 = 0; i5 < s[5]; ++i5) *y++ = f(ap[i5 * as[5]], bp[i5 * bs[5]]);
          }
        }
      }
    }
  }
}

Activation ActivationOf(UnaryOp op) {
  switch (op) {
    case UnaryOp::kRelu:
      return Activation::kRelu;
    case UnaryOp::kRelu6:
      return Activation::kRelu6;
    case UnaryOp::kReluN1To1:
      return Activation::kReluN1To1;
    default:
      return Activation::kNone;
  }
}

double TableFunction(UnaryOp op, double v) {
  switch (op) {
    case UnaryOp::kLogistic:
      return 1.0 / (1.0 + std::exp(-v));
    case UnaryOp::kTanh:
      return std::tanh(v);
    case UnaryOp::kHardSwish:
      return v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0;
    default:
      return v;
  }
}

}  // namespace

void q8_quantize__ref(const float* x, Q8Quant q, int8_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = QuantizeQ8(x[i], q);
}

void q8_dequantize__ref(const int8_t* x, Q8Quant q, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = DequantizeQ8(x[i], q);
}

Q8RescaleParams MakeQ8RescaleParams(UnaryOp op, Q8Quant x, Q8Quant y) {
  Q8RescaleParams p;
  p.x_zero_point = x.zero_point;
  p.y_zero_point = y.zero_point;
  p.requant = MakeQ8Requant(static_cast<double>(x.scale) / static_cast<double>(y.scale));
  p.range = Q8ActivationRange(ActivationOf(op), y);
  return p;
}

void q8_rescale__ref(const Q8RescaleParams& p, const int8_t* x, int8_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = ApplyQ8Requant(int32_t{x[i]} - p.x_zero_point, p.requant);
    y[i] = Q8Clamp(int64_t{v} + p.y_zero_point, p.range);
  }
}

Q8Table MakeQ8Table(UnaryOp op, Q8Quant x, Q8Quant y) {
  Q8Table t;
  for (int q = -128; q <= 127; ++q) {
    const double v = static_cast<double>(x.scale) * static_cast<double>(q - x.zero_point);
    const double r = std::round(TableFunction(op, v) / static_cast<double>(y.scale)) +
                     static_cast<double>(y.zero_point);
    t[static_cast<size_t>(q + 128)] = static_cast<int8_t>(std::min(std::max(r, -128.0), 127.0));
  }
  return t;
}

void q8_lookup__ref(const Q8Table& table, const int8_t* x, int8_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = table[static_cast<size_t>(int32_t{x[i]} + 128)];
}

Q8AddParams MakeQ8AddParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act) {
  Q8AddParams p;
  p.a_zero_point = a.zero_point;
  p.b_zero_point = b.zero_point;
  p.y_zero_point = y.zero_point;
  // quant_ref.q8_add: the max of the float32 scales, doubled in double.
  const double twice_max = 2.0 * static_cast<double>(std::max(a.scale, b.scale));
  p.a = MakeQ8Requant(static_cast<double>(a.scale) / twice_max);
  p.b = MakeQ8Requant(static_cast<double>(b.scale) / twice_max);
  p.out = MakeQ8Requant(
      twice_max / (static_cast<double>(int64_t{1} << p.left_shift) * static_cast<double>(y.scale)));
  p.act = Q8ActivationRange(act, y);
  return p;
}

void q8_add__ref(const BinaryParams& shape, const Q8AddParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y) {
  BinaryLoop(shape, a, b, y, [&p](int8_t qa, int8_t qb) {
    // (q - z) << 20 is at most 255 * 2^20 in magnitude: no overflow.
    const int32_t va = (int32_t{qa} - p.a_zero_point) * (int32_t{1} << p.left_shift);
    const int32_t vb = (int32_t{qb} - p.b_zero_point) * (int32_t{1} << p.left_shift);
    const int32_t sum = WrapAddI32(ApplyQ8Requant(va, p.a), ApplyQ8Requant(vb, p.b));
    return Q8Clamp(int64_t{ApplyQ8Requant(sum, p.out)} + p.y_zero_point, p.act);
  });
}

Q8MulParams MakeQ8MulParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act) {
  Q8MulParams p;
  p.a_zero_point = a.zero_point;
  p.b_zero_point = b.zero_point;
  p.y_zero_point = y.zero_point;
  p.out = MakeQ8Requant(static_cast<double>(a.scale) * static_cast<double>(b.scale) /
                        static_cast<double>(y.scale));
  p.act = Q8ActivationRange(act, y);
  return p;
}

void q8_mul__ref(const BinaryParams& shape, const Q8MulParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y) {
  BinaryLoop(shape, a, b, y, [&p](int8_t qa, int8_t qb) {
    const int32_t prod = (int32_t{qa} - p.a_zero_point) * (int32_t{qb} - p.b_zero_point);
    return Q8Clamp(int64_t{ApplyQ8Requant(prod, p.out)} + p.y_zero_point, p.act);
  });
}

// ---- 1.3 ----------------------------------------------------------------------

Q8RescaleParams MakeQ8RequantizeParams(Q8Quant x, Q8Quant y) {
  Q8RescaleParams p;
  p.x_zero_point = x.zero_point;
  p.y_zero_point = y.zero_point;
  p.requant = MakeQ8Requant(static_cast<double>(x.scale) / static_cast<double>(y.scale));
  return p;  // range: the full int8 range
}

Q8AddParams MakeQ8SubParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act) {
  Q8AddParams p = MakeQ8AddParams(a, b, y, act);
  // Negating the fixed-point multiplier is not the same as negating the
  // result: SaturatingRoundingDoublingHighMul rounds ties upwards.
  p.b.multiplier = -p.b.multiplier;
  return p;
}

void q8_maximum__ref(const BinaryParams& shape, const int8_t* a, const int8_t* b, int8_t* y) {
  BinaryLoop(shape, a, b, y, [](int8_t qa, int8_t qb) { return qa > qb ? qa : qb; });
}

void q8_minimum__ref(const BinaryParams& shape, const int8_t* a, const int8_t* b, int8_t* y) {
  BinaryLoop(shape, a, b, y, [](int8_t qa, int8_t qb) { return qa < qb ? qa : qb; });
}

Q8DivParams MakeQ8DivParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act) {
  Q8DivParams p;
  p.a_zero_point = a.zero_point;
  p.b_zero_point = b.zero_point;
  p.y_zero_point = y.zero_point;
  p.a_scale = static_cast<double>(a.scale);
  p.b_scale = static_cast<double>(b.scale);
  p.y_scale = static_cast<double>(y.scale);
  p.act = Q8ActivationRange(act, y);
  return p;
}

void q8_div__ref(const BinaryParams& shape, const Q8DivParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y) {
  BinaryLoop(shape, a, b, y, [&p](int8_t qa, int8_t qb) {
    const int32_t da = int32_t{qa} - p.a_zero_point;
    const int32_t db = int32_t{qb} - p.b_zero_point;
    if (db == 0) {
      // +-inf saturates (and then meets the activation's clamp); NaN (0/0)
      // has no int8 value and maps to real 0.
      const int64_t v = da > 0 ? 127 : da < 0 ? -128 : p.y_zero_point;
      return Q8Clamp(v, p.act);
    }
    const double r = p.a_scale * static_cast<double>(da) / (p.b_scale * static_cast<double>(db)) /
                     p.y_scale;
    // |r| <= 255 * max scale ratio could exceed int64 only for absurd
    // scales; clamp in double first.
    const double q = std::min(std::max(std::round(r) + static_cast<double>(p.y_zero_point),
                                       -1024.0), 1024.0);
    return Q8Clamp(static_cast<int64_t>(q), p.act);
  });
}

Q8LeakyReluParams MakeQ8LeakyReluParams(float alpha, Q8Quant x, Q8Quant y) {
  Q8LeakyReluParams p;
  p.x_zero_point = x.zero_point;
  p.y_zero_point = y.zero_point;
  const double sx = static_cast<double>(x.scale), sy = static_cast<double>(y.scale);
  p.identity = MakeQ8Requant(sx / sy);
  p.alpha = MakeQ8Requant(static_cast<double>(alpha) * sx / sy);
  return p;
}

void q8_leaky_relu__ref(const Q8LeakyReluParams& p, const int8_t* x, int8_t* y, int64_t n) {
  const Q8Range full;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t d = int32_t{x[i]} - p.x_zero_point;
    const int32_t v = ApplyQ8Requant(d, d >= 0 ? p.identity : p.alpha);
    y[i] = Q8Clamp(int64_t{v} + p.y_zero_point, full);
  }
}

Q8PreluParams MakeQ8PreluParams(Q8Quant x, Q8Quant alpha, Q8Quant y) {
  Q8PreluParams p;
  p.x_zero_point = x.zero_point;
  p.alpha_zero_point = alpha.zero_point;
  p.y_zero_point = y.zero_point;
  const double sx = static_cast<double>(x.scale), sy = static_cast<double>(y.scale);
  p.identity = MakeQ8Requant(sx / sy);
  p.alpha = MakeQ8Requant(sx * static_cast<double>(alpha.scale) / sy);
  return p;
}

void q8_prelu__ref(const BinaryParams& shape, const Q8PreluParams& p, const int8_t* x,
                   const int8_t* alpha, int8_t* y) {
  const Q8Range full;
  BinaryLoop(shape, x, alpha, y, [&p, full](int8_t qx, int8_t qa) {
    const int32_t d = int32_t{qx} - p.x_zero_point;
    const int32_t v = d >= 0 ? ApplyQ8Requant(d, p.identity)
                             : ApplyQ8Requant(d * (int32_t{qa} - p.alpha_zero_point), p.alpha);
    return Q8Clamp(int64_t{v} + p.y_zero_point, full);
  });
}

}  // namespace gearshift
