// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 + FMA depthwise microkernel on fp16 weights: f32_dwconv_16c__avx2
// with the weight loads widened by VCVTPH2PS (F16C). The masked tail reads
// its halves through a zero-padded stack copy (no 16-bit masked load on
// AVX2). Compiled with -mavx2 -mfma -mf16c by file name.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstring>

#include "kernels/f16w_dwconv/f16w_dwconv.h"

namespace gearshift {
namespace {

// Keeps NaN, like std::min(std::max(x, lo), hi).
inline __m256 ClampPs(__m256 x, __m256 lo, __m256 hi) {
  return _mm256_min_ps(hi, _mm256_max_ps(lo, x));
}

inline __m256 LoadHalf8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// The first n (< 8) halves at p, widened; the other lanes 0.
inline __m256 LoadHalfPartial(const uint16_t* p, size_t n) {
  uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(tmp, p, n * sizeof(uint16_t));
  return LoadHalf8(tmp);
}

// kTaps > 0: the tap count, known at compile time; 0: `taps` at run time.
template <size_t kTaps>
void Dwconv(size_t channels, size_t taps, const float* const* input, const uint16_t* const* weights,
            const float* bias, float* output, float lo, float hi) {
  const size_t n = kTaps > 0 ? kTaps : taps;
  const __m256 vlo = _mm256_set1_ps(lo);
  const __m256 vhi = _mm256_set1_ps(hi);
  size_t c = 0;
  for (; c + 16 <= channels; c += 16) {
    __m256 acc0 = bias != nullptr ? _mm256_loadu_ps(bias + c) : _mm256_setzero_ps();
    __m256 acc1 = bias != nullptr ? _mm256_loadu_ps(bias + c + 8) : _mm256_setzero_ps();
    for (size_t t = 0; t < n; ++t) {
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(input[t] + c), LoadHalf8(weights[t] + c), acc0);
      acc1 =
          _mm256_fmadd_ps(_mm256_loadu_ps(input[t] + c + 8), LoadHalf8(weights[t] + c + 8), acc1);
    }
    _mm256_storeu_ps(output + c, ClampPs(acc0, vlo, vhi));
    _mm256_storeu_ps(output + c + 8, ClampPs(acc1, vlo, vhi));
  }
  for (; c + 8 <= channels; c += 8) {
    __m256 acc = bias != nullptr ? _mm256_loadu_ps(bias + c) : _mm256_setzero_ps();
    for (size_t t = 0; t < n; ++t) {
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(input[t] + c), LoadHalf8(weights[t] + c), acc);
    }
    _mm256_storeu_ps(output + c, ClampPs(acc, vlo, vhi));
  }
  if (c < channels) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(channels - c)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 acc = bias != nullptr ? _mm256_maskload_ps(bias + c, mask) : _mm256_setzero_ps();
    for (size_t t = 0; t < n; ++t) {
      acc = _mm256_fmadd_ps(_mm256_maskload_ps(input[t] + c, mask),
                            LoadHalfPartial(weights[t] + c, channels - c), acc);
    }
    _mm256_maskstore_ps(output + c, mask, ClampPs(acc, vlo, vhi));
  }
}

}  // namespace

void f16w_dwconv_16c__avx2(size_t channels, size_t taps, const float* const* input,
                           const uint16_t* const* weights, const float* bias, float* output,
                           float lo, float hi) {
  ByTapCount(taps, [&](auto fixed) {
    Dwconv<decltype(fixed)::value>(channels, taps, input, weights, bias, output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
