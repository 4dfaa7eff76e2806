// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The softmax row on AVX-512F: 16 lanes; a row's last n % 16 values
// through masked loads and stores (-inf in the unused lanes: exp gives 0).
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <cmath>
#include <cstddef>

#include "kernels/f32_softmax/exp_consts.h"
#include "kernels/f32_softmax/f32_softmax.h"

namespace gearshift {
namespace {

using namespace softmax_exp;  // NOLINT: the constants

// exp_consts.h's ExpNonPositive, 16 lanes.
inline __m512 Exp16(__m512 x) {
  const __m512 lo = _mm512_set1_ps(kExpLo);
  const __m512 magic = _mm512_set1_ps(kRoundMagic);
  const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ);  // not below (NaN kept)
  const __m512 z = _mm512_mask_blend_ps(keep, lo, x);
  const __m512 nf = _mm512_sub_ps(_mm512_fmadd_ps(z, _mm512_set1_ps(kLog2e), magic), magic);
  __m512 r = _mm512_fmadd_ps(nf, _mm512_set1_ps(-kLn2Hi), z);
  r = _mm512_fmadd_ps(nf, _mm512_set1_ps(-kLn2Lo), r);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(kC7), r, _mm512_set1_ps(kC6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kC5));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kC4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kC3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kC2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512i bits =
      _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(nf), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mul_ps(keep, p, _mm512_castsi512_ps(bits));
}

inline __mmask16 Tail(size_t k) { return static_cast<__mmask16>((1u << k) - 1); }

}  // namespace

void f32_vexp__avx512(size_t n, const float* x, float* y) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, Exp16(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = Tail(n - i);
    _mm512_mask_storeu_ps(y + i, m,
                          Exp16(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), m, x + i)));
  }
}

void f32_softmax_row__avx512(size_t n, float beta, const float* x, float* y) {
  const __m512 vb = _mm512_set1_ps(beta);
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __m512 vmax = ninf;
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    vmax = _mm512_max_ps(vmax, _mm512_mul_ps(vb, _mm512_loadu_ps(x + i)));
  const __mmask16 tail = Tail(n - i);
  if (i < n)
    vmax =
        _mm512_mask_max_ps(vmax, tail, vmax, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(tail, x + i)));
  const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
  __m512 vsum = _mm512_setzero_ps();
  for (i = 0; i + 16 <= n; i += 16) {
    const __m512 e = Exp16(_mm512_sub_ps(_mm512_mul_ps(vb, _mm512_loadu_ps(x + i)), vm));
    _mm512_storeu_ps(y + i, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  if (i < n) {
    const __m512 d =
        _mm512_mask_sub_ps(ninf, tail, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(tail, x + i)), vm);
    const __m512 e = Exp16(d);
    _mm512_mask_storeu_ps(y + i, tail, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
  for (i = 0; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), inv));
  if (i < n)
    _mm512_mask_storeu_ps(y + i, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, y + i), inv));
}

}  // namespace gearshift
#endif
