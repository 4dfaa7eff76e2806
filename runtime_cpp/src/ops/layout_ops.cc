// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
#include "ops/layout_ops.h"

namespace gearshift {
namespace {

// Row-major element strides of `shape`.
std::vector<int64_t> Strides(const Shape& shape) {
  std::vector<int64_t> st(shape.size(), 1);
  for (size_t k = shape.size(); k-- > 1;) st[k - 1] = st[k] * shape[k];
  return st;
}

// Right-aligns `dims`/`strides` (rank <= 6) in the rank-6 frame; leading
// axes get extent 1.
StridedCopyParams Frame(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides,
                        int64_t offset) {
  StridedCopyParams p;
  const size_t off = kMaxRank - dims.size();
  for (size_t k = 0; k < dims.size(); ++k) {
    p.shape[off + k] = dims[k];
    p.stride[off + k] = strides[k];
  }
  if (dims.empty()) p.stride[kMaxRank - 1] = 1;
  p.offset = offset;
  return p;
}

}  // namespace

StridedCopyParams MakeTransposeParams(const Shape& x, const std::vector<int>& perm) {
  const std::vector<int64_t> xs = Strides(x);
  std::vector<int64_t> dims, strides;
  for (int a : perm) {
    dims.push_back(x[a]);
    strides.push_back(xs[a]);
  }
  return Frame(dims, strides, 0);
}

StridedCopyParams MakeSliceParams(const Shape& x, const std::vector<int64_t>& begin,
                                  const std::vector<int64_t>& end,
                                  const std::vector<int64_t>& strides) {
  const std::vector<int64_t> xs = Strides(x);
  std::vector<int64_t> dims = {x[0]}, st = {xs[0]};
  int64_t offset = 0;
  for (size_t i = 0; i < begin.size(); ++i) {
    dims.push_back((end[i] - begin[i] + strides[i] - 1) / strides[i]);
    st.push_back(xs[i + 1] * strides[i]);
    offset += begin[i] * xs[i + 1];
  }
  return Frame(dims, st, offset);
}

StridedCopyParams MakeDepthToSpaceParams(const Shape& x, int64_t b) {
  // y[n, h, i, w, j, c] = x[n, h, w, (i*b + j) * C' + c], C' = C / b^2.
  const int64_t h = x[1], w = x[2], c = x[3], cp = c / (b * b);
  return Frame({x[0], h, b, w, b, cp}, {h * w * c, w * c, b * cp, c, cp, 1}, 0);
}

StridedCopyParams MakeSpaceToDepthParams(const Shape& x, int64_t b) {
  // y[n, h, w, i, j, c] = x[n, h*b + i, w*b + j, c].
  const int64_t h = x[1], w = x[2], c = x[3];
  return Frame({x[0], h / b, w / b, b, b, c}, {h * w * c, b * w * c, b * c, w * c, c, 1}, 0);
}

GatherParams MakeGatherParams(const Shape& x, int axis, const std::vector<int64_t>& indices) {
  GatherParams p;
  for (int d = 0; d < axis; ++d) p.outer *= x[d];
  p.dim = x[axis];
  for (size_t d = static_cast<size_t>(axis) + 1; d < x.size(); ++d) p.inner *= x[d];
  p.indices = indices;
  return p;
}

void f32_strided_copy__ref(const StridedCopyParams& p, const float* x, float* y) {
  StridedCopy(p, x, y);
}

void f32_gather__ref(const GatherParams& p, const float* x, float* y) { GatherCopy(p, x, y); }

}  // namespace gearshift
