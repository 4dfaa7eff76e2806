// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Both CONCATENATION and PAD copy contiguous innermost runs with memcpy.
#include "ops/shape_ops.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "ops/pad_rows.h"

namespace gearshift {

ConcatParams MakeConcatParams(const std::vector<Shape>& inputs, int axis, Activation act) {
  ConcatParams p;
  p.act = ActivationRange(act);
  const Shape& s0 = inputs.front();
  for (int d = 0; d < axis; ++d) p.outer *= s0[d];
  for (const Shape& s : inputs) {
    int64_t chunk = 1;
    for (size_t d = axis; d < s.size(); ++d) chunk *= s[d];
    p.in_chunk.push_back(chunk);
    p.out_chunk += chunk;
  }
  return p;
}

void f32_concat__ref(const ConcatParams& p, const float* const* inputs, float* y) {
  const bool clamp = p.act.lo > -std::numeric_limits<float>::infinity() ||
                     p.act.hi < std::numeric_limits<float>::infinity();
  for (int64_t o = 0; o < p.outer; ++o) {
    float* yp = y + o * p.out_chunk;
    for (size_t i = 0; i < p.in_chunk.size(); ++i) {
      const int64_t n = p.in_chunk[i];
      const float* xp = inputs[i] + o * n;
      if (clamp) {
        for (int64_t k = 0; k < n; ++k) yp[k] = Clamp(xp[k], p.act);
      } else {
        std::memcpy(yp, xp, static_cast<size_t>(n) * sizeof(float));
      }
      yp += n;
    }
  }
}

void f32_copy__ref(const float* x, float* y, int64_t n) {
  if (x != y) std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
}

PadParams MakePadParams(const Shape& in, const std::vector<std::pair<int64_t, int64_t>>& pads,
                        float value) {
  PadParams p;
  p.value = value;
  const size_t off = kMaxRank - in.size();
  for (size_t d = 0; d < in.size(); ++d) {
    p.in[off + d] = in[d];
    p.before[off + d] = pads[d].first;
    p.out[off + d] = in[d] + pads[d].first + pads[d].second;
  }
  for (int d = 0; d < kMaxRank; ++d) p.out_size *= p.out[d];
  return p;
}

void f32_pad__ref(const PadParams& p, const float* x, float* y) {
  std::fill(y, y + p.out_size, p.value);
  const int64_t* o = p.out;
  const int64_t* b = p.before;
  const size_t row_bytes = static_cast<size_t>(p.in[5]) * sizeof(float);
  for (int64_t i0 = 0; i0 < p.in[0]; ++i0) {
    for (int64_t i1 = 0; i1 < p.in[1]; ++i1) {
      for (int64_t i2 = 0; i2 < p.in[2]; ++i2) {
        for (int64_t i3 = 0; i3 < p.in[3]; ++i3) {
          for (int64_t i4 = 0; i4 < p.in[4]; ++i4) {
            const int64_t row =
                ((((i0 + b[0]) * o[1] + i1 + b[1]) * o[2] + i2 + b[2]) * o[3] + i3 + b[3]) *
                    o[4] + i4 + b[4];
            std::memcpy(y + row * o[5] + b[5], x, row_bytes);
            x += p.in[5];
          }
        }
      }
    }
  }
}

void f32_pad__opt(const PadParams& p, const float* x, float* y, ThreadPool* pool) {
  if (!PadRows(p, p.value, x, y, pool)) f32_pad__ref(p, x, y);
}

}  // namespace gearshift
