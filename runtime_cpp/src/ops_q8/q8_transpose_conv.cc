// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Accumulators are uint32 so that wrap-around is defined (as in q8_conv.cc).
#include "ops_q8/q8_transpose_conv.h"

#include <algorithm>

namespace gearshift {

void q8_transpose_conv2d__ref(const Conv2DParams& p, const Q8ChannelRequant& q, const int8_t* x,
                              const int8_t* filter, const int32_t* bias, int8_t* y,
                              ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t cost = p.out_c * p.in_c * ((p.kernel_h + p.stride_h - 1) / p.stride_h) *
                       ((p.kernel_w + p.stride_w - 1) / p.stride_w);
  ParallelItems(pool, pixels, cost, [&](int64_t begin, int64_t end) {
    for (int64_t pix = begin; pix < end; ++pix) {
      const int64_t ox = pix % p.out_w;
      const int64_t oy = (pix / p.out_w) % p.out_h;
      const int64_t n = pix / (p.out_w * p.out_h);
      for (int64_t oc = 0; oc < p.out_c; ++oc) {
        uint32_t acc = bias != nullptr ? static_cast<uint32_t>(bias[oc]) : 0u;
        for (int ky = 0; ky < p.kernel_h; ++ky) {
          // Input row iy reaches output row oy through filter row ky when
          // iy * stride - pad + ky == oy.
          const int64_t ty = oy + p.pad_top - ky;
          if (ty < 0 || ty % p.stride_h != 0 || ty / p.stride_h >= p.in_h) continue;
          const int64_t iy = ty / p.stride_h;
          for (int kx = 0; kx < p.kernel_w; ++kx) {
            const int64_t tx = ox + p.pad_left - kx;
            if (tx < 0 || tx % p.stride_w != 0 || tx / p.stride_w >= p.in_w) continue;
            const int64_t ix = tx / p.stride_w;
            const int8_t* xp = x + ((n * p.in_h + iy) * p.in_w + ix) * p.in_c;
            const int8_t* wp = filter + ((oc * p.kernel_h + ky) * p.kernel_w + kx) * p.in_c;
            for (int64_t c = 0; c < p.in_c; ++c) {
              acc += static_cast<uint32_t>((int32_t{xp[c]} - q.x_zero_point) * int32_t{wp[c]});
            }
          }
        }
        const int32_t v = MultiplyByQuantizedMultiplier(static_cast<int32_t>(acc),
                                                        q.multiplier[oc], q.shift[oc]);
        y[pix * p.out_c + oc] = Q8Clamp(int64_t{v} + q.y_zero_point, q.act);
      }
    }
  });
}

void q8_transpose_conv2d__opt(const Conv2DParams& p, const Q8ChannelRequant& q, const int8_t* x,
                              const int8_t* filter, const int32_t* bias, int8_t* y,
                              ThreadPool* pool) {
  constexpr int64_t kBlock = 128;  // output channels per accumulator block
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t cost = p.out_c * p.in_c * ((p.kernel_h + p.stride_h - 1) / p.stride_h) *
                       ((p.kernel_w + p.stride_w - 1) / p.stride_w);
  const int32_t zx = q.x_zero_point;
  const int64_t in_c = p.in_c;
  ParallelItems(pool, pixels, cost, [&](int64_t begin, int64_t end) {
    uint32_t acc[kBlock];
    for (int64_t pix = begin; pix < end; ++pix) {
      const int64_t ox = pix % p.out_w;
      const int64_t oy = (pix / p.out_w) % p.out_h;
      const int64_t n = pix / (p.out_w * p.out_h);
      for (int64_t oc0 = 0; oc0 < p.out_c; oc0 += kBlock) {
        const int64_t ocn = std::min(kBlock, p.out_c - oc0);
        for (int64_t o = 0; o < ocn; ++o) {
          acc[o] = bias != nullptr ? static_cast<uint32_t>(bias[oc0 + o]) : 0u;
        }
        for (int ky = 0; ky < p.kernel_h; ++ky) {
          const int64_t ty = oy + p.pad_top - ky;
          if (ty < 0 || ty % p.stride_h != 0 || ty / p.stride_h >= p.in_h) continue;
          const int64_t iy = ty / p.stride_h;
          for (int kx = 0; kx < p.kernel_w; ++kx) {
            const int64_t tx = ox + p.pad_left - kx;
            if (tx < 0 || tx % p.stride_w != 0 || tx / p.stride_w >= p.in_w) continue;
            const int64_t ix = tx / p.stride_w;
            const int8_t* xp = x + ((n * p.in_h + iy) * p.in_w + ix) * in_c;
            const int64_t tap_stride = int64_t{p.kernel_h} * p.kernel_w * in_c;
            const int8_t* wp = filter + (oc0 * p.kernel_h * p.kernel_w +
                                         int64_t{ky} * p.kernel_w + kx) * in_c;
            for (int64_t o = 0; o < ocn; ++o, wp += tap_stride) {
              uint32_t dot = 0;
              for (int64_t c = 0; c < in_c; ++c) {
                dot += static_cast<uint32_t>((int32_t{xp[c]} - zx) * int32_t{wp[c]});
              }
              acc[o] += dot;
            }
          }
        }
        int8_t* yp = y + pix * p.out_c + oc0;
        for (int64_t o = 0; o < ocn; ++o) {
          const int32_t v = MultiplyByQuantizedMultiplier(static_cast<int32_t>(acc[o]),
                                                          q.multiplier[oc0 + o], q.shift[oc0 + o]);
          yp[o] = Q8Clamp(int64_t{v} + q.y_zero_point, q.act);
        }
      }
    }
  });
}

}  // namespace gearshift
