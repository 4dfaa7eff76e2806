// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 + FMA GEMM microkernel on fp16 weights, 6 rows x 16 columns:
// f32_gemm_6x16__avx2's body (f32_gemm/avx2_6x16.h) with each k-step's 16
// weights loaded as halves and widened by VCVTPH2PS (F16C), so it reads half
// the weight bytes and computes the same FMAs in the same order. Compiled
// with -mavx2 -mfma -mf16c (CMakeLists.txt, by file name); the avx2 ISA token
// includes F16C.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

#include "kernels/f16w_gemm/f16w_gemm.h"
#include "kernels/f32_gemm/avx2_6x16.h"

namespace gearshift {

void f16w_gemm_6x16__avx2(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                          const void* wp, float* c, size_t c_stride, float lo, float hi) {
  const auto* bias = static_cast<const float*>(wp);
  avx2_gemm::Gemm6x16(
      mr, nc, kc, ks, a, bias, reinterpret_cast<const uint16_t*>(bias + 16), c, c_stride, lo, hi,
      [](const uint16_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      });
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
