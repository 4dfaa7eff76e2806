// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NEON fp32 depthwise microkernel (the body is neon_body.h, shared with the
// fp16-weight kernel).
#if defined(__aarch64__) || defined(__ARM_NEON)

#include <arm_neon.h>

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

}  // namespace

void f32_dwconv_8c__neon(size_t channels, size_t taps, const float* const* input,
                         const float* const* weights, const float* bias, float* output, float lo,
                         float hi) {
  ByTapCount(taps, [&](auto fixed) {
    neon_dwconv::Dwconv<decltype(fixed)::value, F32Weights>(channels, taps, input, weights, bias,
                                                            output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // defined(__aarch64__) || defined(__ARM_NEON)
