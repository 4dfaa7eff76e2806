// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 binary elementwise row kernels (ADD/SUB, MUL, PRELU): n elements of
// two contiguous int8 rows (same-shape operands, or a PRELU alpha row per
// channel row) with TFLite's fixed-point arithmetic, bit for bit the ops'
// __ref (ops_q8/q8_elementwise.cc; tests/cpp/ops_q8_fast_test.cc). Each
// MultiplyByQuantizedMultiplier (MBQM) is TFLite's double rounding:
// SaturatingRoundingDoublingHighMul of x << left by the multiplier, then
// RoundingDivideByPOT by right (multiplier never INT32_MIN, as
// QuantizeMultiplier makes them; the ops check before calling). The ops run
// the portable loops where no kernel is selected (dispatch.cc) and for
// broadcast strides.
#ifndef GEARSHIFT_KERNELS_Q8_VBINARY_Q8_VBINARY_H_
#define GEARSHIFT_KERNELS_Q8_VBINARY_Q8_VBINARY_H_

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace gearshift {

// One MBQM, TFLite's (multiplier, shift): shift > 0 shifts left first,
// shift < 0 is the rounding right shift after the high multiply.
struct Q8VRequant {
  int32_t multiplier = 0;
  int32_t shift = 0;
};

// ADD: y = clamp(MBQM(MBQM((a - za) << s, ra) + MBQM((b - zb) << s, rb), ro) + zy, lo, hi).
// a_shift / b_shift >= 0: that input's MBQM is exactly (q - z) << it (its
// multiplier is 2^30, one half, with a right shift r <= left_shift - 1: the
// larger-scale input of every ADD), so kernels may skip its multiply; -1:
// the general stage.
struct Q8VAddParams {
  int32_t a_zero_point = 0, b_zero_point = 0, y_zero_point = 0;
  int32_t left_shift = 0;
  Q8VRequant a, b, out;
  int32_t act_min = -128, act_max = 127;
  int32_t a_shift = -1, b_shift = -1;
};

// The SaturatingRoundingDoublingHighMul of an ADD input's MBQM of d << e
// (|d| <= 255, e = left_shift plus the MBQM's own left shift) with 32-bit
// multiplies only: with E = e in [8, 23] and k = 31 - E,
//   floor((d 2^E M + 2^30) / 2^31) = floor((d M + 2^(k-1)) / 2^k)
//                                  = d high + floor((d low + 2^(k-1)) / 2^k),
// where high = M >> k (arithmetic) and low = M - (high << k) in [0, 2^k):
// |d high| <= 255 * 2^23 and d low + 2^(k-1) < 255 * 2^23 + 2^22 both fit
// int32, so no 64-bit product is needed; the RoundingDivideByPOT follows as
// in the MBQM. Kernels use it where MakeQ8VPow2Stage says it applies.
struct Q8VPow2Stage {
  int32_t high = 0, low = 0, round = 0, k = 0;
};

inline bool MakeQ8VPow2Stage(const Q8VRequant& r, int32_t left_shift, Q8VPow2Stage* out) {
  const int32_t e = left_shift + (r.shift > 0 ? r.shift : 0);
  if (e < 8 || e > 23 || r.multiplier == INT32_MIN) return false;
  out->k = 31 - e;
  out->high = r.multiplier >> out->k;  // arithmetic: SUB's negated multipliers too
  // a product, not a shift: shifting a negative value left is undefined in C++17
  out->low = static_cast<int32_t>(static_cast<int64_t>(r.multiplier) -
                                  static_cast<int64_t>(out->high) * (int64_t{1} << out->k));
  out->round = int32_t{1} << (out->k - 1);
  return true;
}

// How an ADD input's stage runs: 0, a plain shift (plain_shift >= 0, the
// larger-scale input); 1, the MBQM with 32-bit multiplies (s filled); 2, the
// general MBQM.
inline int Q8VAddStageMode(int32_t plain_shift, const Q8VRequant& r, int32_t left_shift,
                           Q8VPow2Stage* s) {
  if (plain_shift >= 0) return 0;
  return MakeQ8VPow2Stage(r, left_shift, s) ? 1 : 2;
}

// Calls run(A, B) with std::integral_constant<int, mode> for the two
// inputs' stage modes chosen at run time, so that each kernel's row loop is
// compiled once per pair of modes and branches on none of them.
template <typename Run>
inline void WithQ8VAddModes(int a_mode, int b_mode, const Run& run) {
  using M0 = std::integral_constant<int, 0>;
  using M1 = std::integral_constant<int, 1>;
  using M2 = std::integral_constant<int, 2>;
  auto with_b = [&](auto a) {
    if (b_mode == 0) {
      run(a, M0());
    } else if (b_mode == 1) {
      run(a, M1());
    } else {
      run(a, M2());
    }
  };
  if (a_mode == 0) {
    with_b(M0());
  } else if (a_mode == 1) {
    with_b(M1());
  } else {
    with_b(M2());
  }
}

// MUL: y = clamp(MBQM((a - za) * (b - zb), ro) + zy, lo, hi).
struct Q8VMulParams {
  int32_t a_zero_point = 0, b_zero_point = 0, y_zero_point = 0;
  Q8VRequant out;
  int32_t act_min = -128, act_max = 127;
};

// PRELU: d = x - zx; y = clamp((d >= 0 ? MBQM(d, ri) : MBQM(d * (alpha - za), ra)) + zy).
// alpha_period > 0: x holds n / alpha_period rows of alpha_period elements,
// all against the same alpha row; 0: alpha has n elements.
struct Q8VPreluParams {
  int32_t x_zero_point = 0, alpha_zero_point = 0, y_zero_point = 0;
  Q8VRequant identity, alpha;
  size_t alpha_period = 0;
};

using Q8VAddUkernelFn = void (*)(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                 const Q8VAddParams* p);
using Q8VMulUkernelFn = void (*)(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                 const Q8VMulParams* p);
using Q8VPreluUkernelFn = void (*)(size_t n, const int8_t* x, const int8_t* alpha, int8_t* y,
                                   const Q8VPreluParams* p);

// One ISA's set; all null: the ops' portable loops.
struct Q8VBinaryKernel {
  Q8VAddUkernelFn add = nullptr;
  Q8VMulUkernelFn mul = nullptr;
  Q8VPreluUkernelFn prelu = nullptr;
  const char* name = "";
  bool needs_vbmi = false;  // also needs AVX512-VBMI (beyond its ISA token)
};

#define GS_UKERNEL(isa, suffix, prelu_suffix, vbmi)                                         \
  void q8_vadd__##suffix(size_t n, const int8_t* a, const int8_t* b, int8_t* y,             \
                         const Q8VAddParams* p);                                            \
  void q8_vmul__##suffix(size_t n, const int8_t* a, const int8_t* b, int8_t* y,             \
                         const Q8VMulParams* p);                                            \
  void q8_vprelu__##prelu_suffix(size_t n, const int8_t* x, const int8_t* alpha, int8_t* y, \
                                 const Q8VPreluParams* p);
#include "kernels/q8_vbinary/q8_vbinary.inc"
#undef GS_UKERNEL

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_Q8_VBINARY_Q8_VBINARY_H_
