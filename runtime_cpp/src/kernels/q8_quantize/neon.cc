// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON float32 -> int8 quantization, 4 values a step in two halves
// of 2 doubles (q8_quantize.h says why each step equals QuantizeQ8). FMAXNM
// returns the number when one operand is NaN, so a NaN clamps to -256 and
// is replaced by the zero point at the end. AArch64 only: armv7 NEON has
// no double-precision vectors.
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

}  // namespace

void q8_quantize_8x__neon(size_t n, const float* x, double scale, int32_t zero_point, int8_t* y) {
  const float64x2_t s = vdupq_n_f64(scale);
  const float64x2_t zp = vdupq_n_f64(static_cast<double>(zero_point));
  auto step = [&](const float* in, int8_t* out) {
    const float32x4_t a = vld1q_f32(in);
    const float32x4_t b = vld1q_f32(in + 4);
    const int32x4_t qa =
        vcombine_s32(Quantize2(vget_low_f32(a), s, zp), Quantize2(vget_high_f32(a), s, zp));
    const int32x4_t qb =
        vcombine_s32(Quantize2(vget_low_f32(b), s, zp), Quantize2(vget_high_f32(b), s, zp));
    vst1_s8(out, vmovn_s16(vcombine_s16(vmovn_s32(qa), vmovn_s32(qb))));
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
