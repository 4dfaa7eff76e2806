// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 depthwise microkernel: plain loops, the baseline the ISA
// variants are tested against.
#include <algorithm>

#include "kernels/f32_dwconv/f32_dwconv.h"

namespace gearshift {

void f32_dwconv_1c__ref(size_t channels, size_t taps, const float* const* input,
                        const float* const* weights, const float* bias, float* output,
                        float lo, float hi) {
  for (size_t c = 0; c < channels; ++c) {
    float acc = bias != nullptr ? bias[c] : 0.0f;
    for (size_t t = 0; t < taps; ++t) acc += input[t][c] * weights[t][c];
    output[c] = std::min(std::max(acc, lo), hi);
  }
}

}  // namespace gearshift
