// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Coordinates are int64 (TFLite uses int32, which only differs where it
// would overflow: images over ~2 million pixels a side).
#include "ops_q8/q8_resize.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace gearshift {
namespace {

constexpr int64_t kOne = 1024;  // 1.0 in 10-bit fixed point

// Source coordinate (1/1024 units) and taps of output index o (TFLite's
// integer ComputeInterpolationValues; its truncating divisions equal floor
// and ceil here: v >= -512, and lo is clamped to 0 anyway).
struct Taps10 {
  int64_t v = 0, lo = 0, hi = 0;
};

Taps10 BilinearTaps10(int64_t o, int64_t scale_10, bool half_pixel_centers, int64_t in) {
  Taps10 t;
  t.v = half_pixel_centers ? o * scale_10 + scale_10 / 2 - kOne / 2 : o * scale_10;
  t.lo = std::max<int64_t>(t.v / kOne, 0);
  t.hi = std::min<int64_t>((t.v + kOne - 1) / kOne, in - 1);
  return t;
}

}  // namespace

int64_t ResizeScale10(int64_t in, int64_t out, bool align_corners) {
  if (align_corners && out > 1) return (kOne * (in - 1) + (out - 1) / 2) / (out - 1);
  return (kOne * in + out / 2) / out;
}

void q8_resize_bilinear__ref(const ResizeParams& p, const int8_t* x, int8_t* y) {
  const int64_t sh = ResizeScale10(p.in_h, p.out_h, p.align_corners);
  const int64_t sw = ResizeScale10(p.in_w, p.out_w, p.align_corners);
  const int64_t c_n = p.channels;
  for (int64_t n = 0; n < p.batch; ++n) {
    const int8_t* xn = x + n * p.in_h * p.in_w * c_n;
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      const Taps10 ty = BilinearTaps10(oy, sh, p.half_pixel_centers, p.in_h);
      const int64_t wy1 = ty.v - kOne * ty.lo;  // weight of row hi
      const int64_t wy0 = kOne - wy1;           // weight of row lo
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        const Taps10 tx = BilinearTaps10(ox, sw, p.half_pixel_centers, p.in_w);
        const int64_t wx1 = tx.v - kOne * tx.lo;
        const int64_t wx0 = kOne - wx1;
        const int8_t* x00 = xn + (ty.lo * p.in_w + tx.lo) * c_n;
        const int8_t* x10 = xn + (ty.hi * p.in_w + tx.lo) * c_n;
        const int8_t* x01 = xn + (ty.lo * p.in_w + tx.hi) * c_n;
        const int8_t* x11 = xn + (ty.hi * p.in_w + tx.hi) * c_n;
        for (int64_t c = 0; c < c_n; ++c) {
          const int64_t sum =
              x00[c] * wy0 * wx0 + x10[c] * wy1 * wx0 + x01[c] * wy0 * wx1 + x11[c] * wy1 * wx1;
          const int64_t round = sum > 0 ? (int64_t{1} << 19) : -(int64_t{1} << 19);
          // C++ division truncates: with the +-2^19 nudge, half away from zero.
          *y++ = static_cast<int8_t>((sum + round) / (int64_t{1} << 20));
        }
      }
    }
  }
}

void q8_resize_nearest__ref(const ResizeParams& p, const int8_t* x, int8_t* y) {
  const float sh = ResizeScale(p.in_h, p.out_h, p.align_corners);
  const float sw = ResizeScale(p.in_w, p.out_w, p.align_corners);
  const auto row = static_cast<size_t>(p.channels);
  for (int64_t n = 0; n < p.batch; ++n) {
    const int8_t* xn = x + n * p.in_h * p.in_w * p.channels;
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      const int64_t iy = NearestSource(oy, p.in_h, sh, p.align_corners, p.half_pixel_centers);
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        const int64_t ix = NearestSource(ox, p.in_w, sw, p.align_corners, p.half_pixel_centers);
        std::memcpy(y, xn + (iy * p.in_w + ix) * p.channels, row);
        y += p.channels;
      }
    }
  }
}

void q8_resize_bilinear__opt(const ResizeParams& p, const int8_t* x, int8_t* y, ThreadPool* pool,
                             Q8BilinearRowFn row) {
  if (row == nullptr) row = &q8_bilinear_row__ref;
  const int64_t sh = ResizeScale10(p.in_h, p.out_h, p.align_corners);
  const int64_t sw = ResizeScale10(p.in_w, p.out_w, p.align_corners);
  const int64_t c_n = p.channels;
  // The column taps, once per call (the same for every output row).
  std::vector<Q8BilinearTap> cols(static_cast<size_t>(p.out_w));
  for (int64_t ox = 0; ox < p.out_w; ++ox) {
    const Taps10 tx = BilinearTaps10(ox, sw, p.half_pixel_centers, p.in_w);
    const int64_t wx1 = tx.v - kOne * tx.lo;
    Q8BilinearTap& t = cols[static_cast<size_t>(ox)];
    t.lo = tx.lo * c_n;
    t.hi = tx.hi * c_n;
    t.w0 = static_cast<int32_t>(kOne - wx1);
    t.w1 = static_cast<int32_t>(wx1);
  }
  ParallelItems(pool, p.batch * p.out_h, p.out_w * c_n * 4, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / p.out_h, oy = r % p.out_h;
      const int8_t* xn = x + n * p.in_h * p.in_w * c_n;
      const Taps10 ty = BilinearTaps10(oy, sh, p.half_pixel_centers, p.in_h);
      const auto wy1 = static_cast<int32_t>(ty.v - kOne * ty.lo);
      row(static_cast<size_t>(c_n), static_cast<size_t>(p.out_w), xn + ty.lo * p.in_w * c_n,
          xn + ty.hi * p.in_w * c_n, cols.data(), static_cast<int32_t>(kOne) - wy1, wy1,
          y + r * p.out_w * c_n);
    }
  });
}

void q8_resize_nearest__opt(const ResizeParams& p, const int8_t* x, int8_t* y, ThreadPool* pool) {
  const float sh = ResizeScale(p.in_h, p.out_h, p.align_corners);
  const float sw = ResizeScale(p.in_w, p.out_w, p.align_corners);
  const auto bytes = static_cast<size_t>(p.channels);
  ParallelItems(
      pool, p.batch * p.out_h, p.out_w * p.channels / 4 + 1, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          const int64_t n = row / p.out_h, oy = row % p.out_h;
          const int64_t iy = NearestSource(oy, p.in_h, sh, p.align_corners, p.half_pixel_centers);
          const int8_t* xr = x + (n * p.in_h + iy) * p.in_w * p.channels;
          int8_t* yp = y + row * p.out_w * p.channels;
          for (int64_t ox = 0; ox < p.out_w; ++ox) {
            const int64_t ix = NearestSource(ox, p.in_w, sw, p.align_corners, p.half_pixel_centers);
            if (bytes > 0) std::memcpy(yp, xr + ix * p.channels, bytes);
            yp += p.channels;
          }
        }
      });
}

}  // namespace gearshift
