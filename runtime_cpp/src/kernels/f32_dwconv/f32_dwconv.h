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
#include <type_traits>

namespace gearshift {

// output[c] = clamp(bias[c] (0 if null) + sum_t input[t][c] * weights[t][c]).
using F32DwconvUkernelFn = void (*)(size_t channels, size_t taps, const float* const* input,
                                    const float* const* weights, const float* bias,
                                    float* output, float lo, float hi);

// Calls f(std::integral_constant<size_t, N>()) with N = taps for 9 and 25
// (interior pixels of 3x3 and 5x5 filters, whose loops the kernels unroll),
// 6 and 4 (a 3x3 filter's edge and corner pixels under SAME padding: on a
// 112x112 output they are 1 in 28 pixels, and the run-time loop costs about
// twice the unrolled one per tap) and N = 0 (tap count known only at run
// time) otherwise. Either path adds the taps in the same order.
template <typename F>
void ByTapCount(size_t taps, F&& f) {
  switch (taps) {
    case 4:
      return f(std::integral_constant<size_t, 4>());
    case 6:
      return f(std::integral_constant<size_t, 6>());
    case 9:
      return f(std::integral_constant<size_t, 9>());
    case 25:
      return f(std::integral_constant<size_t, 25>());
    default:
      return f(std::integral_constant<size_t, 0>());
  }
}

#define GS_UKERNEL(isa, name, mr, nr)                                          \
  void name(size_t channels, size_t taps, const float* const* input,           \
            const float* const* weights, const float* bias, float* output, \
            float lo, float hi);
#include "kernels/f32_dwconv/f32_dwconv.inc"
#undef GS_UKERNEL

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_DWCONV_F32_DWCONV_H_
