// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 CONV_2D and DEPTHWISE_CONV_2D (NHWC, docs/FORMAT.md). Plain
// direct loops: each output pixel is computed by one thread in a fixed order,
// so results do not depend on the thread count. Tuned kernels live elsewhere
// (src/kernels) and are checked against these.
#ifndef GEARSHIFT_OPS_CONV_H_
#define GEARSHIFT_OPS_CONV_H_

#include <cstdint>

#include "ops/op_common.h"
#include "thread_pool.h"

namespace gearshift {

// Everything a convolution needs, resolved once at plan time.
struct Conv2DParams {
  int64_t batch = 0, in_h = 0, in_w = 0, in_c = 0;
  int64_t out_h = 0, out_w = 0, out_c = 0;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  int depth_multiplier = 1;  // depthwise only: out_c == in_c * depth_multiplier
  ActRange act;
};

// x [N,H,W,C], filter [O,KH,KW,C], bias [O] or null, y [N,OH,OW,O].
// `pool` may be null (single-threaded).
void f32_conv2d__ref(const Conv2DParams& p, const float* x, const float* filter,
                     const float* bias, float* y, ThreadPool* pool);

// x [N,H,W,C], filter [1,KH,KW,C*M], bias [C*M] or null, y [N,OH,OW,C*M].
void f32_depthwise_conv2d__ref(const Conv2DParams& p, const float* x, const float* filter,
                               const float* bias, float* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_CONV_H_
