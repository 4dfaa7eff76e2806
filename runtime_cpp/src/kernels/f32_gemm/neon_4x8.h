// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The NEON 4 x 8 GEMM body, one definition for the fp32 kernel
// (f32_gemm_4x8__neon) and the fp16-weight one (f16w_gemm_4x8__neon):
// `load` brings the 8 weights of a k-step (type W) to two q registers (plain
// loads, or halves widened by FCVTL), the bias (NR floats) starts every sum,
// and both run the same multiply-adds in the same order. 8 q-register
// accumulators, two weight vectors and a broadcast of A per step fit both
// AArch64 (32 q registers) and armv7 (16). Fused multiply-add where the
// target has it (AArch64, VFPv4), vmla otherwise. Include only from NEON
// translation units (neon.cc).
#ifndef GEARSHIFT_KERNELS_F32_GEMM_NEON_4X8_H_
#define GEARSHIFT_KERNELS_F32_GEMM_NEON_4X8_H_

#include <arm_neon.h>

#include <cstddef>
#include <cstring>

namespace gearshift {
namespace neon_gemm {

inline float32x4_t Fma(float32x4_t acc, float32x4_t a, float32x4_t b) {
#if defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
  return vfmaq_f32(acc, a, b);
#else
  return vmlaq_f32(acc, a, b);
#endif
}

// Clamp to [lo, hi]; NaN stays NaN (NEON max/min propagate it).
inline float32x4_t ClampQ(float32x4_t x, float32x4_t lo, float32x4_t hi) {
  return vminq_f32(vmaxq_f32(x, lo), hi);
}

template <typename W, typename Load8>
inline void Gemm4x8(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                    const float* bias, const W* w, float* c, size_t c_stride, float lo, float hi,
                    Load8 load) {
  float32x4_t acc0a = vld1q_f32(bias);
  float32x4_t acc0b = vld1q_f32(bias + 4);
  float32x4_t acc1a = acc0a, acc1b = acc0b;
  float32x4_t acc2a = acc0a, acc2b = acc0b;
  float32x4_t acc3a = acc0a, acc3b = acc0b;
  for (size_t t = 0; t < ks; ++t, a += 4) {
    // The caller fills all MR rows (rows past mr repeat a real one).
    const float* a0 = a[0];
    const float* a1 = a[1];
    const float* a2 = a[2];
    const float* a3 = a[3];
    for (size_t k = 0; k < kc; ++k) {
      float32x4_t wa, wb;
      load(w, &wa, &wb);
      w += 8;
      float32x4_t x = vld1q_dup_f32(a0 + k);
      acc0a = Fma(acc0a, x, wa);
      acc0b = Fma(acc0b, x, wb);
      x = vld1q_dup_f32(a1 + k);
      acc1a = Fma(acc1a, x, wa);
      acc1b = Fma(acc1b, x, wb);
      x = vld1q_dup_f32(a2 + k);
      acc2a = Fma(acc2a, x, wa);
      acc2b = Fma(acc2b, x, wb);
      x = vld1q_dup_f32(a3 + k);
      acc3a = Fma(acc3a, x, wa);
      acc3b = Fma(acc3b, x, wb);
    }
  }

  const float32x4_t vlo = vdupq_n_f32(lo);
  const float32x4_t vhi = vdupq_n_f32(hi);
  const float32x4_t rows[4][2] = {{acc0a, acc0b}, {acc1a, acc1b}, {acc2a, acc2b}, {acc3a, acc3b}};
  for (size_t r = 0; r < mr; ++r) {
    float* cr = c + r * c_stride;
    const float32x4_t va = ClampQ(rows[r][0], vlo, vhi);
    const float32x4_t vb = ClampQ(rows[r][1], vlo, vhi);
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

}  // namespace neon_gemm
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_GEMM_NEON_4X8_H_
