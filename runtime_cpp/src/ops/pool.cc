// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Pools split over output pixels; the window is clipped to the input once per
// pixel, so the inner loops carry no bounds checks.
#include "ops/pool.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace gearshift {
namespace {

// Window of output pixel `pix`, clipped to the input: rows [y0, y1), cols [x0, x1).
struct Window {
  int64_t n, y0, y1, x0, x1;
};

// The window of output pixel (n, oy, ox), clipped to the input.
inline Window ClipWindowAt(const Pool2DParams& p, int64_t n, int64_t oy, int64_t ox) {
  Window w;
  w.n = n;
  const int64_t iy = oy * p.stride_h - p.pad_top;
  const int64_t ix = ox * p.stride_w - p.pad_left;
  w.y0 = std::max<int64_t>(iy, 0);
  w.y1 = std::min<int64_t>(iy + p.filter_h, p.in_h);
  w.x0 = std::max<int64_t>(ix, 0);
  w.x1 = std::min<int64_t>(ix + p.filter_w, p.in_w);
  return w;
}

inline Window ClipWindow(const Pool2DParams& p, int64_t pix) {
  return ClipWindowAt(p, pix / (p.out_w * p.out_h), (pix / p.out_w) % p.out_h, pix % p.out_w);
}

}  // namespace

void f32_max_pool2d__ref(const Pool2DParams& p, const float* x, float* y, ThreadPool* pool) {
  const int64_t c_count = p.channels;
  ParallelItems(pool, p.batch * p.out_h * p.out_w,
                c_count * p.filter_h * p.filter_w, [&](int64_t begin, int64_t end) {
    for (int64_t pix = begin; pix < end; ++pix) {
      const Window w = ClipWindow(p, pix);
      float* yp = y + pix * c_count;
      std::fill(yp, yp + c_count, -std::numeric_limits<float>::infinity());
      for (int64_t iy = w.y0; iy < w.y1; ++iy) {
        for (int64_t ix = w.x0; ix < w.x1; ++ix) {
          const float* xp = x + ((w.n * p.in_h + iy) * p.in_w + ix) * c_count;
          for (int64_t c = 0; c < c_count; ++c) yp[c] = std::max(yp[c], xp[c]);
        }
      }
      const bool empty = w.y0 >= w.y1 || w.x0 >= w.x1;
      for (int64_t c = 0; c < c_count; ++c) yp[c] = Clamp(empty ? 0.0f : yp[c], p.act);
    }
  });
}

void f32_average_pool2d__ref(const Pool2DParams& p, const float* x, float* y,
                             ThreadPool* pool) {
  const int64_t c_count = p.channels;
  ParallelItems(pool, p.batch * p.out_h * p.out_w, c_count * p.filter_h * p.filter_w,
                [&](int64_t begin, int64_t end) {
                  for (int64_t pix = begin; pix < end; ++pix) {
                    const Window w = ClipWindow(p, pix);
                    float* yp = y + pix * c_count;
                    std::fill(yp, yp + c_count, 0.0f);
                    for (int64_t iy = w.y0; iy < w.y1; ++iy) {
                      for (int64_t ix = w.x0; ix < w.x1; ++ix) {
                        const float* xp = x + ((w.n * p.in_h + iy) * p.in_w + ix) * c_count;
                        for (int64_t c = 0; c < c_count; ++c) yp[c] += xp[c];
                      }
                    }
                    const int64_t count =
                        std::max<int64_t>(w.y1 - w.y0, 0) * std::max<int64_t>(w.x1 - w.x0, 0);
                    const float div = static_cast<float>(std::max<int64_t>(count, 1));
                    for (int64_t c = 0; c < c_count; ++c) yp[c] = Clamp(yp[c] / div, p.act);
                  }
                });
}

namespace {

void PoolOpt(F32PoolOp op, const Pool2DParams& p, F32PoolUkernelFn kernel, const float* x, float* y,
             ThreadPool* pool) {
  const int64_t c_count = p.channels;
  ParallelItems(pool, p.batch * p.out_h * p.out_w, c_count * p.filter_h * p.filter_w,
                [&](int64_t begin, int64_t end) {
                  std::vector<const float*> taps(static_cast<size_t>(p.filter_h) * p.filter_w);
                  // (n, oy, ox) of `begin`, then stepped without divisions:
                  // with 8 or 16 channels (MediaPipe's early pools) the
                  // per-pixel divisions cost more than the pooling itself.
                  int64_t ox = begin % p.out_w, oy = (begin / p.out_w) % p.out_h;
                  int64_t n = begin / (p.out_w * p.out_h);
                  for (int64_t pix = begin; pix < end; ++pix) {
                    const Window w = ClipWindowAt(p, n, oy, ox);
                    if (++ox == p.out_w) {
                      ox = 0;
                      if (++oy == p.out_h) {
                        oy = 0;
                        ++n;
                      }
                    }
                    size_t n = 0;
                    for (int64_t iy = w.y0; iy < w.y1; ++iy) {
                      for (int64_t ix = w.x0; ix < w.x1; ++ix) {
                        taps[n++] = x + ((w.n * p.in_h + iy) * p.in_w + ix) * c_count;
                      }
                    }
                    const float div = static_cast<float>(std::max<size_t>(n, 1));
                    kernel(op, static_cast<size_t>(c_count), n, taps.data(), div, y + pix * c_count,
                           p.act.lo, p.act.hi);
                  }
                });
}

}  // namespace

void f32_max_pool2d__opt(const Pool2DParams& p, F32PoolUkernelFn kernel, const float* x, float* y,
                         ThreadPool* pool) {
  if (kernel == nullptr) return f32_max_pool2d__ref(p, x, y, pool);
  PoolOpt(F32PoolOp::kMax, p, kernel, x, y, pool);
}

void f32_average_pool2d__opt(const Pool2DParams& p, F32PoolUkernelFn kernel, const float* x,
                             float* y, ThreadPool* pool) {
  if (kernel == nullptr) return f32_average_pool2d__ref(p, x, y, pool);
  PoolOpt(F32PoolOp::kAverage, p, kernel, x, y, pool);
}

}  // namespace gearshift
