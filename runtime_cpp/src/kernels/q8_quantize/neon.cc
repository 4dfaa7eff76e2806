// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON float32 -> int8 quantization, 8 values a step. The fast step
// works in float, as the AVX2 kernel's does (avx2.cc says why it gives the
// reference's integers): v = x * (float)(1 / scale), rounded to nearest
// (FRINTN) where every lane lies more than 2^-13 from a half-integer. A step
// with a lane near a half, a NaN or an infinity is redone in double, two
// lanes at a time (q8_quantize.h says why that equals QuantizeQ8); there
// FMAXNM returns the number when one operand is NaN, so a NaN clamps to
// -256 and is replaced by the zero point at the end. AArch64 only: armv7
// NEON has no double-precision vectors.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>

#include "kernels/q8_quantize/q8_quantize.h"

namespace gearshift {
namespace {

inline int32x2_t Quantize2(float32x2_t x, float64x2_t scale, float64x2_t zp) {
  const float64x2_t v = vdivq_f64(vcvt_f64_f32(x), scale);
  float64x2_t c = vmaxnmq_f64(v, vdupq_n_f64(-256.0));
  c = vminnmq_f64(c, vdupq_n_f64(256.0));
  const float64x2_t t = vrndq_f64(c);
  const float64x2_t f = vsubq_f64(c, t);
  const float64x2_t one = vdupq_n_f64(1.0);
  const float64x2_t up =
      vreinterpretq_f64_u64(vandq_u64(vcgeq_f64(f, vdupq_n_f64(0.5)), vreinterpretq_u64_f64(one)));
  const float64x2_t down =
      vreinterpretq_f64_u64(vandq_u64(vcleq_f64(f, vdupq_n_f64(-0.5)), vreinterpretq_u64_f64(one)));
  float64x2_t r = vaddq_f64(vsubq_f64(vaddq_f64(t, up), down), zp);
  r = vbslq_f64(vceqq_f64(v, v), r, zp);  // NaN -> zero point
  r = vminq_f64(vmaxq_f64(r, vdupq_n_f64(-128.0)), vdupq_n_f64(127.0));
  return vmovn_s64(vcvtq_s64_f64(r));
}

// Four values in float; false (nothing written) where a lane is near a
// half, NaN or infinite.
inline bool Fast4(float32x4_t x, float32x4_t inv, int32x4_t zp, int32x4_t* q) {
  const float32x4_t v = vmulq_f32(x, inv);
  const float32x4_t r = vrndnq_f32(v);
  // d < 0.5 - 2^-13 in every lane (false for NaN).
  const uint32x4_t ok = vcltq_f32(vabdq_f32(v, r), vdupq_n_f32(0.5f - 0x1p-13f));
  if (vminvq_u32(ok) == 0) return false;
  const float32x4_t c = vminq_f32(vmaxq_f32(r, vdupq_n_f32(-512.0f)), vdupq_n_f32(512.0f));
  *q = vaddq_s32(vcvtq_s32_f32(c), zp);
  return true;
}

}  // namespace

void q8_quantize_8x__neon(size_t n, const float* x, double scale, int32_t zero_point, int8_t* y) {
  const float64x2_t s = vdupq_n_f64(scale);
  const float64x2_t zp = vdupq_n_f64(static_cast<double>(zero_point));
  const float32x4_t inv_f = vdupq_n_f32(static_cast<float>(1.0 / scale));
  const int32x4_t zp_i = vdupq_n_s32(zero_point);
  auto step = [&](const float* in, int8_t* out) {
    const float32x4_t a = vld1q_f32(in);
    const float32x4_t b = vld1q_f32(in + 4);
    int32x4_t qa, qb;
    if (!Fast4(a, inv_f, zp_i, &qa)) {
      qa = vcombine_s32(Quantize2(vget_low_f32(a), s, zp), Quantize2(vget_high_f32(a), s, zp));
    }
    if (!Fast4(b, inv_f, zp_i, &qb)) {
      qb = vcombine_s32(Quantize2(vget_low_f32(b), s, zp), Quantize2(vget_high_f32(b), s, zp));
    }
    vst1_s8(out, vqmovn_s16(vcombine_s16(vqmovn_s32(qa), vqmovn_s32(qb))));
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) step(x + i, y + i);
  if (i < n) {  // the last 1-7 values through a padded buffer
    float in[8] = {};
    int8_t out[8];
    std::memcpy(in, x + i, (n - i) * sizeof(float));
    step(in, out);
    std::memcpy(y + i, out, n - i);
  }
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
