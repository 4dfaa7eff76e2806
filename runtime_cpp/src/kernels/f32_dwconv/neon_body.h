// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The NEON depthwise body, one definition for the fp32 kernel
// (f32_dwconv_8c__neon) and the fp16-weight one (f16w_dwconv_8c__neon): a
// Weights policy loads the taps' weights (plain loads, or halves widened by
// FCVTL), and both run the same multiply-adds in the same order. 16
// channels a step on AArch64 (one LD1 of four vectors per pointer and tap,
// for fixed tap counts), then 8, then 4, then a scalar tail. Fused
// multiply-add on AArch64 and VFPv4, vmla otherwise; armv7-safe intrinsics
// only. Include only from NEON translation units (neon.cc).
#ifndef GEARSHIFT_KERNELS_F32_DWCONV_NEON_BODY_H_
#define GEARSHIFT_KERNELS_F32_DWCONV_NEON_BODY_H_

#include <arm_neon.h>

#include <algorithm>
#include <cstddef>

namespace gearshift {
namespace neon_dwconv {

inline float32x4_t Fma(float32x4_t acc, float32x4_t a, float32x4_t b) {
#if defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
  return vfmaq_f32(acc, a, b);
#else
  return vmlaq_f32(acc, a, b);
#endif
}

// kTaps > 0: the tap count, known at compile time; 0: `taps` at run time.
// W: the weights' element type, read through the Weights policy's Load4 (4
// lanes), Load16 (16, AArch64) and One (a scalar).
template <size_t kTaps, typename Weights, typename W>
void Dwconv(size_t channels, size_t taps, const float* const* input, const W* const* weights,
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
    const W* wp[kTaps > 0 ? kTaps : 1];
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
        const float32x4x4_t w = Weights::Load16(wp[t]);
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
        acc0 = Fma(acc0, vld1q_f32(ip[t]), Weights::Load4(wp[t]));
        acc1 = Fma(acc1, vld1q_f32(ip[t] + 4), Weights::Load4(wp[t] + 4));
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
      acc0 = Fma(acc0, vld1q_f32(input[t] + c), Weights::Load4(weights[t] + c));
      acc1 = Fma(acc1, vld1q_f32(input[t] + c + 4), Weights::Load4(weights[t] + c + 4));
    }
    vst1q_f32(output + c, vminq_f32(vmaxq_f32(acc0, vlo), vhi));
    vst1q_f32(output + c + 4, vminq_f32(vmaxq_f32(acc1, vlo), vhi));
  }
  for (; c + 4 <= channels; c += 4) {
    float32x4_t acc = bias != nullptr ? vld1q_f32(bias + c) : vdupq_n_f32(0.0f);
    for (size_t t = 0; t < n; ++t) {
      acc = Fma(acc, vld1q_f32(input[t] + c), Weights::Load4(weights[t] + c));
    }
    vst1q_f32(output + c, vminq_f32(vmaxq_f32(acc, vlo), vhi));
  }
  for (; c < channels; ++c) {
    float acc = bias != nullptr ? bias[c] : 0.0f;
    for (size_t t = 0; t < n; ++t) acc += input[t][c] * Weights::One(weights[t][c]);
    output[c] = std::min(std::max(acc, lo), hi);
  }
}

}  // namespace neon_dwconv
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_DWCONV_NEON_BODY_H_
