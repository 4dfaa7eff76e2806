// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 float32 -> int8 quantization, 8 values a step. The fast step works in
// float: v = x * (float)(1 / scale) is within 2^-23 relative (2^-14 absolute
// below 512) of the double quotient the reference rounds, so where every
// lane lies more than 2^-13 from a half-integer, rounding v to nearest gives
// the reference's integer (which is then no tie, so half-away and
// half-even agree), and beyond 512 both saturate alike. A step with a lane
// near a half (exact ties from power-of-two scales), a NaN or an infinity is
// redone in double (q8_quantize.h says why each double step equals
// QuantizeQ8), where the quotient x * (1 / scale) within 2 ulp is used
// unless a lane lies within 2^-36 of a half, and the division otherwise.
// MAXPD and MINPD return their second operand when the first is NaN, so a
// NaN clamps to -256 and is replaced by the zero point at the end. Compiled
// with -mavx2.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstring>

#include "kernels/q8_quantize/q8_quantize.h"

namespace gearshift {
namespace {

// v = x / scale, or x * (1 / scale) (fast: within 2 ulp of the quotient).
// Returns the int32 codes and sets *near when a lane's |v| lies within 2^-36
// of a half-integer below 256, the only place where the two can round apart.
inline __m128i Quantize4(__m256d v, __m256d zp, bool* near) {
  __m256d c = _mm256_max_pd(v, _mm256_set1_pd(-256.0));
  c = _mm256_min_pd(c, _mm256_set1_pd(256.0));
  const __m256d t = _mm256_round_pd(c, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256d f = _mm256_sub_pd(c, t);
  const __m256d one = _mm256_set1_pd(1.0);
  const __m256d up = _mm256_and_pd(_mm256_cmp_pd(f, _mm256_set1_pd(0.5), _CMP_GE_OQ), one);
  const __m256d down = _mm256_and_pd(_mm256_cmp_pd(f, _mm256_set1_pd(-0.5), _CMP_LE_OQ), one);
  // |f| - 0.5 within +-2^-36 (ordered compare: NaN is never near).
  const __m256d abs_f = _mm256_andnot_pd(_mm256_set1_pd(-0.0), f);
  const __m256d dist =
      _mm256_andnot_pd(_mm256_set1_pd(-0.0), _mm256_sub_pd(abs_f, _mm256_set1_pd(0.5)));
  *near = _mm256_movemask_pd(_mm256_cmp_pd(dist, _mm256_set1_pd(0x1p-36), _CMP_LT_OQ)) != 0;
  __m256d r = _mm256_add_pd(_mm256_sub_pd(_mm256_add_pd(t, up), down), zp);
  r = _mm256_blendv_pd(r, zp, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
  r = _mm256_min_pd(_mm256_max_pd(r, _mm256_set1_pd(-128.0)), _mm256_set1_pd(127.0));
  return _mm256_cvttpd_epi32(r);
}

// Four values: the multiply, or the division where a lane is near a tie.
inline __m128i Quantize4(__m128 x, __m256d scale, __m256d inv, __m256d zp) {
  const __m256d xd = _mm256_cvtps_pd(x);
  bool near = false;
  const __m128i fast = Quantize4(_mm256_mul_pd(xd, inv), zp, &near);
  if (!near) return fast;
  return Quantize4(_mm256_div_pd(xd, scale), zp, &near);
}

}  // namespace

void q8_quantize_8x__avx2(size_t n, const float* x, double scale, int32_t zero_point, int8_t* y) {
  const __m256d s = _mm256_set1_pd(scale);
  const __m256d inv = _mm256_set1_pd(1.0 / scale);
  const __m256d zp = _mm256_set1_pd(static_cast<double>(zero_point));
  const __m256 inv_f = _mm256_set1_ps(static_cast<float>(1.0 / scale));
  const __m256 far = _mm256_set1_ps(0.5f - 0x1p-13f);
  const __m256 lim = _mm256_set1_ps(512.0f);
  const __m256i zp_i = _mm256_set1_epi32(zero_point);
  auto step = [&](const float* in, int8_t* out) {
    const __m256 xv = _mm256_loadu_ps(in);
    const __m256 v = _mm256_mul_ps(xv, inv_f);
    __m256 r = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 d = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, r));
    __m128i lo, hi;
    if (_mm256_movemask_ps(_mm256_cmp_ps(d, far, _CMP_NLT_UQ)) == 0) {
      r = _mm256_min_ps(_mm256_max_ps(r, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
      const __m256i q = _mm256_add_epi32(_mm256_cvttps_epi32(r), zp_i);
      lo = _mm256_castsi256_si128(q);
      hi = _mm256_extracti128_si256(q, 1);
    } else {  // near a half, NaN or infinite: the double step
      lo = Quantize4(_mm_loadu_ps(in), s, inv, zp);
      hi = Quantize4(_mm_loadu_ps(in + 4), s, inv, zp);
    }
    const __m128i w = _mm_packs_epi32(lo, hi);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packs_epi16(w, w));
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) step(x + i, y + i);
  if (i < n) {  // the last 1-7 values through a padded buffer (no inline
                // helpers shared with baseline code in this -mavx2 file)
    float in[8] = {};
    int8_t out[8];
    std::memcpy(in, x + i, (n - i) * sizeof(float));
    step(in, out);
    std::memcpy(y + i, out, n - i);
  }
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
