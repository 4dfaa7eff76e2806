// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 depthwise convolution microkernels (depth multiplier 1), XNNPACK's
// qs8-dwconv shape: the op driver hands the kernel, per output pixel, one
// pointer per filter tap to that tap's input pixel (C int8 values), or to a
// row of C copies of the input zero point where the tap falls in the
// padding; the kernel walks channel tiles of CT, accumulates
// sum_t x[t][c] * w[t][c] in int32 onto the folded bias, requantizes
// (TFLite's double rounding) and stores C int8 outputs per pixel, the
// pixels one after another. Weights are packed once per plan by
// PackQ8DwconvWeights: per tile of CT channels, CT int32 biases
// bias'[c] = bias[c] - zx * sum_t w[t][c] (the zero-point correction, so
// the inner loop only multiplies and adds; exact modulo 2^32), CT int32
// multipliers, CT int32 shifts, then taps x CT int8 weights, zero-padded
// past C. Integer sums do not depend on their order, so every variant gives
// the reference's bits (tests/cpp/q8_dwconv_test.cc).
#ifndef GEARSHIFT_KERNELS_Q8_DWCONV_Q8_DWCONV_H_
#define GEARSHIFT_KERNELS_Q8_DWCONV_Q8_DWCONV_H_

#include <cstddef>
#include <cstdint>

#include "kernels/q8_gemm/q8_gemm.h"

namespace gearshift {

// `width` output pixels; pixel p reads input[p * taps + t] for tap t and
// writes channels bytes at output + p * channels.
using Q8DwconvUkernelFn = void (*)(size_t channels, size_t width, size_t taps,
                                   const int8_t* const* input, const void* w, int8_t* output,
                                   const Q8GemmOutput* out);

// Optional direct form for narrow layers (Q8DwconvRowsChannels): no tap
// pointers; the input is framed by its padding (the driver copies it with
// the zero point around it), so every tap is inside, and with a horizontal
// stride and dilation of 1 an output row's pixels read one contiguous run
// of bytes per tap: tap (ky, kx) of output row r, pixel p, channel c is at
// input + r * row_step + ky * tap_row_bytes + (p + kx) * channels + c.
// out_rows rows of out_w pixels are written at output, one after another.
// Same weight packing as the pointer form. The kernel computes a row in
// runs of 32 bytes; run k's lanes start at channel 32k mod C, so the runs
// cycle through C / gcd(C, 32) lane patterns, each set up once per call.
using Q8DwconvRowsFn = void (*)(size_t channels, size_t out_w, size_t out_rows, size_t kh,
                                size_t kw, const int8_t* input, size_t row_step,
                                size_t tap_row_bytes, const void* w, int8_t* output,
                                const Q8GemmOutput* out);

// The most taps a rows kernel takes (5x5), the most channels (two packed
// tiles of 32) and lane patterns.
constexpr size_t kQ8DwconvRowsMaxTaps = 26;
constexpr size_t kQ8DwconvRowsMaxChannels = 64;
constexpr size_t kQ8DwconvRowsMaxPatterns = 8;

// Whether a rows kernel takes `channels`: at most 64, in at most 8 lane
// patterns (1-8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64).
constexpr bool Q8DwconvRowsChannels(size_t channels) {
  size_t a = channels, b = 32;
  while (b != 0) {
    const size_t t = a % b;
    a = b;
    b = t;
  }
  return channels >= 1 && channels <= kQ8DwconvRowsMaxChannels &&
         channels / a <= kQ8DwconvRowsMaxPatterns;
}

struct Q8DwconvKernel {
  Q8DwconvUkernelFn fn = nullptr;
  int ct = 0;  // channel tile
  const char* name = "";
  Q8DwconvRowsFn rows = nullptr;  // the direct form, where the ISA has one
};

#define GS_UKERNEL(isa, name, ct)                                                                  \
  void name(size_t channels, size_t width, size_t taps, const int8_t* const* input, const void* w, \
            int8_t* output, const Q8GemmOutput* out);
#define GS_ROWS_UKERNEL(name, rows)                                                    \
  void rows(size_t channels, size_t out_w, size_t out_rows, size_t kh, size_t kw,      \
            const int8_t* input, size_t row_step, size_t tap_row_bytes, const void* w, \
            int8_t* output, const Q8GemmOutput* out);
#include "kernels/q8_dwconv/q8_dwconv.inc"
#undef GS_ROWS_UKERNEL
#undef GS_UKERNEL

// Bytes PackQ8DwconvWeights writes for `channels` channels and `taps` taps.
inline size_t Q8DwconvPackedBytes(size_t channels, size_t taps, size_t ct) {
  return (channels + ct - 1) / ct * (3 * sizeof(int32_t) * ct + taps * ct);
}

// filter [taps][channels] (TFLite's [1, KH, KW, C]), bias [channels] or null.
void PackQ8DwconvWeights(size_t channels, size_t taps, size_t ct, const int8_t* filter,
                         const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                         int32_t x_zero_point, void* packed);

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_Q8_DWCONV_Q8_DWCONV_H_
