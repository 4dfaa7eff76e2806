// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON depthwise microkernel on fp16 weights: f32_dwconv_8c__neon's body
// (f32_dwconv/neon_body.h) with the weight loads widened by FCVTL/FCVTL2 (VCVT.F32.F16 on armv7
// with the half-precision extension), the same multiply-adds in the same order.
#if defined(__aarch64__) || (defined(__ARM_NEON) && defined(__ARM_FP) && (__ARM_FP & 2))

#include <arm_neon.h>

#include <cstdint>

#include "kernels/f16w_dwconv/f16w_dwconv.h"
#include "kernels/f32_dwconv/neon_body.h"
#include "prepare/gear_weights.h"

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

inline float32x4_t LoadHalf4(const uint16_t* p) { return WidenHalf4(vld1_u16(p)); }

struct F16Weights {
  static float32x4_t Load4(const uint16_t* p) { return LoadHalf4(p); }
#if defined(__aarch64__)
  static float32x4x4_t Load16(const uint16_t* p) {
    const uint16x8x2_t h = vld1q_u16_x2(p);
    float32x4x4_t w;
    w.val[0] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h.val[0])));
    w.val[1] = vcvt_high_f32_f16(vreinterpretq_f16_u16(h.val[0]));
    w.val[2] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h.val[1])));
    w.val[3] = vcvt_high_f32_f16(vreinterpretq_f16_u16(h.val[1]));
    return w;
  }
#endif
  static float One(uint16_t w) { return F16BitsToF32(w); }
};

}  // namespace

void f16w_dwconv_8c__neon(size_t channels, size_t taps, const float* const* input,
                          const uint16_t* const* weights, const float* bias, float* output,
                          float lo, float hi) {
  ByTapCount(taps, [&](auto fixed) {
    neon_dwconv::Dwconv<decltype(fixed)::value, F16Weights>(channels, taps, input, weights, bias,
                                                            output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // AArch64, or armv7 NEON with half-precision conversion
