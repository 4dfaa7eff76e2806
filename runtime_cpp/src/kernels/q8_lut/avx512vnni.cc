// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512 int8 lookup, 64 bytes a step, with VBMI: the 256-byte table sits
// in four zmm; VPERMI2B looks up the low 7 bits of each index in entries
// 0-127 and in 128-255, and the index's top bit picks between the two. A
// last step shorter than 64 is read and written through byte masks.
// Compiled with the avx512vnni flags (by file name) plus VBMI on this
// function (target attribute); dispatched only where cpuid reports VBMI
// too (Q8LutKernel::needs_vbmi).
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "kernels/q8_lut/q8_lut.h"

namespace gearshift {
namespace {

#define GS_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi")))

// 64 lookups: t0-t3 hold the table.
GS_VBMI inline __m512i Look(__m512i v, __m512i t0, __m512i t1, __m512i t2, __m512i t3) {
  const __m512i i = _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));  // x + 128
  const __m512i lo = _mm512_permutex2var_epi8(t0, i, t1);  // entries 0-127 (7 index bits)
  const __m512i hi = _mm512_permutex2var_epi8(t2, i, t3);  // 128-255
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(i), lo, hi);
}

}  // namespace

GS_VBMI void q8_lut_64x__avx512vbmi(size_t n, const int8_t* x, const int8_t* table, int8_t* y) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    _mm512_storeu_si512(y + i, Look(_mm512_loadu_si512(x + i), t0, t1, t2, t3));
  }
  if (i < n) {
    const __mmask64 m = (~__mmask64{0}) >> (64 - (n - i));
    _mm512_mask_storeu_epi8(y + i, m, Look(_mm512_maskz_loadu_epi8(m, x + i), t0, t1, t2, t3));
  }
}

#undef GS_VBMI

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
