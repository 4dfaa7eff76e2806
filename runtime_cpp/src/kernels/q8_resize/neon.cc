// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON int8 bilinear row (q8_resize.h), 8 channels a step, separable and
// exact: each source row's two taps are weighted by the column weights in
// int16 x int16 -> int32 (SMULL/SMLAL by scalar; |x * w| <= 2^18), the two
// rows by the row weights in int32 (|sum| <= 2^29); the sum equals the
// reference's four-product sum. Half away from zero: 1 subtracted from a
// negative sum (SSRA), then a rounding shift by 20 (SRSHR, half up).
// Channels past a multiple of 8 take the scalar formula. AArch64 and armv7.
#if defined(__aarch64__) || defined(__ARM_NEON)

#include <arm_neon.h>

#include "kernels/q8_resize/q8_resize.h"

namespace gearshift {

void q8_bilinear_row__neon(size_t channels, size_t width, const int8_t* r0, const int8_t* r1,
                           const Q8BilinearTap* taps, int32_t wy0, int32_t wy1, int8_t* y) {
  for (size_t i = 0; i < width; ++i, y += channels) {
    const Q8BilinearTap& t = taps[i];
    const auto w0 = static_cast<int16_t>(t.w0), w1 = static_cast<int16_t>(t.w1);
    const int8_t* x00 = r0 + t.lo;
    const int8_t* x10 = r1 + t.lo;
    const int8_t* x01 = r0 + t.hi;
    const int8_t* x11 = r1 + t.hi;
    size_t c = 0;
    for (; c + 8 <= channels; c += 8) {
      const int16x8_t a = vmovl_s8(vld1_s8(x00 + c)), b = vmovl_s8(vld1_s8(x01 + c));
      const int16x8_t d = vmovl_s8(vld1_s8(x10 + c)), e = vmovl_s8(vld1_s8(x11 + c));
      // Row 0 and row 1, each across its two columns.
      const int32x4_t top_lo = vmlal_n_s16(vmull_n_s16(vget_low_s16(a), w0), vget_low_s16(b), w1);
      const int32x4_t top_hi = vmlal_n_s16(vmull_n_s16(vget_high_s16(a), w0), vget_high_s16(b), w1);
      const int32x4_t bot_lo = vmlal_n_s16(vmull_n_s16(vget_low_s16(d), w0), vget_low_s16(e), w1);
      const int32x4_t bot_hi = vmlal_n_s16(vmull_n_s16(vget_high_s16(d), w0), vget_high_s16(e), w1);
      int32x4_t lo = vmlaq_n_s32(vmulq_n_s32(top_lo, wy0), bot_lo, wy1);
      int32x4_t hi = vmlaq_n_s32(vmulq_n_s32(top_hi, wy0), bot_hi, wy1);
      lo = vrshrq_n_s32(vsraq_n_s32(lo, lo, 31), 20);
      hi = vrshrq_n_s32(vsraq_n_s32(hi, hi, 31), 20);
      vst1_s8(y + c, vqmovn_s16(vcombine_s16(vqmovn_s32(lo), vqmovn_s32(hi))));
    }
    for (; c < channels; ++c) {
      y[c] = Q8BilinearValue(x00[c], x10[c], x01[c], x11[c], wy0, wy1, t.w0, t.w1);
    }
  }
}

}  // namespace gearshift

#endif  // defined(__aarch64__) || defined(__ARM_NEON)
