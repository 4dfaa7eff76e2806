// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The fp16 gear's fp16-weight kernels (f16w_gemm.inc, f16w_dwconv.inc).
// Widening a half to fp32 is exact, and each f16w kernel keeps the tile and
// the FMA order of the f32 kernel of its ISA, so the oracle is bit equality:
// every f16w entry against the f32 entry of the same ISA and tile on the
// widened weights, at sizes that do not fit the tiles; the ops built on them
// (convolution 1x1..7x7 with strides, dilation and padding, dense,
// depthwise) against the f32 ops, over 1 and 3 threads; and whole models:
// the fp16 gear on every ISA this CPU runs equals the fp32 gear over the
// same weights rounded to half (what the fp16 gear computed before its
// weights stayed 16-bit), with under 0.55x the fp32 gear's prepared bytes,
// and packed from compact (q8r4) storage.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dispatch.h"
#include "gear_builder.h"
#include "gearshift/gearshift.h"
#include "kernels/f16w_dwconv/f16w_dwconv.h"
#include "kernels/f16w_gemm/f16w_gemm.h"
#include "kernels/f32_dwconv/f32_dwconv.h"
#include "kernels/f32_gemm/f32_gemm.h"
#include "ops/conv.h"
#include "ops/fully_connected.h"
#include "prepare/gear_weights.h"
#include "runtime_impl.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

// ---- kernel lists ------------------------------------------------------------

struct GemmPair {
  Isa isa;
  F16wGemmKernel f16w;
  F32GemmKernel f32;  // the f32 kernel of the same ISA and tile
};

std::vector<GemmPair> GemmPairs() {
  std::vector<std::pair<Isa, F32GemmKernel>> f32;
#define GS_UKERNEL(isa, name, mr, nr) f32.push_back({isa, {&name, mr, nr, #name}});
#include "kernels/f32_gemm/f32_gemm.inc"
#undef GS_UKERNEL
  std::vector<GemmPair> v;
#define GS_UKERNEL(isa, name, kmr, knr)                               \
  for (const auto& e : f32) {                                         \
    if (e.first == isa && e.second.mr == kmr && e.second.nr == knr) { \
      v.push_back({isa, {&name, kmr, knr, #name}, e.second});         \
    }                                                                 \
  }
#include "kernels/f16w_gemm/f16w_gemm.inc"
#undef GS_UKERNEL
  return v;
}

struct DwconvPair {
  Isa isa;
  F16wDwconvUkernelFn f16w;
  F32DwconvUkernelFn f32;
  int channel_tile;
  const char* name;
};

std::vector<DwconvPair> DwconvPairs() {
  std::vector<std::pair<Isa, F32DwconvUkernelFn>> f32;
  std::vector<int> tiles;
#define GS_UKERNEL(isa, name, mr, nr) \
  f32.push_back({isa, &name});        \
  tiles.push_back(nr);
#include "kernels/f32_dwconv/f32_dwconv.inc"
#undef GS_UKERNEL
  std::vector<DwconvPair> v;
#define GS_UKERNEL(isa, name, mr, nr)                      \
  for (size_t i = 0; i < f32.size(); ++i) {                \
    if (f32[i].first == isa && tiles[i] == nr) {           \
      v.push_back({isa, &name, f32[i].second, nr, #name}); \
    }                                                      \
  }
#include "kernels/f16w_dwconv/f16w_dwconv.inc"
#undef GS_UKERNEL
  return v;
}

TEST(F16wKernels, EveryEntryHasAnF32TwinOfItsIsaAndTile) {
  size_t gemm = 0, dw = 0;
#define GS_UKERNEL(isa, name, mr, nr) ++gemm;
#include "kernels/f16w_gemm/f16w_gemm.inc"
#undef GS_UKERNEL
#define GS_UKERNEL(isa, name, mr, nr) ++dw;
#include "kernels/f16w_dwconv/f16w_dwconv.inc"
#undef GS_UKERNEL
  EXPECT_EQ(GemmPairs().size(), gemm);
  EXPECT_EQ(DwconvPairs().size(), dw);
}

// Random values in [-1, 1] as half bits, and the same widened.
struct Halves {
  std::vector<uint16_t> bits;
  std::vector<float> wide;
};

Halves RandomHalves(std::mt19937* rng, int64_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  Halves h;
  h.bits.resize(static_cast<size_t>(n));
  h.wide.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < h.bits.size(); ++i) {
    h.bits[i] = F32ToF16Bits(d(*rng));
    h.wide[i] = F16BitsToF32(h.bits[i]);
  }
  return h;
}

std::vector<float> Random(std::mt19937* rng, int64_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(*rng);
  return v;
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<uint8_t> PackF16w(const F16wGemmKernel& k, int64_t n, int64_t kdim, const uint16_t* w,
                              const float* bias) {
  const size_t nr = static_cast<size_t>(k.nr);
  // One spare float of slack in front would misalign; the vector's own
  // alignment (at least 8 bytes) keeps the bias floats aligned as in a plan.
  std::vector<uint8_t> packed((static_cast<size_t>(n) + nr - 1) / nr *
                              F16wGemmPackedBlockBytes(static_cast<size_t>(kdim), nr));
  PackF16wGemmWeights(static_cast<size_t>(n), static_cast<size_t>(kdim), nr, w, bias,
                      packed.data());
  return packed;
}

std::vector<float> PackF32(const F32GemmKernel& k, int64_t n, int64_t kdim, const float* w,
                           const float* bias) {
  std::vector<float> packed((n + k.nr - 1) / k.nr *
                            F32GemmPackedBlockFloats(static_cast<size_t>(kdim), k.nr));
  PackF32GemmWeights(static_cast<size_t>(n), static_cast<size_t>(kdim), k.nr, w, bias,
                     packed.data());
  return packed;
}

std::string GemmName(const ::testing::TestParamInfo<GemmPair>& info) {
  return info.param.f16w.name;
}

std::string DwName(const ::testing::TestParamInfo<DwconvPair>& info) { return info.param.name; }

// ---- GEMM microkernels ---------------------------------------------------------

class F16wGemmUkernel : public ::testing::TestWithParam<GemmPair> {};

TEST_P(F16wGemmUkernel, BitEqualsTheF32KernelOnWidenedWeights) {
  const GemmPair& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP() << "CPU lacks " << IsaName(e.isa);
  const int64_t mr = e.f16w.mr, nr = e.f16w.nr;
  const float kInf = std::numeric_limits<float>::infinity();
  std::mt19937 rng(31);
  int cases = 0;
  for (int64_t m :
       {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4}, mr - 1, mr, mr + 1, 2 * mr + 3}) {
    if (m < 1) continue;
    for (int64_t n : {int64_t{1}, nr - 1, nr, nr + 1, 2 * nr + 5}) {
      if (n < 1) continue;
      for (int64_t k : {1, 3, 8, 17, 64, 131}) {
        for (int variant = 0; variant < 3; ++variant) {
          const int64_t ks = variant == 0 ? 1 : k % 8 == 0 ? 8 : k % 3 == 0 ? 3 : k;
          const int64_t kc = k / ks;
          const auto a = Random(&rng, m * k);
          const Halves w = RandomHalves(&rng, n * k);
          const auto b = Random(&rng, n);
          const float* bias = variant != 1 ? b.data() : nullptr;
          const float lo = variant == 2 ? -0.25f : -kInf, hi = variant == 2 ? 0.5f : kInf;
          const auto p16 = PackF16w(e.f16w, n, k, w.bits.data(), bias);
          const auto p32 = PackF32(e.f32, n, k, w.wide.data(), bias);
          const size_t block16 = F16wGemmPackedBlockBytes(static_cast<size_t>(k), nr);
          const size_t block32 = F32GemmPackedBlockFloats(static_cast<size_t>(k), nr);
          const int64_t ldc = n + 3;
          std::vector<float> got(m * ldc, 7.0f), want(m * ldc, 7.0f);
          std::vector<const float*> ind(static_cast<size_t>(ks * mr));
          for (int64_t r0 = 0; r0 < m; r0 += mr) {
            const int64_t mm = std::min(mr, m - r0);
            for (int64_t t = 0; t < ks; ++t) {
              for (int64_t i = 0; i < mr; ++i) {
                ind[t * mr + i] = a.data() + (r0 + std::min(i, mm - 1)) * k + t * kc;
              }
            }
            for (int64_t n0 = 0, nb = 0; n0 < n; n0 += nr, ++nb) {
              const size_t nc = static_cast<size_t>(std::min(nr, n - n0));
              e.f16w.fn(mm, nc, kc, ks, ind.data(), p16.data() + nb * block16,
                        got.data() + r0 * ldc + n0, ldc, lo, hi);
              e.f32.fn(mm, nc, kc, ks, ind.data(), p32.data() + nb * block32,
                       want.data() + r0 * ldc + n0, ldc, lo, hi);
            }
          }
          ASSERT_TRUE(BitEqual(got, want)) << e.f16w.name << " m" << m << " n" << n << " k" << k
                                           << " taps " << ks << " variant " << variant;
          ++cases;
        }
      }
    }
  }
  EXPECT_GT(cases, 100);
}

INSTANTIATE_TEST_SUITE_P(All, F16wGemmUkernel, ::testing::ValuesIn(GemmPairs()), GemmName);

// ---- depthwise microkernels ----------------------------------------------------

class F16wDwconvUkernel : public ::testing::TestWithParam<DwconvPair> {};

TEST_P(F16wDwconvUkernel, BitEqualsTheF32KernelOnWidenedWeights) {
  const DwconvPair& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP() << "CPU lacks " << IsaName(e.isa);
  const int64_t ct = e.channel_tile;
  std::mt19937 rng(32);
  for (int64_t c : {int64_t{1}, ct - 1, ct, ct + 1, 2 * ct, 3 * ct + 5, int64_t{67}, int64_t{128},
                    int64_t{261}}) {
    if (c < 1) continue;
    for (int64_t taps : {0, 1, 4, 6, 9, 25, 49}) {
      for (int variant = 0; variant < 3; ++variant) {
        std::vector<std::vector<float>> in;
        std::vector<Halves> w;
        std::vector<const float*> ip, wp32;
        std::vector<const uint16_t*> wp16;
        for (int64_t t = 0; t < taps; ++t) {
          in.push_back(Random(&rng, c));
          w.push_back(RandomHalves(&rng, c));
        }
        for (int64_t t = 0; t < taps; ++t) {
          ip.push_back(in[t].data());
          wp32.push_back(w[t].wide.data());
          wp16.push_back(w[t].bits.data());
        }
        const auto b = Random(&rng, c);
        const float* bias = variant != 1 ? b.data() : nullptr;
        const float lo = variant == 2 ? -0.25f : -std::numeric_limits<float>::infinity();
        const float hi = variant == 2 ? 0.5f : std::numeric_limits<float>::infinity();
        std::vector<float> got(c + 2, 7.0f), want(c + 2, 7.0f);
        e.f16w(c, taps, ip.data(), wp16.data(), bias, got.data(), lo, hi);
        e.f32(c, taps, ip.data(), wp32.data(), bias, want.data(), lo, hi);
        ASSERT_TRUE(BitEqual(got, want))
            << e.name << " channels " << c << " taps " << taps << " variant " << variant;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, F16wDwconvUkernel, ::testing::ValuesIn(DwconvPairs()), DwName);

// ---- ops -----------------------------------------------------------------------

class F16wGemmOps : public ::testing::TestWithParam<GemmPair> {};

TEST_P(F16wGemmOps, ConvBitEqualsF32ConvOnWidenedWeights) {
  const GemmPair& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP();
  std::mt19937 rng(33);
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int cases = 0;
  for (int iter = 0; iter < 90; ++iter) {
    Conv2DParams p;
    p.batch = ri(1, 2);
    p.in_h = ri(1, 11);
    p.in_w = ri(1, 11);
    p.in_c = iter % 15 == 7 ? ri(300, 400) : ri(1, 20);
    p.out_c = ri(1, 45);
    const int kernel = iter % 7 + 1;  // 1x1 .. 7x7, and some non-square
    p.kernel_h = kernel;
    p.kernel_w = iter % 5 == 3 ? ri(1, 3) : kernel;
    p.stride_h = ri(1, 2);
    p.stride_w = ri(1, 3);
    p.dilation_h = kernel > 1 && iter % 4 == 2 ? 2 : 1;
    p.dilation_w = kernel > 1 && iter % 3 == 2 ? 2 : 1;
    const Padding padding = iter % 2 ? Padding::kSame : Padding::kValid;
    if (!ComputeWindow(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, padding, &p.out_h,
                       &p.pad_top) ||
        !ComputeWindow(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, padding, &p.out_w,
                       &p.pad_left)) {
      continue;
    }
    if (iter % 4 == 1) p.act = {0.0f, 6.0f};
    const int64_t k = int64_t{p.kernel_h} * p.kernel_w * p.in_c;
    const auto x = Random(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const Halves w = RandomHalves(&rng, p.out_c * k);
    const auto b = Random(&rng, p.out_c);
    const float* bias = iter % 5 ? b.data() : nullptr;
    const auto p16 = PackF16w(e.f16w, p.out_c, k, w.bits.data(), bias);
    const auto p32 = PackF32(e.f32, p.out_c, k, w.wide.data(), bias);
    const int64_t ny = p.batch * p.out_h * p.out_w * p.out_c;
    std::vector<float> want(ny), got1(ny), got3(ny);
    ThreadPool pool1(1), pool3(3, 1);
    f32_conv2d__gemm(p, e.f32, p32.data(), x.data(), want.data(), &pool1);
    f16w_conv2d__gemm(p, e.f16w, p16.data(), x.data(), got1.data(), &pool1);
    f16w_conv2d__gemm(p, e.f16w, p16.data(), x.data(), got3.data(), &pool3);
    const std::string what = std::string(e.f16w.name) + " conv " + std::to_string(p.kernel_h) +
                             "x" + std::to_string(p.kernel_w) + " iter " + std::to_string(iter);
    ASSERT_TRUE(BitEqual(got1, want)) << what;
    ASSERT_TRUE(BitEqual(got3, want)) << what << ", 3 threads";
    ++cases;
  }
  EXPECT_GT(cases, 50);
}

TEST_P(F16wGemmOps, DenseBitEqualsF32DenseOnWidenedWeights) {
  const GemmPair& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP();
  std::mt19937 rng(34);
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 40; ++iter) {
    FullyConnectedParams p;
    p.rows = ri(1, 13);
    p.in_features = ri(1, 300);
    p.out_features = ri(1, 70);
    if (iter % 3 == 1) p.act = {0.0f, std::numeric_limits<float>::infinity()};
    const auto x = Random(&rng, p.rows * p.in_features);
    const Halves w = RandomHalves(&rng, p.out_features * p.in_features);
    const auto b = Random(&rng, p.out_features);
    const float* bias = iter % 2 ? b.data() : nullptr;
    const auto p16 = PackF16w(e.f16w, p.out_features, p.in_features, w.bits.data(), bias);
    const auto p32 = PackF32(e.f32, p.out_features, p.in_features, w.wide.data(), bias);
    std::vector<float> want(p.rows * p.out_features), got(want.size()), got3(want.size());
    ThreadPool pool3(3, 1);
    f32_fully_connected__gemm(p, e.f32, p32.data(), x.data(), want.data(), nullptr);
    f16w_fully_connected__gemm(p, e.f16w, p16.data(), x.data(), got.data(), nullptr);
    f16w_fully_connected__gemm(p, e.f16w, p16.data(), x.data(), got3.data(), &pool3);
    ASSERT_TRUE(BitEqual(got, want)) << e.f16w.name << " dense iter " << iter;
    ASSERT_TRUE(BitEqual(got3, want)) << e.f16w.name << " dense iter " << iter << ", 3 threads";
  }
}

INSTANTIATE_TEST_SUITE_P(All, F16wGemmOps, ::testing::ValuesIn(GemmPairs()), GemmName);

class F16wDwconvOps : public ::testing::TestWithParam<DwconvPair> {};

TEST_P(F16wDwconvOps, DepthwiseBitEqualsF32DepthwiseOnWidenedWeights) {
  const DwconvPair& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP();
  std::mt19937 rng(35);
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int cases = 0;
  for (int iter = 0; iter < 70; ++iter) {
    Conv2DParams p;
    p.batch = ri(1, 2);
    p.in_h = ri(1, 12);
    p.in_w = ri(1, 12);
    p.in_c = p.out_c = ri(1, 70);
    const int kernel = iter % 7 + 1;
    p.kernel_h = kernel;
    p.kernel_w = iter % 5 == 4 ? ri(1, 3) : kernel;
    p.stride_h = ri(1, 2);
    p.stride_w = ri(1, 2);
    p.dilation_h = kernel > 1 && iter % 4 == 3 ? 2 : 1;
    p.dilation_w = kernel > 1 && iter % 3 == 1 ? 2 : 1;
    const Padding padding = iter % 2 ? Padding::kSame : Padding::kValid;
    if (!ComputeWindow(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, padding, &p.out_h,
                       &p.pad_top) ||
        !ComputeWindow(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, padding, &p.out_w,
                       &p.pad_left)) {
      continue;
    }
    if (iter % 4 == 1) p.act = {0.0f, 6.0f};
    ASSERT_TRUE(F32DepthwiseDwconvSupported(p));
    const auto x = Random(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const Halves w = RandomHalves(&rng, int64_t{p.kernel_h} * p.kernel_w * p.in_c);
    const auto b = Random(&rng, p.out_c);
    const float* bias = iter % 5 ? b.data() : nullptr;
    const int64_t ny = p.batch * p.out_h * p.out_w * p.out_c;
    std::vector<float> want(ny), got1(ny), got3(ny);
    ThreadPool pool1(1), pool3(3, 1);
    f32_depthwise_conv2d__dwconv(p, e.f32, x.data(), w.wide.data(), bias, want.data(), &pool1);
    f16w_depthwise_conv2d__dwconv(p, e.f16w, x.data(), w.bits.data(), bias, got1.data(), &pool1);
    f16w_depthwise_conv2d__dwconv(p, e.f16w, x.data(), w.bits.data(), bias, got3.data(), &pool3);
    const std::string what = std::string(e.name) + " depthwise " + std::to_string(p.kernel_h) +
                             "x" + std::to_string(p.kernel_w) + " iter " + std::to_string(iter);
    ASSERT_TRUE(BitEqual(got1, want)) << what;
    ASSERT_TRUE(BitEqual(got3, want)) << what << ", 3 threads";
    ++cases;
  }
  EXPECT_GT(cases, 40);
}

INSTANTIATE_TEST_SUITE_P(All, F16wDwconvOps, ::testing::ValuesIn(DwconvPairs()), DwName);

// ---- dispatch ------------------------------------------------------------------

TEST(F16wDispatch, PairsTheF32TileOnEveryIsaAndKeepsRef) {
  const CpuFeatures f = DetectCpuFeaturesMasked();
  for (const std::string& isa : CompiledIsas()) {
    KernelTable t;
    if (!BuildKernelTable(isa, f, &t).ok()) continue;  // the CPU lacks it
    ASSERT_NE(t.f16w_gemm.fn, nullptr) << isa;
    ASSERT_NE(t.f16w_dwconv, nullptr) << isa;
    if (t.f32_gemm.fn != nullptr) {
      EXPECT_EQ(t.f16w_gemm.mr, t.f32_gemm.mr) << isa;
      EXPECT_EQ(t.f16w_gemm.nr, t.f32_gemm.nr) << isa;
    } else {
      EXPECT_STREQ(t.f16w_gemm.name, "f16w_gemm_4x4__ref") << isa;
    }
  }
}

// ---- whole models ----------------------------------------------------------------

using testing::GearModelBuilder;

// x [1,15,13,5] -> CONV 1x1 (16) -> CONV 3x3/2 SAME RELU6 (24) -> DEPTHWISE
// 3x3 SAME -> DEPTHWISE 5x5 dilation 2 SAME -> DEPTHWISE 3x3 multiplier 2
// VALID (the reference op: widened weights) -> CONV 7x7 SAME (40) -> MEAN
// -> FULLY_CONNECTED 40->37. Gears "fp32" and "fp16" over the same f32
// payloads; `round` stores them already rounded to half.
GearModelBuilder ShapesNet(bool round) {
  std::mt19937 rng(41);
  std::uniform_real_distribution<float> d(-0.5f, 0.5f);
  auto values = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = round ? RoundToF16(d(rng)) : d(rng);
    return v;
  };
  GearModelBuilder b;
  const int x = b.AddInput("x", {1, 15, 13, 5});
  const int w1 = b.AddConst("c1/w", {16, 1, 1, 5}, values(16 * 5));
  const int b1 = b.AddConst("c1/b", {16}, values(16));
  const int w2 = b.AddConst("c2/w", {24, 3, 3, 16}, values(24 * 9 * 16));
  const int b2 = b.AddConst("c2/b", {24}, values(24));
  const int d1 = b.AddConst("d1/w", {1, 3, 3, 24}, values(9 * 24));
  const int db1 = b.AddConst("d1/b", {24}, values(24));
  const int d2 = b.AddConst("d2/w", {1, 5, 5, 24}, values(25 * 24));
  const int d3 = b.AddConst("d3/w", {1, 3, 3, 48}, values(9 * 48));
  const int w4 = b.AddConst("c4/w", {40, 7, 7, 48}, values(40 * 49 * 48));
  const int fw = b.AddConst("fc/w", {37, 40}, values(37 * 40));
  const int fb = b.AddConst("fc/b", {37}, values(37));
  const int t1 = b.AddTensor("c1", {1, 15, 13, 16});
  const int t2 = b.AddTensor("c2", {1, 8, 7, 24});
  const int t3 = b.AddTensor("d1", {1, 8, 7, 24});
  const int t4 = b.AddTensor("d2", {1, 8, 7, 24});
  const int t5 = b.AddTensor("d3", {1, 6, 5, 48});
  const int t6 = b.AddTensor("c4", {1, 6, 5, 40});
  const int t7 = b.AddTensor("mean", {1, 40});
  const int y = b.AddTensor("y", {1, 37});
  b.AddNode("c1", "CONV_2D", {x, w1, b1}, {t1},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"VALID"})");
  b.AddNode("c2", "CONV_2D", {t1, w2, b2}, {t2},
            R"({"stride":[2,2],"dilation":[1,1],"padding":"SAME","activation":"RELU6"})");
  b.AddNode("d1", "DEPTHWISE_CONV_2D", {t2, d1, db1}, {t3},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":1})");
  b.AddNode("d2", "DEPTHWISE_CONV_2D", {t3, d2, -1}, {t4},
            R"({"stride":[1,1],"dilation":[2,2],"padding":"SAME","depth_multiplier":1})");
  b.AddNode("d3", "DEPTHWISE_CONV_2D", {t4, d3, -1}, {t5},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"VALID","depth_multiplier":2})");
  b.AddNode("c4", "CONV_2D", {t5, w4, -1}, {t6},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME"})");
  b.AddNode("mean", "MEAN", {t6}, {t7}, R"({"axes":[1,2],"keep_dims":false})");
  b.AddNode("fc", "FULLY_CONNECTED", {t7, fw, fb}, {y}, "{}");
  b.AddOutput(y);
  b.AddGear("fp32", "f32", b.default_constants());
  b.AddGear("fp16", "f16", b.default_constants());
  return b;
}

std::unique_ptr<Runtime> OpenBytes(const std::vector<uint8_t>& bytes, const RuntimeOptions& o) {
  std::unique_ptr<GearFile> file;
  Status s = GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return nullptr;
  std::unique_ptr<Runtime> rt;
  s = CreateRuntime(std::move(file), o, &rt);
  EXPECT_TRUE(s.ok()) << s.message();
  return rt;
}

std::vector<float> RunModel(Runtime* rt, const std::vector<float>& x) {
  std::vector<float> y(37, -1.0f);
  const void* in[] = {x.data()};
  void* out[] = {y.data()};
  const Status s = rt->Run(in, out);
  EXPECT_TRUE(s.ok()) << s.message();
  return y;
}

// The whole-model tests below check the widening kernels bit for bit, so
// they mask fp16 arithmetic (a Runtime reads GEARSHIFT_DISABLE when it is
// created); f16_kernels_test.cc covers the fp16-arithmetic gear.
class ScopedNoHalfArithmetic {
 public:
  ScopedNoHalfArithmetic() {
    const char* old = std::getenv("GEARSHIFT_DISABLE");
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv("GEARSHIFT_DISABLE", (had_ ? old_ + ",neon_fp16" : std::string("neon_fp16")).c_str(), 1);
  }
  ~ScopedNoHalfArithmetic() {
    if (had_) {
      setenv("GEARSHIFT_DISABLE", old_.c_str(), 1);
    } else {
      unsetenv("GEARSHIFT_DISABLE");
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

TEST(F16wModel, Fp16GearEqualsFp32OverRoundedWeightsOnEveryIsa) {
  const ScopedNoHalfArithmetic no_half;
  std::mt19937 rng(42);
  const std::vector<float> x = Random(&rng, 15 * 13 * 5);
  const std::vector<uint8_t> rounded = ShapesNet(true).Build();
  const std::vector<uint8_t> raw = ShapesNet(false).Build();
  const CpuFeatures f = DetectCpuFeaturesMasked();
  int isas = 0;
  for (const std::string& isa : CompiledIsas()) {
    KernelTable t;
    if (!BuildKernelTable(isa, f, &t).ok()) continue;
    RuntimeOptions o;
    o.isa = isa;
    for (int threads : {1, 3}) {
      o.threads = threads;
      auto want_rt = OpenBytes(rounded, o);
      auto rt = OpenBytes(raw, o);
      ASSERT_NE(want_rt, nullptr);
      ASSERT_NE(rt, nullptr);
      const std::vector<float> want = RunModel(want_rt.get(), x);  // fp32 gear, rounded weights
      const int64_t fp32_bytes = rt->prepared_bytes();
      const std::vector<float> y32 = RunModel(rt.get(), x);
      const int64_t fp32_prepared = rt->prepared_bytes() - fp32_bytes;
      ASSERT_TRUE(rt->SetGear("fp16").ok());
      const std::vector<float> y16 = RunModel(rt.get(), x);
      const int64_t fp16_prepared = rt->prepared_bytes() - fp32_prepared;
      EXPECT_TRUE(BitEqual(y16, want)) << isa << ", " << threads << " threads";
      EXPECT_FALSE(BitEqual(y16, y32)) << isa;  // the gears really differ
      // fp32 packs its conv/dense weights (the f32 payloads are used in
      // place otherwise); fp16 holds half of that plus f32 biases and the
      // multiplier-2 depthwise filter widened for the reference op.
      if (t.f32_gemm.fn != nullptr) {
        EXPECT_LT(fp16_prepared, fp32_prepared * 55 / 100)
            << isa << ": fp16 " << fp16_prepared << " bytes, fp32 " << fp32_prepared;
      }
    }
    ++isas;
  }
  EXPECT_GE(isas, 1);
}

// Compact storage: the fp16 gear packs its weights from q8r4 entries (int8
// plus a 4-bit residual), rounding the decoded values to half once. x
// [1,6,7,8] -> CONV 3x3 SAME (12, f32 bias) -> DEPTHWISE 3x3 SAME, both
// weights q8r4; `reference` instead stores RoundToF16 of the decoded values
// as f32 for an fp32 gear.
std::vector<uint8_t> CompactNet(bool reference) {
  std::mt19937 rng(43);
  std::uniform_int_distribution<int> q(-127, 127), r(-8, 7);
  auto ints = [&](size_t n, std::uniform_int_distribution<int>& d) {
    std::vector<int> v(n);
    for (int& x : v) x = d(rng);
    return v;
  };
  const std::vector<int64_t> cs = {12, 3, 3, 8}, ds = {1, 3, 3, 12};
  const std::vector<int> cq = ints(12 * 72, q), cr = ints(12 * 72, r);
  const std::vector<int> dq = ints(108, q), dr = ints(108, r);
  testing::QuantSpec cquant, dquant;
  cquant.axis = 0;
  dquant.axis = 3;
  for (int o = 0; o < 12; ++o) cquant.scale.push_back(0.001f * static_cast<float>(o + 3));
  for (int c = 0; c < 12; ++c) dquant.scale.push_back(0.004f * static_cast<float>(c + 2));
  GearModelBuilder b;
  const int x = b.AddInput("x", {1, 6, 7, 8});
  const int cw = b.AddConstTensor("conv/w", cs);
  const int cb = b.AddConst("conv/b", {12}, std::vector<float>(12, 0.125f));
  const int dw = b.AddConstTensor("dw/w", ds);
  const int c = b.AddTensor("conv", {1, 6, 7, 12});
  const int y = b.AddTensor("y", {1, 6, 7, 12});
  b.AddNode("conv", "CONV_2D", {x, cw, cb}, {c},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","activation":"RELU"})");
  b.AddNode("dw", "DEPTHWISE_CONV_2D", {c, dw, -1}, {y},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":1})");
  b.AddOutput(y);
  auto i8 = [](const std::vector<int>& v) { return std::vector<int8_t>(v.begin(), v.end()); };
  if (!reference) {
    const int cbase = b.AddI8Storage(cs, i8(cq), cquant);
    const int dbase = b.AddI8Storage(ds, i8(dq), dquant);
    std::vector<std::pair<int, int>> consts = b.default_constants();
    consts.emplace_back(cw, b.AddQ8R4Storage(cs, cbase, cr));
    consts.emplace_back(dw, b.AddQ8R4Storage(ds, dbase, dr));
    b.AddGear("fp16", "f16", consts);
    return b.Build();
  }
  auto rounded = [](const std::vector<int64_t>& shape, int axis, const std::vector<int>& qv,
                    const std::vector<int>& rv, const std::vector<float>& scale) {
    const std::vector<int8_t> q8(qv.begin(), qv.end());
    const std::vector<uint8_t> nib = testing::NibbleBytes(rv);
    std::vector<float> v(qv.size());
    DecodeResidual(q8.data(), nib.data(), 4, LayoutOf(shape, axis), scale.data(), v.data());
    for (float& f : v) f = RoundToF16(f);
    return v;
  };
  std::vector<std::pair<int, int>> consts = b.default_constants();
  consts.emplace_back(cw, b.AddF32Storage(cs, rounded(cs, 0, cq, cr, cquant.scale)));
  consts.emplace_back(dw, b.AddF32Storage(ds, rounded(ds, 3, dq, dr, dquant.scale)));
  b.AddGear("fp32", "f32", consts);
  return b.Build();
}

TEST(F16wModel, CompactFp16GearRoundsItsQ8R4WeightsOnceAtPackTime) {
  const ScopedNoHalfArithmetic no_half;
  std::mt19937 rng(44);
  const std::vector<float> x = Random(&rng, 6 * 7 * 8);
  const std::vector<uint8_t> compact = CompactNet(false), reference = CompactNet(true);
  const CpuFeatures f = DetectCpuFeaturesMasked();
  for (const std::string& isa : CompiledIsas()) {
    KernelTable t;
    if (!BuildKernelTable(isa, f, &t).ok()) continue;
    RuntimeOptions o;
    o.isa = isa;
    auto rt = OpenBytes(compact, o);
    auto want_rt = OpenBytes(reference, o);
    ASSERT_NE(rt, nullptr);
    ASSERT_NE(want_rt, nullptr);
    std::vector<float> y(6 * 7 * 12), want(y.size());
    const void* in[] = {x.data()};
    void* out[] = {y.data()};
    ASSERT_TRUE(rt->Run(in, out).ok());
    out[0] = want.data();
    ASSERT_TRUE(want_rt->Run(in, out).ok());
    EXPECT_TRUE(BitEqual(y, want)) << isa;
    // Derived: the f32 bias (one 64-byte block) and two recipes; packed: the
    // conv weights as half behind f32 bias rows, the depthwise filter's
    // half bits. No f32 copy of a weight.
    const int64_t nr = t.f16w_gemm.nr;
    const int64_t expect = 64 + 2 * static_cast<int64_t>(sizeof(F16Tensor)) +
                           (12 + nr - 1) / nr * (nr * 4 + 72 * nr * 2) + 108 * 2;
    EXPECT_EQ(rt->prepared_bytes(), expect) << isa;
  }
}

}  // namespace
}  // namespace gearshift
