// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The plain-loop bilinear row: Q8BilinearValue per channel.
#include "kernels/q8_resize/q8_resize.h"

namespace gearshift {

void q8_bilinear_row__ref(size_t channels, size_t width, const int8_t* r0, const int8_t* r1,
                          const Q8BilinearTap* taps, int32_t wy0, int32_t wy1, int8_t* y) {
  for (size_t i = 0; i < width; ++i, y += channels) {
    const Q8BilinearTap& t = taps[i];
    for (size_t c = 0; c < channels; ++c) {
      y[c] = Q8BilinearValue(r0[t.lo + c], r1[t.lo + c], r0[t.hi + c], r1[t.hi + c], wy0, wy1, t.w0,
                             t.w1);
    }
  }
}

}  // namespace gearshift
