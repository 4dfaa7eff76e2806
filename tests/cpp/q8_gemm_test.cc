// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 GEMM microkernels, fixed-point requantization and the q8 dispatch.
// Every q8_gemm.inc entry must equal the plain-loop oracle (Q8GemmReference)
// bit for bit at M, N, K equal to, multiples of, below and above its tile,
// plus 1 and a prime, with extreme zero points, saturating multipliers and
// shifts of both signs; entries the CPU cannot run are skipped. The
// requant.h edge cases are checked against hand-computed values. Dispatch
// is checked with explicitly masked features (MaskCpuFeatures, the function
// GEARSHIFT_DISABLE goes through), and DetectedCpuSelectsExpectedVariant
// logs which q8 variant this CPU (or emulated CPU) runs, so the emulated
// rpi4 (cortex-a72) and rpi5 (cortex-a76) logs show both sides taken.
#include "kernels/q8_gemm/q8_gemm.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "dispatch.h"
#include "requant.h"

namespace gearshift {
namespace {

struct Entry {
  Isa isa;
  Q8GemmKernel kernel;
};

std::vector<Entry> AllEntries() {
  std::vector<Entry> v;
#define GS_UKERNEL(isa, name, mr, nr, kr, a_offset, wmin, wide_nc) \
  v.push_back({isa, {&name, mr, nr, kr, #name, a_offset, wmin, wide_nc != 0}});
#include "kernels/q8_gemm/q8_gemm.inc"
#undef GS_UKERNEL
  return v;
}

std::string EntryName(const ::testing::TestParamInfo<Entry>& info) {
  return info.param.kernel.name;
}

constexpr int32_t kI32Min = std::numeric_limits<int32_t>::min();
constexpr int32_t kI32Max = std::numeric_limits<int32_t>::max();

// ---- requant.h ------------------------------------------------------------------

TEST(Requant, SaturatingRoundingDoublingHighMulEdges) {
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kI32Min, kI32Min), kI32Max);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kI32Min, kI32Max), -kI32Max);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kI32Max, kI32Max), kI32Max - 1);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(0, kI32Min), 0);
  // 1 * 2^30 / 2^31 = 0.5. gemmlowp's nudge (2^30, or 1 - 2^30 for a
  // negative product) with truncating division rounds positive ties up and
  // negative ties toward zero (values from converters/quant_ref.py srdhm).
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(1, 1 << 30), 1);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-1, 1 << 30), 0);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(3, 1 << 30), 2);    // 1.5 -> 2
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-3, 1 << 30), -1);  // -1.5 -> -1
}

TEST(Requant, RoundingDivideByPOTTiesAwayFromZero) {
  EXPECT_EQ(RoundingDivideByPOT(5, 1), 3);    // 2.5 -> 3
  EXPECT_EQ(RoundingDivideByPOT(-5, 1), -3);  // -2.5 -> -3
  EXPECT_EQ(RoundingDivideByPOT(-3, 1), -2);  // -1.5 -> -2
  EXPECT_EQ(RoundingDivideByPOT(-7, 2), -2);  // -1.75 -> -2
  EXPECT_EQ(RoundingDivideByPOT(-6, 2), -2);  // -1.5 -> -2
  EXPECT_EQ(RoundingDivideByPOT(-5, 2), -1);  // -1.25 -> -1
  EXPECT_EQ(RoundingDivideByPOT(7, 0), 7);
  EXPECT_EQ(RoundingDivideByPOT(kI32Min, 31), -1);
  EXPECT_EQ(RoundingDivideByPOT(kI32Max, 31), 1);
}

TEST(Requant, MultiplyByQuantizedMultiplierDoubleRounding) {
  // Multiplier 2^30 is 0.5: x * 0.5 * 2^shift. Double rounding: a tie in
  // the high multiply goes toward zero when negative, a tie in the final
  // shift away from zero (expected values from quant_ref.py).
  EXPECT_EQ(MultiplyByQuantizedMultiplier(5, 1 << 30, 0), 3);        // 2.5
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-5, 1 << 30, 0), -2);      // -2.5 in SRDHM
  EXPECT_EQ(MultiplyByQuantizedMultiplier(100, 1 << 30, -2), 13);    // 12.5
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-100, 1 << 30, -2), -13);  // -12.5 in the shift
  EXPECT_EQ(MultiplyByQuantizedMultiplier(3, 1 << 30, 2), 6);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(kI32Min, kI32Min, 0), kI32Max);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(kI32Max, kI32Max, -31), 1);
}

TEST(Requant, MultiplyByQuantizedMultiplierSingleRounding) {
  // (x * m + 2^(30 - shift)) >> (31 - shift): one rounding, ties toward +inf
  // (expected values from quant_ref.py multiply_by_quantized_multiplier_single_round).
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(5, 1 << 30, 0), 3);        // 2.5
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(-5, 1 << 30, 0), -2);      // -2.5
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(100, 1 << 30, -2), 13);    // 12.5
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(-100, 1 << 30, -2), -12);  // -12.5
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(-20, 1 << 30, -2), -2);    // -2.5
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-20, 1 << 30, -2), -3);  // double: away from 0
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(3, 1 << 30, 2), 6);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(-3, 1 << 30, 0), -1);  // -1.5
  // Where the two differ without a tie in the real product: LiteRT's
  // FULLY_CONNECTED example, 8838 * 0.0023194204 = 20.499 (double rounding: 21).
  int32_t q = 0;
  int s = 0;
  QuantizeMultiplier(0.0023194204, &q, &s);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(8838, q, s), 20);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(8838, q, s), 21);
  // The int64 extremes: |x * m| < 2^62, plus at most 2^61, never overflows;
  // the result is not wrapped to int32.
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(kI32Min, kI32Max, -31), -1);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(kI32Max, kI32Max, -31), 1);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(kI32Min, kI32Max, 0), kI32Min + 1);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(kI32Max, kI32Max, 30),
            (int64_t{kI32Max} * kI32Max + 1) >> 1);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(kI32Min, kI32Max, 31),
            int64_t{kI32Min} * kI32Max);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(12345, 0, -7), 0);
}

TEST(Requant, QuantizeMultiplier) {
  int32_t q = 0;
  int s = 0;
  QuantizeMultiplier(0.5, &q, &s);
  EXPECT_EQ(q, 1 << 30);
  EXPECT_EQ(s, 0);
  QuantizeMultiplier(1.0, &q, &s);
  EXPECT_EQ(q, 1 << 30);
  EXPECT_EQ(s, 1);
  QuantizeMultiplier(0.0, &q, &s);
  EXPECT_EQ(q, 0);
  QuantizeMultiplier(1e-20, &q, &s);  // shift < -31 flushes
  EXPECT_EQ(q, 0);
  EXPECT_EQ(s, 0);
  QuantizeMultiplier(1e20, &q, &s);  // shift > 30 saturates
  EXPECT_EQ(q, kI32Max);
  EXPECT_EQ(s, 30);
  QuantizeMultiplier(1.0 - 1e-12, &q, &s);  // rounds up to 2^31: renormalised
  EXPECT_EQ(q, 1 << 30);
  EXPECT_EQ(s, 1);
}

// ---- microkernels vs the oracle ---------------------------------------------------

struct Case {
  int32_t a_zp = 0, c_zp = 0, act_min = -128, act_max = 127;
  bool bias = true;
  int mult_kind = 0;             // 0 random, 1 near 2^31, 2 saturating shift
  bool single_rounding = false;  // FULLY_CONNECTED's requantization
};

void CheckEntry(const Entry& e, size_t m, size_t n, size_t k, const Case& cs, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> i8(-128, 127);
  const size_t a_stride = k + 3;  // rows are not contiguous
  std::vector<int8_t> a(m * a_stride), b(n * k);
  for (int8_t& x : a) x = static_cast<int8_t>(i8(rng));
  // A wmin -127 kernel is exact only without -128 weights (the plan checks).
  std::uniform_int_distribution<int> wd(e.kernel.wmin, 127);
  for (int8_t& x : b) x = static_cast<int8_t>(wd(rng));
  std::vector<int32_t> bias(n), mult(n), shift(n);
  std::uniform_int_distribution<int32_t> bd(-100000, 100000);
  std::uniform_int_distribution<int32_t> md(1 << 30, kI32Max);
  std::uniform_int_distribution<int> sd(-12, 2);
  for (size_t j = 0; j < n; ++j) {
    bias[j] = j % 7 == 3 ? kI32Max - 5 : bd(rng);
    mult[j] = cs.mult_kind == 1 ? kI32Max - static_cast<int32_t>(j % 3) : md(rng);
    shift[j] = cs.mult_kind == 2 ? (j % 2 ? 30 : -31) : sd(rng);
  }
  Q8GemmOutput out;
  out.c_zero_point = cs.c_zp;
  out.act_min = cs.act_min;
  out.act_max = cs.act_max;
  out.single_rounding = cs.single_rounding;
  const size_t c_stride = n + 2;
  std::vector<int8_t> want(m * c_stride, 7), got(m * c_stride, 7);
  const int32_t* bp = cs.bias ? bias.data() : nullptr;
  Q8GemmReference(m, n, k, a.data(), a_stride, cs.a_zp, b.data(), bp, mult.data(), shift.data(),
                  out, want.data(), c_stride);
  RunQ8Gemm(e.kernel, m, n, k, a.data(), a_stride, cs.a_zp, b.data(), bp, mult.data(), shift.data(),
            out, got.data(), c_stride);
  ASSERT_EQ(got, want) << e.kernel.name << " m=" << m << " n=" << n << " k=" << k
                       << " a_zp=" << cs.a_zp << " c_zp=" << cs.c_zp
                       << " single_rounding=" << cs.single_rounding;
}

class Q8GemmUkernel : public ::testing::TestWithParam<Entry> {};

TEST_P(Q8GemmUkernel, MatchesReferenceBitExactAtTileEdges) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) {
    GTEST_SKIP() << e.kernel.name << ": CPU lacks " << IsaName(e.isa);
  }
  const size_t mr = e.kernel.mr, nr = e.kernel.nr, kr = e.kernel.kr;
  const std::vector<size_t> ms = {1, mr, 2 * mr, mr > 1 ? mr - 1 : 1, mr + 1, 7};
  const std::vector<size_t> ns = {1, nr, 2 * nr, nr - 1, nr + 1, 13};
  const std::vector<size_t> ks = {1, kr, 4 * kr, kr + 1, 2 * kr + 3, 16, 31, 67};
  uint32_t seed = 1;
  for (size_t m : ms) {
    for (size_t n : ns) {
      for (size_t k : ks) {
        for (bool single : {false, true}) {
          Case cs;
          cs.single_rounding = single;
          CheckEntry(e, m, n, k, cs, seed++);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_P(Q8GemmUkernel, MatchesReferenceOnEdgeCases) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) {
    GTEST_SKIP() << e.kernel.name << ": CPU lacks " << IsaName(e.isa);
  }
  std::vector<Case> cases;
  for (int32_t a_zp : {-128, 0, 127}) {
    for (int32_t c_zp : {-128, 0, 127}) {
      for (int kind : {0, 1, 2}) {
        for (bool single : {false, true}) {
          Case cs;
          cs.a_zp = a_zp;
          cs.c_zp = c_zp;
          cs.mult_kind = kind;
          cs.bias = kind != 1;
          cs.single_rounding = single;
          cases.push_back(cs);
        }
      }
    }
  }
  Case relu6;  // a narrow fused-activation range
  relu6.act_min = -20;
  relu6.act_max = 40;
  cases.push_back(relu6);
  relu6.single_rounding = true;
  cases.push_back(relu6);
  uint32_t seed = 100;
  for (const Case& cs : cases) {
    for (size_t k : {size_t{1}, size_t{5}, size_t{64}, size_t{257}}) {
      CheckEntry(e, 5, 11, k, cs, seed++);
      if (HasFatalFailure()) return;
    }
  }
}

// At most 8 columns (the AVX-512 kernel puts two rows in one vector there):
// every column count 1-8, row counts 1-9 (odd ones leave a pair's second
// row unused), K with and without a partial last group, both roundings,
// zero points and clamps at both ends.
TEST_P(Q8GemmUkernel, NarrowColumnsBitExact) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) {
    GTEST_SKIP() << e.kernel.name << ": CPU lacks " << IsaName(e.isa);
  }
  uint32_t seed = 500;
  for (size_t n = 1; n <= 8; ++n) {
    for (size_t m = 1; m <= 9; ++m) {
      for (size_t k : {size_t{1}, size_t{3}, size_t{8}, size_t{12}, size_t{16}, size_t{33}}) {
        for (bool single : {false, true}) {
          Case cs;
          cs.single_rounding = single;
          cs.a_zp = m % 3 == 0 ? -128 : (m % 3 == 1 ? 127 : 3);
          cs.c_zp = n % 2 == 0 ? -128 : 127;
          cs.mult_kind = static_cast<int>(k % 3);
          cs.bias = k != 16;
          if (m == 4) {
            cs.act_min = -20;
            cs.act_max = 40;
          }
          CheckEntry(e, m, n, k, cs, seed++);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

// The in-register epilogues (q8_requant/*.h) over the whole int32 range:
// k = 1 with a zero activation leaves acc = bias, so random full-range
// biases, multipliers in [0, 2^31) and every shift in [-31, 30] reach the
// requantization directly, with zero points and clamp ranges at both ends.
TEST_P(Q8GemmUkernel, RequantizesFullInt32RangeBitExact) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) {
    GTEST_SKIP() << e.kernel.name << ": CPU lacks " << IsaName(e.isa);
  }
  std::mt19937 rng(77);
  std::uniform_int_distribution<int32_t> any(kI32Min, kI32Max);
  std::uniform_int_distribution<int32_t> md(0, kI32Max);
  const size_t k = 1;
  // m = 13: a full 8-row tile too (the dot kernel's clamp-free path where
  // the range is all of int8); 1 and 3: its 1- and 4-row paths. n = 8 (with
  // m = 13): the AVX-512 kernel's two rows per vector.
  for (size_t m : {size_t{1}, size_t{3}, size_t{13}, size_t{14}}) {
    const size_t n = m == 14 ? 8 : 64;
    for (int round = 0; round < 62; ++round) {
      std::vector<int8_t> a(m, 0), b(n, 1);
      std::vector<int32_t> bias(n), mult(n), shift(n);
      for (size_t j = 0; j < n; ++j) {
        bias[j] = j < 4 ? (j % 2 ? kI32Min : kI32Max) : any(rng);
        mult[j] = j == 4 ? 0 : (j == 5 ? kI32Max : md(rng));
        shift[j] = round - 31;
      }
      // Small accumulators too, so the rounding ties and the clamp are hit.
      for (size_t j = n / 2; j < n; ++j) bias[j] %= 1 << (j % 31 + 1);
      for (int32_t zp : {-128, 0, 127}) {
        Q8GemmOutput out;
        out.c_zero_point = zp;
        out.act_min = round % 3 == 0 ? -128 : -20;
        out.act_max = round % 2 == 0 ? 127 : 30;
        std::vector<int8_t> want(m * n), got(m * n);
        Q8GemmReference(m, n, k, a.data(), k, 0, b.data(), bias.data(), mult.data(), shift.data(),
                        out, want.data(), n);
        RunQ8Gemm(e.kernel, m, n, k, a.data(), k, 0, b.data(), bias.data(), mult.data(),
                  shift.data(), out, got.data(), n);
        ASSERT_EQ(got, want) << e.kernel.name << " m " << m << " shift " << round - 31 << " zp "
                             << zp;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, Q8GemmUkernel, ::testing::ValuesIn(AllEntries()), EntryName);

// ---- dispatch --------------------------------------------------------------------

CpuFeatures ArmWithDot() {
  CpuFeatures f;
  f.neon = f.asimd = f.neon_dot = f.neon_fp16 = true;
  return f;
}

TEST(Q8GemmDispatch, MaskedFeaturesFallBack) {
  KernelTable t;
#if defined(__aarch64__)
  ASSERT_TRUE(BuildKernelTable("", ArmWithDot(), &t).ok());
  EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_8x8c4__neon_dot");
  EXPECT_STREQ(t.f32_gemm.name, "f32_gemm_8x8__aarch64");  // f32 falls back within
  for (const char* off : {"neon_dot", "dotprod"}) {
    ASSERT_TRUE(BuildKernelTable("", MaskCpuFeatures(ArmWithDot(), off), &t).ok());
    EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_4x8__neon") << off;
    // layers without a -128 weight take the SMLAL-pair kernel
    EXPECT_STREQ(t.q8_gemm_w127.name, "q8_gemm_3x8c16__neon_mlal") << off;
  }
  ASSERT_TRUE(BuildKernelTable("", MaskCpuFeatures(ArmWithDot(), "neon,dotprod"), &t).ok());
  EXPECT_EQ(t.isa, "ref");
  EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_4x4__ref");
  ASSERT_TRUE(BuildKernelTable("neon", ArmWithDot(), &t).ok());
  EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_4x8__neon");
  // i8mm: SMMLA for the GEMM, the dot product kernels elsewhere; masked off,
  // back to neon_dot.
  CpuFeatures mm = ArmWithDot();
  mm.i8mm = true;
  ASSERT_TRUE(BuildKernelTable("", mm, &t).ok());
  EXPECT_EQ(t.isa, "neon_i8mm");
  EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_8x8c8__neon_i8mm");
  EXPECT_STREQ(t.q8_dwconv.name, "q8_dwconv_16c__neon_dot");
  for (const char* off : {"i8mm", "neon_i8mm"}) {
    ASSERT_TRUE(BuildKernelTable("", MaskCpuFeatures(mm, off), &t).ok());
    EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_8x8c4__neon_dot") << off;
  }
#elif defined(__ARM_NEON)
  ASSERT_TRUE(BuildKernelTable("", ArmWithDot(), &t).ok());
  EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_4x8__neon");  // armv7: no SDOT kernel
  ASSERT_TRUE(BuildKernelTable("", MaskCpuFeatures(ArmWithDot(), "neon"), &t).ok());
  EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_4x4__ref");
#elif defined(__x86_64__) || defined(_M_X64)
  CpuFeatures f;
  f.avx2 = f.fma = f.f16c = true;
  ASSERT_TRUE(BuildKernelTable("", f, &t).ok());
  EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_3x8c8__avx2");
  ASSERT_TRUE(BuildKernelTable("", MaskCpuFeatures(f, "avx2"), &t).ok());
  EXPECT_EQ(t.isa, "ref");
  EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_4x4__ref");
#endif
  ASSERT_TRUE(BuildKernelTable("ref", &t).ok());
  EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_4x4__ref");
  EXPECT_EQ(SelectedKernels(t).at("f32_gemm"), "ref");
}

// The variant this (possibly emulated) CPU selects, logged and checked
// against its detected features: cortex-a72 -> neon, cortex-a76 -> neon_dot,
// qemu's max (i8mm) -> neon_i8mm.
TEST(Q8GemmDispatch, DetectedCpuSelectsExpectedVariant) {
  const CpuFeatures f = DetectCpuFeatures();
  KernelTable t;
  ASSERT_TRUE(BuildKernelTable("", f, &t).ok());
  std::string features;
  for (const std::string& s : CpuFeatureNames(f)) features += " " + s;
  std::string expected = "q8_gemm_4x4__ref";
#if defined(__aarch64__)
  if (f.asimd) expected = f.neon_dot ? "q8_gemm_8x8c4__neon_dot" : "q8_gemm_4x8__neon";
  if (f.asimd && f.neon_dot && f.i8mm) expected = "q8_gemm_8x8c8__neon_i8mm";
#elif defined(__ARM_NEON)
  if (f.neon) expected = "q8_gemm_4x8__neon";
#elif defined(__x86_64__) || defined(_M_X64)
  if (f.avx2 && f.fma && f.f16c) {
    expected = "q8_gemm_3x8c8__avx2";
    if (f.avx_vnni) expected = "q8_gemm_4x8c4__avxvnni";
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni) {
      expected = "q8_gemm_8x16c4__avx512vnni";
    }
  }
#endif
  std::printf("[ q8 dispatch ] features:%s -> isa %s, q8_gemm %s, f32_gemm %s\n", features.c_str(),
              t.isa.c_str(), t.q8_gemm.name, SelectedKernels(t).at("f32_gemm").c_str());
  RecordProperty("q8_gemm", t.q8_gemm.name);
  EXPECT_EQ(std::string(t.q8_gemm.name), expected);
}

}  // namespace
}  // namespace gearshift
