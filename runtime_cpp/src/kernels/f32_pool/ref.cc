// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// f32_pool for ref: body.h's loops at the baseline flags (what the tests compare
// the ISA variants with, beside the reference op).
#include "kernels/f32_pool/body.h"

namespace gearshift {

void f32_pool__ref(F32PoolOp op, size_t channels, size_t taps, const float* const* input, float div,
                   float* output, float lo, float hi) {
  Pool(op, channels, taps, input, div, output, lo, hi);
}

}  // namespace gearshift
