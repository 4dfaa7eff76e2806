// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The one place float tolerances of the kernel tests live (integer kernels
// are compared exactly; float ones within these bounds). An fp32 dot product of length K, summed in any order with or without
// FMA, is within about K * eps * sum|a_i * b_i| of the exact value; the bound
// below is that with a safety factor of 2, plus a tiny absolute floor for
// results that cancel to zero.
#ifndef GEARSHIFT_TESTS_CPP_TOLERANCES_H_
#define GEARSHIFT_TESTS_CPP_TOLERANCES_H_

#include <cfloat>
#include <cstdint>

namespace gearshift {
namespace testing {

// |got - exact| allowed for an fp32 dot product (bias counted as one more
// term) of `k` terms whose absolute values sum to `abs_sum`.
inline double F32DotTolerance(int64_t k, double abs_sum) {
  return 2.0 * static_cast<double>(k + 1) * FLT_EPSILON * abs_sum + 1e-7;
}

// Relative tolerance between whole-model outputs of two fp32 kernel paths.
constexpr double kF32ModelRelTolerance = 1e-5;

}  // namespace testing
}  // namespace gearshift

#endif  // GEARSHIFT_TESTS_CPP_TOLERANCES_H_
