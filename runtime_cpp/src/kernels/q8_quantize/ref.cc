// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The plain-loop quantization kernel: QuantizeQ8 itself.
#include "kernels/q8_quantize/q8_quantize.h"
#include "ops_q8/q8_common.h"

namespace gearshift {

void q8_quantize_1x__ref(size_t n, const float* x, double scale, int32_t zero_point, int8_t* y) {
  const Q8Quant q{static_cast<float>(scale), zero_point};
  for (size_t i = 0; i < n; ++i) y[i] = QuantizeQ8(x[i], q);
}

}  // namespace gearshift
