// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp32 binary elementwise row kernels (ADD, MUL, SUB, DIV, MAXIMUM, MINIMUM,
// PRELU) with the activation clamp: `rows` rows of `cols` outputs, each
// operand a row (column step 1) or one value per row (column step 0), rows
// `a_row`/`b_row` floats apart (0: the same row for every output row, as a
// per-channel vector broadcast over the pixels). Every output is the
// reference op's expression (ops/elementwise.cc) evaluated once, so any ISA
// gives the reference's bits; the ISA variants are the same loops compiled
// for wider vectors (body.h). The op (f32_binary__opt) splits the work
// across threads and keeps the general strided broadcast on the reference.
#ifndef GEARSHIFT_KERNELS_F32_VBINARY_F32_VBINARY_H_
#define GEARSHIFT_KERNELS_F32_VBINARY_F32_VBINARY_H_

#include <cstddef>

namespace gearshift {

// PRELU: a >= 0 ? a : b * a (b is alpha); MAXIMUM/MINIMUM: a > b ? a : b and
// a < b ? a : b (TFLite's); the clamp: min(max(v, lo), hi) as std::min/max.
enum class F32VBinOp { kAdd, kMul, kSub, kDiv, kMax, kMin, kPrelu };

// a_col / b_col: 1 (a row of cols values) or 0 (one value per row); not both 0.
using F32VBinaryUkernelFn = void (*)(F32VBinOp op, size_t rows, size_t cols, const float* a,
                                     size_t a_row, size_t a_col, const float* b, size_t b_row,
                                     size_t b_col, float* y, float lo, float hi);

#define GS_UKERNEL(isa, name)                                                                   \
  void name(F32VBinOp op, size_t rows, size_t cols, const float* a, size_t a_row, size_t a_col, \
            const float* b, size_t b_row, size_t b_col, float* y, float lo, float hi);
#include "kernels/f32_vbinary/f32_vbinary.inc"
#undef GS_UKERNEL

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_VBINARY_F32_VBINARY_H_
