// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX2 int8 GEMM microkernel, 4 rows x 8 columns, K in pairs ("c2"): the 16
// packed weights of a pair of k are sign-extended to int16 and multiplied by
// the row's two activations with _mm256_madd_epi16, which adds the two
// int8 x int8 products per column into an int32 lane exactly, so the sums
// equal the reference's. An odd last k reads a zero partner activation (the
// packed weight is zero there). Compiled with -mavx2 -mfma -mf16c
// (CMakeLists.txt, by file name) and only called when cpuid reports AVX2
// (dispatch.cc). The double-rounding epilogue runs in registers
// (q8_requant/avx2.h); FULLY_CONNECTED's single rounding takes the shared
// scalar one (ref.cc).
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

#include "kernels/q8_gemm/q8_gemm.h"
#include "kernels/q8_requant/avx2.h"

namespace gearshift {
namespace {

// Activations p[0] and p[1] (zero if !two) as int16 pairs in every lane.
inline __m256i PairOf(const int8_t* p, bool two) {
  const auto lo = static_cast<uint16_t>(static_cast<int16_t>(p[0]));
  const auto hi = static_cast<uint16_t>(static_cast<int16_t>(two ? p[1] : 0));
  return _mm256_set1_epi32(static_cast<int32_t>(static_cast<uint32_t>(hi) << 16 | lo));
}

}  // namespace

void q8_gemm_4x8c2__avx2(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                         const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  constexpr size_t kNr = 8;
  const auto* head = static_cast<const int32_t*>(w);
  const int8_t* a0 = a;
  const int8_t* a1 = mr > 1 ? a0 + a_stride : a0;
  const int8_t* a2 = mr > 2 ? a1 + a_stride : a1;
  const int8_t* a3 = mr > 3 ? a2 + a_stride : a2;

  __m256i acc0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(head));
  __m256i acc1 = acc0, acc2 = acc0, acc3 = acc0;
  const auto* wp = reinterpret_cast<const int8_t*>(head + 3 * kNr);
  for (size_t k = 0; k < kc; k += 2) {
    const bool two = k + 1 < kc;
    const __m256i wv =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp)));
    wp += 2 * kNr;
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(wv, PairOf(a0 + k, two)));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(wv, PairOf(a1 + k, two)));
    acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(wv, PairOf(a2 + k, two)));
    acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(wv, PairOf(a3 + k, two)));
  }
  if (!out->single_rounding) {
    const requant_avx2::Params rq = requant_avx2::Load(head + kNr, head + 2 * kNr,
                                                       out->c_zero_point, out->act_min, out->act_max);
    const __m256i accs[4] = {acc0, acc1, acc2, acc3};
    for (size_t r = 0; r < mr; ++r) {
      requant_avx2::StoreN(c + r * c_stride,
                           requant_avx2::PackToI8(requant_avx2::Apply(accs[r], rq)), nc);
    }
    return;
  }
  alignas(32) int32_t acc[kQ8GemmMaxMr * kNr];
  _mm256_store_si256(reinterpret_cast<__m256i*>(acc + 0), acc0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(acc + 8), acc1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(acc + 16), acc2);
  _mm256_store_si256(reinterpret_cast<__m256i*>(acc + 24), acc3);
  Q8GemmRequantizeTile(mr, nc, acc, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
