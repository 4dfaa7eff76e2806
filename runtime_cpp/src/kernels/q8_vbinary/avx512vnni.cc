// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512 int8 binary row kernels (q8_vbinary.h): avx2.cc on 16 int32 lanes,
// with the MBQM and output stage of q8_requant/avx512.h; the tail is a
// masked load and store. Compiled with the AVX-512 F/BW/VL/VNNI flags (by
// file name); dispatched only where those are reported.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/q8_requant/avx512.h"
#include "kernels/q8_vbinary/q8_vbinary.h"

namespace gearshift {
namespace {

using requant_avx512::Broadcast;
using requant_avx512::Mbqm;

// The MBQM constants alone (no output stage).
requant_avx512::Params MbqmOnly(const Q8VRequant& r) {
  return Broadcast(r.multiplier, r.shift, 0, -128, 127);
}

inline __m512i Load16(const int8_t* p) {
  return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Runs step(a16, b16) -> 16 bytes over n elements; the tail masked.
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
  const requant_avx512::Params ra = MbqmOnly(p->a), rb = MbqmOnly(p->b);
  const requant_avx512::Params ro =
      Broadcast(p->out.multiplier, p->out.shift, p->y_zero_point, p->act_min, p->act_max);
  const __m512i za = _mm512_set1_epi32(p->a_zero_point);
  const __m512i zb = _mm512_set1_epi32(p->b_zero_point);
  const __m128i s = _mm_cvtsi32_si128(p->left_shift);
  const __m128i sa = _mm_cvtsi32_si128(p->a_shift), sb = _mm_cvtsi32_si128(p->b_shift);
  // Each input's stage, chosen once per call (templated): 0, a plain shift
  // (q8_vbinary.h: the larger-scale input); 1, the MBQM of d << 20 with
  // 32-bit multiplies (Q8VPow2Stage); 2, the general MBQM.
  Q8VPow2Stage qa, qb;
  const int ma = Q8VAddStageMode(p->a_shift, p->a, p->left_shift, &qa);
  const int mb = Q8VAddStageMode(p->b_shift, p->b, p->left_shift, &qb);
  const __m512i ha = _mm512_set1_epi32(qa.high), la = _mm512_set1_epi32(qa.low);
  const __m512i rda = _mm512_set1_epi32(qa.round);
  const __m512i hb = _mm512_set1_epi32(qb.high), lb = _mm512_set1_epi32(qb.low);
  const __m512i rdb = _mm512_set1_epi32(qb.round);
  const __m128i ka = _mm_cvtsi32_si128(qa.k), kb = _mm_cvtsi32_si128(qb.k);
  auto run = [&](auto a_mode, auto b_mode) {
    constexpr int kA = decltype(a_mode)::value, kB = decltype(b_mode)::value;
    Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
      const __m512i da = _mm512_sub_epi32(Load16(pa), za), db = _mm512_sub_epi32(Load16(pb), zb);
      __m512i xa, xb;
      if constexpr (kA == 0) {
        xa = _mm512_sll_epi32(da, sa);
      } else if constexpr (kA == 1) {
        xa = requant_avx512::MbqmPow2(da, ha, la, rda, ka, ra);
      } else {
        xa = Mbqm(_mm512_sll_epi32(da, s), ra);
      }
      if constexpr (kB == 0) {
        xb = _mm512_sll_epi32(db, sb);
      } else if constexpr (kB == 1) {
        xb = requant_avx512::MbqmPow2(db, hb, lb, rdb, kb, rb);
      } else {
        xb = Mbqm(_mm512_sll_epi32(db, s), rb);
      }
      return requant_avx512::PackToI8(requant_avx512::Apply(_mm512_add_epi32(xa, xb), ro));
    });
  };
  WithQ8VAddModes(ma, mb, run);
}

void q8_vmul__avx512vnni(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                         const Q8VMulParams* p) {
  const requant_avx512::Params ro =
      Broadcast(p->out.multiplier, p->out.shift, p->y_zero_point, p->act_min, p->act_max);
  const __m512i za = _mm512_set1_epi32(p->a_zero_point);
  const __m512i zb = _mm512_set1_epi32(p->b_zero_point);
  Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
    const __m512i prod =
        _mm512_mullo_epi32(_mm512_sub_epi32(Load16(pa), za), _mm512_sub_epi32(Load16(pb), zb));
    return requant_avx512::PackToI8(requant_avx512::Apply(prod, ro));
  });
}

void q8_vprelu__avx512vnni(size_t n, const int8_t* x, const int8_t* alpha, int8_t* y,
                           const Q8VPreluParams* p) {
  const requant_avx512::Params ri = MbqmOnly(p->identity), ra = MbqmOnly(p->alpha);
  const requant_avx512::Params out = Broadcast(0, 0, p->y_zero_point, -128, 127);  // the clamp
  const __m512i zx = _mm512_set1_epi32(p->x_zero_point);
  const __m512i za = _mm512_set1_epi32(p->alpha_zero_point);
  const __m512i zero = _mm512_setzero_si512();
  auto step = [&](const int8_t* px, const int8_t* pa) {
    const __m512i d = _mm512_sub_epi32(Load16(px), zx);
    const __m512i pos = Mbqm(d, ri);
    const __m512i neg = Mbqm(_mm512_mullo_epi32(d, _mm512_sub_epi32(Load16(pa), za)), ra);
    // d >= 0: pos (both computed, no branch on the data).
    const __m512i v = _mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(d, zero), pos, neg);
    return requant_avx512::PackToI8(requant_avx512::ClampAddZeroPoint(v, out));
  };
  const size_t period = p->alpha_period > 0 ? p->alpha_period : n;
  for (size_t off = 0; off < n; off += period) Rows(period, x + off, alpha, y + off, step);
}

#define GS_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi")))

// PRELU with VBMI, 64 bytes a step. The non-negative side, clamp and zero
// point included, depends on x alone (one multiplier per tensor), so it is a
// 256-byte table built on entry with the same Mbqm as q8_vprelu__avx512vnni
// (bit for bit that kernel's values) and looked up with VPERMI2B as
// q8_lut/avx512vnni.cc does; only the negative side (alpha per channel)
// still runs the 32-bit arithmetic: one MBQM per value instead of two. The
// ops repeat the alpha row to a multiple of 64 bytes (q8_elementwise.cc), so
// whole periods run 64 at a time; a period's last bytes are masked.
namespace {

// 64 lookups of a 256-byte table held in t0-t3 (entries 0-127 by the low 7
// index bits, 128-255 likewise, the top bit picking). Lambdas do not inherit
// a target attribute, so this is a function of its own.
GS_VBMI inline __m512i Look256(__m512i i, __m512i t0, __m512i t1, __m512i t2, __m512i t3) {
  const __m512i lo = _mm512_permutex2var_epi8(t0, i, t1);
  const __m512i hi = _mm512_permutex2var_epi8(t2, i, t3);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(i), lo, hi);
}

}  // namespace

GS_VBMI void q8_vprelu__avx512vbmi(size_t n, const int8_t* x, const int8_t* alpha, int8_t* y,
                                   const Q8VPreluParams* p) {
  const requant_avx512::Params ri = MbqmOnly(p->identity), ra = MbqmOnly(p->alpha);
  const requant_avx512::Params out = Broadcast(0, 0, p->y_zero_point, -128, 127);  // the clamp
  const __m512i zx = _mm512_set1_epi32(p->x_zero_point);
  const __m512i za = _mm512_set1_epi32(p->alpha_zero_point);
  alignas(64) int8_t table[256];  // entry q + 128: the output for x = q where q >= zx
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int i = 0; i < 256; i += 16) {
    const __m512i d = _mm512_sub_epi32(_mm512_add_epi32(_mm512_set1_epi32(i - 128), iota), zx);
    const __m512i v = requant_avx512::ClampAddZeroPoint(Mbqm(d, ri), out);
    _mm_store_si128(reinterpret_cast<__m128i*>(table + i), requant_avx512::PackToI8(v));
  }
  const __m512i t0 = _mm512_load_si512(table), t1 = _mm512_load_si512(table + 64);
  const __m512i t2 = _mm512_load_si512(table + 128), t3 = _mm512_load_si512(table + 192);
  const __m512i zx8 = _mm512_set1_epi8(static_cast<char>(p->x_zero_point));
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  // 16 values of the negative side, clamped, zero point added, as bytes.
  auto neg16 = [&](__m128i xb, __m128i ab) {
    const __m512i d = _mm512_sub_epi32(_mm512_cvtepi8_epi32(xb), zx);
    const __m512i v =
        Mbqm(_mm512_mullo_epi32(d, _mm512_sub_epi32(_mm512_cvtepi8_epi32(ab), za)), ra);
    return requant_avx512::PackToI8(requant_avx512::ClampAddZeroPoint(v, out));
  };
  auto step = [&](__m512i xv, __m512i av) {
    const __m512i pos = Look256(_mm512_xor_si512(xv, flip), t0, t1, t2, t3);  // at x + 128
    __m512i neg =
        _mm512_castsi128_si512(neg16(_mm512_castsi512_si128(xv), _mm512_castsi512_si128(av)));
    neg = _mm512_inserti32x4(
        neg, neg16(_mm512_extracti32x4_epi32(xv, 1), _mm512_extracti32x4_epi32(av, 1)), 1);
    neg = _mm512_inserti32x4(
        neg, neg16(_mm512_extracti32x4_epi32(xv, 2), _mm512_extracti32x4_epi32(av, 2)), 2);
    neg = _mm512_inserti32x4(
        neg, neg16(_mm512_extracti32x4_epi32(xv, 3), _mm512_extracti32x4_epi32(av, 3)), 3);
    return _mm512_mask_blend_epi8(_mm512_cmplt_epi8_mask(xv, zx8), pos, neg);  // x < zx: neg
  };
  const size_t period = p->alpha_period > 0 ? p->alpha_period : n;
  for (size_t off = 0; off < n; off += period) {
    const int8_t* xp = x + off;
    int8_t* yp = y + off;
    size_t i = 0;
    for (; i + 64 <= period; i += 64) {
      _mm512_storeu_si512(yp + i, step(_mm512_loadu_si512(xp + i), _mm512_loadu_si512(alpha + i)));
    }
    if (i < period) {
      const __mmask64 m = (~__mmask64{0}) >> (64 - (period - i));
      _mm512_mask_storeu_epi8(
          yp + i, m,
          step(_mm512_maskz_loadu_epi8(m, xp + i), _mm512_maskz_loadu_epi8(m, alpha + i)));
    }
  }
}

#undef GS_VBMI

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
