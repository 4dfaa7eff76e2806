// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The loops of every f32_vbinary kernel, written so the compiler vectorises
// them for the instruction set its translation unit is built for (ref.cc,
// avx2.cc, avx512.cc, neon.cc; CMakeLists.txt sets the flags by file name,
// and -fno-trapping-math so the selects become blends). Everything here has
// internal linkage: each translation unit keeps its own ISA's copy (a shared
// inline function could be merged into one ISA's code at link time). No
// std::min/std::max for the same reason: their ternaries are written out.
#ifndef GEARSHIFT_KERNELS_F32_VBINARY_BODY_H_
#define GEARSHIFT_KERNELS_F32_VBINARY_BODY_H_

#include <cstddef>

#include "kernels/f32_vbinary/f32_vbinary.h"

namespace gearshift {
namespace {

struct VAdd {
  static float F(float a, float b) { return a + b; }
};
struct VMul {
  static float F(float a, float b) { return a * b; }
};
struct VSub {
  static float F(float a, float b) { return a - b; }
};
struct VDiv {
  static float F(float a, float b) { return a / b; }
};
struct VMax {
  static float F(float a, float b) { return a > b ? a : b; }
};
struct VMin {
  static float F(float a, float b) { return a < b ? a : b; }
};
struct VPrelu {
  static float F(float a, float alpha) { return a >= 0.0f ? a : alpha * a; }
};

// std::min(std::max(v, lo), hi), spelled out.
inline float VClamp(float v, float lo, float hi) {
  const float m = v < lo ? lo : v;
  return hi < m ? hi : m;
}

// kA / kB: the operands' column steps (0: one value per row).
template <typename Op, size_t kA, size_t kB>
void VRows(size_t rows, size_t cols, const float* a, size_t a_row, const float* b, size_t b_row,
           float* y, float lo, float hi) {
  for (size_t r = 0; r < rows; ++r, a += a_row, b += b_row, y += cols) {
    for (size_t c = 0; c < cols; ++c) y[c] = VClamp(Op::F(a[c * kA], b[c * kB]), lo, hi);
  }
}

template <typename Op>
void VSteps(size_t rows, size_t cols, const float* a, size_t a_row, size_t a_col, const float* b,
            size_t b_row, size_t b_col, float* y, float lo, float hi) {
  if (a_col != 0 && b_col != 0) return VRows<Op, 1, 1>(rows, cols, a, a_row, b, b_row, y, lo, hi);
  if (a_col == 0) return VRows<Op, 0, 1>(rows, cols, a, a_row, b, b_row, y, lo, hi);
  VRows<Op, 1, 0>(rows, cols, a, a_row, b, b_row, y, lo, hi);
}

inline void VBinary(F32VBinOp op, size_t rows, size_t cols, const float* a, size_t a_row,
                    size_t a_col, const float* b, size_t b_row, size_t b_col, float* y, float lo,
                    float hi) {
  switch (op) {
    case F32VBinOp::kAdd:
      return VSteps<VAdd>(rows, cols, a, a_row, a_col, b, b_row, b_col, y, lo, hi);
    case F32VBinOp::kMul:
      return VSteps<VMul>(rows, cols, a, a_row, a_col, b, b_row, b_col, y, lo, hi);
    case F32VBinOp::kSub:
      return VSteps<VSub>(rows, cols, a, a_row, a_col, b, b_row, b_col, y, lo, hi);
    case F32VBinOp::kDiv:
      return VSteps<VDiv>(rows, cols, a, a_row, a_col, b, b_row, b_col, y, lo, hi);
    case F32VBinOp::kMax:
      return VSteps<VMax>(rows, cols, a, a_row, a_col, b, b_row, b_col, y, lo, hi);
    case F32VBinOp::kMin:
      return VSteps<VMin>(rows, cols, a, a_row, a_col, b, b_row, b_col, y, lo, hi);
    case F32VBinOp::kPrelu:
      return VSteps<VPrelu>(rows, cols, a, a_row, a_col, b, b_row, b_col, y, lo, hi);
  }
}

}  // namespace
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_VBINARY_BODY_H_
