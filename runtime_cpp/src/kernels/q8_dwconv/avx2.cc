// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 int8 depthwise microkernel, 16 channels per tile, taps in pairs: the
// two taps' activations and weights are sign-extended to int16 and
// interleaved, so one _mm256_madd_epi16 adds x[t] * w[t] + x[t+1] * w[t+1]
// per channel into an int32 lane, exactly (each product is at most 2^14).
// The interleave puts channels 0-3/8-11 in one accumulator and 4-7/12-15 in
// the other; one lane permute restores the order before the in-register
// requantization (q8_requant/avx2.h). A last tile narrower than 16 reads
// its activations through a zeroed buffer, so nothing past C is read.
// Compiled with -mavx2 (by file name); dispatched only where cpuid reports
// AVX2.
#if defined(__x86_64__) || defined(_M_X64)

#include "kernels/q8_requant/avx2.h"

#include <immintrin.h>

#include <cstring>

#include "kernels/q8_dwconv/q8_dwconv.h"

namespace gearshift {
namespace {

constexpr size_t kCt = 16;
constexpr size_t kMaxPairs = 13;  // 5x5 filters

inline __m256i LoadX(const int8_t* p, size_t n) {
  if (n == kCt) return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  alignas(16) int8_t tmp[kCt] = {};
  std::memcpy(tmp, p, n);
  return _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp)));
}

inline __m256i LoadW(const int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// The weights of taps t and t + 1 (zero past the last tap), widened and
// interleaved as the activations are: channels' pairs for the low and high
// unpack halves.
inline void WeightPair(const int8_t* wt, size_t t, size_t taps, __m256i* lo, __m256i* hi) {
  const __m256i w0 = LoadW(wt + t * kCt);
  const __m256i w1 = t + 1 < taps ? LoadW(wt + (t + 1) * kCt) : _mm256_setzero_si256();
  *lo = _mm256_unpacklo_epi16(w0, w1);
  *hi = _mm256_unpackhi_epi16(w0, w1);
}

}  // namespace

void q8_dwconv_16c__avx2(size_t channels, size_t width, size_t taps, const int8_t* const* input,
                         const void* w, int8_t* output, const Q8GemmOutput* out) {
  const size_t block = 3 * sizeof(int32_t) * kCt + taps * kCt;
  const auto* wb = static_cast<const char*>(w);
  // Channel tiles outside, pixels inside: each tile's requantization
  // constants are loaded once per row of pixels.
  for (size_t c0 = 0; c0 < channels; c0 += kCt, wb += block) {
    const size_t cn = channels - c0 < kCt ? channels - c0 : kCt;
    const auto* head = reinterpret_cast<const int32_t*>(wb);
    const auto* wt = reinterpret_cast<const int8_t*>(head + 3 * kCt);
    const __m256i bias0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(head));
    const __m256i bias1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(head + 8));
    const requant_avx2::Params r0 = requant_avx2::Load(
        head + kCt, head + 2 * kCt, out->c_zero_point, out->act_min, out->act_max);
    const requant_avx2::Params r1 = requant_avx2::Load(
        head + kCt + 8, head + 2 * kCt + 8, out->c_zero_point, out->act_min, out->act_max);
    // The tile's weights, widened and interleaved by tap pair once per row
    // of pixels (up to kMaxPairs pairs; longer filters interleave per pixel).
    __m256i wlo[kMaxPairs], whi[kMaxPairs];
    const size_t pairs = (taps + 1) / 2;
    const bool cached = pairs <= kMaxPairs;
    for (size_t q = 0; cached && q < pairs; ++q) WeightPair(wt, 2 * q, taps, &wlo[q], &whi[q]);
    for (size_t px = 0; px < width; ++px) {
      const int8_t* const* in = input + px * taps;
      __m256i acc_a = _mm256_setzero_si256();  // channels 0-3 | 8-11
      __m256i acc_b = _mm256_setzero_si256();  // channels 4-7 | 12-15
      for (size_t q = 0, t = 0; q < pairs; ++q, t += 2) {
        const __m256i x0 = LoadX(in[t] + c0, cn);
        const __m256i x1 = t + 1 < taps ? LoadX(in[t + 1] + c0, cn) : _mm256_setzero_si256();
        __m256i wl, wh;
        if (cached) {
          wl = wlo[q];
          wh = whi[q];
        } else {
          WeightPair(wt, t, taps, &wl, &wh);
        }
        acc_a = _mm256_add_epi32(acc_a, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), wl));
        acc_b = _mm256_add_epi32(acc_b, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), wh));
      }
      const __m256i acc0 = _mm256_add_epi32(bias0, _mm256_permute2x128_si256(acc_a, acc_b, 0x20));
      const __m256i acc1 = _mm256_add_epi32(bias1, _mm256_permute2x128_si256(acc_a, acc_b, 0x31));
      const __m128i lo = requant_avx2::PackToI8(requant_avx2::Apply(acc0, r0));
      const __m128i hi = requant_avx2::PackToI8(requant_avx2::Apply(acc1, r1));
      int8_t* y = output + px * channels + c0;
      if (cn == kCt) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y), _mm_unpacklo_epi64(lo, hi));
      } else {
        requant_avx2::StoreN(y, lo, cn < 8 ? cn : 8);
        if (cn > 8) requant_avx2::StoreN(y + 8, hi, cn - 8);
      }
    }
  }
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
