// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The AVX-512F depthwise body, one definition for the fp32 kernel
// (f32_dwconv_32c__avx512) and the fp16-weight one (f16w_dwconv_32c__avx512):
// a Weights policy loads the weights (plain, or halves widened by zmm
// VCVTPH2PS), and both run the same FMAs in the same order. 32 channels per
// step (two zmm accumulators), then 16, then a masked tail, so any channel
// count runs without scalar code. Include only from files compiled with
// AVX-512 flags (avx512.cc).
#ifndef GEARSHIFT_KERNELS_F32_DWCONV_AVX512_BODY_H_
#define GEARSHIFT_KERNELS_F32_DWCONV_AVX512_BODY_H_

#include <immintrin.h>

#include <cstddef>

namespace gearshift {
namespace avx512_dwconv {

// Keeps NaN, like std::min(std::max(x, lo), hi).
inline __m512 ClampPs(__m512 x, __m512 lo, __m512 hi) {
  return _mm512_min_ps(hi, _mm512_max_ps(lo, x));
}

// kTaps > 0: the tap count, known at compile time; 0: `taps` at run time.
// Weights::Load(p) brings 16 weights to a zmm, Weights::LoadMasked(m, p)
// the lanes of m (the others 0).
template <size_t kTaps, typename Weights, typename W>
void Dwconv(size_t channels, size_t taps, const float* const* input, const W* const* weights,
            const float* bias, float* output, float lo, float hi) {
  const size_t n = kTaps > 0 ? kTaps : taps;
  const __m512 vlo = _mm512_set1_ps(lo);
  const __m512 vhi = _mm512_set1_ps(hi);
  size_t c = 0;
  // 128 channels a step first: eight accumulators, so eight independent
  // FMA chains, and each tap's two pointers loaded once per 128 channels
  // (with 32 a step GCC reloaded all 18 per step: 16 GPRs). Every channel
  // still sums bias, tap 0, tap 1, ... in that order: the same bits.
  for (; c + 128 <= channels; c += 128) {
    __m512 acc[8];
    for (int j = 0; j < 8; ++j) {
      acc[j] = bias != nullptr ? _mm512_loadu_ps(bias + c + 16 * j) : _mm512_setzero_ps();
    }
    for (size_t t = 0; t < n; ++t) {
      const float* in = input[t] + c;
      const W* w = weights[t] + c;
      for (int j = 0; j < 8; ++j) {
        acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(in + 16 * j), Weights::Load(w + 16 * j), acc[j]);
      }
    }
    for (int j = 0; j < 8; ++j) {
      _mm512_storeu_ps(output + c + 16 * j, ClampPs(acc[j], vlo, vhi));
    }
  }
  for (; c + 32 <= channels; c += 32) {
    __m512 acc0 = bias != nullptr ? _mm512_loadu_ps(bias + c) : _mm512_setzero_ps();
    __m512 acc1 = bias != nullptr ? _mm512_loadu_ps(bias + c + 16) : _mm512_setzero_ps();
    for (size_t t = 0; t < n; ++t) {
      acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(input[t] + c), Weights::Load(weights[t] + c), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(input[t] + c + 16), Weights::Load(weights[t] + c + 16),
                             acc1);
    }
    _mm512_storeu_ps(output + c, ClampPs(acc0, vlo, vhi));
    _mm512_storeu_ps(output + c + 16, ClampPs(acc1, vlo, vhi));
  }
  while (c < channels) {
    const size_t left = channels - c;
    const __mmask16 m = static_cast<__mmask16>(left >= 16 ? 0xFFFFu : (1u << left) - 1u);
    __m512 acc = bias != nullptr ? _mm512_maskz_loadu_ps(m, bias + c) : _mm512_setzero_ps();
    for (size_t t = 0; t < n; ++t) {
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, input[t] + c),
                            Weights::LoadMasked(m, weights[t] + c), acc);
    }
    _mm512_mask_storeu_ps(output + c, m, ClampPs(acc, vlo, vhi));
    c += left >= 16 ? 16 : left;
  }
}

}  // namespace avx512_dwconv
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_DWCONV_AVX512_BODY_H_
