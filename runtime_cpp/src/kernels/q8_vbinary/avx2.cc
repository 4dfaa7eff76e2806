// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 int8 binary row kernels (q8_vbinary.h), 8 elements per step: bytes
// sign-extended to int32 lanes, TFLite's MBQM in registers with the same
// arithmetic as q8_requant/avx2.h (32x32->64 VPMULDQ on even and odd lanes,
// floor((ab + 2^30) / 2^31), then the rounding divide), clamp, narrow. A
// tail shorter than 8 goes through zero-padded 8-byte buffers. Compiled with
// -mavx2 (by file name); dispatched only where AVX2 is reported.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/q8_vbinary/q8_vbinary.h"

namespace gearshift {
namespace {

// Broadcast constants: every 32-bit lane holds the same value, so the odd
// lanes' products use the multiplier register as it is.
struct VRequant {
  __m256i multiplier, left, right, mask, half_mask;
};

VRequant Broadcast(const Q8VRequant& r) {
  VRequant v;
  v.multiplier = _mm256_set1_epi32(r.multiplier);
  v.left = _mm256_set1_epi32(r.left);
  v.right = _mm256_set1_epi32(r.right);
  const int32_t mask = static_cast<int32_t>((int64_t{1} << r.right) - 1);
  v.mask = _mm256_set1_epi32(mask);
  v.half_mask = _mm256_set1_epi32(mask >> 1);
  return v;
}

// MBQM on 8 lanes, no zero point, no clamp.
inline __m256i Mbqm(__m256i acc, const VRequant& p) {
  const __m256i x = _mm256_sllv_epi32(acc, p.left);
  const __m256i half = _mm256_set1_epi64x(int64_t{1} << 30);
  const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, p.multiplier), half);
  const __m256i odd =
      _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), p.multiplier), half);
  const __m256i r =
      _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
  const __m256i rem = _mm256_and_si256(r, p.mask);
  const __m256i thr = _mm256_add_epi32(p.half_mask, _mm256_srli_epi32(r, 31));
  return _mm256_sub_epi32(_mm256_srav_epi32(r, p.right), _mm256_cmpgt_epi32(rem, thr));
}

inline __m256i Load8(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// clamp(v, lo - zy, hi - zy) + zy -> 8 bytes (the ops' order: clamp first).
inline __m128i Finish(__m256i v, __m256i lo, __m256i hi, __m256i zy) {
  v = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, lo), hi), zy);
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_packs_epi16(w, w);
}

// Runs step(a8, b8) -> 8 bytes over n elements; the tail via padded copies.
template <typename Step>
inline void Rows(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const Step& step) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), step(a + i, b + i));
  }
  if (i < n) {
    int8_t ta[8] = {0}, tb[8] = {0}, ty[8];
    std::memcpy(ta, a + i, n - i);
    std::memcpy(tb, b + i, n - i);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(ty), step(ta, tb));
    std::memcpy(y + i, ty, n - i);
  }
}

}  // namespace

void q8_vadd__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const Q8VAddParams* p) {
  const VRequant ra = Broadcast(p->a), rb = Broadcast(p->b), ro = Broadcast(p->out);
  const __m256i za = _mm256_set1_epi32(p->a_zero_point);
  const __m256i zb = _mm256_set1_epi32(p->b_zero_point);
  const __m128i s = _mm_cvtsi32_si128(p->left_shift);
  const __m256i zy = _mm256_set1_epi32(p->y_zero_point);
  const __m256i lo = _mm256_set1_epi32(p->act_min - p->y_zero_point);
  const __m256i hi = _mm256_set1_epi32(p->act_max - p->y_zero_point);
  Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
    const __m256i xa = Mbqm(_mm256_sll_epi32(_mm256_sub_epi32(Load8(pa), za), s), ra);
    const __m256i xb = Mbqm(_mm256_sll_epi32(_mm256_sub_epi32(Load8(pb), zb), s), rb);
    return Finish(Mbqm(_mm256_add_epi32(xa, xb), ro), lo, hi, zy);
  });
}

void q8_vmul__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const Q8VMulParams* p) {
  const VRequant ro = Broadcast(p->out);
  const __m256i za = _mm256_set1_epi32(p->a_zero_point);
  const __m256i zb = _mm256_set1_epi32(p->b_zero_point);
  const __m256i zy = _mm256_set1_epi32(p->y_zero_point);
  const __m256i lo = _mm256_set1_epi32(p->act_min - p->y_zero_point);
  const __m256i hi = _mm256_set1_epi32(p->act_max - p->y_zero_point);
  Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
    const __m256i prod =
        _mm256_mullo_epi32(_mm256_sub_epi32(Load8(pa), za), _mm256_sub_epi32(Load8(pb), zb));
    return Finish(Mbqm(prod, ro), lo, hi, zy);
  });
}

void q8_vprelu__avx2(size_t n, const int8_t* x, const int8_t* alpha, int8_t* y,
                     const Q8VPreluParams* p) {
  const VRequant ri = Broadcast(p->identity), ra = Broadcast(p->alpha);
  const __m256i zx = _mm256_set1_epi32(p->x_zero_point);
  const __m256i za = _mm256_set1_epi32(p->alpha_zero_point);
  const __m256i zy = _mm256_set1_epi32(p->y_zero_point);
  const __m256i lo = _mm256_set1_epi32(-128 - p->y_zero_point);
  const __m256i hi = _mm256_set1_epi32(127 - p->y_zero_point);
  const __m256i zero = _mm256_setzero_si256();
  auto step = [&](const int8_t* px, const int8_t* pa) {
    const __m256i d = _mm256_sub_epi32(Load8(px), zx);
    const __m256i pos = Mbqm(d, ri);
    const __m256i neg = Mbqm(_mm256_mullo_epi32(d, _mm256_sub_epi32(Load8(pa), za)), ra);
    // d >= 0: pos (both computed, no branch on the data).
    return Finish(_mm256_blendv_epi8(pos, neg, _mm256_cmpgt_epi32(zero, d)), lo, hi, zy);
  };
  const size_t period = p->alpha_period > 0 ? p->alpha_period : n;
  for (size_t off = 0; off < n; off += period) Rows(period, x + off, alpha, y + off, step);
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
