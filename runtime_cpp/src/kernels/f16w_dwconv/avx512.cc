// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512F depthwise microkernel on fp16 weights: f32_dwconv_32c__avx512
// with the weight loads widened by zmm VCVTPH2PS (the masked tail through a
// 16-bit masked load, AVX-512BW). Compiled with AVX-512 flags by file name.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "kernels/f16w_dwconv/f16w_dwconv.h"

namespace gearshift {
namespace {

// Keeps NaN, like std::min(std::max(x, lo), hi).
inline __m512 ClampPs(__m512 x, __m512 lo, __m512 hi) {
  return _mm512_min_ps(hi, _mm512_max_ps(lo, x));
}

inline __m512 LoadHalf16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// kTaps > 0: the tap count, known at compile time; 0: `taps` at run time.
template <size_t kTaps>
void Dwconv(size_t channels, size_t taps, const float* const* input, const uint16_t* const* weights,
            const float* bias, float* output, float lo, float hi) {
  const size_t n = kTaps > 0 ? kTaps : taps;
  const __m512 vlo = _mm512_set1_ps(lo);
  const __m512 vhi = _mm512_set1_ps(hi);
  size_t c = 0;
  for (; c + 32 <= channels; c += 32) {
    __m512 acc0 = bias != nullptr ? _mm512_loadu_ps(bias + c) : _mm512_setzero_ps();
    __m512 acc1 = bias != nullptr ? _mm512_loadu_ps(bias + c + 16) : _mm512_setzero_ps();
    for (size_t t = 0; t < n; ++t) {
      acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(input[t] + c), LoadHalf16(weights[t] + c), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(input[t] + c + 16), LoadHalf16(weights[t] + c + 16),
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
                            _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, weights[t] + c)), acc);
    }
    _mm512_mask_storeu_ps(output + c, m, ClampPs(acc, vlo, vhi));
    c += left >= 16 ? 16 : left;
  }
}

}  // namespace

void f16w_dwconv_32c__avx512(size_t channels, size_t taps, const float* const* input,
                             const uint16_t* const* weights, const float* bias, float* output,
                             float lo, float hi) {
  ByTapCount(taps, [&](auto fixed) {
    Dwconv<decltype(fixed)::value>(channels, taps, input, weights, bias, output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
