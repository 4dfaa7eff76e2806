// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// TFLite's double-rounding MultiplyByQuantizedMultiplier (requant.h), then
// + zero point and the activation clamp, on 8 int32 lanes with AVX2, bit for
// bit the scalar form. AVX2 has no 64-bit arithmetic shift, so the rounding
// doubling high multiply works on |x|: with m >= 0 (QuantizeMultiplier never
// makes a negative multiplier), round(x * m / 2^31) ties away from zero is
// sign(x) * ((|x| * m + 2^30 - [x < 0]) >> 31), |x| * m taken unsigned
// (_mm256_mul_epu32, exact for |INT32_MIN| = 2^31). The rounding divide by
// 2^e adds 1 where the remainder exceeds (2^e - 1) / 2 + [r < 0], as
// RoundingDivideByPOT. The clamp runs before adding the zero point, in
// int32 (lo - zp, hi - zp), which equals clamping the int64 sum.
// Include only from translation units compiled with -mavx2 (avx2.cc files).
#ifndef GEARSHIFT_KERNELS_Q8_REQUANT_AVX2_H_
#define GEARSHIFT_KERNELS_Q8_REQUANT_AVX2_H_

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace gearshift {
namespace requant_avx2 {

// Per-block constants of one 8-column group.
struct Params {
  __m256i multiplier, left, right, zero_point, lo, hi;
};

inline Params Load(const int32_t* multiplier, const int32_t* shift, int32_t zero_point,
                   int32_t act_min, int32_t act_max) {
  Params p;
  p.multiplier = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(multiplier));
  const __m256i s = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(shift));
  const __m256i zero = _mm256_setzero_si256();
  p.left = _mm256_max_epi32(s, zero);
  p.right = _mm256_max_epi32(_mm256_sub_epi32(zero, s), zero);
  p.zero_point = _mm256_set1_epi32(zero_point);
  p.lo = _mm256_set1_epi32(act_min - zero_point);
  p.hi = _mm256_set1_epi32(act_max - zero_point);
  return p;
}

// The requantized int32 values (zero point added, clamped to [act_min, act_max]).
inline __m256i Apply(__m256i acc, const Params& p) {
  const __m256i x = _mm256_sllv_epi32(acc, p.left);
  const __m256i ax = _mm256_abs_epi32(x);
  const __m256i neg = _mm256_srli_epi32(x, 31);  // 1 where x < 0
  const __m256i half = _mm256_set1_epi64x(int64_t{1} << 30);
  const __m256i even = _mm256_mul_epu32(ax, p.multiplier);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(ax, 32), _mm256_srli_epi64(p.multiplier, 32));
  const __m256i low32 = _mm256_set1_epi64x(0xffffffff);
  const __m256i neg_even = _mm256_and_si256(neg, low32);
  const __m256i neg_odd = _mm256_srli_epi64(neg, 32);
  const __m256i q_even =
      _mm256_srli_epi64(_mm256_sub_epi64(_mm256_add_epi64(even, half), neg_even), 31);
  const __m256i q_odd =
      _mm256_srli_epi64(_mm256_sub_epi64(_mm256_add_epi64(odd, half), neg_odd), 31);
  const __m256i q = _mm256_blend_epi32(q_even, _mm256_slli_epi64(q_odd, 32), 0xAA);
  const __m256i r = _mm256_sign_epi32(q, x);  // q is 0 where x is 0
  // RoundingDivideByPOT(r, right)
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, p.right), one);
  const __m256i rem = _mm256_and_si256(r, mask);
  const __m256i thr = _mm256_add_epi32(_mm256_srli_epi32(mask, 1), _mm256_srli_epi32(r, 31));
  __m256i v = _mm256_sub_epi32(_mm256_srav_epi32(r, p.right), _mm256_cmpgt_epi32(rem, thr));
  v = _mm256_min_epi32(_mm256_max_epi32(v, p.lo), p.hi);
  return _mm256_add_epi32(v, p.zero_point);
}

// 8 int32 lanes already in [-128, 127] -> 8 bytes in the low half.
inline __m128i PackToI8(__m256i v) {
  const __m128i lo = _mm256_castsi256_si128(v);
  const __m128i hi = _mm256_extracti128_si256(v, 1);
  const __m128i w = _mm_packs_epi32(lo, hi);
  return _mm_packs_epi16(w, w);
}

// Stores the low n (1..8) bytes of v.
inline void StoreN(int8_t* c, __m128i v, size_t n) {
  if (n == 8) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(c), v);
    return;
  }
  if (n & 4) {
    const int32_t b = _mm_cvtsi128_si32(v);
    std::memcpy(c, &b, 4);
    c += 4;
    v = _mm_srli_epi64(v, 32);
  }
  if (n & 2) {
    const auto b = static_cast<int16_t>(_mm_extract_epi16(v, 0));
    std::memcpy(c, &b, 2);
    c += 2;
    v = _mm_srli_epi64(v, 16);
  }
  if (n & 1) *c = static_cast<int8_t>(_mm_cvtsi128_si32(v));
}

}  // namespace requant_avx2
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_Q8_REQUANT_AVX2_H_
