// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The constants of the softmax exp (f32_softmax.h) and its scalar form,
// which the ref entry runs and the vector ones repeat lane by lane:
//   n = round(x / ln2)            (the 1.5 * 2^23 trick: adding it leaves the
//                                  integer in the low mantissa bits)
//   r = x - n * ln2_hi - n * ln2_lo  (ln2_hi has 16 significant bits, so
//                                  n * ln2_hi is exact for |n| <= 256)
//   exp(x) = 2^n * P(r), P the degree-7 Taylor polynomial of exp on
//   |r| <= ln2/2 (truncation error below 3e-9 relative, far under an ulp;
//   the error budget is the rounding of the Horner steps).
// x below kExpLo (exp(x) < 2^-126) gives 0: 2^n stays a normal float.
#ifndef GEARSHIFT_KERNELS_F32_SOFTMAX_EXP_CONSTS_H_
#define GEARSHIFT_KERNELS_F32_SOFTMAX_EXP_CONSTS_H_

#include <cmath>
#include <cstdint>
#include <cstring>

namespace gearshift {
namespace softmax_exp {

constexpr float kExpLo = -87.33654f;  // ln(2^-126)
constexpr float kLog2e = 1.44269504f;
constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23
constexpr float kLn2Hi = 0.693145751953125f;
constexpr float kLn2Lo = 1.42860682e-6f;
constexpr float kC7 = 1.0f / 5040, kC6 = 1.0f / 720, kC5 = 1.0f / 120, kC4 = 1.0f / 24,
                kC3 = 1.0f / 6, kC2 = 0.5f;

inline float ExpNonPositive(float x) {
  const float z = x < kExpLo ? kExpLo : x;
  const float nf = std::fma(z, kLog2e, kRoundMagic) - kRoundMagic;
  float r = std::fma(nf, -kLn2Hi, z);
  r = std::fma(nf, -kLn2Lo, r);
  float p = std::fma(kC7, r, kC6);
  p = std::fma(p, r, kC5);
  p = std::fma(p, r, kC4);
  p = std::fma(p, r, kC3);
  p = std::fma(p, r, kC2);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  const int32_t bits = (static_cast<int32_t>(nf) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return x < kExpLo ? 0.0f : p * scale;
}

}  // namespace softmax_exp
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_SOFTMAX_EXP_CONSTS_H_
