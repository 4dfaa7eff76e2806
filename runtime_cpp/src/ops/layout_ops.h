// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Data-movement ops of format 1.3 that are one strided view of the input:
// TRANSPOSE, SLICE, DEPTH_TO_SPACE and SPACE_TO_DEPTH each become, at plan
// time, an output walked in row-major order over a rank-6 frame whose input
// offset is a sum of per-axis strides (DEPTH_TO_SPACE's output [N,H*b,W*b,C]
// is [N,H,b,W,b,C] in row-major order, and so on). GATHER picks whole
// slices by index. One template serves float and int8 (values only move).
#ifndef GEARSHIFT_OPS_LAYOUT_OPS_H_
#define GEARSHIFT_OPS_LAYOUT_OPS_H_

#include <cstdint>
#include <cstring>
#include <vector>

#include "ops/elementwise.h"

namespace gearshift {

// y, in row-major order over `shape`, reads x[offset + sum_k i_k * stride[k]].
struct StridedCopyParams {
  int64_t shape[kMaxRank] = {1, 1, 1, 1, 1, 1};
  int64_t stride[kMaxRank] = {0, 0, 0, 0, 0, 0};
  int64_t offset = 0;
};

// x's shape, and y = x.transpose(perm).
StridedCopyParams MakeTransposeParams(const Shape& x, const std::vector<int>& perm);
// y = x[:, begin[0]:end[0]:strides[0], ...] (entries for axes 1..).
StridedCopyParams MakeSliceParams(const Shape& x, const std::vector<int64_t>& begin,
                                  const std::vector<int64_t>& end,
                                  const std::vector<int64_t>& strides);
// x [N,H,W,C] with block b; y per FORMAT.md.
StridedCopyParams MakeDepthToSpaceParams(const Shape& x, int64_t b);
StridedCopyParams MakeSpaceToDepthParams(const Shape& x, int64_t b);

// y = take(x, indices, axis) with x seen as [outer, dim, inner].
struct GatherParams {
  int64_t outer = 1, dim = 1, inner = 1;
  std::vector<int64_t> indices;
};
GatherParams MakeGatherParams(const Shape& x, int axis, const std::vector<int64_t>& indices);

template <typename T>
void StridedCopy(const StridedCopyParams& p, const T* x, T* y) {
  const int64_t* s = p.shape;
  const int64_t* st = p.stride;
  const bool contiguous = st[5] == 1;
  for (int64_t i0 = 0; i0 < s[0]; ++i0) {
    for (int64_t i1 = 0; i1 < s[1]; ++i1) {
      for (int64_t i2 = 0; i2 < s[2]; ++i2) {
        for (int64_t i3 = 0; i3 < s[3]; ++i3) {
          for (int64_t i4 = 0; i4 < s[4]; ++i4) {
            const T* xp =
                x + p.offset + i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3] + i4 * st[4];
            if (contiguous) {
              std::memcpy(y, xp, static_cast<size_t>(s[5]) * sizeof(T));
              y += s[5];
            } else {
              for (int64_t i5 = 0; i5 < s[5]; ++i5) *y++ = xp[i5 * st[5]];
            }
          }
        }
      }
    }
  }
}

template <typename T>
void GatherCopy(const GatherParams& p, const T* x, T* y) {
  const auto run = static_cast<size_t>(p.inner) * sizeof(T);
  for (int64_t o = 0; o < p.outer; ++o) {
    const T* xo = x + o * p.dim * p.inner;
    for (int64_t i : p.indices) {
      std::memcpy(y, xo + i * p.inner, run);
      y += p.inner;
    }
  }
}

void f32_strided_copy__ref(const StridedCopyParams& p, const float* x, float* y);
void f32_gather__ref(const GatherParams& p, const float* x, float* y);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_LAYOUT_OPS_H_
