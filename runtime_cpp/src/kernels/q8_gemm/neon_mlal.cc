// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON int8 GEMM microkernel for CPUs without SDOT (Cortex-A53/A57/
// A72), 2 rows x 8 columns, K in groups of 8 ("c8", XNNPACK's qs8-gemm
// neon-mlal shape): per column and 16 k, SMULL multiplies 8 activations by
// 8 weights into int16, SMLAL adds the next 8 products, and SADALP folds the
// int16 pairs into int32 accumulators: 16 multiply-adds in three
// instructions, twice the SMLAL-by-lane kernel's rate. The int16 sum of two
// products is exact only while |x * w| <= 128 * 127, so this kernel is for
// layers whose weights are all >= -127 (q8_gemm.inc's wmin; the plan checks
// every layer at pack time and gives any layer holding a -128 weight to the
// general kernel). Accumulators hold 4 partial sums per column, reduced
// once after the loop with pairwise adds. The double-rounding epilogue runs
// in registers (q8_requant/neon.h). AArch64 only (VPADDQ); armv7 keeps the
// by-lane kernel.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>

#include "kernels/q8_gemm/q8_gemm.h"
#include "kernels/q8_requant/neon.h"

namespace gearshift {
namespace {

inline int8x8_t LoadTail8(const int8_t* p, size_t n) {
  int8_t tmp[8] = {};
  std::memcpy(tmp, p, n);
  return vld1_s8(tmp);
}

// 8 column accumulators -> the 8 column sums (columns 0-3, 4-7).
inline void Reduce(const int32x4_t* acc, int32x4_t* lo, int32x4_t* hi) {
  const int32x4_t s01 = vpaddq_s32(acc[0], acc[1]);
  const int32x4_t s23 = vpaddq_s32(acc[2], acc[3]);
  const int32x4_t s45 = vpaddq_s32(acc[4], acc[5]);
  const int32x4_t s67 = vpaddq_s32(acc[6], acc[7]);
  *lo = vpaddq_s32(s01, s23);
  *hi = vpaddq_s32(s45, s67);
}

}  // namespace

void q8_gemm_2x8c8__neon_mlal(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                              const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  constexpr size_t kNr = 8;
  const auto* head = static_cast<const int32_t*>(w);
  const int8_t* a0 = a;
  const int8_t* a1 = mr > 1 ? a0 + a_stride : a0;
  int32x4_t acc0[kNr], acc1[kNr];
  for (size_t j = 0; j < kNr; ++j) acc0[j] = acc1[j] = vdupq_n_s32(0);
  const auto* wp = reinterpret_cast<const int8_t*>(head + 3 * kNr);
  size_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    const int8x16_t x0 = vld1q_s8(a0 + k);
    const int8x16_t x1 = vld1q_s8(a1 + k);
    for (size_t j = 0; j < kNr; ++j) {               // unrolled: fixed count
      const int8x8_t wa = vld1_s8(wp + 8 * j);       // column j, k .. k+7
      const int8x8_t wb = vld1_s8(wp + 64 + 8 * j);  // column j, k+8 .. k+15
      const int16x8_t p0 = vmlal_s8(vmull_s8(vget_low_s8(x0), wa), vget_high_s8(x0), wb);
      const int16x8_t p1 = vmlal_s8(vmull_s8(vget_low_s8(x1), wa), vget_high_s8(x1), wb);
      acc0[j] = vpadalq_s16(acc0[j], p0);
      acc1[j] = vpadalq_s16(acc1[j], p1);
    }
    wp += 2 * 8 * kNr;
  }
  if (k < kc) {  // one group of 8, the last one possibly partial
    for (; k < kc; k += 8) {
      const size_t n = kc - k < 8 ? kc - k : 8;
      const int8x8_t x0 = n == 8 ? vld1_s8(a0 + k) : LoadTail8(a0 + k, n);
      const int8x8_t x1 = n == 8 ? vld1_s8(a1 + k) : LoadTail8(a1 + k, n);
      for (size_t j = 0; j < kNr; ++j) {
        const int8x8_t wa = vld1_s8(wp + 8 * j);
        acc0[j] = vpadalq_s16(acc0[j], vmull_s8(x0, wa));
        acc1[j] = vpadalq_s16(acc1[j], vmull_s8(x1, wa));
      }
      wp += 8 * kNr;
    }
  }
  const int32x4_t bias_lo = vld1q_s32(head), bias_hi = vld1q_s32(head + 4);
  int32x4_t lo0, hi0, lo1, hi1;
  Reduce(acc0, &lo0, &hi0);
  Reduce(acc1, &lo1, &hi1);
  lo0 = vaddq_s32(lo0, bias_lo);
  hi0 = vaddq_s32(hi0, bias_hi);
  lo1 = vaddq_s32(lo1, bias_lo);
  hi1 = vaddq_s32(hi1, bias_hi);
  if (!out->single_rounding) {
    const requant_neon::Params ra = requant_neon::Load(
        head + kNr, head + 2 * kNr, out->c_zero_point, out->act_min, out->act_max);
    const requant_neon::Params rb = requant_neon::Load(
        head + kNr + 4, head + 2 * kNr + 4, out->c_zero_point, out->act_min, out->act_max);
    const requant_neon::Output16 o =
        requant_neon::LoadOutput16(out->c_zero_point, out->act_min, out->act_max);
    const int8x16_t y =
        requant_neon::Finish16(requant_neon::Scale(lo0, ra), requant_neon::Scale(hi0, rb),
                               requant_neon::Scale(lo1, ra), requant_neon::Scale(hi1, rb), o);
    requant_neon::StoreN(c, vget_low_s8(y), nc);
    if (mr > 1) requant_neon::StoreN(c + c_stride, vget_high_s8(y), nc);
    return;
  }
  int32_t tile[2 * kNr];
  vst1q_s32(tile, lo0);
  vst1q_s32(tile + 4, hi0);
  vst1q_s32(tile + 8, lo1);
  vst1q_s32(tile + 12, hi1);
  Q8GemmRequantizeTile(mr, nc, tile, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
