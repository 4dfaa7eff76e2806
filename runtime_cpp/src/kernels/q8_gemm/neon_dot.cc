// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON int8 GEMM microkernel with the ARMv8.2 dot product
// extension (SDOT), 8 rows x 8 columns, K in groups of 4 ("c4"): each SDOT
// adds, per output column, the dot product of 4 activations and 4 weights
// into an int32 lane, which is exact, so the sums equal the reference's.
// The main loop takes 16 k at a time: each row's 16 activations are one
// 128-bit load and feed four SDOTs by element, so no per-group broadcast is
// needed (XNNPACK's ld128 shape); the 16 k of weights are two 4-register
// LD1s. Leftover full groups broadcast 4 bytes (LD1R); a partial last group
// is read once, after the loops, through a 4-byte word per row with the
// bytes past K zeroed (the packed weights are zero there). The K loops are
// inline assembly with the 16 accumulators in v16-v31. A call walks every
// column block it is given (wide_nc: the driver passes a row tile's whole
// row of blocks), so the row pointers, tail words and output constants are
// set up once per row tile; 5-8 rows run the 8-row loop, 2-4 a 4-row one and
// 1 a 1-row one (rows past mr repeat the last real row, computed, never
// stored). The double-rounding epilogue runs in registers
// (q8_requant/neon.h), without the clamp on full tiles whose range is all
// of int8.
// Compiled with -march=armv8.2-a+dotprod (CMakeLists.txt, by file name);
// where a board pins -mcpu (e.g. cortex-a72, ARMv8.0) the pragma below
// enables it for this file instead. Only called when getauxval reports
// HWCAP_ASIMDDP (dispatch.cc); armv7 has no SDOT.
#if defined(__aarch64__)

#if !defined(__ARM_FEATURE_DOTPROD)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("arch=armv8.2-a+dotprod")
#else
#error "neon_dot.cc needs -march=armv8.2-a+dotprod (CMakeLists.txt)"
#endif
#endif

#include <arm_neon.h>

#include <cstring>

#include "kernels/q8_gemm/q8_gemm.h"
#include "kernels/q8_requant/neon.h"

namespace gearshift {
namespace {

constexpr size_t kNr = 8;
constexpr size_t kMr = 8;

// One 4-k group's SDOTs for rows 0-3 (activations in v0-v3) and rows 4-7
// (v4-v7), by element LANE, weights in W0 for columns 0-3 and W1 for 4-7:
// row r accumulates in v(16 + 2r) and v(17 + 2r).
// clang-format off
#define GS_SDOT_ROW(ACC0, ACC1, A, W0, W1, LANE) \
  "sdot " ACC0 ".4s, " W0 ".16b, " A ".4b[" LANE "]\n" \
  "sdot " ACC1 ".4s, " W1 ".16b, " A ".4b[" LANE "]\n"
#define GS_SDOT_ROWS0(W0, W1, LANE) GS_SDOT_ROW("v16", "v17", "v0", W0, W1, LANE)
#define GS_SDOT_ROWS1_3(W0, W1, LANE) \
  GS_SDOT_ROW("v18", "v19", "v1", W0, W1, LANE) \
  GS_SDOT_ROW("v20", "v21", "v2", W0, W1, LANE) \
  GS_SDOT_ROW("v22", "v23", "v3", W0, W1, LANE)
#define GS_SDOT_ROWS4_7(W0, W1, LANE) \
  GS_SDOT_ROW("v24", "v25", "v4", W0, W1, LANE) \
  GS_SDOT_ROW("v26", "v27", "v5", W0, W1, LANE) \
  GS_SDOT_ROW("v28", "v29", "v6", W0, W1, LANE) \
  GS_SDOT_ROW("v30", "v31", "v7", W0, W1, LANE)
#define GS_LDQ0 "ldr q0, [x8], #16\n"
#define GS_LDQ1_3 "ldr q1, [x9], #16\n" "ldr q2, [x10], #16\n" "ldr q3, [x11], #16\n"
#define GS_LDQ4_7 \
  "ldr q4, [x12], #16\n" "ldr q5, [x13], #16\n" "ldr q6, [x14], #16\n" "ldr q7, [x15], #16\n"
#define GS_LDR0 "ld1r {v0.4s}, [x8], #4\n"
#define GS_LDR1_3 "ld1r {v1.4s}, [x9], #4\n" "ld1r {v2.4s}, [x10], #4\n" "ld1r {v3.4s}, [x11], #4\n"
#define GS_LDR4_7 \
  "ld1r {v4.4s}, [x12], #4\n" "ld1r {v5.4s}, [x13], #4\n" \
  "ld1r {v6.4s}, [x14], #4\n" "ld1r {v7.4s}, [x15], #4\n"
#define GS_INIT1_3 \
  "mov v18.16b, v16.16b\n" "mov v19.16b, v17.16b\n" "mov v20.16b, v16.16b\n" \
  "mov v21.16b, v17.16b\n" "mov v22.16b, v16.16b\n" "mov v23.16b, v17.16b\n"
#define GS_INIT4_7 \
  "mov v24.16b, v16.16b\n" "mov v25.16b, v17.16b\n" "mov v26.16b, v16.16b\n" \
  "mov v27.16b, v17.16b\n" "mov v28.16b, v16.16b\n" "mov v29.16b, v17.16b\n" \
  "mov v30.16b, v16.16b\n" "mov v31.16b, v17.16b\n"
#define GS_TAIL1_3 "add x9, %[t], #4\n" "add x10, %[t], #8\n" "add x11, %[t], #12\n"
#define GS_TAIL4_7 \
  "add x12, %[t], #16\n" "add x13, %[t], #20\n" "add x14, %[t], #24\n" "add x15, %[t], #28\n"

// The K loop of one column block for kRows (8, 4 or 1) rows, each macro
// argument a part of it for the rows in use: row pointers from rows[] into
// x8-x15, accumulators from the folded bias at head, then 16 k per step
// (each row's 16 activations feed four SDOTs by element, XNNPACK's ld128
// shape), 4 k per step (LD1R), and a last partial group from `t` (kRows
// zero-padded 4-byte words), run as one more 4-k step. Leaves w past the
// block's weights, i.e. at the next block's head.
#define GS_KLOOP(INIT, LOADX, LDQ, SDOT, LDR, TAIL) \
      "ldp q16, q17, [%[head]]\n" \
      LOADX \
      INIT \
      "cbz %[n16], 2f\n" \
      "1:\n" \
      LDQ \
      "ld1 {v8.16b, v9.16b, v10.16b, v11.16b}, [%[w]], #64\n" \
      "ld1 {v12.16b, v13.16b, v14.16b, v15.16b}, [%[w]], #64\n" \
      SDOT("v8", "v9", "0") \
      SDOT("v10", "v11", "1") \
      SDOT("v12", "v13", "2") \
      SDOT("v14", "v15", "3") \
      "subs %[n16], %[n16], #1\n" \
      "b.ne 1b\n" \
      "2:\n" \
      "cbz %[n4], 4f\n" \
      "3:\n" \
      LDR \
      "ldp q8, q9, [%[w]], #32\n" \
      SDOT("v8", "v9", "0") \
      "subs %[n4], %[n4], #1\n" \
      "b.ne 3b\n" \
      "4:\n" \
      "cbz %[t], 5f\n" \
      "mov x8, %[t]\n" \
      TAIL \
      "mov %[t], xzr\n" \
      "mov %[n4], #1\n" \
      "b 3b\n" \
      "5:\n"
#define GS_SDOT8(W0, W1, L) GS_SDOT_ROWS0(W0, W1, L) GS_SDOT_ROWS1_3(W0, W1, L) GS_SDOT_ROWS4_7(W0, W1, L)
#define GS_SDOT4(W0, W1, L) GS_SDOT_ROWS0(W0, W1, L) GS_SDOT_ROWS1_3(W0, W1, L)
// clang-format on

// The 4 bytes after p[0..r-1] zeroed (r in 1..3), reading p[r - 4 .. r - 1]:
// an earlier group exists.
inline uint32_t TailWord(const int8_t* p, size_t r) {
  uint32_t v;
  std::memcpy(&v, p + r - 4, 4);
  return v >> (8 * (4 - r));
}

// The accumulators of one column block: row r's columns 0-3 in lo[r], 4-7
// in hi[r].
template <size_t kRows>
struct Acc {
  int32x4_t lo[kRows], hi[kRows];
};

// One column block's K loop for kRows rows (row pointers in rows[0..kRows-1],
// tail: null or kRows zero-padded words); advances w to the next block.
// In assembly: GCC 12 moves the same intrinsics' accumulators through the
// stack between loops. The accumulators live in v16-v31, the activations
// in v0-v7, the weights in v8-v15 (16 k of them, two 4-register LD1s).
template <size_t kRows>
inline __attribute__((always_inline)) Acc<kRows> KLoop(const int8_t* const* rows,
                                                       const int8_t* tail, size_t kc,
                                                       const int8_t*& w) {
  const auto* head = reinterpret_cast<const int32_t*>(w);
  const int8_t* wp = w + 3 * sizeof(int32_t) * kNr;
  size_t n16 = kc / 16;
  size_t n4 = kc % 16 / 4;
  register int32x4_t c0 asm("v16");
  register int32x4_t c1 asm("v17");
  register int32x4_t c2 asm("v18");
  register int32x4_t c3 asm("v19");
  register int32x4_t c4 asm("v20");
  register int32x4_t c5 asm("v21");
  register int32x4_t c6 asm("v22");
  register int32x4_t c7 asm("v23");
  register int32x4_t c8 asm("v24");
  register int32x4_t c9 asm("v25");
  register int32x4_t c10 asm("v26");
  register int32x4_t c11 asm("v27");
  register int32x4_t c12 asm("v28");
  register int32x4_t c13 asm("v29");
  register int32x4_t c14 asm("v30");
  register int32x4_t c15 asm("v31");
  Acc<kRows> acc;
  if constexpr (kRows == 8) {
    asm volatile(
        // clang-format off
        GS_KLOOP(GS_INIT1_3 GS_INIT4_7,
                 "ldp x8, x9, [%[rows]]\n" "ldp x10, x11, [%[rows], #16]\n"
                 "ldp x12, x13, [%[rows], #32]\n" "ldp x14, x15, [%[rows], #48]\n",
                 GS_LDQ0 GS_LDQ1_3 GS_LDQ4_7, GS_SDOT8, GS_LDR0 GS_LDR1_3 GS_LDR4_7,
                 GS_TAIL1_3 GS_TAIL4_7)
        // clang-format on
        : "=w"(c0), "=w"(c1), "=w"(c2), "=w"(c3), "=w"(c4), "=w"(c5), "=w"(c6), "=w"(c7), "=w"(c8),
          "=w"(c9), "=w"(c10), "=w"(c11), "=w"(c12), "=w"(c13), "=w"(c14),
          "=w"(c15), [w] "+r"(wp), [n16] "+r"(n16), [n4] "+r"(n4), [t] "+r"(tail)
        : [head] "r"(head), [rows] "r"(rows)
        : "cc", "memory", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "v0", "v1", "v2",
          "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15");
    const int32x4_t lo[8] = {c0, c2, c4, c6, c8, c10, c12, c14};
    const int32x4_t hi[8] = {c1, c3, c5, c7, c9, c11, c13, c15};
    for (size_t r = 0; r < kRows; ++r) {
      acc.lo[r] = lo[r];
      acc.hi[r] = hi[r];
    }
  } else if constexpr (kRows == 4) {
    asm volatile(
        // clang-format off
        GS_KLOOP(GS_INIT1_3, "ldp x8, x9, [%[rows]]\n" "ldp x10, x11, [%[rows], #16]\n",
                 GS_LDQ0 GS_LDQ1_3, GS_SDOT4, GS_LDR0 GS_LDR1_3, GS_TAIL1_3)
        // clang-format on
        : "=w"(c0), "=w"(c1), "=w"(c2), "=w"(c3), "=w"(c4), "=w"(c5), "=w"(c6),
          "=w"(c7), [w] "+r"(wp), [n16] "+r"(n16), [n4] "+r"(n4), [t] "+r"(tail)
        : [head] "r"(head), [rows] "r"(rows)
        : "cc", "memory", "x8", "x9", "x10", "x11", "v0", "v1", "v2", "v3", "v8", "v9", "v10",
          "v11", "v12", "v13", "v14", "v15");
    const int32x4_t lo[4] = {c0, c2, c4, c6};
    const int32x4_t hi[4] = {c1, c3, c5, c7};
    for (size_t r = 0; r < kRows; ++r) {
      acc.lo[r] = lo[r];
      acc.hi[r] = hi[r];
    }
  } else {
    static_assert(kRows == 8 || kRows == 4 || kRows == 1, "rows");
    asm volatile(
        // clang-format off
        GS_KLOOP("", "ldr x8, [%[rows]]\n", GS_LDQ0, GS_SDOT_ROWS0, GS_LDR0, "")
        // clang-format on
        : "=w"(c0), "=w"(c1), [w] "+r"(wp), [n16] "+r"(n16), [n4] "+r"(n4), [t] "+r"(tail)
        : [head] "r"(head), [rows] "r"(rows)
        : "cc", "memory", "x8", "v0", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15");
    acc.lo[0] = c0;
    acc.hi[0] = c1;
  }
  w = wp;
  return acc;
}

// The columns of nc / 8 + (nc % 8 != 0) consecutive packed blocks for kRows
// computed rows (mr of them stored). One call walks every block (the
// driver's contract for wide_nc kernels): the row pointers, the tail words
// and the output constants are set up once per call, not per block.
template <size_t kRows, bool kSingle, bool kClamp = true>
inline __attribute__((always_inline)) void Kernel(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                                  size_t a_stride, const void* w, int8_t* c,
                                                  size_t c_stride, const Q8GemmOutput* out) {
  // Rows past mr repeat the last real one (computed, not stored).
  const int8_t* rows[kRows];
  rows[0] = a;
  if (mr == kRows) {
    for (size_t r = 1; r < kRows; ++r) rows[r] = rows[r - 1] + a_stride;
  } else {
    for (size_t r = 1; r < kRows; ++r) rows[r] = r < mr ? rows[r - 1] + a_stride : rows[r - 1];
  }
  // A last group shorter than 4 goes through `tail` (kRows rows of 4 bytes,
  // zero-padded, as the packed weights are).
  uint32_t tail[kRows];
  const int8_t* tail_rows = nullptr;
  const size_t rest = kc % 4;
  if (rest != 0) {
    for (size_t r = 0; r < kRows; ++r) tail[r] = TailWord(rows[r] + kc - rest, rest);
    tail_rows = reinterpret_cast<const int8_t*>(tail);
  }
  const auto* wp = static_cast<const int8_t*>(w);
  const int32_t zp = out->c_zero_point, lo = out->act_min, hi = out->act_max;
  for (;;) {
    const auto* head = reinterpret_cast<const int32_t*>(wp);
    const Acc<kRows> acc = KLoop<kRows>(rows, tail_rows, kc, wp);
    const size_t n = nc < kNr ? nc : kNr;
    if (!kSingle) {  // double rounding in registers (q8_requant/neon.h)
      requant_neon::StoreTile8<kRows, kClamp>(acc.lo, acc.hi, mr, n, head + kNr, head + 2 * kNr, zp,
                                              lo, hi, c, c_stride);
    } else {
      int32_t tile[kRows * kNr];
      for (size_t r = 0; r < kRows; ++r) {
        vst1q_s32(tile + r * kNr, acc.lo[r]);
        vst1q_s32(tile + r * kNr + 4, acc.hi[r]);
      }
      Q8GemmRequantizeTile(mr, n, tile, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
    }
    if (nc <= kNr) return;
    nc -= kNr;
    c += kNr;
  }
}

#undef GS_SDOT4
#undef GS_SDOT8
#undef GS_KLOOP
#undef GS_TAIL4_7
#undef GS_TAIL1_3
#undef GS_INIT4_7
#undef GS_INIT1_3
#undef GS_LDR4_7
#undef GS_LDR1_3
#undef GS_LDR0
#undef GS_LDQ4_7
#undef GS_LDQ1_3
#undef GS_LDQ0
#undef GS_SDOT_ROWS4_7
#undef GS_SDOT_ROWS1_3
#undef GS_SDOT_ROWS0
#undef GS_SDOT_ROW

// Rows 5-8 through the 8-row loop, 2-4 through the 4-row one, 1 through the
// 1-row one (the last row tiles of small layers, FULLY_CONNECTED's single
// row): no more than twice the rows' work is computed.
template <bool kSingle>
__attribute__((noinline)) void KernelRows(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                          size_t a_stride, const void* w, int8_t* c,
                                          size_t c_stride, const Q8GemmOutput* out) {
  if (mr > 4) return Kernel<8, kSingle>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  if (mr > 1) return Kernel<4, kSingle>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  Kernel<1, kSingle>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
}

// K < 4: the rows, zero-padded to 4 (as the packed weights are), through the
// K = 4 kernels.
__attribute__((noinline)) void KernelShort(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                           size_t a_stride, const void* w, int8_t* c,
                                           size_t c_stride, const Q8GemmOutput* out) {
  int8_t rows[kMr * 4] = {};
  for (size_t r = 0; r < mr; ++r) std::memcpy(rows + r * 4, a + r * a_stride, kc);
  if (out->single_rounding) {
    KernelRows<true>(mr, nc, 4, rows, 4, w, c, c_stride, out);
  } else {
    KernelRows<false>(mr, nc, 4, rows, 4, w, c, c_stride, out);
  }
}

}  // namespace

void q8_gemm_8x8c4__neon_dot(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                             const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  if (kc < 4) return KernelShort(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  if (out->single_rounding) return KernelRows<true>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  if (mr == kMr) {  // full row tiles: the clamp left out where it is the int8 range
    if (requant_neon::FullRange(out->act_min, out->act_max)) {
      return Kernel<kMr, false, false>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
    }
    return Kernel<kMr, false>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  }
  KernelRows<false>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
