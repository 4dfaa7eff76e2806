// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The fp16 gear's fp16-arithmetic kernels (f16_gemm.inc, f16_dwconv.inc;
// neon_fp16). They round inputs to half and sum in half, so the oracle is a
// bound, not bit equality: a dot product of n products summed from the bias
// in half with one rounding per fused multiply-add (unit roundoff
// u = 2^-11), on inputs each rounded to half once (relative u), is within
//   (n + 2) * u * (|bias| + sum |x_i * w_i|)
// of the exact value on the fp32 inputs and half weights (the classic
// gamma_n bound, first order, plus one rounding for the input and one for
// the bias); the tests allow twice that plus a tiny absolute floor. The
// reference is computed in double. Cases use sizes that do not fit the
// tiles (rows, columns, K tails, taps, channels), 1x1..5x5 filters,
// strides 1-2, padding and dilation, 1 and 3 threads (the outputs must be
// bit-identical across thread counts). On a CPU without fp16 arithmetic
// (x86, Cortex-A72) the kernel tests skip, and dispatch must not select
// them. A whole model checks the fp16 gear on these kernels against the
// fp32 gear within the tolerance docs/QUANTIZATION.md states.
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
#include "gearshift/gearshift.h"
#include "kernels/f16_dwconv/f16_dwconv.h"
#include "kernels/f16_gemm/f16_gemm.h"
#include "ops/conv.h"
#include "ops/fully_connected.h"
#include "prepare/gear_weights.h"
#include "runtime_impl.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

constexpr double kHalfU = 1.0 / 2048.0;  // unit roundoff of IEEE half

double HalfDotTolerance(int64_t n, double abs_sum) {
  return 2.0 * static_cast<double>(n + 2) * kHalfU * abs_sum + 1e-6;
}

struct GemmEntry {
  Isa isa;
  F16GemmKernel k;
};

std::vector<GemmEntry> GemmEntries() {
  std::vector<GemmEntry> v;
#define GS_UKERNEL(isa, name, mr, nr, convert) v.push_back({isa, {&name, mr, nr, #name, &convert}});
#include "kernels/f16_gemm/f16_gemm.inc"
#undef GS_UKERNEL
  return v;
}

struct DwEntry {
  Isa isa;
  F16DwconvKernel k;
};

std::vector<DwEntry> DwEntries() {
  std::vector<DwEntry> v;
#define GS_UKERNEL(isa, name, ct, convert) v.push_back({isa, {&name, ct, #name, &convert}});
#include "kernels/f16_dwconv/f16_dwconv.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<float> Random(std::mt19937* rng, int64_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(*rng);
  return v;
}

std::vector<uint16_t> ToHalf(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = F32ToF16Bits(v[i]);
  return h;
}

double Widen(uint16_t h) { return static_cast<double>(F16BitsToF32(h)); }

// ---- packing (portable) -------------------------------------------------------------

TEST(F16GemmPack, HalfBiasRowThenKRowsOfNrHalvesZeroPadded) {
  const size_t n = 5, k = 3, nr = 4;
  std::vector<uint16_t> w(n * k);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint16_t>(100 + i);
  const std::vector<float> bias = {1.0f, 2.0f, 3.0f, 4.0f, 0.1f};
  std::vector<uint16_t> packed(2 * F16GemmPackedBlockBytes(k, nr) / 2, 0xFFFF);
  PackF16GemmWeights(n, k, nr, w.data(), bias.data(), packed.data());
  const uint16_t* b1 = packed.data() + (k + 1) * nr;
  EXPECT_EQ(packed[0], F32ToF16Bits(1.0f));
  EXPECT_EQ(packed[3], F32ToF16Bits(4.0f));
  EXPECT_EQ(packed[nr + 1], w[1 * k + 0]);      // k-step 0, column 1
  EXPECT_EQ(packed[2 * nr + 2], w[2 * k + 1]);  // k-step 1, column 2
  EXPECT_EQ(b1[0], F32ToF16Bits(0.1f));
  EXPECT_EQ(b1[1], 0);                  // padded column: no bias
  EXPECT_EQ(b1[nr + 0], w[4 * k + 0]);  // column 4, k-step 0
  EXPECT_EQ(b1[nr + 1], 0);             // padded column: zero weights
  std::vector<uint16_t> no_bias(packed.size());
  PackF16GemmWeights(n, k, nr, w.data(), nullptr, no_bias.data());
  EXPECT_EQ(no_bias[0], 0);
}

// ---- GEMM microkernels ---------------------------------------------------------------

class F16GemmUkernel : public ::testing::TestWithParam<GemmEntry> {};

TEST_P(F16GemmUkernel, WithinTheHalfDotBoundOfTheExactProduct) {
  const GemmEntry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP() << "CPU lacks " << IsaName(e.isa);
  const int64_t mr = e.k.mr, nr = e.k.nr;
  const float kInf = std::numeric_limits<float>::infinity();
  std::mt19937 rng(61);
  int cases = 0;
  for (int64_t m : {int64_t{1}, mr - 1, mr, mr + 1, 2 * mr + 3}) {
    for (int64_t n : {int64_t{1}, nr / 2 + 1, nr - 1, nr, nr + 1, 2 * nr + 5}) {
      for (int64_t k : {1, 3, 7, 8, 9, 17, 64, 131, 576}) {
        for (int variant = 0; variant < 3; ++variant) {
          const int64_t ks = variant == 0 ? 1 : k % 8 == 0 ? 8 : k % 3 == 0 ? 3 : k;
          const int64_t kc = k / ks;
          const std::vector<float> a = Random(&rng, m * k);
          const std::vector<uint16_t> ah = ToHalf(a);
          const std::vector<uint16_t> w = ToHalf(Random(&rng, n * k));
          const std::vector<float> b = Random(&rng, n);
          const float* bias = variant != 1 ? b.data() : nullptr;
          const float lo = variant == 2 ? 0.0f : -kInf, hi = variant == 2 ? 6.0f : kInf;
          const size_t block = F16GemmPackedBlockBytes(static_cast<size_t>(k), nr);
          std::vector<uint8_t> packed((n + nr - 1) / nr * block);
          PackF16GemmWeights(n, k, nr, w.data(), bias, packed.data());
          const int64_t ldc = n + 3;
          std::vector<float> got(m * ldc, 7.0f);
          std::vector<const uint16_t*> ind(static_cast<size_t>(ks * mr));
          for (int64_t r0 = 0; r0 < m; r0 += mr) {
            const int64_t mm = std::min(mr, m - r0);
            for (int64_t t = 0; t < ks; ++t) {
              for (int64_t i = 0; i < mr; ++i) {
                ind[t * mr + i] = ah.data() + (r0 + std::min(i, mm - 1)) * k + t * kc;
              }
            }
            for (int64_t n0 = 0, nb = 0; n0 < n; n0 += nr, ++nb) {
              e.k.fn(mm, std::min(nr, n - n0), kc, ks, ind.data(), packed.data() + nb * block,
                     got.data() + r0 * ldc + n0, ldc, lo, hi);
            }
          }
          for (int64_t r = 0; r < m; ++r) {
            for (int64_t j = 0; j < ldc; ++j) {
              const float g = got[r * ldc + j];
              if (j >= n) {
                ASSERT_EQ(g, 7.0f) << "wrote past nc";
                continue;
              }
              double exact = bias != nullptr ? b[j] : 0.0, abs_sum = std::fabs(exact);
              for (int64_t kk = 0; kk < k; ++kk) {
                const double prod = a[r * k + kk] * Widen(w[j * k + kk]);
                exact += prod;
                abs_sum += std::fabs(prod);
              }
              const double want = std::min<double>(std::max<double>(exact, lo), hi);
              ASSERT_NEAR(g, want, HalfDotTolerance(k, abs_sum))
                  << e.k.name << " m=" << m << " n=" << n << " k=" << k << " ks=" << ks << " row "
                  << r << " col " << j;
            }
          }
          ++cases;
        }
      }
    }
  }
  EXPECT_GT(cases, 500);
}

TEST_P(F16GemmUkernel, ConversionRoundsToNearestHalf) {
  const GemmEntry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP() << "CPU lacks " << IsaName(e.isa);
  std::mt19937 rng(62);
  for (int64_t n : {0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 37, 64, 100, 203}) {
    std::vector<float> x = Random(&rng, n);
    for (float& v : x) v *= 300.0f;
    // Beyond the half range: +-inf, as FCVTN rounds it (F32ToF16Bits, for
    // weights, saturates instead; docs/QUANTIZATION.md).
    if (n > 3) x[3] = 1e6f;
    if (n > 5) x[5] = -7e4f;
    if (n > 40) x[40] = 65519.0f;  // in the 32-a-step loop: rounds to 65504
    std::vector<uint16_t> got(static_cast<size_t>(n) + 1, 0xABCD);
    e.k.convert(static_cast<size_t>(n), x.data(), got.data());
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t want = x[i] > 65520.0f    ? uint16_t{0x7C00}
                            : x[i] < -65520.0f ? uint16_t{0xFC00}
                                               : F32ToF16Bits(x[i]);
      EXPECT_EQ(got[i], want) << i << ": " << x[i];
    }
    EXPECT_EQ(got[n], 0xABCD) << "wrote past n";
  }
}

std::string GemmName(const ::testing::TestParamInfo<GemmEntry>& info) { return info.param.k.name; }

// The .inc may be empty (x86, armv7): no instantiation then.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(F16GemmUkernel);
INSTANTIATE_TEST_SUITE_P(All, F16GemmUkernel, ::testing::ValuesIn(GemmEntries()), GemmName);

// ---- depthwise microkernels -----------------------------------------------------------

class F16DwconvUkernel : public ::testing::TestWithParam<DwEntry> {};

TEST_P(F16DwconvUkernel, WithinTheHalfDotBoundOfTheExactSum) {
  const DwEntry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP() << "CPU lacks " << IsaName(e.isa);
  std::mt19937 rng(63);
  int cases = 0;
  for (size_t channels : {1, 7, 8, 9, 15, 16, 17, 24, 33, 40, 96}) {
    for (size_t taps : {1, 4, 6, 8, 9, 10, 25}) {
      for (int variant = 0; variant < 2; ++variant) {
        std::vector<std::vector<float>> xs(taps);
        std::vector<std::vector<uint16_t>> xh(taps), wh(taps);
        std::vector<const uint16_t*> in(taps), w(taps);
        for (size_t t = 0; t < taps; ++t) {
          xs[t] = Random(&rng, static_cast<int64_t>(channels));
          xh[t] = ToHalf(xs[t]);
          wh[t] = ToHalf(Random(&rng, static_cast<int64_t>(channels)));
          in[t] = xh[t].data();
          w[t] = wh[t].data();
        }
        const std::vector<float> b = Random(&rng, static_cast<int64_t>(channels));
        const float* bias = variant == 0 ? b.data() : nullptr;
        const float lo = variant == 1 ? 0.0f : -1e30f, hi = variant == 1 ? 6.0f : 1e30f;
        std::vector<float> got(channels + 1, 7.0f);
        e.k.fn(channels, taps, in.data(), w.data(), bias, got.data(), lo, hi);
        ASSERT_EQ(got[channels], 7.0f) << "wrote past channels";
        for (size_t c = 0; c < channels; ++c) {
          double exact = bias != nullptr ? b[c] : 0.0, abs_sum = std::fabs(exact);
          for (size_t t = 0; t < taps; ++t) {
            const double prod = xs[t][c] * Widen(wh[t][c]);
            exact += prod;
            abs_sum += std::fabs(prod);
          }
          const double want = std::min<double>(std::max<double>(exact, lo), hi);
          ASSERT_NEAR(got[c], want, HalfDotTolerance(static_cast<int64_t>(taps), abs_sum))
              << e.k.name << " channels=" << channels << " taps=" << taps << " c=" << c;
        }
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 100);
}

// The unrolled paths (4, 6, 9 and 25 taps; 9 taps x 16 channels in
// assembly on AArch64) against the run-time loop, bit for bit: the same taps
// plus one of zero input and zero weight, which takes the run-time loop and
// adds exactly 0 last (equal as floats: -0 + 0 is +0).
TEST_P(F16DwconvUkernel, UnrolledTapsEqualTheRunTimeLoop) {
  const DwEntry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP() << "CPU lacks " << IsaName(e.isa);
  std::mt19937 rng(64);
  for (size_t channels : {8, 16, 17, 32, 40, 48, 96, 144}) {
    for (size_t taps : {4, 6, 9, 25}) {
      for (int variant = 0; variant < 3; ++variant) {
        std::vector<std::vector<uint16_t>> xh(taps + 1), wh(taps + 1);
        std::vector<const uint16_t*> in(taps + 1), w(taps + 1);
        for (size_t t = 0; t <= taps; ++t) {
          xh[t] = ToHalf(Random(&rng, static_cast<int64_t>(channels)));
          wh[t] = ToHalf(Random(&rng, static_cast<int64_t>(channels)));
          if (t == taps) std::fill(wh[t].begin(), wh[t].end(), uint16_t{0});
          in[t] = xh[t].data();
          w[t] = wh[t].data();
        }
        std::fill(xh[taps].begin(), xh[taps].end(), uint16_t{0});
        const std::vector<float> b = Random(&rng, static_cast<int64_t>(channels));
        const float* bias = variant == 1 ? nullptr : b.data();
        const float lo = variant == 2 ? 0.0f : -1e30f, hi = variant == 2 ? 0.5f : 1e30f;
        std::vector<float> fixed(channels), loop(channels);
        e.k.fn(channels, taps, in.data(), w.data(), bias, fixed.data(), lo, hi);
        e.k.fn(channels, taps + 1, in.data(), w.data(), bias, loop.data(), lo, hi);
        for (size_t c = 0; c < channels; ++c) {
          ASSERT_EQ(fixed[c], loop[c]) << e.k.name << " channels=" << channels << " taps=" << taps
                                       << " variant=" << variant << " c=" << c;
        }
      }
    }
  }
}

std::string DwName(const ::testing::TestParamInfo<DwEntry>& info) { return info.param.k.name; }

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(F16DwconvUkernel);
INSTANTIATE_TEST_SUITE_P(All, F16DwconvUkernel, ::testing::ValuesIn(DwEntries()), DwName);

// ---- ops ---------------------------------------------------------------------------

bool MakeConv(std::mt19937* rng, int iter, bool depthwise, Conv2DParams* p) {
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(*rng); };
  p->batch = ri(1, 2);
  p->in_h = ri(1, 12);
  p->in_w = ri(1, 12);
  p->in_c = depthwise ? ri(1, 40) : (iter % 13 == 6 ? ri(200, 330) : ri(1, 40));
  p->out_c = depthwise ? p->in_c : ri(1, 45);
  const int kernel = iter % 5 + 1;  // 1x1 .. 5x5
  p->kernel_h = kernel;
  p->kernel_w = iter % 7 == 3 ? ri(1, 3) : kernel;
  p->stride_h = ri(1, 2);
  p->stride_w = ri(1, 2);
  p->dilation_h = kernel > 1 && iter % 4 == 2 ? 2 : 1;
  p->dilation_w = kernel > 1 && iter % 3 == 2 ? 2 : 1;
  p->act = iter % 4 == 1 ? ActivationRange(Activation::kRelu6) : ActivationRange(Activation::kNone);
  const Padding padding = iter % 2 ? Padding::kSame : Padding::kValid;
  return ComputeWindow(p->in_h, p->kernel_h, p->stride_h, p->dilation_h, padding, &p->out_h,
                       &p->pad_top) &&
         ComputeWindow(p->in_w, p->kernel_w, p->stride_w, p->dilation_w, padding, &p->out_w,
                       &p->pad_left);
}

std::vector<float> Abs(const std::vector<float>& v) {
  std::vector<float> a(v);
  for (float& x : a) x = std::fabs(x);
  return a;
}

// |got - want| within the half bound per output, where `abs_sums` are the
// same op run on |x|, |w|, |b| (sum of |terms|) and n the terms per output.
void ExpectWithinHalfBound(const std::vector<float>& got, const std::vector<float>& want,
                           const std::vector<float>& abs_sums, int64_t n, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], HalfDotTolerance(n, abs_sums[i]) + 1e-6 * abs_sums[i])
        << what << " element " << i;
  }
}

const F16GemmKernel* SupportedGemm() {
  static const std::vector<GemmEntry> entries = GemmEntries();
  for (const GemmEntry& e : entries) {
    if (IsaSupported(e.isa, DetectCpuFeatures())) return &e.k;
  }
  return nullptr;
}

const F16DwconvKernel* SupportedDw() {
  static const std::vector<DwEntry> entries = DwEntries();
  for (const DwEntry& e : entries) {
    if (IsaSupported(e.isa, DetectCpuFeatures())) return &e.k;
  }
  return nullptr;
}

TEST(F16Ops, ConvWithinTheHalfBoundOfTheF32Reference) {
  const F16GemmKernel* k = SupportedGemm();
  if (k == nullptr) GTEST_SKIP() << "no fp16-arithmetic GEMM on this CPU";
  ThreadPool pool(3);
  std::mt19937 rng(64);
  int cases = 0;
  for (int iter = 0; iter < 80; ++iter) {
    Conv2DParams p;
    if (!MakeConv(&rng, iter, false, &p)) continue;
    const int64_t kdim = int64_t{p.kernel_h} * p.kernel_w * p.in_c;
    const std::vector<float> x = Random(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const std::vector<uint16_t> wh = ToHalf(Random(&rng, p.out_c * kdim));
    std::vector<float> w(wh.size());
    for (size_t i = 0; i < wh.size(); ++i) w[i] = F16BitsToF32(wh[i]);
    const std::vector<float> b = Random(&rng, p.out_c);
    const float* bias = iter % 5 ? b.data() : nullptr;
    const size_t block = F16GemmPackedBlockBytes(static_cast<size_t>(kdim), k->nr);
    std::vector<uint8_t> packed((p.out_c + k->nr - 1) / k->nr * block);
    PackF16GemmWeights(p.out_c, kdim, k->nr, wh.data(), bias, packed.data());
    const size_t out = static_cast<size_t>(p.batch * p.out_h * p.out_w * p.out_c);
    std::vector<float> want(out), sums(out), got1(out, -5.0f), got3(out, -5.0f);
    f32_conv2d__ref(p, x.data(), w.data(), bias, want.data(), nullptr);
    Conv2DParams pa = p;
    pa.act = ActivationRange(Activation::kNone);
    const std::vector<float> ab = Abs(b);
    f32_conv2d__ref(pa, Abs(x).data(), Abs(w).data(), bias != nullptr ? ab.data() : nullptr,
                    sums.data(), nullptr);
    f16_conv2d__gemm(p, *k, packed.data(), x.data(), got1.data(), nullptr);
    f16_conv2d__gemm(p, *k, packed.data(), x.data(), got3.data(), &pool);
    ExpectWithinHalfBound(got1, want, sums, kdim, "conv iter " + std::to_string(iter));
    ASSERT_EQ(std::memcmp(got1.data(), got3.data(), out * sizeof(float)), 0)
        << "1 vs 3 threads, iter " << iter;
    ++cases;
  }
  EXPECT_GT(cases, 40);
}

// Taps of fewer than 16 channels are gathered into one row per pixel
// (f16_conv2d__gemm): bit for bit an explicit im2col followed by a 1x1
// convolution over kdim channels with the same packed weights.
TEST(F16Ops, SmallChannelConvEqualsIm2colThen1x1) {
  const F16GemmKernel* k = SupportedGemm();
  if (k == nullptr) GTEST_SKIP() << "no fp16-arithmetic GEMM on this CPU";
  std::mt19937 rng(66);
  int cases = 0;
  for (int in_c : {1, 3, 8, 15}) {
    for (int stride : {1, 2}) {
      for (Padding padding : {Padding::kSame, Padding::kValid}) {
        Conv2DParams p;
        p.batch = 2;
        p.in_h = 9;
        p.in_w = 11;
        p.in_c = in_c;
        p.out_c = 21;
        p.kernel_h = p.kernel_w = 3;
        p.stride_h = p.stride_w = stride;
        p.act = ActivationRange(in_c == 3 ? Activation::kRelu6 : Activation::kNone);
        ASSERT_TRUE(ComputeWindow(p.in_h, 3, stride, 1, padding, &p.out_h, &p.pad_top));
        ASSERT_TRUE(ComputeWindow(p.in_w, 3, stride, 1, padding, &p.out_w, &p.pad_left));
        const int64_t kdim = 9 * int64_t{in_c};
        const std::vector<float> x = Random(&rng, p.batch * p.in_h * p.in_w * in_c);
        const std::vector<uint16_t> wh = ToHalf(Random(&rng, p.out_c * kdim));
        const std::vector<float> b = Random(&rng, p.out_c);
        const size_t block = F16GemmPackedBlockBytes(static_cast<size_t>(kdim), k->nr);
        std::vector<uint8_t> packed((p.out_c + k->nr - 1) / k->nr * block);
        PackF16GemmWeights(p.out_c, kdim, k->nr, wh.data(), b.data(), packed.data());
        // im2col: [batch, out_h, out_w, 9 * in_c], zeros in the padding.
        const int64_t pixels = p.batch * p.out_h * p.out_w;
        std::vector<float> col(static_cast<size_t>(pixels * kdim), 0.0f);
        for (int64_t n = 0; n < p.batch; ++n) {
          for (int64_t oy = 0; oy < p.out_h; ++oy) {
            for (int64_t ox = 0; ox < p.out_w; ++ox) {
              float* dst = col.data() + ((n * p.out_h + oy) * p.out_w + ox) * kdim;
              for (int64_t ky = 0; ky < 3; ++ky) {
                for (int64_t kx = 0; kx < 3; ++kx) {
                  const int64_t iy = oy * stride - p.pad_top + ky,
                                ix = ox * stride - p.pad_left + kx;
                  if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
                  std::memcpy(dst + (ky * 3 + kx) * in_c,
                              x.data() + ((n * p.in_h + iy) * p.in_w + ix) * in_c,
                              sizeof(float) * static_cast<size_t>(in_c));
                }
              }
            }
          }
        }
        Conv2DParams q = p;
        q.in_h = p.out_h;
        q.in_w = p.out_w;
        q.in_c = static_cast<int>(kdim);
        q.kernel_h = q.kernel_w = 1;
        q.stride_h = q.stride_w = 1;
        q.pad_top = q.pad_left = 0;
        const size_t out = static_cast<size_t>(pixels * p.out_c);
        std::vector<float> got(out, -5.0f), want(out, -7.0f);
        f16_conv2d__gemm(p, *k, packed.data(), x.data(), got.data(), nullptr);
        f16_conv2d__gemm(q, *k, packed.data(), col.data(), want.data(), nullptr);
        ASSERT_EQ(std::memcmp(got.data(), want.data(), out * sizeof(float)), 0)
            << "in_c " << in_c << " stride " << stride;
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 16);
}

TEST(F16Ops, DenseWithinTheHalfBoundOfTheF32Reference) {
  const F16GemmKernel* k = SupportedGemm();
  if (k == nullptr) GTEST_SKIP() << "no fp16-arithmetic GEMM on this CPU";
  ThreadPool pool(3);
  std::mt19937 rng(65);
  for (int64_t rows : {1, 3, 8, 9, 21}) {
    for (int64_t in : {1, 7, 8, 33, 640}) {
      for (int64_t outf : {1, 15, 16, 17, 100}) {
        FullyConnectedParams p;
        p.rows = rows;
        p.in_features = in;
        p.out_features = outf;
        p.act = outf % 2 ? ActivationRange(Activation::kRelu) : ActivationRange(Activation::kNone);
        const std::vector<float> x = Random(&rng, rows * in);
        const std::vector<uint16_t> wh = ToHalf(Random(&rng, outf * in));
        std::vector<float> w(wh.size());
        for (size_t i = 0; i < wh.size(); ++i) w[i] = F16BitsToF32(wh[i]);
        const std::vector<float> b = Random(&rng, outf);
        const size_t block = F16GemmPackedBlockBytes(static_cast<size_t>(in), k->nr);
        std::vector<uint8_t> packed((outf + k->nr - 1) / k->nr * block);
        PackF16GemmWeights(outf, in, k->nr, wh.data(), b.data(), packed.data());
        const size_t n = static_cast<size_t>(rows * outf);
        std::vector<float> want(n), sums(n), got1(n), got3(n);
        f32_fully_connected__ref(p, x.data(), w.data(), b.data(), want.data(), nullptr);
        FullyConnectedParams pa = p;
        pa.act = ActivationRange(Activation::kNone);
        f32_fully_connected__ref(pa, Abs(x).data(), Abs(w).data(), Abs(b).data(), sums.data(),
                                 nullptr);
        f16_fully_connected__gemm(p, *k, packed.data(), x.data(), got1.data(), nullptr);
        f16_fully_connected__gemm(p, *k, packed.data(), x.data(), got3.data(), &pool);
        ExpectWithinHalfBound(got1, want, sums, in,
                              "dense " + std::to_string(rows) + "x" + std::to_string(in) + "x" +
                                  std::to_string(outf));
        ASSERT_EQ(std::memcmp(got1.data(), got3.data(), n * sizeof(float)), 0);
      }
    }
  }
}

TEST(F16Ops, DepthwiseWithinTheHalfBoundOfTheF32Reference) {
  const F16DwconvKernel* k = SupportedDw();
  if (k == nullptr) GTEST_SKIP() << "no fp16-arithmetic depthwise kernel on this CPU";
  ThreadPool pool(3);
  std::mt19937 rng(66);
  int cases = 0;
  for (int iter = 0; iter < 80; ++iter) {
    Conv2DParams p;
    p.depth_multiplier = 1;
    if (!MakeConv(&rng, iter, true, &p)) continue;
    const int64_t taps = int64_t{p.kernel_h} * p.kernel_w;
    const std::vector<float> x = Random(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const std::vector<uint16_t> wh = ToHalf(Random(&rng, taps * p.out_c));
    std::vector<float> w(wh.size());
    for (size_t i = 0; i < wh.size(); ++i) w[i] = F16BitsToF32(wh[i]);
    const std::vector<float> b = Random(&rng, p.out_c);
    const float* bias = iter % 5 ? b.data() : nullptr;
    const size_t out = static_cast<size_t>(p.batch * p.out_h * p.out_w * p.out_c);
    std::vector<float> want(out), sums(out), got1(out, -5.0f), got3(out, -5.0f);
    f32_depthwise_conv2d__ref(p, x.data(), w.data(), bias, want.data(), nullptr);
    Conv2DParams pa = p;
    pa.act = ActivationRange(Activation::kNone);
    const std::vector<float> ab = Abs(b);
    f32_depthwise_conv2d__ref(pa, Abs(x).data(), Abs(w).data(),
                              bias != nullptr ? ab.data() : nullptr, sums.data(), nullptr);
    f16_depthwise_conv2d__dwconv(p, *k, x.data(), wh.data(), bias, got1.data(), nullptr);
    f16_depthwise_conv2d__dwconv(p, *k, x.data(), wh.data(), bias, got3.data(), &pool);
    ExpectWithinHalfBound(got1, want, sums, taps, "depthwise iter " + std::to_string(iter));
    ASSERT_EQ(std::memcmp(got1.data(), got3.data(), out * sizeof(float)), 0)
        << "1 vs 3 threads, iter " << iter;
    ++cases;
  }
  EXPECT_GT(cases, 40);
}

// ---- dispatch --------------------------------------------------------------------------

TEST(F16Dispatch, SelectedOnlyWithHalfArithmetic) {
  CpuFeatures a76;
  a76.neon = a76.asimd = a76.neon_dot = a76.neon_fp16 = true;
  CpuFeatures a72;
  a72.neon = a72.asimd = true;
  KernelTable t;
#if defined(__aarch64__)
  ASSERT_TRUE(BuildKernelTable("", a76, &t).ok());
  EXPECT_EQ(t.isa, "neon_dot");  // SDOT for int8 and, beside it, half arithmetic
  EXPECT_STREQ(t.f16_gemm.name, "f16_gemm_8x16__neon_fp16");
  EXPECT_STREQ(t.f16_dwconv.name, "f16_dwconv_16c__neon_fp16");
  EXPECT_EQ(SelectedKernels(t).at("f16_gemm"), "f16_gemm_8x16__neon_fp16");
  ASSERT_TRUE(BuildKernelTable("neon_fp16", a76, &t).ok());
  EXPECT_STREQ(t.f16_gemm.name, "f16_gemm_8x16__neon_fp16");
  // GEARSHIFT_DISABLE=neon_fp16: back to the widening kernels
  ASSERT_TRUE(BuildKernelTable("", MaskCpuFeatures(a76, "neon_fp16"), &t).ok());
  EXPECT_EQ(t.f16_gemm.fn, nullptr);
  EXPECT_EQ(t.f16_dwconv.fn, nullptr);
  EXPECT_STREQ(t.f16w_gemm.name, "f16w_gemm_8x8__aarch64");
  ASSERT_TRUE(BuildKernelTable("neon", a76, &t).ok());
  EXPECT_EQ(t.f16_gemm.fn, nullptr);
#endif
  // No half arithmetic (Cortex-A72, x86, armv7): never selected.
  ASSERT_TRUE(BuildKernelTable("", a72, &t).ok());
  EXPECT_EQ(t.f16_gemm.fn, nullptr);
  EXPECT_EQ(t.f16_dwconv.fn, nullptr);
  EXPECT_EQ(SelectedKernels(t).at("f16_gemm"), "none");
  ASSERT_TRUE(BuildKernelTable("", DetectCpuFeaturesMasked(), &t).ok());
  if (!DetectCpuFeaturesMasked().neon_fp16) EXPECT_EQ(t.f16_gemm.fn, nullptr);
}

// ---- whole model ------------------------------------------------------------------------

using testing::GearModelBuilder;

// x [1,16,14,3] -> CONV 3x3/2 SAME RELU6 (16) -> DEPTHWISE 3x3 SAME RELU6
// -> CONV 1x1 (24) -> CONV 1x1 RELU6 (96) -> DEPTHWISE 3x3/2 SAME RELU6 ->
// CONV 1x1 (32) -> MEAN -> FULLY_CONNECTED 32->10: a MobileNetV2-like stack,
// gears "fp32" and "fp16" over the same f32 payloads (He-scaled, so
// activations keep unit scale as in a trained net).
GearModelBuilder SmallNet() {
  std::mt19937 rng(67);
  auto values = [&](size_t n, int fan_in) {
    std::normal_distribution<float> d(0.0f, std::sqrt(2.0f / static_cast<float>(fan_in)));
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
  };
  GearModelBuilder b;
  const int x = b.AddInput("x", {1, 16, 14, 3});
  const int w1 = b.AddConst("c1/w", {16, 3, 3, 3}, values(16 * 27, 27));
  const int b1 = b.AddConst("c1/b", {16}, values(16, 16));
  const int d1 = b.AddConst("d1/w", {1, 3, 3, 16}, values(9 * 16, 9));
  const int db1 = b.AddConst("d1/b", {16}, values(16, 16));
  const int w2 = b.AddConst("c2/w", {24, 1, 1, 16}, values(24 * 16, 16));
  const int w3 = b.AddConst("c3/w", {96, 1, 1, 24}, values(96 * 24, 24));
  const int b3 = b.AddConst("c3/b", {96}, values(96, 96));
  const int d2 = b.AddConst("d2/w", {1, 3, 3, 96}, values(9 * 96, 9));
  const int w4 = b.AddConst("c4/w", {32, 1, 1, 96}, values(32 * 96, 96));
  const int fw = b.AddConst("fc/w", {10, 32}, values(10 * 32, 32));
  const int fb = b.AddConst("fc/b", {10}, values(10, 10));
  const int t1 = b.AddTensor("c1", {1, 8, 7, 16});
  const int t2 = b.AddTensor("d1", {1, 8, 7, 16});
  const int t3 = b.AddTensor("c2", {1, 8, 7, 24});
  const int t4 = b.AddTensor("c3", {1, 8, 7, 96});
  const int t5 = b.AddTensor("d2", {1, 4, 4, 96});
  const int t6 = b.AddTensor("c4", {1, 4, 4, 32});
  const int t7 = b.AddTensor("mean", {1, 32});
  const int y = b.AddTensor("y", {1, 10});
  const char* relu6_s2 =
      R"({"stride":[2,2],"dilation":[1,1],"padding":"SAME","activation":"RELU6"})";
  const char* relu6_s1 =
      R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","activation":"RELU6"})";
  const char* linear = R"({"stride":[1,1],"dilation":[1,1],"padding":"VALID"})";
  b.AddNode("c1", "CONV_2D", {x, w1, b1}, {t1}, relu6_s2);
  b.AddNode(
      "d1", "DEPTHWISE_CONV_2D", {t1, d1, db1}, {t2},
      R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":1,"activation":"RELU6"})");
  b.AddNode("c2", "CONV_2D", {t2, w2, -1}, {t3}, linear);
  b.AddNode("c3", "CONV_2D", {t3, w3, b3}, {t4},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"VALID","activation":"RELU6"})");
  b.AddNode(
      "d2", "DEPTHWISE_CONV_2D", {t4, d2, -1}, {t5},
      R"({"stride":[2,2],"dilation":[1,1],"padding":"SAME","depth_multiplier":1,"activation":"RELU6"})");
  b.AddNode("c4", "CONV_2D", {t5, w4, -1}, {t6}, linear);
  b.AddNode("mean", "MEAN", {t6}, {t7}, R"({"axes":[1,2],"keep_dims":false})");
  b.AddNode("fc", "FULLY_CONNECTED", {t7, fw, fb}, {y}, "{}");
  b.AddOutput(y);
  b.AddGear("fp32", "f32", b.default_constants());
  b.AddGear("fp16", "f16", b.default_constants());
  return b;
}

TEST(F16Model, Fp16GearOnHalfArithmeticWithinToleranceOfFp32) {
  std::mt19937 rng(68);
  std::vector<float> x = Random(&rng, 16 * 14 * 3);
  const std::vector<uint8_t> bytes = SmallNet().Build();
  std::unique_ptr<GearFile> file;
  ASSERT_TRUE(GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file).ok());
  for (int threads : {1, 3}) {
    std::unique_ptr<GearFile> f;
    ASSERT_TRUE(GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &f).ok());
    RuntimeOptions o;
    o.threads = threads;
    std::unique_ptr<Runtime> rt;
    ASSERT_TRUE(CreateRuntime(std::move(f), o, &rt).ok());
    std::vector<float> y32(10), y16(10);
    const void* in[] = {x.data()};
    void* out[] = {y32.data()};
    ASSERT_TRUE(rt->Run(in, out).ok());
    const int64_t fp32_prepared = rt->prepared_bytes();
    ASSERT_TRUE(rt->SetGear("fp16").ok());
    out[0] = y16.data();
    ASSERT_TRUE(rt->Run(in, out).ok());
    const int64_t fp16_prepared = rt->prepared_bytes() - fp32_prepared;
    // The stated tolerance (docs/QUANTIZATION.md): max |y16 - y32| within
    // 1e-2 of max |y32| (about 20 half ulps); half arithmetic measures
    // 1-3e-3 here, the widening kernels 1e-4 (weights only rounded).
    double max_abs = 0, max_err = 0;
    for (size_t i = 0; i < y32.size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(y32[i])));
      max_err = std::max(max_err, std::fabs(static_cast<double>(y16[i]) - y32[i]));
    }
    KernelTable t;
    ASSERT_TRUE(BuildKernelTable("", &t).ok());
    EXPECT_GT(max_abs, 0.1);
    EXPECT_LT(max_err, 1e-2 * max_abs)
        << "threads " << threads << ", " << (t.f16_gemm.fn ? t.f16_gemm.name : "f16w kernels");
    EXPECT_GT(max_err, 0.0);  // the gears really differ
    std::printf("[   info   ] fp16 gear (%s) vs fp32: max |diff| %.3g of max |y| %.3g\n",
                t.f16_gemm.fn != nullptr ? t.f16_gemm.name : t.f16w_gemm.name, max_err, max_abs);
    // Never more prepared memory than fp32. (This net is too small for the
    // 0.55x of a real model: its f32 biases, held beside the half packs, and
    // the tile padding of 10..32-column layers weigh as much as the weights.)
    if (t.f32_gemm.fn != nullptr) EXPECT_LE(fp16_prepared, fp32_prepared);
  }
}

}  // namespace
}  // namespace gearshift
