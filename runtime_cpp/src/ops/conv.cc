// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference convolutions. Work is split over output pixels (n, oy, ox); the
// inner loops read the filter and the input channels contiguously (NHWC and
// [O,KH,KW,C] filters), which is all the tuning a reference kernel gets.
#include "ops/conv.h"

namespace gearshift {

void f32_conv2d__ref(const Conv2DParams& p, const float* x, const float* filter,
                     const float* bias, float* y, ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t cost = p.out_c * p.kernel_h * p.kernel_w * p.in_c;
  ParallelItems(pool, pixels, cost, [&](int64_t begin, int64_t end) {
    for (int64_t pix = begin; pix < end; ++pix) {
      const int64_t ox = pix % p.out_w;
      const int64_t oy = (pix / p.out_w) % p.out_h;
      const int64_t n = pix / (p.out_w * p.out_h);
      const int64_t iy0 = oy * p.stride_h - p.pad_top;
      const int64_t ix0 = ox * p.stride_w - p.pad_left;
      float* yp = y + pix * p.out_c;
      for (int64_t oc = 0; oc < p.out_c; ++oc) {
        float acc = bias != nullptr ? bias[oc] : 0.0f;
        for (int ky = 0; ky < p.kernel_h; ++ky) {
          const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
          if (iy < 0 || iy >= p.in_h) continue;
          for (int kx = 0; kx < p.kernel_w; ++kx) {
            const int64_t ix = ix0 + static_cast<int64_t>(kx) * p.dilation_w;
            if (ix < 0 || ix >= p.in_w) continue;
            const float* xp = x + ((n * p.in_h + iy) * p.in_w + ix) * p.in_c;
            const float* wp = filter + ((oc * p.kernel_h + ky) * p.kernel_w + kx) * p.in_c;
            for (int64_t c = 0; c < p.in_c; ++c) acc += xp[c] * wp[c];
          }
        }
        yp[oc] = Clamp(acc, p.act);
      }
    }
  });
}

void f32_depthwise_conv2d__ref(const Conv2DParams& p, const float* x, const float* filter,
                               const float* bias, float* y, ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t cost = p.out_c * p.kernel_h * p.kernel_w;
  const int64_t m = p.depth_multiplier;
  ParallelItems(pool, pixels, cost, [&](int64_t begin, int64_t end) {
    for (int64_t pix = begin; pix < end; ++pix) {
      const int64_t ox = pix % p.out_w;
      const int64_t oy = (pix / p.out_w) % p.out_h;
      const int64_t n = pix / (p.out_w * p.out_h);
      const int64_t iy0 = oy * p.stride_h - p.pad_top;
      const int64_t ix0 = ox * p.stride_w - p.pad_left;
      float* yp = y + pix * p.out_c;
      for (int64_t oc = 0; oc < p.out_c; ++oc) {
        const int64_t ic = oc / m;
        float acc = bias != nullptr ? bias[oc] : 0.0f;
        for (int ky = 0; ky < p.kernel_h; ++ky) {
          const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
          if (iy < 0 || iy >= p.in_h) continue;
          for (int kx = 0; kx < p.kernel_w; ++kx) {
            const int64_t ix = ix0 + static_cast<int64_t>(kx) * p.dilation_w;
            if (ix < 0 || ix >= p.in_w) continue;
            acc += x[((n * p.in_h + iy) * p.in_w + ix) * p.in_c + ic] *
                   filter[(static_cast<int64_t>(ky) * p.kernel_w + kx) * p.out_c + oc];
          }
        }
        yp[oc] = Clamp(acc, p.act);
      }
    }
  });
}

}  // namespace gearshift
