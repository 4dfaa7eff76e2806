// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (format 1.3,
// NHWC), TFLite's reference semantics (docs/FORMAT.md): the scale and source
// coordinates are float32, computed exactly as TFLite computes them, so the
// same taps and weights are chosen.
#ifndef GEARSHIFT_OPS_RESIZE_H_
#define GEARSHIFT_OPS_RESIZE_H_

#include <cstdint>

#include "format/model_desc.h"
#include "thread_pool.h"

namespace gearshift {

struct ResizeParams {
  int64_t batch = 0, in_h = 0, in_w = 0, channels = 0;
  int64_t out_h = 0, out_w = 0;
  bool align_corners = false;
  bool half_pixel_centers = false;
};

ResizeParams MakeResizeParams(const Shape& x, const Shape& y, const NodeAttrs& a);

// TFLite's float32 scale of one axis: (in-1)/(out-1) with align_corners and
// out > 1, else in/out.
float ResizeScale(int64_t in, int64_t out, bool align_corners);

// RESIZE_NEAREST_NEIGHBOR's source index of output index o along one axis.
int64_t NearestSource(int64_t o, int64_t in, float scale, bool align_corners,
                      bool half_pixel_centers);

void f32_resize_bilinear__ref(const ResizeParams& p, const float* x, float* y);
void f32_resize_nearest__ref(const ResizeParams& p, const float* x, float* y);

// The same values bit for bit (the same float expression per element), the
// taps computed once per call and output rows split over `pool` (null: this
// thread); the channel loop vectorises.
void f32_resize_bilinear__opt(const ResizeParams& p, const float* x, float* y, ThreadPool* pool);
void f32_resize_nearest__opt(const ResizeParams& p, const float* x, float* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_RESIZE_H_
