// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (format 1.3; same
// (scale, zero point) in and out, docs/QUANTIZATION.md). Bilinear is
// TFLite's ResizeBilinearInteger: per-axis scale in 10-bit fixed point
// (round(scale * 1024), as TFLite's integer formula), source coordinates in
// 1/1024 units, the four raw int8 taps weighted in int64 (the weights sum to
// 2^20, so zero points need no correction) and rounded half away from zero
// by 2^20. Nearest neighbour picks the same source pixel as the fp32 op.
#ifndef GEARSHIFT_OPS_Q8_Q8_RESIZE_H_
#define GEARSHIFT_OPS_Q8_Q8_RESIZE_H_

#include <cstdint>

#include "kernels/q8_resize/q8_resize.h"
#include "ops/op_common.h"
#include "ops/resize.h"

namespace gearshift {

// TFLite's scale_10 of one axis: in/out (or (in-1)/(out-1) with
// align_corners and out > 1) times 1024, rounded half up in integers.
int64_t ResizeScale10(int64_t in, int64_t out, bool align_corners);

void q8_resize_bilinear__ref(const ResizeParams& p, const int8_t* x, int8_t* y);
void q8_resize_nearest__ref(const ResizeParams& p, const int8_t* x, int8_t* y);

// Same integers as the __refs, output rows split over threads. Bilinear sums
// in int32, which is exact: the two weights of an axis sum to 1024 and each
// is in [-512, 1536] (the source coordinate is at least -512/1024), so
// |sum| <= 128 * 2048 * 2048 = 2^29; each output row is one call of `row`
// (kernels/q8_resize; null: the ref row).
void q8_resize_bilinear__opt(const ResizeParams& p, const int8_t* x, int8_t* y, ThreadPool* pool,
                             Q8BilinearRowFn row = nullptr);
void q8_resize_nearest__opt(const ResizeParams& p, const int8_t* x, int8_t* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_RESIZE_H_
