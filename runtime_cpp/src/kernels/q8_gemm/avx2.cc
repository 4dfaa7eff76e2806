// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 int8 GEMM microkernel, 3 rows x 8 columns, K in groups of 8 ("c8",
// XNNPACK's qs8-gemm avx2 c8 shape): per group, the 16 packed weights of a
// pair of columns are sign-extended to int16 (column j in the low 128-bit
// lane, j+1 in the high one) and _mm256_madd_epi16 multiplies them by the
// row's 8 activations (widened once, in both lanes), adding pairs of exact
// int8 x int8 products into int32 lanes; each accumulator holds 4 partial
// sums per column, reduced once after the loop (three horizontal adds and a
// lane permute). Integer sums do not depend on their order, so the result
// equals the reference's. A partial last group is read once through a
// zeroed 8-byte buffer (its packed weights are zero). The double-rounding
// epilogue runs in registers (q8_requant/avx2.h); FULLY_CONNECTED's single
// rounding takes the shared scalar one (ref.cc). Compiled with -mavx2 -mfma
// -mf16c (CMakeLists.txt, by file name) and only called when cpuid reports
// AVX2 (dispatch.cc).
#if defined(__x86_64__) || defined(_M_X64)

#include "kernels/q8_requant/avx2.h"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/q8_gemm/q8_gemm.h"

namespace gearshift {
namespace {

// 8 activations widened to int16, in both 128-bit lanes.
inline __m256i Row8(const int8_t* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_cvtsi64_si128(v)));
}

inline __m256i Row8Tail(const int8_t* p, size_t n) {
  int64_t v = 0;
  std::memcpy(&v, p, n);
  return _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_cvtsi64_si128(v)));
}

inline __m256i Cols(const int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Four column-pair accumulators -> the 8 column sums in order.
inline __m256i Reduce(__m256i c01, __m256i c23, __m256i c45, __m256i c67) {
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(c01, c23), _mm256_hadd_epi32(c45, c67));
  // h = [c0 c2 c4 c6 | c1 c3 c5 c7]
  return _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

}  // namespace

void q8_gemm_3x8c8__avx2(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                         const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  constexpr size_t kNr = 8;
  const auto* head = static_cast<const int32_t*>(w);
  const int8_t* a0 = a;
  const int8_t* a1 = mr > 1 ? a0 + a_stride : a0;
  const int8_t* a2 = mr > 2 ? a1 + a_stride : a1;
  __m256i r0c01 = _mm256_setzero_si256(), r0c23 = r0c01, r0c45 = r0c01, r0c67 = r0c01;
  __m256i r1c01 = r0c01, r1c23 = r0c01, r1c45 = r0c01, r1c67 = r0c01;
  __m256i r2c01 = r0c01, r2c23 = r0c01, r2c45 = r0c01, r2c67 = r0c01;
  const auto* wp = reinterpret_cast<const int8_t*>(head + 3 * kNr);
  auto step = [&](__m256i x0, __m256i x1, __m256i x2) {
    __m256i wv = Cols(wp);
    r0c01 = _mm256_add_epi32(r0c01, _mm256_madd_epi16(wv, x0));
    r1c01 = _mm256_add_epi32(r1c01, _mm256_madd_epi16(wv, x1));
    r2c01 = _mm256_add_epi32(r2c01, _mm256_madd_epi16(wv, x2));
    wv = Cols(wp + 16);
    r0c23 = _mm256_add_epi32(r0c23, _mm256_madd_epi16(wv, x0));
    r1c23 = _mm256_add_epi32(r1c23, _mm256_madd_epi16(wv, x1));
    r2c23 = _mm256_add_epi32(r2c23, _mm256_madd_epi16(wv, x2));
    wv = Cols(wp + 32);
    r0c45 = _mm256_add_epi32(r0c45, _mm256_madd_epi16(wv, x0));
    r1c45 = _mm256_add_epi32(r1c45, _mm256_madd_epi16(wv, x1));
    r2c45 = _mm256_add_epi32(r2c45, _mm256_madd_epi16(wv, x2));
    wv = Cols(wp + 48);
    r0c67 = _mm256_add_epi32(r0c67, _mm256_madd_epi16(wv, x0));
    r1c67 = _mm256_add_epi32(r1c67, _mm256_madd_epi16(wv, x1));
    r2c67 = _mm256_add_epi32(r2c67, _mm256_madd_epi16(wv, x2));
    wp += 8 * kNr;
  };
  size_t k = 0;
  for (; k + 8 <= kc; k += 8) step(Row8(a0 + k), Row8(a1 + k), Row8(a2 + k));
  if (k < kc) {
    const size_t n = kc - k;
    step(Row8Tail(a0 + k, n), Row8Tail(a1 + k, n), Row8Tail(a2 + k, n));
  }
  const __m256i bias = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(head));
  const __m256i accs[3] = {_mm256_add_epi32(bias, Reduce(r0c01, r0c23, r0c45, r0c67)),
                           _mm256_add_epi32(bias, Reduce(r1c01, r1c23, r1c45, r1c67)),
                           _mm256_add_epi32(bias, Reduce(r2c01, r2c23, r2c45, r2c67))};
  if (!out->single_rounding) {
    const requant_avx2::Params rq = requant_avx2::Load(
        head + kNr, head + 2 * kNr, out->c_zero_point, out->act_min, out->act_max);
    for (size_t r = 0; r < mr; ++r) {
      requant_avx2::StoreN(c + r * c_stride,
                           requant_avx2::PackToI8(requant_avx2::Apply(accs[r], rq)), nc);
    }
    return;
  }
  alignas(32) int32_t acc[3 * kNr];
  for (size_t r = 0; r < 3; ++r) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc + r * kNr), accs[r]);
  }
  Q8GemmRequantizeTile(mr, nc, acc, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
