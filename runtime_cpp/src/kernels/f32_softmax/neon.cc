// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The softmax row on NEON: 4 lanes; a row's last n % 4 values go through a
// padded vector (-inf in the unused lanes: exp gives 0 there). armv7 NEON
// has no fused multiply-add: there the steps round twice (vmlaq), which the
// error bound of f32_softmax.h still covers (the test runs under qemu).
#if defined(__aarch64__) || defined(__ARM_NEON)
#include <arm_neon.h>

#include <cmath>
#include <cstddef>

#include "kernels/f32_softmax/exp_consts.h"
#include "kernels/f32_softmax/f32_softmax.h"

namespace gearshift {
namespace {

using namespace softmax_exp;  // NOLINT: the constants

// a + b * c
inline float32x4_t Fma(float32x4_t a, float32x4_t b, float32x4_t c) {
#if defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
  return vfmaq_f32(a, b, c);
#else
  return vmlaq_f32(a, b, c);
#endif
}

// exp_consts.h's ExpNonPositive, 4 lanes.
inline float32x4_t Exp4(float32x4_t x) {
  const float32x4_t lo = vdupq_n_f32(kExpLo);
  const float32x4_t magic = vdupq_n_f32(kRoundMagic);
  const uint32x4_t below = vcltq_f32(x, lo);
  const float32x4_t z = vbslq_f32(below, lo, x);
  const float32x4_t nf = vsubq_f32(Fma(magic, z, vdupq_n_f32(kLog2e)), magic);
  float32x4_t r = Fma(z, nf, vdupq_n_f32(-kLn2Hi));
  r = Fma(r, nf, vdupq_n_f32(-kLn2Lo));
  float32x4_t p = Fma(vdupq_n_f32(kC6), vdupq_n_f32(kC7), r);
  p = Fma(vdupq_n_f32(kC5), p, r);
  p = Fma(vdupq_n_f32(kC4), p, r);
  p = Fma(vdupq_n_f32(kC3), p, r);
  p = Fma(vdupq_n_f32(kC2), p, r);
  p = Fma(vdupq_n_f32(1.0f), p, r);
  p = Fma(vdupq_n_f32(1.0f), p, r);
  const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(nf), vdupq_n_s32(127)), 23);
  const float32x4_t e = vmulq_f32(p, vreinterpretq_f32_s32(bits));
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(e), below));
}

inline float Sum4(float32x4_t v) {
#if defined(__aarch64__)
  return vaddvq_f32(v);
#else
  const float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(vpadd_f32(s, s), 0);
#endif
}

inline float Max4(float32x4_t v) {
#if defined(__aarch64__)
  return vmaxvq_f32(v);
#else
  const float32x2_t s = vmax_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(vpmax_f32(s, s), 0);
#endif
}

}  // namespace

void f32_vexp__neon(size_t n, const float* x, float* y) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, Exp4(vld1q_f32(x + i)));
  if (i < n) {
    float t[4];
    for (size_t k = 0; k < 4; ++k) t[k] = i + k < n ? x[i + k] : -INFINITY;
    vst1q_f32(t, Exp4(vld1q_f32(t)));
    for (size_t k = 0; i + k < n; ++k) y[i + k] = t[k];
  }
}

void f32_softmax_row__neon(size_t n, float beta, const float* x, float* y) {
  const float32x4_t vb = vdupq_n_f32(beta);
  float32x4_t vmax = vdupq_n_f32(-INFINITY);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vmax = vmaxq_f32(vmax, vmulq_f32(vb, vld1q_f32(x + i)));
  float m = Max4(vmax);
  for (size_t k = i; k < n; ++k) m = m < beta * x[k] ? beta * x[k] : m;
  const float32x4_t vm = vdupq_n_f32(m);
  float32x4_t vsum = vdupq_n_f32(0.0f);
  for (i = 0; i + 4 <= n; i += 4) {
    const float32x4_t e = Exp4(vsubq_f32(vmulq_f32(vb, vld1q_f32(x + i)), vm));
    vst1q_f32(y + i, e);
    vsum = vaddq_f32(vsum, e);
  }
  if (i < n) {
    float t[4];
    for (size_t k = 0; k < 4; ++k) t[k] = i + k < n ? beta * x[i + k] - m : -INFINITY;
    const float32x4_t e = Exp4(vld1q_f32(t));
    vsum = vaddq_f32(vsum, e);
    vst1q_f32(t, e);
    for (size_t k = 0; i + k < n; ++k) y[i + k] = t[k];
  }
  const float inv = 1.0f / Sum4(vsum);
  const float32x4_t vinv = vdupq_n_f32(inv);
  for (i = 0; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vld1q_f32(y + i), vinv));
  for (; i < n; ++i) y[i] *= inv;
}

}  // namespace gearshift
#endif
