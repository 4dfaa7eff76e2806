// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Work is split over output elements (row-major over [rows, O]) so a batch-1
// dense layer still spreads its output features across threads. The GEMM
// path splits over (row tile, column tile) pairs for the same reason.
#include "ops/fully_connected.h"

#include <algorithm>

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

void f32_fully_connected__gemm(const FullyConnectedParams& p, const F32GemmKernel& kernel,
                               const float* packed, const float* x, float* y,
                               ThreadPool* pool) {
  const int64_t in = p.in_features, out = p.out_features;
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t mtiles = (p.rows + mr - 1) / mr, ntiles = (out + nr - 1) / nr;
  const size_t block = F32GemmPackedBlockFloats(static_cast<size_t>(in), static_cast<size_t>(nr));
  ParallelItems(pool, mtiles * ntiles, mr * nr * in, [&](int64_t begin, int64_t end) {
    const float* rows[kF32GemmMaxMr];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t mt = item / ntiles, nt = item % ntiles;
      const int64_t r0 = mt * mr, m = std::min(mr, p.rows - r0);
      // Rows past m repeat the last real one (kernels may read all MR).
      for (int64_t i = 0; i < mr; ++i) rows[i] = x + (r0 + std::min(i, m - 1)) * in;
      const int64_t n0 = nt * nr;
      kernel.fn(static_cast<size_t>(m), static_cast<size_t>(std::min(nr, out - n0)),
                static_cast<size_t>(in), 1, rows, packed + nt * block, y + r0 * out + n0,
                static_cast<size_t>(out), p.act.lo, p.act.hi);
    }
  });
}

}  // namespace gearshift
