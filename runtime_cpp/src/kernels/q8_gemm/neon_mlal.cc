// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON int8 GEMM microkernel without the dot product extension, 3
// rows x 8 columns, K in groups of 16 ("c16"), for layers without a -128
// weight (wmin -127, q8_gemm.inc): per row and column, SMULL multiplies k
// 0-7, SMLAL2 adds k 8-15 into the same 8 int16 lanes and SADALP adds their
// pairs into 4 int32 lanes: 3 instructions per 16 multiply-adds, where the
// by-lane q8_gemm_4x8__neon needs 4 SMLALs plus the widening. Exact: a
// product of an activation and a weight in [-127, 127] is at most 16256 in
// magnitude, so two of them fit int16. The 4 partial sums of each output are
// added pairwise (ADDP) after the loop. 3 x 8 fits the 32 registers: 24
// accumulators, 3 activation rows, 2 weight columns, 3 products. A last group
// shorter than 16 reads only its own bytes (loads ending at the last byte,
// shifted into place), so nothing past K is read. The double-rounding
// epilogue runs in registers (q8_requant/neon.h). One call walks a whole row
// of column blocks (wide_nc). AArch64 only (ARMv7 has 16
// q registers).
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>

#include "kernels/q8_gemm/q8_gemm.h"
#include "kernels/q8_requant/neon.h"

namespace gearshift {
namespace {

constexpr size_t kMr = 3;
constexpr size_t kNr = 8;
constexpr size_t kKr = 16;

// The last r (1..15) activations of a row from p, zero-extended to 16,
// reading only p[0..r-1] and the 8 bytes before p (an earlier full group
// exists): the 8 bytes ending at p[r - 1], shifted right into place.
inline int8x16_t LoadTail(const int8_t* p, size_t r) {
  const uint64x1_t end = vreinterpret_u64_s8(vld1_s8(p + r - 8));
  if (r <= 8) {
    const int64x1_t right = vdup_n_s64(-8 * static_cast<int64_t>(8 - r));
    return vcombine_s8(vreinterpret_s8_u64(vshl_u64(end, right)), vdup_n_s8(0));
  }
  const int64x1_t right = vdup_n_s64(-8 * static_cast<int64_t>(16 - r));
  return vcombine_s8(vld1_s8(p), vreinterpret_s8_u64(vshl_u64(end, right)));
}

// One column of a group, its 16 weights in register W: the three rows'
// products (SMULL k 0-7, SMLAL2 k 8-15) into v3-v5, then OP (SADDLP starts
// the accumulators, SADALP adds) into the column's accumulator of each row.
// clang-format off
#define GS_MLAL_COL(W, ACC0, ACC1, ACC2, OP) \
  "smull v3.8h, " W ".8b, v0.8b\n" \
  "smull v4.8h, " W ".8b, v1.8b\n" \
  "smull v5.8h, " W ".8b, v2.8b\n" \
  "smlal2 v3.8h, " W ".16b, v0.16b\n" \
  "smlal2 v4.8h, " W ".16b, v1.16b\n" \
  "smlal2 v5.8h, " W ".16b, v2.16b\n" \
  OP " " ACC0 ".4s, v3.8h\n" \
  OP " " ACC1 ".4s, v4.8h\n" \
  OP " " ACC2 ".4s, v5.8h\n"

// One group of 16 k: the rows' activations into v0-v2, the 8 columns'
// weights two at a time into v6-v7; row r's column n accumulates in
// v(8 + 8r + n).
#define GS_MLAL_GROUP(OP) \
  "ldr q0, [%[a0]], #16\n" \
  "ldr q1, [%[a1]], #16\n" \
  "ldr q2, [%[a2]], #16\n" \
  "ldp q6, q7, [%[w]], #32\n" \
  GS_MLAL_COL("v6", "v8", "v16", "v24", OP) \
  GS_MLAL_COL("v7", "v9", "v17", "v25", OP) \
  "ldp q6, q7, [%[w]], #32\n" \
  GS_MLAL_COL("v6", "v10", "v18", "v26", OP) \
  GS_MLAL_COL("v7", "v11", "v19", "v27", OP) \
  "ldp q6, q7, [%[w]], #32\n" \
  GS_MLAL_COL("v6", "v12", "v20", "v28", OP) \
  GS_MLAL_COL("v7", "v13", "v21", "v29", OP) \
  "ldp q6, q7, [%[w]], #32\n" \
  GS_MLAL_COL("v6", "v14", "v22", "v30", OP) \
  GS_MLAL_COL("v7", "v15", "v23", "v31", OP)

// The same for one row (activations in v0, products in v3): column n
// accumulates in v(8 + n).
#define GS_MLAL_COL1(W, ACC, OP) \
  "smull v3.8h, " W ".8b, v0.8b\n" \
  "smlal2 v3.8h, " W ".16b, v0.16b\n" \
  OP " " ACC ".4s, v3.8h\n"
#define GS_MLAL_GROUP1(OP) \
  "ldr q0, [%[a0]], #16\n" \
  "ldp q6, q7, [%[w]], #32\n" \
  GS_MLAL_COL1("v6", "v8", OP) \
  GS_MLAL_COL1("v7", "v9", OP) \
  "ldp q6, q7, [%[w]], #32\n" \
  GS_MLAL_COL1("v6", "v10", OP) \
  GS_MLAL_COL1("v7", "v11", OP) \
  "ldp q6, q7, [%[w]], #32\n" \
  GS_MLAL_COL1("v6", "v12", OP) \
  GS_MLAL_COL1("v7", "v13", OP) \
  "ldp q6, q7, [%[w]], #32\n" \
  GS_MLAL_COL1("v6", "v14", OP) \
  GS_MLAL_COL1("v7", "v15", OP)
// clang-format on

// The kernel for K >= 16; kSingle: FULLY_CONNECTED's single rounding
// through the shared epilogue (kept out of line, so the double-rounding path
// makes no call and needs no callee-saved general registers); kClamp false:
// the clamp range is all of int8. One call walks every column block it is
// given (wide_nc): the row pointers and the tail rows are set up once.
template <bool kSingle, bool kClamp = true>
inline __attribute__((always_inline)) void Kernel(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                                  size_t a_stride, const void* w, int8_t* c,
                                                  size_t c_stride, const Q8GemmOutput* out) {
  const int8_t* const r0 = a;
  const int8_t* const r1 = mr > 1 ? r0 + a_stride : r0;
  const int8_t* const r2 = mr > 2 ? r1 + a_stride : r1;
  // A last group shorter than 16 goes through `tail` (3 rows of 16 bytes,
  // zero-padded; the packed weights are zero there too): the assembly
  // points its row pointers there and runs the loop body once more.
  int8_t tail[kMr * kKr];
  const size_t groups = kc / kKr;
  const size_t rest = kc % kKr;
  const int8_t* tail_rows = nullptr;
  if (rest != 0) {
    const size_t k = groups * kKr;
    vst1q_s8(tail, LoadTail(r0 + k, rest));
    vst1q_s8(tail + kKr, LoadTail(r1 + k, rest));
    vst1q_s8(tail + 2 * kKr, LoadTail(r2 + k, rest));
    tail_rows = tail;
  }
  const auto* wb = static_cast<const int8_t*>(w);
  const int32_t zp = out->c_zero_point, lo_clamp = out->act_min, hi_clamp = out->act_max;
  for (;;) {
    const auto* head = reinterpret_cast<const int32_t*>(wb);
    const int8_t* wp = wb + 3 * sizeof(int32_t) * kNr;
    const int8_t* a0 = r0;
    const int8_t* a1 = r1;
    const int8_t* a2 = r2;
    const int8_t* t = tail_rows;
    // The K loop, with all 32 vector registers in use (24 accumulators), in
    // assembly: GCC 12 spills most accumulators of the same intrinsics. The
    // 4 partial sums of each output are then added pairwise (ADDP): row r's
    // columns 0-3 end in v(2r), 4-7 in v(2r + 1).
    register int32x4_t s0 asm("v0");
    register int32x4_t s1 asm("v1");
    register int32x4_t s2 asm("v2");
    register int32x4_t s3 asm("v3");
    register int32x4_t s4 asm("v4");
    register int32x4_t s5 asm("v5");
    size_t rest_groups = groups - 1;
    asm volatile(
        // clang-format off
        GS_MLAL_GROUP("saddlp")
        "cbz %[n], 2f\n"
        "1:\n"
        GS_MLAL_GROUP("sadalp")
        "subs %[n], %[n], #1\n"
        "b.ne 1b\n"
        "2:\n"
        "cbz %[t], 3f\n"
        "mov %[a0], %[t]\n"
        "add %[a1], %[t], #16\n"
        "add %[a2], %[t], #32\n"
        "mov %[t], xzr\n"
        "mov %[n], #1\n"
        "b 1b\n"
        "3:\n"
        "addp v8.4s, v8.4s, v9.4s\n"
        "addp v10.4s, v10.4s, v11.4s\n"
        "addp v12.4s, v12.4s, v13.4s\n"
        "addp v14.4s, v14.4s, v15.4s\n"
        "addp v16.4s, v16.4s, v17.4s\n"
        "addp v18.4s, v18.4s, v19.4s\n"
        "addp v20.4s, v20.4s, v21.4s\n"
        "addp v22.4s, v22.4s, v23.4s\n"
        "addp v24.4s, v24.4s, v25.4s\n"
        "addp v26.4s, v26.4s, v27.4s\n"
        "addp v28.4s, v28.4s, v29.4s\n"
        "addp v30.4s, v30.4s, v31.4s\n"
        "addp v0.4s, v8.4s, v10.4s\n"
        "addp v1.4s, v12.4s, v14.4s\n"
        "addp v2.4s, v16.4s, v18.4s\n"
        "addp v3.4s, v20.4s, v22.4s\n"
        "addp v4.4s, v24.4s, v26.4s\n"
        "addp v5.4s, v28.4s, v30.4s\n"
        // clang-format on
        : "=w"(s0), "=w"(s1), "=w"(s2), "=w"(s3), "=w"(s4), "=w"(s5), [a0] "+r"(a0),
          [a1] "+r"(a1), [a2] "+r"(a2), [w] "+r"(wp), [n] "+r"(rest_groups), [t] "+r"(t)
        :
        : "cc", "memory", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16",
          "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28",
          "v29", "v30", "v31");
    const int32x4_t bias_lo = vld1q_s32(head);
    const int32x4_t bias_hi = vld1q_s32(head + 4);
    const int32x4_t lo[kMr] = {vaddq_s32(s0, bias_lo), vaddq_s32(s2, bias_lo),
                               vaddq_s32(s4, bias_lo)};
    const int32x4_t hi[kMr] = {vaddq_s32(s1, bias_hi), vaddq_s32(s3, bias_hi),
                               vaddq_s32(s5, bias_hi)};
    const size_t n = nc < kNr ? nc : kNr;
    if (!kSingle) {  // double rounding in registers (q8_requant/neon.h)
      requant_neon::StoreTile8<kMr, kClamp>(lo, hi, mr, n, head + kNr, head + 2 * kNr, zp, lo_clamp,
                                            hi_clamp, c, c_stride);
    } else {
      int32_t tile[kMr * kNr];
      for (size_t r = 0; r < kMr; ++r) {
        vst1q_s32(tile + r * kNr, lo[r]);
        vst1q_s32(tile + r * kNr + 4, hi[r]);
      }
      Q8GemmRequantizeTile(mr, n, tile, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
    }
    if (nc <= kNr) return;
    nc -= kNr;
    c += kNr;
    wb = wp;  // the next block's head follows this block's weights
  }
}

// One row (the last row tile of a layer whose M is 1 more than a multiple
// of 3, FULLY_CONNECTED's single row): a third of the 3-row kernel's work.
template <bool kSingle, bool kClamp>
inline __attribute__((always_inline)) void Kernel1(size_t nc, size_t kc, const int8_t* a,
                                                   const void* w, int8_t* c, size_t c_stride,
                                                   const Q8GemmOutput* out) {
  int8_t tail[kKr];
  const size_t groups = kc / kKr;
  const size_t rest = kc % kKr;
  const int8_t* tail_rows = nullptr;
  if (rest != 0) {
    vst1q_s8(tail, LoadTail(a + groups * kKr, rest));
    tail_rows = tail;
  }
  const auto* wb = static_cast<const int8_t*>(w);
  const int32_t zp = out->c_zero_point, lo_clamp = out->act_min, hi_clamp = out->act_max;
  for (;;) {
    const auto* head = reinterpret_cast<const int32_t*>(wb);
    const int8_t* wp = wb + 3 * sizeof(int32_t) * kNr;
    const int8_t* a0 = a;
    const int8_t* t = tail_rows;
    register int32x4_t s0 asm("v0");
    register int32x4_t s1 asm("v1");
    size_t rest_groups = groups - 1;
    asm volatile(
        // clang-format off
        GS_MLAL_GROUP1("saddlp")
        "cbz %[n], 2f\n"
        "1:\n"
        GS_MLAL_GROUP1("sadalp")
        "subs %[n], %[n], #1\n"
        "b.ne 1b\n"
        "2:\n"
        "cbz %[t], 3f\n"
        "mov %[a0], %[t]\n"
        "mov %[t], xzr\n"
        "mov %[n], #1\n"
        "b 1b\n"
        "3:\n"
        "addp v8.4s, v8.4s, v9.4s\n"
        "addp v10.4s, v10.4s, v11.4s\n"
        "addp v12.4s, v12.4s, v13.4s\n"
        "addp v14.4s, v14.4s, v15.4s\n"
        "addp v0.4s, v8.4s, v10.4s\n"
        "addp v1.4s, v12.4s, v14.4s\n"
        // clang-format on
        : "=w"(s0), "=w"(s1), [a0] "+r"(a0), [w] "+r"(wp), [n] "+r"(rest_groups), [t] "+r"(t)
        :
        : "cc", "memory", "v3", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14",
          "v15");
    const int32x4_t lo[1] = {vaddq_s32(s0, vld1q_s32(head))};
    const int32x4_t hi[1] = {vaddq_s32(s1, vld1q_s32(head + 4))};
    const size_t n = nc < kNr ? nc : kNr;
    if (!kSingle) {
      requant_neon::StoreTile8<1, kClamp>(lo, hi, 1, n, head + kNr, head + 2 * kNr, zp, lo_clamp,
                                          hi_clamp, c, c_stride);
    } else {
      int32_t tile[kNr];
      vst1q_s32(tile, lo[0]);
      vst1q_s32(tile + 4, hi[0]);
      Q8GemmRequantizeTile(1, n, tile, kNr, head + kNr, head + 2 * kNr, *out, c, c_stride);
    }
    if (nc <= kNr) return;
    nc -= kNr;
    c += kNr;
    wb = wp;
  }
}

__attribute__((noinline)) void KernelOneRow(size_t nc, size_t kc, const int8_t* a, const void* w,
                                            int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  if (out->single_rounding) return Kernel1<true, true>(nc, kc, a, w, c, c_stride, out);
  if (requant_neon::FullRange(out->act_min, out->act_max)) {
    return Kernel1<false, false>(nc, kc, a, w, c, c_stride, out);
  }
  Kernel1<false, true>(nc, kc, a, w, c, c_stride, out);
}

__attribute__((noinline)) void KernelSingle(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                            size_t a_stride, const void* w, int8_t* c,
                                            size_t c_stride, const Q8GemmOutput* out) {
  Kernel<true>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
}

// K < 16: the rows, zero-padded to 16 (as the packed weights are), through
// the K = 16 kernel.
__attribute__((noinline)) void KernelShort(size_t mr, size_t nc, size_t kc, const int8_t* a,
                                           size_t a_stride, const void* w, int8_t* c,
                                           size_t c_stride, const Q8GemmOutput* out) {
  int8_t rows[kMr * kKr] = {};
  for (size_t r = 0; r < mr; ++r) std::memcpy(rows + r * kKr, a + r * a_stride, kc);
  if (out->single_rounding) {
    KernelSingle(mr, nc, kKr, rows, kKr, w, c, c_stride, out);
  } else {
    Kernel<false>(mr, nc, kKr, rows, kKr, w, c, c_stride, out);
  }
}

}  // namespace

void q8_gemm_3x8c16__neon_mlal(size_t mr, size_t nc, size_t kc, const int8_t* a, size_t a_stride,
                               const void* w, int8_t* c, size_t c_stride, const Q8GemmOutput* out) {
  if (kc < kKr) return KernelShort(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  if (mr == 1) return KernelOneRow(nc, kc, a, w, c, c_stride, out);
  if (out->single_rounding) return KernelSingle(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  if (requant_neon::FullRange(out->act_min, out->act_max)) {  // no clamp needed
    return Kernel<false, false>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
  }
  Kernel<false>(mr, nc, kc, a, a_stride, w, c, c_stride, out);
}

#undef GS_MLAL_GROUP1
#undef GS_MLAL_COL1
#undef GS_MLAL_GROUP
#undef GS_MLAL_COL

}  // namespace gearshift

#endif  // defined(__aarch64__)
