// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference convolutions. Work is split over output pixels (n, oy, ox); the
// inner loops read the filter and the input channels contiguously (NHWC and
// [O,KH,KW,C] filters), which is all the tuning a reference kernel gets.
// The GEMM path is at the end.
#include "ops/conv.h"

#include <algorithm>
#include <cstring>

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

namespace {

bool IsDirect1x1(const Conv2DParams& p) {
  return p.kernel_h == 1 && p.kernel_w == 1 && p.pad_top == 0 && p.pad_left == 0;
}

}  // namespace

bool F32Conv2DGemmSupported(const Conv2DParams& p, const F32GemmKernel& kernel) {
  if (kernel.fn == nullptr || kernel.mr > kF32GemmMaxMr) return false;
  if (IsDirect1x1(p)) return true;
  return kernel.mr * p.kernel_h * p.kernel_w * p.in_c <= kConvGatherTileFloats;
}

void f32_conv2d__gemm(const Conv2DParams& p, const F32GemmKernel& kernel, const float* packed,
                      const float* x, float* y, ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t kdim = static_cast<int64_t>(p.kernel_h) * p.kernel_w * p.in_c;
  const int64_t out_c = p.out_c;
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t mtiles = (pixels + mr - 1) / mr, ntiles = (out_c + nr - 1) / nr;
  const size_t block =
      F32GemmPackedBlockFloats(static_cast<size_t>(kdim), static_cast<size_t>(nr));
  const bool direct = IsDirect1x1(p);
  ParallelItems(pool, mtiles * ntiles, mr * nr * kdim, [&](int64_t begin, int64_t end) {
    const float* rows[kF32GemmMaxMr];
    float tile[kConvGatherTileFloats];  // unused (uninitialised) when direct
    int64_t have_mt = -1;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t mt = item / ntiles, nt = item % ntiles;
      const int64_t r0 = mt * mr, m = std::min(mr, pixels - r0);
      if (mt != have_mt) {  // items are row-tile major: gather once per tile
        have_mt = mt;
        for (int64_t i = 0; i < m; ++i) {
          const int64_t pix = r0 + i;
          const int64_t ox = pix % p.out_w;
          const int64_t oy = (pix / p.out_w) % p.out_h;
          const int64_t n = pix / (p.out_w * p.out_h);
          const int64_t iy0 = oy * p.stride_h - p.pad_top;
          const int64_t ix0 = ox * p.stride_w - p.pad_left;
          if (direct) {
            rows[i] = x + ((n * p.in_h + iy0) * p.in_w + ix0) * p.in_c;
            continue;
          }
          float* row = tile + i * kdim;
          for (int ky = 0; ky < p.kernel_h; ++ky) {
            const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
            for (int kx = 0; kx < p.kernel_w; ++kx) {
              const int64_t ix = ix0 + static_cast<int64_t>(kx) * p.dilation_w;
              float* dst = row + (static_cast<int64_t>(ky) * p.kernel_w + kx) * p.in_c;
              if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) {
                std::memset(dst, 0, static_cast<size_t>(p.in_c) * sizeof(float));
              } else {
                std::memcpy(dst, x + ((n * p.in_h + iy) * p.in_w + ix) * p.in_c,
                            static_cast<size_t>(p.in_c) * sizeof(float));
              }
            }
          }
          rows[i] = row;
        }
      }
      const int64_t n0 = nt * nr;
      kernel.fn(static_cast<size_t>(m), static_cast<size_t>(std::min(nr, out_c - n0)),
                static_cast<size_t>(kdim), rows, packed + nt * block, y + r0 * out_c + n0,
                static_cast<size_t>(out_c), p.act.lo, p.act.hi);
    }
  });
}

bool F32DepthwiseDwconvSupported(const Conv2DParams& p) {
  return p.depth_multiplier == 1 && p.out_c == p.in_c &&
         static_cast<int64_t>(p.kernel_h) * p.kernel_w <= kDwconvMaxTaps;
}

void f32_depthwise_conv2d__dwconv(const Conv2DParams& p, F32DwconvUkernelFn ukernel,
                                  const float* x, const float* filter, const float* bias,
                                  float* y, ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t c = p.in_c;
  ParallelItems(pool, pixels, c * p.kernel_h * p.kernel_w, [&](int64_t begin, int64_t end) {
    const float* in[kDwconvMaxTaps];
    const float* w[kDwconvMaxTaps];
    for (int64_t pix = begin; pix < end; ++pix) {
      const int64_t ox = pix % p.out_w;
      const int64_t oy = (pix / p.out_w) % p.out_h;
      const int64_t n = pix / (p.out_w * p.out_h);
      const int64_t iy0 = oy * p.stride_h - p.pad_top;
      const int64_t ix0 = ox * p.stride_w - p.pad_left;
      size_t taps = 0;
      for (int ky = 0; ky < p.kernel_h; ++ky) {
        const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
        if (iy < 0 || iy >= p.in_h) continue;
        for (int kx = 0; kx < p.kernel_w; ++kx) {
          const int64_t ix = ix0 + static_cast<int64_t>(kx) * p.dilation_w;
          if (ix < 0 || ix >= p.in_w) continue;
          in[taps] = x + ((n * p.in_h + iy) * p.in_w + ix) * c;
          w[taps] = filter + (static_cast<int64_t>(ky) * p.kernel_w + kx) * c;
          ++taps;
        }
      }
      ukernel(static_cast<size_t>(c), taps, in, w, bias, y + pix * c, p.act.lo, p.act.hi);
    }
  });
}

}  // namespace gearshift
