// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON GEMM microkernel on fp16 weights, 4 rows x 8 columns:
// f32_gemm_4x8__neon's body (f32_gemm/neon_4x8.h) with each k-step's 8
// weights loaded as halves (one d-register pair) and widened by FCVTL/FCVTL2
// (VCVT.F32.F16 on armv7, which needs the half-precision extension:
// -mfpu=neon-fp16 or neon-fp-armv8, see f16w_gemm.inc), the same
// multiply-adds in the same order.
#if defined(__aarch64__) || (defined(__ARM_NEON) && defined(__ARM_FP) && (__ARM_FP & 2))

#include <arm_neon.h>

#include <cstdint>

#include "kernels/f16w_gemm/f16w_gemm.h"
#include "kernels/f32_gemm/neon_4x8.h"

namespace gearshift {
namespace {

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

}  // namespace

void f16w_gemm_4x8__neon(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                         const void* wp, float* c, size_t c_stride, float lo, float hi) {
  const auto* bias = static_cast<const float*>(wp);
  neon_gemm::Gemm4x8(mr, nc, kc, ks, a, bias, reinterpret_cast<const uint16_t*>(bias + 8), c,
                     c_stride, lo, hi, [](const uint16_t* p, float32x4_t* wa, float32x4_t* wb) {
                       const uint16x8_t h = vld1q_u16(p);
                       *wa = WidenHalf4(vget_low_u16(h));
                       *wb = WidenHalf4(vget_high_u16(h));
                     });
}

}  // namespace gearshift

#endif  // AArch64, or armv7 NEON with half-precision conversion
