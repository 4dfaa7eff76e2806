// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// TFLite's double-rounding MultiplyByQuantizedMultiplier (requant.h) on 4
// int32 lanes with NEON, then + zero point and the activation clamp on 16
// values at once (Finish16), bit for bit the scalar form (gemmlowp fixedpoint_neon.h): SQRDMULH is
// exactly SaturatingRoundingDoublingHighMul (its round-half-up on 2ab + 2^31 equals the reference's
// ties-away nudge, and INT32_MIN^2 saturates alike); the rounding divide by 2^e is SRSHL after
// subtracting 1 from negative values (where e > 0), which turns round-half-up into ties away from
// zero. The left shift (SSHL) wraps as the reference's. Include only from NEON translation units
// (neon*.cc).
#ifndef GEARSHIFT_KERNELS_Q8_REQUANT_NEON_H_
#define GEARSHIFT_KERNELS_Q8_REQUANT_NEON_H_

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

namespace gearshift {
namespace requant_neon {

// Per-group constants of 4 columns.
struct Params {
  int32x4_t multiplier, left, neg_right;
  bool any_left;  // some column shifts left (a multiplier >= 1): rare
};

inline Params Load(const int32_t* multiplier, const int32_t* shift) {
  Params p;
  p.multiplier = vld1q_s32(multiplier);
  const int32x4_t s = vld1q_s32(shift);
  p.left = vmaxq_s32(s, vdupq_n_s32(0));
  p.neg_right = vminq_s32(s, vdupq_n_s32(0));  // -right
#if defined(__aarch64__)
  p.any_left = vmaxvq_s32(s) > 0;
#else
  p.any_left = shift[0] > 0 || shift[1] > 0 || shift[2] > 0 || shift[3] > 0;
#endif
  return p;
}

// MultiplyByQuantizedMultiplier alone (no zero point, no clamp).
inline int32x4_t Scale(int32x4_t acc, const Params& p) {
  if (p.any_left) acc = vshlq_s32(acc, p.left);
  const int32x4_t x = vqrdmulhq_s32(acc, p.multiplier);
  const int32x4_t fixup = vshrq_n_s32(vandq_s32(x, p.neg_right), 31);
  return vrshlq_s32(vqaddq_s32(x, fixup), p.neg_right);
}

// Output stage of 16 scaled values at once: saturate to int16, add the
// zero point (saturating), saturate to int8, clamp to [act_min, act_max] in
// int8 (max, then min: np.clip's order). Equal to clamp(v + zp) in exact
// arithmetic: a value that saturates in either narrowing is beyond every
// int8 bound on the same side, so it clamps to the same end.
struct Output16 {
  int16x8_t zero_point;
  int8x16_t lo, hi;
};

inline Output16 LoadOutput16(int32_t zero_point, int32_t act_min, int32_t act_max) {
  Output16 o;
  o.zero_point = vdupq_n_s16(static_cast<int16_t>(zero_point));
  o.lo = vdupq_n_s8(static_cast<int8_t>(act_min < -128 ? -128 : act_min));
  o.hi = vdupq_n_s8(static_cast<int8_t>(act_max > 127 ? 127 : act_max));
  return o;
}

inline int8x16_t Finish16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d, const Output16& o) {
  const int16x8_t ab = vqaddq_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b)), o.zero_point);
  const int16x8_t cd = vqaddq_s16(vcombine_s16(vqmovn_s32(c), vqmovn_s32(d)), o.zero_point);
  const int8x16_t v = vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd));
  return vminq_s8(vmaxq_s8(v, o.lo), o.hi);
}

// Stores the first n (1..8) bytes of v.
inline void StoreN(int8_t* c, int8x8_t v, size_t n) {
  if (n == 8) {
    vst1_s8(c, v);
    return;
  }
  int8_t tmp[8];
  vst1_s8(tmp, v);
  for (size_t i = 0; i < n; ++i) c[i] = tmp[i];
}

// The double-rounding epilogue of an MR x 8 GEMM tile: row r's columns 0-3
// in lo[r] and 4-7 in hi[r], the columns' multipliers and shifts at
// multiplier[0..7] and shift[0..7]; two rows per narrowing. lo and hi hold an
// even number of rows >= mr; a row at mr (a duplicate when mr is odd) is
// computed but not stored.
inline void StoreTile8(const int32x4_t* lo, const int32x4_t* hi, size_t mr, size_t nc,
                       const int32_t* multiplier, const int32_t* shift, int32_t zero_point,
                       int32_t act_min, int32_t act_max, int8_t* c, size_t c_stride) {
  const Params ra = Load(multiplier, shift);
  const Params rb = Load(multiplier + 4, shift + 4);
  const Output16 o = LoadOutput16(zero_point, act_min, act_max);
  for (size_t r = 0; r < mr; r += 2) {
    const int8x16_t y =
        Finish16(Scale(lo[r], ra), Scale(hi[r], rb), Scale(lo[r + 1], ra), Scale(hi[r + 1], rb), o);
    StoreN(c + r * c_stride, vget_low_s8(y), nc);
    if (r + 1 < mr) StoreN(c + (r + 1) * c_stride, vget_high_s8(y), nc);
  }
}

}  // namespace requant_neon
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_Q8_REQUANT_NEON_H_
