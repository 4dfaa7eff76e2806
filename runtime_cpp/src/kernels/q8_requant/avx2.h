// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// TFLite's double-rounding MultiplyByQuantizedMultiplier (requant.h), then
// + zero point and the activation clamp, on 8 int32 lanes with AVX2, bit for
// bit the scalar form. The rounding doubling high multiply: gemmlowp's
// truncating (ab + nudge) / 2^31 equals floor((ab + 2^30) / 2^31) for both
// signs (for ab < 0: trunc((ab + 1 - 2^30) / 2^31) = ceil(...) = that floor),
// and its result fits 32 bits, so a logical 64-bit shift gives the right low
// half (no 64-bit arithmetic shift needed); the one saturating input pair,
// INT32_MIN * INT32_MIN, cannot occur because QuantizeMultiplier never makes
// a negative multiplier. The rounding divide by 2^e adds 1 where the
// remainder exceeds (2^e - 1) / 2 + [r < 0], as RoundingDivideByPOT; its
// masks are computed once per column group. The clamp runs before adding
// the zero point, in int32 (lo - zp, hi - zp), which equals clamping the
// int64 sum.
// Include only from translation units compiled with -mavx2 (avx2.cc files).
#ifndef GEARSHIFT_KERNELS_Q8_REQUANT_AVX2_H_
#define GEARSHIFT_KERNELS_Q8_REQUANT_AVX2_H_

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace gearshift {
namespace requant_avx2 {

// Per-group constants of 8 columns.
struct Params {
  __m256i multiplier, left, right, mask, half_mask, zero_point, lo, hi;
};

inline Params Load(const int32_t* multiplier, const int32_t* shift, int32_t zero_point,
                   int32_t act_min, int32_t act_max) {
  Params p;
  p.multiplier = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(multiplier));
  const __m256i s = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(shift));
  const __m256i zero = _mm256_setzero_si256();
  const __m256i one = _mm256_set1_epi32(1);
  p.left = _mm256_max_epi32(s, zero);
  p.right = _mm256_max_epi32(_mm256_sub_epi32(zero, s), zero);
  p.mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, p.right), one);
  p.half_mask = _mm256_srli_epi32(p.mask, 1);
  p.zero_point = _mm256_set1_epi32(zero_point);
  p.lo = _mm256_set1_epi32(act_min - zero_point);
  p.hi = _mm256_set1_epi32(act_max - zero_point);
  return p;
}

// The same constants for one multiplier and shift in every lane (a
// per-tensor requantization: the elementwise ops).
inline Params Broadcast(int32_t multiplier, int32_t shift, int32_t zero_point, int32_t act_min,
                        int32_t act_max) {
  int32_t m[8], s[8];
  for (int i = 0; i < 8; ++i) {
    m[i] = multiplier;
    s[i] = shift;
  }
  return Load(m, s, zero_point, act_min, act_max);
}

// RoundingDivideByPOT(r, right): round half away from zero.
inline __m256i Rdbpot(__m256i r, const Params& p) {
  const __m256i rem = _mm256_and_si256(r, p.mask);
  const __m256i thr = _mm256_add_epi32(p.half_mask, _mm256_srli_epi32(r, 31));
  return _mm256_sub_epi32(_mm256_srav_epi32(r, p.right), _mm256_cmpgt_epi32(rem, thr));
}

// MultiplyByQuantizedMultiplier alone: no zero point, no clamp.
inline __m256i Mbqm(__m256i acc, const Params& p) {
  const __m256i x = _mm256_sllv_epi32(acc, p.left);
  const __m256i half = _mm256_set1_epi64x(int64_t{1} << 30);
  const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, p.multiplier), half);
  const __m256i odd = _mm256_add_epi64(
      _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(p.multiplier, 32)), half);
  const __m256i r =
      _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
  return Rdbpot(r, p);
}

// The MBQM of d << e where MakeQ8VPow2Stage (q8_vbinary.h) gave s: the
// doubling high multiply with two 32-bit multiplies, then the same
// RoundingDivideByPOT. high/low/round broadcast, k the uniform shift count.
inline __m256i MbqmPow2(__m256i d, __m256i high, __m256i low, __m256i round, __m128i k,
                        const Params& p) {
  const __m256i lo = _mm256_sra_epi32(_mm256_add_epi32(_mm256_mullo_epi32(d, low), round), k);
  return Rdbpot(_mm256_add_epi32(_mm256_mullo_epi32(d, high), lo), p);
}

// The output stage: clamped to [act_min, act_max], zero point added.
inline __m256i ClampAddZeroPoint(__m256i v, const Params& p) {
  return _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, p.lo), p.hi), p.zero_point);
}

// The requantized int32 values (zero point added, clamped to [act_min, act_max]).
inline __m256i Apply(__m256i acc, const Params& p) { return ClampAddZeroPoint(Mbqm(acc, p), p); }

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
