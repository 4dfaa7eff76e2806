// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The AVX2 + FMA depthwise body, one definition for the fp32 kernel
// (f32_dwconv_16c__avx2) and the fp16-weight one (f16w_dwconv_16c__avx2): a
// Weights policy loads the weights (plain, or halves widened by VCVTPH2PS),
// and both run the same FMAs in the same order. 16 channels per step (two
// accumulators), then 8, then a masked tail, so any channel count runs
// without scalar code. Include only from files compiled with -mavx2 -mfma
// -mf16c (avx2.cc).
#ifndef GEARSHIFT_KERNELS_F32_DWCONV_AVX2_BODY_H_
#define GEARSHIFT_KERNELS_F32_DWCONV_AVX2_BODY_H_

#include <immintrin.h>

#include <cstddef>

namespace gearshift {
namespace avx2_dwconv {

// Keeps NaN, like std::min(std::max(x, lo), hi).
inline __m256 ClampPs(__m256 x, __m256 lo, __m256 hi) {
  return _mm256_min_ps(hi, _mm256_max_ps(lo, x));
}

// kTaps > 0: the tap count, known at compile time; 0: `taps` at run time.
// Weights::Load(p) brings 8 weights to a ymm, Weights::LoadPartial(p, n,
// mask) the first n (< 8; the others 0).
template <size_t kTaps, typename Weights, typename W>
void Dwconv(size_t channels, size_t taps, const float* const* input, const W* const* weights,
            const float* bias, float* output, float lo, float hi) {
  const size_t n = kTaps > 0 ? kTaps : taps;
  const __m256 vlo = _mm256_set1_ps(lo);
  const __m256 vhi = _mm256_set1_ps(hi);
  size_t c = 0;
  // 64 channels a step first: eight accumulators (of 16 ymm registers), so
  // eight independent FMA chains, and each tap's two pointers loaded once
  // per 64 channels. Every channel still sums bias, tap 0, tap 1, ... in
  // that order: the same bits.
  for (; c + 64 <= channels; c += 64) {
    __m256 acc[8];
    for (int j = 0; j < 8; ++j) {
      acc[j] = bias != nullptr ? _mm256_loadu_ps(bias + c + 8 * j) : _mm256_setzero_ps();
    }
    for (size_t t = 0; t < n; ++t) {
      const float* in = input[t] + c;
      const W* w = weights[t] + c;
      for (int j = 0; j < 8; ++j) {
        acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(in + 8 * j), Weights::Load(w + 8 * j), acc[j]);
      }
    }
    for (int j = 0; j < 8; ++j) {
      _mm256_storeu_ps(output + c + 8 * j, ClampPs(acc[j], vlo, vhi));
    }
  }
  for (; c + 16 <= channels; c += 16) {
    __m256 acc0 = bias != nullptr ? _mm256_loadu_ps(bias + c) : _mm256_setzero_ps();
    __m256 acc1 = bias != nullptr ? _mm256_loadu_ps(bias + c + 8) : _mm256_setzero_ps();
    for (size_t t = 0; t < n; ++t) {
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(input[t] + c), Weights::Load(weights[t] + c), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(input[t] + c + 8), Weights::Load(weights[t] + c + 8),
                             acc1);
    }
    _mm256_storeu_ps(output + c, ClampPs(acc0, vlo, vhi));
    _mm256_storeu_ps(output + c + 8, ClampPs(acc1, vlo, vhi));
  }
  for (; c + 8 <= channels; c += 8) {
    __m256 acc = bias != nullptr ? _mm256_loadu_ps(bias + c) : _mm256_setzero_ps();
    for (size_t t = 0; t < n; ++t) {
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(input[t] + c), Weights::Load(weights[t] + c), acc);
    }
    _mm256_storeu_ps(output + c, ClampPs(acc, vlo, vhi));
  }
  if (c < channels) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(channels - c)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 acc = bias != nullptr ? _mm256_maskload_ps(bias + c, mask) : _mm256_setzero_ps();
    for (size_t t = 0; t < n; ++t) {
      acc = _mm256_fmadd_ps(_mm256_maskload_ps(input[t] + c, mask),
                            Weights::LoadPartial(weights[t] + c, channels - c, mask), acc);
    }
    _mm256_maskstore_ps(output + c, mask, ClampPs(acc, vlo, vhi));
  }
}

}  // namespace avx2_dwconv
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_DWCONV_AVX2_BODY_H_
