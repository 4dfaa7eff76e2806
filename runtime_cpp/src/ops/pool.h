// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 MAX_POOL_2D and AVERAGE_POOL_2D (NHWC). Padded positions are
// ignored: the max is over real inputs only, and the average divides by the
// number of real inputs in the window, as TensorFlow does.
#ifndef GEARSHIFT_OPS_POOL_H_
#define GEARSHIFT_OPS_POOL_H_

#include <cstdint>

#include "kernels/f32_pool/f32_pool.h"
#include "ops/op_common.h"

namespace gearshift {

struct Pool2DParams {
  int64_t batch = 0, in_h = 0, in_w = 0, channels = 0;
  int64_t out_h = 0, out_w = 0;
  int filter_h = 1, filter_w = 1;
  int stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  ActRange act;
};

void f32_max_pool2d__ref(const Pool2DParams& p, const float* x, float* y, ThreadPool* pool);
void f32_average_pool2d__ref(const Pool2DParams& p, const float* x, float* y, ThreadPool* pool);

// The same ops on `kernel` (the dispatcher's f32_pool; null: the reference),
// one output pixel per call over its window's in-bounds taps; bit for bit
// the reference (tests/cpp/elementwise_opt_test.cc).
void f32_max_pool2d__opt(const Pool2DParams& p, F32PoolUkernelFn kernel, const float* x, float* y,
                         ThreadPool* pool);
void f32_average_pool2d__opt(const Pool2DParams& p, F32PoolUkernelFn kernel, const float* x,
                             float* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_POOL_H_
