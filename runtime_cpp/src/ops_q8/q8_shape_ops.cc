// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
#include "ops_q8/q8_shape_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/pad_rows.h"

namespace gearshift {

int8_t QuantizeQ8Fill(double value, Q8Quant q) {
  const double v = std::round(value / static_cast<double>(q.scale)) + q.zero_point;
  return static_cast<int8_t>(std::min(std::max(v, -128.0), 127.0));
}

void q8_concat__ref(const ConcatParams& p, Q8Range act, const int8_t* const* inputs, int8_t* y) {
  const bool clamp = act.lo > -128 || act.hi < 127;
  for (int64_t o = 0; o < p.outer; ++o) {
    int8_t* yp = y + o * p.out_chunk;
    for (size_t i = 0; i < p.in_chunk.size(); ++i) {
      const int64_t n = p.in_chunk[i];
      const int8_t* xp = inputs[i] + o * n;
      if (clamp) {
        for (int64_t k = 0; k < n; ++k) yp[k] = Q8Clamp(xp[k], act);
      } else {
        std::memcpy(yp, xp, static_cast<size_t>(n));
      }
      yp += n;
    }
  }
}

void q8_copy__ref(const int8_t* x, int8_t* y, int64_t n) {
  if (x != y) std::memcpy(y, x, static_cast<size_t>(n));
}

void q8_pad__ref(const PadParams& p, int8_t pad_value, const int8_t* x, int8_t* y) {
  std::fill(y, y + p.out_size, pad_value);
  const int64_t* o = p.out;
  const int64_t* b = p.before;
  const auto row_bytes = static_cast<size_t>(p.in[5]);
  for (int64_t i0 = 0; i0 < p.in[0]; ++i0) {
    for (int64_t i1 = 0; i1 < p.in[1]; ++i1) {
      for (int64_t i2 = 0; i2 < p.in[2]; ++i2) {
        for (int64_t i3 = 0; i3 < p.in[3]; ++i3) {
          for (int64_t i4 = 0; i4 < p.in[4]; ++i4) {
            const int64_t row =
                ((((i0 + b[0]) * o[1] + i1 + b[1]) * o[2] + i2 + b[2]) * o[3] + i3 + b[3]) * o[4] +
                i4 + b[4];
            std::memcpy(y + row * o[5] + b[5], x, row_bytes);
            x += p.in[5];
          }
        }
      }
    }
  }
}

void q8_concat__opt(const ConcatParams& p, Q8Range act, const int8_t* const* inputs, int8_t* y,
                    ThreadPool* pool) {
  const bool clamp = act.lo > -128 || act.hi < 127;
  const auto count = static_cast<int64_t>(p.in_chunk.size());
  if (count == 0) return;
  // Copies are cheap per byte: a quarter of a multiply-add each.
  const int64_t cost = p.out_chunk / count / 4 + 1;
  ParallelItems(pool, p.outer * count, cost, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / count;
      const auto i = static_cast<size_t>(item % count);
      int64_t at = 0;  // offset of input i in an output row
      for (size_t j = 0; j < i; ++j) at += p.in_chunk[j];
      const int64_t n = p.in_chunk[i];
      const int8_t* xp = inputs[i] + o * n;
      int8_t* yp = y + o * p.out_chunk + at;
      if (clamp) {
        // Q8Clamp in int32 (the same values; vectorises).
        for (int64_t k = 0; k < n; ++k) {
          yp[k] = static_cast<int8_t>(std::min(std::max(int32_t{xp[k]}, act.lo), act.hi));
        }
      } else if (n > 0) {
        std::memcpy(yp, xp, static_cast<size_t>(n));
      }
    }
  });
}

void q8_pad__opt(const PadParams& p, int8_t pad_value, const int8_t* x, int8_t* y,
                 ThreadPool* pool) {
  if (!PadRows(p, pad_value, x, y, pool)) q8_pad__ref(p, pad_value, x, y);
}

}  // namespace gearshift
