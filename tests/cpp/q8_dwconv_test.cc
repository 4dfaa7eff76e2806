// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 depthwise microkernels (kernels/q8_dwconv) through their op driver
// (q8_depthwise_conv2d__dw) against the plain-loop reference op
// (q8_depthwise_conv2d__ref), bit for bit: channel counts below, at and
// above every tile (1, 3, 8, 15, 16, 17, 33, 144), 1x1 to 7x7 and
// non-square kernels, strides 1-2, dilation 1-2, same and valid padding,
// batch 1-2, zero points at both ends, per-tensor and per-channel scales,
// fused activations, 1 and 3 threads. Entries the CPU cannot run are
// skipped; under qemu the NEON entry runs.
#include "kernels/q8_dwconv/q8_dwconv.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "dispatch.h"
#include "ops/conv.h"
#include "ops_q8/q8_conv.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

using I8 = std::vector<int8_t>;

struct Entry {
  Isa isa;
  Q8DwconvKernel kernel;
};

// Every pointer form, and every direct form (kernel.rows) as an entry of
// its own (named after it), so both paths of the driver run.
std::vector<Entry> AllEntries() {
  std::vector<Entry> v;
#define GS_UKERNEL(isa, name, ct) v.push_back({isa, {&name, ct, #name}});
#define GS_ROWS_UKERNEL(name, rows_fn)                                      \
  for (size_t i = 0, n = v.size(); i < n; ++i) {                            \
    if (v[i].kernel.fn == &name) {                                          \
      v.push_back({v[i].isa, {&name, v[i].kernel.ct, #rows_fn, &rows_fn}}); \
    }                                                                       \
  }
#include "kernels/q8_dwconv/q8_dwconv.inc"
#undef GS_ROWS_UKERNEL
#undef GS_UKERNEL
  return v;
}

std::string EntryName(const ::testing::TestParamInfo<Entry>& info) {
  return info.param.kernel.name;
}

struct Case {
  int64_t h, w, c;
  int kh, kw, stride, dilation;
  Padding pad;
};

class Q8DwconvUkernel : public ::testing::TestWithParam<Entry> {};

TEST_P(Q8DwconvUkernel, MatchesReferenceOpBitExact) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) {
    GTEST_SKIP() << e.kernel.name << ": CPU lacks " << IsaName(e.isa);
  }
  std::vector<Case> cases;
  for (int64_t c : {1, 3, 8, 15, 16, 17, 33, 40, 48}) {  // 33-48: a last tile of 1-16
    cases.push_back({5, 6, c, 3, 3, 1, 1, Padding::kSame});
    cases.push_back({7, 7, c, 3, 3, 2, 1, Padding::kSame});
  }
  // 14-pixel rows of 2-12 channels (a channel-pruned MobileNet's first
  // depthwise layer): 4 pixels a step up to 8 channels, then the 1-3 left.
  for (int64_t c : {2, 4, 5, 8, 12}) cases.push_back({14, 14, c, 3, 3, 1, 1, Padding::kSame});
  cases.push_back({9, 11, 6, 5, 5, 1, 1, Padding::kSame});
  cases.push_back({6, 5, 24, 1, 1, 1, 1, Padding::kValid});
  cases.push_back({9, 9, 16, 5, 5, 1, 1, Padding::kSame});
  cases.push_back({9, 8, 20, 5, 5, 2, 1, Padding::kValid});
  cases.push_back({11, 10, 7, 7, 7, 1, 1, Padding::kSame});
  cases.push_back({8, 8, 32, 3, 3, 1, 2, Padding::kSame});
  cases.push_back({6, 9, 9, 2, 3, 2, 1, Padding::kSame});
  cases.push_back({1, 1, 144, 3, 3, 1, 1, Padding::kSame});
  cases.push_back({14, 14, 144, 3, 3, 2, 1, Padding::kSame});
  std::mt19937 rng(2026);
  std::uniform_int_distribution<int> i8(-128, 127);
  int n = 0;
  for (const Case& cs : cases) {
    ++n;
    Conv2DParams p;
    p.batch = n % 3 == 0 ? 2 : 1;
    p.in_h = cs.h;
    p.in_w = cs.w;
    p.in_c = p.out_c = cs.c;
    p.kernel_h = cs.kh;
    p.kernel_w = cs.kw;
    p.stride_h = p.stride_w = cs.stride;
    p.dilation_h = p.dilation_w = cs.dilation;
    ComputeWindow(cs.h, cs.kh, cs.stride, cs.dilation, cs.pad, &p.out_h, &p.pad_top);
    ComputeWindow(cs.w, cs.kw, cs.stride, cs.dilation, cs.pad, &p.out_w, &p.pad_left);
    const int64_t taps = int64_t{cs.kh} * cs.kw;
    I8 x(static_cast<size_t>(p.batch * cs.h * cs.w * cs.c));
    I8 w(static_cast<size_t>(taps * cs.c));
    for (int8_t& v : x) v = static_cast<int8_t>(i8(rng));
    for (int8_t& v : w) v = static_cast<int8_t>(i8(rng));
    std::vector<int32_t> bias(static_cast<size_t>(cs.c));
    std::uniform_int_distribution<int32_t> bd(-50000, 50000);
    for (int32_t& b : bias) b = bd(rng);
    // Zero points at both ends and in between; per-tensor and per-channel.
    const int32_t zx = n % 3 == 0 ? -128 : (n % 3 == 1 ? 127 : i8(rng));
    const int32_t zy = n % 2 == 0 ? -128 : 5;
    std::vector<float> ws;
    std::uniform_real_distribution<float> sd(0.0005f, 0.02f);
    for (int64_t c = 0; c < (n % 2 == 0 ? 1 : cs.c); ++c) ws.push_back(sd(rng));
    const Activation act = n % 4 == 0 ? Activation::kRelu6 : Activation::kNone;
    Q8ChannelRequant q;
    MakeQ8ChannelRequant({0.03f, zx}, ws, {0.04f, zy}, cs.c, act, &q);
    const bool with_bias = n % 5 != 0;
    const size_t out = static_cast<size_t>(p.batch * p.out_h * p.out_w * cs.c);
    I8 ref(out);
    q8_depthwise_conv2d__ref(p, q, x.data(), w.data(), with_bias ? bias.data() : nullptr,
                             ref.data(), nullptr);
    ASSERT_TRUE(Q8DepthwiseDwconvSupported(p, e.kernel));
    std::vector<int64_t> packed((Q8DepthwisePackedBytes(p, e.kernel) + 7) / 8);
    PackQ8Depthwise(p, q, e.kernel, w.data(), with_bias ? bias.data() : nullptr, packed.data());
    for (int threads : {1, 3}) {
      ThreadPool pool(threads, 1);
      I8 y(out, 0x55);
      q8_depthwise_conv2d__dw(p, q, e.kernel, packed.data(), x.data(), y.data(), &pool);
      ASSERT_EQ(y, ref) << e.kernel.name << " " << cs.h << "x" << cs.w << "x" << cs.c << " k"
                        << cs.kh << "x" << cs.kw << " s" << cs.stride << " d" << cs.dilation
                        << " zx " << zx << " threads " << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, Q8DwconvUkernel, ::testing::ValuesIn(AllEntries()), EntryName);

// The NEON kernel's 3x3 path on full 16-channel tiles, each branch of it:
// weights without -128 (two taps' products summed in int16, at their
// extremes too), with -128 (one tap at a time), shifts of 0 or left
// (the general requantization) next to right shifts, and the clamp left out
// (int8's whole range) or applied (variant 5).
TEST_P(Q8DwconvUkernel, ThreeByThreeTilesBitExact) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) {
    GTEST_SKIP() << e.kernel.name << ": CPU lacks " << IsaName(e.isa);
  }
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> i8(-128, 127), w127(-127, 127), sign(0, 1);
  for (int variant = 0; variant < 6; ++variant) {
    for (int stride : {1, 2}) {
      Conv2DParams p;
      p.batch = 1;
      p.dilation_h = p.dilation_w = 1;
      p.in_h = p.in_w = 7;
      p.in_c = p.out_c = 48;
      p.kernel_h = p.kernel_w = 3;
      p.stride_h = p.stride_w = stride;
      ComputeWindow(p.in_h, 3, stride, 1, Padding::kSame, &p.out_h, &p.pad_top);
      ComputeWindow(p.in_w, 3, stride, 1, Padding::kSame, &p.out_w, &p.pad_left);
      I8 x(static_cast<size_t>(p.in_h * p.in_w * p.in_c)), w(9 * 48);
      for (int8_t& v : x) v = static_cast<int8_t>(variant == 1 || variant == 2 ? -128 : i8(rng));
      for (int8_t& v : w) {
        if (variant == 1) {
          v = static_cast<int8_t>(sign(rng) ? 127 : -127);
        } else if (variant == 2) {
          v = -128;
        } else {
          v = static_cast<int8_t>(w127(rng));
        }
      }
      if (variant == 0) w[5] = -128;  // one tile one tap at a time, the others in pairs
      std::vector<int32_t> bias(48);
      std::uniform_int_distribution<int32_t> bd(-50000, 50000);
      for (int32_t& b : bias) b = bd(rng);
      std::vector<float> ws(48, 0.004f);
      for (size_t c = 0; c < ws.size(); ++c) {
        if (variant == 3 && c % 3 == 1) ws[c] = 3.0f;  // a left shift
        if (variant == 4 && c % 5 == 2) ws[c] = 1.0f;  // shift 0
      }
      const int32_t zx = variant % 3 == 0 ? 127 : (variant % 3 == 1 ? -128 : 3);
      Q8ChannelRequant q;
      // variant 5: right shifts, pairs and a ReLU6 clamp narrower than int8.
      MakeQ8ChannelRequant({0.03f, zx}, ws, {0.04f, variant % 2 && variant != 5 ? -128 : 7}, 48,
                           variant >= 4 ? Activation::kRelu6 : Activation::kNone, &q);
      const size_t out = static_cast<size_t>(p.out_h * p.out_w * 48);
      I8 ref(out), y(out, 0x55);
      q8_depthwise_conv2d__ref(p, q, x.data(), w.data(), bias.data(), ref.data(), nullptr);
      ASSERT_TRUE(Q8DepthwiseDwconvSupported(p, e.kernel));
      std::vector<int64_t> packed((Q8DepthwisePackedBytes(p, e.kernel) + 7) / 8);
      PackQ8Depthwise(p, q, e.kernel, w.data(), bias.data(), packed.data());
      q8_depthwise_conv2d__dw(p, q, e.kernel, packed.data(), x.data(), y.data(), nullptr);
      ASSERT_EQ(y, ref) << e.kernel.name << " variant " << variant << " stride " << stride;
    }
  }
}

// The driver hands the kernel a group of output rows per call (up to 128
// pixels, rows of several images too): group ends inside a layer, rows
// wider than a group (one row a call, pointers beyond the stack buffer),
// more column offsets than the stack holds, 1-48 channels, odd widths,
// edge pixels, strides 1-2, a filter dilated in rows only, batches of 1-3,
// 1 and 3 threads; and the direct form's runs of 32 bytes across pixels
// (1-16 channels), their masked ends, frames of 1-3 images.
TEST_P(Q8DwconvUkernel, RowGroupsBitExact) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) {
    GTEST_SKIP() << e.kernel.name << ": CPU lacks " << IsaName(e.isa);
  }
  struct Shape {
    int64_t h, w;
    int k, stride;
    int64_t batch;
    int dilation_h = 1;
  };
  const Shape shapes[] = {{20, 13, 3, 1, 1}, {5, 3, 3, 1, 3},   {14, 14, 3, 1, 2},
                          {9, 1, 3, 2, 2},   {3, 130, 3, 1, 1}, {2, 200, 3, 1, 2},
                          {7, 29, 5, 2, 1},  {12, 11, 1, 1, 3}, {11, 9, 3, 1, 2, 2},
                          {7, 7, 3, 1, 1}};
  std::mt19937 rng(31);
  std::uniform_int_distribution<int> i8(-128, 127);
  int n = 0;
  for (const Shape& sh : shapes) {
    for (int64_t c : {1, 2, 4, 5, 8, 12, 16, 17, 24, 33, 48, 56, 64}) {
      ++n;
      Conv2DParams p;
      p.batch = sh.batch;
      p.in_h = sh.h;
      p.in_w = sh.w;
      p.in_c = p.out_c = c;
      p.kernel_h = p.kernel_w = sh.k;
      p.stride_h = p.stride_w = sh.stride;
      p.dilation_h = sh.dilation_h;  // rows of a 2-dilated filter, adjacent columns
      p.dilation_w = 1;
      const Padding pad = n % 3 == 2 ? Padding::kValid : Padding::kSame;
      ComputeWindow(sh.h, sh.k, sh.stride, sh.dilation_h, pad, &p.out_h, &p.pad_top);
      ComputeWindow(sh.w, sh.k, sh.stride, 1, pad, &p.out_w, &p.pad_left);
      if (p.out_h < 1 || p.out_w < 1) continue;
      const int64_t taps = int64_t{sh.k} * sh.k;
      I8 x(static_cast<size_t>(p.batch * sh.h * sh.w * c));
      I8 w(static_cast<size_t>(taps * c));
      for (int8_t& v : x) v = static_cast<int8_t>(i8(rng));
      for (int8_t& v : w) v = static_cast<int8_t>(i8(rng));
      std::vector<int32_t> bias(static_cast<size_t>(c));
      std::uniform_int_distribution<int32_t> bd(-50000, 50000);
      for (int32_t& b : bias) b = bd(rng);
      std::vector<float> ws;
      std::uniform_real_distribution<float> sd(0.0005f, 0.02f);
      for (int64_t i = 0; i < c; ++i) ws.push_back(sd(rng));
      Q8ChannelRequant q;
      MakeQ8ChannelRequant({0.03f, n % 2 == 0 ? -128 : i8(rng)}, ws, {0.04f, n % 2 == 0 ? 3 : -128},
                           c, n % 4 == 0 ? Activation::kRelu6 : Activation::kNone, &q);
      const size_t out = static_cast<size_t>(p.batch * p.out_h * p.out_w * c);
      I8 ref(out);
      q8_depthwise_conv2d__ref(p, q, x.data(), w.data(), bias.data(), ref.data(), nullptr);
      std::vector<int64_t> packed((Q8DepthwisePackedBytes(p, e.kernel) + 7) / 8);
      PackQ8Depthwise(p, q, e.kernel, w.data(), bias.data(), packed.data());
      for (int threads : {1, 3}) {
        ThreadPool pool(threads, 1);
        I8 y(out, 0x55);
        q8_depthwise_conv2d__dw(p, q, e.kernel, packed.data(), x.data(), y.data(), &pool);
        ASSERT_EQ(y, ref) << e.kernel.name << " " << sh.h << "x" << sh.w << "x" << c << " k" << sh.k
                          << " s" << sh.stride << " batch " << sh.batch << " threads " << threads;
      }
    }
  }
}

TEST(Q8DwconvDispatch, DepthMultiplierAboveOneTakesTheReferenceOp) {
  Conv2DParams p;
  p.in_c = 3;
  p.out_c = 6;
  p.depth_multiplier = 2;
  KernelTable t;
  ASSERT_TRUE(BuildKernelTable("", &t).ok());
  EXPECT_FALSE(Q8DepthwiseDwconvSupported(p, t.q8_dwconv));
  p.in_c = p.out_c = 6;
  p.depth_multiplier = 1;
  EXPECT_TRUE(Q8DepthwiseDwconvSupported(p, t.q8_dwconv)) << t.q8_dwconv.name;
}

}  // namespace
}  // namespace gearshift
