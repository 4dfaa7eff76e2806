// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp16-arithmetic depthwise-convolution microkernels (depth multiplier 1),
// the fp16 gear's depthwise layers on CPUs with half-precision vector
// arithmetic (neon_fp16): one output pixel, all channels, with the input
// rows and the [KH, KW, C] filter in half, products summed in half from the
// bias (rounded to half) on, clamped in half and widened to fp32 on store.
// As f32_dwconv.h, the op passes only the taps that fall inside the input.
// The op converts the input rows to half once per row (F32ToF16Fn, the
// conversion compiled beside the kernel).
#ifndef GEARSHIFT_KERNELS_F16_DWCONV_F16_DWCONV_H_
#define GEARSHIFT_KERNELS_F16_DWCONV_F16_DWCONV_H_

#include <cstddef>
#include <cstdint>

#include "kernels/f16_gemm/f16_gemm.h"
#include "kernels/f32_dwconv/f32_dwconv.h"

namespace gearshift {

// output[c] = clamp(half(bias[c]) (0 if null) + sum_t input[t][c] * weights[t][c]),
// input and weights half bits, the sum in half, output widened to fp32.
using F16DwconvUkernelFn = void (*)(size_t channels, size_t taps, const uint16_t* const* input,
                                    const uint16_t* const* weights, const float* bias,
                                    float* output, float lo, float hi);

struct F16DwconvKernel {
  F16DwconvUkernelFn fn = nullptr;
  int channel_tile = 0;
  const char* name = "";
  F32ToF16Fn convert = nullptr;
};

#define GS_UKERNEL(isa, name, channel_tile, convert)                    \
  void name(size_t channels, size_t taps, const uint16_t* const* input, \
            const uint16_t* const* weights, const float* bias, float* output, float lo, float hi);
#include "kernels/f16_dwconv/f16_dwconv.inc"
#undef GS_UKERNEL

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F16_DWCONV_F16_DWCONV_H_
