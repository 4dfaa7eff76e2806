// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The softmax row in scalar code with the vector kernels' exp
// (exp_consts.h): one accumulator, so its sum rounds as the reference op's.
#include <cstddef>

#include "kernels/f32_softmax/exp_consts.h"
#include "kernels/f32_softmax/f32_softmax.h"

namespace gearshift {

void f32_vexp__ref(size_t n, const float* x, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = softmax_exp::ExpNonPositive(x[i]);
}

void f32_softmax_row__ref(size_t n, float beta, const float* x, float* y) {
  float m = beta * x[0];
  for (size_t i = 1; i < n; ++i) m = m < beta * x[i] ? beta * x[i] : m;
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    y[i] = softmax_exp::ExpNonPositive(beta * x[i] - m);
    sum += y[i];
  }
  const float inv = 1.0f / sum;
  for (size_t i = 0; i < n; ++i) y[i] *= inv;
}

}  // namespace gearshift
