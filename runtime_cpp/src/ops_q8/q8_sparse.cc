// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Accumulators are uint32 so that wrap-around is defined (as in q8_conv.cc).
#include "ops_q8/q8_sparse.h"

namespace gearshift {

void q8_fully_connected__sparse(const FullyConnectedParams& p, const Q8ChannelRequant& q,
                                const SparseMatrix& w, const int8_t* x, const int32_t* bias,
                                int8_t* y, ThreadPool* pool) {
  const int64_t in = p.in_features, out = p.out_features;
  const int64_t* ptr = w.row_ptr.data();
  const int32_t* col = w.col.data();
  const int8_t* val = w.i8.data();
  const auto zx = static_cast<uint32_t>(q.x_zero_point);
  // Work items are (block of kRows input rows, output channel): each stored
  // weight is loaded once per block.
  constexpr int64_t kRows = 4;
  const int64_t blocks = (p.rows + kRows - 1) / kRows;
  const int64_t cost = kRows * (out > 0 ? w.nnz() / out + 1 : 1);
  ParallelItems(pool, blocks * out, cost, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r0 = item / out * kRows, o = item % out;
      const int64_t m = p.rows - r0 < kRows ? p.rows - r0 : kRows;
      // sum (x - zx) * w = sum x * w - zx * sum w, modulo 2^32.
      const uint32_t init = (bias != nullptr ? static_cast<uint32_t>(bias[o]) : 0u) -
                            zx * static_cast<uint32_t>(w.row_sum[static_cast<size_t>(o)]);
      uint32_t acc[kRows] = {init, init, init, init};
      const int8_t* xr = x + r0 * in;
      if (m == kRows) {
        for (int64_t j = ptr[o]; j < ptr[o + 1]; ++j) {
          const int32_t v = val[j];
          const int8_t* xc = xr + col[j];
          for (int64_t i = 0; i < kRows; ++i) {
            acc[i] += static_cast<uint32_t>(int32_t{xc[i * in]} * v);
          }
        }
      } else {  // the last, partial block (batch 1: the only one), row by row
        for (int64_t i = 0; i < m; ++i) {
          const int8_t* xi = xr + i * in;
          for (int64_t j = ptr[o]; j < ptr[o + 1]; ++j) {
            acc[i] += static_cast<uint32_t>(int32_t{xi[col[j]]} * int32_t{val[j]});
          }
        }
      }
      for (int64_t i = 0; i < m; ++i) y[(r0 + i) * out + o] = Q8DenseOutput(acc[i], q, o);
    }
  });
}

void q8_conv2d__sparse(const Conv2DParams& p, const Q8ChannelRequant& q, const SparseMatrix& w,
                       const int8_t* x, const int32_t* bias, int8_t* y, ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t* ptr = w.row_ptr.data();
  const int32_t* col = w.col.data();
  const int8_t* val = w.i8.data();
  const int64_t in_c = p.in_c, kw = p.kernel_w;
  const int32_t zx = q.x_zero_point;
  ParallelItems(pool, pixels, w.nnz() + 1, [&](int64_t begin, int64_t end) {
    for (int64_t pix = begin; pix < end; ++pix) {
      const int64_t ox = pix % p.out_w;
      const int64_t oy = (pix / p.out_w) % p.out_h;
      const int64_t n = pix / (p.out_w * p.out_h);
      const int64_t iy0 = oy * p.stride_h - p.pad_top;
      const int64_t ix0 = ox * p.stride_w - p.pad_left;
      const int8_t* xn = x + n * p.in_h * p.in_w * in_c;
      for (int64_t oc = 0; oc < p.out_c; ++oc) {
        uint32_t acc = bias != nullptr ? static_cast<uint32_t>(bias[oc]) : 0u;
        for (int64_t j = ptr[oc]; j < ptr[oc + 1]; ++j) {
          const int64_t tap = col[j] / in_c, c = col[j] - tap * in_c;
          const int64_t iy = iy0 + tap / kw * p.dilation_h;
          const int64_t ix = ix0 + tap % kw * p.dilation_w;
          if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;  // (zx - zx) * w
          acc += static_cast<uint32_t>((int32_t{xn[(iy * p.in_w + ix) * in_c + c]} - zx) *
                                       int32_t{val[j]});
        }
        y[pix * p.out_c + oc] = Q8ConvOutput(acc, q, oc);
      }
    }
  });
}

}  // namespace gearshift
