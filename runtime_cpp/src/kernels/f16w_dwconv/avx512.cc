// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512F depthwise microkernel on fp16 weights: f32_dwconv_32c__avx512's
// body (f32_dwconv/avx512_body.h) with the weight loads widened by zmm VCVTPH2PS (the masked tail
// through a 16-bit masked load, AVX-512BW). Compiled with AVX-512 flags by file name.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

#include "kernels/f16w_dwconv/f16w_dwconv.h"
#include "kernels/f32_dwconv/avx512_body.h"

namespace gearshift {
namespace {

struct F16Weights {
  static __m512 Load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 LoadMasked(__mmask16 m, const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};

}  // namespace

void f16w_dwconv_32c__avx512(size_t channels, size_t taps, const float* const* input,
                             const uint16_t* const* weights, const float* bias, float* output,
                             float lo, float hi) {
  ByTapCount(taps, [&](auto fixed) {
    avx512_dwconv::Dwconv<decltype(fixed)::value, F16Weights>(channels, taps, input, weights, bias,
                                                              output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
