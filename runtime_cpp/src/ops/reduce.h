// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 MEAN over any set of axes and SOFTMAX over the last axis.
// MEAN accumulates in double so the reference stays accurate for long
// reductions; SOFTMAX subtracts the row maximum before exp (numerically
// stable for any beta).
#ifndef GEARSHIFT_OPS_REDUCE_H_
#define GEARSHIFT_OPS_REDUCE_H_

#include <cstdint>
#include <vector>

#include "kernels/f32_softmax/f32_softmax.h"
#include "ops/elementwise.h"
#include "thread_pool.h"

namespace gearshift {

struct MeanParams {
  // Kept (output) dims and reduced dims, outermost first, with the input
  // element stride of each. Unused trailing entries have size 1.
  int kept_rank = 0, reduced_rank = 0;
  int64_t kept_size[kMaxRank] = {1, 1, 1, 1, 1, 1};
  int64_t kept_stride[kMaxRank] = {0, 0, 0, 0, 0, 0};
  int64_t reduced_size[kMaxRank] = {1, 1, 1, 1, 1, 1};
  int64_t reduced_stride[kMaxRank] = {0, 0, 0, 0, 0, 0};
  int64_t out_size = 1, reduced_count = 1;
};

// `axes` must be distinct and < rank (the reader checks).
MeanParams MakeMeanParams(const Shape& in, const std::vector<int>& axes);
void f32_mean__ref(const MeanParams& p, const float* x, float* y);
// Bit-identical to the reference; whole channel rows at a time where the
// innermost kept dim is contiguous (a spatial mean of NHWC).
void f32_mean__opt(const MeanParams& p, const float* x, float* y);

struct SoftmaxParams {
  int64_t rows = 1, cols = 1;
  float beta = 1.0f;
};
void f32_softmax__ref(const SoftmaxParams& p, const float* x, float* y);
// The rows on `row` (a KernelTable's f32_softmax.row; null: the reference
// op), split over `pool` by rows: each row is one thread's, so the result
// does not depend on the thread count.
void f32_softmax__opt(const SoftmaxParams& p, F32SoftmaxRowFn row, const float* x, float* y,
                      ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_REDUCE_H_
