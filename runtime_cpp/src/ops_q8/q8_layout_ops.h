// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 TRANSPOSE, SLICE, DEPTH_TO_SPACE, SPACE_TO_DEPTH and GATHER (format
// 1.3): values move unchanged (same (scale, zero point) in and out), with
// the fp32 ops' plan-time params (ops/layout_ops.h).
#ifndef GEARSHIFT_OPS_Q8_Q8_LAYOUT_OPS_H_
#define GEARSHIFT_OPS_Q8_Q8_LAYOUT_OPS_H_

#include <cstdint>

#include "ops/layout_ops.h"

namespace gearshift {

void q8_strided_copy__ref(const StridedCopyParams& p, const int8_t* x, int8_t* y);
void q8_gather__ref(const GatherParams& p, const int8_t* x, int8_t* y);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_LAYOUT_OPS_H_
