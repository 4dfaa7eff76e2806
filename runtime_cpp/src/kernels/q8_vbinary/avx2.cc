// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 int8 binary row kernels (q8_vbinary.h), 8 elements per step: bytes
// sign-extended to int32 lanes, TFLite's MBQM and the output stage from
// q8_requant/avx2.h with every lane's constants the same (Broadcast), then a
// saturating narrow. A tail shorter than 8 goes through zero-padded 8-byte
// buffers. Compiled with -mavx2 (by file name); dispatched only where AVX2 is
// reported.
#if defined(__x86_64__) || defined(_M_X64)

#include "kernels/q8_requant/avx2.h"

#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/q8_vbinary/q8_vbinary.h"

namespace gearshift {
namespace {

using requant_avx2::Broadcast;
using requant_avx2::Mbqm;

// The MBQM constants alone (no output stage).
requant_avx2::Params MbqmOnly(const Q8VRequant& r) {
  return Broadcast(r.multiplier, r.shift, 0, -128, 127);
}

inline __m256i Load8(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
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
  const requant_avx2::Params ra = MbqmOnly(p->a), rb = MbqmOnly(p->b);
  const requant_avx2::Params ro =
      Broadcast(p->out.multiplier, p->out.shift, p->y_zero_point, p->act_min, p->act_max);
  const __m256i za = _mm256_set1_epi32(p->a_zero_point);
  const __m256i zb = _mm256_set1_epi32(p->b_zero_point);
  const __m128i s = _mm_cvtsi32_si128(p->left_shift);
  const __m128i sa = _mm_cvtsi32_si128(p->a_shift), sb = _mm_cvtsi32_si128(p->b_shift);
  // Each input's stage, chosen once per call (templated): 0, a plain shift
  // (q8_vbinary.h: the larger-scale input); 1, the MBQM of d << 20 with
  // 32-bit multiplies (Q8VPow2Stage); 2, the general MBQM.
  Q8VPow2Stage qa, qb;
  const int ma = Q8VAddStageMode(p->a_shift, p->a, p->left_shift, &qa);
  const int mb = Q8VAddStageMode(p->b_shift, p->b, p->left_shift, &qb);
  const __m256i ha = _mm256_set1_epi32(qa.high), la = _mm256_set1_epi32(qa.low);
  const __m256i rda = _mm256_set1_epi32(qa.round);
  const __m256i hb = _mm256_set1_epi32(qb.high), lb = _mm256_set1_epi32(qb.low);
  const __m256i rdb = _mm256_set1_epi32(qb.round);
  const __m128i ka = _mm_cvtsi32_si128(qa.k), kb = _mm_cvtsi32_si128(qb.k);
  auto run = [&](auto a_mode, auto b_mode) {
    constexpr int kA = decltype(a_mode)::value, kB = decltype(b_mode)::value;
    Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
      const __m256i da = _mm256_sub_epi32(Load8(pa), za), db = _mm256_sub_epi32(Load8(pb), zb);
      __m256i xa, xb;
      if constexpr (kA == 0) {
        xa = _mm256_sll_epi32(da, sa);
      } else if constexpr (kA == 1) {
        xa = requant_avx2::MbqmPow2(da, ha, la, rda, ka, ra);
      } else {
        xa = Mbqm(_mm256_sll_epi32(da, s), ra);
      }
      if constexpr (kB == 0) {
        xb = _mm256_sll_epi32(db, sb);
      } else if constexpr (kB == 1) {
        xb = requant_avx2::MbqmPow2(db, hb, lb, rdb, kb, rb);
      } else {
        xb = Mbqm(_mm256_sll_epi32(db, s), rb);
      }
      return requant_avx2::PackToI8(requant_avx2::Apply(_mm256_add_epi32(xa, xb), ro));
    });
  };
  WithQ8VAddModes(ma, mb, run);
}

void q8_vmul__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y, const Q8VMulParams* p) {
  const requant_avx2::Params ro =
      Broadcast(p->out.multiplier, p->out.shift, p->y_zero_point, p->act_min, p->act_max);
  const __m256i za = _mm256_set1_epi32(p->a_zero_point);
  const __m256i zb = _mm256_set1_epi32(p->b_zero_point);
  Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
    const __m256i prod =
        _mm256_mullo_epi32(_mm256_sub_epi32(Load8(pa), za), _mm256_sub_epi32(Load8(pb), zb));
    return requant_avx2::PackToI8(requant_avx2::Apply(prod, ro));
  });
}

void q8_vprelu__avx2(size_t n, const int8_t* x, const int8_t* alpha, int8_t* y,
                     const Q8VPreluParams* p) {
  const requant_avx2::Params ri = MbqmOnly(p->identity), ra = MbqmOnly(p->alpha);
  const requant_avx2::Params out = Broadcast(0, 0, p->y_zero_point, -128, 127);  // the clamp
  const __m256i zx = _mm256_set1_epi32(p->x_zero_point);
  const __m256i za = _mm256_set1_epi32(p->alpha_zero_point);
  const __m256i zero = _mm256_setzero_si256();
  auto step = [&](const int8_t* px, const int8_t* pa) {
    const __m256i d = _mm256_sub_epi32(Load8(px), zx);
    const __m256i pos = Mbqm(d, ri);
    const __m256i neg = Mbqm(_mm256_mullo_epi32(d, _mm256_sub_epi32(Load8(pa), za)), ra);
    // d >= 0: pos (both computed, no branch on the data).
    const __m256i v = _mm256_blendv_epi8(pos, neg, _mm256_cmpgt_epi32(zero, d));
    return requant_avx2::PackToI8(requant_avx2::ClampAddZeroPoint(v, out));
  };
  const size_t period = p->alpha_period > 0 ? p->alpha_period : n;
  for (size_t off = 0; off < n; off += period) Rows(period, x + off, alpha, y + off, step);
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
