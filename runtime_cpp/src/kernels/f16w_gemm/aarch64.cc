// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 GEMM microkernel on fp16 weights, 8 rows x 8 columns:
// f32_gemm_8x8__aarch64 (inline assembly, same registers and FMLA order)
// with each k-step's 8 weights loaded as one q register of halves and
// widened by FCVTL2 + FCVTL into the two weight vectors: two more
// instructions per 16 FMLA, half the weight bytes read. kc, ks >= 1.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>

#include "kernels/f16w_gemm/f16w_gemm.h"

namespace gearshift {

void f16w_gemm_8x8__aarch64(size_t mr, size_t nc, size_t kc, size_t ks, const float* const* a,
                            const void* wp, float* c, size_t c_stride, float lo, float hi) {
  const uint8_t* w = static_cast<const uint8_t*>(wp);  // 8 bias floats, then 8 halves a k-step
  // A partial column tile goes through a stack tile; full ones are stored
  // straight into C.
  float tile[8 * 8];
  float* out = nc == 8 ? c : tile;
  const size_t out_stride = (nc == 8 ? c_stride : 8) * sizeof(float);
  const float32x4_t vlo = vdupq_n_f32(lo);
  const float32x4_t vhi = vdupq_n_f32(hi);
  // Registers: accumulators v16-v31 (row r in v(16+2r), v(17+2r)); A rows in
  // v0-v7, weights in v8-v9; row pointers of the current tap in x9-x16.
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
      "lsr x17, %[kc], #2\n"
      "cbz x17, 2f\n"
      "1:\n"  // four k-steps: 8 loads of A, 4 weight pairs, 64 FMLA by element
      "ldr q0, [x9], #16\n ldr q1, [x10], #16\n ldr q2, [x11], #16\n ldr q3, [x12], #16\n"
      "ldr q4, [x13], #16\n ldr q5, [x14], #16\n ldr q6, [x15], #16\n ldr q7, [x16], #16\n"
#define GS_LANE(l)                                                  \
  "ldr q8, [%[w]], #16\n"                                           \
  "fcvtl2 v9.4s, v8.8h\n"                                           \
  "fcvtl v8.4s, v8.4h\n"                                            \
  "fmla v16.4s, v8.4s, v0.s[" #l "]\n fmla v17.4s, v9.4s, v0.s[" #l \
  "]\n"                                                             \
  "fmla v18.4s, v8.4s, v1.s[" #l "]\n fmla v19.4s, v9.4s, v1.s[" #l \
  "]\n"                                                             \
  "fmla v20.4s, v8.4s, v2.s[" #l "]\n fmla v21.4s, v9.4s, v2.s[" #l \
  "]\n"                                                             \
  "fmla v22.4s, v8.4s, v3.s[" #l "]\n fmla v23.4s, v9.4s, v3.s[" #l \
  "]\n"                                                             \
  "fmla v24.4s, v8.4s, v4.s[" #l "]\n fmla v25.4s, v9.4s, v4.s[" #l \
  "]\n"                                                             \
  "fmla v26.4s, v8.4s, v5.s[" #l "]\n fmla v27.4s, v9.4s, v5.s[" #l \
  "]\n"                                                             \
  "fmla v28.4s, v8.4s, v6.s[" #l "]\n fmla v29.4s, v9.4s, v6.s[" #l \
  "]\n"                                                             \
  "fmla v30.4s, v8.4s, v7.s[" #l "]\n fmla v31.4s, v9.4s, v7.s[" #l "]\n"
      GS_LANE(0) GS_LANE(1) GS_LANE(2) GS_LANE(3)
      "subs x17, x17, #1\n"
      "b.ne 1b\n"
      "2:\n"  // the last kc % 4 k-steps, one at a time
      "ands x17, %[kc], #3\n"
      "b.eq 4f\n"
      "3:\n"
      "ld1r {v0.4s}, [x9], #4\n ld1r {v1.4s}, [x10], #4\n"
      "ld1r {v2.4s}, [x11], #4\n ld1r {v3.4s}, [x12], #4\n"
      "ld1r {v4.4s}, [x13], #4\n ld1r {v5.4s}, [x14], #4\n"
      "ld1r {v6.4s}, [x15], #4\n ld1r {v7.4s}, [x16], #4\n"
      GS_LANE(0)
#undef GS_LANE
      "subs x17, x17, #1\n"
      "b.ne 3b\n"
      "4:\n"
      "subs %[ks], %[ks], #1\n"
      "b.ne 0b\n"
      // clamp (NaN stays NaN: FMAX/FMIN propagate it, like the reference)
      "fmax v16.4s, v16.4s, %[lo].4s\n fmax v17.4s, v17.4s, %[lo].4s\n"
      "fmax v18.4s, v18.4s, %[lo].4s\n fmax v19.4s, v19.4s, %[lo].4s\n"
      "fmax v20.4s, v20.4s, %[lo].4s\n fmax v21.4s, v21.4s, %[lo].4s\n"
      "fmax v22.4s, v22.4s, %[lo].4s\n fmax v23.4s, v23.4s, %[lo].4s\n"
      "fmax v24.4s, v24.4s, %[lo].4s\n fmax v25.4s, v25.4s, %[lo].4s\n"
      "fmax v26.4s, v26.4s, %[lo].4s\n fmax v27.4s, v27.4s, %[lo].4s\n"
      "fmax v28.4s, v28.4s, %[lo].4s\n fmax v29.4s, v29.4s, %[lo].4s\n"
      "fmax v30.4s, v30.4s, %[lo].4s\n fmax v31.4s, v31.4s, %[lo].4s\n"
      "fmin v16.4s, v16.4s, %[hi].4s\n fmin v17.4s, v17.4s, %[hi].4s\n"
      "fmin v18.4s, v18.4s, %[hi].4s\n fmin v19.4s, v19.4s, %[hi].4s\n"
      "fmin v20.4s, v20.4s, %[hi].4s\n fmin v21.4s, v21.4s, %[hi].4s\n"
      "fmin v22.4s, v22.4s, %[hi].4s\n fmin v23.4s, v23.4s, %[hi].4s\n"
      "fmin v24.4s, v24.4s, %[hi].4s\n fmin v25.4s, v25.4s, %[hi].4s\n"
      "fmin v26.4s, v26.4s, %[hi].4s\n fmin v27.4s, v27.4s, %[hi].4s\n"
      "fmin v28.4s, v28.4s, %[hi].4s\n fmin v29.4s, v29.4s, %[hi].4s\n"
      "fmin v30.4s, v30.4s, %[hi].4s\n fmin v31.4s, v31.4s, %[hi].4s\n"
      // store mr rows
      "mov x9, %[out]\n"
      "stp q16, q17, [x9]\n"
      "cmp %[mr], #1\n b.ls 5f\n add x9, x9, %[stride]\n stp q18, q19, [x9]\n"
      "cmp %[mr], #2\n b.ls 5f\n add x9, x9, %[stride]\n stp q20, q21, [x9]\n"
      "cmp %[mr], #3\n b.ls 5f\n add x9, x9, %[stride]\n stp q22, q23, [x9]\n"
      "cmp %[mr], #4\n b.ls 5f\n add x9, x9, %[stride]\n stp q24, q25, [x9]\n"
      "cmp %[mr], #5\n b.ls 5f\n add x9, x9, %[stride]\n stp q26, q27, [x9]\n"
      "cmp %[mr], #6\n b.ls 5f\n add x9, x9, %[stride]\n stp q28, q29, [x9]\n"
      "cmp %[mr], #7\n b.ls 5f\n add x9, x9, %[stride]\n stp q30, q31, [x9]\n"
      "5:\n"
      : [a] "+r"(a), [w] "+r"(w), [ks] "+r"(ks)
      : [mr] "r"(mr), [kc] "r"(kc), [out] "r"(out), [stride] "r"(out_stride), [lo] "w"(vlo),
        [hi] "w"(vhi)
      : "cc", "memory", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "v0", "v1",
        "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v16", "v17", "v18", "v19", "v20", "v21",
        "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31");
  if (nc != 8) {
    for (size_t r = 0; r < mr; ++r) std::memcpy(c + r * c_stride, tile + r * 8, nc * sizeof(float));
  }
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
