// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp16-weight depthwise microkernel: f32_dwconv_1c__ref's loop
// with each weight widened as it is read.
#include <algorithm>

#include "kernels/f16w_dwconv/f16w_dwconv.h"
#include "prepare/gear_weights.h"

namespace gearshift {

void f16w_dwconv_1c__ref(size_t channels, size_t taps, const float* const* input,
                         const uint16_t* const* weights, const float* bias, float* output, float lo,
                         float hi) {
  for (size_t c = 0; c < channels; ++c) {
    float acc = bias != nullptr ? bias[c] : 0.0f;
    for (size_t t = 0; t < taps; ++t) acc += input[t][c] * F16BitsToF32(weights[t][c]);
    output[c] = std::min(std::max(acc, lo), hi);
  }
}

}  // namespace gearshift
