// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The plain-loop lookup.
#include "kernels/q8_lut/q8_lut.h"

namespace gearshift {

void q8_lut_1x__ref(size_t n, const int8_t* x, const int8_t* table, int8_t* y) {
  for (size_t i = 0; i < n; ++i) y[i] = table[static_cast<uint8_t>(x[i]) ^ 0x80u];  // x + 128
}

}  // namespace gearshift
