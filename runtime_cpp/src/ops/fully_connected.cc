// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Work is split over output elements (row-major over [rows, O]) so a batch-1
// dense layer still spreads its output features across threads.
#include "ops/fully_connected.h"

namespace gearshift {

void f32_fully_connected__ref(const FullyConnectedParams& p, const float* x, const float* w,
                              const float* bias, float* y, ThreadPool* pool) {
  const int64_t in = p.in_features, out = p.out_features;
  ParallelItems(pool, p.rows * out, in, [&](int64_t begin, int64_t end) {
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t r = idx / out, o = idx % out;
      const float* xp = x + r * in;
      const float* wp = w + o * in;
      float acc = bias != nullptr ? bias[o] : 0.0f;
      for (int64_t i = 0; i < in; ++i) acc += xp[i] * wp[i];
      y[idx] = Clamp(acc, p.act);
    }
  });
}

}  // namespace gearshift
