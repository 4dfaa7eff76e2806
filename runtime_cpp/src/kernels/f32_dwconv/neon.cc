// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON fp32 depthwise microkernel (the body is neon_body.h, shared with the
// fp16-weight kernel).
#if defined(__aarch64__) || defined(__ARM_NEON)

#include <arm_neon.h>

#include "kernels/f32_dwconv/aarch64_dw9.h"
#include "kernels/f32_dwconv/f32_dwconv.h"
#include "kernels/f32_dwconv/neon_body.h"

namespace gearshift {
namespace {

struct F32Weights {
  static float32x4_t Load4(const float* p) { return vld1q_f32(p); }
#if defined(__aarch64__)
  static float32x4x4_t Load16(const float* p) { return vld1q_f32_x4(p); }
#endif
  static float One(float w) { return w; }
};

#if defined(__aarch64__)
// 3x3 interior pixels, 16 channels a step, in assembly: as the fp16
// kernel's (f16_dwconv/neon_fp16.cc), GCC 12 spills the 18 walking pointers
// of the body's fixed-tap loop and moves the accumulators (94 instructions
// a step on MobileNetV2; 66 here, each LD1 post-incrementing its own
// register: x0-x8 the taps' inputs, x9-x17 their weights). The same
// multiply-adds in the same order as neon_dwconv::Dwconv<9>: bit for bit.
// Returns the channels done (a multiple of 16).
template <bool kBias>
size_t Dwconv9x16(size_t channels, const float* const* input, const float* const* weights,
                  const float* bias, float* output, float lo, float hi) {
  size_t steps = channels / 16;
  if (steps == 0) return 0;
  const float32x4_t vlo = vdupq_n_f32(lo), vhi = vdupq_n_f32(hi);
  const float* b = bias;
  float* out = output;
  // clang-format off
// Tap set A: inputs in v16-v19, weights in v20-v23; set B: v24-v27, v4-v7
// (alternating, so one tap's loads need not wait for the last one's FMLAs).
#define GS_F32DW_TAP(I, W, X0, X1, X2, X3, W0, W1, W2, W3) \
  "ld1 {" X0 ".4s, " X1 ".4s, " X2 ".4s, " X3 ".4s}, [" I "], #64\n" \
  "ld1 {" W0 ".4s, " W1 ".4s, " W2 ".4s, " W3 ".4s}, [" W "], #64\n" \
  "fmla v0.4s, " X0 ".4s, " W0 ".4s\n" \
  "fmla v1.4s, " X1 ".4s, " W1 ".4s\n" \
  "fmla v2.4s, " X2 ".4s, " W2 ".4s\n" \
  "fmla v3.4s, " X3 ".4s, " W3 ".4s\n"
#define GS_F32DW_A(I, W) GS_F32DW_TAP(I, W, "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23")
#define GS_F32DW_B(I, W) GS_F32DW_TAP(I, W, "v24", "v25", "v26", "v27", "v4", "v5", "v6", "v7")
#define GS_F32DW_LOOP(BIAS) \
  asm volatile( \
      GS_DW9_LOAD_POINTERS \
      "1:\n" \
      BIAS \
      GS_F32DW_A("x0", "x9") \
      GS_F32DW_B("x1", "x10") \
      GS_F32DW_A("x2", "x11") \
      GS_F32DW_B("x3", "x12") \
      GS_F32DW_A("x4", "x13") \
      GS_F32DW_B("x5", "x14") \
      GS_F32DW_A("x6", "x15") \
      GS_F32DW_B("x7", "x16") \
      GS_F32DW_A("x8", "x17") \
      "fmax v0.4s, v0.4s, %[lo].4s\n" \
      "fmax v1.4s, v1.4s, %[lo].4s\n" \
      "fmax v2.4s, v2.4s, %[lo].4s\n" \
      "fmax v3.4s, v3.4s, %[lo].4s\n" \
      "fmin v0.4s, v0.4s, %[hi].4s\n" \
      "fmin v1.4s, v1.4s, %[hi].4s\n" \
      "fmin v2.4s, v2.4s, %[hi].4s\n" \
      "fmin v3.4s, v3.4s, %[hi].4s\n" \
      "st1 {v0.4s, v1.4s, v2.4s, v3.4s}, [%[out]], #64\n" \
      "subs %[n], %[n], #1\n" \
      "b.ne 1b\n" \
      : [b] "+r"(b), [out] "+r"(out), [n] "+r"(steps) \
      : [in] "r"(input), [wt] "r"(weights), [lo] "w"(vlo), [hi] "w"(vhi) \
      : "cc", "memory", GS_DW9_POINTER_CLOBBERS, "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", \
        "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27");
#define GS_F32DW_BIAS "ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [%[b]], #64\n"
#define GS_F32DW_ZERO \
  "movi v0.16b, #0\n" \
  "movi v1.16b, #0\n" \
  "movi v2.16b, #0\n" \
  "movi v3.16b, #0\n"
  if (kBias) {
    GS_F32DW_LOOP(GS_F32DW_BIAS);
  } else {
    GS_F32DW_LOOP(GS_F32DW_ZERO);
  }
  // clang-format on
#undef GS_F32DW_ZERO
#undef GS_F32DW_BIAS
#undef GS_F32DW_LOOP
#undef GS_F32DW_B
#undef GS_F32DW_A
#undef GS_F32DW_TAP
  return channels / 16 * 16;
}
#endif  // defined(__aarch64__)

}  // namespace

void f32_dwconv_8c__neon(size_t channels, size_t taps, const float* const* input,
                         const float* const* weights, const float* bias, float* output, float lo,
                         float hi) {
#if defined(__aarch64__)
  if (taps == 9 && channels >= 16) {
    const size_t done = bias != nullptr
                            ? Dwconv9x16<true>(channels, input, weights, bias, output, lo, hi)
                            : Dwconv9x16<false>(channels, input, weights, bias, output, lo, hi);
    if (done == channels) return;
    const float* in[9];
    const float* w[9];
    for (size_t t = 0; t < 9; ++t) {
      in[t] = input[t] + done;
      w[t] = weights[t] + done;
    }
    return neon_dwconv::Dwconv<9, F32Weights>(channels - done, taps, in, w,
                                              bias != nullptr ? bias + done : nullptr,
                                              output + done, lo, hi);
  }
#endif
  ByTapCount(taps, [&](auto fixed) {
    neon_dwconv::Dwconv<decltype(fixed)::value, F32Weights>(channels, taps, input, weights, bias,
                                                            output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // defined(__aarch64__) || defined(__ARM_NEON)
