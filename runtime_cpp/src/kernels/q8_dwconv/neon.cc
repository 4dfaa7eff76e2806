// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON int8 depthwise microkernel, 16 channels per tile (ARMv7 NEON and
// ARMv8.0 up): per tap, SMULL widens x[t] * w[t] to int16 exactly (at most
// 2^14) and SADDW adds it into int32 accumulators; the requantization runs
// in registers (q8_requant/neon.h). A last tile narrower than 16 reads its
// activations through a zeroed buffer, so nothing past C is read.
#if defined(__aarch64__) || defined(__ARM_NEON)

#include "kernels/q8_requant/neon.h"

#include <arm_neon.h>

#include <cstring>

#include "kernels/q8_dwconv/q8_dwconv.h"

namespace gearshift {
namespace {

constexpr size_t kCt = 16;

inline int8x16_t LoadX(const int8_t* p, size_t n) {
  if (n == kCt) return vld1q_s8(p);
  int8_t tmp[kCt] = {};
  std::memcpy(tmp, p, n);
  return vld1q_s8(tmp);
}

}  // namespace

void q8_dwconv_16c__neon(size_t channels, size_t width, size_t taps, const int8_t* const* input,
                         const void* w, int8_t* output, const Q8GemmOutput* out) {
  const size_t block = 3 * sizeof(int32_t) * kCt + taps * kCt;
  const auto* wb = static_cast<const char*>(w);
  const int32_t zp = out->c_zero_point, lo = out->act_min, hi = out->act_max;
  // Channel tiles outside, pixels inside: each tile's requantization
  // constants are loaded once per row of pixels.
  for (size_t c0 = 0; c0 < channels; c0 += kCt, wb += block) {
    const size_t cn = channels - c0 < kCt ? channels - c0 : kCt;
    const auto* head = reinterpret_cast<const int32_t*>(wb);
    const auto* wt = reinterpret_cast<const int8_t*>(head + 3 * kCt);
    const int32_t* m = head + kCt;
    const int32_t* s = head + 2 * kCt;
    const requant_neon::Params r0 = requant_neon::Load(m, s);
    const requant_neon::Params r1 = requant_neon::Load(m + 4, s + 4);
    const requant_neon::Params r2 = requant_neon::Load(m + 8, s + 8);
    const requant_neon::Params r3 = requant_neon::Load(m + 12, s + 12);
    const requant_neon::Output16 o = requant_neon::LoadOutput16(zp, lo, hi);
    for (size_t px = 0; px < width; ++px) {
      const int8_t* const* in = input + px * taps;
      int32x4_t acc0 = vld1q_s32(head);
      int32x4_t acc1 = vld1q_s32(head + 4);
      int32x4_t acc2 = vld1q_s32(head + 8);
      int32x4_t acc3 = vld1q_s32(head + 12);
      for (size_t t = 0; t < taps; ++t) {
        const int8x16_t x = LoadX(in[t] + c0, cn);
        const int8x16_t wv = vld1q_s8(wt + t * kCt);
        const int16x8_t plo = vmull_s8(vget_low_s8(x), vget_low_s8(wv));
        const int16x8_t phi = vmull_s8(vget_high_s8(x), vget_high_s8(wv));
        acc0 = vaddw_s16(acc0, vget_low_s16(plo));
        acc1 = vaddw_s16(acc1, vget_high_s16(plo));
        acc2 = vaddw_s16(acc2, vget_low_s16(phi));
        acc3 = vaddw_s16(acc3, vget_high_s16(phi));
      }
      const int8x16_t yv =
          requant_neon::Finish16(requant_neon::Scale(acc0, r0), requant_neon::Scale(acc1, r1),
                                 requant_neon::Scale(acc2, r2), requant_neon::Scale(acc3, r3), o);
      int8_t* y = output + px * channels + c0;
      if (cn == kCt) {
        vst1q_s8(y, yv);
      } else {
        requant_neon::StoreN(y, vget_low_s8(yv), cn < 8 ? cn : 8);
        if (cn > 8) requant_neon::StoreN(y + 8, vget_high_s8(yv), cn - 8);
      }
    }
  }
}

}  // namespace gearshift

#endif  // defined(__aarch64__) || defined(__ARM_NEON)
