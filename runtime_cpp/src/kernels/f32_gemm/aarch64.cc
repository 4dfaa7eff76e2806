// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON fp32 GEMM microkernel, 8 rows x 8 columns: 16 q-register
// accumulators, 8 registers holding four k-steps of A (one per row) and two
// weight vectors, 26 of AArch64's 32. Each weight pair is multiplied by a
// lane of the A registers (FMLA by element), so four k-steps cost 8 loads of
// A instead of 32 broadcasts: about 80 instructions per 256 multiply-adds,
// against 112 for the 4x8 kernel armv7 has to use (16 q registers). The file
// name is not an ISA flag: AArch64 always has these instructions.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>

#include "kernels/f32_gemm/f32_gemm.h"

namespace gearshift {

void f32_gemm_8x8__aarch64(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                           const float* w, float* c, size_t c_stride, float lo, float hi) {
  float32x4_t acc0a = vld1q_f32(w), acc0b = vld1q_f32(w + 4);
  float32x4_t acc1a = acc0a, acc1b = acc0b, acc2a = acc0a, acc2b = acc0b;
  float32x4_t acc3a = acc0a, acc3b = acc0b, acc4a = acc0a, acc4b = acc0b;
  float32x4_t acc5a = acc0a, acc5b = acc0b, acc6a = acc0a, acc6b = acc0b;
  float32x4_t acc7a = acc0a, acc7b = acc0b;
  w += 8;
  for (size_t t = 0; t < ks; ++t, a += 8) {
    // Rows past mr repeat the last real one: computed, never stored.
    const float* a0 = a[0];
    const float* a1 = mr > 1 ? a[1] : a0;
    const float* a2 = mr > 2 ? a[2] : a1;
    const float* a3 = mr > 3 ? a[3] : a2;
    const float* a4 = mr > 4 ? a[4] : a3;
    const float* a5 = mr > 5 ? a[5] : a4;
    const float* a6 = mr > 6 ? a[6] : a5;
    const float* a7 = mr > 7 ? a[7] : a6;
    size_t k = 0;
#define GS_LANE(l)                             \
  {                                            \
    const float32x4_t wa = vld1q_f32(w);       \
    const float32x4_t wb = vld1q_f32(w + 4);   \
    w += 8;                                    \
    acc0a = vfmaq_laneq_f32(acc0a, wa, x0, l); \
    acc0b = vfmaq_laneq_f32(acc0b, wb, x0, l); \
    acc1a = vfmaq_laneq_f32(acc1a, wa, x1, l); \
    acc1b = vfmaq_laneq_f32(acc1b, wb, x1, l); \
    acc2a = vfmaq_laneq_f32(acc2a, wa, x2, l); \
    acc2b = vfmaq_laneq_f32(acc2b, wb, x2, l); \
    acc3a = vfmaq_laneq_f32(acc3a, wa, x3, l); \
    acc3b = vfmaq_laneq_f32(acc3b, wb, x3, l); \
    acc4a = vfmaq_laneq_f32(acc4a, wa, x4, l); \
    acc4b = vfmaq_laneq_f32(acc4b, wb, x4, l); \
    acc5a = vfmaq_laneq_f32(acc5a, wa, x5, l); \
    acc5b = vfmaq_laneq_f32(acc5b, wb, x5, l); \
    acc6a = vfmaq_laneq_f32(acc6a, wa, x6, l); \
    acc6b = vfmaq_laneq_f32(acc6b, wb, x6, l); \
    acc7a = vfmaq_laneq_f32(acc7a, wa, x7, l); \
    acc7b = vfmaq_laneq_f32(acc7b, wb, x7, l); \
  }
#define GS_BARRIER __asm__ volatile("" ::: "memory");
    for (; k + 4 <= kc; k += 4) {
      const float32x4_t x0 = vld1q_f32(a0 + k), x1 = vld1q_f32(a1 + k);
      const float32x4_t x2 = vld1q_f32(a2 + k), x3 = vld1q_f32(a3 + k);
      const float32x4_t x4 = vld1q_f32(a4 + k), x5 = vld1q_f32(a5 + k);
      const float32x4_t x6 = vld1q_f32(a6 + k), x7 = vld1q_f32(a7 + k);
      // The empty asm statements stop GCC from hoisting all eight weight
      // loads above the FMAs, which needs more than 32 registers and spills.
      GS_LANE(0) GS_BARRIER GS_LANE(1) GS_BARRIER GS_LANE(2) GS_BARRIER GS_LANE(3)
    }
    for (; k < kc; ++k) {  // the last kc % 4 steps, one lane each
      const float32x4_t x0 = vld1q_dup_f32(a0 + k), x1 = vld1q_dup_f32(a1 + k);
      const float32x4_t x2 = vld1q_dup_f32(a2 + k), x3 = vld1q_dup_f32(a3 + k);
      const float32x4_t x4 = vld1q_dup_f32(a4 + k), x5 = vld1q_dup_f32(a5 + k);
      const float32x4_t x6 = vld1q_dup_f32(a6 + k), x7 = vld1q_dup_f32(a7 + k);
      GS_LANE(0)
    }
#undef GS_LANE
#undef GS_BARRIER
  }

  const float32x4_t vlo = vdupq_n_f32(lo);
  const float32x4_t vhi = vdupq_n_f32(hi);
  const float32x4_t rows[8][2] = {{acc0a, acc0b}, {acc1a, acc1b}, {acc2a, acc2b}, {acc3a, acc3b},
                                  {acc4a, acc4b}, {acc5a, acc5b}, {acc6a, acc6b}, {acc7a, acc7b}};
  for (size_t r = 0; r < mr; ++r) {
    float* cr = c + r * c_stride;
    // NaN stays NaN (NEON max/min propagate it), like the reference.
    const float32x4_t va = vminq_f32(vmaxq_f32(rows[r][0], vlo), vhi);
    const float32x4_t vb = vminq_f32(vmaxq_f32(rows[r][1], vlo), vhi);
    if (nc == 8) {
      vst1q_f32(cr, va);
      vst1q_f32(cr + 4, vb);
    } else {
      float tmp[8];
      vst1q_f32(tmp, va);
      vst1q_f32(tmp + 4, vb);
      std::memcpy(cr, tmp, nc * sizeof(float));
    }
  }
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
