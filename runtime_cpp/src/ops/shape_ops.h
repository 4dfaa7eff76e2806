// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference data-movement ops: CONCATENATION, RESHAPE (a plain copy: the
// planner gives every tensor its own buffer, which keeps aliasing out of the
// executor) and PAD with zeros or (1.3) its `value`. Rank <= 6.
#ifndef GEARSHIFT_OPS_SHAPE_OPS_H_
#define GEARSHIFT_OPS_SHAPE_OPS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "ops/elementwise.h"
#include "thread_pool.h"

namespace gearshift {

struct ConcatParams {
  int64_t outer = 1;               // product of dims before the axis
  std::vector<int64_t> in_chunk;   // per input: dim[axis] * product(dims after)
  int64_t out_chunk = 0;           // sum of in_chunk
  ActRange act;
};
ConcatParams MakeConcatParams(const std::vector<Shape>& inputs, int axis, Activation act);
void f32_concat__ref(const ConcatParams& p, const float* const* inputs, float* y);

void f32_copy__ref(const float* x, float* y, int64_t n);

struct PadParams {
  // Input shape left-padded with 1s to rank 6, the leading zeros per dim and
  // the output shape in the same frame.
  int64_t in[kMaxRank] = {1, 1, 1, 1, 1, 1};
  int64_t before[kMaxRank] = {0, 0, 0, 0, 0, 0};
  int64_t out[kMaxRank] = {1, 1, 1, 1, 1, 1};
  int64_t out_size = 1;
  float value = 0.0f;  // fill (PAD's `value`, 1.3)
};
PadParams MakePadParams(const Shape& in, const std::vector<std::pair<int64_t, int64_t>>& pads,
                        float value = 0.0f);
void f32_pad__ref(const PadParams& p, const float* x, float* y);
// The same floats by output rows, over threads (ops/pad_rows.h).
void f32_pad__opt(const PadParams& p, const float* x, float* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_SHAPE_OPS_H_
