// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// f32_vbinary for ref: body.h's loops at the baseline flags (what the tests compare
// the ISA variants with, beside the reference op).
#include "kernels/f32_vbinary/body.h"

namespace gearshift {

void f32_vbinary__ref(F32VBinOp op, size_t rows, size_t cols, const float* a, size_t a_row,
                      size_t a_col, const float* b, size_t b_row, size_t b_col, float* y, float lo,
                      float hi) {
  VBinary(op, rows, cols, a, a_row, a_col, b, b_row, b_col, y, lo, hi);
}

}  // namespace gearshift
