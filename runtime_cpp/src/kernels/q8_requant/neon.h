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
  // x - 1 where x < 0 and the column shifts right; cannot overflow (ScaleRight).
  return vrshlq_s32(vsraq_n_s32(x, vandq_s32(x, p.neg_right), 31), p.neg_right);
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

// kClamp false: the clamp range is the whole int8 range (act_min -128,
// act_max 127: no activation, or a ReLU/ReLU6 whose output range is exactly
// the int8 range, as TFLite's quantizer makes them), which the int8
// saturation already gives: no SMAX/SMIN (FullRange tells).
template <bool kClamp = true>
inline int8x16_t Finish16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d, const Output16& o) {
  const int16x8_t ab = vqaddq_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b)), o.zero_point);
  const int16x8_t cd = vqaddq_s16(vcombine_s16(vqmovn_s32(c), vqmovn_s32(d)), o.zero_point);
  const int8x16_t v = vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd));
  if (!kClamp) return v;
  return vminq_s8(vmaxq_s8(v, o.lo), o.hi);
}

// Finish16 for one group of 8 values.
template <bool kClamp = true>
inline int8x8_t Finish8(int32x4_t a, int32x4_t b, const Output16& o) {
  const int16x8_t ab = vqaddq_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b)), o.zero_point);
  if (!kClamp) return vqmovn_s16(ab);
  return vmin_s8(vmax_s8(vqmovn_s16(ab), vget_low_s8(o.lo)), vget_low_s8(o.hi));
}

// The clamp [act_min, act_max] covers all of int8: Finish16<false> is exact.
inline bool FullRange(int32_t act_min, int32_t act_max) {
  return act_min <= -128 && act_max >= 127;
}

// Stores the first n (1..8) bytes of v, by lanes (no memcpy call, which
// would make the kernels save callee-saved registers on every call).
inline void StoreN(int8_t* c, int8x8_t v, size_t n) {
  if (n == 8) {
    vst1_s8(c, v);
    return;
  }
  if (n & 4) {
    vst1_lane_s32(reinterpret_cast<int32_t*>(c), vreinterpret_s32_s8(v), 0);
    c += 4;
    v = vext_s8(v, v, 4);
  }
  if (n & 2) {
    vst1_lane_s16(reinterpret_cast<int16_t*>(c), vreinterpret_s16_s8(v), 0);
    c += 2;
    v = vext_s8(v, v, 2);
  }
  if (n & 1) vst1_lane_s8(c, v, 0);
}

// The largest lane of v (ARMv7 has no SMAXV).
inline int32_t MaxLane(int32x4_t v) {
#if defined(__aarch64__)
  return vmaxvq_s32(v);
#else
  const int32x2_t m = vpmax_s32(vget_low_s32(v), vget_high_s32(v));
  return vget_lane_s32(vpmax_s32(m, m), 0);
#endif
}

// Scale for a column group whose shifts are all right shifts of at least 1
// (every real layer: multipliers below 1): SQRDMULH never returns INT32_MIN
// (|2ab| reaches 2^63 only for INT32_MIN^2, which saturates to INT32_MAX), so
// x + (x >> 31) (SSRA) cannot overflow, and the AND with the shift is not
// needed. 3 instructions per 4 values.
inline int32x4_t ScaleRight(int32x4_t acc, int32x4_t multiplier, int32x4_t neg_right) {
  const int32x4_t x = vqrdmulhq_s32(acc, multiplier);
  return vrshlq_s32(vsraq_n_s32(x, x, 31), neg_right);
}

// The double-rounding epilogue of a kRows x 8 GEMM tile: row r's columns 0-3
// in lo[r] and 4-7 in hi[r] (rows at and past mr are computed, not stored),
// the columns' multipliers and shifts at multiplier[0..7] and shift[0..7];
// two rows per narrowing. A full tile (mr == kRows, nc == 8) stores 8 bytes
// per row with no branch per row.
template <size_t kRows, bool kClamp = true>
inline void StoreTile8(const int32x4_t* lo, const int32x4_t* hi, size_t mr, size_t nc,
                       const int32_t* multiplier, const int32_t* shift, int32_t zero_point,
                       int32_t act_min, int32_t act_max, int8_t* c, size_t c_stride) {
  constexpr size_t kPairs = kRows / 2;
  const int32x4_t ma = vld1q_s32(multiplier);
  const int32x4_t mb = vld1q_s32(multiplier + 4);
  const int32x4_t sa = vld1q_s32(shift);
  const int32x4_t sb = vld1q_s32(shift + 4);
  const Output16 o = LoadOutput16(zero_point, act_min, act_max);
  int8x16_t y[kPairs > 0 ? kPairs : 1];
  int8x8_t last = vdup_n_s8(0);  // row kRows - 1 when kRows is odd
  if (MaxLane(vmaxq_s32(sa, sb)) < 0) {
    for (size_t r = 0; r + 1 < kRows; r += 2) {
      y[r / 2] = Finish16<kClamp>(ScaleRight(lo[r], ma, sa), ScaleRight(hi[r], mb, sb),
                                  ScaleRight(lo[r + 1], ma, sa), ScaleRight(hi[r + 1], mb, sb), o);
    }
    if (kRows % 2) {
      last =
          Finish8<kClamp>(ScaleRight(lo[kRows - 1], ma, sa), ScaleRight(hi[kRows - 1], mb, sb), o);
    }
  } else {  // some shift is 0 or a left shift: the general form
    Params pa, pb;
    pa.multiplier = ma;
    pb.multiplier = mb;
    pa.left = vmaxq_s32(sa, vdupq_n_s32(0));
    pb.left = vmaxq_s32(sb, vdupq_n_s32(0));
    pa.neg_right = vminq_s32(sa, vdupq_n_s32(0));
    pb.neg_right = vminq_s32(sb, vdupq_n_s32(0));
    pa.any_left = pb.any_left = true;
    for (size_t r = 0; r + 1 < kRows; r += 2) {
      y[r / 2] = Finish16<kClamp>(Scale(lo[r], pa), Scale(hi[r], pb), Scale(lo[r + 1], pa),
                                  Scale(hi[r + 1], pb), o);
    }
    if (kRows % 2) last = Finish8<kClamp>(Scale(lo[kRows - 1], pa), Scale(hi[kRows - 1], pb), o);
  }
  if (mr == kRows && nc == 8) {
#if defined(__aarch64__)
    // One ST1 lane store per row, the pointer stepping by c_stride (GCC
    // copies each half to its own register first through vget_*_s8).
    int8_t* p = c;
    for (size_t r = 0; r + 1 < kRows; r += 2) {
      asm volatile(
          "st1 {%[y].d}[0], [%[p]], %[s]\n"
          "st1 {%[y].d}[1], [%[p]], %[s]\n"
          : [p] "+r"(p)
          : [y] "w"(y[r / 2]), [s] "r"(c_stride)
          : "memory");
    }
    if (kRows % 2) vst1_s8(p, last);
#else
    for (size_t r = 0; r + 1 < kRows; r += 2) {
      vst1_s8(c + r * c_stride, vget_low_s8(y[r / 2]));
      vst1_s8(c + (r + 1) * c_stride, vget_high_s8(y[r / 2]));
    }
    if (kRows % 2) vst1_s8(c + (kRows - 1) * c_stride, last);
#endif
    return;
  }
  for (size_t r = 0; r < mr; ++r) {
    const int8x8_t v = r + 1 == kRows && kRows % 2 ? last
                       : r % 2                     ? vget_high_s8(y[r / 2])
                                                   : vget_low_s8(y[r / 2]);
    StoreN(c + r * c_stride, v, nc);
  }
}

}  // namespace requant_neon
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_Q8_REQUANT_NEON_H_
