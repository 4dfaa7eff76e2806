// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference loops first (work split over output pixels or rows, each output
// element computed by one thread), the GEMM paths at the end. Accumulators
// are uint32 so that wrap-around is defined; the final cast back to int32 is
// two's complement (what the oracle's _wrap_int32 does).
#include "ops_q8/q8_conv.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

namespace gearshift {
namespace {

inline uint32_t Product(int8_t x, int32_t x_zero_point, int8_t w) {
  return static_cast<uint32_t>((int32_t{x} - x_zero_point) * int32_t{w});
}

}  // namespace

void MakeQ8ChannelRequant(Q8Quant x, const std::vector<float>& w_scale, Q8Quant y, int64_t channels,
                          Activation act, Q8ChannelRequant* q) {
  q->x_zero_point = x.zero_point;
  q->y_zero_point = y.zero_point;
  q->act = Q8ActivationRange(act, y);
  q->multiplier.assign(static_cast<size_t>(channels), 0);
  q->shift.assign(static_cast<size_t>(channels), 0);
  for (int64_t c = 0; c < channels; ++c) {
    const float sw = w_scale.size() == 1 ? w_scale[0] : w_scale[static_cast<size_t>(c)];
    // quant_ref._out_multiplier: double(sx) * double(sw[c]) / double(sy).
    const double m =
        static_cast<double>(x.scale) * static_cast<double>(sw) / static_cast<double>(y.scale);
    int shift = 0;
    QuantizeMultiplier(m, &q->multiplier[c], &shift);
    q->shift[c] = shift;
  }
}

void q8_conv2d__ref(const Conv2DParams& p, const Q8ChannelRequant& q, const int8_t* x,
                    const int8_t* filter, const int32_t* bias, int8_t* y, ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t cost = p.out_c * p.kernel_h * p.kernel_w * p.in_c;
  ParallelItems(pool, pixels, cost, [&](int64_t begin, int64_t end) {
    for (int64_t pix = begin; pix < end; ++pix) {
      const int64_t ox = pix % p.out_w;
      const int64_t oy = (pix / p.out_w) % p.out_h;
      const int64_t n = pix / (p.out_w * p.out_h);
      const int64_t iy0 = oy * p.stride_h - p.pad_top;
      const int64_t ix0 = ox * p.stride_w - p.pad_left;
      for (int64_t oc = 0; oc < p.out_c; ++oc) {
        uint32_t acc = bias != nullptr ? static_cast<uint32_t>(bias[oc]) : 0u;
        for (int ky = 0; ky < p.kernel_h; ++ky) {
          const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
          if (iy < 0 || iy >= p.in_h) continue;  // padding: contributes (zx - zx) * w = 0
          for (int kx = 0; kx < p.kernel_w; ++kx) {
            const int64_t ix = ix0 + static_cast<int64_t>(kx) * p.dilation_w;
            if (ix < 0 || ix >= p.in_w) continue;
            const int8_t* xp = x + ((n * p.in_h + iy) * p.in_w + ix) * p.in_c;
            const int8_t* wp = filter + ((oc * p.kernel_h + ky) * p.kernel_w + kx) * p.in_c;
            for (int64_t c = 0; c < p.in_c; ++c) acc += Product(xp[c], q.x_zero_point, wp[c]);
          }
        }
        y[pix * p.out_c + oc] = Q8ConvOutput(acc, q, oc);
      }
    }
  });
}

void q8_depthwise_conv2d__ref(const Conv2DParams& p, const Q8ChannelRequant& q, const int8_t* x,
                              const int8_t* filter, const int32_t* bias, int8_t* y,
                              ThreadPool* pool) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t m = p.depth_multiplier;
  // Channels in blocks, taps outside, channels inside: the filter and the
  // input are read contiguously and no buffer is allocated at run time.
  constexpr int64_t kBlock = 64;
  ParallelItems(pool, pixels, p.out_c * p.kernel_h * p.kernel_w, [&](int64_t begin, int64_t end) {
    uint32_t acc[kBlock];
    for (int64_t pix = begin; pix < end; ++pix) {
      const int64_t ox = pix % p.out_w;
      const int64_t oy = (pix / p.out_w) % p.out_h;
      const int64_t n = pix / (p.out_w * p.out_h);
      const int64_t iy0 = oy * p.stride_h - p.pad_top;
      const int64_t ix0 = ox * p.stride_w - p.pad_left;
      for (int64_t c0 = 0; c0 < p.out_c; c0 += kBlock) {
        const int64_t cn = std::min(kBlock, p.out_c - c0);
        for (int64_t j = 0; j < cn; ++j) {
          acc[j] = bias != nullptr ? static_cast<uint32_t>(bias[c0 + j]) : 0u;
        }
        for (int ky = 0; ky < p.kernel_h; ++ky) {
          const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
          if (iy < 0 || iy >= p.in_h) continue;
          for (int kx = 0; kx < p.kernel_w; ++kx) {
            const int64_t ix = ix0 + static_cast<int64_t>(kx) * p.dilation_w;
            if (ix < 0 || ix >= p.in_w) continue;
            const int8_t* xp = x + ((n * p.in_h + iy) * p.in_w + ix) * p.in_c;
            const int8_t* wp = filter + (static_cast<int64_t>(ky) * p.kernel_w + kx) * p.out_c + c0;
            if (m == 1) {  // no division per product in the common case
              for (int64_t j = 0; j < cn; ++j) acc[j] += Product(xp[c0 + j], q.x_zero_point, wp[j]);
            } else {
              for (int64_t j = 0; j < cn; ++j) {
                acc[j] += Product(xp[(c0 + j) / m], q.x_zero_point, wp[j]);
              }
            }
          }
        }
        for (int64_t j = 0; j < cn; ++j) {
          y[pix * p.out_c + c0 + j] = Q8ConvOutput(acc[j], q, c0 + j);
        }
      }
    }
  });
}

void q8_fully_connected__ref(const FullyConnectedParams& p, const Q8ChannelRequant& q,
                             const int8_t* x, const int8_t* w, const int32_t* bias, int8_t* y,
                             ThreadPool* pool) {
  const int64_t in = p.in_features, out = p.out_features;
  ParallelItems(pool, p.rows, in * out, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int8_t* xr = x + r * in;
      for (int64_t o = 0; o < out; ++o) {
        uint32_t acc = bias != nullptr ? static_cast<uint32_t>(bias[o]) : 0u;
        const int8_t* wr = w + o * in;
        for (int64_t i = 0; i < in; ++i) acc += Product(xr[i], q.x_zero_point, wr[i]);
        y[r * out + o] = Q8DenseOutput(acc, q, o);
      }
    }
  });
}

// ---- GEMM paths ---------------------------------------------------------------

namespace {

// Gather copies of one pixel's channels. Stems have 1-4 channels: fixed-size
// moves there instead of a library call per tap.
inline void CopyChannels(int8_t* d, const int8_t* s, size_t n) {
  if (n >= 8) {
    std::memcpy(d, s, n);
    return;
  }
  if (n & 4) {
    std::memcpy(d, s, 4);
    d += 4;
    s += 4;
  }
  if (n & 2) {
    std::memcpy(d, s, 2);
    d += 2;
    s += 2;
  }
  if (n & 1) *d = *s;
}

// A run of n bytes (several taps' channels at once): up to 32 bytes as two
// overlapping fixed-size moves, no library call.
inline void CopyRun(int8_t* d, const int8_t* s, size_t n) {
  if (n > 32 || n < 8) {
    CopyChannels(d, s, n);
    return;
  }
  if (n >= 16) {
    std::memcpy(d, s, 16);
    std::memcpy(d + n - 16, s + n - 16, 16);
    return;
  }
  std::memcpy(d, s, 8);
  std::memcpy(d + n - 8, s + n - 8, 8);
}

inline void FillChannels(int8_t* d, int8_t v, size_t n) {
  if (n >= 8) {
    std::memset(d, v, n);
    return;
  }
  for (size_t i = 0; i < n; ++i) d[i] = v;
}

// n values of scratch for one call: on the stack up to N, else on the heap.
// A small layer runs in about a microsecond, and a heap allocation or two
// per call is a visible part of that.
template <typename T, size_t N>
class Scratch {
 public:
  explicit Scratch(size_t n) : data_(local_) {
    if (n > N) {
      heap_.resize(n);
      data_ = heap_.data();
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* data() { return data_; }

 private:
  T local_[N];
  std::vector<T> heap_;
  T* data_;
};

bool IsDirectGemm(const Conv2DParams& p) {
  return p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 &&
         p.pad_top == 0 && p.pad_left == 0;
}

Q8GemmOutput GemmOutput(const Q8ChannelRequant& q) {
  Q8GemmOutput out;
  out.c_zero_point = q.y_zero_point;
  out.act_min = q.act.lo;
  out.act_max = q.act.hi;
  return out;
}

}  // namespace

size_t Q8GemmPackedBytes(size_t n, size_t k, const Q8GemmKernel& kernel) {
  const auto nr = static_cast<size_t>(kernel.nr);
  return (n + nr - 1) / nr * Q8GemmPackedBlockBytes(k, nr, static_cast<size_t>(kernel.kr));
}

size_t Q4GemmPackedBytes(size_t n, size_t k, const Q8GemmKernel& kernel, size_t q4_block) {
  const auto nr = static_cast<size_t>(kernel.nr);
  return (n + nr - 1) / nr *
         Q4GemmPackedBlockBytes(k, nr, static_cast<size_t>(kernel.kr), q4_block);
}

namespace {

struct FreeBytes {
  void operator()(void* p) const { std::free(p); }
};

// The int8 blocks of an int4 pack, rebuilt for one call, in parallel over
// the blocks; 64-byte aligned as the plan's int8 packs are.
std::unique_ptr<void, FreeBytes> UnpackQ4Pack(const Q8GemmKernel& kernel, size_t n, size_t k,
                                              size_t q4_block, const void* packed,
                                              ThreadPool* pool) {
  const auto nr = static_cast<size_t>(kernel.nr), kr = static_cast<size_t>(kernel.kr);
  const size_t blocks = (n + nr - 1) / nr;
  const size_t q8 = Q8GemmPackedBlockBytes(k, nr, kr);
  const size_t q4 = Q4GemmPackedBlockBytes(k, nr, kr, q4_block);
  void* raw = std::aligned_alloc(64, (blocks * q8 + 63) / 64 * 64);
  if (raw == nullptr) throw std::bad_alloc();  // caught by the Runtime, as vector's
  std::unique_ptr<void, FreeBytes> out(raw);
  const auto* src = static_cast<const char*>(packed);
  auto* dst = static_cast<char*>(raw);
  ParallelItems(pool, static_cast<int64_t>(blocks), static_cast<int64_t>(nr * k) * 4,
                [&](int64_t begin, int64_t end) {
                  for (int64_t b = begin; b < end; ++b) {
                    UnpackQ4GemmBlock(nr, kr, k, q4_block, src + b * q4, dst + b * q8);
                  }
                });
  return out;
}

}  // namespace

bool Q8GemmUsable(const Q8GemmKernel& kernel) {
  return kernel.fn != nullptr && kernel.mr >= 1 && kernel.mr <= kQ8GemmMaxMr;
}

bool Q8Conv2DGemmSupported(const Conv2DParams& /*p*/, const Q8GemmKernel& kernel) {
  return Q8GemmUsable(kernel);
}

namespace {

// What the gather of a conv's GEMM rows reads: the input, the source row of
// each (output row, filter row) and column of each (output column, filter
// column) (-1: padding), the layer's sizes.
struct GatherGeometry {
  const int8_t* x = nullptr;
  const int64_t* sy = nullptr;
  const int64_t* sx = nullptr;
  int64_t in_w = 0, in_c = 0, out_w = 0, out_h = 0, image_bytes = 0;
  int64_t pitch = 0;  // bytes from one GEMM row to the next (>= KH*KW*C)
  int kh = 0, kw = 0;
  bool adjacent = false;  // a filter row's taps are adjacent input pixels
  int8_t pad = 0;
};

// One GEMM row (KH*KW*C) of output pixel (tx, ty: its source columns and
// rows) tap by tap, padding included.
__attribute__((noinline)) void GatherPixel(const GatherGeometry& g, const int8_t* image,
                                           const int64_t* tx, const int64_t* ty, int8_t* dst) {
  const auto c = static_cast<size_t>(g.in_c);
  for (int ky = 0; ky < g.kh; ++ky) {
    const int64_t iy = ty[ky];
    for (int kx = 0; kx < g.kw; ++kx, dst += c) {
      const int64_t ix = tx[kx];
      if (iy < 0 || ix < 0) {
        FillChannels(dst, g.pad, c);
      } else {
        CopyChannels(dst, image + (iy * g.in_w + ix) * g.in_c, c);
      }
    }
  }
}

// Rows r0 .. r0 + m - 1 of the GEMM's A (KH*KW*C each, g.pitch apart) into
// tile. Out of line with its values in locals: inside the driver's
// lambda GCC spilled them and reloaded the layer's sizes after every store.
// A pixel whose taps are all inside and whose filter rows' taps are adjacent
// input pixels copies one contiguous run per filter row (a stem's 3 x 3 x 3
// taps: three 9-byte runs).
__attribute__((noinline)) void GatherRows(const GatherGeometry& geometry, int64_t r0, int64_t m,
                                          int8_t* tile) {
  const GatherGeometry g = geometry;
  const auto row_bytes = static_cast<size_t>(g.in_c * g.kw);
  const int64_t row_stride = g.in_w * g.in_c;
  const auto pixel_bytes = static_cast<size_t>(g.pitch);
  const bool short_run = row_bytes >= 8 && row_bytes <= 16;
  int64_t ox = r0 % g.out_w, oy = (r0 / g.out_w) % g.out_h, n = r0 / (g.out_w * g.out_h);
  int8_t* dst = tile;
  for (int64_t i = 0; i < m;) {
    const int8_t* image = g.x + n * g.image_bytes;
    const int64_t* const ty = g.sy + oy * g.kh;
    const int64_t* tx = g.sx + ox * g.kw;
    // Source rows and columns increase along the filter (not transposed):
    // the first and last inside means all inside.
    if (g.adjacent && ty[0] >= 0 && ty[g.kh - 1] >= 0 && tx[0] >= 0 && tx[g.kw - 1] >= 0) {
      // This output row's pixels while their columns stay inside.
      const int64_t end = std::min(m, i + (g.out_w - ox));
      if (short_run && g.kh == 3) {  // a stem's 3 x 3 x (1-5): 3 runs of 8-16 bytes
        const int8_t* s0 = image + ty[0] * row_stride;
        const int8_t* s1 = image + ty[1] * row_stride;
        const int8_t* s2 = image + ty[2] * row_stride;
        const size_t tail = row_bytes - 8;
        do {
          const int64_t at = tx[0] * g.in_c;
          std::memcpy(dst, s0 + at, 8);
          std::memcpy(dst + tail, s0 + at + tail, 8);
          std::memcpy(dst + row_bytes, s1 + at, 8);
          std::memcpy(dst + row_bytes + tail, s1 + at + tail, 8);
          std::memcpy(dst + 2 * row_bytes, s2 + at, 8);
          std::memcpy(dst + 2 * row_bytes + tail, s2 + at + tail, 8);
          dst += pixel_bytes;
          ++i;
          ++ox;
          tx += g.kw;
        } while (i < end && tx[g.kw - 1] >= 0);
      } else {
        do {
          const int8_t* base = image + tx[0] * g.in_c;
          int8_t* d = dst;
          for (int ky = 0; ky < g.kh; ++ky, d += row_bytes) {
            CopyRun(d, base + ty[ky] * row_stride, row_bytes);
          }
          dst += pixel_bytes;
          ++i;
          ++ox;
          tx += g.kw;
        } while (i < end && tx[g.kw - 1] >= 0);
      }
    } else {
      GatherPixel(g, image, tx, ty, dst);
      dst += pixel_bytes;
      ++i;
      ++ox;
    }
    if (ox == g.out_w) {  // next output row
      ox = 0;
      if (++oy == g.out_h) {
        oy = 0;
        ++n;
      }
    }
  }
}

// Narrow filter rows (KW*C <= 4 bytes, KH*KW*C <= 16: a one-channel
// stem's 3 x 3): the input is first copied, flipped for the kernel, into an
// image framed by its padding (the zero point, flipped), so that every
// pixel's taps are inside: per pixel one 4-byte load per filter row, the
// rows' bytes joined in two 64-bit registers and stored as 16 bytes (what
// passes the row's pitch is overwritten by the next row or lands in the
// tile's slack). No per-tap copies, no edge cases, no flip pass after.
struct PaddedGeometry {
  const uint8_t* image = nullptr;  // [batch][hp][wp][c], flipped, + 4 bytes of slack
  int64_t hp = 0, wp = 0, c = 0, out_w = 0, out_h = 0;
  int64_t stride_h = 0, stride_w = 0, row_step = 0;  // row_step: bytes between filter rows
  int64_t pitch = 0;
  int kh = 0, row_bytes = 0;
};

// The framed, flipped copy of x (PaddedGeometry::image): hp x wp pixels per
// image, the input at (pad_top, pad_left).
void FramePaddedInput(const Conv2DParams& p, int64_t hp, int64_t wp, uint8_t pad, uint8_t flip,
                      const int8_t* x, uint8_t* image) {
  const auto c = static_cast<size_t>(p.in_c);
  const size_t row = static_cast<size_t>(wp) * c, in_row = static_cast<size_t>(p.in_w) * c;
  const size_t left = static_cast<size_t>(p.pad_left) * c;
  std::memset(image, pad, static_cast<size_t>(p.batch * hp) * row + 4);
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t iy = 0; iy < p.in_h; ++iy) {
      uint8_t* d = image + static_cast<size_t>(n * hp + iy + p.pad_top) * row + left;
      const auto* s = reinterpret_cast<const uint8_t*>(x + (n * p.in_h + iy) * p.in_w * p.in_c);
      for (size_t i = 0; i < in_row; ++i) d[i] = static_cast<uint8_t>(s[i] ^ flip);
    }
  }
}

// kFixed: a 3 x 3 one-channel stem's rows of 3 bytes, the loop unrolled;
// otherwise any g.kh and g.row_bytes.
template <bool kFixed>
__attribute__((noinline)) void GatherPaddedRows(const PaddedGeometry& geometry, int64_t r0,
                                                int64_t m, int8_t* tile) {
  const PaddedGeometry g = geometry;
  int64_t ox = r0 % g.out_w, oy = (r0 / g.out_w) % g.out_h, n = r0 / (g.out_w * g.out_h);
  const uint64_t mask = g.row_bytes == 4 ? 0xffffffffu : (uint64_t{1} << (8 * g.row_bytes)) - 1;
  const int64_t image_bytes = g.hp * g.wp * g.c;
  const int64_t x_step = g.stride_w * g.c;
  const uint8_t* row = nullptr;
  int8_t* dst = tile;
  for (int64_t i = 0; i < m; ++i, dst += g.pitch) {
    if (i == 0 || ox == 0) row = g.image + n * image_bytes + oy * g.stride_h * g.wp * g.c;
    const uint8_t* s = row + ox * x_step;
    uint64_t lo = 0, hi = 0;
    if constexpr (kFixed) {
      uint32_t a, b, c;
      std::memcpy(&a, s, 4);
      std::memcpy(&b, s + g.row_step, 4);
      std::memcpy(&c, s + 2 * g.row_step, 4);
      const uint64_t v2 = c & 0xffffffu;
      lo = (a & 0xffffffu) | uint64_t{b & 0xffffffu} << 24 | v2 << 48;
      hi = v2 >> 16;
    }
    for (int ky = 0, off = 0; !kFixed && ky < g.kh; ++ky, off += g.row_bytes, s += g.row_step) {
      uint32_t v32;
      std::memcpy(&v32, s, 4);
      const uint64_t v = v32 & mask;
      if (off < 8) {
        lo |= v << (8 * off);
        if (off + g.row_bytes > 8) hi |= v >> (8 * (8 - off));
      } else {
        hi |= v << (8 * (off - 8));
      }
    }
    std::memcpy(dst, &lo, 8);
    std::memcpy(dst + 8, &hi, 8);
    if (++ox == g.out_w) {  // next output row
      ox = 0;
      if (++oy == g.out_h) {
        oy = 0;
        ++n;
      }
    }
  }
}

// CONV_2D, or TRANSPOSE_CONV (transposed: output pixel (oy, ox) reads tap
// (ky, kx) at input ((oy + pad_top - ky) / stride, ...) where that divides
// exactly and lies inside; every other tap is padding), as one GEMM over
// gathered rows of KH*KW*C.
void ConvGemm(const Conv2DParams& p, const Q8ChannelRequant& q, const Q8GemmKernel& kernel,
              const void* packed, const int8_t* x, int8_t* y, ThreadPool* pool, size_t q4_block,
              bool transposed) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t kdim = static_cast<int64_t>(p.kernel_h) * p.kernel_w * p.in_c;
  const int64_t out_c = p.out_c;
  std::unique_ptr<void, FreeBytes> unpacked;
  if (q4_block > 0) {
    unpacked = UnpackQ4Pack(kernel, static_cast<size_t>(out_c), static_cast<size_t>(kdim), q4_block,
                            packed, pool);
    packed = unpacked.get();
  }
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t mtiles = (pixels + mr - 1) / mr, ntiles = (out_c + nr - 1) / nr;
  const size_t block = Q8GemmPackedBlockBytes(static_cast<size_t>(kdim), static_cast<size_t>(nr),
                                              static_cast<size_t>(kernel.kr));
  const auto* w = static_cast<const char*>(packed);
  const Q8GemmOutput out = GemmOutput(q);
  // VNNI kernels read x + 128 as unsigned bytes: rows are flipped once per
  // row tile here (a direct GEMM then copies its rows too).
  const auto flip = static_cast<uint8_t>(kernel.a_offset != 0 ? 0x80 : 0);
  const bool direct = !transposed && IsDirectGemm(p) && flip == 0;
  const bool flip_direct = !transposed && IsDirectGemm(p) && flip != 0;
  const auto pad = static_cast<int8_t>(q.x_zero_point);  // flipped with the tile
  const bool gathered = !direct && !flip_direct;
  // Gathered rows are padded to a whole number of the kernel's K groups:
  // the packed weights are zero there, so the pad bytes add nothing and the
  // kernel runs no partial last group (a one-channel 3x3 stem: K 9 -> 12).
  const int64_t kr = std::max(1, kernel.kr);
  const int64_t pitch = !gathered ? kdim : (kdim + kr - 1) / kr * kr;
  // A narrow stem (GatherPaddedRows): the framed, flipped input, once per call.
  const bool padded =
      gathered && !transposed && p.dilation_w == 1 && p.in_c * p.kernel_w <= 4 && pitch <= 16;
  PaddedGeometry pg;
  if (padded) {
    pg.hp = std::max(p.pad_top + p.in_h,
                     (p.out_h - 1) * p.stride_h + int64_t{p.kernel_h - 1} * p.dilation_h + 1);
    pg.wp = std::max(p.pad_left + p.in_w, (p.out_w - 1) * p.stride_w + p.kernel_w);
    pg.c = p.in_c;
    pg.out_w = p.out_w;
    pg.out_h = p.out_h;
    pg.stride_h = p.stride_h;
    pg.stride_w = p.stride_w;
    pg.row_step = p.dilation_h * pg.wp * p.in_c;
    pg.pitch = pitch;
    pg.kh = p.kernel_h;
    pg.row_bytes = static_cast<int>(p.in_c * p.kernel_w);
  }
  // The input row of each (output row, filter row), the input column of each
  // (output column, filter column); -1: padding. Built once per call, so the
  // gather has no divisions.
  const bool tables = gathered && !padded;
  Scratch<int64_t, 256> src_y(tables ? static_cast<size_t>(p.out_h * p.kernel_h) : 0);
  Scratch<int64_t, 256> src_x(tables ? static_cast<size_t>(p.out_w * p.kernel_w) : 0);
  if (tables) {
    auto source = [transposed](int64_t o, int k, int64_t stride, int64_t pad_before,
                               int64_t dilation, int64_t in) -> int64_t {
      int64_t i = o * stride - pad_before + int64_t{k} * dilation;
      if (transposed) {
        const int64_t t = o + pad_before - k;
        i = t >= 0 && t % stride == 0 ? t / stride : -1;
      }
      return i >= 0 && i < in ? i : -1;
    };
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      for (int ky = 0; ky < p.kernel_h; ++ky) {
        src_y.data()[oy * p.kernel_h + ky] =
            source(oy, ky, p.stride_h, p.pad_top, p.dilation_h, p.in_h);
      }
    }
    for (int64_t ox = 0; ox < p.out_w; ++ox) {
      for (int kx = 0; kx < p.kernel_w; ++kx) {
        src_x.data()[ox * p.kernel_w + kx] =
            source(ox, kx, p.stride_w, p.pad_left, p.dilation_w, p.in_w);
      }
    }
  }
  Scratch<uint8_t, 4096> framed(padded ? static_cast<size_t>(p.batch * pg.hp * pg.wp * pg.c) + 4
                                       : 0);
  if (padded) {
    FramePaddedInput(p, pg.hp, pg.wp, static_cast<uint8_t>(pad) ^ flip, flip, x, framed.data());
    pg.image = framed.data();
  }
  GatherGeometry g;
  if (tables) {
    g.x = x;
    g.pitch = pitch;
    g.sy = src_y.data();
    g.sx = src_x.data();
    g.in_w = p.in_w;
    g.in_c = p.in_c;
    g.out_w = p.out_w;
    g.out_h = p.out_h;
    g.image_bytes = p.in_h * p.in_w * p.in_c;
    g.kh = p.kernel_h;
    g.kw = p.kernel_w;
    g.adjacent = !transposed && p.dilation_w == 1;
    g.pad = pad;
  }
  ParallelItems(pool, mtiles * ntiles, mr * nr * kdim, [&](int64_t begin, int64_t end) {
    // One buffer per chunk of work, not per tile; unused when direct. Its
    // row padding (pitch > KH*KW*C) is read against zero weights: zeroed
    // once so that no uninitialised byte is read.
    const size_t tile_bytes = direct ? 0 : static_cast<size_t>(mr * pitch) + (padded ? 16 : 0);
    Scratch<int8_t, 4096> gather(tile_bytes);
    int8_t* tile = gather.data();
    if (pitch != kdim) std::memset(tile, 0, tile_bytes);
    // Per-call values as locals: through the by-reference captures the
    // compiler reloads them around every microkernel call.
    const Q8GemmUkernelFn ukernel = kernel.fn;
    const Q8GemmOutput o = out;
    const auto kc = static_cast<size_t>(pitch), ldc = static_cast<size_t>(out_c);
    const char* const wb = w;
    const size_t wstride = block;
    const bool wide = kernel.wide_nc;
    // Items are row-tile major: walk (mt, nt) without a division per item.
    int64_t mt = begin / ntiles, nt = begin % ntiles;
    for (int64_t item = begin; item < end; nt = 0, ++mt) {
      const int64_t r0 = mt * mr, m = std::min(mr, pixels - r0);
      const int8_t* a = nullptr;
      size_t a_stride = 0;
      if (direct) {
        a = x + r0 * p.in_c;
        a_stride = static_cast<size_t>(p.in_c);
      } else if (flip_direct) {
        FlipRows(tile, x + r0 * p.in_c, static_cast<size_t>(m * p.in_c), flip);
        a = tile;
        a_stride = kc;
      } else if (padded) {  // rows of the framed input, flipped already
        if (pg.kh == 3 && pg.row_bytes == 3) {
          GatherPaddedRows<true>(pg, r0, m, tile);
        } else {
          GatherPaddedRows<false>(pg, r0, m, tile);
        }
        a = tile;
        a_stride = kc;
      } else {  // gather the tile's rows once, then flip them in one pass
        GatherRows(g, r0, m, tile);
        if (flip != 0) FlipRows(tile, tile, static_cast<size_t>(m * pitch), flip);
        a = tile;
        a_stride = kc;
      }
      const auto rows = static_cast<size_t>(m);
      int8_t* const yr = y + r0 * out_c;
      if (wide) {  // the row tile's column blocks of this chunk in one call
        const int64_t nt_end = std::min(ntiles, nt + (end - item));
        const int64_t n0 = nt * nr;
        ukernel(rows, static_cast<size_t>(std::min(nt_end * nr, out_c) - n0), kc, a, a_stride,
                wb + nt * wstride, yr + n0, ldc, &o);
        item += nt_end - nt;
        continue;
      }
      for (; nt < ntiles && item < end; ++nt, ++item) {
        const int64_t n0 = nt * nr;
        ukernel(rows, static_cast<size_t>(std::min(nr, out_c - n0)), kc, a, a_stride,
                wb + nt * wstride, yr + n0, ldc, &o);
      }
    }
  });
}

}  // namespace

void q8_conv2d__gemm(const Conv2DParams& p, const Q8ChannelRequant& q, const Q8GemmKernel& kernel,
                     const void* packed, const int8_t* x, int8_t* y, ThreadPool* pool,
                     size_t q4_block) {
  ConvGemm(p, q, kernel, packed, x, y, pool, q4_block, false);
}

void q8_transpose_conv2d__gemm(const Conv2DParams& p, const Q8ChannelRequant& q,
                               const Q8GemmKernel& kernel, const void* packed, const int8_t* x,
                               int8_t* y, ThreadPool* pool, size_t q4_block) {
  ConvGemm(p, q, kernel, packed, x, y, pool, q4_block, true);
}

void q8_transpose_conv2d__shuffle(const Conv2DParams& p, const Q8ChannelRequant& q,
                                  const Q8GemmKernel& kernel, const void* const* row_packed,
                                  const int8_t* x, int8_t* y, ThreadPool* pool) {
  const int64_t mr = kernel.mr, nr = kernel.nr, c = p.in_c, kh = p.kernel_h;
  const int64_t n_cols = p.kernel_w * p.out_c;  // one input pixel's outputs in a row
  const int64_t ntiles = (n_cols + nr - 1) / nr, xtiles = (p.in_w + mr - 1) / mr;
  const size_t block = Q8GemmPackedBlockBytes(static_cast<size_t>(c), static_cast<size_t>(nr),
                                              static_cast<size_t>(kernel.kr));
  const Q8GemmOutput out = GemmOutput(q);
  const auto flip = static_cast<uint8_t>(kernel.a_offset != 0 ? 0x80 : 0);
  // Items: (image, input row, filter row, pixel tile); a wide_nc kernel takes
  // all column blocks in one call, others one call per block.
  const int64_t items = p.batch * p.in_h * kh * xtiles;
  ParallelItems(pool, items, mr * n_cols * c, [&](int64_t begin, int64_t end) {
    std::vector<int8_t> flipped(flip != 0 ? static_cast<size_t>(mr * c) : 0);
    const Q8GemmOutput o = out;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t xt = item % xtiles, ky = (item / xtiles) % kh, row = item / (xtiles * kh);
      const int64_t ix = xt * mr, m = std::min(mr, p.in_w - ix);
      const int8_t* a = x + (row * p.in_w + ix) * c;  // row = n * in_h + iy
      if (flip != 0) {
        FlipRows(flipped.data(), a, static_cast<size_t>(m * c), flip);
        a = flipped.data();
      }
      const int64_t oy = (row % p.in_h) * kh + ky, n = row / p.in_h;
      int8_t* yr = y + ((n * p.out_h + oy) * p.out_w + ix * p.kernel_w) * p.out_c;
      const auto* w = static_cast<const char*>(row_packed[ky]);
      for (int64_t nt = 0; nt < ntiles; ++nt) {
        const int64_t n0 = nt * nr;
        const int64_t nc = kernel.wide_nc ? n_cols - n0 : std::min(nr, n_cols - n0);
        kernel.fn(static_cast<size_t>(m), static_cast<size_t>(nc), static_cast<size_t>(c), a,
                  static_cast<size_t>(c), w + nt * block, yr + n0, static_cast<size_t>(n_cols), &o);
        if (kernel.wide_nc) break;
      }
    }
  });
}

void q8_fully_connected__gemm(const FullyConnectedParams& p, const Q8ChannelRequant& q,
                              const Q8GemmKernel& kernel, const void* packed, const int8_t* x,
                              int8_t* y, ThreadPool* pool, size_t q4_block) {
  const int64_t k = p.in_features, n = p.out_features;
  std::unique_ptr<void, FreeBytes> unpacked;
  if (q4_block > 0) {
    unpacked = UnpackQ4Pack(kernel, static_cast<size_t>(n), static_cast<size_t>(k), q4_block,
                            packed, pool);
    packed = unpacked.get();
  }
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t mtiles = (p.rows + mr - 1) / mr, ntiles = (n + nr - 1) / nr;
  const size_t block = Q8GemmPackedBlockBytes(static_cast<size_t>(k), static_cast<size_t>(nr),
                                              static_cast<size_t>(kernel.kr));
  const auto* w = static_cast<const char*>(packed);
  Q8GemmOutput out = GemmOutput(q);
  out.single_rounding = true;  // FULLY_CONNECTED rounds once, as the reference
  const auto flip = static_cast<uint8_t>(kernel.a_offset != 0 ? 0x80 : 0);
  ParallelItems(pool, mtiles * ntiles, mr * nr * k, [&](int64_t begin, int64_t end) {
    // VNNI kernels: the row tile flipped to x + 128 once (see q8_conv2d__gemm).
    std::vector<int8_t> flipped(flip != 0 ? static_cast<size_t>(mr * k) : 0);
    int64_t have_mt = -1;
    for (int64_t item = begin; item < end;) {
      const int64_t mt = item / ntiles, nt = item % ntiles;
      // A wide_nc kernel takes the row tile's remaining column blocks of
      // this chunk in one call.
      const int64_t nt_end = kernel.wide_nc ? std::min(ntiles, nt + (end - item)) : nt + 1;
      item += nt_end - nt;
      const int64_t r0 = mt * mr, n0 = nt * nr, rows = std::min(mr, p.rows - r0);
      const int8_t* a = x + r0 * k;
      if (flip != 0) {
        if (mt != have_mt) {
          FlipRows(flipped.data(), a, static_cast<size_t>(rows * k), flip);
          have_mt = mt;
        }
        a = flipped.data();
      }
      kernel.fn(static_cast<size_t>(rows), static_cast<size_t>(std::min(nt_end * nr, n) - n0),
                static_cast<size_t>(k), a, static_cast<size_t>(k), w + nt * block, y + r0 * n + n0,
                static_cast<size_t>(n), &out);
    }
  });
}

// ---- depthwise ----------------------------------------------------------------

bool Q8DepthwiseDwconvSupported(const Conv2DParams& p, const Q8DwconvKernel& kernel) {
  return kernel.fn != nullptr && kernel.ct > 0 && p.depth_multiplier == 1 && p.in_c == p.out_c;
}

bool Q8DepthwiseRowsUsable(const Conv2DParams& p, const Q8DwconvKernel& kernel) {
  return kernel.rows != nullptr && Q8DepthwiseDwconvSupported(p, kernel) && p.stride_w == 1 &&
         p.dilation_w == 1 && Q8DwconvRowsChannels(static_cast<size_t>(p.out_c)) &&
         static_cast<size_t>(p.kernel_h) * static_cast<size_t>(p.kernel_w) <= kQ8DwconvRowsMaxTaps;
}

size_t Q8DepthwisePackedBytes(const Conv2DParams& p, const Q8DwconvKernel& kernel) {
  const auto taps = static_cast<size_t>(p.kernel_h) * static_cast<size_t>(p.kernel_w);
  return Q8DwconvPackedBytes(static_cast<size_t>(p.out_c), taps, static_cast<size_t>(kernel.ct)) +
         static_cast<size_t>(p.in_c);
}

void PackQ8Depthwise(const Conv2DParams& p, const Q8ChannelRequant& q, const Q8DwconvKernel& kernel,
                     const int8_t* filter, const int32_t* bias, void* packed) {
  const auto taps = static_cast<size_t>(p.kernel_h) * static_cast<size_t>(p.kernel_w);
  const auto c = static_cast<size_t>(p.out_c);
  const auto ct = static_cast<size_t>(kernel.ct);
  PackQ8DwconvWeights(c, taps, ct, filter, bias, q.multiplier.data(), q.shift.data(),
                      q.x_zero_point, packed);
  std::memset(static_cast<char*>(packed) + Q8DwconvPackedBytes(c, taps, ct), q.x_zero_point,
              static_cast<size_t>(p.in_c));
}

void q8_depthwise_conv2d__dw(const Conv2DParams& p, const Q8ChannelRequant& q,
                             const Q8DwconvKernel& kernel, const void* packed, const int8_t* x,
                             int8_t* y, ThreadPool* pool) {
  const int64_t taps = int64_t{p.kernel_h} * p.kernel_w;
  const int64_t c = p.out_c;
  const auto* zero = static_cast<const int8_t*>(packed) +
                     Q8DwconvPackedBytes(static_cast<size_t>(c), static_cast<size_t>(taps),
                                         static_cast<size_t>(kernel.ct));
  const Q8GemmOutput out = GemmOutput(q);
  const int64_t rows = p.batch * p.out_h;
  const int64_t out_w = p.out_w;
  const int kw = p.kernel_w, kh = p.kernel_h;
  if (Q8DepthwiseRowsUsable(p, kernel)) {
    // The direct form: the input framed by its padding (the zero point),
    // once per call; then runs of output rows, one call per image's share of
    // a thread's rows.
    const int64_t hp = std::max(p.pad_top + p.in_h,
                                (p.out_h - 1) * p.stride_h + int64_t{kh - 1} * p.dilation_h + 1);
    const int64_t wp = std::max(p.pad_left + p.in_w, out_w - 1 + kw);
    const int64_t frame_row = wp * c;
    Scratch<int8_t, 8192> frame(static_cast<size_t>(p.batch * hp * frame_row));
    int8_t* const f = frame.data();
    std::memset(f, static_cast<int8_t>(q.x_zero_point),
                static_cast<size_t>(p.batch * hp * frame_row));
    const auto in_row = static_cast<size_t>(p.in_w * c);
    for (int64_t n = 0; n < p.batch; ++n) {
      for (int64_t iy = 0; iy < p.in_h; ++iy) {
        std::memcpy(f + (n * hp + iy + p.pad_top) * frame_row + p.pad_left * c,
                    x + (n * p.in_h + iy) * p.in_w * c, in_row);
      }
    }
    const auto row_step = static_cast<size_t>(p.stride_h * frame_row);
    const auto tap_row = static_cast<size_t>(p.dilation_h * frame_row);
    ParallelItems(pool, rows, out_w * c * taps, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end;) {
        const int64_t n = row / p.out_h, oy = row % p.out_h;
        const int64_t count = std::min(end, (n + 1) * p.out_h) - row;
        kernel.rows(static_cast<size_t>(c), static_cast<size_t>(out_w), static_cast<size_t>(count),
                    static_cast<size_t>(kh), static_cast<size_t>(kw),
                    f + (n * hp + oy * p.stride_h) * frame_row, row_step, tap_row, packed,
                    y + row * out_w * c, &out);
        row += count;
      }
    });
    return;
  }
  // The input offset of each (output column, filter column), -1 in the
  // padding: built once per call, so the pointer rows need no bounds tests.
  Scratch<int64_t, 512> offsets(static_cast<size_t>(out_w * kw));
  int64_t* const col_off = offsets.data();
  for (int64_t ox = 0; ox < out_w; ++ox) {
    for (int kx = 0; kx < kw; ++kx) {
      const int64_t ix = ox * p.stride_w - p.pad_left + int64_t{kx} * p.dilation_w;
      col_off[ox * kw + kx] = ix < 0 || ix >= p.in_w ? -1 : ix * c;
    }
  }
  // Consecutive output rows are consecutive pixels of y, so one kernel call
  // takes a group of rows (up to kGroupPixels pixels, at least one row):
  // the kernel's per-call set-up (weights widened and interleaved, the
  // requantization constants) is paid once per group, not once per row, and
  // its multi-pixel steps run on across row ends.
  constexpr int64_t kGroupPixels = 128;
  const int64_t group_rows = std::max<int64_t>(1, kGroupPixels / std::max<int64_t>(1, out_w));
  ParallelItems(pool, rows, out_w * c * taps, [&](int64_t begin, int64_t end) {
    const int64_t group = std::min(group_rows, end - begin);
    Scratch<const int8_t*, kGroupPixels * 9> ptr_buffer(static_cast<size_t>(group * out_w * taps));
    Scratch<const int8_t*, 16> row_buffer(static_cast<size_t>(kh));
    const int8_t** const ptrs = ptr_buffer.data();
    const int8_t** const in_rows = row_buffer.data();
    for (int64_t row0 = begin; row0 < end; row0 += group) {
      const int64_t row_end = std::min(end, row0 + group);
      const int8_t** ptr = ptrs;
      for (int64_t row = row0; row < row_end; ++row) {
        const int64_t n = row / p.out_h, oy = row % p.out_h;
        const int8_t* image = x + n * p.in_h * p.in_w * c;
        // Per filter row: the input row it reads, or null in the padding.
        for (int ky = 0; ky < kh; ++ky) {
          const int64_t iy = oy * p.stride_h - p.pad_top + int64_t{ky} * p.dilation_h;
          in_rows[ky] = iy < 0 || iy >= p.in_h ? nullptr : image + iy * p.in_w * c;
        }
        const int64_t* off = col_off;
        // 3x3 with the three input rows inside: 9 sums per pixel.
        const int8_t* const r0 = in_rows[0];
        const int8_t* const r1 = kh == 3 ? in_rows[1] : nullptr;
        const int8_t* const r2 = kh == 3 ? in_rows[2] : nullptr;
        const bool rows_in = kh == 3 && kw == 3 && r0 != nullptr && r1 != nullptr && r2 != nullptr;
        for (int64_t ox = 0; ox < out_w; ++ox, off += kw) {
          if (rows_in && (off[0] | off[1] | off[2]) >= 0) {
            const int64_t o0 = off[0], o1 = off[1], o2 = off[2];
            ptr[0] = r0 + o0;
            ptr[1] = r0 + o1;
            ptr[2] = r0 + o2;
            ptr[3] = r1 + o0;
            ptr[4] = r1 + o1;
            ptr[5] = r1 + o2;
            ptr[6] = r2 + o0;
            ptr[7] = r2 + o1;
            ptr[8] = r2 + o2;
            ptr += 9;
            continue;
          }
          if (kw == 3 && (off[0] | off[1] | off[2]) >= 0) {  // 3 columns inside
            for (int ky = 0; ky < kh; ++ky, ptr += 3) {
              const int8_t* r = in_rows[ky];
              ptr[0] = r == nullptr ? zero : r + off[0];
              ptr[1] = r == nullptr ? zero : r + off[1];
              ptr[2] = r == nullptr ? zero : r + off[2];
            }
            continue;
          }
          for (int ky = 0; ky < kh; ++ky) {
            const int8_t* r = in_rows[ky];
            if (r == nullptr) {
              for (int kx = 0; kx < kw; ++kx) *ptr++ = zero;
              continue;
            }
            for (int kx = 0; kx < kw; ++kx) *ptr++ = off[kx] < 0 ? zero : r + off[kx];
          }
        }
      }
      kernel.fn(static_cast<size_t>(c), static_cast<size_t>((row_end - row0) * out_w),
                static_cast<size_t>(taps), ptrs, packed, y + row0 * out_w * c, &out);
    }
  });
}

}  // namespace gearshift
