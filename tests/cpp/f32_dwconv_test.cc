// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp32 depthwise microkernels (f32_dwconv.inc): every entry against the
// exact (double) result at channel counts equal to, multiples of, below and
// above its channel tile, plus 1 and a prime, with and without bias and
// clamp, for 0..25 taps (4, 6, 9 and 25 have their own unrolled loops); entries
// the CPU cannot run are skipped. The op built
// on them must match the reference op within tolerance (tolerances.h) and be
// bit-identical for 1, 2 and 3 threads.
#include "kernels/f32_dwconv/f32_dwconv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "dispatch.h"
#include "ops/conv.h"
#include "thread_pool.h"
#include "tolerances.h"

namespace gearshift {
namespace {

using testing::F32DotTolerance;

struct Entry {
  Isa isa;
  F32DwconvUkernelFn fn;
  int channel_tile;
  const char* name;
};

std::vector<Entry> AllEntries() {
  std::vector<Entry> v;
#define GS_UKERNEL(isa, name, mr, nr) v.push_back({isa, &name, nr, #name});
#include "kernels/f32_dwconv/f32_dwconv.inc"
#undef GS_UKERNEL
  return v;
}

std::vector<float> Random(std::mt19937* rng, int64_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(*rng);
  return v;
}

std::string EntryName(const ::testing::TestParamInfo<Entry>& info) { return info.param.name; }

class F32DwconvUkernel : public ::testing::TestWithParam<Entry> {};

// The unrolled paths (4, 6, 9 and 25 taps) against the run-time loop, bit
// for bit: the same taps plus one of zero input and zero weight, which takes
// the run-time loop and adds exactly 0 last (equal as floats: -0 + 0 is +0).
TEST_P(F32DwconvUkernel, UnrolledTapsEqualTheRunTimeLoop) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP() << "CPU lacks " << IsaName(e.isa);
  std::mt19937 rng(4);
  for (size_t channels : {4, 8, 16, 17, 32, 40, 96, 144}) {
    for (size_t taps : {4, 6, 9, 25}) {
      for (int variant = 0; variant < 3; ++variant) {
        std::vector<std::vector<float>> x(taps + 1), w(taps + 1);
        std::vector<const float*> in(taps + 1), wp(taps + 1);
        for (size_t t = 0; t <= taps; ++t) {
          x[t] = Random(&rng, static_cast<int64_t>(channels));
          w[t] = Random(&rng, static_cast<int64_t>(channels));
          if (t == taps) {
            std::fill(x[t].begin(), x[t].end(), 0.0f);
            std::fill(w[t].begin(), w[t].end(), 0.0f);
          }
          in[t] = x[t].data();
          wp[t] = w[t].data();
        }
        const std::vector<float> b = Random(&rng, static_cast<int64_t>(channels));
        const float* bias = variant == 1 ? nullptr : b.data();
        const float lo = variant == 2 ? 0.0f : -1e30f, hi = variant == 2 ? 0.5f : 1e30f;
        std::vector<float> fixed(channels), loop(channels);
        e.fn(channels, taps, in.data(), wp.data(), bias, fixed.data(), lo, hi);
        e.fn(channels, taps + 1, in.data(), wp.data(), bias, loop.data(), lo, hi);
        for (size_t c = 0; c < channels; ++c) {
          ASSERT_EQ(fixed[c], loop[c]) << e.name << " channels=" << channels << " taps=" << taps
                                       << " variant=" << variant << " c=" << c;
        }
      }
    }
  }
}

TEST_P(F32DwconvUkernel, MatchesExactAtChannelTileEdges) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP() << "CPU lacks " << IsaName(e.isa);
  const int64_t ct = e.channel_tile;
  const float kInf = std::numeric_limits<float>::infinity();
  std::mt19937 rng(3);
  // 64..261: the wide channel blocks (64 a step on AVX2, 128 on AVX-512)
  // and what follows them.
  for (int64_t c : {int64_t{1}, ct - 1, ct, ct + 1, 2 * ct, 3 * ct + 5, int64_t{13}, int64_t{4},
                    int64_t{8}, int64_t{9}, int64_t{23}, int64_t{64}, int64_t{72}, int64_t{128},
                    int64_t{136}, int64_t{261}}) {
    if (c < 1) continue;
    for (size_t taps : {size_t{0}, size_t{1}, size_t{4}, size_t{6}, size_t{9}, size_t{25}}) {
      for (int variant = 0; variant < 3; ++variant) {
        const auto in = Random(&rng, static_cast<int64_t>(taps) * c);
        const auto w = Random(&rng, static_cast<int64_t>(taps) * c);
        const auto b = Random(&rng, c);
        const float* bias = variant != 1 ? b.data() : nullptr;
        const float lo = variant == 2 ? -0.3f : -kInf, hi = variant == 2 ? 0.4f : kInf;
        std::vector<const float*> ip(taps), wp(taps);
        for (size_t t = 0; t < taps; ++t) {
          ip[t] = in.data() + t * c;
          wp[t] = w.data() + t * c;
        }
        std::vector<float> out(c + 1, 777.0f);
        e.fn(c, taps, ip.data(), wp.data(), bias, out.data(), lo, hi);
        const std::string what = std::string(e.name) + " c" + std::to_string(c) + " taps" +
                                 std::to_string(taps) + " variant " + std::to_string(variant);
        ASSERT_EQ(out[c], 777.0f) << what << ": wrote past the channels";
        for (int64_t ch = 0; ch < c; ++ch) {
          double exact = bias ? bias[ch] : 0.0, abs_sum = bias ? std::fabs(bias[ch]) : 0.0;
          for (size_t t = 0; t < taps; ++t) {
            const double v = static_cast<double>(ip[t][ch]) * wp[t][ch];
            exact += v;
            abs_sum += std::fabs(v);
          }
          exact = std::min<double>(std::max<double>(exact, lo), hi);
          ASSERT_NEAR(out[ch], exact, F32DotTolerance(static_cast<int64_t>(taps), abs_sum))
              << what << " channel " << ch;
        }
      }
    }
  }
}

TEST_P(F32DwconvUkernel, OpMatchesReferenceAndIsThreadInvariant) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP();
  std::mt19937 rng(4);
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int tested = 0;
  for (int iter = 0; iter < 100; ++iter) {
    Conv2DParams p;
    p.batch = ri(1, 2);
    p.in_h = ri(1, 9);
    p.in_w = ri(1, 9);
    p.in_c = p.out_c = ri(1, 40);
    p.kernel_h = ri(1, 5);
    p.kernel_w = ri(1, 5);
    p.stride_h = ri(1, 2);
    p.stride_w = ri(1, 2);
    p.dilation_h = ri(1, 2);
    p.dilation_w = ri(1, 2);
    const Padding padding = iter % 2 ? Padding::kSame : Padding::kValid;
    if (!ComputeWindow(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, padding, &p.out_h,
                       &p.pad_top) ||
        !ComputeWindow(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, padding, &p.out_w,
                       &p.pad_left)) {
      continue;
    }
    if (iter % 3 == 1) p.act = {0.0f, 6.0f};
    ASSERT_TRUE(F32DepthwiseDwconvSupported(p));
    const auto x = Random(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const auto w = Random(&rng, p.kernel_h * p.kernel_w * p.out_c);
    const auto b = Random(&rng, p.out_c);
    const float* bias = iter % 4 ? b.data() : nullptr;
    const int64_t ny = p.batch * p.out_h * p.out_w * p.out_c;
    std::vector<float> want(ny);
    f32_depthwise_conv2d__ref(p, x.data(), w.data(), bias, want.data(), nullptr);
    auto run = [&](ThreadPool* pool) {
      std::vector<float> y(ny);
      f32_depthwise_conv2d__dwconv(p, e.fn, x.data(), w.data(), bias, y.data(), pool);
      return y;
    };
    ThreadPool p1(1), p2(2, 1), p3(3, 1);
    const auto y1 = run(&p1);
    const std::string what = std::string(e.name) + " iter " + std::to_string(iter);
    const int64_t taps = static_cast<int64_t>(p.kernel_h) * p.kernel_w;
    const double tol = 2 * F32DotTolerance(taps, static_cast<double>(taps) + 1);
    for (int64_t i = 0; i < ny; ++i) ASSERT_NEAR(y1[i], want[i], tol) << what << " at " << i;
    const auto y2 = run(&p2), y3 = run(&p3);
    EXPECT_EQ(std::memcmp(y1.data(), y2.data(), ny * sizeof(float)), 0) << what;
    EXPECT_EQ(std::memcmp(y1.data(), y3.data(), ny * sizeof(float)), 0) << what;
    ++tested;
  }
  EXPECT_GT(tested, 50);
  Conv2DParams m2;
  m2.in_c = 3;
  m2.out_c = 6;
  m2.depth_multiplier = 2;
  EXPECT_FALSE(F32DepthwiseDwconvSupported(m2));
}

// The op computes a few-channel layer (c a multiple of 4, at most
// kDwconvGroupMaxChannels, kDwconvGroupMaxChannels3x3 for at most 9 taps) with stride 1 along x
// up to `kDwconvGroupWidth / c` adjacent interior pixels per microkernel call (fewer where the
// row's interior run or the thread's range ends first), on a repeated filter: it must equal, bit
// for bit, one call per pixel (written out here) on rows wide enough for the groups to start
// anywhere, rows narrower than a group (5-15 pixels: 7x7 and 14x14 layers), and thread ranges that
// split rows.
TEST_P(F32DwconvUkernel, PixelGroupsEqualOneCallPerPixel) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) GTEST_SKIP();
  std::mt19937 rng(5);
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int grouped = 0;
  for (int iter = 0; iter < 100; ++iter) {
    Conv2DParams p;
    p.batch = ri(1, 2);
    p.in_h = ri(1, 6);
    p.in_w = iter % 3 == 0 ? ri(5, 15) : ri(16, 80);
    p.in_c = p.out_c = 4 * ri(1, 10);  // 4 .. 40: grouped up to kDwconvGroupMaxChannels(3x3)
    const int k = 2 * ri(0, 2) + 1;
    p.kernel_h = iter % 5 == 0 ? 1 : k;
    p.kernel_w = k;
    p.stride_h = ri(1, 2);
    p.stride_w = iter % 7 == 3 ? 2 : 1;  // some ungrouped layers for contrast
    p.dilation_h = ri(1, 2);
    p.dilation_w = iter % 4 == 2 ? 2 : 1;
    const Padding padding = iter % 2 ? Padding::kSame : Padding::kValid;
    if (!ComputeWindow(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, padding, &p.out_h,
                       &p.pad_top) ||
        !ComputeWindow(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, padding, &p.out_w,
                       &p.pad_left)) {
      continue;
    }
    if (iter % 3 == 1) p.act = {0.0f, 6.0f};
    const int64_t c = p.in_c;
    const auto x = Random(&rng, p.batch * p.in_h * p.in_w * c);
    const auto w = Random(&rng, p.kernel_h * p.kernel_w * c);
    const auto b = Random(&rng, c);
    const float* bias = iter % 4 ? b.data() : nullptr;
    const int64_t ny = p.batch * p.out_h * p.out_w * c;
    std::vector<float> want(ny);
    for (int64_t n = 0; n < p.batch; ++n) {
      for (int64_t oy = 0; oy < p.out_h; ++oy) {
        for (int64_t ox = 0; ox < p.out_w; ++ox) {
          std::vector<const float*> ip, wp;
          for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
            const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dilation_h;
            if (iy < 0 || iy >= p.in_h) continue;
            for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
              const int64_t ix = ox * p.stride_w - p.pad_left + kx * p.dilation_w;
              if (ix < 0 || ix >= p.in_w) continue;
              ip.push_back(x.data() + ((n * p.in_h + iy) * p.in_w + ix) * c);
              wp.push_back(w.data() + (ky * p.kernel_w + kx) * c);
            }
          }
          e.fn(static_cast<size_t>(c), ip.size(), ip.data(), wp.data(), bias,
               want.data() + ((n * p.out_h + oy) * p.out_w + ox) * c, p.act.lo, p.act.hi);
        }
      }
    }
    const std::string what = std::string(e.name) + " iter " + std::to_string(iter) + " c" +
                             std::to_string(c) + " w" + std::to_string(p.in_w) + " k" +
                             std::to_string(k);
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads, 1);
      std::vector<float> y(ny, 777.0f);
      f32_depthwise_conv2d__dwconv(p, e.fn, x.data(), w.data(), bias, y.data(), &pool);
      ASSERT_EQ(std::memcmp(y.data(), want.data(), ny * sizeof(float)), 0)
          << what << " threads " << threads;
    }
    const int64_t max_c = int64_t{p.kernel_h} * p.kernel_w <= 9 ? kDwconvGroupMaxChannels3x3
                                                                : kDwconvGroupMaxChannels;
    if (p.stride_w == 1 && c <= max_c && p.out_w >= p.kernel_w + 1) {
      ++grouped;
    }
  }
  EXPECT_GT(grouped, 30);
}

INSTANTIATE_TEST_SUITE_P(All, F32DwconvUkernel, ::testing::ValuesIn(AllEntries()), EntryName);

}  // namespace
}  // namespace gearshift
