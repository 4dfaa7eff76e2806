// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON fp32 GEMM microkernel, 4 rows x 8 columns (the body is neon_4x8.h,
// shared with the fp16-weight kernel); only called when getauxval reports
// NEON/ASIMD (dispatch.cc).
#if defined(__aarch64__) || defined(__ARM_NEON)

#include <arm_neon.h>

#include "kernels/f32_gemm/f32_gemm.h"
#include "kernels/f32_gemm/neon_4x8.h"

namespace gearshift {

void f32_gemm_4x8__neon(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                        const float* w, float* c, size_t c_stride, float lo, float hi) {
  neon_gemm::Gemm4x8(mr, nc, kc, ks, a, w, w + 8, c, c_stride, lo, hi,
                     [](const float* p, float32x4_t* wa, float32x4_t* wb) {
                       *wa = vld1q_f32(p);
                       *wb = vld1q_f32(p + 4);
                     });
}

}  // namespace gearshift

#endif  // defined(__aarch64__) || defined(__ARM_NEON)
