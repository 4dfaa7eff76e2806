// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// f32_pool for avx2: body.h's loops, compiled with this file's flags.
#if defined(__x86_64__) || defined(_M_X64)
#include "kernels/f32_pool/body.h"

namespace gearshift {

void f32_pool__avx2(F32PoolOp op, size_t channels, size_t taps, const float* const* input,
                    float div, float* output, float lo, float hi) {
  Pool(op, channels, taps, input, div, output, lo, hi);
}

}  // namespace gearshift
#endif
