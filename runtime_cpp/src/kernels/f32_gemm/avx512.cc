// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512F fp32 GEMM microkernels. 8 rows x 32 columns (the body is
// avx512_8x32.h, shared with the fp16-weight kernel): twice the AVX2
// kernel's multiply-adds per instruction. 12 rows x 16 columns: the
// same per-element FMA order on one weight vector, for layers of at most 16
// output channels (MediaPipe's 16-channel stages), which fill only half of
// an 8 x 32 tile; the plan picks it per layer (KernelTable::f32_gemm_n16).
// Partial column tiles store through a lane mask. Compiled with AVX-512
// flags by file name (CMakeLists.txt) and only called when cpuid reports
// AVX-512 F/BW/VL.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "kernels/f32_gemm/avx512_8x32.h"
#include "kernels/f32_gemm/f32_gemm.h"

namespace gearshift {

using avx512_gemm::ClampPs;
using avx512_gemm::LaneMask;

void f32_gemm_8x32__avx512(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                           const float* w, float* c, size_t c_stride, float lo, float hi) {
  avx512_gemm::Gemm8x32(mr, nc, kc, ks, a, w, w + 32, c, c_stride, lo, hi,
                        [](const float* p) { return _mm512_loadu_ps(p); });
}

void f32_gemm_12x16__avx512(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                            const float* w, float* c, size_t c_stride, float lo, float hi) {
  constexpr int kRows = 12;
  __m512 acc[kRows];
  acc[0] = _mm512_loadu_ps(w);
  for (int r = 1; r < kRows; ++r) acc[r] = acc[0];
  w += 16;
  for (size_t t = 0; t < ks; ++t, a += kRows) {
    const float* ar[kRows];
    for (int r = 0; r < kRows; ++r) ar[r] = a[r];  // all MR rows are filled
    for (size_t k = 0; k < kc; ++k) {
      const __m512 wv = _mm512_loadu_ps(w);
      w += 16;
      for (int r = 0; r < kRows; ++r)
        acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(ar[r][k]), wv, acc[r]);
    }
  }
  const __m512 vlo = _mm512_set1_ps(lo);
  const __m512 vhi = _mm512_set1_ps(hi);
  const __mmask16 m = LaneMask(nc);
  for (size_t r = 0; r < mr; ++r) {
    _mm512_mask_storeu_ps(c + r * c_stride, m, ClampPs(acc[r], vlo, vhi));
  }
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
