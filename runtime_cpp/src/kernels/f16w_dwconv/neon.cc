// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON depthwise microkernel on fp16 weights: f32_dwconv_8c__neon with the
// weight loads widened by FCVTL/FCVTL2 (VCVT.F32.F16 on armv7 with the
// half-precision extension), the same multiply-adds in the same order.
#if defined(__aarch64__) || (defined(__ARM_NEON) && defined(__ARM_FP) && (__ARM_FP & 2))

#include <arm_neon.h>

#include <algorithm>

#include "kernels/f16w_dwconv/f16w_dwconv.h"
#include "prepare/gear_weights.h"

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

inline float32x4_t LoadHalf4(const uint16_t* p) { return WidenHalf4(vld1_u16(p)); }

// kTaps > 0: the tap count, known at compile time; 0: `taps` at run time.
template <size_t kTaps>
void Dwconv(size_t channels, size_t taps, const float* const* input, const uint16_t* const* weights,
            const float* bias, float* output, float lo, float hi) {
  const size_t n = kTaps > 0 ? kTaps : taps;
  const float32x4_t vlo = vdupq_n_f32(lo);
  const float32x4_t vhi = vdupq_n_f32(hi);
  size_t c = 0;
  if (kTaps > 0) {
    // Fixed taps: walk private copies of the tap pointers (registers on
    // AArch64), which lets a step load four vectors per pointer with one
    // instruction instead of four indexed ones.
    const float* ip[kTaps > 0 ? kTaps : 1];
    const uint16_t* wp[kTaps > 0 ? kTaps : 1];
    for (size_t t = 0; t < kTaps; ++t) {
      ip[t] = input[t];
      wp[t] = weights[t];
    }
#if defined(__aarch64__)
    // 16 channels a step: one LD1 of four vectors per pointer and tap.
    for (; c + 16 <= channels; c += 16) {
      float32x4x4_t acc;
      if (bias != nullptr) {
        acc = vld1q_f32_x4(bias + c);
      } else {
        acc.val[0] = acc.val[1] = acc.val[2] = acc.val[3] = vdupq_n_f32(0.0f);
      }
#pragma GCC unroll 32
      for (size_t t = 0; t < kTaps; ++t) {
        const float32x4x4_t x = vld1q_f32_x4(ip[t]);
        const uint16x8x2_t h = vld1q_u16_x2(wp[t]);
        float32x4x4_t w;
        w.val[0] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h.val[0])));
        w.val[1] = vcvt_high_f32_f16(vreinterpretq_f16_u16(h.val[0]));
        w.val[2] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h.val[1])));
        w.val[3] = vcvt_high_f32_f16(vreinterpretq_f16_u16(h.val[1]));
        for (int j = 0; j < 4; ++j) acc.val[j] = Fma(acc.val[j], x.val[j], w.val[j]);
        ip[t] += 16;
        wp[t] += 16;
      }
      for (int j = 0; j < 4; ++j) {
        vst1q_f32(output + c + 4 * j, vminq_f32(vmaxq_f32(acc.val[j], vlo), vhi));
      }
    }
#endif
    for (; c + 8 <= channels; c += 8) {
      float32x4_t acc0 = bias != nullptr ? vld1q_f32(bias + c) : vdupq_n_f32(0.0f);
      float32x4_t acc1 = bias != nullptr ? vld1q_f32(bias + c + 4) : vdupq_n_f32(0.0f);
      for (size_t t = 0; t < kTaps; ++t) {
        acc0 = Fma(acc0, vld1q_f32(ip[t]), LoadHalf4(wp[t]));
        acc1 = Fma(acc1, vld1q_f32(ip[t] + 4), LoadHalf4(wp[t] + 4));
        ip[t] += 8;
        wp[t] += 8;
      }
      vst1q_f32(output + c, vminq_f32(vmaxq_f32(acc0, vlo), vhi));
      vst1q_f32(output + c + 4, vminq_f32(vmaxq_f32(acc1, vlo), vhi));
    }
  }
  for (; c + 8 <= channels; c += 8) {
    float32x4_t acc0 = bias != nullptr ? vld1q_f32(bias + c) : vdupq_n_f32(0.0f);
    float32x4_t acc1 = bias != nullptr ? vld1q_f32(bias + c + 4) : vdupq_n_f32(0.0f);
    for (size_t t = 0; t < n; ++t) {
      acc0 = Fma(acc0, vld1q_f32(input[t] + c), LoadHalf4(weights[t] + c));
      acc1 = Fma(acc1, vld1q_f32(input[t] + c + 4), LoadHalf4(weights[t] + c + 4));
    }
    vst1q_f32(output + c, vminq_f32(vmaxq_f32(acc0, vlo), vhi));
    vst1q_f32(output + c + 4, vminq_f32(vmaxq_f32(acc1, vlo), vhi));
  }
  for (; c + 4 <= channels; c += 4) {
    float32x4_t acc = bias != nullptr ? vld1q_f32(bias + c) : vdupq_n_f32(0.0f);
    for (size_t t = 0; t < n; ++t) {
      acc = Fma(acc, vld1q_f32(input[t] + c), LoadHalf4(weights[t] + c));
    }
    vst1q_f32(output + c, vminq_f32(vmaxq_f32(acc, vlo), vhi));
  }
  for (; c < channels; ++c) {
    float acc = bias != nullptr ? bias[c] : 0.0f;
    for (size_t t = 0; t < n; ++t) acc += input[t][c] * F16BitsToF32(weights[t][c]);
    output[c] = std::min(std::max(acc, lo), hi);
  }
}

}  // namespace

void f16w_dwconv_8c__neon(size_t channels, size_t taps, const float* const* input,
                          const uint16_t* const* weights, const float* bias, float* output,
                          float lo, float hi) {
  ByTapCount(taps, [&](auto fixed) {
    Dwconv<decltype(fixed)::value>(channels, taps, input, weights, bias, output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // AArch64, or armv7 NEON with half-precision conversion
