// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 CONV_2D and DEPTHWISE_CONV_2D (NHWC, docs/FORMAT.md). Plain
// direct loops: each output pixel is computed by one thread in a fixed order,
// so results do not depend on the thread count. Tuned kernels live elsewhere
// (src/kernels) and are checked against these.
//
// f32_conv2d__gemm runs CONV_2D on an indirect GEMM microkernel: rows are
// output pixels, K is KH*KW*C, and every tap of a row tile points straight
// into the input (a zero row in the padding), so nothing is copied and any
// kernel size and channel count runs on it. DEPTHWISE_CONV_2D with
// depth multiplier 1 runs on a channel-vectorised microkernel per pixel.
#ifndef GEARSHIFT_OPS_CONV_H_
#define GEARSHIFT_OPS_CONV_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/f16_dwconv/f16_dwconv.h"
#include "kernels/f16_gemm/f16_gemm.h"
#include "kernels/f16w_dwconv/f16w_dwconv.h"
#include "kernels/f16w_gemm/f16w_gemm.h"
#include "kernels/f32_dwconv/f32_dwconv.h"
#include "kernels/f32_gemm/f32_gemm.h"
#include "ops/op_common.h"
#include "thread_pool.h"

namespace gearshift {

// Everything a convolution needs, resolved once at plan time.
struct Conv2DParams {
  int64_t batch = 0, in_h = 0, in_w = 0, in_c = 0;
  int64_t out_h = 0, out_w = 0, out_c = 0;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  int depth_multiplier = 1;  // depthwise only: out_c == in_c * depth_multiplier
  ActRange act;
};

// x [N,H,W,C], filter [O,KH,KW,C], bias [O] or null, y [N,OH,OW,O].
// `pool` may be null (single-threaded).
void f32_conv2d__ref(const Conv2DParams& p, const float* x, const float* filter, const float* bias,
                     float* y, ThreadPool* pool);

// Whether f32_conv2d__gemm can run `p` with `kernel`: any shape, given a
// GEMM microkernel.
bool F32Conv2DGemmSupported(const Conv2DParams& p, const F32GemmKernel& kernel);

// `packed`: filter [O, KH*KW*C] and bias packed for `kernel`. Work is split
// over (row tile, column tile) pairs, each computed by one thread, so results
// are bit-identical for any thread count.
void f32_conv2d__gemm(const Conv2DParams& p, const F32GemmKernel& kernel, const float* packed,
                      const float* x, float* y, ThreadPool* pool);

// The same on fp16 weights: `packed` is PackF16wGemmWeights' layout for
// `kernel`. Same tiles and split, so with the f16w kernel of the f32 one's
// ISA it gives f32_conv2d__gemm's output on the widened weights, bit for bit.
void f16w_conv2d__gemm(const Conv2DParams& p, const F16wGemmKernel& kernel, const void* packed,
                       const float* x, float* y, ThreadPool* pool);

// The same in fp16 arithmetic (neon_fp16): `packed` is PackF16GemmWeights'
// layout for `kernel`; each row tile's input rows (the taps of its MR
// pixels) are converted to half once, as the tile is gathered, into a
// per-thread buffer; the output is fp32. Same split: bit-identical for any
// thread count.
void f16_conv2d__gemm(const Conv2DParams& p, const F16GemmKernel& kernel, const void* packed,
                      const float* x, float* y, ThreadPool* pool);

// TRANSPOSE_CONV on the indirect GEMM, split by output phase: the output
// pixels whose (oy + pad_top) % stride_h and (ox + pad_left) % stride_w are
// (ry, rx) are reached only by the taps TransposeConvPhaseTaps(p, ry, rx)
// returns (as ky * KW + kx, ky then kx ascending), so each phase is its own
// indirect GEMM over those taps and no multiply reads a zero row for want of
// a landing tap (at stride 1 there is one phase with every tap).
// phase_packed[ry * stride_w + rx]: TransposeConvPhaseFilter's rows and the
// bias, packed for `kernel` (a phase without taps packs the bias alone and
// outputs it). The bias starts the sum, where TFLite's reference adds it
// after the scatter: equal within float rounding, not bit for bit.
std::vector<int> TransposeConvPhaseTaps(const Conv2DParams& p, int ry, int rx);
// The [O, taps, C] rows of filter [O, KH, KW, C] for those taps.
std::vector<float> TransposeConvPhaseFilter(const Conv2DParams& p, const float* filter,
                                            const std::vector<int>& taps);
void f32_transpose_conv2d__phased(const Conv2DParams& p, const F32GemmKernel& kernel,
                                  const float* const* phase_packed, const float* x, float* y,
                                  ThreadPool* pool);

// TRANSPOSE_CONV whose stride equals its kernel, unpadded, with output =
// input x stride (2x2 stride-2 upsampling heads): every output pixel has one
// tap, and output row iy * KH + ky is input row iy times filter row ky, a
// GEMM of [W, C] by [C, KW * O] whose rows land KW * O apart, straight into
// that output row: no indirection, and N = KW * O where the phased GEMM has
// N = O (a one-channel head filled an 8 x 32 tile to 1/32).
bool TransposeConvIsShuffle(const Conv2DParams& p);
// Filter row ky of filter [O, KH, KW, C] as GEMM rows [KW * O, C] (row
// kx * O + o), and any per-output-channel vector [O] repeated to [KW * O].
template <class T>
std::vector<T> TransposeConvShuffleFilter(const Conv2DParams& p, const T* filter, int ky) {
  const int64_t o_n = p.out_c, c = p.in_c, kw = p.kernel_w;
  std::vector<T> rows(static_cast<size_t>(kw * o_n * c));
  for (int64_t kx = 0; kx < kw; ++kx) {
    for (int64_t o = 0; o < o_n; ++o) {
      const T* src = filter + ((o * p.kernel_h + ky) * kw + kx) * c;
      std::copy(src, src + c, rows.begin() + (kx * o_n + o) * c);
    }
  }
  return rows;
}
template <class T>
std::vector<T> TransposeConvShuffleColumns(const Conv2DParams& p, const T* per_channel) {
  std::vector<T> v(static_cast<size_t>(p.kernel_w * p.out_c));
  for (size_t i = 0; i < v.size(); ++i) v[i] = per_channel[i % static_cast<size_t>(p.out_c)];
  return v;
}
// row_packed[ky]: TransposeConvShuffleFilter(ky) and the repeated bias,
// packed for `kernel`.
void f32_transpose_conv2d__shuffle(const Conv2DParams& p, const F32GemmKernel& kernel,
                                   const float* const* row_packed, const float* x, float* y,
                                   ThreadPool* pool);

// x [N,H,W,C], filter [1,KH,KW,C*M], bias [C*M] or null, y [N,OH,OW,C*M].
void f32_depthwise_conv2d__ref(const Conv2DParams& p, const float* x, const float* filter,
                               const float* bias, float* y, ThreadPool* pool);

// Most kernel taps (KH*KW) f32_depthwise_conv2d__dwconv takes.
constexpr int kDwconvMaxTaps = 64;
// f32_depthwise_conv2d__dwconv computes a layer of at most
// kDwconvGroupMaxChannels channels (a multiple of 4, stride 1 along x)
// up to kDwconvGroupWidth floats of adjacent pixels per microkernel call
// (fewer where a row's interior run ends first: 12 of a 14-pixel row); 3x3 and
// smaller filters up to kDwconvGroupMaxChannels3x3 (MobileNetV2's first
// 32-channel layer then runs the kernels' 128-channel blocks). Wider layers
// stay one pixel a call: grouping 32 and 64 channels made palm detection's
// 5x5 layers 10-25% slower (Intel Xeon, AVX-512).
constexpr int64_t kDwconvGroupWidth = 128;
constexpr int64_t kDwconvGroupMaxChannels = 16;
constexpr int64_t kDwconvGroupMaxChannels3x3 = 32;

// Whether f32_depthwise_conv2d__dwconv can run `p` (depth multiplier 1 and
// at most kDwconvMaxTaps taps).
bool F32DepthwiseDwconvSupported(const Conv2DParams& p);

// Depthwise convolution (depth multiplier 1) on `ukernel`, weights used in
// place. Split over output pixels like the reference: bit-identical for any
// thread count.
void f32_depthwise_conv2d__dwconv(const Conv2DParams& p, F32DwconvUkernelFn ukernel, const float* x,
                                  const float* filter, const float* bias, float* y,
                                  ThreadPool* pool);

// The same with the filter [KH, KW, C] in half bits (the fp16 gear).
void f16w_depthwise_conv2d__dwconv(const Conv2DParams& p, F16wDwconvUkernelFn ukernel,
                                   const float* x, const uint16_t* filter, const float* bias,
                                   float* y, ThreadPool* pool);

// The same in fp16 arithmetic (neon_fp16): split over output rows; each
// thread converts the input rows its windows read to half once (a ring of
// (KH - 1) * dilation + 1 rows), then runs the per-pixel kernel on them.
void f16_depthwise_conv2d__dwconv(const Conv2DParams& p, const F16DwconvKernel& kernel,
                                  const float* x, const uint16_t* filter, const float* bias,
                                  float* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_CONV_H_
