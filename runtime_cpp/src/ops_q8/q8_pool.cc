// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Split over output pixels like the fp32 pools; the window is clipped to the
// input once per pixel.
#include "ops_q8/q8_pool.h"

#include <algorithm>

namespace gearshift {
namespace {

struct Window {
  int64_t n, y0, y1, x0, x1;
};

Window ClipWindow(const Pool2DParams& p, int64_t pix) {
  Window w;
  const int64_t ox = pix % p.out_w;
  const int64_t oy = (pix / p.out_w) % p.out_h;
  w.n = pix / (p.out_w * p.out_h);
  const int64_t iy = oy * p.stride_h - p.pad_top;
  const int64_t ix = ox * p.stride_w - p.pad_left;
  w.y0 = std::max<int64_t>(iy, 0);
  w.y1 = std::min<int64_t>(iy + p.filter_h, p.in_h);
  w.x0 = std::max<int64_t>(ix, 0);
  w.x1 = std::min<int64_t>(ix + p.filter_w, p.in_w);
  return w;
}

}  // namespace

void q8_max_pool2d__ref(const Pool2DParams& p, Q8Range act, const int8_t* x, int8_t* y,
                        ThreadPool* pool) {
  const int64_t channels = p.channels;
  ParallelItems(pool, p.batch * p.out_h * p.out_w, channels * p.filter_h * p.filter_w,
                [&](int64_t begin, int64_t end) {
                  for (int64_t pix = begin; pix < end; ++pix) {
                    const Window w = ClipWindow(p, pix);
                    int8_t* yp = y + pix * channels;
                    // An empty window (impossible with SAME/VALID) clamps to act.lo, as the
                    // oracle's.
                    std::fill(yp, yp + channels, static_cast<int8_t>(-128));
                    for (int64_t iy = w.y0; iy < w.y1; ++iy) {
                      for (int64_t ix = w.x0; ix < w.x1; ++ix) {
                        const int8_t* xp = x + ((w.n * p.in_h + iy) * p.in_w + ix) * channels;
                        for (int64_t c = 0; c < channels; ++c) yp[c] = std::max(yp[c], xp[c]);
                      }
                    }
                    for (int64_t c = 0; c < channels; ++c) yp[c] = Q8Clamp(yp[c], act);
                  }
                });
}

void q8_average_pool2d__ref(const Pool2DParams& p, Q8Range act, const int8_t* x, int8_t* y,
                            ThreadPool* pool) {
  const int64_t channels = p.channels;
  ParallelItems(pool, p.batch * p.out_h * p.out_w, channels * p.filter_h * p.filter_w,
                [&](int64_t begin, int64_t end) {
                  for (int64_t pix = begin; pix < end; ++pix) {
                    const Window w = ClipWindow(p, pix);
                    const int64_t count = std::max<int64_t>(
                        std::max<int64_t>(w.y1 - w.y0, 0) * std::max<int64_t>(w.x1 - w.x0, 0), 1);
                    const int64_t half = count / 2;
                    for (int64_t c = 0; c < channels; ++c) {
                      int64_t acc = 0;
                      for (int64_t iy = w.y0; iy < w.y1; ++iy) {
                        for (int64_t ix = w.x0; ix < w.x1; ++ix) {
                          acc += x[((w.n * p.in_h + iy) * p.in_w + ix) * channels + c];
                        }
                      }
                      // Round half away from zero (C division truncates toward zero).
                      const int64_t avg = acc > 0 ? (acc + half) / count : -((-acc + half) / count);
                      y[pix * channels + c] = Q8Clamp(avg, act);
                    }
                  }
                });
}

void q8_average_pool2d__opt(const Pool2DParams& p, Q8Range act, const int8_t* x, int8_t* y,
                            ThreadPool* pool) {
  if (int64_t{p.filter_h} * p.filter_w >= (int64_t{1} << 23)) {
    q8_average_pool2d__ref(p, act, x, y, pool);
    return;
  }
  constexpr int64_t kChannelBlock = 256;
  const int64_t channels = p.channels;
  ParallelItems(pool, p.batch * p.out_h * p.out_w, channels * p.filter_h * p.filter_w,
                [&](int64_t begin, int64_t end) {
                  int32_t acc[kChannelBlock];
                  for (int64_t pix = begin; pix < end; ++pix) {
                    const Window w = ClipWindow(p, pix);
                    const int32_t count = static_cast<int32_t>(std::max<int64_t>(
                        std::max<int64_t>(w.y1 - w.y0, 0) * std::max<int64_t>(w.x1 - w.x0, 0), 1));
                    const int32_t half = count / 2;
                    for (int64_t c0 = 0; c0 < channels; c0 += kChannelBlock) {
                      const int64_t cn = std::min(kChannelBlock, channels - c0);
                      std::fill(acc, acc + cn, 0);
                      for (int64_t iy = w.y0; iy < w.y1; ++iy) {
                        for (int64_t ix = w.x0; ix < w.x1; ++ix) {
                          const int8_t* xp =
                              x + ((w.n * p.in_h + iy) * p.in_w + ix) * channels + c0;
                          for (int64_t c = 0; c < cn; ++c) acc[c] += xp[c];
                        }
                      }
                      int8_t* yp = y + pix * channels + c0;
                      for (int64_t c = 0; c < cn; ++c) {
                        const int32_t s = acc[c];
                        const int32_t avg = s > 0 ? (s + half) / count : -((-s + half) / count);
                        yp[c] = Q8Clamp(avg, act);
                      }
                    }
                  }
                });
}

namespace {

// acc = max(acc, v + 128) over n bytes, acc holding values + 128 as
// unsigned bytes: baseline x86-64 (SSE2) has an unsigned byte max (PMAXUB)
// but no signed one, and x + 128 = x ^ 0x80 keeps the order. restrict: the
// output is never an input of the same op, and without it byte pointers may
// alias, so the loop stays scalar (values, not std::max's references, for
// the same reason).
inline void MaxInto(uint8_t* __restrict acc, const int8_t* __restrict v, int64_t n) {
  for (int64_t c = 0; c < n; ++c) {
    const uint8_t a = acc[c], b = static_cast<uint8_t>(static_cast<uint8_t>(v[c]) ^ 0x80u);
    acc[c] = a > b ? a : b;
  }
}

// Back to int8, clamped in np.clip's order, as Q8Clamp: hi wins over lo
// (lo and hi + 128, unsigned).
inline void ClampInPlace(uint8_t* __restrict acc, uint8_t lo, uint8_t hi, int64_t n) {
  for (int64_t c = 0; c < n; ++c) {
    const uint8_t a = acc[c] > lo ? acc[c] : lo;
    acc[c] = static_cast<uint8_t>((a < hi ? a : hi) ^ 0x80u);
  }
}

}  // namespace

void q8_max_pool2d__opt(const Pool2DParams& p, Q8Range act, const int8_t* x, int8_t* y,
                        ThreadPool* pool) {
  if (act.lo < -128 || act.lo > 127 || act.hi < -128 || act.hi > 127) {
    q8_max_pool2d__ref(p, act, x, y, pool);  // never from Q8ActivationRange
    return;
  }
  const int64_t channels = p.channels;
  const auto lo_u = static_cast<uint8_t>(act.lo + 128), hi_u = static_cast<uint8_t>(act.hi + 128);
  // By output rows: the row's window rows once, each pixel's columns by
  // steps (no divisions per pixel: they cost more than an 8-channel 2 x 2
  // window), the maximum taken in the output row itself.
  ParallelItems(
      pool, p.batch * p.out_h, p.out_w * channels * p.filter_h * p.filter_w,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t n = r / p.out_h, oy = r % p.out_h;
          const int64_t iy = oy * p.stride_h - p.pad_top;
          const int64_t y0 = std::max<int64_t>(iy, 0), y1 = std::min(iy + p.filter_h, p.in_h);
          const int8_t* image = x + n * p.in_h * p.in_w * channels;
          int8_t* yp = y + r * p.out_w * channels;
          for (int64_t ox = 0; ox < p.out_w; ++ox, yp += channels) {
            const int64_t ix = ox * p.stride_w - p.pad_left;
            const int64_t x0 = std::max<int64_t>(ix, 0), x1 = std::min(ix + p.filter_w, p.in_w);
            auto* acc = reinterpret_cast<uint8_t*>(yp);
            std::fill(acc, acc + channels, uint8_t{0});  // -128 + 128
            for (int64_t yy = y0; yy < y1; ++yy) {
              for (int64_t xx = x0; xx < x1; ++xx) {
                MaxInto(acc, image + (yy * p.in_w + xx) * channels, channels);
              }
            }
            ClampInPlace(acc, lo_u, hi_u, channels);
          }
        }
      });
}

}  // namespace gearshift
