// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
#include "ops_q8/q8_layout_ops.h"

namespace gearshift {

void q8_strided_copy__ref(const StridedCopyParams& p, const int8_t* x, int8_t* y) {
  StridedCopy(p, x, y);
}

void q8_gather__ref(const GatherParams& p, const int8_t* x, int8_t* y) { GatherCopy(p, x, y); }

}  // namespace gearshift
