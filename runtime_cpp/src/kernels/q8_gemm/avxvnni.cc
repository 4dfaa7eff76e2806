// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-VNNI (VEX-encoded, 256-bit) int8 GEMM microkernel, 4 rows x 8 columns, K in groups of 4
// ("c4"): one VPDPBUSD per row and group adds, per column, the dot product of 4 unsigned activation
// bytes and 4 signed weights into an int32 lane. The activations are signed, so the drivers hand it
// x ^ 0x80 = x + 128 (a_offset 128 in q8_gemm.inc) and the packing folds (zx + 128) * sum_k w into
// the bias; every product is at most 255 * 128, and the lane sums are
// exact, so the result equals the reference's. Full groups are fixed 4-byte
// broadcasts; a partial last group is read once, after the loop, zero-filled
// (its packed weights are zero). The double-rounding epilogue runs in
// registers (q8_requant/avx2.h); FULLY_CONNECTED's single rounding takes the
// shared scalar one. Compiled with -mavxvnni (by file name); dispatched only
// where cpuid reports AVX-VNNI.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/q8_gemm/q8_gemm.h"
#include "kernels/q8_requant/avx2.h"

namespace gearshift {
namespace {

inline int32_t Load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The last 1-3 bytes of a row, zero-filled, in memcpy's (little-endian)
// order; byte loads, not a memcpy of a variable length (a library call per
// row, around which the accumulators were spilled: a stem's K of 9).
inline int32_t LoadTail(const int8_t* p, size_t n) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  uint32_t v = u[0];
  if (n > 1) v |= uint32_t{u[1]} << 8;
  if (n > 2) v |= uint32_t{u[2]} << 16;
  return static_cast<int32_t>(v);
}

inline __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

inline void Store256(int32_t* p, __m256i v) {
  _mm256_store_si256(reinterpret_cast<__m256i*>(p), v);
}

}  // namespace

void q8_gemm_4x8c4__avxvnni(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                            const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  constexpr size_t kNr = 8;
  const auto* head = static_cast<const int32_t*>(w);
  const int8_t* a0 = a;
  const int8_t* a1 = mr > 1 ? a0 + a_stride : a0;
  const int8_t* a2 = mr > 2 ? a1 + a_stride : a1;
  const int8_t* a3 = mr > 3 ? a2 + a_stride : a2;
  __m256i acc0 = Load256(head);
  __m256i acc1 = acc0, acc2 = acc0, acc3 = acc0;
  const auto* wp = reinterpret_cast<const int8_t*>(head + 3 * kNr);
  size_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    const __m256i wv = Load256(wp);
    wp += 4 * kNr;
    acc0 = _mm256_dpbusd_avx_epi32(acc0, _mm256_set1_epi32(Load4(a0 + k)), wv);
    acc1 = _mm256_dpbusd_avx_epi32(acc1, _mm256_set1_epi32(Load4(a1 + k)), wv);
    acc2 = _mm256_dpbusd_avx_epi32(acc2, _mm256_set1_epi32(Load4(a2 + k)), wv);
    acc3 = _mm256_dpbusd_avx_epi32(acc3, _mm256_set1_epi32(Load4(a3 + k)), wv);
  }
  if (k < kc) {
    const size_t n = kc - k;
    const __m256i wv = Load256(wp);
    acc0 = _mm256_dpbusd_avx_epi32(acc0, _mm256_set1_epi32(LoadTail(a0 + k, n)), wv);
    acc1 = _mm256_dpbusd_avx_epi32(acc1, _mm256_set1_epi32(LoadTail(a1 + k, n)), wv);
    acc2 = _mm256_dpbusd_avx_epi32(acc2, _mm256_set1_epi32(LoadTail(a2 + k, n)), wv);
    acc3 = _mm256_dpbusd_avx_epi32(acc3, _mm256_set1_epi32(LoadTail(a3 + k, n)), wv);
  }
  const __m256i accs[4] = {acc0, acc1, acc2, acc3};
  if (!out->single_rounding) {
    const requant_avx2::Params rq = requant_avx2::Load(
        head + kNr, head + 2 * kNr, out->c_zero_point, out->act_min, out->act_max);
    for (size_t r = 0; r < mr; ++r) {
      requant_avx2::StoreN(c + r * c_stride,
                           requant_avx2::PackToI8(requant_avx2::Apply(accs[r], rq)), nc);
    }
    return;
  }
  alignas(64) int32_t acc[kQ8GemmMaxMr * kNr];
  for (size_t r = 0; r < 4; ++r) Store256(acc + r * kNr, accs[r]);
  Q8GemmRequantizeTile(mr, nc, acc, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
