// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 FULLY_CONNECTED on the last dimension of a rank >= 1 input:
// y[r, o] = sum_i x[r, i] * w[o, i] + b[o] (docs/FORMAT.md). Weights are
// [O, I] so each dot product reads both operands contiguously.
#ifndef GEARSHIFT_OPS_FULLY_CONNECTED_H_
#define GEARSHIFT_OPS_FULLY_CONNECTED_H_

#include <cstdint>

#include "ops/op_common.h"

namespace gearshift {

struct FullyConnectedParams {
  int64_t rows = 0;  // product of all input dims but the last
  int64_t in_features = 0, out_features = 0;
  ActRange act;
};

void f32_fully_connected__ref(const FullyConnectedParams& p, const float* x, const float* w,
                              const float* bias, float* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_FULLY_CONNECTED_H_
