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
#include <vector>

namespace gearshift {

void f32_conv2d__ref(const Conv2DParams& p, const float* x, const float* filter, const float* bias,
                     float* y, ThreadPool* pool) {
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

// Input pixel of output pixel `pix`'s top-left tap.
struct Origin {
  int64_t n, iy0, ix0;
};

// Origins of consecutive output pixels from `pix` on, without divisions.
class OriginWalk {
 public:
  // Two divisions (this runs once per GEMM row tile).
  OriginWalk(const Conv2DParams& p, int64_t pix) : p_(p) {
    const int64_t row = pix / p.out_w, n = row / p.out_h;
    ox_ = pix - row * p.out_w;
    oy_ = row - n * p.out_h;
    o_ = {n, oy_ * p.stride_h - p.pad_top, ox_ * p.stride_w - p.pad_left};
  }
  const Origin& operator*() const { return o_; }
  int64_t ox() const { return ox_; }
  void Next() {
    o_.ix0 += p_.stride_w;
    if (++ox_ < p_.out_w) return;
    ox_ = 0;
    o_.ix0 = -p_.pad_left;
    o_.iy0 += p_.stride_h;
    if (++oy_ < p_.out_h) return;
    oy_ = 0;
    o_.iy0 = -p_.pad_top;
    ++o_.n;
  }

 private:
  const Conv2DParams& p_;
  Origin o_{};
  int64_t ox_ = 0, oy_ = 0;
};

}  // namespace

bool F32Conv2DGemmSupported(const Conv2DParams& /*p*/, const F32GemmKernel& kernel) {
  return kernel.fn != nullptr && kernel.mr <= kF32GemmMaxMr;
}

namespace {

// One packed block of either GEMM family: f32 weights, or half weights
// behind an f32 bias row (ops differ only in what they point the kernel at).
inline void CallGemm(const F32GemmKernel& k, size_t m, size_t nc, size_t kc, size_t ks,
                     const float* const* a, const void* w, float* c, size_t c_stride, float lo,
                     float hi) {
  k.fn(m, nc, kc, ks, a, static_cast<const float*>(w), c, c_stride, lo, hi);
}
inline void CallGemm(const F16wGemmKernel& k, size_t m, size_t nc, size_t kc, size_t ks,
                     const float* const* a, const void* w, float* c, size_t c_stride, float lo,
                     float hi) {
  k.fn(m, nc, kc, ks, a, w, c, c_stride, lo, hi);
}

// Runs an indirect GEMM over the output pixels of `p` (rows) and its output
// channels: `fill(r0, m, ind, zero)` points tap t of row i (i < m, pixel
// r0 + i) at ind[t * MR + i], an input row of kdim / ks floats or `zero`;
// rows past m then repeat the last real one. Work is split over (row tile,
// column tile) pairs, each computed by one thread, so results are
// bit-identical for any thread count.
// `block_bytes`: one packed block of NR columns.
template <typename Kernel, typename Fill>
void IgemmTiles(const Conv2DParams& p, int64_t kdim, int64_t ks, const Kernel& kernel,
                const void* packed, size_t block_bytes, float* y, ThreadPool* pool,
                const Fill& fill) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t out_c = p.out_c;
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t mtiles = (pixels + mr - 1) / mr, ntiles = (out_c + nr - 1) / nr;
  ParallelItems(pool, mtiles * ntiles, mr * nr * kdim, [&](int64_t begin, int64_t end) {
    // Per thread: the row tile's tap pointers and the zero row for taps
    // that read nothing (padding); on the stack up to a 5x5 filter's taps
    // and 256 channels (a call on a 7x7 layer costs a few hundred
    // nanoseconds: two heap allocations were a tenth of that).
    constexpr int64_t kStackPointers = 25 * kF32GemmMaxMr, kStackZeros = 256;
    const float* ind_stack[kStackPointers];
    alignas(64) float zero_stack[kStackZeros];
    std::vector<const float*> ind_heap;
    std::vector<float> zero_heap;
    const int64_t kc = kdim / ks;
    const float** ind = ind_stack;
    if (ks * mr > kStackPointers) {
      ind_heap.resize(static_cast<size_t>(ks * mr));
      ind = ind_heap.data();
    }
    float* zero = zero_stack;
    if (kc > kStackZeros) {
      zero_heap.assign(static_cast<size_t>(kc), 0.0f);
      zero = zero_heap.data();
    } else {
      std::fill(zero_stack, zero_stack + kc, 0.0f);
    }
    int64_t have_mt = -1;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t mt = item / ntiles, nt = item % ntiles;
      const int64_t r0 = mt * mr, m = std::min(mr, pixels - r0);
      if (mt != have_mt) {  // items are row-tile major: build once per tile
        have_mt = mt;
        fill(r0, m, ind, zero);
        for (int64_t i = m; i < mr; ++i) {
          for (int64_t t = 0; t < ks; ++t) ind[t * mr + i] = ind[t * mr + m - 1];
        }
      }
      const int64_t n0 = nt * nr;
      CallGemm(kernel, static_cast<size_t>(m), static_cast<size_t>(std::min(nr, out_c - n0)),
               static_cast<size_t>(kc), static_cast<size_t>(ks), ind,
               static_cast<const uint8_t*>(packed) + static_cast<size_t>(nt) * block_bytes,
               y + r0 * out_c + n0, static_cast<size_t>(out_c), p.act.lo, p.act.hi);
    }
  });
}

// The tap pointers of CONV_2D's indirect GEMM (fill for IgemmTiles): tap t
// of row i (pixel r0 + i) at ind[t * mr + i], an input row of C floats or
// `zero` where the tap falls in the padding.
class ConvIndirection {
 public:
  ConvIndirection(const Conv2DParams& p, int64_t mr, const float* x)
      : p_(p), mr_(mr), x_(x), ks_(IsDirect1x1(p) ? 1 : int64_t{p.kernel_h} * p.kernel_w) {
    // 1x1 without padding: one tap of C floats, straight from the input.
    contiguous_ = ks_ == 1 && p.stride_h == 1 && p.stride_w == 1;
    // A window wholly inside the input (most pixels) needs no per-tap
    // checks: its tap pointers are fixed offsets from the top-left tap.
    const int64_t kw = p.kernel_w, taps = int64_t{p.kernel_h} * kw;
    if (taps > kStackTaps) {
      offset_heap_.resize(static_cast<size_t>(taps));
      offset_ = offset_heap_.data();
    }
    for (int64_t t = 0; t < taps; ++t) {
      offset_[t] = ((t / kw) * p.dilation_h * p.in_w + (t % kw) * p.dilation_w) * p.in_c;
    }
    span_h_ = (p.kernel_h - 1) * p.dilation_h;
    span_w_ = (p.kernel_w - 1) * p.dilation_w;
  }
  // offset_ may point into the object itself.
  ConvIndirection(const ConvIndirection&) = delete;
  ConvIndirection& operator=(const ConvIndirection&) = delete;
  int64_t ks() const { return ks_; }
  // 1x1, stride 1, no padding: row i is pixel r0 + i, rows consecutive.
  bool contiguous() const { return contiguous_; }

  void operator()(int64_t r0, int64_t m, const float** ind, const float* zero) const {
    const Conv2DParams& p = p_;
    if (contiguous_) {
      for (int64_t i = 0; i < m; ++i) ind[i] = x_ + (r0 + i) * p.in_c;
      return;
    }
    const int64_t kw = p.kernel_w;
    OriginWalk walk(p, r0);
    for (int64_t i = 0; i < m;) {
      // A run of pixels of one output row whose windows all lie inside the
      // input (most pixels; a tile of a 14- or 7-pixel-wide layer spans
      // rows, so runs end inside tiles): pixel j's taps are the run's first
      // pixel's moved by j * stride_w * C floats, written tap by tap in a
      // loop the compiler vectorises. Per pixel, the general loop below cost
      // as much as the GEMM itself on a 3-channel stem.
      const Origin& o = *walk;
      if (o.iy0 >= 0 && o.iy0 + span_h_ < p.in_h && o.ix0 >= 0 && o.ix0 + span_w_ < p.in_w) {
        const int64_t inside = (p.in_w - 1 - span_w_ - o.ix0) / p.stride_w + 1;
        const int64_t run = std::min({m - i, p.out_w - walk.ox(), inside});
        const float* base = x_ + (o.n * p.in_h * p.in_w + o.iy0 * p.in_w + o.ix0) * p.in_c;
        const int64_t step = int64_t{p.stride_w} * p.in_c;
        for (int64_t t = 0; t < ks_; ++t) {
          const float* tap = base + offset_[t];
          const float** row = ind + t * mr_ + i;
          for (int64_t j = 0; j < run; ++j) row[j] = tap + j * step;
        }
        for (int64_t j = 0; j < run; ++j) walk.Next();
        i += run;
        continue;
      }
      const float* image = x_ + o.n * p.in_h * p.in_w * p.in_c;
      for (int64_t ky = 0, t = 0; ky < p.kernel_h; ++ky) {  // no division per tap
        const int64_t iy = o.iy0 + ky * p.dilation_h;
        for (int64_t kx = 0; kx < kw; ++kx, ++t) {
          const int64_t ix = o.ix0 + kx * p.dilation_w;
          const bool inside = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w;
          ind[t * mr_ + i] = inside ? image + (iy * p.in_w + ix) * p.in_c : zero;
        }
      }
      walk.Next();
      ++i;
    }
  }

 private:
  const Conv2DParams& p_;
  int64_t mr_;
  const float* x_;
  int64_t ks_;
  bool contiguous_ = false;
  // The taps' offsets: inline up to a 7x7 filter (no allocation per call).
  static constexpr int64_t kStackTaps = 49;
  int64_t offset_inline_[kStackTaps];
  std::vector<int64_t> offset_heap_;
  int64_t* offset_ = offset_inline_;
  int64_t span_h_ = 0, span_w_ = 0;
};

// CONV_2D on an indirect GEMM of either family (f32_conv2d__gemm).
template <typename Kernel>
void Conv2DGemm(const Conv2DParams& p, const Kernel& kernel, const void* packed, size_t block_bytes,
                const float* x, float* y, ThreadPool* pool) {
  const ConvIndirection fill(p, kernel.mr, x);
  IgemmTiles(p, int64_t{p.kernel_h} * p.kernel_w * p.in_c, fill.ks(), kernel, packed, block_bytes,
             y, pool, fill);
}

}  // namespace

void f32_conv2d__gemm(const Conv2DParams& p, const F32GemmKernel& kernel, const float* packed,
                      const float* x, float* y, ThreadPool* pool) {
  const auto k = static_cast<size_t>(int64_t{p.kernel_h} * p.kernel_w * p.in_c);
  Conv2DGemm(p, kernel, packed,
             F32GemmPackedBlockFloats(k, static_cast<size_t>(kernel.nr)) * sizeof(float), x, y,
             pool);
}

void f16w_conv2d__gemm(const Conv2DParams& p, const F16wGemmKernel& kernel, const void* packed,
                       const float* x, float* y, ThreadPool* pool) {
  const auto k = static_cast<size_t>(int64_t{p.kernel_h} * p.kernel_w * p.in_c);
  Conv2DGemm(p, kernel, packed, F16wGemmPackedBlockBytes(k, static_cast<size_t>(kernel.nr)), x, y,
             pool);
}

namespace {

// n floats from src to dst: inline stores for a stem's 1-4 channels (a
// memcpy call per tap of 3 values cost more than the copy), memcpy beyond.
inline void CopyFewFloats(float* dst, const float* src, int64_t n) {
  switch (n) {
    case 4:
      dst[3] = src[3];
      [[fallthrough]];
    case 3:
      dst[2] = src[2];
      [[fallthrough]];
    case 2:
      dst[1] = src[1];
      [[fallthrough]];
    case 1:
      dst[0] = src[0];
      return;
    default:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  }
}

}  // namespace

void f16_conv2d__gemm(const Conv2DParams& p, const F16GemmKernel& kernel, const void* packed,
                      const float* x, float* y, ThreadPool* pool) {
  const ConvIndirection fill(p, kernel.mr, x);
  const int64_t ks = fill.ks(), kdim = int64_t{p.kernel_h} * p.kernel_w * p.in_c;
  const int64_t kc = kdim / ks;
  const int64_t pixels = p.batch * p.out_h * p.out_w, out_c = p.out_c;
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t mtiles = (pixels + mr - 1) / mr, ntiles = (out_c + nr - 1) / nr;
  const size_t block = F16GemmPackedBlockBytes(static_cast<size_t>(kdim), static_cast<size_t>(nr));
  // Taps of fewer than 16 channels (a stem's 3): each row's taps are
  // gathered into one row of kdim values and converted in one call, and the
  // kernel runs one tap of kdim. The packed weights are tap-major, so the
  // kernel adds the same products in the same order: the same bits, without
  // a conversion call and a kernel tap loop per 3 values.
  const bool gather = !fill.contiguous() && kc < 16;
  const int64_t run_ks = gather ? 1 : ks, run_kc = gather ? kdim : kc;
  ParallelItems(pool, mtiles * ntiles, mr * nr * kdim, [&](int64_t begin, int64_t end) {
    // Per thread: the row tile's fp32 tap pointers, its rows in half (one
    // conversion per row tile: items are row-tile major), their pointers,
    // and the zero rows for taps in the padding.
    std::vector<const float*> ind(static_cast<size_t>(ks * mr));
    std::vector<const uint16_t*> ind16(static_cast<size_t>(ks * mr));
    std::vector<uint16_t> half(static_cast<size_t>(ks * mr * kc));
    std::vector<float> rows(gather ? static_cast<size_t>(mr * kdim) : 0);
    const std::vector<float> zero(static_cast<size_t>(kc), 0.0f);
    const std::vector<uint16_t> zero16(static_cast<size_t>(kc), 0);
    int64_t have_mt = -1;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t mt = item / ntiles, nt = item % ntiles;
      const int64_t r0 = mt * mr, m = std::min(mr, pixels - r0);
      if (mt != have_mt) {
        have_mt = mt;
        if (fill.contiguous()) {  // the m rows are one run of m * C floats
          kernel.convert(static_cast<size_t>(m * kc), x + r0 * kc, half.data());
          for (int64_t i = 0; i < m; ++i) ind16[i] = half.data() + i * kc;
        } else if (gather) {
          fill(r0, m, ind.data(), zero.data());
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t t = 0; t < ks; ++t) {
              CopyFewFloats(rows.data() + i * kdim + t * kc, ind[t * mr + i], kc);
            }
            ind16[i] = half.data() + i * kdim;
          }
          kernel.convert(static_cast<size_t>(m * kdim), rows.data(), half.data());
        } else {
          fill(r0, m, ind.data(), zero.data());
          for (int64_t t = 0; t < ks; ++t) {
            for (int64_t i = 0; i < m; ++i) {
              const float* src = ind[t * mr + i];
              if (src == zero.data()) {
                ind16[t * mr + i] = zero16.data();
                continue;
              }
              uint16_t* dst = half.data() + (t * mr + i) * kc;
              kernel.convert(static_cast<size_t>(kc), src, dst);
              ind16[t * mr + i] = dst;
            }
          }
        }
        for (int64_t i = m; i < mr; ++i) {  // rows past m repeat the last real one
          for (int64_t t = 0; t < run_ks; ++t) ind16[t * mr + i] = ind16[t * mr + m - 1];
        }
      }
      const int64_t n0 = nt * nr;
      kernel.fn(static_cast<size_t>(m), static_cast<size_t>(std::min(nr, out_c - n0)),
                static_cast<size_t>(run_kc), static_cast<size_t>(run_ks), ind16.data(),
                static_cast<const uint8_t*>(packed) + static_cast<size_t>(nt) * block,
                y + r0 * out_c + n0, static_cast<size_t>(out_c), p.act.lo, p.act.hi);
    }
  });
}

std::vector<int> TransposeConvPhaseTaps(const Conv2DParams& p, int ry, int rx) {
  std::vector<int> taps;
  for (int ky = ry; ky < p.kernel_h; ky += p.stride_h) {
    for (int kx = rx; kx < p.kernel_w; kx += p.stride_w) taps.push_back(ky * p.kernel_w + kx);
  }
  return taps;
}

std::vector<float> TransposeConvPhaseFilter(const Conv2DParams& p, const float* filter,
                                            const std::vector<int>& taps) {
  const int64_t t = static_cast<int64_t>(taps.size()), c = p.in_c;
  std::vector<float> sub(static_cast<size_t>(p.out_c * t * c));
  for (int64_t o = 0; o < p.out_c; ++o) {
    for (int64_t j = 0; j < t; ++j) {
      std::memcpy(sub.data() + (o * t + j) * c,
                  filter + (o * p.kernel_h * p.kernel_w + taps[j]) * c,
                  static_cast<size_t>(c) * sizeof(float));
    }
  }
  return sub;
}

void f32_transpose_conv2d__phased(const Conv2DParams& p, const F32GemmKernel& kernel,
                                  const float* const* phase_packed, const float* x, float* y,
                                  ThreadPool* pool) {
  const int sh = p.stride_h, sw = p.stride_w;
  const int64_t mr = kernel.mr, nr = kernel.nr, out_c = p.out_c, c = p.in_c;
  const int64_t ntiles = (out_c + nr - 1) / nr;
  // Phase (ry, rx) holds the output pixels with (oy + pad_top) % sh == ry and
  // (ox + pad_left) % sw == rx; exactly its taps (ky % sh == ry, kx % sw ==
  // rx) can land on them. A row tile is up to MR pixels of one output row of
  // one phase: sw pixels apart in memory.
  struct Phase {
    std::vector<int> taps;
    int64_t oy0 = 0, ox0 = 0, rows = 0, cols = 0, xtiles = 0, first_tile = 0;
  };
  std::vector<Phase> phases;
  int64_t row_tiles = 0;
  size_t max_taps = 1;
  for (int ry = 0; ry < sh; ++ry) {
    for (int rx = 0; rx < sw; ++rx) {
      Phase ph;
      ph.taps = TransposeConvPhaseTaps(p, ry, rx);
      ph.oy0 = ((ry - p.pad_top) % sh + sh) % sh;
      ph.ox0 = ((rx - p.pad_left) % sw + sw) % sw;
      ph.rows = ph.oy0 < p.out_h ? (p.out_h - ph.oy0 + sh - 1) / sh : 0;
      ph.cols = ph.ox0 < p.out_w ? (p.out_w - ph.ox0 + sw - 1) / sw : 0;
      ph.xtiles = (ph.cols + mr - 1) / mr;
      ph.first_tile = row_tiles;
      row_tiles += p.batch * ph.rows * ph.xtiles;
      max_taps = std::max(max_taps, ph.taps.size());
      phases.push_back(std::move(ph));
    }
  }
  const int64_t cost = mr * nr * c * static_cast<int64_t>(max_taps);
  ParallelItems(pool, row_tiles * ntiles, cost, [&](int64_t begin, int64_t end) {
    std::vector<const float*> ind(max_taps * static_cast<size_t>(mr));
    std::vector<float> zero(static_cast<size_t>(c), 0.0f);
    size_t ph_index = 0;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t tile = item / ntiles, nt = item % ntiles;
      while (ph_index + 1 < phases.size() && phases[ph_index + 1].first_tile <= tile) ++ph_index;
      while (phases[ph_index].first_tile > tile) --ph_index;
      const Phase& ph = phases[ph_index];
      const int64_t local = tile - ph.first_tile;
      const int64_t xt = local % ph.xtiles, row = local / ph.xtiles;
      const int64_t oy = ph.oy0 + (row % ph.rows) * sh, n = row / ph.rows;
      const int64_t ox = ph.ox0 + xt * mr * sw;
      const int64_t m = std::min(mr, ph.cols - xt * mr);
      const int64_t n0 = nt * nr, nc = std::min(nr, out_c - n0);
      float* out = y + ((n * p.out_h + oy) * p.out_w + ox) * out_c + n0;
      const int64_t stride = sw * out_c;
      const int64_t ks = static_cast<int64_t>(ph.taps.size());
      const size_t block =
          F32GemmPackedBlockFloats(static_cast<size_t>(ks * c), static_cast<size_t>(nr));
      const float* packed = phase_packed[ph_index] + nt * block;
      if (ks == 0) {  // no tap lands here: the bias alone
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < nc; ++j) out[i * stride + j] = Clamp(packed[j], p.act);
        }
        continue;
      }
      const float* image = x + n * p.in_h * p.in_w * c;
      for (int64_t i = 0; i < mr; ++i) {
        const int64_t oxi = ox + std::min(i, m - 1) * sw;  // rows past m repeat the last
        for (int64_t j = 0; j < ks; ++j) {
          const int ky = ph.taps[j] / p.kernel_w, kx = ph.taps[j] % p.kernel_w;
          const int64_t ty = oy + p.pad_top - ky, tx = oxi + p.pad_left - kx;
          const int64_t iy = ty / sh, ix = tx / sw;  // exact where ty, tx >= 0
          const bool hit = ty >= 0 && tx >= 0 && iy < p.in_h && ix < p.in_w;
          ind[j * mr + i] = hit ? image + (iy * p.in_w + ix) * c : zero.data();
        }
      }
      kernel.fn(static_cast<size_t>(m), static_cast<size_t>(nc), static_cast<size_t>(c),
                static_cast<size_t>(ks), ind.data(), packed, out, static_cast<size_t>(stride),
                p.act.lo, p.act.hi);
    }
  });
}

bool TransposeConvIsShuffle(const Conv2DParams& p) {
  return p.stride_h == p.kernel_h && p.stride_w == p.kernel_w && p.pad_top == 0 &&
         p.pad_left == 0 && p.out_h == p.in_h * p.kernel_h && p.out_w == p.in_w * p.kernel_w;
}

void f32_transpose_conv2d__shuffle(const Conv2DParams& p, const F32GemmKernel& kernel,
                                   const float* const* row_packed, const float* x, float* y,
                                   ThreadPool* pool) {
  const int64_t mr = kernel.mr, nr = kernel.nr, c = p.in_c, kh = p.kernel_h;
  const int64_t n_cols = p.kernel_w * p.out_c;  // one input pixel's outputs in a row
  const int64_t ntiles = (n_cols + nr - 1) / nr, xtiles = (p.in_w + mr - 1) / mr;
  const size_t block = F32GemmPackedBlockFloats(static_cast<size_t>(c), static_cast<size_t>(nr));
  // Items: (image, input row, filter row, pixel tile, column tile).
  const int64_t items = p.batch * p.in_h * kh * xtiles * ntiles;
  ParallelItems(pool, items, mr * nr * c, [&](int64_t begin, int64_t end) {
    const float* ind[kF32GemmMaxMr];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t nt = item % ntiles, xt = (item / ntiles) % xtiles;
      const int64_t ky = (item / (ntiles * xtiles)) % kh, row = item / (ntiles * xtiles * kh);
      const int64_t ix = xt * mr, m = std::min(mr, p.in_w - ix), n0 = nt * nr;
      const float* in = x + (row * p.in_w + ix) * c;  // row = n * in_h + iy
      for (int64_t i = 0; i < mr; ++i) ind[i] = in + std::min(i, m - 1) * c;
      const int64_t oy = (row % p.in_h) * kh + ky, n = row / p.in_h;
      float* out = y + ((n * p.out_h + oy) * p.out_w + ix * p.kernel_w) * p.out_c + n0;
      kernel.fn(static_cast<size_t>(m), static_cast<size_t>(std::min(nr, n_cols - n0)),
                static_cast<size_t>(c), 1, ind, row_packed[ky] + nt * block, out,
                static_cast<size_t>(n_cols), p.act.lo, p.act.hi);
    }
  });
}

bool F32DepthwiseDwconvSupported(const Conv2DParams& p) {
  return p.depth_multiplier == 1 && p.out_c == p.in_c &&
         static_cast<int64_t>(p.kernel_h) * p.kernel_w <= kDwconvMaxTaps;
}

namespace {

// Depthwise on a per-pixel microkernel whose filter is W (float or half bits).
template <typename W, typename Ukernel>
void DepthwiseDwconv(const Conv2DParams& p, Ukernel ukernel, const float* x, const W* filter,
                     const float* bias, float* y, ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t c = p.in_c;
  const int64_t kh = p.kernel_h, kw = p.kernel_w, taps = kh * kw;
  // A window wholly inside the input (most pixels) needs no per-tap checks:
  // its tap pointers are fixed offsets from the top-left tap, and its weight
  // pointers are the whole filter in order.
  int64_t offset[kDwconvMaxTaps];
  const W* w_all[kDwconvMaxTaps];
  for (int64_t t = 0; t < taps; ++t) {
    offset[t] = ((t / kw) * p.dilation_h * p.in_w + (t % kw) * p.dilation_w) * c;
    w_all[t] = filter + t * c;
  }
  const int64_t span_h = (kh - 1) * p.dilation_h, span_w = (kw - 1) * p.dilation_w;
  // Few channels (8 or 16 in MediaPipe's BlazeFace-style early layers) leave
  // the microkernel one or two vectors of work per pixel, so the per-pixel
  // call and pointer setup cost more than the arithmetic. With stride 1
  // along x, output pixel ox + j reads the taps of pixel ox shifted by j * c
  // floats and writes j * c floats further on, so ONE call over group * c
  // "channels", with the filter and bias repeated group times, computes
  // `group` adjacent interior pixels: every element from the same taps in
  // the same order as a call per pixel, hence bit-identical to it (c a
  // multiple of 4, so that no kernel's scalar tail takes a different share
  // of the channels).
  const int64_t max_c = taps <= 9 ? kDwconvGroupMaxChannels3x3 : kDwconvGroupMaxChannels;
  // A row's interior run shorter than `group` pixels (a 14-pixel row of 8
  // channels has 12, against a group of 16) is still one call: any prefix
  // of g pixels of the repeated filter is the same filter repeated g times.
  const int64_t group = p.stride_w == 1 && c % 4 == 0 && c <= max_c ? kDwconvGroupWidth / c : 1;
  std::vector<W> w_group;
  std::vector<float> bias_group;
  const W* wg_all[kDwconvMaxTaps];
  if (group > 1) {
    const int64_t gc = group * c;
    w_group.resize(static_cast<size_t>(taps * gc));
    for (int64_t t = 0; t < taps; ++t) {
      for (int64_t j = 0; j < group; ++j) {
        std::copy(filter + t * c, filter + (t + 1) * c, w_group.begin() + t * gc + j * c);
      }
      wg_all[t] = w_group.data() + t * gc;
    }
    if (bias != nullptr) {
      bias_group.resize(static_cast<size_t>(gc));
      for (int64_t j = 0; j < group; ++j) std::copy(bias, bias + c, bias_group.begin() + j * c);
    }
  }
  ParallelItems(pool, pixels, c * taps, [&](int64_t begin, int64_t end) {
    const float* in[kDwconvMaxTaps];
    const W* w[kDwconvMaxTaps];
    OriginWalk walk(p, begin);
    for (int64_t pix = begin; pix < end; ++pix, walk.Next()) {
      const Origin& o = *walk;
      const float* image = x + o.n * p.in_h * p.in_w * c;
      if (o.iy0 >= 0 && o.iy0 + span_h < p.in_h && o.ix0 >= 0 && o.ix0 + span_w < p.in_w) {
        const float* base = image + (o.iy0 * p.in_w + o.ix0) * c;
        // Up to `group` pixels of this row from here, all inside this
        // thread's range and interior (stride 1: pixel j starts at ix0 + j).
        const int64_t g =
            group > 1 ? std::min({group, end - pix, p.out_w - walk.ox(), p.in_w - span_w - o.ix0})
                      : 1;
        if (g >= 2) {
          for (int64_t t = 0; t < taps; ++t) in[t] = base + offset[t];
          ukernel(static_cast<size_t>(g * c), static_cast<size_t>(taps), in, wg_all,
                  bias != nullptr ? bias_group.data() : nullptr, y + pix * c, p.act.lo, p.act.hi);
          for (int64_t j = 1; j < g; ++j) walk.Next();  // stays within the row
          pix += g - 1;
          continue;
        }
        for (int64_t t = 0; t < taps; ++t) in[t] = base + offset[t];
        ukernel(static_cast<size_t>(c), static_cast<size_t>(taps), in, w_all, bias, y + pix * c,
                p.act.lo, p.act.hi);
        continue;
      }
      size_t n = 0;
      for (int64_t ky = 0; ky < kh; ++ky) {
        const int64_t iy = o.iy0 + ky * p.dilation_h;
        if (iy < 0 || iy >= p.in_h) continue;
        for (int64_t kx = 0; kx < kw; ++kx) {
          const int64_t ix = o.ix0 + kx * p.dilation_w;
          if (ix < 0 || ix >= p.in_w) continue;
          in[n] = image + (iy * p.in_w + ix) * c;
          w[n] = filter + (ky * kw + kx) * c;
          ++n;
        }
      }
      ukernel(static_cast<size_t>(c), n, in, w, bias, y + pix * c, p.act.lo, p.act.hi);
    }
  });
}

}  // namespace

void f32_depthwise_conv2d__dwconv(const Conv2DParams& p, F32DwconvUkernelFn ukernel, const float* x,
                                  const float* filter, const float* bias, float* y,
                                  ThreadPool* pool) {
  DepthwiseDwconv(p, ukernel, x, filter, bias, y, pool);
}

void f16w_depthwise_conv2d__dwconv(const Conv2DParams& p, F16wDwconvUkernelFn ukernel,
                                   const float* x, const uint16_t* filter, const float* bias,
                                   float* y, ThreadPool* pool) {
  DepthwiseDwconv(p, ukernel, x, filter, bias, y, pool);
}

void f16_depthwise_conv2d__dwconv(const Conv2DParams& p, const F16DwconvKernel& kernel,
                                  const float* x, const uint16_t* filter, const float* bias,
                                  float* y, ThreadPool* pool) {
  const int64_t c = p.in_c, kh = p.kernel_h, kw = p.kernel_w, taps = kh * kw;
  const int64_t dh = p.dilation_h, dw = p.dilation_w;
  const int64_t span_w = (kw - 1) * dw;
  // A window's rows iy0 + ky * dh lie within (kh - 1) * dh + 1 consecutive
  // input rows, so a ring of that many slots (slot iy % ring) holds them all
  // at once; consecutive output rows of one thread reuse the rows they
  // share, so each input row is converted about once per thread.
  const int64_t ring = (kh - 1) * dh + 1;
  const int64_t row_elems = p.in_w * c;
  const uint16_t* w_all[kDwconvMaxTaps];
  for (int64_t t = 0; t < taps; ++t) w_all[t] = filter + t * c;
  ParallelItems(pool, p.batch * p.out_h, p.out_w * c * taps, [&](int64_t begin, int64_t end) {
    std::vector<uint16_t> rows(static_cast<size_t>(ring * row_elems));
    std::vector<int64_t> tag(static_cast<size_t>(ring), -1);  // n * in_h + iy held per slot
    const uint16_t* row[kDwconvMaxTaps];  // per ky: the converted row, or null (padding)
    const uint16_t* in[kDwconvMaxTaps];
    const uint16_t* w[kDwconvMaxTaps];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / p.out_h, oy = item % p.out_h;
      const int64_t iy0 = oy * p.stride_h - p.pad_top;
      bool rows_inside = true;
      for (int64_t ky = 0; ky < kh; ++ky) {
        const int64_t iy = iy0 + ky * dh;
        if (iy < 0 || iy >= p.in_h) {
          row[ky] = nullptr;
          rows_inside = false;
          continue;
        }
        const int64_t slot = iy % ring, id = n * p.in_h + iy;
        uint16_t* dst = rows.data() + slot * row_elems;
        if (tag[slot] != id) {
          kernel.convert(static_cast<size_t>(row_elems), x + id * row_elems, dst);
          tag[slot] = id;
        }
        row[ky] = dst;
      }
      float* out = y + item * p.out_w * c;
      for (int64_t ox = 0; ox < p.out_w; ++ox, out += c) {
        const int64_t ix0 = ox * p.stride_w - p.pad_left;
        if (rows_inside && ix0 >= 0 && ix0 + span_w < p.in_w) {
          for (int64_t ky = 0; ky < kh; ++ky) {
            for (int64_t kx = 0; kx < kw; ++kx) in[ky * kw + kx] = row[ky] + (ix0 + kx * dw) * c;
          }
          kernel.fn(static_cast<size_t>(c), static_cast<size_t>(taps), in, w_all, bias, out,
                    p.act.lo, p.act.hi);
          continue;
        }
        size_t k = 0;
        for (int64_t ky = 0; ky < kh; ++ky) {
          if (row[ky] == nullptr) continue;
          for (int64_t kx = 0; kx < kw; ++kx) {
            const int64_t ix = ix0 + kx * dw;
            if (ix < 0 || ix >= p.in_w) continue;
            in[k] = row[ky] + ix * c;
            w[k] = filter + (ky * kw + kx) * c;
            ++k;
          }
        }
        kernel.fn(static_cast<size_t>(c), k, in, w, bias, out, p.act.lo, p.act.hi);
      }
    }
  });
}

}  // namespace gearshift
