// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 + FMA depthwise microkernel on fp16 weights: f32_dwconv_16c__avx2's
// body (f32_dwconv/avx2_body.h) with the weight loads widened by VCVTPH2PS (F16C). The masked tail
// reads its halves through a zero-padded stack copy (no 16-bit masked load on AVX2). Compiled with
// -mavx2 -mfma -mf16c by file name.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstring>

#include "kernels/f16w_dwconv/f16w_dwconv.h"
#include "kernels/f32_dwconv/avx2_body.h"

namespace gearshift {
namespace {

struct F16Weights {
  static __m256 Load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // The first n (< 8) halves, widened; the other lanes 0.
  static __m256 LoadPartial(const uint16_t* p, size_t n, __m256i) {
    uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(tmp, p, n * sizeof(uint16_t));
    return Load(tmp);
  }
};

}  // namespace

void f16w_dwconv_16c__avx2(size_t channels, size_t taps, const float* const* input,
                           const uint16_t* const* weights, const float* bias, float* output,
                           float lo, float hi) {
  ByTapCount(taps, [&](auto fixed) {
    avx2_dwconv::Dwconv<decltype(fixed)::value, F16Weights>(channels, taps, input, weights, bias,
                                                            output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
