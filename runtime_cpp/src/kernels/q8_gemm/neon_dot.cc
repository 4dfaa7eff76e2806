// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON int8 GEMM microkernel with the ARMv8.2 dot product
// extension (SDOT), 8 rows x 8 columns, K in groups of 4 ("c4"): each SDOT
// adds, per output column, the dot product of 4 activations and 4 weights
// into an int32 lane, which is exact, so the sums equal the reference's.
// The main loop takes 16 k at a time: each row's 16 activations are one
// 128-bit load and feed four SDOTs by element, so no per-group broadcast is
// needed (XNNPACK's ld128 shape). Leftover full groups broadcast 4 bytes
// (LD1R); a partial last group is read once, after the loops, through a
// 4-byte word per row with the bytes past K zeroed (the packed weights are
// zero there). The K loops are inline assembly with the 16 accumulators in
// v16-v31. Rows past mr repeat the last real row (computed, never stored).
// The double-rounding epilogue runs in registers (q8_requant/neon.h).
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

// One 4-k group's SDOTs for the 8 rows (activations in v0-v7, by element
// LANE), weights in W0 for columns 0-3 and W1 for 4-7: row r accumulates in
// v(16 + 2r) and v(17 + 2r).
// clang-format off
#define GS_SDOT_8ROWS(W0, W1, LANE) \
  "sdot v16.4s, " W0 ".16b, v0.4b[" LANE "]\n" \
  "sdot v17.4s, " W1 ".16b, v0.4b[" LANE "]\n" \
  "sdot v18.4s, " W0 ".16b, v1.4b[" LANE "]\n" \
  "sdot v19.4s, " W1 ".16b, v1.4b[" LANE "]\n" \
  "sdot v20.4s, " W0 ".16b, v2.4b[" LANE "]\n" \
  "sdot v21.4s, " W1 ".16b, v2.4b[" LANE "]\n" \
  "sdot v22.4s, " W0 ".16b, v3.4b[" LANE "]\n" \
  "sdot v23.4s, " W1 ".16b, v3.4b[" LANE "]\n" \
  "sdot v24.4s, " W0 ".16b, v4.4b[" LANE "]\n" \
  "sdot v25.4s, " W1 ".16b, v4.4b[" LANE "]\n" \
  "sdot v26.4s, " W0 ".16b, v5.4b[" LANE "]\n" \
  "sdot v27.4s, " W1 ".16b, v5.4b[" LANE "]\n" \
  "sdot v28.4s, " W0 ".16b, v6.4b[" LANE "]\n" \
  "sdot v29.4s, " W1 ".16b, v6.4b[" LANE "]\n" \
  "sdot v30.4s, " W0 ".16b, v7.4b[" LANE "]\n" \
  "sdot v31.4s, " W1 ".16b, v7.4b[" LANE "]\n"
// clang-format on

// The 4 bytes after p[0..r-1] zeroed (r in 1..3), reading p[r - 4 .. r - 1]:
// an earlier group exists.
inline uint32_t TailWord(const int8_t* p, size_t r) {
  uint32_t v;
  std::memcpy(&v, p + r - 4, 4);
  return v >> (8 * (4 - r));
}

template <bool kSingle>
inline __attribute__((always_inline)) void Kernel(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                                  size_t a_stride, const void* w, int8_t* c,
                                                  size_t c_stride, const Q8GemmOutput* out) {
  const auto* head = static_cast<const int32_t*>(w);
  // Rows past mr repeat the last real one (computed, not stored).
  const int8_t* rows[kMr];
  rows[0] = a;
  if (mr == kMr) {
    for (size_t r = 1; r < kMr; ++r) rows[r] = rows[r - 1] + a_stride;
  } else {
    for (size_t r = 1; r < kMr; ++r) rows[r] = r < mr ? rows[r - 1] + a_stride : rows[r - 1];
  }
  const int8_t* wp = reinterpret_cast<const int8_t*>(head + 3 * kNr);
  // A last group shorter than 4 goes through `tail` (8 rows of 4 bytes,
  // zero-padded, as the packed weights are): the assembly points its row
  // pointers there and runs the 4-k loop body once more.
  uint32_t tail[kMr];
  const int8_t* tail_rows = nullptr;
  const size_t rest = kc % 4;
  if (rest != 0) {
    for (size_t r = 0; r < kMr; ++r) tail[r] = TailWord(rows[r] + kc - rest, rest);
    tail_rows = reinterpret_cast<const int8_t*>(tail);
  }
  size_t n16 = kc / 16;
  size_t n4 = kc % 16 / 4;
  // Row r's columns 0-3 accumulate in v(16 + 2r), 4-7 in v(17 + 2r), from the
  // folded bias; the row pointers live in x8-x15. The K loops are in
  // assembly: GCC 12 moves the same intrinsics' accumulators through the
  // stack between loops.
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
  asm volatile(
      // clang-format off
      "ldp q16, q17, [%[head]]\n"
      "ldp x8, x9, [%[rows]]\n"
      "mov v18.16b, v16.16b\n"
      "mov v19.16b, v17.16b\n"
      "ldp x10, x11, [%[rows], #16]\n"
      "mov v20.16b, v16.16b\n"
      "mov v21.16b, v17.16b\n"
      "ldp x12, x13, [%[rows], #32]\n"
      "mov v22.16b, v16.16b\n"
      "mov v23.16b, v17.16b\n"
      "ldp x14, x15, [%[rows], #48]\n"
      "mov v24.16b, v16.16b\n"
      "mov v25.16b, v17.16b\n"
      "mov v26.16b, v16.16b\n"
      "mov v27.16b, v17.16b\n"
      "mov v28.16b, v16.16b\n"
      "mov v29.16b, v17.16b\n"
      "mov v30.16b, v16.16b\n"
      "mov v31.16b, v17.16b\n"
      "cbz %[n16], 2f\n"
      // 16 k: each row's 16 activations feed 4 SDOTs by element.
      "1:\n"
      "ldr q0, [x8], #16\n"
      "ldr q1, [x9], #16\n"
      "ldr q2, [x10], #16\n"
      "ldr q3, [x11], #16\n"
      "ldr q4, [x12], #16\n"
      "ldr q5, [x13], #16\n"
      "ldr q6, [x14], #16\n"
      "ldr q7, [x15], #16\n"
      "ldp q8, q9, [%[w]], #32\n"
      GS_SDOT_8ROWS("v8", "v9", "0")
      "ldp q8, q9, [%[w]], #32\n"
      GS_SDOT_8ROWS("v8", "v9", "1")
      "ldp q8, q9, [%[w]], #32\n"
      GS_SDOT_8ROWS("v8", "v9", "2")
      "ldp q8, q9, [%[w]], #32\n"
      GS_SDOT_8ROWS("v8", "v9", "3")
      "subs %[n16], %[n16], #1\n"
      "b.ne 1b\n"
      "2:\n"
      "cbz %[n4], 4f\n"
      // 4 k: each row's 4 activations broadcast (LD1R).
      "3:\n"
      "ld1r {v0.4s}, [x8], #4\n"
      "ld1r {v1.4s}, [x9], #4\n"
      "ld1r {v2.4s}, [x10], #4\n"
      "ld1r {v3.4s}, [x11], #4\n"
      "ld1r {v4.4s}, [x12], #4\n"
      "ld1r {v5.4s}, [x13], #4\n"
      "ld1r {v6.4s}, [x14], #4\n"
      "ld1r {v7.4s}, [x15], #4\n"
      "ldp q8, q9, [%[w]], #32\n"
      GS_SDOT_8ROWS("v8", "v9", "0")
      "subs %[n4], %[n4], #1\n"
      "b.ne 3b\n"
      "4:\n"
      "cbz %[t], 5f\n"
      "mov x8, %[t]\n"
      "add x9, %[t], #4\n"
      "add x10, %[t], #8\n"
      "add x11, %[t], #12\n"
      "add x12, %[t], #16\n"
      "add x13, %[t], #20\n"
      "add x14, %[t], #24\n"
      "add x15, %[t], #28\n"
      "mov %[t], xzr\n"
      "mov %[n4], #1\n"
      "b 3b\n"
      "5:\n"
      // clang-format on
      : "=w"(c0), "=w"(c1), "=w"(c2), "=w"(c3), "=w"(c4), "=w"(c5), "=w"(c6), "=w"(c7),
        "=w"(c8), "=w"(c9), "=w"(c10), "=w"(c11), "=w"(c12), "=w"(c13), "=w"(c14), "=w"(c15),
        [w] "+r"(wp), [n16] "+r"(n16), [n4] "+r"(n4), [t] "+r"(tail_rows)
      : [head] "r"(head), [rows] "r"(rows)
      : "cc", "memory", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "v0", "v1", "v2",
        "v3", "v4", "v5", "v6", "v7", "v8", "v9");
  const int32x4_t lo[kMr] = {c0, c2, c4, c6, c8, c10, c12, c14};
  const int32x4_t hi[kMr] = {c1, c3, c5, c7, c9, c11, c13, c15};
  if (!kSingle) {  // double rounding in registers (q8_requant/neon.h)
    requant_neon::StoreTile8<kMr>(lo, hi, mr, nc, head + kNr, head + 2 * kNr, out->c_zero_point,
                                  out->act_min, out->act_max, c, c_stride);
    return;
  }
  int32_t tile[kMr * kNr];
  for (size_t r = 0; r < kMr; ++r) {
    vst1q_s32(tile + r * kNr, lo[r]);
    vst1q_s32(tile + r * kNr + 4, hi[r]);
  }
  Q8GemmRequantizeTile(mr, nc, tile, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
}

#undef GS_SDOT_8ROWS

__attribute__((noinline)) void KernelSingle(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                            size_t a_stride, const void* w, int8_t* c,
                                            size_t c_stride, const Q8GemmOutput* out) {
  Kernel<true>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
}

// K < 4: the rows, zero-padded to 4 (as the packed weights are), through the
// K = 4 kernel.
__attribute__((noinline)) void KernelShort(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                           size_t a_stride, const void* w, int8_t* c,
                                           size_t c_stride, const Q8GemmOutput* out) {
  int8_t rows[kMr * 4] = {};
  for (size_t r = 0; r < mr; ++r) std::memcpy(rows + r * 4, a + r * a_stride, kc);
  if (out->single_rounding) {
    KernelSingle(mr, nc, 4, rows, 4, w, c, c_stride, out);
  } else {
    Kernel<false>(mr, nc, 4, rows, 4, w, c, c_stride, out);
  }
}

}  // namespace

void q8_gemm_8x8c4__neon_dot(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                             const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  if (kc < 4) return KernelShort(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  if (out->single_rounding) return KernelSingle(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  Kernel<false>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
