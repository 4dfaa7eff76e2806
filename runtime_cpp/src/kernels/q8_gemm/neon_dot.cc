// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON int8 GEMM microkernel with the ARMv8.2 dot product
// extension (SDOT), 4 rows x 8 columns, K in groups of 4 ("c4"): each
// vdotq_s32 adds, per output column, the dot product of 4 activations and 4
// weights into an int32 lane, which is exact, so the sums equal the
// reference's. Full groups are fixed 4-byte loads; a partial last group is
// read once, after the loop, through a zeroed 4-byte buffer (the packed
// weights are zero there). The double-rounding epilogue runs in registers. Compiled with
// -march=armv8.2-a+dotprod (CMakeLists.txt, by file name); where a board
// pins -mcpu (e.g. cortex-a72, ARMv8.0) the pragma below enables it for this
// file instead. Only called when getauxval reports HWCAP_ASIMDDP
// (dispatch.cc); armv7 has no SDOT.
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

// Four activations starting at p in every lane: a fixed 4-byte load.
inline int8x16_t LoadGroup(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

// The last n < 4 activations of a row, zero-filled (the packed weights are
// zero there): once per call, outside the loop.
inline int8x16_t LoadTail(const int8_t* p, size_t n) {
  int32_t v = 0;
  std::memcpy(&v, p, n);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

}  // namespace

void q8_gemm_4x8c4__neon_dot(size_t mr, size_t nc, size_t kc, const int8_t* a,
                             size_t a_stride, const void* w, int8_t* c, size_t c_stride,
                             const Q8GemmOutput* out) {
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
  for (; k + 4 <= kc; k += 4) {
    const int8x16_t wa = vld1q_s8(wp);       // columns 0-3, 4 k each
    const int8x16_t wb = vld1q_s8(wp + 16);  // columns 4-7
    wp += 4 * kNr;
    int8x16_t x = LoadGroup(a0 + k);
    acc0a = vdotq_s32(acc0a, wa, x);
    acc0b = vdotq_s32(acc0b, wb, x);
    x = LoadGroup(a1 + k);
    acc1a = vdotq_s32(acc1a, wa, x);
    acc1b = vdotq_s32(acc1b, wb, x);
    x = LoadGroup(a2 + k);
    acc2a = vdotq_s32(acc2a, wa, x);
    acc2b = vdotq_s32(acc2b, wb, x);
    x = LoadGroup(a3 + k);
    acc3a = vdotq_s32(acc3a, wa, x);
    acc3b = vdotq_s32(acc3b, wb, x);
  }
  if (k < kc) {
    const size_t n = kc - k;
    const int8x16_t wa = vld1q_s8(wp);
    const int8x16_t wb = vld1q_s8(wp + 16);
    int8x16_t x = LoadTail(a0 + k, n);
    acc0a = vdotq_s32(acc0a, wa, x);
    acc0b = vdotq_s32(acc0b, wb, x);
    x = LoadTail(a1 + k, n);
    acc1a = vdotq_s32(acc1a, wa, x);
    acc1b = vdotq_s32(acc1b, wb, x);
    x = LoadTail(a2 + k, n);
    acc2a = vdotq_s32(acc2a, wa, x);
    acc2b = vdotq_s32(acc2b, wb, x);
    x = LoadTail(a3 + k, n);
    acc3a = vdotq_s32(acc3a, wa, x);
    acc3b = vdotq_s32(acc3b, wb, x);
  }
  if (!out->single_rounding) {
    // Double rounding in registers (q8_requant/neon.h).
    const requant_neon::Params ra = requant_neon::Load(head + kNr, head + 2 * kNr,
                                                       out->c_zero_point, out->act_min, out->act_max);
    const requant_neon::Params rb =
        requant_neon::Load(head + kNr + 4, head + 2 * kNr + 4, out->c_zero_point, out->act_min,
                           out->act_max);
    const int32x4_t lo[4] = {acc0a, acc1a, acc2a, acc3a};
    const int32x4_t hi[4] = {acc0b, acc1b, acc2b, acc3b};
    for (size_t r = 0; r < mr; ++r) {
      requant_neon::StoreN(c + r * c_stride,
                           requant_neon::PackToI8(requant_neon::Apply(lo[r], ra),
                                                  requant_neon::Apply(hi[r], rb)),
                           nc);
    }
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

#endif  // defined(__aarch64__)
