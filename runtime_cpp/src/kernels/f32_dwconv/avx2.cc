// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 + FMA fp32 depthwise microkernel (the body is avx2_body.h, shared
// with the fp16-weight kernel). Compiled with -mavx2 -mfma -mf16c by file
// name.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "kernels/f32_dwconv/avx2_body.h"
#include "kernels/f32_dwconv/f32_dwconv.h"

namespace gearshift {
namespace {

struct F32Weights {
  static __m256 Load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256 LoadPartial(const float* p, size_t, __m256i mask) {
    return _mm256_maskload_ps(p, mask);
  }
};

}  // namespace

void f32_dwconv_16c__avx2(size_t channels, size_t taps, const float* const* input,
                          const float* const* weights, const float* bias, float* output, float lo,
                          float hi) {
  ByTapCount(taps, [&](auto fixed) {
    avx2_dwconv::Dwconv<decltype(fixed)::value, F32Weights>(channels, taps, input, weights, bias,
                                                            output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
