// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 element-wise ops (docs/QUANTIZATION.md "The int8 gear, op by op"):
// graph input quantization and output dequantization, RELU/RELU6/RELU_N1_TO_1
// as a rescale clamped to the activation's range, LOGISTIC/TANH/HARD_SWISH as
// a 256-entry table built at plan time in double, ADD (quant_ref.q8_add,
// TFLite's AddElementwise: 20 bits of headroom, per-input multipliers, then
// the output multiplier) and MUL, both with NumPy broadcasting resolved into
// the fp32 ops' BinaryParams (its float `act` is unused here). Format 1.3
// adds SUB (ADD with b's multiplier negated), DIV (in double), MAXIMUM and
// MINIMUM (on the int8 values), LEAKY_RELU, PRELU and QUANTIZE (TFLite's
// int8 kernels).
#ifndef GEARSHIFT_OPS_Q8_Q8_ELEMENTWISE_H_
#define GEARSHIFT_OPS_Q8_Q8_ELEMENTWISE_H_

#include <array>
#include <cstdint>
#include <vector>

#include "kernels/q8_lut/q8_lut.h"
#include "kernels/q8_quantize/q8_quantize.h"
#include "kernels/q8_vbinary/q8_vbinary.h"
#include "ops/elementwise.h"
#include "ops/op_common.h"
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

// ---- 1.3 ----------------------------------------------------------------------

// QUANTIZE (int8 to int8): y = clamp(MBQM(x - zx, sx / sy) + zy), full range.
Q8RescaleParams MakeQ8RequantizeParams(Q8Quant x, Q8Quant y);

// SUB: TFLite's int8 SUB runs the ADD kernel with input b's quantized
// multiplier negated (after QuantizeMultiplier, so rounding ties fall as
// TFLite's do); run with q8_add__ref.
Q8AddParams MakeQ8SubParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act);

// MAXIMUM / MINIMUM on the int8 values (inputs and output share (s, z)).
void q8_maximum__ref(const BinaryParams& shape, const int8_t* a, const int8_t* b, int8_t* y);
void q8_minimum__ref(const BinaryParams& shape, const int8_t* a, const int8_t* b, int8_t* y);

// DIV in double: clamp(round_half_away(((double)sa * (qa - za)) /
// ((double)sb * (qb - zb)) / (double)sy) + zy, act); x/0 saturates by the
// sign of the numerator (then the activation's clamp), 0/0 gives zy.
struct Q8DivParams {
  int32_t a_zero_point = 0, b_zero_point = 0, y_zero_point = 0;
  double a_scale = 1.0, b_scale = 1.0, y_scale = 1.0;
  Q8Range act;
};
Q8DivParams MakeQ8DivParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act);
void q8_div__ref(const BinaryParams& shape, const Q8DivParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y);

// LEAKY_RELU: d = q - zx; MBQM(d, sx / sy) if d >= 0 else
// MBQM(d, alpha * sx / sy); + zy, clamp. Multipliers in double from the
// float32 scales and alpha.
struct Q8LeakyReluParams {
  int32_t x_zero_point = 0, y_zero_point = 0;
  Q8Requant identity, alpha;
};
Q8LeakyReluParams MakeQ8LeakyReluParams(float alpha, Q8Quant x, Q8Quant y);
void q8_leaky_relu__ref(const Q8LeakyReluParams& p, const int8_t* x, int8_t* y, int64_t n);

// PRELU: d = q - zx; MBQM(d, sx / sy) if d >= 0 else
// MBQM(d * (qa - za), sx * sa / sy); + zy, clamp. alpha is operand b of the
// broadcast.
struct Q8PreluParams {
  int32_t x_zero_point = 0, alpha_zero_point = 0, y_zero_point = 0;
  Q8Requant identity, alpha;
};
Q8PreluParams MakeQ8PreluParams(Q8Quant x, Q8Quant alpha, Q8Quant y);
void q8_prelu__ref(const BinaryParams& shape, const Q8PreluParams& p, const int8_t* x,
                   const int8_t* alpha, int8_t* y);

// ---- optimised variants ----------------------------------------------------------
//
// Each gives the same integers as its __ref (tests/cpp/ops_q8_fast_test.cc),
// for every thread count: every output element is computed by one thread with
// the same arithmetic. Binary ops coalesce BinaryParams' frame into the
// fewest dims and run contiguous rows with branch-free int32 code (a 64-bit
// product only inside the fixed-point multiply), which compilers vectorise
// where the ISA has a 32x32->64 lane multiply (NEON, SSE4.1) and which runs
// without data-dependent branches elsewhere.

// Tables of the one-input ops that map an int8 to an int8, built by running
// the __ref on all 256 values, so a lookup is exact by construction.
Q8Table MakeQ8RescaleTable(const Q8RescaleParams& p);      // RELU family, QUANTIZE
Q8Table MakeQ8LeakyReluTable(const Q8LeakyReluParams& p);  // LEAKY_RELU

// Graph input quantization and output dequantization: the __refs' element
// functions, split over threads for large tensors (an image input).
// `kernel` (a kernels/q8_quantize microkernel; null: q8_quantize_1x__ref, the
// per-value QuantizeQ8) over blocks split across threads.
void q8_quantize__opt(const float* x, Q8Quant q, int8_t* y, int64_t n, ThreadPool* pool,
                      Q8QuantizeUkernelFn kernel = nullptr);
void q8_dequantize__opt(const int8_t* x, Q8Quant q, float* y, int64_t n, ThreadPool* pool);

// `kernel` (kernels/q8_lut; null: the scalar loop) looks up each block.
void q8_lookup__opt(const Q8Table& table, const int8_t* x, int8_t* y, int64_t n, ThreadPool* pool,
                    Q8LutUkernelFn kernel = nullptr);
// `rows` (may be null): the dispatched row kernels (kernels/q8_vbinary) for
// the rows where both operands are contiguous; other rows, and every row
// without one, run the portable loops.
void q8_add__opt(const BinaryParams& shape, const Q8AddParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y, ThreadPool* pool,
                 const Q8VBinaryKernel* rows = nullptr);  // ADD and SUB
void q8_mul__opt(const BinaryParams& shape, const Q8MulParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y, ThreadPool* pool, const Q8VBinaryKernel* rows = nullptr);
void q8_maximum__opt(const BinaryParams& shape, const int8_t* a, const int8_t* b, int8_t* y,
                     ThreadPool* pool);
void q8_minimum__opt(const BinaryParams& shape, const int8_t* a, const int8_t* b, int8_t* y,
                     ThreadPool* pool);
void q8_prelu__opt(const BinaryParams& shape, const Q8PreluParams& p, const int8_t* x,
                   const int8_t* alpha, int8_t* y, ThreadPool* pool,
                   const Q8VBinaryKernel* rows = nullptr);

// PRELU with a constant per-channel alpha ([pixels, C] x [C]): for each
// channel the output is a function of one int8, so the plan tabulates it
// once (C x 256 bytes, q8_prelu__ref's values) and the op is one byte
// lookup per element (the plan does so where no vector row kernel exists:
// the ref ISA).
// Empty where alpha is not [C]-shaped
// against x or C exceeds kQ8PreluMaxTableChannels (tables past 64 KiB).
constexpr int64_t kQ8PreluMaxTableChannels = 256;
std::vector<int8_t> MakeQ8PreluTables(const BinaryParams& shape, const Q8PreluParams& p,
                                      const int8_t* alpha);
void q8_prelu__table(const BinaryParams& shape, const std::vector<int8_t>& tables, const int8_t* x,
                     int8_t* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_ELEMENTWISE_H_
