// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 MEAN and SOFTMAX (docs/QUANTIZATION.md "The int8 gear, op by op").
// MEAN: acc = sum (q - zx) over the reduced positions (int32), n their
// count, clamp(MBQM(acc, sx / (sy * n)) + zy). SOFTMAX, per row of the last
// axis: m = max q, e_i = exp((double)beta * sx * (q_i - m)), their sum in
// index order, clamp(round_half_away(e_i / sum / (double)sy) + zy).
// Shapes come from the fp32 ops' MeanParams/SoftmaxParams.
#ifndef GEARSHIFT_OPS_Q8_Q8_REDUCE_H_
#define GEARSHIFT_OPS_Q8_Q8_REDUCE_H_

#include <cstdint>

#include "ops/op_common.h"
#include "ops/reduce.h"
#include "ops_q8/q8_elementwise.h"

namespace gearshift {

// MEAN's output stage: multiplier sx / (sy * n), no activation.
Q8RescaleParams MakeQ8MeanParams(Q8Quant x, Q8Quant y, int64_t reduced_count);
void q8_mean__ref(const MeanParams& shape, const Q8RescaleParams& q, const int8_t* x, int8_t* y);

struct Q8SoftmaxParams {
  double beta_x_scale = 1.0;  // (double)beta * (double)sx
  double y_scale = 1.0 / 256;
  int32_t y_zero_point = -128;
};
Q8SoftmaxParams MakeQ8SoftmaxParams(float beta, Q8Quant x, Q8Quant y);
void q8_softmax__ref(const SoftmaxParams& shape, const Q8SoftmaxParams& q, const int8_t* x,
                     int8_t* y);

// Same integers as the __refs, for every thread count. MEAN: where the
// innermost kept dim is contiguous (global pooling: MEAN over H, W of NHWC),
// blocks of it are summed in uint32 (the wrapped int32 sum does not depend on
// the order) with the zero point subtracted once; else one odometer per
// output as the __ref, split over outputs. SOFTMAX: exp takes at most 256
// arguments (beta * sx * d, d = q - max in [-255, 0]), so the doubles are
// computed once per call into a table, the same libm call on the same
// argument as the __ref's; rows split over threads.
void q8_mean__opt(const MeanParams& shape, const Q8RescaleParams& q, const int8_t* x, int8_t* y,
                  ThreadPool* pool);
void q8_softmax__opt(const SoftmaxParams& shape, const Q8SoftmaxParams& q, const int8_t* x,
                     int8_t* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_REDUCE_H_
