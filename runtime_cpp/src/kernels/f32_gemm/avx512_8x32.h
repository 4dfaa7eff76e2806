// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The AVX-512F 8 x 32 GEMM body, one definition for the fp32 kernel
// (f32_gemm_8x32__avx512) and the fp16-weight one (f16w_gemm_8x32__avx512):
// `load` brings 16 weights of type W to a zmm (a plain load, or halves
// widened by VCVTPH2PS), the bias (NR floats) starts every sum, and both run
// the same FMAs in the same order. 16 zmm accumulators, two weight vectors
// and one broadcast of A per row and step: 16 independent FMA chains cover
// the latency of two FMA ports. Partial column tiles store through a lane
// mask. Include only from files compiled with AVX-512 flags (avx512.cc).
//
// A tile of few rows (the last row tile of a 7x7 layer holds 1 of 49
// pixels, a fully connected layer at batch 1 has one row) runs GemmRows with
// kRows < 8: the same FMAs in the same order for the rows it computes, none
// for rows nobody stores (the 8-row body would compute them from repeated
// pointers: 8 times the work at batch 1). Gemm8x32 picks the body.
#ifndef GEARSHIFT_KERNELS_F32_GEMM_AVX512_8X32_H_
#define GEARSHIFT_KERNELS_F32_GEMM_AVX512_8X32_H_

#include <immintrin.h>

#include <cstddef>

namespace gearshift {
namespace avx512_gemm {

// Keeps NaN, like std::min(std::max(x, lo), hi) in the reference.
inline __m512 ClampPs(__m512 x, __m512 lo, __m512 hi) {
  return _mm512_min_ps(hi, _mm512_max_ps(lo, x));
}

// Lanes [0, n) of 16, for n in [0, 16].
inline __mmask16 LaneMask(size_t n) {
  return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
}

// Rows [0, kRows) of an 8-row tile (the indirection keeps its 8 pointers
// per tap); mr <= kRows.
template <int kRows, typename W, typename Load16>
inline void GemmRows(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                     const float* bias, const W* w, float* c, size_t c_stride, float lo, float hi,
                     Load16 load) {
  static_assert(kRows >= 1 && kRows <= 8, "an 8-row tile");
  __m512 acc[kRows][2];
  acc[0][0] = _mm512_loadu_ps(bias);
  acc[0][1] = _mm512_loadu_ps(bias + 16);
  for (int r = 1; r < kRows; ++r) {
    acc[r][0] = acc[0][0];
    acc[r][1] = acc[0][1];
  }
  for (size_t t = 0; t < ks; ++t, a += 8) {
    // The caller fills all MR rows (rows past mr repeat a real one).
    const float* a0 = a[0];
    const float* a1 = kRows > 1 ? a[1] : nullptr;
    const float* a2 = kRows > 2 ? a[2] : nullptr;
    const float* a3 = kRows > 3 ? a[3] : nullptr;
    const float* a4 = kRows > 4 ? a[4] : nullptr;
    const float* a5 = kRows > 5 ? a[5] : nullptr;
    const float* a6 = kRows > 6 ? a[6] : nullptr;
    const float* a7 = kRows > 7 ? a[7] : nullptr;
    for (size_t k = 0; k < kc; ++k) {
      const __m512 wa = load(w);
      const __m512 wb = load(w + 16);
      w += 32;
#define GS_ROW(r)                                  \
  if constexpr (kRows > r) {                       \
    const __m512 x = _mm512_set1_ps(a##r[k]);      \
    acc[r][0] = _mm512_fmadd_ps(x, wa, acc[r][0]); \
    acc[r][1] = _mm512_fmadd_ps(x, wb, acc[r][1]); \
  }
      GS_ROW(0) GS_ROW(1) GS_ROW(2) GS_ROW(3) GS_ROW(4) GS_ROW(5) GS_ROW(6) GS_ROW(7)
#undef GS_ROW
    }
  }

  const __m512 vlo = _mm512_set1_ps(lo);
  const __m512 vhi = _mm512_set1_ps(hi);
  const __mmask16 ma = LaneMask(nc), mb = LaneMask(nc > 16 ? nc - 16 : 0);
  for (size_t r = 0; r < mr; ++r) {
    float* cr = c + r * c_stride;
    const __m512 va = ClampPs(acc[r][0], vlo, vhi);
    const __m512 vb = ClampPs(acc[r][1], vlo, vhi);
    if (nc == 32) {
      _mm512_storeu_ps(cr, va);
      _mm512_storeu_ps(cr + 16, vb);
    } else {
      _mm512_mask_storeu_ps(cr, ma, va);
      _mm512_mask_storeu_ps(cr + 16, mb, vb);
    }
  }
}

template <typename W, typename Load16>
inline void Gemm8x32(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                     const float* bias, const W* w, float* c, size_t c_stride, float lo, float hi,
                     Load16 load) {
  if (mr >= 5) return GemmRows<8>(mr, nc, kc, ks, a, bias, w, c, c_stride, lo, hi, load);
  if (mr >= 3) return GemmRows<4>(mr, nc, kc, ks, a, bias, w, c, c_stride, lo, hi, load);
  if (mr == 2) return GemmRows<2>(mr, nc, kc, ks, a, bias, w, c, c_stride, lo, hi, load);
  GemmRows<1>(mr, nc, kc, ks, a, bias, w, c, c_stride, lo, hi, load);
}

}  // namespace avx512_gemm
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_GEMM_AVX512_8X32_H_
