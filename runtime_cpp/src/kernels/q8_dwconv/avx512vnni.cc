// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512 int8 depthwise microkernel, 32 channels per tile (or two pixels of
// up to 16 channels: TwoPixels; four of up to 8: FourPixels), taps in pairs:
// the two taps' activations and weights are sign-extended to int16 and
// interleaved, and one VPDPWSSD (AVX512-VNNI) adds x[t] * w[t] + x[t+1] *
// w[t+1] per channel into an int32 lane, exactly (each product is at most
// 2^14). The interleave leaves channels in 4-wide groups alternating
// between two accumulators; one two-source permute per half restores the
// order before the 16-lane requantization (q8_requant/avx512.h). A last tile
// narrower than 32 is read and written with byte masks, so nothing past C
// is touched. Compiled with AVX-512 F/BW/VL/VNNI flags (by file name);
// dispatched only where cpuid reports them (ISA token avx512vnni).
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/q8_dwconv/q8_dwconv.h"
#include "kernels/q8_requant/avx512.h"

namespace gearshift {
namespace {

constexpr size_t kCt = 32;
constexpr size_t kMaxPairs = 13;  // 5x5 filters

inline __m512i LoadX(const int8_t* p, __mmask32 m) {
  return _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, p));
}

inline __m512i LoadW(const int8_t* p) {
  return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// The weights of taps t and t + 1 (zero past the last tap), widened and
// interleaved as the activations are: channels' pairs for the low and high
// unpack halves.
inline void WeightPair(const int8_t* wt, size_t t, size_t taps, __m512i* lo, __m512i* hi) {
  const __m512i w0 = LoadW(wt + t * kCt);
  const __m512i w1 = t + 1 < taps ? LoadW(wt + (t + 1) * kCt) : _mm512_setzero_si512();
  *lo = _mm512_unpacklo_epi16(w0, w1);
  *hi = _mm512_unpackhi_epi16(w0, w1);
}

// Every tap pair's widened weights (load_w(t): one tap's, as the kernel
// lays its pixels out), interleaved as WeightPair interleaves them.
template <typename LoadW>
inline void InterleaveTapPairs(const LoadW& load_w, size_t taps, __m512i* lo, __m512i* hi) {
  for (size_t q = 0; q < (taps + 1) / 2; ++q) {
    const __m512i w0 = load_w(2 * q);
    const __m512i w1 = 2 * q + 1 < taps ? load_w(2 * q + 1) : _mm512_setzero_si512();
    lo[q] = _mm512_unpacklo_epi16(w0, w1);
    hi[q] = _mm512_unpackhi_epi16(w0, w1);
  }
}

// At most 16 channels (MediaPipe's 16-channel stages): two pixels share the
// 32 lanes, pixel A in the low 16 int16 lanes and pixel B in the high 16,
// and the weights are the tile's first 16 repeated in both halves; the same
// unpack and permute then leave pixel A's 16 channels in one accumulator and
// pixel B's in the other, so no lane is computed for nothing. Also a wider
// layer's last tile of at most 16 channels (48 = 32 + 16, MobileNetV2's
// 144 = 4 x 32 + 16): channels c0 .. c0 + cn - 1 of pixels `stride` bytes
// apart, `w` that tile's block. Returns the pixels done (an even count).
size_t TwoPixels(size_t cn, size_t c0, size_t stride, size_t width, size_t taps,
                 const int8_t* const* input, const void* w, int8_t* output,
                 const Q8GemmOutput* out) {
  const size_t pairs = (taps + 1) / 2;
  if (pairs > kMaxPairs) return 0;
  const auto m = static_cast<__mmask16>((1u << cn) - 1);
  const auto* head = static_cast<const int32_t*>(w);
  const auto* wt = reinterpret_cast<const int8_t*>(head + 3 * kCt);
  const __m512i bias = _mm512_loadu_si512(head);
  const requant_avx512::Params r = requant_avx512::Load(
      head + kCt, head + 2 * kCt, out->c_zero_point, out->act_min, out->act_max);
  auto load_w = [&](size_t t) {
    return _mm512_cvtepi8_epi16(_mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(wt + t * kCt))));
  };
  __m512i wlo[kMaxPairs], whi[kMaxPairs];
  InterleaveTapPairs(load_w, taps, wlo, whi);
  const __m512i lo_idx = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i hi_idx = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  auto load_x = [&](const int8_t* a, const int8_t* b) {
    const __m256i ab = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_maskz_loadu_epi8(m, a)),
                                               _mm_maskz_loadu_epi8(m, b), 1);
    return _mm512_cvtepi8_epi16(ab);
  };
  size_t px = 0;
  for (; px + 2 <= width; px += 2) {
    const int8_t* const* in_a = input + px * taps;
    const int8_t* const* in_b = in_a + taps;
    __m512i acc_a = _mm512_setzero_si512();
    __m512i acc_b = _mm512_setzero_si512();
    for (size_t q = 0, t = 0; q < pairs; ++q, t += 2) {
      const __m512i x0 = load_x(in_a[t] + c0, in_b[t] + c0);
      const __m512i x1 =
          t + 1 < taps ? load_x(in_a[t + 1] + c0, in_b[t + 1] + c0) : _mm512_setzero_si512();
      acc_a = _mm512_dpwssd_epi32(acc_a, _mm512_unpacklo_epi16(x0, x1), wlo[q]);
      acc_b = _mm512_dpwssd_epi32(acc_b, _mm512_unpackhi_epi16(x0, x1), whi[q]);
    }
    const __m512i pa = _mm512_add_epi32(bias, _mm512_permutex2var_epi64(acc_a, lo_idx, acc_b));
    const __m512i pb = _mm512_add_epi32(bias, _mm512_permutex2var_epi64(acc_a, hi_idx, acc_b));
    int8_t* y = output + px * stride + c0;
    _mm_mask_storeu_epi8(y, m, requant_avx512::PackToI8(requant_avx512::Apply(pa, r)));
    _mm_mask_storeu_epi8(y + stride, m, requant_avx512::PackToI8(requant_avx512::Apply(pb, r)));
  }
  return px;
}

// At most 8 channels (a channel-pruned MobileNet's 8-channel expansion):
// four pixels share the 32 lanes, A, B, C, D in int16 lanes 0-7, 8-15,
// 16-23, 24-31 (each 128-bit lane one pixel), the weights the tile's first
// 8 repeated four times. Per 128-bit lane the unpacks leave channels 0-3 of
// that pixel in acc_a and 4-7 in acc_b, so the same two permutes as
// TwoPixels give A then B in one result and C then D in the other; the
// requantization's per-channel values are channels 0-7 twice. Returns the
// pixels done (a multiple of 4).
size_t FourPixels(size_t channels, size_t width, size_t taps, const int8_t* const* input,
                  const void* w, int8_t* output, const Q8GemmOutput* out) {
  const size_t pairs = (taps + 1) / 2;
  if (pairs > kMaxPairs) return 0;
  const auto m = static_cast<__mmask16>((1u << channels) - 1);
  const auto* head = static_cast<const int32_t*>(w);
  const auto* wt = reinterpret_cast<const int8_t*>(head + 3 * kCt);
  const __m512i twice = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
  const __m512i bias = _mm512_permutexvar_epi32(twice, _mm512_loadu_si512(head));
  int32_t mult[16], shift[16];
  for (int i = 0; i < 16; ++i) {
    mult[i] = head[kCt + (i & 7)];
    shift[i] = head[2 * kCt + (i & 7)];
  }
  const requant_avx512::Params r =
      requant_avx512::Load(mult, shift, out->c_zero_point, out->act_min, out->act_max);
  auto load_w = [&](size_t t) {  // the 8 weights in each 64-bit quarter, widened
    int64_t eight;
    std::memcpy(&eight, wt + t * kCt, sizeof(eight));
    return _mm512_cvtepi8_epi16(_mm256_set1_epi64x(eight));
  };
  __m512i wlo[kMaxPairs], whi[kMaxPairs];
  InterleaveTapPairs(load_w, taps, wlo, whi);
  const __m512i lo_idx = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i hi_idx = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  auto load_x = [&](const int8_t* a, const int8_t* b, const int8_t* c, const int8_t* d) {
    const __m128i ab = _mm_unpacklo_epi64(_mm_maskz_loadu_epi8(m, a), _mm_maskz_loadu_epi8(m, b));
    const __m128i cd = _mm_unpacklo_epi64(_mm_maskz_loadu_epi8(m, c), _mm_maskz_loadu_epi8(m, d));
    return _mm512_cvtepi8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(ab), cd, 1));
  };
  size_t px = 0;
  for (; px + 4 <= width; px += 4) {
    const int8_t* const* in_a = input + px * taps;
    const int8_t* const* in_b = in_a + taps;
    const int8_t* const* in_c = in_b + taps;
    const int8_t* const* in_d = in_c + taps;
    __m512i acc_a = _mm512_setzero_si512();
    __m512i acc_b = _mm512_setzero_si512();
    for (size_t q = 0, t = 0; q < pairs; ++q, t += 2) {
      const __m512i x0 = load_x(in_a[t], in_b[t], in_c[t], in_d[t]);
      const __m512i x1 = t + 1 < taps ? load_x(in_a[t + 1], in_b[t + 1], in_c[t + 1], in_d[t + 1])
                                      : _mm512_setzero_si512();
      acc_a = _mm512_dpwssd_epi32(acc_a, _mm512_unpacklo_epi16(x0, x1), wlo[q]);
      acc_b = _mm512_dpwssd_epi32(acc_b, _mm512_unpackhi_epi16(x0, x1), whi[q]);
    }
    const __m512i pab = _mm512_add_epi32(bias, _mm512_permutex2var_epi64(acc_a, lo_idx, acc_b));
    const __m512i pcd = _mm512_add_epi32(bias, _mm512_permutex2var_epi64(acc_a, hi_idx, acc_b));
    const __m128i yab = requant_avx512::PackToI8(requant_avx512::Apply(pab, r));
    const __m128i ycd = requant_avx512::PackToI8(requant_avx512::Apply(pcd, r));
    int8_t* y = output + px * channels;
    if (channels == 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y), yab);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 16), ycd);
    } else {
      _mm_mask_storeu_epi8(y, m, yab);
      _mm_mask_storeu_epi8(y + channels, m, _mm_srli_si128(yab, 8));
      _mm_mask_storeu_epi8(y + 2 * channels, m, ycd);
      _mm_mask_storeu_epi8(y + 3 * channels, m, _mm_srli_si128(ycd, 8));
    }
  }
  return px;
}

}  // namespace

void q8_dwconv_32c__avx512vnni(size_t channels, size_t width, size_t taps,
                               const int8_t* const* input, const void* w, int8_t* output,
                               const Q8GemmOutput* out) {
  if (channels <= 8 && width >= 4) {  // the last 1-3 pixels below
    const size_t done = FourPixels(channels, width, taps, input, w, output, out);
    input += done * taps;
    output += done * channels;
    width -= done;
  }
  if (channels <= 16 && width >= 2) {  // the last odd pixel below, alone
    const size_t done = TwoPixels(channels, 0, channels, width, taps, input, w, output, out);
    input += done * taps;
    output += done * channels;
    width -= done;
  }
  const size_t block = 3 * sizeof(int32_t) * kCt + taps * kCt;
  const auto* wb = static_cast<const char*>(w);
  const __m512i lo_idx = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i hi_idx = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  for (size_t c0 = 0; c0 < channels; c0 += kCt, wb += block) {
    const size_t cn = channels - c0 < kCt ? channels - c0 : kCt;
    const __mmask32 m = cn == kCt ? ~__mmask32{0} : static_cast<__mmask32>((1u << cn) - 1);
    const auto* head = reinterpret_cast<const int32_t*>(wb);
    const auto* wt = reinterpret_cast<const int8_t*>(head + 3 * kCt);
    const __m512i bias0 = _mm512_loadu_si512(head);
    const __m512i bias1 = _mm512_loadu_si512(head + 16);
    const requant_avx512::Params r0 = requant_avx512::Load(
        head + kCt, head + 2 * kCt, out->c_zero_point, out->act_min, out->act_max);
    const requant_avx512::Params r1 = requant_avx512::Load(
        head + kCt + 16, head + 2 * kCt + 16, out->c_zero_point, out->act_min, out->act_max);
    // The tile's weights, widened and interleaved by tap pair once per row
    // of pixels (up to kMaxPairs pairs; longer filters interleave per pixel).
    __m512i wlo[kMaxPairs], whi[kMaxPairs];
    const size_t pairs = (taps + 1) / 2;
    const bool cached = pairs <= kMaxPairs;
    for (size_t q = 0; cached && q < pairs; ++q) WeightPair(wt, 2 * q, taps, &wlo[q], &whi[q]);
    // A last tile of at most 16 channels: two pixels a step, then the odd one.
    const size_t px0 = c0 > 0 && cn <= 16 && width >= 2
                           ? TwoPixels(cn, c0, channels, width, taps, input, wb, output, out)
                           : 0;
    for (size_t px = px0; px < width; ++px) {
      const int8_t* const* in = input + px * taps;
      __m512i acc_a = _mm512_setzero_si512();
      __m512i acc_b = _mm512_setzero_si512();
      for (size_t q = 0, t = 0; q < pairs; ++q, t += 2) {
        const __m512i x0 = LoadX(in[t] + c0, m);
        const __m512i x1 = t + 1 < taps ? LoadX(in[t + 1] + c0, m) : _mm512_setzero_si512();
        __m512i wl, wh;
        if (cached) {
          wl = wlo[q];
          wh = whi[q];
        } else {
          WeightPair(wt, t, taps, &wl, &wh);
        }
        acc_a = _mm512_dpwssd_epi32(acc_a, _mm512_unpacklo_epi16(x0, x1), wl);
        acc_b = _mm512_dpwssd_epi32(acc_b, _mm512_unpackhi_epi16(x0, x1), wh);
      }
      const __m512i acc0 = _mm512_add_epi32(bias0, _mm512_permutex2var_epi64(acc_a, lo_idx, acc_b));
      const __m512i acc1 = _mm512_add_epi32(bias1, _mm512_permutex2var_epi64(acc_a, hi_idx, acc_b));
      const __m128i y0 = requant_avx512::PackToI8(requant_avx512::Apply(acc0, r0));
      const __m128i y1 = requant_avx512::PackToI8(requant_avx512::Apply(acc1, r1));
      int8_t* y = output + px * channels + c0;
      _mm256_mask_storeu_epi8(y, m, _mm256_set_m128i(y1, y0));
    }
  }
}

// The direct form (Q8DwconvRowsFn): an output row of a stride-1 layer is
// out_w * C contiguous bytes, and so is each tap's input for it, so the row
// is computed in runs of 32 bytes whatever the pixels and channels in them.
// Lane j of the run starting at byte b is channel (b + j) % C; b steps by
// 32, so the runs cycle through C / gcd(C, 32) lane patterns (1 where C
// divides 32; 3 for 12, 24 or 48 channels), each with its weights and
// requantization constants gathered from the packed channel tiles once per
// call (Q8DwconvRowsPatterns). Per run and tap one 32-byte load (masked in
// a row's last run), then the pointer form's widen / interleave / VPDPWSSD /
// permute / requantization: no tap pointers, no merging of per-pixel loads.
namespace {

constexpr size_t kRowsMaxPatterns = 8;  // q8_dwconv.h: kQ8DwconvRowsMaxPatterns

struct RowsPattern {
  __m512i wlo[kMaxPairs], whi[kMaxPairs];
  __m512i bias[2];
  requant_avx512::Params r[2];
};

size_t Gcd(size_t a, size_t b) {
  while (b != 0) {
    const size_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// The lane patterns of C channels (q8_dwconv.h: Q8DwconvRowsChannels
// admits at most kRowsMaxPatterns).
size_t Patterns(size_t channels) { return channels / Gcd(channels, kCt); }

}  // namespace

void q8_dwconv_rows__avx512vnni(size_t channels, size_t out_w, size_t out_rows, size_t kh,
                                size_t kw, const int8_t* input, size_t row_step,
                                size_t tap_row_bytes, const void* w, int8_t* output,
                                const Q8GemmOutput* out) {
  const size_t taps = kh * kw;
  const size_t pairs = (taps + 1) / 2;
  const size_t patterns = Patterns(channels);
  const size_t block = 3 * sizeof(int32_t) * kCt + taps * kCt;
  const auto* w0 = static_cast<const char*>(w);
  const char* w1 = channels > kCt ? w0 + block : w0;  // the second tile, where there is one
  const auto* h0 = reinterpret_cast<const int32_t*>(w0);
  const auto* h1 = reinterpret_cast<const int32_t*>(w1);
  alignas(64) RowsPattern pat[kRowsMaxPatterns];
  for (size_t p = 0; p < patterns; ++p) {
    RowsPattern& rp = pat[p];
    const size_t start = (p * kCt) % channels;  // the channel in lane 0
    // Lane j: channel c = (start + j) % C, element c of [tile 0 | tile 1].
    // (Counted, not divided: a division per lane cost more than the layer.)
    alignas(64) int16_t lane16[32];
    alignas(64) int32_t lane32[32];
    for (size_t j = 0, c = start; j < 32; ++j, c = c + 1 == channels ? 0 : c + 1) {
      lane16[j] = static_cast<int16_t>(c);
      lane32[j] = static_cast<int32_t>(c);
    }
    const __m512i idx16 = _mm512_load_si512(lane16);
    auto load_w = [&](size_t t) {
      return _mm512_permutex2var_epi16(
          LoadW(reinterpret_cast<const int8_t*>(h0 + 3 * kCt) + t * kCt), idx16,
          LoadW(reinterpret_cast<const int8_t*>(h1 + 3 * kCt) + t * kCt));
    };
    InterleaveTapPairs(load_w, taps, rp.wlo, rp.whi);
    for (size_t half = 0; half < 2; ++half) {
      const __m512i idx = _mm512_load_si512(lane32 + 16 * half);
      const __mmask16 second = _mm512_cmpge_epi32_mask(idx, _mm512_set1_epi32(kCt));
      // 32 int32 values of a tile (offset 0: bias, kCt: multipliers, 2 kCt:
      // shifts), the lanes' channels picked from both tiles.
      auto gather = [&](size_t offset) {
        const __m512i a = _mm512_permutex2var_epi32(_mm512_loadu_si512(h0 + offset), idx,
                                                    _mm512_loadu_si512(h0 + offset + 16));
        const __m512i b = _mm512_permutex2var_epi32(_mm512_loadu_si512(h1 + offset), idx,
                                                    _mm512_loadu_si512(h1 + offset + 16));
        return _mm512_mask_blend_epi32(second, a, b);
      };
      rp.bias[half] = gather(0);
      alignas(64) int32_t mult[16], shift[16];
      _mm512_store_si512(mult, gather(kCt));
      _mm512_store_si512(shift, gather(2 * kCt));
      rp.r[half] = requant_avx512::Load(mult, shift, out->c_zero_point, out->act_min, out->act_max);
    }
  }
  size_t off[2 * kMaxPairs];  // each tap's offset from the run's start
  for (size_t ky = 0, t = 0; ky < kh; ++ky) {
    for (size_t kx = 0; kx < kw; ++kx, ++t) off[t] = ky * tap_row_bytes + kx * channels;
  }
  const __m512i lo_idx = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i hi_idx = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  const size_t row_bytes = out_w * channels;
  for (size_t row = 0; row < out_rows; ++row) {
    const int8_t* in = input + row * row_step;
    int8_t* y = output + row * row_bytes;
    size_t p = 0;
    for (size_t b = 0; b < row_bytes; b += kCt) {
      const RowsPattern& rp = pat[p];
      p = p + 1 == patterns ? 0 : p + 1;
      const size_t n = row_bytes - b;
      const __mmask32 m = n >= kCt ? ~__mmask32{0} : static_cast<__mmask32>((1u << n) - 1);
      __m512i acc_a = _mm512_setzero_si512();
      __m512i acc_b = _mm512_setzero_si512();
      for (size_t q = 0, t = 0; q < pairs; ++q, t += 2) {
        const __m512i x0 = LoadX(in + off[t] + b, m);
        const __m512i x1 = t + 1 < taps ? LoadX(in + off[t + 1] + b, m) : _mm512_setzero_si512();
        acc_a = _mm512_dpwssd_epi32(acc_a, _mm512_unpacklo_epi16(x0, x1), rp.wlo[q]);
        acc_b = _mm512_dpwssd_epi32(acc_b, _mm512_unpackhi_epi16(x0, x1), rp.whi[q]);
      }
      const __m512i acc0 =
          _mm512_add_epi32(rp.bias[0], _mm512_permutex2var_epi64(acc_a, lo_idx, acc_b));
      const __m512i acc1 =
          _mm512_add_epi32(rp.bias[1], _mm512_permutex2var_epi64(acc_a, hi_idx, acc_b));
      const __m128i y0 = requant_avx512::PackToI8(requant_avx512::Apply(acc0, rp.r[0]));
      const __m128i y1 = requant_avx512::PackToI8(requant_avx512::Apply(acc1, rp.r[1]));
      _mm256_mask_storeu_epi8(y + b, m, _mm256_set_m128i(y1, y0));
    }
  }
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
