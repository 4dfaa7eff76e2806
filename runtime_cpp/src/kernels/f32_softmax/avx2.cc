// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The softmax row on AVX2/FMA: 8 lanes; a row's last n % 8 values go
// through a padded vector (-inf in the unused lanes: exp gives 0 there).
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <cmath>
#include <cstddef>

#include "kernels/f32_softmax/exp_consts.h"
#include "kernels/f32_softmax/f32_softmax.h"

namespace gearshift {
namespace {

using namespace softmax_exp;  // NOLINT: the constants

// exp_consts.h's ExpNonPositive, 8 lanes.
inline __m256 Exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(kExpLo);
  const __m256 magic = _mm256_set1_ps(kRoundMagic);
  const __m256 below = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  const __m256 z = _mm256_blendv_ps(x, lo, below);
  const __m256 nf = _mm256_sub_ps(_mm256_fmadd_ps(z, _mm256_set1_ps(kLog2e), magic), magic);
  __m256 r = _mm256_fmadd_ps(nf, _mm256_set1_ps(-kLn2Hi), z);
  r = _mm256_fmadd_ps(nf, _mm256_set1_ps(-kLn2Lo), r);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(kC7), r, _mm256_set1_ps(kC6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC5));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nf), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(below, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

inline float Sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float Max8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace

void f32_vexp__avx2(size_t n, const float* x, float* y) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, Exp8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float t[8];
    for (size_t k = 0; k < 8; ++k) t[k] = i + k < n ? x[i + k] : -INFINITY;
    _mm256_store_ps(t, Exp8(_mm256_load_ps(t)));
    for (size_t k = 0; i + k < n; ++k) y[i + k] = t[k];
  }
}

void f32_softmax_row__avx2(size_t n, float beta, const float* x, float* y) {
  const __m256 vb = _mm256_set1_ps(beta);
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_mul_ps(vb, _mm256_loadu_ps(x + i)));
  float m = Max8(vmax);
  for (size_t k = i; k < n; ++k) m = m < beta * x[k] ? beta * x[k] : m;
  const __m256 vm = _mm256_set1_ps(m);
  __m256 vsum = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = Exp8(_mm256_sub_ps(_mm256_mul_ps(vb, _mm256_loadu_ps(x + i)), vm));
    _mm256_storeu_ps(y + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  if (i < n) {
    alignas(32) float t[8];
    for (size_t k = 0; k < 8; ++k) t[k] = i + k < n ? beta * x[i + k] - m : -INFINITY;
    const __m256 e = Exp8(_mm256_load_ps(t));
    vsum = _mm256_add_ps(vsum, e);
    _mm256_store_ps(t, e);
    for (size_t k = 0; i + k < n; ++k) y[i + k] = t[k];
  }
  const __m256 inv = _mm256_set1_ps(1.0f / Sum8(vsum));
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inv));
  for (; i < n; ++i) y[i] *= _mm256_cvtss_f32(inv);
}

}  // namespace gearshift
#endif
