// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The AVX2 requantization of q8_requant/avx2.h (same arithmetic, same
// reasoning: bit for bit TFLite's double-rounding MultiplyByQuantizedMultiplier,
// + zero point, clamp) on 16 int32 lanes with AVX-512 F/BW/VL, plus a
// saturating narrow to 16 bytes and masked byte stores. Include only from
// translation units compiled with AVX-512 flags (avx512*.cc files).
#ifndef GEARSHIFT_KERNELS_Q8_REQUANT_AVX512_H_
#define GEARSHIFT_KERNELS_Q8_REQUANT_AVX512_H_

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace gearshift {
namespace requant_avx512 {

struct Params {
  __m512i multiplier, left, right, mask, half_mask, zero_point, lo, hi;
};

inline Params Load(const int32_t* multiplier, const int32_t* shift, int32_t zero_point,
                   int32_t act_min, int32_t act_max) {
  Params p;
  p.multiplier = _mm512_loadu_si512(multiplier);
  const __m512i s = _mm512_loadu_si512(shift);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i one = _mm512_set1_epi32(1);
  p.left = _mm512_max_epi32(s, zero);
  p.right = _mm512_max_epi32(_mm512_sub_epi32(zero, s), zero);
  p.mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, p.right), one);
  p.half_mask = _mm512_srli_epi32(p.mask, 1);
  p.zero_point = _mm512_set1_epi32(zero_point);
  p.lo = _mm512_set1_epi32(act_min - zero_point);
  p.hi = _mm512_set1_epi32(act_max - zero_point);
  return p;
}

// The same constants for one multiplier and shift in every lane (a
// per-tensor requantization: the elementwise ops).
inline Params Broadcast(int32_t multiplier, int32_t shift, int32_t zero_point, int32_t act_min,
                        int32_t act_max) {
  int32_t m[16], s[16];
  for (int i = 0; i < 16; ++i) {
    m[i] = multiplier;
    s[i] = shift;
  }
  return Load(m, s, zero_point, act_min, act_max);
}

// RoundingDivideByPOT(r, right): round half away from zero.
inline __m512i Rdbpot(__m512i r, const Params& p) {
  const __m512i rem = _mm512_and_si512(r, p.mask);
  const __m512i thr = _mm512_add_epi32(p.half_mask, _mm512_srli_epi32(r, 31));
  const __mmask16 up = _mm512_cmpgt_epi32_mask(rem, thr);
  const __m512i v = _mm512_srav_epi32(r, p.right);
  return _mm512_mask_add_epi32(v, up, v, _mm512_set1_epi32(1));
}

// MultiplyByQuantizedMultiplier alone: no zero point, no clamp.
inline __m512i Mbqm(__m512i acc, const Params& p) {
  const __m512i x = _mm512_sllv_epi32(acc, p.left);
  const __m512i half = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, p.multiplier), half);
  const __m512i odd = _mm512_add_epi64(
      _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(p.multiplier, 32)), half);
  const __m512i r =
      _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
  return Rdbpot(r, p);
}

// The MBQM of d << e where MakeQ8VPow2Stage (q8_vbinary.h) gave s: the
// doubling high multiply with two 32-bit multiplies, then the same
// RoundingDivideByPOT. high/low/round broadcast, k the uniform shift count.
inline __m512i MbqmPow2(__m512i d, __m512i high, __m512i low, __m512i round, __m128i k,
                        const Params& p) {
  const __m512i lo = _mm512_sra_epi32(_mm512_add_epi32(_mm512_mullo_epi32(d, low), round), k);
  return Rdbpot(_mm512_add_epi32(_mm512_mullo_epi32(d, high), lo), p);
}

// The output stage: clamped to [act_min, act_max], zero point added.
inline __m512i ClampAddZeroPoint(__m512i v, const Params& p) {
  return _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, p.lo), p.hi), p.zero_point);
}

inline __m512i Apply(__m512i acc, const Params& p) { return ClampAddZeroPoint(Mbqm(acc, p), p); }

// 16 int32 lanes in [-128, 127] -> 16 bytes.
inline __m128i PackToI8(__m512i v) { return _mm512_cvtsepi32_epi8(v); }

// Stores the first n (1..16) bytes of v.
inline void StoreN(int8_t* c, __m128i v, size_t n) {
  if (n == 16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(c), v);
  } else {
    _mm_mask_storeu_epi8(c, static_cast<__mmask16>((1u << n) - 1), v);
  }
}

}  // namespace requant_avx512
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_Q8_REQUANT_AVX512_H_
