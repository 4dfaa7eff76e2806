// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The bilinear blend is evaluated in TFLite's reference order,
// x00*(1-dy)*(1-dx) + x10*dy*(1-dx) + x01*(1-dy)*dx + x11*dy*dx, left to
// right in float32, so results match it bit for bit.
#include "ops/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/op_common.h"

namespace gearshift {
namespace {

// Source coordinate and taps of one output index (TFLite's
// ComputeInterpolationValues).
struct Taps {
  float v = 0.0f;
  int64_t lo = 0, hi = 0;
};

Taps BilinearTaps(int64_t o, float scale, bool half_pixel_centers, int64_t in) {
  Taps t;
  const float of = static_cast<float>(o);
  t.v = half_pixel_centers ? (of + 0.5f) * scale - 0.5f : of * scale;
  t.lo = std::max<int64_t>(static_cast<int64_t>(std::floor(t.v)), 0);
  t.hi = std::min<int64_t>(static_cast<int64_t>(std::ceil(t.v)), in - 1);
  return t;
}

}  // namespace

ResizeParams MakeResizeParams(const Shape& x, const Shape& y, const NodeAttrs& a) {
  ResizeParams p;
  p.batch = x[0];
  p.in_h = x[1];
  p.in_w = x[2];
  p.channels = x[3];
  p.out_h = y[1];
  p.out_w = y[2];
  p.align_corners = a.align_corners;
  p.half_pixel_centers = a.half_pixel_centers;
  return p;
}

float ResizeScale(int64_t in, int64_t out, bool align_corners) {
  if (align_corners && out > 1) {
    return static_cast<float>(in - 1) / static_cast<float>(out - 1);
  }
  return static_cast<float>(in) / static_cast<float>(out);
}

int64_t NearestSource(int64_t o, int64_t in, float scale, bool align_corners,
                      bool half_pixel_centers) {
  const float offset = half_pixel_centers ? 0.5f : 0.0f;
  const float v = (static_cast<float>(o) + offset) * scale;
  // std::round is half away from zero, as TfLiteRound.
  const auto s = static_cast<int64_t>(align_corners ? std::round(v) : std::floor(v));
  return std::max<int64_t>(std::min<int64_t>(s, in - 1), 0);
}

void f32_resize_bilinear__ref(const ResizeParams& p, const float* x, float* y) {
  const float sh = ResizeScale(p.in_h, p.out_h, p.align_corners);
  const float sw = ResizeScale(p.in_w, p.out_w, p.align_corners);
  const int64_t c_n = p.channels;
  for (int64_t n = 0; n < p.batch; ++n) {
    const float* xn = x + n * p.in_h * p.in_w * c_n;
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      const Taps ty = BilinearTaps(oy, sh, p.half_pixel_centers, p.in_h);
      const float dy = ty.v - static_cast<float>(ty.lo);
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        const Taps tx = BilinearTaps(ox, sw, p.half_pixel_centers, p.in_w);
        const float dx = tx.v - static_cast<float>(tx.lo);
        const float* x00 = xn + (ty.lo * p.in_w + tx.lo) * c_n;
        const float* x10 = xn + (ty.hi * p.in_w + tx.lo) * c_n;
        const float* x01 = xn + (ty.lo * p.in_w + tx.hi) * c_n;
        const float* x11 = xn + (ty.hi * p.in_w + tx.hi) * c_n;
        for (int64_t c = 0; c < c_n; ++c) {
          *y++ = x00[c] * (1 - dy) * (1 - dx) + x10[c] * dy * (1 - dx) +
                 x01[c] * (1 - dy) * dx + x11[c] * dy * dx;
        }
      }
    }
  }
}

void f32_resize_nearest__ref(const ResizeParams& p, const float* x, float* y) {
  const float sh = ResizeScale(p.in_h, p.out_h, p.align_corners);
  const float sw = ResizeScale(p.in_w, p.out_w, p.align_corners);
  const auto row = static_cast<size_t>(p.channels) * sizeof(float);
  for (int64_t n = 0; n < p.batch; ++n) {
    const float* xn = x + n * p.in_h * p.in_w * p.channels;
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

void f32_resize_bilinear__opt(const ResizeParams& p, const float* x, float* y, ThreadPool* pool) {
  const float sh = ResizeScale(p.in_h, p.out_h, p.align_corners);
  const float sw = ResizeScale(p.in_w, p.out_w, p.align_corners);
  const int64_t c_n = p.channels;
  struct Column {
    int64_t lo, hi;  // element offsets in a row
    float dx;
  };
  std::vector<Column> cols(static_cast<size_t>(p.out_w));
  for (int64_t ox = 0; ox < p.out_w; ++ox) {
    const Taps tx = BilinearTaps(ox, sw, p.half_pixel_centers, p.in_w);
    cols[static_cast<size_t>(ox)] = {tx.lo * c_n, tx.hi * c_n, tx.v - static_cast<float>(tx.lo)};
  }
  ParallelItems(pool, p.batch * p.out_h, p.out_w * c_n * 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / p.out_h, oy = r % p.out_h;
      const Taps ty = BilinearTaps(oy, sh, p.half_pixel_centers, p.in_h);
      const float dy = ty.v - static_cast<float>(ty.lo);
      const float* xn = x + n * p.in_h * p.in_w * c_n;
      const float* r0 = xn + ty.lo * p.in_w * c_n;
      const float* r1 = xn + ty.hi * p.in_w * c_n;
      float* yp = y + r * p.out_w * c_n;
      for (int64_t ox = 0; ox < p.out_w; ++ox, yp += c_n) {
        const Column t = cols[static_cast<size_t>(ox)];
        const float dx = t.dx;
        const float* x00 = r0 + t.lo;
        const float* x10 = r1 + t.lo;
        const float* x01 = r0 + t.hi;
        const float* x11 = r1 + t.hi;
        for (int64_t c = 0; c < c_n; ++c) {  // the __ref's expression, term for term
          yp[c] = x00[c] * (1 - dy) * (1 - dx) + x10[c] * dy * (1 - dx) + x01[c] * (1 - dy) * dx +
                  x11[c] * dy * dx;
        }
      }
    }
  });
}

void f32_resize_nearest__opt(const ResizeParams& p, const float* x, float* y, ThreadPool* pool) {
  const float sh = ResizeScale(p.in_h, p.out_h, p.align_corners);
  const float sw = ResizeScale(p.in_w, p.out_w, p.align_corners);
  const int64_t c_n = p.channels;
  std::vector<int64_t> src(static_cast<size_t>(p.out_w));
  for (int64_t ox = 0; ox < p.out_w; ++ox) {
    src[static_cast<size_t>(ox)] =
        NearestSource(ox, p.in_w, sw, p.align_corners, p.half_pixel_centers) * c_n;
  }
  ParallelItems(pool, p.batch * p.out_h, p.out_w * c_n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / p.out_h, oy = r % p.out_h;
      const int64_t iy = NearestSource(oy, p.in_h, sh, p.align_corners, p.half_pixel_centers);
      const float* row = x + (n * p.in_h + iy) * p.in_w * c_n;
      float* yp = y + r * p.out_w * c_n;
      for (int64_t ox = 0; ox < p.out_w; ++ox, yp += c_n) {
        std::memcpy(yp, row + src[static_cast<size_t>(ox)],
                    static_cast<size_t>(c_n) * sizeof(float));
      }
    }
  });
}

}  // namespace gearshift
