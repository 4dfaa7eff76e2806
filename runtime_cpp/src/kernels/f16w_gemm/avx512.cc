// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512F GEMM microkernel on fp16 weights, 8 rows x 32 columns:
// f32_gemm_8x32__avx512's body (f32_gemm/avx512_8x32.h) with each k-step's
// 32 weights loaded as halves (one 64-byte line) and widened by two zmm
// VCVTPH2PS, the same FMAs in the same order. Compiled with AVX-512 flags by
// file name (CMakeLists.txt).
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

#include "kernels/f16w_gemm/f16w_gemm.h"
#include "kernels/f32_gemm/avx512_8x32.h"

namespace gearshift {

void f16w_gemm_8x32__avx512(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                            const void* wp, float* c, size_t c_stride, float lo, float hi) {
  const auto* bias = static_cast<const float*>(wp);
  avx512_gemm::Gemm8x32(
      mr, nc, kc, ks, a, bias, reinterpret_cast<const uint16_t*>(bias + 32), c, c_stride, lo, hi,
      [](const uint16_t* p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
      });
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
