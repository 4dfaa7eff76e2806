// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON int8 binary row kernels (q8_vbinary.h), 16 elements per step: bytes
// widened to int16 with the zero point subtracted (|q - z| <= 255 fits), then
// to 4 int32 lanes; TFLite's MBQM as requant_neon::Scale (SQRDMULH and a
// rounding shift, q8_requant/neon.h says why it is exact) and the output stage
// of Finish16. MUL's product (q - z) * (q' - z') comes exact from SMULL on the
// int16 halves. A tail shorter than 16 goes through zero-padded buffers.
// AArch64 and armv7 NEON.
#if defined(__aarch64__) || defined(__ARM_NEON)

#include "kernels/q8_requant/neon.h"

#include <arm_neon.h>

#include <cstring>
#include <type_traits>

#include "kernels/q8_vbinary/q8_vbinary.h"

namespace gearshift {
namespace {

using requant_neon::Scale;

requant_neon::Params Broadcast(const Q8VRequant& r) {
  const int32_t m[4] = {r.multiplier, r.multiplier, r.multiplier, r.multiplier};
  const int32_t s[4] = {r.shift, r.shift, r.shift, r.shift};
  return requant_neon::Load(m, s);
}

// 16 bytes minus a zero point, as two int16x8.
struct Wide {
  int16x8_t lo, hi;
};
inline Wide Widen(const int8_t* p, int16x8_t zero_point) {
  const int8x16_t v = vld1q_s8(p);
  return {vsubq_s16(vmovl_s8(vget_low_s8(v)), zero_point),
          vsubq_s16(vmovl_s8(vget_high_s8(v)), zero_point)};
}
inline int32x4_t Lo32(int16x8_t v) { return vmovl_s16(vget_low_s16(v)); }
inline int32x4_t Hi32(int16x8_t v) { return vmovl_s16(vget_high_s16(v)); }

// Runs step(a16, b16) -> 16 bytes over n elements; the tail via padded copies.
template <typename Step>
inline void Rows(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const Step& step) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) vst1q_s8(y + i, step(a + i, b + i));
  if (i < n) {
    int8_t ta[16] = {0}, tb[16] = {0}, ty[16];
    std::memcpy(ta, a + i, n - i);
    std::memcpy(tb, b + i, n - i);
    vst1q_s8(ty, step(ta, tb));
    std::memcpy(y + i, ty, n - i);
  }
}

}  // namespace

void q8_vadd__neon(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const Q8VAddParams* p) {
  const requant_neon::Params ra = Broadcast(p->a), rb = Broadcast(p->b), ro = Broadcast(p->out);
  const requant_neon::Output16 out =
      requant_neon::LoadOutput16(p->y_zero_point, p->act_min, p->act_max);
  const int16x8_t za = vdupq_n_s16(static_cast<int16_t>(p->a_zero_point));
  const int16x8_t zb = vdupq_n_s16(static_cast<int16_t>(p->b_zero_point));
  const int32x4_t s = vdupq_n_s32(p->left_shift);
  const int32x4_t sa = vdupq_n_s32(p->a_shift), sb = vdupq_n_s32(p->b_shift);
  // (a - za) << s, scaled (or, for an input whose stage is a plain shift,
  // q8_vbinary.h, just shifted); the sum wraps as the reference's
  // WrapAddI32. Templated so the choice is made once per call.
  auto run = [&](auto a_plain, auto b_plain) {
    auto sum = [&](int16x8_t da, int16x8_t db, bool high) {
      const int32x4_t xa = high ? Hi32(da) : Lo32(da), xb = high ? Hi32(db) : Lo32(db);
      const int32x4_t va =
          decltype(a_plain)::value ? vshlq_s32(xa, sa) : Scale(vshlq_s32(xa, s), ra);
      const int32x4_t vb =
          decltype(b_plain)::value ? vshlq_s32(xb, sb) : Scale(vshlq_s32(xb, s), rb);
      return Scale(vaddq_s32(va, vb), ro);
    };
    Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
      const Wide wa = Widen(pa, za), wb = Widen(pb, zb);
      return requant_neon::Finish16(sum(wa.lo, wb.lo, false), sum(wa.lo, wb.lo, true),
                                    sum(wa.hi, wb.hi, false), sum(wa.hi, wb.hi, true), out);
    });
  };
  const bool pa = p->a_shift >= 0, pb = p->b_shift >= 0;
  if (pa && pb) {
    run(std::true_type(), std::true_type());
  } else if (pa) {
    run(std::true_type(), std::false_type());
  } else if (pb) {
    run(std::false_type(), std::true_type());
  } else {
    run(std::false_type(), std::false_type());
  }
}

void q8_vmul__neon(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const Q8VMulParams* p) {
  const requant_neon::Params ro = Broadcast(p->out);
  const requant_neon::Output16 out =
      requant_neon::LoadOutput16(p->y_zero_point, p->act_min, p->act_max);
  const int16x8_t za = vdupq_n_s16(static_cast<int16_t>(p->a_zero_point));
  const int16x8_t zb = vdupq_n_s16(static_cast<int16_t>(p->b_zero_point));
  Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
    const Wide wa = Widen(pa, za), wb = Widen(pb, zb);
    return requant_neon::Finish16(Scale(vmull_s16(vget_low_s16(wa.lo), vget_low_s16(wb.lo)), ro),
                                  Scale(vmull_s16(vget_high_s16(wa.lo), vget_high_s16(wb.lo)), ro),
                                  Scale(vmull_s16(vget_low_s16(wa.hi), vget_low_s16(wb.hi)), ro),
                                  Scale(vmull_s16(vget_high_s16(wa.hi), vget_high_s16(wb.hi)), ro),
                                  out);
  });
}

void q8_vprelu__neon(size_t n, const int8_t* x, const int8_t* alpha, int8_t* y,
                     const Q8VPreluParams* p) {
  const requant_neon::Params ri = Broadcast(p->identity), ra = Broadcast(p->alpha);
  const requant_neon::Output16 out = requant_neon::LoadOutput16(p->y_zero_point, -128, 127);
  const int16x8_t zx = vdupq_n_s16(static_cast<int16_t>(p->x_zero_point));
  const int16x8_t za = vdupq_n_s16(static_cast<int16_t>(p->alpha_zero_point));
  // d >= 0: MBQM(d, identity), else MBQM(d * (alpha - za), alpha); both
  // computed, then selected (no branch on the data).
  auto half = [&](int16x4_t d, int16x4_t w) {
    const int32x4_t d32 = vmovl_s16(d);
    return vbslq_s32(vcltq_s32(d32, vdupq_n_s32(0)), Scale(vmull_s16(d, w), ra), Scale(d32, ri));
  };
  auto step = [&](const int8_t* px, const int8_t* pa) {
    const Wide d = Widen(px, zx), w = Widen(pa, za);
    return requant_neon::Finish16<false>(half(vget_low_s16(d.lo), vget_low_s16(w.lo)),
                                         half(vget_high_s16(d.lo), vget_high_s16(w.lo)),
                                         half(vget_low_s16(d.hi), vget_low_s16(w.hi)),
                                         half(vget_high_s16(d.hi), vget_high_s16(w.hi)), out);
  };
  const size_t period = p->alpha_period > 0 ? p->alpha_period : n;
  for (size_t off = 0; off < n; off += period) Rows(period, x + off, alpha, y + off, step);
}

}  // namespace gearshift

#endif  // defined(__aarch64__) || defined(__ARM_NEON)
