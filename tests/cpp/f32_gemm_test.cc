// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp32 GEMM microkernels and runtime CPU dispatch. Every f32_gemm.inc entry
// is checked against the exact (double) result and against the reference
// microkernel at M, N, K equal to, multiples of, below and above its tile,
// plus 1 and a prime, with and without bias and clamp; entries the CPU
// cannot run are skipped. The GEMM-backed ops are checked against the
// reference ops (tolerance scaled with K, tests/cpp/tolerances.h) and for
// bit-identical results over 1, 2 and 3 threads; dispatch is checked for
// forced, masked and unknown ISAs; and a small CNN (with a depthwise layer,
// f32_dwconv_test.cc checks those kernels) must give the same
// outputs (within 1e-5 relative) on the reference and the selected path.
#include "kernels/f32_gemm/f32_gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dispatch.h"
#include "gear_builder.h"
#include "ops/conv.h"
#include "ops/fully_connected.h"
#include "ops/transpose_conv.h"
#include "plan/plan.h"
#include "prepare/gear_weights.h"
#include "runtime_impl.h"
#include "thread_pool.h"
#include "tolerances.h"

namespace gearshift {

// The gear's weights, prepared as a Runtime would (test helper).
[[maybe_unused]] static std::shared_ptr<const GearWeights> PreparedWeights(const ModelDesc& model,
                                                                           int gear) {
  std::shared_ptr<const GearWeights> w;
  EXPECT_TRUE(PrepareGearWeights(model, gear, &w).ok());
  return w;
}
namespace {

using testing::F32DotTolerance;

struct Entry {
  Isa isa;
  F32GemmKernel kernel;
};

std::vector<Entry> AllEntries() {
  std::vector<Entry> v;
#define GS_UKERNEL(isa, name, mr, nr) v.push_back({isa, {&name, mr, nr, #name}});
#include "kernels/f32_gemm/f32_gemm.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<float> Random(std::mt19937* rng, int64_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(*rng);
  return v;
}

// C [m, n] (row stride ldc) = A [m, k] * W[n, k]^T + bias, clamped, driving
// `kern` over all tiles the way the ops do. Each row of A is given as `ks`
// taps of k / ks floats (the indirect form a convolution uses).
void DriveGemm(const F32GemmKernel& kern, int64_t m, int64_t n, int64_t k, const float* a,
               const float* w, const float* bias, float lo, float hi, float* c, int64_t ldc,
               int64_t ks = 1) {
  ASSERT_EQ(k % ks, 0);
  const int64_t kc = k / ks;
  const size_t block = F32GemmPackedBlockFloats(static_cast<size_t>(k), kern.nr);
  std::vector<float> packed(((n + kern.nr - 1) / kern.nr) * block);
  PackF32GemmWeights(n, k, kern.nr, w, bias, packed.data());
  std::vector<const float*> ind(static_cast<size_t>(ks * kern.mr));
  for (int64_t r0 = 0; r0 < m; r0 += kern.mr) {
    const int64_t mr = std::min<int64_t>(kern.mr, m - r0);
    for (int64_t t = 0; t < ks; ++t) {
      // Rows past mr repeat the last real one, as the ops fill them.
      for (int64_t i = 0; i < kern.mr; ++i) {
        ind[t * kern.mr + i] = a + (r0 + std::min(i, mr - 1)) * k + t * kc;
      }
    }
    for (int64_t n0 = 0, nb = 0; n0 < n; n0 += kern.nr, ++nb) {
      kern.fn(mr, std::min<int64_t>(kern.nr, n - n0), kc, ks, ind.data(),
              packed.data() + nb * block, c + r0 * ldc + n0, ldc, lo, hi);
    }
  }
}

class F32GemmUkernel : public ::testing::TestWithParam<Entry> {};

TEST_P(F32GemmUkernel, MatchesExactAndReferenceAtTileEdges) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) {
    GTEST_SKIP() << e.kernel.name << ": CPU lacks " << IsaName(e.isa);
  }
  const F32GemmKernel ref = AllEntries()[0].kernel;
  ASSERT_EQ(std::string(ref.name), "f32_gemm_4x4__ref");
  const int64_t mr = e.kernel.mr, nr = e.kernel.nr;
  // 2..5 and the remainders after whole tiles: kernels compute small tiles
  // with fewer rows (AVX-512: bodies of 1, 2, 4 and 8 rows).
  const std::vector<int64_t> ms = {1,  2,      3,      4,          5,          mr - 1,
                                   mr, mr + 1, 2 * mr, 2 * mr + 3, 3 * mr + 1, 7};
  const std::vector<int64_t> ns = {1, nr - 1, nr, nr + 1, 2 * nr, 13};
  const std::vector<int64_t> ks = {1, 2, 3, 8, 16, 17, 64, 131};
  std::mt19937 rng(7);
  const float kInf = std::numeric_limits<float>::infinity();
  int cases = 0;
  for (int64_t m : ms) {
    if (m < 1) continue;
    for (int64_t n : ns) {
      if (n < 1) continue;
      for (int64_t k : ks) {
        for (int variant = 0; variant < 3; ++variant) {
          const bool with_bias = variant != 1;
          const float lo = variant == 2 ? -0.25f : -kInf;
          const float hi = variant == 2 ? 0.5f : kInf;
          const auto a = Random(&rng, m * k);
          const auto w = Random(&rng, n * k);
          const auto b = Random(&rng, n);
          const float* bias = with_bias ? b.data() : nullptr;
          const int64_t ldc = n + 3;  // the gap must stay untouched
          const float kSentinel = 12345.0f;
          // Taps: one of k floats, or several short ones (1 to 8 floats).
          const int64_t ks = variant == 0 ? 1 : k % 8 == 0 ? 8 : k % 3 == 0 ? 3 : k;
          std::vector<float> got(m * ldc, kSentinel), want_ref(m * ldc, kSentinel);
          DriveGemm(e.kernel, m, n, k, a.data(), w.data(), bias, lo, hi, got.data(), ldc, ks);
          DriveGemm(ref, m, n, k, a.data(), w.data(), bias, lo, hi, want_ref.data(), ldc);
          const std::string what = std::string(e.kernel.name) + " m" + std::to_string(m) + " n" +
                                   std::to_string(n) + " k" + std::to_string(k) + " taps " +
                                   std::to_string(ks) + " variant " + std::to_string(variant);
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < ldc; ++j) {
              const float g = got[i * ldc + j];
              if (j >= n) {
                ASSERT_EQ(g, kSentinel) << what << ": wrote past nc at " << i << "," << j;
                continue;
              }
              double exact = with_bias ? b[j] : 0.0, abs_sum = with_bias ? std::fabs(b[j]) : 0.0;
              for (int64_t kk = 0; kk < k; ++kk) {
                const double t = static_cast<double>(a[i * k + kk]) * w[j * k + kk];
                exact += t;
                abs_sum += std::fabs(t);
              }
              exact = std::min<double>(std::max<double>(exact, lo), hi);
              const double tol = F32DotTolerance(k, abs_sum);
              ASSERT_NEAR(g, exact, tol) << what << " at " << i << "," << j;
              ASSERT_NEAR(g, want_ref[i * ldc + j], 2 * tol)
                  << what << " vs ref at " << i << "," << j;
            }
          }
          ++cases;
        }
      }
    }
  }
  EXPECT_GT(cases, 100);
}

TEST_P(F32GemmUkernel, ClampKeepsNaN) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP();
  const int64_t k = 3, n = e.kernel.nr;
  std::vector<float> a = {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f};
  std::vector<float> w(n * k, 1.0f);
  std::vector<float> c(n);
  DriveGemm(e.kernel, 1, n, k, a.data(), w.data(), nullptr, 0.0f, 6.0f, c.data(), n);
  for (float v : c) EXPECT_TRUE(std::isnan(v));
}

std::string EntryName(const ::testing::TestParamInfo<Entry>& info) {
  return info.param.kernel.name;
}

INSTANTIATE_TEST_SUITE_P(All, F32GemmUkernel, ::testing::ValuesIn(AllEntries()), EntryName);

// ---- ops on the GEMM path ----------------------------------------------------

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<float> Pack(const F32GemmKernel& kern, int64_t n, int64_t k, const float* w,
                        const float* bias) {
  std::vector<float> packed(((n + kern.nr - 1) / kern.nr) *
                            F32GemmPackedBlockFloats(static_cast<size_t>(k), kern.nr));
  PackF32GemmWeights(n, k, kern.nr, w, bias, packed.data());
  return packed;
}

// Tolerance of one conv/dense output, from the inputs' magnitudes (inputs
// and weights in [-1, 1], so each product is at most 1 in absolute value).
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, int64_t k,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  const double tol = 2 * F32DotTolerance(k, static_cast<double>(k) + 1);
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol) << what << " at " << i;
  }
}

class F32GemmOps : public ::testing::TestWithParam<Entry> {};

TEST_P(F32GemmOps, ConvMatchesReferenceOpAndIsThreadInvariant) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP();
  std::mt19937 rng(21);
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const float kInf = std::numeric_limits<float>::infinity();
  int gemm_cases = 0;
  for (int iter = 0; iter < 120; ++iter) {
    Conv2DParams p;
    p.batch = ri(1, 2);
    p.in_h = ri(1, 9);
    p.in_w = ri(1, 9);
    // Every tenth: hundreds of input channels (3x3 with more than 303 of
    // them once fell back to the reference loop).
    p.in_c = iter % 10 == 8 ? ri(300, 520) : ri(1, 20);
    p.out_c = ri(1, 37);
    const bool one_by_one = iter % 3 == 0;
    // Every fifteenth: 8x7 (56 taps: the tap pointers and offsets past the op's stack
    // buffers).
    const bool big = iter % 15 == 4;
    p.kernel_h = one_by_one ? 1 : (big ? 8 : ri(1, 3));
    p.kernel_w = one_by_one ? 1 : (big ? 7 : ri(1, 3));
    p.stride_h = ri(1, 2);
    p.stride_w = ri(1, 2);
    p.dilation_h = one_by_one ? 1 : ri(1, 2);
    p.dilation_w = one_by_one ? 1 : ri(1, 2);
    const Padding padding = (iter / 2) % 2 ? Padding::kSame : Padding::kValid;
    if (!ComputeWindow(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, padding, &p.out_h,
                       &p.pad_top) ||
        !ComputeWindow(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, padding, &p.out_w,
                       &p.pad_left)) {
      continue;
    }
    if (iter % 4 == 1) p.act = {0.0f, 6.0f};
    if (iter % 4 == 2) p.act = {-0.5f, kInf};
    const int64_t k = static_cast<int64_t>(p.kernel_h) * p.kernel_w * p.in_c;
    const auto x = Random(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const auto w = Random(&rng, p.out_c * k);
    const auto b = Random(&rng, p.out_c);
    const float* bias = iter % 5 ? b.data() : nullptr;
    ASSERT_TRUE(F32Conv2DGemmSupported(p, e.kernel));
    const auto packed = Pack(e.kernel, p.out_c, k, w.data(), bias);
    const int64_t ny = p.batch * p.out_h * p.out_w * p.out_c;
    std::vector<float> want(ny);
    f32_conv2d__ref(p, x.data(), w.data(), bias, want.data(), nullptr);
    auto run = [&](ThreadPool* pool) {
      std::vector<float> y(ny);
      f32_conv2d__gemm(p, e.kernel, packed.data(), x.data(), y.data(), pool);
      return y;
    };
    ThreadPool p1(1), p2(2, 1), p3(3, 1);
    const auto y1 = run(&p1);
    const std::string what = std::string(e.kernel.name) + " conv iter " + std::to_string(iter);
    ExpectClose(y1, want, k, what);
    EXPECT_TRUE(BitEqual(y1, run(&p2))) << what << ": 2 threads differ";
    EXPECT_TRUE(BitEqual(y1, run(&p3))) << what << ": 3 threads differ";
    EXPECT_TRUE(BitEqual(y1, run(nullptr))) << what << ": no pool differs";
    ++gemm_cases;
  }
  EXPECT_GT(gemm_cases, 60);
}

TEST_P(F32GemmOps, TransposeConvMatchesReferenceOpAndIsThreadInvariant) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP();
  std::mt19937 rng(23);
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 60; ++iter) {
    Conv2DParams p;
    p.batch = ri(1, 2);
    p.in_h = ri(1, 6);
    p.in_w = ri(1, 6);
    p.in_c = ri(1, 19);
    p.out_c = ri(1, 37);
    p.kernel_h = ri(1, 4);
    p.kernel_w = ri(1, 4);
    p.stride_h = ri(1, 3);
    p.stride_w = ri(1, 3);
    const Padding pad = iter % 2 ? Padding::kSame : Padding::kValid;
    p.out_h = pad == Padding::kSame ? p.in_h * p.stride_h : (p.in_h - 1) * p.stride_h + p.kernel_h;
    p.out_w = pad == Padding::kSame ? p.in_w * p.stride_w : (p.in_w - 1) * p.stride_w + p.kernel_w;
    p.pad_top = TransposeConvPadBefore(p.in_h, p.out_h, p.kernel_h, p.stride_h, pad);
    p.pad_left = TransposeConvPadBefore(p.in_w, p.out_w, p.kernel_w, p.stride_w, pad);
    if (iter % 3 == 1) p.act = {0.0f, 6.0f};
    const int64_t k = static_cast<int64_t>(p.kernel_h) * p.kernel_w * p.in_c;
    const auto x = Random(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const auto w = Random(&rng, p.out_c * k);
    const auto b = Random(&rng, p.out_c);
    const float* bias = iter % 4 ? b.data() : nullptr;
    const int64_t ny = p.batch * p.out_h * p.out_w * p.out_c;
    std::vector<float> want(ny);
    f32_transpose_conv2d__ref(p, x.data(), w.data(), bias, want.data(), nullptr);
    // One pack per output phase, of its taps' filter rows.
    std::vector<std::vector<float>> packs;
    std::vector<const float*> phase_packed;
    for (int ry = 0; ry < p.stride_h; ++ry) {
      for (int rx = 0; rx < p.stride_w; ++rx) {
        const std::vector<int> taps = TransposeConvPhaseTaps(p, ry, rx);
        const std::vector<float> sub = TransposeConvPhaseFilter(p, w.data(), taps);
        if (taps.size() == static_cast<size_t>(p.kernel_h) * p.kernel_w) {
          // Every tap (stride 1): the plan packs the filter itself instead.
          EXPECT_EQ(sub, w);
        }
        const int64_t t = static_cast<int64_t>(taps.size());
        packs.push_back(Pack(e.kernel, p.out_c, t * p.in_c, sub.data(), bias));
        phase_packed.push_back(packs.back().data());
      }
    }
    auto run_phased = [&](ThreadPool* pool) {
      std::vector<float> y(ny, 12345.0f);
      f32_transpose_conv2d__phased(p, e.kernel, phase_packed.data(), x.data(), y.data(), pool);
      return y;
    };
    ThreadPool p1(1), p3(3, 1);
    const std::string what = std::string(e.kernel.name) + " tconv iter " + std::to_string(iter);
    const auto yp = run_phased(&p1);
    ExpectClose(yp, want, k, what + " phased");
    EXPECT_TRUE(BitEqual(yp, run_phased(&p3))) << what << ": phased, 3 threads differ";
  }
}

// Stride == kernel (upsampling heads): one GEMM per (input row, filter
// row), N = KW * O, against the reference op.
TEST_P(F32GemmOps, TransposeConvShuffleMatchesReferenceOp) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP();
  std::mt19937 rng(29);
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 40; ++iter) {
    Conv2DParams p;
    p.batch = ri(1, 2);
    p.in_h = ri(1, 5);
    p.in_w = ri(1, 21);
    p.in_c = ri(1, 19);
    p.out_c = iter % 5 == 0 ? ri(17, 40) : ri(1, 6);
    p.kernel_h = p.stride_h = ri(1, 4);
    p.kernel_w = p.stride_w = ri(1, 4);
    p.out_h = p.in_h * p.stride_h;
    p.out_w = p.in_w * p.stride_w;
    ASSERT_TRUE(TransposeConvIsShuffle(p));
    if (iter % 3 == 1) p.act = {0.0f, 6.0f};
    const int64_t k = static_cast<int64_t>(p.kernel_h) * p.kernel_w * p.in_c;
    const auto x = Random(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const auto w = Random(&rng, p.out_c * k);
    const auto b = Random(&rng, p.out_c);
    const float* bias = iter % 4 ? b.data() : nullptr;
    const int64_t ny = p.batch * p.out_h * p.out_w * p.out_c;
    std::vector<float> want(ny);
    f32_transpose_conv2d__ref(p, x.data(), w.data(), bias, want.data(), nullptr);
    const std::vector<float> bias_cols = TransposeConvShuffleColumns(p, b.data());
    std::vector<std::vector<float>> packs;
    std::vector<const float*> row_packed;
    for (int ky = 0; ky < p.kernel_h; ++ky) {
      const std::vector<float> rows = TransposeConvShuffleFilter(p, w.data(), ky);
      packs.push_back(Pack(e.kernel, p.kernel_w * p.out_c, p.in_c, rows.data(),
                           bias != nullptr ? bias_cols.data() : nullptr));
      row_packed.push_back(packs.back().data());
    }
    auto run = [&](ThreadPool* pool) {
      std::vector<float> y(ny, 12345.0f);
      f32_transpose_conv2d__shuffle(p, e.kernel, row_packed.data(), x.data(), y.data(), pool);
      return y;
    };
    ThreadPool p1(1), p3(3, 1);
    const std::string what = std::string(e.kernel.name) + " shuffle iter " + std::to_string(iter);
    const auto y1 = run(&p1);
    ExpectClose(y1, want, p.in_c, what);
    EXPECT_TRUE(BitEqual(y1, run(&p3))) << what << ": 3 threads differ";
  }
}

TEST_P(F32GemmOps, DenseMatchesReferenceOpAndIsThreadInvariant) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP();
  std::mt19937 rng(22);
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 60; ++iter) {
    FullyConnectedParams p;
    p.rows = ri(1, 13);
    p.in_features = ri(1, 70);
    p.out_features = ri(1, 41);
    if (iter % 3 == 1) p.act = {0.0f, std::numeric_limits<float>::infinity()};
    const auto x = Random(&rng, p.rows * p.in_features);
    const auto w = Random(&rng, p.out_features * p.in_features);
    const auto b = Random(&rng, p.out_features);
    const float* bias = iter % 2 ? b.data() : nullptr;
    const auto packed = Pack(e.kernel, p.out_features, p.in_features, w.data(), bias);
    std::vector<float> want(p.rows * p.out_features);
    f32_fully_connected__ref(p, x.data(), w.data(), bias, want.data(), nullptr);
    auto run = [&](ThreadPool* pool) {
      std::vector<float> y(p.rows * p.out_features);
      f32_fully_connected__gemm(p, e.kernel, packed.data(), x.data(), y.data(), pool);
      return y;
    };
    ThreadPool p1(1), p2(2, 1), p3(3, 1);
    const auto y1 = run(&p1);
    const std::string what = std::string(e.kernel.name) + " dense iter " + std::to_string(iter);
    ExpectClose(y1, want, p.in_features, what);
    EXPECT_TRUE(BitEqual(y1, run(&p2))) << what << ": 2 threads differ";
    EXPECT_TRUE(BitEqual(y1, run(&p3))) << what << ": 3 threads differ";
  }
}

INSTANTIATE_TEST_SUITE_P(All, F32GemmOps, ::testing::ValuesIn(AllEntries()), EntryName);

// ---- dispatch ----------------------------------------------------------------

TEST(Dispatch, RefIsAlwaysAvailableAndSelectsReferenceOps) {
  KernelTable t;
  ASSERT_TRUE(BuildKernelTable("ref", &t).ok());
  EXPECT_EQ(t.isa, "ref");
  EXPECT_EQ(t.f32_gemm.fn, nullptr);
  const auto compiled = CompiledIsas();
  ASSERT_FALSE(compiled.empty());
  EXPECT_EQ(compiled[0], "ref");
}

TEST(Dispatch, MaskedFeaturesFallBackToRef) {
  KernelTable t;
  ASSERT_TRUE(BuildKernelTable("", CpuFeatures(), &t).ok());
  EXPECT_EQ(t.isa, "ref");
  const Status s = BuildKernelTable("avx2", CpuFeatures(), &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST(Dispatch, UnknownIsaListsAvailableOnes) {
  KernelTable t;
  const Status s = BuildKernelTable("sse9", &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("available: "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("ref"), std::string::npos) << s.message();
}

TEST(Dispatch, BestPicksTheWidestSupportedIsa) {
  CpuFeatures f;
  f.avx2 = f.fma = f.f16c = true;
  f.neon = f.asimd = true;
  KernelTable t;
  ASSERT_TRUE(BuildKernelTable("", f, &t).ok());
#if defined(__x86_64__) || defined(_M_X64)
  EXPECT_EQ(t.isa, "avx2");
  EXPECT_STREQ(t.f32_gemm.name, "f32_gemm_6x16__avx2");
  EXPECT_EQ(t.f32_gemm_n16.fn, nullptr);  // 16 wide already
  // AVX-512 F/BW/VL without VNNI (Skylake-X): the AVX-512 fp32 kernels, and
  // the AVX2 int8 ones within it; layers of at most 16 columns take 12x16.
  f.avx512f = f.avx512bw = f.avx512vl = true;
  ASSERT_TRUE(BuildKernelTable("", f, &t).ok());
  EXPECT_EQ(t.isa, "avx512");
  EXPECT_STREQ(t.f32_gemm.name, "f32_gemm_8x32__avx512");
  EXPECT_STREQ(t.f32_gemm_n16.name, "f32_gemm_12x16__avx512");
  EXPECT_STREQ(t.q8_gemm.name, "q8_gemm_3x8c8__avx2");
  // int8 lookups on AVX-512 need VBMI besides the avx512vnni token.
  f.avx512_vnni = true;
  ASSERT_TRUE(BuildKernelTable("", f, &t).ok());
  EXPECT_EQ(t.isa, "avx512vnni");
  EXPECT_STREQ(t.q8_lut.name, "q8_lut_1x__ref");
  f.avx512_vbmi = true;
  ASSERT_TRUE(BuildKernelTable("", f, &t).ok());
  EXPECT_STREQ(t.q8_lut.name, "q8_lut_64x__avx512vbmi");
  ASSERT_TRUE(BuildKernelTable("", MaskCpuFeatures(f, "vbmi"), &t).ok());
  EXPECT_STREQ(t.q8_lut.name, "q8_lut_1x__ref");
#elif defined(__aarch64__)
  EXPECT_EQ(t.isa, "neon");
  EXPECT_STREQ(t.f32_gemm.name, "f32_gemm_8x8__aarch64");
#elif defined(__ARM_NEON)
  EXPECT_EQ(t.isa, "neon");
  EXPECT_STREQ(t.f32_gemm.name, "f32_gemm_4x8__neon");
#else
  EXPECT_EQ(t.isa, "ref");
#endif
}

// ---- whole model: reference path vs the selected one ----------------------------

std::unique_ptr<Runtime> OpenSmallCnn(const std::vector<uint8_t>& bytes, const std::string& isa,
                                      int threads) {
  std::unique_ptr<GearFile> file;
  EXPECT_TRUE(GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file).ok());
  RuntimeOptions options;
  options.isa = isa;
  options.threads = threads;
  std::unique_ptr<Runtime> rt;
  const Status s = CreateRuntime(std::move(file), options, &rt);
  EXPECT_TRUE(s.ok()) << s.message();
  return rt;
}

std::vector<uint8_t> SmallCnn() {
  std::mt19937 rng(5);
  testing::GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 10, 10, 3});
  const int w1 = b.AddConst("c1/w", {20, 3, 3, 3}, Random(&rng, 20 * 27));
  const int b1 = b.AddConst("c1/b", {20}, Random(&rng, 20));
  const int w2 = b.AddConst("c2/w", {24, 1, 1, 20}, Random(&rng, 24 * 20));
  const int b2 = b.AddConst("c2/b", {24}, Random(&rng, 24));
  const int wd = b.AddConst("dw/w", {1, 3, 3, 24}, Random(&rng, 9 * 24));
  const int bd = b.AddConst("dw/b", {24}, Random(&rng, 24));
  const int w3 = b.AddConst("fc/w", {10, 5 * 5 * 24}, Random(&rng, 10 * 600));
  const int b3 = b.AddConst("fc/b", {10}, Random(&rng, 10));
  const int c1 = b.AddTensor("c1", {-1, 5, 5, 20});
  const int c2 = b.AddTensor("c2", {-1, 5, 5, 24});
  const int dw = b.AddTensor("dw", {-1, 5, 5, 24});
  const int fl = b.AddTensor("flat", {-1, 600});
  const int y = b.AddTensor("y", {-1, 10});
  b.AddNode("c1", "CONV_2D", {x, w1, b1}, {c1},
            R"({"stride":[2,2],"dilation":[1,1],"padding":"SAME","activation":"RELU6"})");
  b.AddNode("c2", "CONV_2D", {c1, w2, b2}, {c2},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"VALID","activation":"RELU"})");
  b.AddNode("dw", "DEPTHWISE_CONV_2D", {c2, wd, bd}, {dw},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":1,)"
            R"("activation":"RELU6"})");
  b.AddNode("flat", "RESHAPE", {dw}, {fl}, R"({"shape":[-1]})");
  b.AddNode("fc", "FULLY_CONNECTED", {fl, w3, b3}, {y}, R"({"activation":"NONE"})");
  b.AddOutput(y);
  return b.Build();
}

TEST(DispatchRuntime, SmallCnnSameOnReferenceAndSelectedPath) {
  std::mt19937 rng(6);
  const auto bytes = SmallCnn();
  const int64_t batch = 3;
  const auto in = Random(&rng, batch * 300);
  auto run = [&](const std::string& isa, int threads, std::string* selected) {
    auto rt = OpenSmallCnn(bytes, isa, threads);
    std::vector<float> out(batch * 10);
    if (rt == nullptr) return out;
    *selected = rt->isa();
    EXPECT_TRUE(rt->Prepare({{batch, 10, 10, 3}}).ok());
    const void* ins[] = {in.data()};
    void* outs[] = {out.data()};
    const Status s = rt->Run(ins, outs);
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  };
  std::string isa_ref, isa_best, isa_best3;
  const auto y_ref = run("ref", 1, &isa_ref);
  const auto y_best = run("", 1, &isa_best);
  const auto y_best3 = run("", 3, &isa_best3);
  EXPECT_EQ(isa_ref, "ref");
  KernelTable best;
  ASSERT_TRUE(BuildKernelTable("", &best).ok());
  EXPECT_EQ(isa_best, best.isa);
  EXPECT_TRUE(BitEqual(y_best, y_best3)) << "threads changed the " << isa_best << " result";
  for (size_t i = 0; i < y_ref.size(); ++i) {
    EXPECT_NEAR(y_best[i], y_ref[i], testing::kF32ModelRelTolerance * (1 + std::fabs(y_ref[i])))
        << "output " << i << " on " << isa_best;
  }
}

TEST(DispatchRuntime, PlansOfOneCacheSharePackedWeights) {
  KernelTable best;
  ASSERT_TRUE(BuildKernelTable("", &best).ok());
  if (best.f32_gemm.fn == nullptr) GTEST_SKIP() << "no GEMM kernel on this CPU";
  const auto bytes = SmallCnn();
  std::unique_ptr<GearFile> file;
  ASSERT_TRUE(GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file).ok());
  PlanCache cache(4, best);
  Plan* a = nullptr;
  Plan* b = nullptr;
  ASSERT_TRUE(
      cache.Get(file->model(), PreparedWeights(file->model(), 0), {{1, 10, 10, 3}}, &a).ok());
  ASSERT_TRUE(
      cache.Get(file->model(), PreparedWeights(file->model(), 0), {{2, 10, 10, 3}}, &b).ok());
  ASSERT_NE(a, b);
  EXPECT_GT(a->packed_bytes(), 0);
  int packed_steps = 0;
  for (size_t i = 0; i < a->steps().size(); ++i) {
    EXPECT_EQ(a->steps()[i].packed(), b->steps()[i].packed()) << "step " << i;
    packed_steps += a->steps()[i].packed() != nullptr;
  }
  EXPECT_EQ(packed_steps, 3);  // two convs and the dense layer
  // The reference table packs nothing.
  PlanCache ref_cache;
  Plan* r = nullptr;
  ASSERT_TRUE(
      ref_cache.Get(file->model(), PreparedWeights(file->model(), 0), {{1, 10, 10, 3}}, &r).ok());
  EXPECT_EQ(r->packed_bytes(), 0);
}

TEST(DispatchRuntime, UnavailableIsaIsRefusedAtOpen) {
  testing::GearModelBuilder b;
  const int x = b.AddInput("x", {1, 4});
  const int y = b.AddTensor("y", {1, 4});
  b.AddNode("relu", "RELU", {x}, {y}, "{}");
  b.AddOutput(y);
  const auto bytes = b.Build();
  std::unique_ptr<GearFile> file;
  ASSERT_TRUE(GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file).ok());
  RuntimeOptions options;
  // An ISA this binary/CPU cannot run (neon_dot is real on a Cortex-A76).
#if defined(__x86_64__) || defined(_M_X64)
  options.isa = "neon_dot";
#else
  options.isa = "avx2";
#endif
  std::unique_ptr<Runtime> rt;
  const Status s = CreateRuntime(std::move(file), options, &rt);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("available: "), std::string::npos) << s.message();
}

}  // namespace
}  // namespace gearshift
