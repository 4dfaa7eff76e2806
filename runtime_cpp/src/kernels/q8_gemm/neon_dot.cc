// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON int8 GEMM microkernel with the ARMv8.2 dot product
// extension (SDOT), 8 rows x 8 columns, K in groups of 4 ("c4"): each SDOT
// adds, per output column, the dot product of 4 activations and 4 weights
// into an int32 lane, which is exact, so the sums equal the reference's.
// The main loop takes 16 k at a time: each row's 16 activations are one
// 128-bit load and feed four SDOTs by element (vdotq_laneq_s32), so no
// per-group broadcast is needed (XNNPACK's ld128 shape). Leftover full
// groups broadcast 4 bytes; a partial last group is read once, after the
// loops, through a zeroed 4-byte buffer (the packed weights are zero
// there). Rows past mr repeat the last real row (computed, never stored).
// The double-rounding epilogue runs in registers (q8_requant/neon.h).
// Compiled with -march=armv8.2-a+dotprod (CMakeLists.txt, by file name);
// where a board pins -mcpu (e.g. cortex-a72, ARMv8.0) the pragma below
// enables it for this file instead. Only called when getauxval reports
// HWCAP_ASIMDDP (dispatch.cc); armv7 has no SDOT.
#if defined(__aarch64__)

#if !defined(__ARM_FEATURE_DOTPROD)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("arch=armv8.2-a+dotprod")
#else
#error "neon_dot.cc needs -march=armv8.2-a+dotprod (CMakeLists.txt)"
#endif
#endif

#include <arm_neon.h>

#include <cstring>

#include "kernels/q8_gemm/q8_gemm.h"
#include "kernels/q8_requant/neon.h"

namespace gearshift {
namespace {

inline int8x16_t LoadGroup(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

inline int8x16_t LoadTail(const int8_t* p, size_t n) {
  int32_t v = 0;
  std::memcpy(&v, p, n);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

}  // namespace

void q8_gemm_8x8c4__neon_dot(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                             const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  constexpr size_t kNr = 8;
  constexpr size_t kMr = 8;
  const auto* head = static_cast<const int32_t*>(w);
  const int8_t* rows[kMr];
  rows[0] = a;
  for (size_t r = 1; r < kMr; ++r) rows[r] = r < mr ? rows[r - 1] + a_stride : rows[r - 1];
  int32x4_t lo[kMr], hi[kMr];  // columns 0-3 and 4-7 of each row
  lo[0] = vld1q_s32(head);
  hi[0] = vld1q_s32(head + 4);
  for (size_t r = 1; r < kMr; ++r) {
    lo[r] = lo[0];
    hi[r] = hi[0];
  }
  const auto* wp = reinterpret_cast<const int8_t*>(head + 3 * kNr);
  size_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    int8x16_t x[kMr];
    for (size_t r = 0; r < kMr; ++r) x[r] = vld1q_s8(rows[r] + k);
#define GS_Q8_SDOT_GROUP(g)                            \
  {                                                    \
    const int8x16_t wa = vld1q_s8(wp + 32 * (g));      \
    const int8x16_t wb = vld1q_s8(wp + 32 * (g) + 16); \
    for (size_t r = 0; r < kMr; ++r) {                 \
      lo[r] = vdotq_laneq_s32(lo[r], wa, x[r], g);     \
      hi[r] = vdotq_laneq_s32(hi[r], wb, x[r], g);     \
    }                                                  \
  }
    GS_Q8_SDOT_GROUP(0)
    GS_Q8_SDOT_GROUP(1)
    GS_Q8_SDOT_GROUP(2)
    GS_Q8_SDOT_GROUP(3)
#undef GS_Q8_SDOT_GROUP
    wp += 4 * 4 * kNr;
  }
  for (; k + 4 <= kc; k += 4) {
    const int8x16_t wa = vld1q_s8(wp);
    const int8x16_t wb = vld1q_s8(wp + 16);
    wp += 4 * kNr;
    for (size_t r = 0; r < kMr; ++r) {
      const int8x16_t x = LoadGroup(rows[r] + k);
      lo[r] = vdotq_s32(lo[r], wa, x);
      hi[r] = vdotq_s32(hi[r], wb, x);
    }
  }
  if (k < kc) {
    const size_t n = kc - k;
    const int8x16_t wa = vld1q_s8(wp);
    const int8x16_t wb = vld1q_s8(wp + 16);
    for (size_t r = 0; r < kMr; ++r) {
      const int8x16_t x = LoadTail(rows[r] + k, n);
      lo[r] = vdotq_s32(lo[r], wa, x);
      hi[r] = vdotq_s32(hi[r], wb, x);
    }
  }
  if (!out->single_rounding) {  // double rounding in registers (q8_requant/neon.h)
    requant_neon::StoreTile8(lo, hi, mr, nc, head + kNr, head + 2 * kNr, out->c_zero_point,
                             out->act_min, out->act_max, c, c_stride);
    return;
  }
  int32_t tile[kMr * kNr];
  for (size_t r = 0; r < kMr; ++r) {
    vst1q_s32(tile + r * kNr, lo[r]);
    vst1q_s32(tile + r * kNr + 4, hi[r]);
  }
  Q8GemmRequantizeTile(mr, nc, tile, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
