// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Fixed-point requantization, the one C++ definition every integer kernel
// uses: gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT
// and TFLite's MultiplyByQuantizedMultiplier in its default double-rounding
// form (no TFLITE_SINGLE_ROUNDING), its single-rounding form (only int8
// FULLY_CONNECTED uses it, as LiteRT's reference kernel does), plus
// QuantizeMultiplier. The numpy oracle is converters/quant_ref.py; the two
// must agree bit for bit (tested through _core._testing_q8_gemm). Wrapping
// steps use unsigned arithmetic so they are defined behaviour. Only
// baseline-flag translation units include this
// (kernels/q8_gemm/ref.cc requantizes for every variant), so no copy of these
// inline functions is ever compiled with -mavx2 or +dotprod.
#ifndef GEARSHIFT_REQUANT_H_
#define GEARSHIFT_REQUANT_H_

#include <cmath>
#include <cstdint>
#include <limits>

namespace gearshift {

// (a * b * 2 + 2^31 rounding) >> 32 in fixed point: round((a * b) / 2^31),
// ties away from zero; INT32_MIN * INT32_MIN saturates to INT32_MAX.
inline int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  if (a == b && a == std::numeric_limits<int32_t>::min()) {
    return std::numeric_limits<int32_t>::max();
  }
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));  // truncates toward 0
}

// x / 2^exponent, exponent in [0, 31], rounded to nearest, ties away from 0.
inline int32_t RoundingDivideByPOT(int32_t x, int exponent) {
  const int64_t mask = (int64_t{1} << exponent) - 1;
  const int64_t remainder = static_cast<int64_t>(x) & mask;
  const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return static_cast<int32_t>((static_cast<int64_t>(x) >> exponent) +
                              (remainder > threshold ? 1 : 0));
}

// x * multiplier * 2^(shift - 31), shift in [-31, 30] (> 0: left). The left
// shift wraps in 32 bits (real layers never get there).
inline int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  const auto shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left);
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(shifted, multiplier), right);
}

// TFLite's MultiplyByQuantizedMultiplier with TFLITE_SINGLE_ROUNDING, what
// LiteRT's reference int8 FULLY_CONNECTED computes (per-channel and
// per-tensor weights alike; docs/QUANTIZATION.md): (x * multiplier +
// 2^(30 - shift)) >> (31 - shift) in int64, shift in [-31, 31] (31: no
// rounding term). One rounding, to nearest with ties toward +inf: the shift
// is arithmetic (implementation-defined for negative values before C++20,
// arithmetic on every supported compiler, as RoundingDivideByPOT assumes).
// No overflow: |x * multiplier| <= 2^62 (both int32) and the rounding term
// is at most 2^61. The int64 result is not wrapped to int32:
// callers clamp it (quant_ref.multiply_by_quantized_multiplier_single_round).
inline int64_t MultiplyByQuantizedMultiplierSingleRounding(int32_t x, int32_t multiplier,
                                                           int shift) {
  const int total_shift = 31 - shift;
  const int64_t round = total_shift > 0 ? int64_t{1} << (total_shift - 1) : 0;
  return (static_cast<int64_t>(x) * multiplier + round) >> total_shift;
}

// Real multiplier m >= 0 -> (multiplier, shift) with m ~= multiplier *
// 2^(shift - 31), multiplier in [2^30, 2^31) (or 0); shift < -31 flushes to
// (0, 0) and shift > 30 saturates to (INT32_MAX, 30), as quant_ref.py.
inline void QuantizeMultiplier(double m, int32_t* multiplier, int* shift) {
  *multiplier = 0;
  *shift = 0;
  if (m == 0.0) return;
  int s = 0;
  const double q = std::frexp(m, &s);
  auto q_fixed = static_cast<int64_t>(std::round(q * static_cast<double>(int64_t{1} << 31)));
  if (q_fixed == (int64_t{1} << 31)) {
    q_fixed /= 2;
    ++s;
  }
  if (s < -31) return;
  if (s > 30) {
    *multiplier = std::numeric_limits<int32_t>::max();
    *shift = 30;
    return;
  }
  *multiplier = static_cast<int32_t>(q_fixed);
  *shift = s;
}

}  // namespace gearshift

#endif  // GEARSHIFT_REQUANT_H_
