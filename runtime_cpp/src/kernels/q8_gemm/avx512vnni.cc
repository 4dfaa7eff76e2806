// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512 VNNI int8 GEMM microkernel, 8 rows x 16 columns (eight
// independent accumulator chains hide VPDPBUSD's latency), K in groups of 4 ("c4"): one
// VPDPBUSD per row and group adds, per column, the dot product of 4
// unsigned activation bytes and 4 signed weights into an int32 lane. The
// activations are signed, so the kernel reads x ^ 0x80 = x + 128 and the
// packing folds (zx + 128) * sum_k w into the bias (a_offset 128 in
// q8_gemm.inc); every product is at most 255 * 128, and the lane sums are
// exact, so the result equals the reference's. Full groups are fixed 4-byte
// broadcasts; a partial last group is read once, after the loop, zero-filled
// (its packed weights are zero). The double-rounding epilogue runs in
// registers (q8_requant/avx512.h); FULLY_CONNECTED's single rounding takes the
// shared scalar one. Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni (by file name);
// dispatched only where cpuid reports AVX-512 F/BW/VL and AVX512-VNNI.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/q8_gemm/q8_gemm.h"
#include "kernels/q8_requant/avx512.h"

namespace gearshift {
namespace {

inline int32_t Load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline int32_t LoadTail(const int8_t* p, size_t n) {
  int32_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

}  // namespace

void q8_gemm_8x16c4__avx512vnni(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                                const void* w, int8_t* c, size_t c_stride,
                                const Q8GemmOutput* out) {
  constexpr size_t kNr = 16;
  constexpr size_t kMr = 8;
  const auto* head = static_cast<const int32_t*>(w);
  // Rows past mr repeat the last real row (computed, never stored), so the
  // loop has no row branches.
  const int8_t* rows[kMr];
  rows[0] = a;
  for (size_t r = 1; r < kMr; ++r) rows[r] = r < mr ? rows[r - 1] + a_stride : rows[r - 1];
  const __m512i bias = _mm512_loadu_si512(head);
  __m512i acc[kMr];
  for (size_t r = 0; r < kMr; ++r) acc[r] = bias;
  const auto* wp = reinterpret_cast<const int8_t*>(head + 3 * kNr);
  const __m512i flip = _mm512_set1_epi32(static_cast<int32_t>(0x80808080u));
  size_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    const __m512i wv = _mm512_loadu_si512(wp);
    wp += 4 * kNr;
    for (size_t r = 0; r < kMr; ++r) {  // unrolled by the compiler: fixed count
      acc[r] = _mm512_dpbusd_epi32(
          acc[r], _mm512_xor_si512(_mm512_set1_epi32(Load4(rows[r] + k)), flip), wv);
    }
  }
  if (k < kc) {
    const size_t n = kc - k;
    const __m512i wv = _mm512_loadu_si512(wp);
    for (size_t r = 0; r < kMr; ++r) {
      acc[r] = _mm512_dpbusd_epi32(
          acc[r], _mm512_xor_si512(_mm512_set1_epi32(LoadTail(rows[r] + k, n)), flip), wv);
    }
  }
  if (!out->single_rounding) {
    const requant_avx512::Params rq = requant_avx512::Load(
        head + kNr, head + 2 * kNr, out->c_zero_point, out->act_min, out->act_max);
    for (size_t r = 0; r < mr; ++r) {
      requant_avx512::StoreN(c + r * c_stride,
                             requant_avx512::PackToI8(requant_avx512::Apply(acc[r], rq)), nc);
    }
    return;
  }
  alignas(64) int32_t tile[kMr * kNr];
  for (size_t r = 0; r < kMr; ++r) _mm512_store_si512(tile + r * kNr, acc[r]);
  Q8GemmRequantizeTile(mr, nc, tile, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
