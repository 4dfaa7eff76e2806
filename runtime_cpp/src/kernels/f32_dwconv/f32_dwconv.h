// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp32 depthwise-convolution microkernels (depth multiplier 1): one output
// pixel, all channels, vectorised along the channels, which NHWC keeps
// contiguous. The op passes only the taps that fall inside the input (one
// input and one weight pointer per tap, each to `channels` floats), so
// padding costs nothing and needs no zero buffer. Weights are the file's
// [KH, KW, C] filter, used in place: no packing.
#ifndef GEARSHIFT_KERNELS_F32_DWCONV_F32_DWCONV_H_
#define GEARSHIFT_KERNELS_F32_DWCONV_F32_DWCONV_H_

#include <cstddef>

namespace gearshift {

// output[c] = clamp(bias[c] (0 if null) + sum_t input[t][c] * weights[t][c]).
using F32DwconvUkernelFn = void (*)(size_t channels, size_t taps, const float* const* input,
                                    const float* const* weights, const float* bias,
                                    float* output, float lo, float hi);

#define GS_UKERNEL(isa, name, mr, nr)                                          \
  void name(size_t channels, size_t taps, const float* const* input,           \
            const float* const* weights, const float* bias, float* output, \
            float lo, float hi);
#include "kernels/f32_dwconv/f32_dwconv.inc"
#undef GS_UKERNEL

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_DWCONV_F32_DWCONV_H_
