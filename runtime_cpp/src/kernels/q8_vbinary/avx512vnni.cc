// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512 int8 binary row kernels (q8_vbinary.h): avx2.cc's arithmetic on 16
// int32 lanes (VPMULDQ on even and odd lanes, floor((ab + 2^30) / 2^31), the
// rounding divide with a mask compare), then a saturating narrow; the tail
// is a masked load and store. Compiled with the AVX-512 F/BW/VL/VNNI flags
// (by file name); dispatched only where those are reported.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/q8_vbinary/q8_vbinary.h"

namespace gearshift {
namespace {

// Broadcast constants: every 32-bit lane holds the same value, so the odd
// lanes' products use the multiplier register as it is.
struct VRequant {
  __m512i multiplier, left, right, mask, half_mask;
};

VRequant Broadcast(const Q8VRequant& r) {
  VRequant v;
  v.multiplier = _mm512_set1_epi32(r.multiplier);
  v.left = _mm512_set1_epi32(r.left);
  v.right = _mm512_set1_epi32(r.right);
  const int32_t mask = static_cast<int32_t>((int64_t{1} << r.right) - 1);
  v.mask = _mm512_set1_epi32(mask);
  v.half_mask = _mm512_set1_epi32(mask >> 1);
  return v;
}

// MBQM on 8 lanes, no zero point, no clamp.
inline __m512i Mbqm(__m512i acc, const VRequant& p) {
  const __m512i x = _mm512_sllv_epi32(acc, p.left);
  const __m512i half = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, p.multiplier), half);
  const __m512i odd =
      _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), p.multiplier), half);
  const __m512i r =
      _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
  const __m512i rem = _mm512_and_si512(r, p.mask);
  const __m512i thr = _mm512_add_epi32(p.half_mask, _mm512_srli_epi32(r, 31));
  const __m512i v = _mm512_srav_epi32(r, p.right);
  return _mm512_mask_add_epi32(v, _mm512_cmpgt_epi32_mask(rem, thr), v, _mm512_set1_epi32(1));
}

inline __m512i Load16(const int8_t* p) {
  return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// clamp(v, lo - zy, hi - zy) + zy -> 16 bytes (the ops' order: clamp first).
inline __m128i Finish(__m512i v, __m512i lo, __m512i hi, __m512i zy) {
  return _mm512_cvtsepi32_epi8(_mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi), zy));
}

// Runs step(a16, b16) -> 16 bytes over n elements; the tail via padded copies.
template <typename Step>
inline void Rows(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const Step& step) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), step(a + i, b + i));
  }
  if (i < n) {
    const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    alignas(16) int8_t ta[16], tb[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(ta), _mm_maskz_loadu_epi8(mask, a + i));
    _mm_store_si128(reinterpret_cast<__m128i*>(tb), _mm_maskz_loadu_epi8(mask, b + i));
    _mm_mask_storeu_epi8(y + i, mask, step(ta, tb));
  }
}

}  // namespace

void q8_vadd__avx512vnni(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                         const Q8VAddParams* p) {
  const VRequant ra = Broadcast(p->a), rb = Broadcast(p->b), ro = Broadcast(p->out);
  const __m512i za = _mm512_set1_epi32(p->a_zero_point);
  const __m512i zb = _mm512_set1_epi32(p->b_zero_point);
  const __m128i s = _mm_cvtsi32_si128(p->left_shift);
  const __m512i zy = _mm512_set1_epi32(p->y_zero_point);
  const __m512i lo = _mm512_set1_epi32(p->act_min - p->y_zero_point);
  const __m512i hi = _mm512_set1_epi32(p->act_max - p->y_zero_point);
  Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
    const __m512i xa = Mbqm(_mm512_sll_epi32(_mm512_sub_epi32(Load16(pa), za), s), ra);
    const __m512i xb = Mbqm(_mm512_sll_epi32(_mm512_sub_epi32(Load16(pb), zb), s), rb);
    return Finish(Mbqm(_mm512_add_epi32(xa, xb), ro), lo, hi, zy);
  });
}

void q8_vmul__avx512vnni(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                         const Q8VMulParams* p) {
  const VRequant ro = Broadcast(p->out);
  const __m512i za = _mm512_set1_epi32(p->a_zero_point);
  const __m512i zb = _mm512_set1_epi32(p->b_zero_point);
  const __m512i zy = _mm512_set1_epi32(p->y_zero_point);
  const __m512i lo = _mm512_set1_epi32(p->act_min - p->y_zero_point);
  const __m512i hi = _mm512_set1_epi32(p->act_max - p->y_zero_point);
  Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
    const __m512i prod =
        _mm512_mullo_epi32(_mm512_sub_epi32(Load16(pa), za), _mm512_sub_epi32(Load16(pb), zb));
    return Finish(Mbqm(prod, ro), lo, hi, zy);
  });
}

void q8_vprelu__avx512vnni(size_t n, const int8_t* x, const int8_t* alpha, int8_t* y,
                           const Q8VPreluParams* p) {
  const VRequant ri = Broadcast(p->identity), ra = Broadcast(p->alpha);
  const __m512i zx = _mm512_set1_epi32(p->x_zero_point);
  const __m512i za = _mm512_set1_epi32(p->alpha_zero_point);
  const __m512i zy = _mm512_set1_epi32(p->y_zero_point);
  const __m512i lo = _mm512_set1_epi32(-128 - p->y_zero_point);
  const __m512i hi = _mm512_set1_epi32(127 - p->y_zero_point);
  const __m512i zero = _mm512_setzero_si512();
  auto step = [&](const int8_t* px, const int8_t* pa) {
    const __m512i d = _mm512_sub_epi32(Load16(px), zx);
    const __m512i pos = Mbqm(d, ri);
    const __m512i neg = Mbqm(_mm512_mullo_epi32(d, _mm512_sub_epi32(Load16(pa), za)), ra);
    // d >= 0: pos (both computed, no branch on the data).
    return Finish(_mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(d, zero), pos, neg), lo, hi, zy);
  };
  const size_t period = p->alpha_period > 0 ? p->alpha_period : n;
  for (size_t off = 0; off < n; off += period) Rows(period, x + off, alpha, y + off, step);
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
