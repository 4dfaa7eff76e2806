// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 TRANSPOSE_CONV (format 1.3, docs/FORMAT.md): the gradient of
// CONV_2D with respect to its input. Written as a gather (each output pixel
// sums the input taps that reach it) rather than TFLite's scatter, so work
// splits over output pixels without a scratch buffer; the taps of one output
// element are visited in TFLite's scatter order (input row, column, channel
// ascending), so the float sums round the same way.
#ifndef GEARSHIFT_OPS_TRANSPOSE_CONV_H_
#define GEARSHIFT_OPS_TRANSPOSE_CONV_H_

#include <cstdint>

#include "ops/conv.h"

namespace gearshift {

// Leading padding of TRANSPOSE_CONV along one axis: that of a forward
// CONV_2D from `out` to `in` (SAME: max((in-1)*stride + k - out, 0) / 2).
int64_t TransposeConvPadBefore(int64_t in, int64_t out, int k, int stride, Padding padding);

// p: in_* the input [N,H,W,C], out_* the output [N,OH,OW,O], kernel, stride,
// pad_top/pad_left from TransposeConvPadBefore, act; dilation unused (1).
// x [N,H,W,C], filter [O,KH,KW,C], bias [O] or null, y [N,OH,OW,O].
void f32_transpose_conv2d__ref(const Conv2DParams& p, const float* x, const float* filter,
                               const float* bias, float* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_TRANSPOSE_CONV_H_
