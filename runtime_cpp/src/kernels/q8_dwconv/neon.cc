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

#if defined(__aarch64__)
// SMULL of the low halves of a and b, as one asm instruction: through
// vget_low_s8, GCC 12 keeps the weights' low halves as 9 more loop-invariant
// values and spills them.
inline int16x8_t MullLow(int8x16_t a, int8x16_t b) {
  int16x8_t r;
  asm("smull %0.8h, %1.8b, %2.8b" : "=w"(r) : "w"(a), "w"(b));
  return r;
}

// acc + SMULL of the low halves (SMLAL), likewise.
inline int16x8_t MlalLow(int16x8_t acc, int8x16_t a, int8x16_t b) {
  asm("smlal %0.8h, %1.8b, %2.8b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
}

// A full tile of 16 channels with 3x3 = 9 taps (every MobileNet-style
// depthwise layer): the 9 weight vectors, the bias and the requantization
// constants stay in registers across the row's pixels, the first tap's
// products add onto the bias, and the tile's shifts are checked once
// (kRight: all right shifts, requant_neon::ScaleRight). Per tap: one
// pointer, one 16-byte load, 2 SMULL and 4 SADDW; with kPairs (no weight of
// the tile is -128, as in every symmetric int8 filter), two taps' products
// are added in int16 first (SMULL + SMLAL: |x * w| <= 128 * 127, so two fit),
// so a pair needs 4 multiplies and 4 SADDW.
template <bool kRight, bool kPairs, bool kClamp = true>
void Tile9(size_t c0, size_t channels, size_t width, const int8_t* const* input,
           const int32_t* head, const int8_t* wt, int8_t* output, const requant_neon::Output16& o) {
  constexpr size_t kTaps = 9;
  int8x16_t wv[kTaps];
  for (size_t t = 0; t < kTaps; ++t) wv[t] = vld1q_s8(wt + t * kCt);
  const int32x4_t b0 = vld1q_s32(head), b1 = vld1q_s32(head + 4);
  const int32x4_t b2 = vld1q_s32(head + 8), b3 = vld1q_s32(head + 12);
  const int32_t* m = head + kCt;
  const int32_t* s = head + 2 * kCt;
  requant_neon::Params r[4];
  for (size_t i = 0; i < 4; ++i) {
    if (kRight) {
      r[i].multiplier = vld1q_s32(m + 4 * i);
      r[i].neg_right = vld1q_s32(s + 4 * i);
    } else {
      r[i] = requant_neon::Load(m + 4 * i, s + 4 * i);
      r[i].any_left = true;
    }
  }
  for (size_t px = 0; px < width; ++px) {
    const int8_t* const* in = input + px * kTaps;
    int32x4_t acc0 = b0, acc1 = b1, acc2 = b2, acc3 = b3;
    const size_t step = kPairs ? 2 : 1;
    for (size_t t = 0; t < kTaps; t += step) {
      const int8x16_t x = vld1q_s8(in[t] + c0);
      int16x8_t plo = MullLow(x, wv[t]);
      int16x8_t phi = vmull_high_s8(x, wv[t]);
      if (kPairs && t + 1 < kTaps) {
        const int8x16_t x1 = vld1q_s8(in[t + 1] + c0);
        plo = MlalLow(plo, x1, wv[t + 1]);
        phi = vmlal_high_s8(phi, x1, wv[t + 1]);
      }
      acc0 = vaddw_s16(acc0, vget_low_s16(plo));
      acc1 = vaddw_high_s16(acc1, plo);
      acc2 = vaddw_s16(acc2, vget_low_s16(phi));
      acc3 = vaddw_high_s16(acc3, phi);
    }
    int8x16_t y;
    if (kRight) {
      y = requant_neon::Finish16<kClamp>(
          requant_neon::ScaleRight(acc0, r[0].multiplier, r[0].neg_right),
          requant_neon::ScaleRight(acc1, r[1].multiplier, r[1].neg_right),
          requant_neon::ScaleRight(acc2, r[2].multiplier, r[2].neg_right),
          requant_neon::ScaleRight(acc3, r[3].multiplier, r[3].neg_right), o);
    } else {
      y = requant_neon::Finish16(requant_neon::Scale(acc0, r[0]), requant_neon::Scale(acc1, r[1]),
                                 requant_neon::Scale(acc2, r[2]), requant_neon::Scale(acc3, r[3]),
                                 o);
    }
    vst1q_s8(output + px * channels + c0, y);
  }
}
#endif  // defined(__aarch64__)

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
#if defined(__aarch64__)
    if (cn == kCt && taps == 9) {
      const requant_neon::Output16 o = requant_neon::LoadOutput16(zp, lo, hi);
      const bool right =
          requant_neon::MaxLane(vmaxq_s32(vmaxq_s32(vld1q_s32(s), vld1q_s32(s + 4)),
                                          vmaxq_s32(vld1q_s32(s + 8), vld1q_s32(s + 12)))) < 0;
      int8x16_t wmin = vld1q_s8(wt);
      for (size_t t = 1; t < 9; ++t) wmin = vminq_s8(wmin, vld1q_s8(wt + t * kCt));
      const bool pairs = vminvq_s8(wmin) > -128;
      if (right && pairs && requant_neon::FullRange(lo, hi)) {  // no clamp needed
        Tile9<true, true, false>(c0, channels, width, input, head, wt, output, o);
      } else if (right && pairs) {
        Tile9<true, true>(c0, channels, width, input, head, wt, output, o);
      } else if (right) {
        Tile9<true, false>(c0, channels, width, input, head, wt, output, o);
      } else {
        Tile9<false, false>(c0, channels, width, input, head, wt, output, o);
      }
      continue;
    }
#endif
    const requant_neon::Params r0 = requant_neon::Load(m, s);
    const requant_neon::Params r1 = requant_neon::Load(m + 4, s + 4);
    const requant_neon::Params r2 = requant_neon::Load(m + 8, s + 8);
    const requant_neon::Params r3 = requant_neon::Load(m + 12, s + 12);
    const requant_neon::Output16 o = requant_neon::LoadOutput16(zp, lo, hi);
    // A full tile without a -128 weight (every symmetric int8 filter) adds
    // two taps' products in int16 first, as Tile9 does (|x * w| <= 128 *
    // 127): 4 multiplies and 4 widening adds per pair instead of per tap.
    bool pairs = false;
#if defined(__aarch64__)
    if (cn == kCt && taps >= 2) {
      int8x16_t wmin = vld1q_s8(wt);
      for (size_t t = 1; t < taps; ++t) wmin = vminq_s8(wmin, vld1q_s8(wt + t * kCt));
      pairs = vminvq_s8(wmin) > -128;
    }
#endif
    for (size_t px = 0; px < width; ++px) {
      const int8_t* const* in = input + px * taps;
      int32x4_t acc0 = vld1q_s32(head);
      int32x4_t acc1 = vld1q_s32(head + 4);
      int32x4_t acc2 = vld1q_s32(head + 8);
      int32x4_t acc3 = vld1q_s32(head + 12);
      size_t t = 0;
#if defined(__aarch64__)
      for (; pairs && t + 2 <= taps; t += 2) {
        const int8x16_t x0 = vld1q_s8(in[t] + c0), x1 = vld1q_s8(in[t + 1] + c0);
        const int8x16_t w0 = vld1q_s8(wt + t * kCt), w1 = vld1q_s8(wt + (t + 1) * kCt);
        const int16x8_t plo = MlalLow(MullLow(x0, w0), x1, w1);
        const int16x8_t phi = vmlal_high_s8(vmull_high_s8(x0, w0), x1, w1);
        acc0 = vaddw_s16(acc0, vget_low_s16(plo));
        acc1 = vaddw_high_s16(acc1, plo);
        acc2 = vaddw_s16(acc2, vget_low_s16(phi));
        acc3 = vaddw_high_s16(acc3, phi);
      }
#endif
      for (; t < taps; ++t) {
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
