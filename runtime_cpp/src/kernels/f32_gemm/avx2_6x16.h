// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The AVX2 + FMA 6 x 16 GEMM body, one definition for the fp32 kernel
// (f32_gemm_6x16__avx2) and the fp16-weight one (f16w_gemm_6x16__avx2):
// `load` brings 8 weights of type W to a ymm (a plain load, or halves
// widened by VCVTPH2PS), the bias (NR floats) starts every sum, and both
// run the same FMAs in the same order, so the fp16 gear equals the fp32
// kernel on the widened weights bit for bit. 12 ymm accumulators, two weight
// vectors and one broadcast of A per step fit the 16 registers, enough
// independent FMAs in flight to cover their latency. Include only from
// files compiled with -mavx2 -mfma -mf16c (avx2.cc, by file name).
#ifndef GEARSHIFT_KERNELS_F32_GEMM_AVX2_6X16_H_
#define GEARSHIFT_KERNELS_F32_GEMM_AVX2_6X16_H_

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace gearshift {
namespace avx2_gemm {

// Clamp to [lo, hi] keeping NaN (max/min return their second operand when
// either is NaN), like std::min(std::max(x, lo), hi) in the reference.
inline __m256 ClampPs(__m256 x, __m256 lo, __m256 hi) {
  return _mm256_min_ps(hi, _mm256_max_ps(lo, x));
}

// Stores the first `n` (0..8) lanes of v.
inline void StorePartial(float* p, __m256 v, size_t n) {
  if (n == 8) {
    _mm256_storeu_ps(p, v);
    return;
  }
  if (n == 0) return;
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
  _mm256_maskstore_ps(p, mask, v);
}

// Clamps rows [0, mr) of a tile's accumulators (two ymm a row) to [lo, hi]
// and stores their first nc columns.
inline void StoreRows(const __m256 (*rows)[2], size_t mr, size_t nc, float* c, size_t c_stride,
                      float lo, float hi) {
  const __m256 vlo = _mm256_set1_ps(lo);
  const __m256 vhi = _mm256_set1_ps(hi);
  const size_t na = nc < 8 ? nc : 8;
  const size_t nb = nc > 8 ? nc - 8 : 0;
  for (size_t r = 0; r < mr; ++r) {
    float* cr = c + r * c_stride;
    const __m256 va = ClampPs(rows[r][0], vlo, vhi);
    const __m256 vb = ClampPs(rows[r][1], vlo, vhi);
    if (nc == 16) {
      _mm256_storeu_ps(cr, va);
      _mm256_storeu_ps(cr + 8, vb);
    } else {
      StorePartial(cr, va, na);
      StorePartial(cr + 8, vb, nb);
    }
  }
}

// Rows past mr are computed from the row pointers the caller repeats (all
// MR rows are filled), never stored.
template <typename W, typename Load8>
inline void Gemm6Rows(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                      const float* bias, const W* w, float* c, size_t c_stride, float lo, float hi,
                      Load8 load) {
  __m256 acc0a = _mm256_loadu_ps(bias);
  __m256 acc0b = _mm256_loadu_ps(bias + 8);
  __m256 acc1a = acc0a, acc1b = acc0b;
  __m256 acc2a = acc0a, acc2b = acc0b;
  __m256 acc3a = acc0a, acc3b = acc0b;
  __m256 acc4a = acc0a, acc4b = acc0b;
  __m256 acc5a = acc0a, acc5b = acc0b;
  for (size_t t = 0; t < ks; ++t, a += 6) {
    // The caller fills all MR rows (rows past mr repeat a real one).
    const float* a0 = a[0];
    const float* a1 = a[1];
    const float* a2 = a[2];
    const float* a3 = a[3];
    const float* a4 = a[4];
    const float* a5 = a[5];
    for (size_t k = 0; k < kc; ++k) {
      const __m256 wa = load(w);
      const __m256 wb = load(w + 8);
      w += 16;
      __m256 x = _mm256_broadcast_ss(a0 + k);
      acc0a = _mm256_fmadd_ps(x, wa, acc0a);
      acc0b = _mm256_fmadd_ps(x, wb, acc0b);
      x = _mm256_broadcast_ss(a1 + k);
      acc1a = _mm256_fmadd_ps(x, wa, acc1a);
      acc1b = _mm256_fmadd_ps(x, wb, acc1b);
      x = _mm256_broadcast_ss(a2 + k);
      acc2a = _mm256_fmadd_ps(x, wa, acc2a);
      acc2b = _mm256_fmadd_ps(x, wb, acc2b);
      x = _mm256_broadcast_ss(a3 + k);
      acc3a = _mm256_fmadd_ps(x, wa, acc3a);
      acc3b = _mm256_fmadd_ps(x, wb, acc3b);
      x = _mm256_broadcast_ss(a4 + k);
      acc4a = _mm256_fmadd_ps(x, wa, acc4a);
      acc4b = _mm256_fmadd_ps(x, wb, acc4b);
      x = _mm256_broadcast_ss(a5 + k);
      acc5a = _mm256_fmadd_ps(x, wa, acc5a);
      acc5b = _mm256_fmadd_ps(x, wb, acc5b);
    }
  }

  const __m256 rows[6][2] = {{acc0a, acc0b}, {acc1a, acc1b}, {acc2a, acc2b},
                             {acc3a, acc3b}, {acc4a, acc4b}, {acc5a, acc5b}};
  StoreRows(rows, mr, nc, c, c_stride, lo, hi);
}

// Rows [0, kRows) of a 6-row tile, kRows <= 4 (the indirection keeps its 6
// pointers per tap). A tile of few rows (the last row tile of a 7x7 layer, a
// fully connected layer at batch 1) runs a body of 1, 2 or 4 rows: the same
// FMAs in the same order for the rows it computes, none for rows nobody
// stores. Gemm6x16 picks it. (The 6-row body keeps named accumulators: as
// an array GCC 12 spilled them, 12 of the 16 ymm registers.)
template <int kRows, typename W, typename Load8>
inline void GemmRows(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                     const float* bias, const W* w, float* c, size_t c_stride, float lo, float hi,
                     Load8 load) {
  static_assert(kRows >= 1 && kRows <= 4, "a few rows of a 6-row tile");
  __m256 acc[kRows][2];
  acc[0][0] = _mm256_loadu_ps(bias);
  acc[0][1] = _mm256_loadu_ps(bias + 8);
  for (int r = 1; r < kRows; ++r) {
    acc[r][0] = acc[0][0];
    acc[r][1] = acc[0][1];
  }
  for (size_t t = 0; t < ks; ++t, a += 6) {
    const float* a0 = a[0];
    const float* a1 = kRows > 1 ? a[1] : nullptr;
    const float* a2 = kRows > 2 ? a[2] : nullptr;
    const float* a3 = kRows > 3 ? a[3] : nullptr;
    for (size_t k = 0; k < kc; ++k) {
      const __m256 wa = load(w);
      const __m256 wb = load(w + 8);
      w += 16;
#define GS_ROW(r)                                   \
  if constexpr (kRows > r) {                        \
    const __m256 x = _mm256_broadcast_ss(a##r + k); \
    acc[r][0] = _mm256_fmadd_ps(x, wa, acc[r][0]);  \
    acc[r][1] = _mm256_fmadd_ps(x, wb, acc[r][1]);  \
  }
      GS_ROW(0) GS_ROW(1) GS_ROW(2) GS_ROW(3)
#undef GS_ROW
    }
  }

  StoreRows(acc, mr, nc, c, c_stride, lo, hi);
}

template <typename W, typename Load8>
inline void Gemm6x16(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                     const float* bias, const W* w, float* c, size_t c_stride, float lo, float hi,
                     Load8 load) {
  if (mr >= 5) return Gemm6Rows(mr, nc, kc, ks, a, bias, w, c, c_stride, lo, hi, load);
  if (mr >= 3) return GemmRows<4>(mr, nc, kc, ks, a, bias, w, c, c_stride, lo, hi, load);
  if (mr == 2) return GemmRows<2>(mr, nc, kc, ks, a, bias, w, c, c_stride, lo, hi, load);
  GemmRows<1>(mr, nc, kc, ks, a, bias, w, c, c_stride, lo, hi, load);
}

}  // namespace avx2_gemm
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_GEMM_AVX2_6X16_H_
