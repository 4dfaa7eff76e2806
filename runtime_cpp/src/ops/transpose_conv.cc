// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Output row oy receives input row iy through filter row ky when
// iy * stride - pad + ky == oy; walking ky downwards walks iy upwards, which
// keeps TFLite's accumulation order (see the header).
#include "ops/transpose_conv.h"

#include <algorithm>

namespace gearshift {

int64_t TransposeConvPadBefore(int64_t in, int64_t out, int k, int stride, Padding padding) {
  if (padding == Padding::kValid) return 0;
  return std::max<int64_t>((in - 1) * stride + k - out, 0) / 2;
}

void f32_transpose_conv2d__ref(const Conv2DParams& p, const float* x, const float* filter,
                               const float* bias, float* y, ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t cost = p.out_c * p.in_c * ((p.kernel_h + p.stride_h - 1) / p.stride_h) *
                       ((p.kernel_w + p.stride_w - 1) / p.stride_w);
  ParallelItems(pool, pixels, cost, [&](int64_t begin, int64_t end) {
    for (int64_t pix = begin; pix < end; ++pix) {
      const int64_t ox = pix % p.out_w;
      const int64_t oy = (pix / p.out_w) % p.out_h;
      const int64_t n = pix / (p.out_w * p.out_h);
      float* yp = y + pix * p.out_c;
      for (int64_t oc = 0; oc < p.out_c; ++oc) {
        float acc = 0.0f;
        for (int ky = p.kernel_h - 1; ky >= 0; --ky) {
          const int64_t ty = oy + p.pad_top - ky;
          if (ty < 0 || ty % p.stride_h != 0 || ty / p.stride_h >= p.in_h) continue;
          const int64_t iy = ty / p.stride_h;
          for (int kx = p.kernel_w - 1; kx >= 0; --kx) {
            const int64_t tx = ox + p.pad_left - kx;
            if (tx < 0 || tx % p.stride_w != 0 || tx / p.stride_w >= p.in_w) continue;
            const int64_t ix = tx / p.stride_w;
            const float* xp = x + ((n * p.in_h + iy) * p.in_w + ix) * p.in_c;
            const float* wp = filter + ((oc * p.kernel_h + ky) * p.kernel_w + kx) * p.in_c;
            for (int64_t c = 0; c < p.in_c; ++c) acc += xp[c] * wp[c];
          }
        }
        // TFLite adds the bias after the scatter.
        if (bias != nullptr) acc += bias[oc];
        yp[oc] = Clamp(acc, p.act);
      }
    }
  });
}

}  // namespace gearshift
