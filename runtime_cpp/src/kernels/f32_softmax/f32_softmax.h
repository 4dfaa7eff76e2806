// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp32 SOFTMAX rows: per row, the maximum of beta*x, e = exp(beta*x - max)
// and their sum, then e / sum, as f32_softmax_row__ref (ops/reduce.h) computes
// them but with whole vectors and an exp of our own (range reduction to
// r in [-ln2/2, ln2/2] with a two-part ln2, a degree-7 polynomial for
// exp(r), and 2^n put into the exponent bits). Its error, measured over
// every float in [-87.33, 0] (tests/cpp/f32_softmax_test.cc): at most 2 ulp
// of the correctly rounded value; below -87.33 (exp < 2^-126, the smallest
// normal float) it returns 0, where std::exp returns a subnormal. The sum
// runs in lanes, so a row's result differs from the reference by rounding
// only (the test's bound says how much). Only exp of x <= 0 is needed
// (x - max), and that is the domain.
//
// The ref entry is the same algorithm in scalar code (the tests' check of
// the vector ones, lane by lane).
#ifndef GEARSHIFT_KERNELS_F32_SOFTMAX_F32_SOFTMAX_H_
#define GEARSHIFT_KERNELS_F32_SOFTMAX_F32_SOFTMAX_H_

#include <cstddef>

namespace gearshift {

// One row of n >= 1 values: y = softmax(beta * x). y may not alias x.
using F32SoftmaxRowFn = void (*)(size_t n, float beta, const float* x, float* y);
// y[i] = exp(x[i]) for x[i] <= 0 (the softmax's exp, exposed for tests).
using F32VExpFn = void (*)(size_t n, const float* x, float* y);

struct F32SoftmaxKernel {
  F32SoftmaxRowFn row = nullptr;
  F32VExpFn exp = nullptr;
  const char* name = nullptr;
};

#define GS_UKERNEL(isa, row, exp)                           \
  void row(size_t n, float beta, const float* x, float* y); \
  void exp(size_t n, const float* x, float* y);
#include "kernels/f32_softmax/f32_softmax.inc"
#undef GS_UKERNEL

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_SOFTMAX_F32_SOFTMAX_H_
