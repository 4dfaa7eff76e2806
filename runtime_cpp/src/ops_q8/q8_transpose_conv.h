// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 TRANSPOSE_CONV (format 1.3; TFLite's
// reference_integer_ops::TransposeConv, docs/QUANTIZATION.md): int32
// accumulation (modulo 2^32) of (qx - zx) * qw into every output position a
// tap reaches, plus the int32 bias, then per output channel
// MultiplyByQuantizedMultiplier(acc, sx * sw[c] / sy) + zy, clamped to the
// fused activation's range. Computed as a gather over output pixels (integer
// sums do not depend on their order, so this equals TFLite's scatter);
// geometry from ops/transpose_conv.h, requantization from q8_conv.h.
#ifndef GEARSHIFT_OPS_Q8_Q8_TRANSPOSE_CONV_H_
#define GEARSHIFT_OPS_Q8_Q8_TRANSPOSE_CONV_H_

#include <cstdint>

#include "ops/transpose_conv.h"
#include "ops_q8/q8_conv.h"

namespace gearshift {

// x [N,H,W,C], filter [O,KH,KW,C] (symmetric), bias [O] or null,
// y [N,OH,OW,O].
void q8_transpose_conv2d__ref(const Conv2DParams& p, const Q8ChannelRequant& q, const int8_t* x,
                              const int8_t* filter, const int32_t* bias, int8_t* y,
                              ThreadPool* pool);

// Same integers as the __ref: per output pixel the taps that reach it are
// found once for a block of output channels (not once per channel), and each
// tap's dot product runs over contiguous input channels in uint32.
void q8_transpose_conv2d__opt(const Conv2DParams& p, const Q8ChannelRequant& q, const int8_t* x,
                              const int8_t* filter, const int32_t* bias, int8_t* y,
                              ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_TRANSPOSE_CONV_H_
