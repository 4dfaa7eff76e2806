// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Shared pieces of the int8 reference kernels (docs/QUANTIZATION.md "The
// int8 gear, op by op"; the numpy oracle is converters/quant_ref.py): a
// requantization multiplier, the clamp range of a fused activation
// (quant_ref.activation_range) and float <-> int8 conversion of graph inputs
// and outputs. Every real multiplier is computed in double from float32
// scales, as quant_ref.py does, and turned into fixed point once at plan time.
// Header-only so kernels inline it; baseline-flag translation units only
// (requant.h).
#ifndef GEARSHIFT_OPS_Q8_Q8_COMMON_H_
#define GEARSHIFT_OPS_Q8_Q8_COMMON_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "format/model_desc.h"
#include "requant.h"

namespace gearshift {

// (scale, zero point) of one int8 tensor: real = scale * (q - zero_point).
using Q8Quant = ActQuant;

// A real multiplier in TFLite fixed point (QuantizeMultiplier).
struct Q8Requant {
  int32_t multiplier = 0;
  int shift = 0;
};

inline Q8Requant MakeQ8Requant(double real_multiplier) {
  Q8Requant r;
  QuantizeMultiplier(real_multiplier, &r.multiplier, &r.shift);
  return r;
}

inline int32_t ApplyQ8Requant(int32_t x, Q8Requant r) {
  return MultiplyByQuantizedMultiplier(x, r.multiplier, r.shift);
}

// Inclusive int8 clamp range of an op's output.
struct Q8Range {
  int32_t lo = -128;
  int32_t hi = 127;
};

// np.clip's order (max with lo, then min with hi), so hi wins if lo > hi.
inline int8_t Q8Clamp(int64_t v, Q8Range r) {
  return static_cast<int8_t>(std::min<int64_t>(std::max<int64_t>(v, r.lo), r.hi));
}

// int32 addition modulo 2^32, as the oracle's int64 sums wrapped to int32
// (signed overflow would be undefined behaviour in C++).
inline int32_t WrapAddI32(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

// quant_ref.activation_range (TFLite CalculateActivationRangeQuantized): the
// bound f maps to zp + round_half_away(float32(f) / float32(scale)), the
// division in float32.
// A tiny scale (a hostile file's) puts f / scale beyond every integer type,
// where the conversion would be undefined: the rounded value is first held to
// +-2^40, which changes no result (a bound past the int8 range clamps to its
// end either way; libFuzzer/UBSan finding, regress seed in fuzz/corpus/gear).
inline Q8Range Q8ActivationRange(Activation a, Q8Quant y) {
  auto q = [&](float f) {
    const float v = std::min(std::max(std::round(f / y.scale), -0x1p40f), 0x1p40f);
    return int64_t{y.zero_point} + static_cast<int64_t>(v);
  };
  auto at_least = [](int32_t lo, int64_t v) {
    return static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(lo, v), 127));
  };
  auto at_most = [](int32_t hi, int64_t v) {
    return static_cast<int32_t>(std::max<int64_t>(std::min<int64_t>(hi, v), -128));
  };
  Q8Range r;
  switch (a) {
    case Activation::kNone:
      break;
    case Activation::kRelu:
      r.lo = at_least(r.lo, q(0.0f));
      break;
    case Activation::kRelu6:
      r.lo = at_least(r.lo, q(0.0f));
      r.hi = at_most(r.hi, q(6.0f));
      break;
    case Activation::kReluN1To1:
      r.lo = at_least(r.lo, q(-1.0f));
      r.hi = at_most(r.hi, q(1.0f));
      break;
  }
  return r;
}

// Graph input: clamp(round_half_away((double)x / (double)s) + z). NaN has no
// int8 value; it maps to the zero point (real 0) rather than to undefined
// behaviour.
inline int8_t QuantizeQ8(float x, Q8Quant q) {
  const double v = std::round(static_cast<double>(x) / static_cast<double>(q.scale)) +
                   static_cast<double>(q.zero_point);
  if (std::isnan(v)) return static_cast<int8_t>(q.zero_point);
  return static_cast<int8_t>(std::min(std::max(v, -128.0), 127.0));
}

// Graph output: (float)((double)s * (q - z)).
inline float DequantizeQ8(int8_t v, Q8Quant q) {
  return static_cast<float>(static_cast<double>(q.scale) *
                            static_cast<double>(int32_t{v} - q.zero_point));
}

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_COMMON_H_
