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
  // An input whose stage is a plain shift (q8_vbinary.h: the larger-scale
  // one) skips its MBQM; templated so the choice is made once per call.
  auto run = [&](auto a_plain, auto b_plain) {
    Rows(n, a, b, y, [&](const int8_t* pa, const int8_t* pb) {
      const __m512i da = _mm512_sub_epi32(Load16(pa), za), db = _mm512_sub_epi32(Load16(pb), zb);
      const __m512i xa =
          decltype(a_plain)::value ? _mm512_sll_epi32(da, sa) : Mbqm(_mm512_sll_epi32(da, s), ra);
      const __m512i xb =
          decltype(b_plain)::value ? _mm512_sll_epi32(db, sb) : Mbqm(_mm512_sll_epi32(db, s), rb);
      return requant_avx512::PackToI8(requant_avx512::Apply(_mm512_add_epi32(xa, xb), ro));
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

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
