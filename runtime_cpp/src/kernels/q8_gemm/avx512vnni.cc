// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AVX-512 VNNI int8 GEMM microkernel, 8 rows x 16 columns (eight
// independent accumulator chains hide VPDPBUSD's latency), K in groups of 4 ("c4"): one
// VPDPBUSD per row and group adds, per column, the dot product of 4
// unsigned activation bytes and 4 signed weights into an int32 lane. The
// activations are signed, so the drivers hand it x ^ 0x80 = x + 128 (a_offset
// 128 in q8_gemm.inc: flipped once per row tile, not once per column block)
// and the packing folds (zx + 128) * sum_k w into the bias; every product is
// at most 255 * 128, and the lane sums are exact, so the result equals the
// reference's. Full groups are fixed 4-byte
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

// At most 8 columns (a channel-pruned layer's 8 outputs): two rows share
// one accumulator, row 2i in lanes 0-7 and row 2i + 1 in lanes 8-15, the
// block's first 8 columns of weights in both halves, so the
// requantization, whose cost is per vector whatever the column count, runs
// once per row pair instead of once per row. Same products, same sums,
// same per-lane arithmetic: the result is the one-row layout's.
void NarrowColumns(size_t mr, size_t nc, size_t kc, const int8_t* const* rows, const int32_t* head,
                   int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  constexpr size_t kNr = 16;
  const __m512i twice = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
  const __m512i bias = _mm512_permutexvar_epi32(twice, _mm512_loadu_si512(head));
  __m512i acc0 = bias, acc1 = bias, acc2 = bias, acc3 = bias;
  const int8_t *a0 = rows[0], *a1 = rows[1], *a2 = rows[2], *a3 = rows[3];
  const int8_t *a4 = rows[4], *a5 = rows[5], *a6 = rows[6], *a7 = rows[7];
  const auto* wp = reinterpret_cast<const int8_t*>(head + 3 * kNr);
  constexpr __mmask16 kHigh = 0xff00;
#define GS_DP2(i, lo, hi) \
  acc##i = _mm512_dpbusd_epi32(acc##i, _mm512_mask_set1_epi32(_mm512_set1_epi32(lo), kHigh, hi), wv)
  size_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    // Columns 0-7 of the group: its first 32 bytes, in both halves.
    const __m512i wv =
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp)));
    wp += 4 * kNr;
    GS_DP2(0, Load4(a0 + k), Load4(a1 + k));
    GS_DP2(1, Load4(a2 + k), Load4(a3 + k));
    GS_DP2(2, Load4(a4 + k), Load4(a5 + k));
    GS_DP2(3, Load4(a6 + k), Load4(a7 + k));
  }
  if (k < kc) {
    const size_t n = kc - k;
    const __m512i wv =
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp)));
    GS_DP2(0, LoadTail(a0 + k, n), LoadTail(a1 + k, n));
    GS_DP2(1, LoadTail(a2 + k, n), LoadTail(a3 + k, n));
    GS_DP2(2, LoadTail(a4 + k, n), LoadTail(a5 + k, n));
    GS_DP2(3, LoadTail(a6 + k, n), LoadTail(a7 + k, n));
  }
#undef GS_DP2
  alignas(64) int32_t mult[16], shift[16];  // columns 0-7 twice
  _mm512_store_si512(mult, _mm512_permutexvar_epi32(twice, _mm512_loadu_si512(head + kNr)));
  _mm512_store_si512(shift, _mm512_permutexvar_epi32(twice, _mm512_loadu_si512(head + 2 * kNr)));
  const requant_avx512::Params rq =
      requant_avx512::Load(mult, shift, out->c_zero_point, out->act_min, out->act_max);
  const auto m = static_cast<__mmask16>((1u << nc) - 1);
  auto store = [&](size_t r, __m512i v) {  // rows r and r + 1
    if (r >= mr) return;
    const __m128i y = requant_avx512::PackToI8(requant_avx512::Apply(v, rq));
    _mm_mask_storeu_epi8(c + r * c_stride, m, y);
    if (r + 1 < mr) _mm_mask_storeu_epi8(c + (r + 1) * c_stride, m, _mm_srli_si128(y, 8));
  };
  store(0, acc0);
  store(2, acc1);
  store(4, acc2);
  store(6, acc3);
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
  if (nc <= 8 && mr > 1 && !out->single_rounding) {
    NarrowColumns(mr, nc, kc, rows, head, c, c_stride, out);
    return;
  }
  // Named accumulators, not an array: with an array GCC 12 keeps copies in
  // memory and adds a register move per row to every k step.
  const __m512i bias = _mm512_loadu_si512(head);
  __m512i acc0 = bias, acc1 = bias, acc2 = bias, acc3 = bias;
  __m512i acc4 = bias, acc5 = bias, acc6 = bias, acc7 = bias;
  const int8_t *a0 = rows[0], *a1 = rows[1], *a2 = rows[2], *a3 = rows[3];
  const int8_t *a4 = rows[4], *a5 = rows[5], *a6 = rows[6], *a7 = rows[7];
  const auto* wp = reinterpret_cast<const int8_t*>(head + 3 * kNr);
#define GS_DP(i, load) acc##i = _mm512_dpbusd_epi32(acc##i, _mm512_set1_epi32(load), wv)
  size_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    const __m512i wv = _mm512_loadu_si512(wp);
    wp += 4 * kNr;
    GS_DP(0, Load4(a0 + k));
    GS_DP(1, Load4(a1 + k));
    GS_DP(2, Load4(a2 + k));
    GS_DP(3, Load4(a3 + k));
    GS_DP(4, Load4(a4 + k));
    GS_DP(5, Load4(a5 + k));
    GS_DP(6, Load4(a6 + k));
    GS_DP(7, Load4(a7 + k));
  }
  if (k < kc) {
    const size_t n = kc - k;
    const __m512i wv = _mm512_loadu_si512(wp);
    GS_DP(0, LoadTail(a0 + k, n));
    GS_DP(1, LoadTail(a1 + k, n));
    GS_DP(2, LoadTail(a2 + k, n));
    GS_DP(3, LoadTail(a3 + k, n));
    GS_DP(4, LoadTail(a4 + k, n));
    GS_DP(5, LoadTail(a5 + k, n));
    GS_DP(6, LoadTail(a6 + k, n));
    GS_DP(7, LoadTail(a7 + k, n));
  }
#undef GS_DP
  if (!out->single_rounding) {
    const requant_avx512::Params rq = requant_avx512::Load(
        head + kNr, head + 2 * kNr, out->c_zero_point, out->act_min, out->act_max);
    auto store = [&](size_t r, __m512i v) {
      if (r < mr) {
        requant_avx512::StoreN(c + r * c_stride,
                               requant_avx512::PackToI8(requant_avx512::Apply(v, rq)), nc);
      }
    };
    store(0, acc0);
    store(1, acc1);
    store(2, acc2);
    store(3, acc3);
    store(4, acc4);
    store(5, acc5);
    store(6, acc6);
    store(7, acc7);
    return;
  }
  alignas(64) int32_t tile[kMr * kNr];
  _mm512_store_si512(tile + 0 * kNr, acc0);
  _mm512_store_si512(tile + 1 * kNr, acc1);
  _mm512_store_si512(tile + 2 * kNr, acc2);
  _mm512_store_si512(tile + 3 * kNr, acc3);
  _mm512_store_si512(tile + 4 * kNr, acc4);
  _mm512_store_si512(tile + 5 * kNr, acc5);
  _mm512_store_si512(tile + 6 * kNr, acc6);
  _mm512_store_si512(tile + 7 * kNr, acc7);
  Q8GemmRequantizeTile(mr, nc, tile, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
}

}  // namespace gearshift

#endif  // defined(__x86_64__) || defined(_M_X64)
