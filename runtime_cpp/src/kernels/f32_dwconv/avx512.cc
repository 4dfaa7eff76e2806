// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512F fp32 depthwise microkernel (the body is avx512_body.h, shared
// with the fp16-weight kernel). Interior pixels of 3x3 and 5x5 filters (all 9
// or 25 taps inside the input, the common case) take a copy of the loop with
// the tap count fixed at compile time, which the compiler unrolls, keeping
// the tap pointers in registers. Compiled with AVX-512 flags by file name.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "kernels/f32_dwconv/avx512_body.h"
#include "kernels/f32_dwconv/f32_dwconv.h"

namespace gearshift {
namespace {

struct F32Weights {
  static __m512 Load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 LoadMasked(__mmask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
};

}  // namespace

void f32_dwconv_32c__avx512(size_t channels, size_t taps, const float* const* input,
                            const float* const* weights, const float* bias, float* output, float lo,
                            float hi) {
  ByTapCount(taps, [&](auto fixed) {
    avx512_dwconv::Dwconv<decltype(fixed)::value, F32Weights>(channels, taps, input, weights, bias,
                                                              output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
