// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON int8 GEMM microkernel without the dot product extension, 4 rows x 8
// columns, for ARMv7 NEON and ARMv8.0 (Cortex-A53/A57/A72): per k, the 8
// weights are widened to int16 (vmovl_s8) and multiplied by the row's
// activation (8 of them widened at once, used by lane) with widening
// multiply-accumulate into int32 (vmlal_lane_s16);
// int8 x int8 products fit int16 exactly, so the int32 sums equal the
// reference's. The double-rounding epilogue runs in registers
// (q8_requant/neon.h), FULLY_CONNECTED's single rounding in the shared one
// (ref.cc). Only
// called when getauxval reports NEON/ASIMD (dispatch.cc).
#if defined(__aarch64__) || defined(__ARM_NEON)

#include "kernels/q8_requant/neon.h"

#include <arm_neon.h>

#include "kernels/q8_gemm/q8_gemm.h"

namespace gearshift {

void q8_gemm_4x8__neon(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                       const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  constexpr size_t kNr = 8;
  const auto* head = static_cast<const int32_t*>(w);
  const int8_t* a0 = a;
  const int8_t* a1 = mr > 1 ? a0 + a_stride : a0;
  const int8_t* a2 = mr > 2 ? a1 + a_stride : a1;
  const int8_t* a3 = mr > 3 ? a2 + a_stride : a2;

  int32x4_t acc0a = vld1q_s32(head);
  int32x4_t acc0b = vld1q_s32(head + 4);
  int32x4_t acc1a = acc0a, acc1b = acc0b;
  int32x4_t acc2a = acc0a, acc2b = acc0b;
  int32x4_t acc3a = acc0a, acc3b = acc0b;
  const auto* wp = reinterpret_cast<const int8_t*>(head + 3 * kNr);
  size_t k = 0;
  // Eight k at a time: each row's 8 activations are widened once and used
  // through lane-indexed SMLAL (no per-k scalar load and duplicate).
  for (; k + 8 <= kc; k += 8) {
    const int16x8_t x0 = vmovl_s8(vld1_s8(a0 + k));
    const int16x8_t x1 = vmovl_s8(vld1_s8(a1 + k));
    const int16x8_t x2 = vmovl_s8(vld1_s8(a2 + k));
    const int16x8_t x3 = vmovl_s8(vld1_s8(a3 + k));
#define GS_Q8_NEON_STEP(xpart, lane)                     \
  {                                                      \
    const int16x8_t wv = vmovl_s8(vld1_s8(wp));          \
    wp += kNr;                                           \
    const int16x4_t wlo = vget_low_s16(wv);              \
    const int16x4_t whi = vget_high_s16(wv);             \
    acc0a = vmlal_lane_s16(acc0a, wlo, xpart(x0), lane); \
    acc0b = vmlal_lane_s16(acc0b, whi, xpart(x0), lane); \
    acc1a = vmlal_lane_s16(acc1a, wlo, xpart(x1), lane); \
    acc1b = vmlal_lane_s16(acc1b, whi, xpart(x1), lane); \
    acc2a = vmlal_lane_s16(acc2a, wlo, xpart(x2), lane); \
    acc2b = vmlal_lane_s16(acc2b, whi, xpart(x2), lane); \
    acc3a = vmlal_lane_s16(acc3a, wlo, xpart(x3), lane); \
    acc3b = vmlal_lane_s16(acc3b, whi, xpart(x3), lane); \
  }
    GS_Q8_NEON_STEP(vget_low_s16, 0)
    GS_Q8_NEON_STEP(vget_low_s16, 1)
    GS_Q8_NEON_STEP(vget_low_s16, 2)
    GS_Q8_NEON_STEP(vget_low_s16, 3)
    GS_Q8_NEON_STEP(vget_high_s16, 0)
    GS_Q8_NEON_STEP(vget_high_s16, 1)
    GS_Q8_NEON_STEP(vget_high_s16, 2)
    GS_Q8_NEON_STEP(vget_high_s16, 3)
#undef GS_Q8_NEON_STEP
  }
  for (; k < kc; ++k) {
    const int16x8_t wv = vmovl_s8(vld1_s8(wp));
    wp += kNr;
    const int16x4_t wlo = vget_low_s16(wv);
    const int16x4_t whi = vget_high_s16(wv);
    acc0a = vmlal_n_s16(acc0a, wlo, a0[k]);
    acc0b = vmlal_n_s16(acc0b, whi, a0[k]);
    acc1a = vmlal_n_s16(acc1a, wlo, a1[k]);
    acc1b = vmlal_n_s16(acc1b, whi, a1[k]);
    acc2a = vmlal_n_s16(acc2a, wlo, a2[k]);
    acc2b = vmlal_n_s16(acc2b, whi, a2[k]);
    acc3a = vmlal_n_s16(acc3a, wlo, a3[k]);
    acc3b = vmlal_n_s16(acc3b, whi, a3[k]);
  }
  if (!out->single_rounding) {  // double rounding in registers (q8_requant/neon.h)
    const int32x4_t lo[4] = {acc0a, acc1a, acc2a, acc3a};
    const int32x4_t hi[4] = {acc0b, acc1b, acc2b, acc3b};
    requant_neon::StoreTile8<4>(lo, hi, mr, nc, head + kNr, head + 2 * kNr, out->c_zero_point,
                                out->act_min, out->act_max, c, c_stride);
    return;
  }
  int32_t acc[kQ8GemmMaxMr * kNr];
  vst1q_s32(acc + 0, acc0a);
  vst1q_s32(acc + 4, acc0b);
  vst1q_s32(acc + 8, acc1a);
  vst1q_s32(acc + 12, acc1b);
  vst1q_s32(acc + 16, acc2a);
  vst1q_s32(acc + 20, acc2b);
  vst1q_s32(acc + 24, acc3a);
  vst1q_s32(acc + 28, acc3b);
  Q8GemmRequantizeTile(mr, nc, acc, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
}

}  // namespace gearshift

#endif  // defined(__aarch64__) || defined(__ARM_NEON)
