// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 int8 bilinear row (q8_resize.h), 8 channels a step: the four taps
// sign-extended to int32, multiplied by the four products of the axis
// weights (VPMULLD, exact: |sum| <= 2^29), rounded half away from zero as
// sign(sum) * ((|sum| + 2^19) >> 20), narrowed with saturation (the values
// are within int8 anyway). Channels past a multiple of 8 take the scalar
// formula. Compiled with -mavx2 (by file name).
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "kernels/q8_resize/q8_resize.h"

namespace gearshift {
namespace {

inline __m256i Load8(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

}  // namespace

void q8_bilinear_row__avx2(size_t channels, size_t width, const int8_t* r0, const int8_t* r1,
                           const Q8BilinearTap* taps, int32_t wy0, int32_t wy1, int8_t* y) {
  const __m256i half = _mm256_set1_epi32(int32_t{1} << 19);
  for (size_t i = 0; i < width; ++i, y += channels) {
    const Q8BilinearTap& t = taps[i];
    const __m256i w00 = _mm256_set1_epi32(wy0 * t.w0), w10 = _mm256_set1_epi32(wy1 * t.w0);
    const __m256i w01 = _mm256_set1_epi32(wy0 * t.w1), w11 = _mm256_set1_epi32(wy1 * t.w1);
    const int8_t* x00 = r0 + t.lo;
    const int8_t* x10 = r1 + t.lo;
    const int8_t* x01 = r0 + t.hi;
    const int8_t* x11 = r1 + t.hi;
    size_t c = 0;
    for (; c + 8 <= channels; c += 8) {
      const __m256i sum =
          _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(Load8(x00 + c), w00),
                                            _mm256_mullo_epi32(Load8(x10 + c), w10)),
                           _mm256_add_epi32(_mm256_mullo_epi32(Load8(x01 + c), w01),
                                            _mm256_mullo_epi32(Load8(x11 + c), w11)));
      const __m256i mag = _mm256_srli_epi32(_mm256_add_epi32(_mm256_abs_epi32(sum), half), 20);
      const __m256i v = _mm256_sign_epi32(mag, sum);
      const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(y + c), _mm_packs_epi16(w, w));
    }
    for (; c < channels; ++c) {
      y[c] = Q8BilinearValue(x00[c], x10[c], x01[c], x11[c], wy0, wy1, t.w0, t.w1);
    }
  }
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
