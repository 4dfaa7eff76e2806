// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON GEMM microkernel on fp16 weights, 4 rows x 8 columns:
// f32_gemm_4x8__neon with each k-step's 8 weights loaded as halves (one
// d-register pair) and widened by FCVTL/FCVTL2 (VCVT.F32.F16 on armv7, which
// needs the half-precision extension: -mfpu=neon-fp16 or neon-fp-armv8, see
// f16w_gemm.inc), the same multiply-adds in the same order.
#if defined(__aarch64__) || (defined(__ARM_NEON) && defined(__ARM_FP) && (__ARM_FP & 2))

#include <arm_neon.h>

#include <cstring>

#include "kernels/f16w_gemm/f16w_gemm.h"

namespace gearshift {
namespace {

inline float32x4_t Fma(float32x4_t acc, float32x4_t a, float32x4_t b) {
#if defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
  return vfmaq_f32(acc, a, b);
#else
  return vmlaq_f32(acc, a, b);
#endif
}

// Four halves widened to fp32 (exact). armv7's arm_neon.h declares
// vcvt_f32_f16 only with an fp16 storage format (-mfp16-format), which the
// board flags do not set, so there the one instruction is written out.
inline float32x4_t WidenHalf4(uint16x4_t h) {
#if defined(__aarch64__) || defined(__ARM_FP16_FORMAT_IEEE)
  return vcvt_f32_f16(vreinterpret_f16_u16(h));
#else
  float32x4_t r;
  __asm__("vcvt.f32.f16 %q0, %P1" : "=w"(r) : "w"(h));
  return r;
#endif
}

// Clamp to [lo, hi]; NaN stays NaN (NEON max/min propagate it).
inline float32x4_t ClampQ(float32x4_t x, float32x4_t lo, float32x4_t hi) {
  return vminq_f32(vmaxq_f32(x, lo), hi);
}

}  // namespace

void f16w_gemm_4x8__neon(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                         const void* wp, float* c, size_t c_stride, float lo, float hi) {
  const float* bias = static_cast<const float*>(wp);
  float32x4_t acc0a = vld1q_f32(bias);
  float32x4_t acc0b = vld1q_f32(bias + 4);
  float32x4_t acc1a = acc0a, acc1b = acc0b;
  float32x4_t acc2a = acc0a, acc2b = acc0b;
  float32x4_t acc3a = acc0a, acc3b = acc0b;
  const uint16_t* w = reinterpret_cast<const uint16_t*>(bias + 8);
  for (size_t t = 0; t < ks; ++t, a += 4) {
    // The caller fills all MR rows (rows past mr repeat a real one).
    const float* a0 = a[0];
    const float* a1 = a[1];
    const float* a2 = a[2];
    const float* a3 = a[3];
    for (size_t k = 0; k < kc; ++k) {
      const uint16x8_t h = vld1q_u16(w);
      const float32x4_t wa = WidenHalf4(vget_low_u16(h));
      const float32x4_t wb = WidenHalf4(vget_high_u16(h));
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

}  // namespace gearshift

#endif  // AArch64, or armv7 NEON with half-precision conversion
