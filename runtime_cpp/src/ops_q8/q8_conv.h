// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (quant_ref.q8_conv2d,
// q8_depthwise_conv2d, q8_fully_connected; TFLite's reference_integer_ops
// ConvPerChannel, DepthwiseConvPerChannel, FullyConnected): int32
// accumulation (modulo 2^32) of (qx - zx) * qw over the in-bounds taps (a
// skipped padding tap equals padding with zx), plus the int32 bias, then per
// output channel MultiplyByQuantizedMultiplier(acc, sx * sw[c] / sy) + zy,
// clamped to the fused activation's range. The convolutions round twice
// (TFLite's default MultiplyByQuantizedMultiplier); FULLY_CONNECTED rounds
// once (its TFLITE_SINGLE_ROUNDING form), because LiteRT's reference
// FullyConnected does (measured; docs/QUANTIZATION.md), whatever `q` says.
// Weights are symmetric (zero point 0). Geometry comes from the fp32 ops'
// params (ops/conv.h, ops/fully_connected.h); their float `act` is unused
// here.
//
// The __ref kernels are the plain-loop oracle. The __gemm variants run the
// same arithmetic on a q8 GEMM microkernel (kernels/q8_gemm) over weights
// packed once by PackQ8GemmWeights with the input zero point folded into the
// bias; integer sums do not depend on their order, so every variant and
// every thread count gives the reference's bits.
#ifndef GEARSHIFT_OPS_Q8_Q8_CONV_H_
#define GEARSHIFT_OPS_Q8_Q8_CONV_H_

#include <cstdint>
#include <vector>

#include "kernels/q8_dwconv/q8_dwconv.h"
#include "kernels/q8_gemm/q8_gemm.h"
#include "ops/conv.h"
#include "ops/fully_connected.h"
#include "ops_q8/q8_common.h"
#include "thread_pool.h"

namespace gearshift {

// The int8 side of a conv/dense layer, resolved at plan time.
struct Q8ChannelRequant {
  int32_t x_zero_point = 0;
  int32_t y_zero_point = 0;
  Q8Range act;
  // Per output channel: QuantizeMultiplier((double)sx * sw[c] / (double)sy).
  std::vector<int32_t> multiplier, shift;
};

// Fills `q` for scales x, w_scale (1 value: per tensor, or one per output
// channel) and y, `channels` output channels and fused activation `act`.
void MakeQ8ChannelRequant(Q8Quant x, const std::vector<float>& w_scale, Q8Quant y, int64_t channels,
                          Activation act, Q8ChannelRequant* q);

// Output channel c of a convolution: double rounding, + zy, clamp.
inline int8_t Q8ConvOutput(uint32_t acc, const Q8ChannelRequant& q, int64_t c) {
  const int32_t v =
      MultiplyByQuantizedMultiplier(static_cast<int32_t>(acc), q.multiplier[c], q.shift[c]);
  return Q8Clamp(int64_t{v} + q.y_zero_point, q.act);
}

// Output channel c of a dense layer: single rounding (no int64 overflow:
// requant.h), + zy, clamp.
inline int8_t Q8DenseOutput(uint32_t acc, const Q8ChannelRequant& q, int64_t c) {
  const int64_t v = MultiplyByQuantizedMultiplierSingleRounding(static_cast<int32_t>(acc),
                                                                q.multiplier[c], q.shift[c]);
  return Q8Clamp(v + q.y_zero_point, q.act);
}

// x [N,H,W,C], filter [O,KH,KW,C], bias [O] or null, y [N,OH,OW,O].
void q8_conv2d__ref(const Conv2DParams& p, const Q8ChannelRequant& q, const int8_t* x,
                    const int8_t* filter, const int32_t* bias, int8_t* y, ThreadPool* pool);

// x [N,H,W,C], filter [1,KH,KW,C*M], bias [C*M] or null, y [N,OH,OW,C*M];
// output channel c*M+m reads input channel c.
void q8_depthwise_conv2d__ref(const Conv2DParams& p, const Q8ChannelRequant& q, const int8_t* x,
                              const int8_t* filter, const int32_t* bias, int8_t* y,
                              ThreadPool* pool);

// y[r, o] over rows r of x [rows, I], w [O, I].
void q8_fully_connected__ref(const FullyConnectedParams& p, const Q8ChannelRequant& q,
                             const int8_t* x, const int8_t* w, const int32_t* bias, int8_t* y,
                             ThreadPool* pool);

// Bytes of PackQ8GemmWeights' output for n columns of depth k.
size_t Q8GemmPackedBytes(size_t n, size_t k, const Q8GemmKernel& kernel);

// Whether the GEMM drivers can run `kernel` (set, with 1 <= MR <= kQ8GemmMaxMr).
bool Q8GemmUsable(const Q8GemmKernel& kernel);

// Whether q8_conv2d__gemm can run `p` on `kernel`: any geometry, given a
// usable kernel (a convolution that is not a plain 1x1/stride-1/unpadded GEMM
// gathers MR rows of KH*KW*C bytes, each padded to whole K groups of the
// kernel, into a per-thread buffer of that size, so no layer size pushes it
// onto the reference loop). Filter rows of at most 4 bytes (a one-channel
// stem) read a copy of the input framed by its padding, made once per call.
bool Q8Conv2DGemmSupported(const Conv2DParams& p, const Q8GemmKernel& kernel);

// `packed`: filter [O, KH*KW*C], bias, q.multiplier/shift and q.x_zero_point
// packed by PackQ8GemmWeights for `kernel`. Rows of the GEMM are output
// pixels; a non-direct convolution gathers MR rows at a time (padding taps
// filled with zx, which the folded bias cancels). q4_block > 0: `packed` is
// an int4 pack (PackQ4GemmWeights, q4m blocks of q4_block), unpacked to
// int8 blocks for the call (a transient buffer of the layer's int8 size).
void q8_conv2d__gemm(const Conv2DParams& p, const Q8ChannelRequant& q, const Q8GemmKernel& kernel,
                     const void* packed, const int8_t* x, int8_t* y, ThreadPool* pool,
                     size_t q4_block = 0);

// TRANSPOSE_CONV as a GEMM: the filter [O, KH, KW, C] packed as for
// q8_conv2d__gemm; each output pixel gathers, per tap, the input pixel it
// reads in the transposed convolution (taps that read none are padding, zx).
// The same integers as q8_transpose_conv2d__ref.
void q8_transpose_conv2d__gemm(const Conv2DParams& p, const Q8ChannelRequant& q,
                               const Q8GemmKernel& kernel, const void* packed, const int8_t* x,
                               int8_t* y, ThreadPool* pool, size_t q4_block = 0);

// TRANSPOSE_CONV where TransposeConvIsShuffle(p) (ops/conv.h): output row
// iy * KH + ky is the GEMM of input row iy by filter row ky. row_packed[ky]:
// TransposeConvShuffleFilter(ky) packed for `kernel` with the bias and q's
// multipliers and shifts repeated per column (TransposeConvShuffleColumns).
// Every output has one tap, so the integers are q8_transpose_conv2d__ref's.
void q8_transpose_conv2d__shuffle(const Conv2DParams& p, const Q8ChannelRequant& q,
                                  const Q8GemmKernel& kernel, const void* const* row_packed,
                                  const int8_t* x, int8_t* y, ThreadPool* pool);

// `packed`: w [O, I] etc. packed as for q8_conv2d__gemm.
void q8_fully_connected__gemm(const FullyConnectedParams& p, const Q8ChannelRequant& q,
                              const Q8GemmKernel& kernel, const void* packed, const int8_t* x,
                              int8_t* y, ThreadPool* pool, size_t q4_block = 0);

// Bytes of PackQ4GemmWeights' output for n columns of depth k.
size_t Q4GemmPackedBytes(size_t n, size_t k, const Q8GemmKernel& kernel, size_t q4_block);

// ---- depthwise on a q8_dwconv microkernel ----

// Whether q8_depthwise_conv2d__dw can run `p`: depth multiplier 1.
bool Q8DepthwiseDwconvSupported(const Conv2DParams& p, const Q8DwconvKernel& kernel);

// Whether q8_depthwise_conv2d__dw runs `p` on kernel.rows (the direct
// form, q8_dwconv.h): one, given, with a horizontal stride and dilation of
// 1, channels Q8DwconvRowsChannels takes and at most kQ8DwconvRowsMaxTaps
// taps.
bool Q8DepthwiseRowsUsable(const Conv2DParams& p, const Q8DwconvKernel& kernel);

// Bytes of the prepared depthwise layer: the packed weights, then a row of
// in_c copies of the input zero point (what padding taps point to).
size_t Q8DepthwisePackedBytes(const Conv2DParams& p, const Q8DwconvKernel& kernel);

// Packs filter [1,KH,KW,C], bias, q's multipliers/shifts and zero point into
// `packed` (Q8DepthwisePackedBytes bytes).
void PackQ8Depthwise(const Conv2DParams& p, const Q8ChannelRequant& q, const Q8DwconvKernel& kernel,
                     const int8_t* filter, const int32_t* bias, void* packed);

// Output rows split over threads; per group of rows (up to 128 pixels, one
// kernel call), the tap pointers of its pixels are built on the fly (the
// padding taps point to the zero-point row), so no im2col copy exists and
// strides, dilation and padding are all the driver's business. Where
// Q8DepthwiseRowsUsable, the input is instead copied once, framed by its
// padding, and kernel.rows takes each thread's rows of an image at once.
void q8_depthwise_conv2d__dw(const Conv2DParams& p, const Q8ChannelRequant& q,
                             const Q8DwconvKernel& kernel, const void* packed, const int8_t* x,
                             int8_t* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_CONV_H_
