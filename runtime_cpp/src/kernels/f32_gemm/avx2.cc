// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 + FMA fp32 GEMM microkernel, 6 rows x 16 columns (the body is
// avx2_6x16.h, shared with the fp16-weight kernel). Compiled with -mavx2
// -mfma -mf16c (CMakeLists.txt, by file name) and only called when cpuid
// reports AVX2 and FMA (dispatch.cc).
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "kernels/f32_gemm/avx2_6x16.h"
#include "kernels/f32_gemm/f32_gemm.h"

namespace gearshift {

void f32_gemm_6x16__avx2(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                         const float* w, float* c, size_t c_stride, float lo, float hi) {
  avx2_gemm::Gemm6x16(mr, nc, kc, ks, a, w, w + 16, c, c_stride, lo, hi,
                      [](const float* p) { return _mm256_loadu_ps(p); });
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
