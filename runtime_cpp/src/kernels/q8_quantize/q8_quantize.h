// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// float32 -> int8 quantization of graph inputs, bit for bit QuantizeQ8
// (ops_q8/q8_common.h): clamp(round_half_away((double)x / (double)scale) +
// zero_point, -128, 127), NaN -> zero_point. The division stays in double,
// as the reference's; round half away from zero is trunc(v) plus the sign
// where the exact fraction v - trunc(v) reaches one half. Clamping v to
// +-256 first changes nothing after the final clamp (|zero_point| <= 128).
#ifndef GEARSHIFT_KERNELS_Q8_QUANTIZE_Q8_QUANTIZE_H_
#define GEARSHIFT_KERNELS_Q8_QUANTIZE_Q8_QUANTIZE_H_

#include <cstddef>
#include <cstdint>

namespace gearshift {

using Q8QuantizeUkernelFn = void (*)(size_t n, const float* x, double scale, int32_t zero_point,
                                     int8_t* y);

struct Q8QuantizeKernel {
  Q8QuantizeUkernelFn fn = nullptr;
  const char* name = "";
};

#define GS_UKERNEL(isa, name) \
  void name(size_t n, const float* x, double scale, int32_t zero_point, int8_t* y);
#include "kernels/q8_quantize/q8_quantize.inc"
#undef GS_UKERNEL

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_Q8_QUANTIZE_Q8_QUANTIZE_H_
