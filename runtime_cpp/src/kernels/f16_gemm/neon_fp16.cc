// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 fp16-arithmetic GEMM microkernel, 8 rows x 16 columns: 16 half
// accumulators (two .8h vectors a row), 8 A vectors (one per row, 8 k-steps
// of halves) and 2 weight vectors: 26 of the 32 registers, and FMLA .8h by
// element (the element operand must be in v0-v15: the A vectors). Per 8
// k-steps: 8 A loads, 8 weight-pair loads, 128 FMLA = 1024 multiply-adds,
// twice what the fp32 8x8 kernel does in the same instructions. Products
// are summed in half from the half bias on; the epilogue clamps in half
// (lo/hi rounded to half: ReLU/ReLU6 bounds are exact) and widens to fp32.
// Also the input conversion (FCVTN, fp32 -> half) the ops run before it.
// Compiled with -march=armv8.2-a+fp16 (CMakeLists.txt, by file name); where
// a board pins -mcpu (e.g. cortex-a72, ARMv8.0) the pragma below enables it
// for this file instead. Only called when getauxval reports HWCAP_ASIMDHP
// (dispatch.cc, neon_fp16).
#if defined(__aarch64__)

#if !defined(__ARM_FEATURE_FP16_VECTOR_ARITHMETIC)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("arch=armv8.2-a+fp16")
#else
#error "neon_fp16.cc needs -march=armv8.2-a+fp16 (CMakeLists.txt)"
#endif
#endif

#include <arm_neon.h>

#include <cstring>

#include "kernels/f16_gemm/f16_gemm.h"

namespace gearshift {

void f32_to_f16__neon_fp16(size_t n, const float* x, uint16_t* y) {
  float16_t* out = reinterpret_cast<float16_t*>(y);
  // 32 values a step in assembly, loads and the store post-incremented: 13
  // instructions per 32 values where the intrinsics loop below takes 20
  // (this conversion is about 8% of the fp16 gear's instructions on
  // MobileNetV2). FCVTN rounds as vcvt_f16_f32 does (to nearest, even).
  if (size_t steps = n / 32) {
    // clang-format off
    asm volatile(
        "1:\n"
        "ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [%[x]], #64\n"
        "ld1 {v4.4s, v5.4s, v6.4s, v7.4s}, [%[x]], #64\n"
        "fcvtn v16.4h, v0.4s\n fcvtn2 v16.8h, v1.4s\n"
        "fcvtn v17.4h, v2.4s\n fcvtn2 v17.8h, v3.4s\n"
        "fcvtn v18.4h, v4.4s\n fcvtn2 v18.8h, v5.4s\n"
        "fcvtn v19.4h, v6.4s\n fcvtn2 v19.8h, v7.4s\n"
        "st1 {v16.8h, v17.8h, v18.8h, v19.8h}, [%[out]], #64\n"
        "subs %[steps], %[steps], #1\n"
        "b.ne 1b\n"
        : [x] "+r"(x), [out] "+r"(out), [steps] "+r"(steps)
        :
        : "cc", "memory", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16", "v17", "v18",
          "v19");
    // clang-format on
    n %= 32;
  }
  for (; n >= 16; n -= 16, x += 16, out += 16) {
    const float32x4x4_t v = vld1q_f32_x4(x);
    vst1q_f16(out, vcvt_high_f16_f32(vcvt_f16_f32(v.val[0]), v.val[1]));
    vst1q_f16(out + 8, vcvt_high_f16_f32(vcvt_f16_f32(v.val[2]), v.val[3]));
  }
  for (; n >= 4; n -= 4, x += 4, out += 4) vst1_f16(out, vcvt_f16_f32(vld1q_f32(x)));
  for (; n > 0; --n) *out++ = static_cast<float16_t>(*x++);
}

void f16_gemm_8x16__neon_fp16(size_t mr, size_t nc, size_t kc, size_t ks, const uint16_t* const* a,
                              const void* wp, float* c, size_t c_stride, float lo, float hi) {
  const uint8_t* w = static_cast<const uint8_t*>(wp);  // 16 bias halves, then 16 a k-step
  // A partial column tile goes through a stack tile; full ones are stored
  // straight into C.
  float tile[8 * 16];
  float* out = nc == 16 ? c : tile;
  const size_t out_stride = (nc == 16 ? c_stride : 16) * sizeof(float);
  const float16x8_t vlo = vdupq_n_f16(static_cast<float16_t>(lo));
  const float16x8_t vhi = vdupq_n_f16(static_cast<float16_t>(hi));
  // Inline assembly, not intrinsics: GCC 12 spills this tile's 16
  // accumulators and splits FMLA by element into DUP + FMLA. Registers:
  // accumulators v16-v31 (row r in v(16+2r), v(17+2r)); A rows in v0-v7
  // (FMLA .h by element takes v0-v15 only); weights in v8-v9; the row
  // pointers of the current tap in x9-x16.
  __asm__ volatile(
      "ldp q16, q17, [%[w]], #32\n"
      "mov v18.16b, v16.16b\n mov v19.16b, v17.16b\n"
      "mov v20.16b, v16.16b\n mov v21.16b, v17.16b\n"
      "mov v22.16b, v16.16b\n mov v23.16b, v17.16b\n"
      "mov v24.16b, v16.16b\n mov v25.16b, v17.16b\n"
      "mov v26.16b, v16.16b\n mov v27.16b, v17.16b\n"
      "mov v28.16b, v16.16b\n mov v29.16b, v17.16b\n"
      "mov v30.16b, v16.16b\n mov v31.16b, v17.16b\n"
      "0:\n"  // per tap: the 8 row pointers (the caller fills all 8)
      "ldp x9, x10, [%[a]]\n"
      "ldp x11, x12, [%[a], #16]\n"
      "ldp x13, x14, [%[a], #32]\n"
      "ldp x15, x16, [%[a], #48]\n"
      "add %[a], %[a], #64\n"
      "lsr x17, %[kc], #3\n"
      "cbz x17, 2f\n"
      "1:\n"  // eight k-steps: 8 loads of A, 8 weight pairs, 128 FMLA by element
      "ldr q0, [x9], #16\n ldr q1, [x10], #16\n ldr q2, [x11], #16\n ldr q3, [x12], #16\n"
      "ldr q4, [x13], #16\n ldr q5, [x14], #16\n ldr q6, [x15], #16\n ldr q7, [x16], #16\n"
#define GS_LANE(l)                                                  \
  "ldp q8, q9, [%[w]], #32\n"                                       \
  "fmla v16.8h, v8.8h, v0.h[" #l "]\n fmla v17.8h, v9.8h, v0.h[" #l \
  "]\n"                                                             \
  "fmla v18.8h, v8.8h, v1.h[" #l "]\n fmla v19.8h, v9.8h, v1.h[" #l \
  "]\n"                                                             \
  "fmla v20.8h, v8.8h, v2.h[" #l "]\n fmla v21.8h, v9.8h, v2.h[" #l \
  "]\n"                                                             \
  "fmla v22.8h, v8.8h, v3.h[" #l "]\n fmla v23.8h, v9.8h, v3.h[" #l \
  "]\n"                                                             \
  "fmla v24.8h, v8.8h, v4.h[" #l "]\n fmla v25.8h, v9.8h, v4.h[" #l \
  "]\n"                                                             \
  "fmla v26.8h, v8.8h, v5.h[" #l "]\n fmla v27.8h, v9.8h, v5.h[" #l \
  "]\n"                                                             \
  "fmla v28.8h, v8.8h, v6.h[" #l "]\n fmla v29.8h, v9.8h, v6.h[" #l \
  "]\n"                                                             \
  "fmla v30.8h, v8.8h, v7.h[" #l "]\n fmla v31.8h, v9.8h, v7.h[" #l "]\n"
      GS_LANE(0) GS_LANE(1) GS_LANE(2) GS_LANE(3) GS_LANE(4) GS_LANE(5) GS_LANE(6) GS_LANE(7)
      "subs x17, x17, #1\n"
      "b.ne 1b\n"
      "2:\n"  // the last kc % 8 k-steps, one at a time
      "ands x17, %[kc], #7\n"
      "b.eq 4f\n"
      "3:\n"
      "ld1r {v0.8h}, [x9], #2\n ld1r {v1.8h}, [x10], #2\n"
      "ld1r {v2.8h}, [x11], #2\n ld1r {v3.8h}, [x12], #2\n"
      "ld1r {v4.8h}, [x13], #2\n ld1r {v5.8h}, [x14], #2\n"
      "ld1r {v6.8h}, [x15], #2\n ld1r {v7.8h}, [x16], #2\n"
      GS_LANE(0)
#undef GS_LANE
      "subs x17, x17, #1\n"
      "b.ne 3b\n"
      "4:\n"
      "subs %[ks], %[ks], #1\n"
      "b.ne 0b\n"
      // clamp in half (NaN stays NaN: FMAX/FMIN propagate it)
      "fmax v16.8h, v16.8h, %[lo].8h\n fmax v17.8h, v17.8h, %[lo].8h\n"
      "fmax v18.8h, v18.8h, %[lo].8h\n fmax v19.8h, v19.8h, %[lo].8h\n"
      "fmax v20.8h, v20.8h, %[lo].8h\n fmax v21.8h, v21.8h, %[lo].8h\n"
      "fmax v22.8h, v22.8h, %[lo].8h\n fmax v23.8h, v23.8h, %[lo].8h\n"
      "fmax v24.8h, v24.8h, %[lo].8h\n fmax v25.8h, v25.8h, %[lo].8h\n"
      "fmax v26.8h, v26.8h, %[lo].8h\n fmax v27.8h, v27.8h, %[lo].8h\n"
      "fmax v28.8h, v28.8h, %[lo].8h\n fmax v29.8h, v29.8h, %[lo].8h\n"
      "fmax v30.8h, v30.8h, %[lo].8h\n fmax v31.8h, v31.8h, %[lo].8h\n"
      "fmin v16.8h, v16.8h, %[hi].8h\n fmin v17.8h, v17.8h, %[hi].8h\n"
      "fmin v18.8h, v18.8h, %[hi].8h\n fmin v19.8h, v19.8h, %[hi].8h\n"
      "fmin v20.8h, v20.8h, %[hi].8h\n fmin v21.8h, v21.8h, %[hi].8h\n"
      "fmin v22.8h, v22.8h, %[hi].8h\n fmin v23.8h, v23.8h, %[hi].8h\n"
      "fmin v24.8h, v24.8h, %[hi].8h\n fmin v25.8h, v25.8h, %[hi].8h\n"
      "fmin v26.8h, v26.8h, %[hi].8h\n fmin v27.8h, v27.8h, %[hi].8h\n"
      "fmin v28.8h, v28.8h, %[hi].8h\n fmin v29.8h, v29.8h, %[hi].8h\n"
      "fmin v30.8h, v30.8h, %[hi].8h\n fmin v31.8h, v31.8h, %[hi].8h\n"
  // widen and store mr rows (FCVTL is exact)
#define GS_ROW(lo_acc, hi_acc)                             \
  "fcvtl v0.4s, v" #lo_acc ".4h\n fcvtl2 v1.4s, v" #lo_acc \
  ".8h\n"                                                  \
  "fcvtl v2.4s, v" #hi_acc ".4h\n fcvtl2 v3.4s, v" #hi_acc \
  ".8h\n"                                                  \
  "st1 {v0.4s, v1.4s, v2.4s, v3.4s}, [x9]\n"
      "mov x9, %[out]\n"
      GS_ROW(16, 17)
      "cmp %[mr], #1\n b.ls 5f\n add x9, x9, %[stride]\n" GS_ROW(18, 19)
      "cmp %[mr], #2\n b.ls 5f\n add x9, x9, %[stride]\n" GS_ROW(20, 21)
      "cmp %[mr], #3\n b.ls 5f\n add x9, x9, %[stride]\n" GS_ROW(22, 23)
      "cmp %[mr], #4\n b.ls 5f\n add x9, x9, %[stride]\n" GS_ROW(24, 25)
      "cmp %[mr], #5\n b.ls 5f\n add x9, x9, %[stride]\n" GS_ROW(26, 27)
      "cmp %[mr], #6\n b.ls 5f\n add x9, x9, %[stride]\n" GS_ROW(28, 29)
      "cmp %[mr], #7\n b.ls 5f\n add x9, x9, %[stride]\n" GS_ROW(30, 31)
#undef GS_ROW
      "5:\n"
      : [a] "+r"(a), [w] "+r"(w), [ks] "+r"(ks)
      : [mr] "r"(mr), [kc] "r"(kc), [out] "r"(out), [stride] "r"(out_stride), [lo] "w"(vlo),
        [hi] "w"(vhi)
      : "cc", "memory", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "v0", "v1",
        "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v16", "v17", "v18", "v19", "v20", "v21",
        "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31");
  if (nc != 16) {
    for (size_t r = 0; r < mr; ++r) {
      std::memcpy(c + r * c_stride, tile + r * 16, nc * sizeof(float));
    }
  }
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
