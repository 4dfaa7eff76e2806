// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 RESIZE_BILINEAR row microkernels: one output row of TFLite's
// ResizeBilinearInteger (ops_q8/q8_resize.h) from its two source rows r0
// (weight wy0) and r1 (wy1): output pixel i takes the source pixels at byte
// offsets taps[i].lo and taps[i].hi of each row with weights taps[i].w0 and
// taps[i].w1 (each axis's two weights sum to 1024 and lie in [-512, 1536]),
// sum = x00*wy0*w0 + x10*wy1*w0 + x01*wy0*w1 + x11*wy1*w1 (|sum| <= 2^29,
// exact in int32), rounded half away from zero by 2^20. Integer sums do not
// depend on their order, so every variant gives the reference's bytes
// (tests/cpp/ops_q8_fast_test.cc).
#ifndef GEARSHIFT_KERNELS_Q8_RESIZE_Q8_RESIZE_H_
#define GEARSHIFT_KERNELS_Q8_RESIZE_Q8_RESIZE_H_

#include <cstddef>
#include <cstdint>

namespace gearshift {

struct Q8BilinearTap {
  int64_t lo = 0, hi = 0;  // byte offsets of the two source pixels in a row
  int32_t w0 = 0, w1 = 0;  // their weights (w0 + w1 = 1024)
};

using Q8BilinearRowFn = void (*)(size_t channels, size_t width, const int8_t* r0, const int8_t* r1,
                                 const Q8BilinearTap* taps, int32_t wy0, int32_t wy1, int8_t* y);

struct Q8ResizeKernel {
  Q8BilinearRowFn bilinear = nullptr;
  const char* name = "";
};

#define GS_UKERNEL(isa, name)                                                  \
  void name(size_t channels, size_t width, const int8_t* r0, const int8_t* r1, \
            const Q8BilinearTap* taps, int32_t wy0, int32_t wy1, int8_t* y);
#include "kernels/q8_resize/q8_resize.inc"
#undef GS_UKERNEL

// One output value of the row kernels (the reference's rounding): the
// variants' channel tails use it.
inline int8_t Q8BilinearValue(int32_t x00, int32_t x10, int32_t x01, int32_t x11, int32_t wy0,
                              int32_t wy1, int32_t w0, int32_t w1) {
  const int32_t sum = (x00 * wy0 + x10 * wy1) * w0 + (x01 * wy0 + x11 * wy1) * w1;
  const int32_t round = sum > 0 ? (int32_t{1} << 19) : -(int32_t{1} << 19);
  return static_cast<int8_t>((sum + round) / (int32_t{1} << 20));  // truncates: half away
}

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_Q8_RESIZE_Q8_RESIZE_H_
