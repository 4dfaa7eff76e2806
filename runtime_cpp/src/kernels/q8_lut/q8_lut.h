// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 -> int8 table lookup microkernels: y[i] = table[x[i] + 128] over n
// bytes, the one-input int8 ops (the RELU family, LOGISTIC, TANH,
// HARD_SWISH, LEAKY_RELU) run as 256-entry tables made at plan time
// (ops_q8/q8_elementwise.h). A lookup has one answer, so every variant
// gives the reference's bytes.
#ifndef GEARSHIFT_KERNELS_Q8_LUT_Q8_LUT_H_
#define GEARSHIFT_KERNELS_Q8_LUT_Q8_LUT_H_

#include <cstddef>
#include <cstdint>

namespace gearshift {

using Q8LutUkernelFn = void (*)(size_t n, const int8_t* x, const int8_t* table, int8_t* y);

struct Q8LutKernel {
  Q8LutUkernelFn fn = nullptr;
  const char* name = "";
  bool needs_vbmi = false;  // also needs AVX512-VBMI (beyond its ISA token)
};

#define GS_UKERNEL(isa, name, vbmi) \
  void name(size_t n, const int8_t* x, const int8_t* table, int8_t* y);
#include "kernels/q8_lut/q8_lut.inc"
#undef GS_UKERNEL

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_Q8_LUT_Q8_LUT_H_
