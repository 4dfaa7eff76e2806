// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// f32_vbinary for neon: body.h's loops, compiled with this file's flags.
#if defined(__aarch64__) || defined(__ARM_NEON)
#include "kernels/f32_vbinary/body.h"

namespace gearshift {

void f32_vbinary__neon(F32VBinOp op, size_t rows, size_t cols, const float* a, size_t a_row,
                       size_t a_col, const float* b, size_t b_row, size_t b_col, float* y, float lo,
                       float hi) {
  VBinary(op, rows, cols, a, a_row, a_col, b, b_row, b_col, y, lo, hi);
}

}  // namespace gearshift
#endif
