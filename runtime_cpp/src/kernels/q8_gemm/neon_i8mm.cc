// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON int8 GEMM microkernel with the int8 matrix multiply
// extension (FEAT_I8MM: Neoverse V1/N2/V2, Cortex-A710/X2 and later,
// Graviton 3/4), 8 rows x 8 columns, K in groups of 8 ("c8"). SMMLA
// multiplies a 2 x 8 block of activations (two rows' 8 k in one register)
// by an 8 x 2 block of weights (two columns' 8 k, exactly the [NR][KR = 8]
// packing of q8_gemm.h) into a 2 x 2 block of int32 sums: 32 multiply-adds
// per instruction, twice SDOT's, exact (int32 accumulation), so the sums
// equal the reference's. The main loop takes 16 k per row as one 128-bit
// load and pairs the rows with ZIP1/ZIP2 on 64-bit lanes; an odd group of 8
// uses 64-bit loads; a last group shorter than 8 goes through a zero-padded
// copy of the rows' last bytes (nothing past K is read; the packed weights
// are zero there). The 2 x 2 blocks become rows of 8 with ZIP on 64-bit
// lanes, then the double-rounding epilogue of q8_requant/neon.h runs in
// registers. Rows past mr repeat the last real row (computed, never
// stored). One call walks every column block it is given (wide_nc).
// Where the build does not enable i8mm (a board's -mcpu for an older core),
// the pragma below enables it for this file; dispatch calls it only where
// getauxval reports HWCAP2_I8MM (ISA token neon_i8mm).
#if defined(__aarch64__)

#if !defined(__ARM_FEATURE_MATMUL_INT8)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("arch=armv8.2-a+dotprod+i8mm")
#else
#error "neon_i8mm.cc needs -march=armv8.2-a+i8mm"
#endif
#endif

#include <arm_neon.h>

#include <cstring>

#include "kernels/q8_gemm/q8_gemm.h"
#include "kernels/q8_requant/neon.h"

namespace gearshift {
namespace {

constexpr size_t kMr = 8;
constexpr size_t kNr = 8;
constexpr size_t kKr = 8;

inline int8x16_t Zip1(int8x16_t a, int8x16_t b) {
  return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}
inline int8x16_t Zip2(int8x16_t a, int8x16_t b) {
  return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}
inline int32x4_t Zip1(int32x4_t a, int32x4_t b) {
  return vreinterpretq_s32_s64(vzip1q_s64(vreinterpretq_s64_s32(a), vreinterpretq_s64_s32(b)));
}
inline int32x4_t Zip2(int32x4_t a, int32x4_t b) {
  return vreinterpretq_s32_s64(vzip2q_s64(vreinterpretq_s64_s32(a), vreinterpretq_s64_s32(b)));
}

// acc[p][q]: rows 2p, 2p + 1 x columns 2q, 2q + 1, as SMMLA leaves them.
struct Acc {
  int32x4_t v[4][4];
};

// One group of 8 k: a[p] holds rows 2p and 2p + 1, the 64 weight bytes at w.
inline void Group(Acc* acc, const int8x16_t* a, const int8_t* w) {
  const int8x16_t b0 = vld1q_s8(w), b1 = vld1q_s8(w + 16);
  const int8x16_t b2 = vld1q_s8(w + 32), b3 = vld1q_s8(w + 48);
  for (int p = 0; p < 4; ++p) {
    acc->v[p][0] = vmmlaq_s32(acc->v[p][0], a[p], b0);
    acc->v[p][1] = vmmlaq_s32(acc->v[p][1], a[p], b1);
    acc->v[p][2] = vmmlaq_s32(acc->v[p][2], a[p], b2);
    acc->v[p][3] = vmmlaq_s32(acc->v[p][3], a[p], b3);
  }
}

template <bool kSingle, bool kClamp = true>
inline __attribute__((always_inline)) void Kernel(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                                  size_t a_stride, const void* w, int8_t* c,
                                                  size_t c_stride, const Q8GemmOutput* out) {
  const int8_t* r[kMr];
  for (size_t i = 0; i < kMr; ++i) r[i] = a + (i < mr ? i : mr - 1) * a_stride;
  const size_t groups = kc / kKr, rest = kc % kKr;
  // The last rest (1..7) bytes of each row, zero-padded: rows 2p and 2p + 1
  // are tail + 16p, as SMMLA wants them.
  int8x16_t tail[kMr / 2];
  if (rest != 0) {
    alignas(16) int8_t t[kMr * kKr] = {};
    for (size_t i = 0; i < kMr; ++i) std::memcpy(t + i * kKr, r[i] + groups * kKr, rest);
    for (size_t p = 0; p < kMr / 2; ++p) tail[p] = vld1q_s8(t + 16 * p);
  }
  const auto* wb = static_cast<const int8_t*>(w);
  const int32_t zp = out->c_zero_point, lo_clamp = out->act_min, hi_clamp = out->act_max;
  const size_t block_k = (groups + (rest != 0 ? 1 : 0)) * kNr * kKr;
  for (;;) {
    const auto* head = reinterpret_cast<const int32_t*>(wb);
    const int8_t* wp = wb + 3 * sizeof(int32_t) * kNr;
    Acc acc;
    for (auto& row : acc.v) {
      for (auto& v : row) v = vdupq_n_s32(0);
    }
    size_t k = 0;
    for (; k + 2 * kKr <= groups * kKr; k += 2 * kKr, wp += 2 * kNr * kKr) {
      int8x16_t lo[kMr / 2], hi[kMr / 2];
      for (size_t p = 0; p < kMr / 2; ++p) {
        const int8x16_t x0 = vld1q_s8(r[2 * p] + k), x1 = vld1q_s8(r[2 * p + 1] + k);
        lo[p] = Zip1(x0, x1);
        hi[p] = Zip2(x0, x1);
      }
      Group(&acc, lo, wp);
      Group(&acc, hi, wp + kNr * kKr);
    }
    if (k < groups * kKr) {  // an odd group of 8
      int8x16_t x[kMr / 2];
      for (size_t p = 0; p < kMr / 2; ++p) {
        x[p] = vcombine_s8(vld1_s8(r[2 * p] + k), vld1_s8(r[2 * p + 1] + k));
      }
      Group(&acc, x, wp);
      wp += kNr * kKr;
    }
    if (rest != 0) {
      Group(&acc, tail, wp);
      wp += kNr * kKr;
    }
    // Rows of 8: row 2p is the low halves of acc[p][0..3], row 2p + 1 the
    // high halves.
    const int32x4_t bias_lo = vld1q_s32(head), bias_hi = vld1q_s32(head + 4);
    int32x4_t lo[kMr], hi[kMr];
    for (size_t p = 0; p < kMr / 2; ++p) {
      lo[2 * p] = vaddq_s32(Zip1(acc.v[p][0], acc.v[p][1]), bias_lo);
      hi[2 * p] = vaddq_s32(Zip1(acc.v[p][2], acc.v[p][3]), bias_hi);
      lo[2 * p + 1] = vaddq_s32(Zip2(acc.v[p][0], acc.v[p][1]), bias_lo);
      hi[2 * p + 1] = vaddq_s32(Zip2(acc.v[p][2], acc.v[p][3]), bias_hi);
    }
    const size_t n = nc < kNr ? nc : kNr;
    if (!kSingle) {
      requant_neon::StoreTile8<kMr, kClamp>(lo, hi, mr, n, head + kNr, head + 2 * kNr, zp, lo_clamp,
                                            hi_clamp, c, c_stride);
    } else {
      int32_t tile[kMr * kNr];
      for (size_t i = 0; i < kMr; ++i) {
        vst1q_s32(tile + i * kNr, lo[i]);
        vst1q_s32(tile + i * kNr + 4, hi[i]);
      }
      Q8GemmRequantizeTile(mr, n, tile, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
    }
    if (nc <= kNr) return;
    nc -= kNr;
    c += kNr;
    wb += 3 * sizeof(int32_t) * kNr + block_k;  // the next block's head
  }
}

__attribute__((noinline)) void KernelSingle(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                            size_t a_stride, const void* w, int8_t* c,
                                            size_t c_stride, const Q8GemmOutput* out) {
  Kernel<true>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
}

}  // namespace

void q8_gemm_8x8c8__neon_i8mm(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                              const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  if (out->single_rounding) return KernelSingle(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  if (requant_neon::FullRange(out->act_min, out->act_max)) {
    return Kernel<false, false>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  }
  Kernel<false>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
