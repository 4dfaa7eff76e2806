// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// PAD by output rows, for any element type (fp32 and int8 gears share it):
// each output row is written once (fill, copy, fill) instead of filling the
// whole output and then copying over it, split over threads by rows.
// Trailing dims without padding join the dim before them, so a row is as
// wide as possible (PAD of H and W in NHWC: rows of W * C elements).
#ifndef GEARSHIFT_OPS_PAD_ROWS_H_
#define GEARSHIFT_OPS_PAD_ROWS_H_

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ops/op_common.h"
#include "ops/shape_ops.h"
#include "thread_pool.h"

namespace gearshift {

// False (nothing written) for negative pads, which crop: the caller runs its
// reference op then.
template <typename T>
bool PadRows(const PadParams& p, T fill, const T* x, T* y, ThreadPool* pool) {
  for (int d = 0; d < kMaxRank; ++d) {
    if (p.before[d] < 0 || p.out[d] < p.before[d] + p.in[d]) return false;
  }
  if (p.out_size <= 0) return true;
  int64_t in[kMaxRank], b[kMaxRank], o[kMaxRank];
  for (int d = 0; d < kMaxRank; ++d) {
    in[d] = p.in[d];
    b[d] = p.before[d];
    o[d] = p.out[d];
  }
  for (int k = 0; k < kMaxRank - 1 && b[5] == 0 && o[5] == in[5]; ++k) {
    const int64_t w = in[5];
    in[5] = in[4] * w;
    b[5] = b[4] * w;
    o[5] = o[4] * w;
    for (int d = 4; d > 0; --d) {
      in[d] = in[d - 1];
      b[d] = b[d - 1];
      o[d] = o[d - 1];
    }
    in[0] = o[0] = 1;
    b[0] = 0;
  }
  const int64_t width = o[5];
  if (width <= 0) return true;
  const int64_t rows = p.out_size / width;
  // Copies are cheap: about a quarter of a multiply-add per byte.
  const int64_t cost = width * static_cast<int64_t>(sizeof(T)) / 4 + 1;
  ParallelItems(pool, rows, cost, [&](int64_t begin, int64_t end) {
    // Output row index over dims 0..4, stepped as an odometer.
    int64_t idx[kMaxRank - 1];
    int64_t r = begin;
    for (int d = kMaxRank - 2; d >= 0; --d) {
      idx[d] = r % o[d];
      r /= o[d];
    }
    for (int64_t row = begin; row < end; ++row) {
      T* yp = y + row * width;
      // The input row this output row shows, if any.
      int64_t src = 0;
      bool inside = in[5] > 0;
      for (int d = 0; d < kMaxRank - 1; ++d) {
        const int64_t j = idx[d] - b[d];
        inside = inside && j >= 0 && j < in[d];
        src = src * in[d] + j;
      }
      if (inside) {
        std::fill_n(yp, b[5], fill);
        std::memcpy(yp + b[5], x + src * in[5], static_cast<size_t>(in[5]) * sizeof(T));
        std::fill_n(yp + b[5] + in[5], width - b[5] - in[5], fill);
      } else {
        std::fill_n(yp, width, fill);
      }
      for (int d = kMaxRank - 2; d >= 0; --d) {
        if (++idx[d] < o[d]) break;
        idx[d] = 0;
      }
    }
  });
  return true;
}

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_PAD_ROWS_H_
