// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 element-wise ops (docs/QUANTIZATION.md "The int8 gear, op by op"):
// graph input quantization and output dequantization, RELU/RELU6/RELU_N1_TO_1
// as a rescale clamped to the activation's range, LOGISTIC/TANH/HARD_SWISH as
// a 256-entry table built at plan time in double, ADD (quant_ref.q8_add,
// TFLite's AddElementwise: 20 bits of headroom, per-input multipliers, then
// the output multiplier) and MUL, both with NumPy broadcasting resolved into
// the fp32 ops' BinaryParams (its float `act` is unused here).
#ifndef GEARSHIFT_OPS_Q8_Q8_ELEMENTWISE_H_
#define GEARSHIFT_OPS_Q8_Q8_ELEMENTWISE_H_

#include <array>
#include <cstdint>

#include "ops/elementwise.h"
#include "ops_q8/q8_common.h"

namespace gearshift {

// y[i] = QuantizeQ8(x[i], q) / x[i] = DequantizeQ8(y[i], q).
void q8_quantize__ref(const float* x, Q8Quant q, int8_t* y, int64_t n);
void q8_dequantize__ref(const int8_t* x, Q8Quant q, float* y, int64_t n);

// y = clamp(MBQM(x - zx, sx / sy) + zy, range): RELU, RELU6 and
// RELU_N1_TO_1 (range = that activation's range in y), and MEAN's output
// stage.
struct Q8RescaleParams {
  int32_t x_zero_point = 0, y_zero_point = 0;
  Q8Requant requant;
  Q8Range range;
};
// `op` is kRelu, kRelu6 or kReluN1To1.
Q8RescaleParams MakeQ8RescaleParams(UnaryOp op, Q8Quant x, Q8Quant y);
void q8_rescale__ref(const Q8RescaleParams& p, const int8_t* x, int8_t* y, int64_t n);

// Output value of every input value, indexed by q + 128.
using Q8Table = std::array<int8_t, 256>;
// For every q: v = (double)sx * (q - zx), f(v) in double (1/(1+exp(-v)),
// tanh(v), v*min(max(v+3,0),6)/6), clamp(round_half_away(f / (double)sy) + zy).
// `op` is kLogistic, kTanh or kHardSwish.
Q8Table MakeQ8Table(UnaryOp op, Q8Quant x, Q8Quant y);
void q8_lookup__ref(const Q8Table& table, const int8_t* x, int8_t* y, int64_t n);

struct Q8AddParams {
  int32_t a_zero_point = 0, b_zero_point = 0, y_zero_point = 0;
  int left_shift = 20;
  Q8Requant a, b, out;  // sa / 2max, sb / 2max, 2max / (2^20 sy)
  Q8Range act;
};
Q8AddParams MakeQ8AddParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act);
void q8_add__ref(const BinaryParams& shape, const Q8AddParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y);

// y = clamp(MBQM((qa - za) * (qb - zb), sa * sb / sy) + zy, act).
struct Q8MulParams {
  int32_t a_zero_point = 0, b_zero_point = 0, y_zero_point = 0;
  Q8Requant out;
  Q8Range act;
};
Q8MulParams MakeQ8MulParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act);
void q8_mul__ref(const BinaryParams& shape, const Q8MulParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_ELEMENTWISE_H_
