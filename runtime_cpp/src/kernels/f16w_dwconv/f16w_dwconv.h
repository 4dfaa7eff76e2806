// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp32 depthwise-convolution microkernels on fp16 weights (depth multiplier
// 1), the fp16 gear's depthwise layers on CPUs without fp16 arithmetic: the
// [KH, KW, C] filter stays IEEE half (the file's f16 payload in place, or
// rounded once into half the bytes of an f32 copy) and is widened as it is
// loaded. Each variant is the f32_dwconv kernel of its ISA with only the
// weight loads changed, so it computes the same FMAs in the same order:
// bit for bit that kernel's output on the widened filter.
#ifndef GEARSHIFT_KERNELS_F16W_DWCONV_F16W_DWCONV_H_
#define GEARSHIFT_KERNELS_F16W_DWCONV_F16W_DWCONV_H_

#include <cstddef>
#include <cstdint>

#include "kernels/f32_dwconv/f32_dwconv.h"

namespace gearshift {

// output[c] = clamp(bias[c] (0 if null) + sum_t input[t][c] * widen(weights[t][c])).
using F16wDwconvUkernelFn = void (*)(size_t channels, size_t taps, const float* const* input,
                                     const uint16_t* const* weights, const float* bias,
                                     float* output, float lo, float hi);

#define GS_UKERNEL(isa, name, mr, nr)                                \
  void name(size_t channels, size_t taps, const float* const* input, \
            const uint16_t* const* weights, const float* bias, float* output, float lo, float hi);
#include "kernels/f16w_dwconv/f16w_dwconv.inc"
#undef GS_UKERNEL

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F16W_DWCONV_F16W_DWCONV_H_
