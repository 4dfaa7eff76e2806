// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// A conv column packs (ky, kx, c) as (ky * KW + kx) * C + c; it is split
// with two divisions per stored weight, which keeps the kernel free of any
// plan-time table (it is the reference, not the fast path).
#include "ops/sparse_conv.h"

namespace gearshift {

void f32_fully_connected__sparse(const FullyConnectedParams& p, const SparseMatrix& w,
                                 const float* x, const float* bias, float* y, ThreadPool* pool) {
  const int64_t in = p.in_features, out = p.out_features;
  const int64_t* ptr = w.row_ptr.data();
  const int32_t* col = w.col.data();
  const float* val = w.f32.data();
  // Items are (block of kRows input rows, output channel); each output
  // element still sums its terms in increasing column order.
  constexpr int64_t kRows = 4;
  const int64_t blocks = (p.rows + kRows - 1) / kRows;
  const int64_t cost = kRows * (out > 0 ? w.nnz() / out + 1 : 1);
  ParallelItems(pool, blocks * out, cost, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r0 = item / out * kRows, o = item % out;
      const int64_t m = p.rows - r0 < kRows ? p.rows - r0 : kRows;
      const float init = bias != nullptr ? bias[o] : 0.0f;
      float acc[kRows] = {init, init, init, init};
      const float* xr = x + r0 * in;
      if (m == kRows) {
        for (int64_t j = ptr[o]; j < ptr[o + 1]; ++j) {
          const float v = val[j];
          const float* xc = xr + col[j];
          for (int64_t i = 0; i < kRows; ++i) acc[i] += xc[i * in] * v;
        }
      } else {  // the last, partial block (batch 1: the only one), row by row
        for (int64_t i = 0; i < m; ++i) {
          const float* xi = xr + i * in;
          for (int64_t j = ptr[o]; j < ptr[o + 1]; ++j) acc[i] += xi[col[j]] * val[j];
        }
      }
      for (int64_t i = 0; i < m; ++i) y[(r0 + i) * out + o] = Clamp(acc[i], p.act);
    }
  });
}

void f32_conv2d__sparse(const Conv2DParams& p, const SparseMatrix& w, const float* x,
                        const float* bias, float* y, ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t* ptr = w.row_ptr.data();
  const int32_t* col = w.col.data();
  const float* val = w.f32.data();
  const int64_t in_c = p.in_c, kw = p.kernel_w;
  ParallelItems(pool, pixels, w.nnz() + 1, [&](int64_t begin, int64_t end) {
    for (int64_t pix = begin; pix < end; ++pix) {
      const int64_t ox = pix % p.out_w;
      const int64_t oy = (pix / p.out_w) % p.out_h;
      const int64_t n = pix / (p.out_w * p.out_h);
      const int64_t iy0 = oy * p.stride_h - p.pad_top;
      const int64_t ix0 = ox * p.stride_w - p.pad_left;
      const float* xn = x + n * p.in_h * p.in_w * in_c;
      float* yp = y + pix * p.out_c;
      for (int64_t oc = 0; oc < p.out_c; ++oc) {
        float acc = bias != nullptr ? bias[oc] : 0.0f;
        for (int64_t j = ptr[oc]; j < ptr[oc + 1]; ++j) {
          const int64_t tap = col[j] / in_c, c = col[j] - tap * in_c;
          const int64_t iy = iy0 + tap / kw * p.dilation_h;
          const int64_t ix = ix0 + tap % kw * p.dilation_w;
          if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
          acc += xn[(iy * p.in_w + ix) * in_c + c] * val[j];
        }
        yp[oc] = Clamp(acc, p.act);
      }
    }
  });
}

}  // namespace gearshift
