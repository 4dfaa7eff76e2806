// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 reference kernels (src/ops_q8) on small cases checked by hand against
// docs/QUANTIZATION.md's op table (the arithmetic is written out next to each
// expectation), and the q8 GEMM paths of CONV_2D and FULLY_CONNECTED against
// the reference kernels bit for bit on random data, for every q8 GEMM
// microkernel this CPU can run and for 1 and 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "cpu_features.h"
#include "dispatch.h"
#include "ops_q8/q8_common.h"
#include "ops_q8/q8_conv.h"
#include "ops_q8/q8_elementwise.h"
#include "ops_q8/q8_pool.h"
#include "ops_q8/q8_reduce.h"
#include "ops_q8/q8_shape_ops.h"
#include "ops_q8/q8_transpose_conv.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

using I8 = std::vector<int8_t>;

Conv2DParams Geometry(int64_t h, int64_t w, int64_t c, int kh, int kw, int64_t out_c, int stride,
                      Padding pad, int dilation = 1, int depth_multiplier = 1) {
  Conv2DParams p;
  p.batch = 1;
  p.in_h = h;
  p.in_w = w;
  p.in_c = c;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.out_c = out_c;
  p.stride_h = p.stride_w = stride;
  p.dilation_h = p.dilation_w = dilation;
  p.depth_multiplier = depth_multiplier;
  ComputeWindow(h, kh, stride, dilation, pad, &p.out_h, &p.pad_top);
  ComputeWindow(w, kw, stride, dilation, pad, &p.out_w, &p.pad_left);
  return p;
}

// ---- common ----------------------------------------------------------------------

TEST(OpsQ8, ActivationRange) {
  const Q8Quant y{0.1f, -10};
  Q8Range r = Q8ActivationRange(Activation::kNone, y);
  EXPECT_EQ(r.lo, -128);
  EXPECT_EQ(r.hi, 127);
  r = Q8ActivationRange(Activation::kRelu, y);
  EXPECT_EQ(r.lo, -10);
  EXPECT_EQ(r.hi, 127);
  r = Q8ActivationRange(Activation::kRelu6, y);  // 6 / 0.1f = 60 in float32
  EXPECT_EQ(r.lo, -10);
  EXPECT_EQ(r.hi, 50);
  r = Q8ActivationRange(Activation::kReluN1To1, y);
  EXPECT_EQ(r.lo, -20);
  EXPECT_EQ(r.hi, 0);
  // Bounds beyond int8 stay at -128/127.
  r = Q8ActivationRange(Activation::kRelu6, Q8Quant{0.01f, 100});
  EXPECT_EQ(r.lo, 100);
  EXPECT_EQ(r.hi, 127);
}

TEST(OpsQ8, QuantizeAndDequantize) {
  const Q8Quant q{0.5f, 3};
  const std::vector<float> x = {0.25f, -0.25f, 1000.0f, -1000.0f, 0.0f, NAN, 0.74f};
  I8 y(x.size());
  q8_quantize__ref(x.data(), q, y.data(), static_cast<int64_t>(x.size()));
  // 0.5 -> 1 and -0.5 -> -1 (half away from zero), saturation, NaN -> zero point.
  EXPECT_EQ(y, (I8{4, 2, 127, -128, 3, 3, 4}));
  std::vector<float> back(y.size());
  q8_dequantize__ref(y.data(), q, back.data(), static_cast<int64_t>(y.size()));
  EXPECT_EQ(back[0], 0.5f);
  EXPECT_EQ(back[1], -0.5f);
  EXPECT_EQ(back[2], 62.0f);
  EXPECT_EQ(back[3], -65.5f);
  EXPECT_EQ(back[4], 0.0f);
}

// ---- CONV_2D / DEPTHWISE / FULLY_CONNECTED --------------------------------------

// x 3x3x1 = 1..9 with zx = 1, so x - zx is 0..8; filter 2x2 = [1 2; 3 4],
// bias 10; sx * sw / sy = 0.5 * 0.25 / 1 = 0.125 = 2^30 * 2^(-2 - 31).
struct SmallConv {
  I8 x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  I8 w = {1, 2, 3, 4};
  std::vector<int32_t> bias = {10};
  Q8ChannelRequant q;
  explicit SmallConv(Activation act) {
    MakeQ8ChannelRequant({0.5f, 1}, {0.25f}, {1.0f, -5}, 1, act, &q);
  }
};

TEST(OpsQ8, Conv2DValid) {
  SmallConv c(Activation::kNone);
  EXPECT_EQ(c.q.multiplier[0], 1 << 30);
  EXPECT_EQ(c.q.shift[0], -2);
  const Conv2DParams p = Geometry(3, 3, 1, 2, 2, 1, 1, Padding::kValid);
  I8 y(4);
  q8_conv2d__ref(p, c.q, c.x.data(), c.w.data(), c.bias.data(), y.data(), nullptr);
  // acc = 27+10, 37+10, 60+10, 70+10 = 37, 47, 70, 80; * 0.125 with double
  // rounding: srdhm halves (37 -> 19, 47 -> 24, 70 -> 35, 80 -> 40), then
  // /4 rounds (4.75 -> 5, 6, 8.75 -> 9, 10); + zy (-5).
  EXPECT_EQ(y, (I8{0, 1, 4, 5}));
}

TEST(OpsQ8, Conv2DFusedRelu6) {
  SmallConv c(Activation::kRelu6);  // y = (1, -5): range [-5, 1]
  const Conv2DParams p = Geometry(3, 3, 1, 2, 2, 1, 1, Padding::kValid);
  I8 y(4);
  q8_conv2d__ref(p, c.q, c.x.data(), c.w.data(), c.bias.data(), y.data(), nullptr);
  EXPECT_EQ(y, (I8{0, 1, 1, 1}));
}

TEST(OpsQ8, Conv2DSameStride2) {
  SmallConv c(Activation::kNone);
  // SAME, stride 2: out 2x2, padding 0 before and 1 after in each dim.
  const Conv2DParams p = Geometry(3, 3, 1, 2, 2, 1, 2, Padding::kSame);
  ASSERT_EQ(p.out_h, 2);
  ASSERT_EQ(p.pad_top, 0);
  I8 y(4);
  q8_conv2d__ref(p, c.q, c.x.data(), c.w.data(), c.bias.data(), y.data(), nullptr);
  // (0,0) 37 -> 5; (0,1) 2*1 + 5*3 + 10 = 27: srdhm 13.5 -> 14, /4 = 3.5 ->
  // 4 (double rounding: 27/8 = 3.375 alone would give 3); (1,0) 6 + 7*2 +
  // 10 = 30 -> 15 -> 3.75 -> 4; (1,1) 8 + 10 = 18 -> 9 -> 2.25 -> 2.
  EXPECT_EQ(y, (I8{0, -1, -1, -3}));
}

TEST(OpsQ8, DepthwiseMultiplier2) {
  // x 2x2x1 = 1..4 (zx 0), M = 2: channel 0 sums the taps, channel 1
  // alternates signs; per-channel scales 0.5 and 1, sx = sy = 1.
  const I8 x = {1, 2, 3, 4};
  const I8 w = {1, 1, 1, -1, 1, 1, 1, -1};  // [1,2,2,2]: taps (0,0) (0,1) (1,0) (1,1)
  Q8ChannelRequant q;
  MakeQ8ChannelRequant({1.0f, 0}, {0.5f, 1.0f}, {1.0f, 0}, 2, Activation::kNone, &q);
  const Conv2DParams p = Geometry(2, 2, 1, 2, 2, 2, 1, Padding::kValid, 1, 2);
  I8 y(2);
  q8_depthwise_conv2d__ref(p, q, x.data(), w.data(), nullptr, y.data(), nullptr);
  EXPECT_EQ(y, (I8{5, -2}));  // 10 * 0.5, (1 - 2 + 3 - 4) * 1
}

// Straight from the definition: every output (c, m) of every pixel, taps
// clipped to the input, int64 sums, double rounding via requant.h.
I8 NaiveDepthwise(const Conv2DParams& p, const Q8ChannelRequant& q, const I8& x, const I8& w,
                  const std::vector<int32_t>& bias) {
  I8 y(static_cast<size_t>(p.batch * p.out_h * p.out_w * p.out_c));
  size_t i = 0;
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        for (int64_t c = 0; c < p.in_c; ++c) {
          for (int64_t m = 0; m < p.depth_multiplier; ++m) {
            const int64_t oc = c * p.depth_multiplier + m;
            int64_t acc = bias[oc];
            for (int ky = 0; ky < p.kernel_h; ++ky) {
              for (int kx = 0; kx < p.kernel_w; ++kx) {
                const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dilation_h;
                const int64_t ix = ox * p.stride_w - p.pad_left + kx * p.dilation_w;
                if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
                acc += (x[((n * p.in_h + iy) * p.in_w + ix) * p.in_c + c] - q.x_zero_point) *
                       int64_t{w[(ky * p.kernel_w + kx) * p.out_c + oc]};
              }
            }
            const int64_t v = MultiplyByQuantizedMultiplier(static_cast<int32_t>(acc),
                                                            q.multiplier[oc], q.shift[oc]) +
                              q.y_zero_point;
            y[i++] =
                static_cast<int8_t>(std::min<int64_t>(std::max<int64_t>(v, q.act.lo), q.act.hi));
          }
        }
      }
    }
  }
  return y;
}

I8 RandomI8(std::mt19937* rng, int64_t n, int lo = -128, int hi = 127) {
  std::uniform_int_distribution<int> d(lo, hi);
  I8 v(static_cast<size_t>(n));
  for (int8_t& x : v) x = static_cast<int8_t>(d(*rng));
  return v;
}

std::vector<int32_t> RandomBias(std::mt19937* rng, int64_t n) {
  std::uniform_int_distribution<int32_t> d(-20000, 20000);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t& x : v) x = d(*rng);
  return v;
}

std::vector<float> RandomScales(std::mt19937* rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(*rng);
  return v;
}

TEST(OpsQ8, DepthwiseSameStride2Multiplier2MatchesNaive) {
  std::mt19937 rng(7);
  for (int stride : {1, 2}) {
    for (Padding pad : {Padding::kSame, Padding::kValid}) {
      const Conv2DParams p = Geometry(7, 6, 3, 3, 3, 6, stride, pad, 1, 2);
      const I8 x = RandomI8(&rng, 7 * 6 * 3);
      const I8 w = RandomI8(&rng, 9 * 6, -127, 127);
      const std::vector<int32_t> bias = RandomBias(&rng, 6);
      Q8ChannelRequant q;
      MakeQ8ChannelRequant({0.05f, -7}, RandomScales(&rng, 6, 0.001f, 0.01f), {0.1f, 4}, 6,
                           Activation::kRelu, &q);
      I8 y(static_cast<size_t>(p.out_h * p.out_w * 6));
      ThreadPool pool(3, 1);
      q8_depthwise_conv2d__ref(p, q, x.data(), w.data(), bias.data(), y.data(), &pool);
      EXPECT_EQ(y, NaiveDepthwise(p, q, x, w, bias)) << "stride " << stride;
    }
  }
}

TEST(OpsQ8, FullyConnectedAndSaturation) {
  const I8 x = {1, 2, 3};  // zx = 1: 0, 1, 2
  const I8 w = {1, 1, 1, -1, 0, -2};
  const std::vector<int32_t> bias = {1, -1};
  Q8ChannelRequant q;
  FullyConnectedParams p;
  p.rows = 1;
  p.in_features = 3;
  p.out_features = 2;
  I8 y(2);
  MakeQ8ChannelRequant({1.0f, 1}, {1.0f, 1.0f}, {1.0f, 0}, 2, Activation::kNone, &q);
  q8_fully_connected__ref(p, q, x.data(), w.data(), bias.data(), y.data(), nullptr);
  EXPECT_EQ(y, (I8{4, -5}));  // 0 + 1 + 2 + 1, 0 + 0 - 4 - 1
  // sy = 0.02: 4 / 0.02 = 200 and -250 saturate.
  MakeQ8ChannelRequant({1.0f, 1}, {1.0f, 1.0f}, {0.02f, 0}, 2, Activation::kNone, &q);
  q8_fully_connected__ref(p, q, x.data(), w.data(), bias.data(), y.data(), nullptr);
  EXPECT_EQ(y, (I8{127, -128}));
  // RELU with zy = 3: the lower bound is 3.
  MakeQ8ChannelRequant({1.0f, 1}, {1.0f, 1.0f}, {1.0f, 3}, 2, Activation::kRelu, &q);
  q8_fully_connected__ref(p, q, x.data(), w.data(), bias.data(), y.data(), nullptr);
  EXPECT_EQ(y, (I8{7, 3}));
}

// ---- ADD / MUL -------------------------------------------------------------------

BinaryParams Broadcast(const Shape& a, const Shape& b) {
  BinaryParams p;
  EXPECT_TRUE(MakeBinaryParams(a, b, Activation::kNone, &p));
  return p;
}

TEST(OpsQ8, AddHandChecked) {
  // sa = sb = 0.5, sy = 1: twice_max = 1, input multipliers 0.5, output
  // 2^-20. Reals 1 + 1 = 2, 2 + 0.5 = 2.5 -> 3 and -1.5 - 1 = -2.5 -> -3
  // (ties away from zero).
  const I8 a = {2, 4, -3}, b = {2, 1, -2};
  I8 y(3);
  Q8AddParams p = MakeQ8AddParams({0.5f, 0}, {0.5f, 0}, {1.0f, 0}, Activation::kNone);
  q8_add__ref(Broadcast({3}, {3}), p, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (I8{2, 3, -3}));
  p = MakeQ8AddParams({0.5f, 0}, {0.5f, 0}, {1.0f, 10}, Activation::kNone);
  q8_add__ref(Broadcast({3}, {3}), p, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (I8{12, 13, 7}));
  p = MakeQ8AddParams({0.5f, 0}, {0.5f, 0}, {0.01f, 0}, Activation::kNone);
  q8_add__ref(Broadcast({3}, {3}), p, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (I8{127, 127, -128}));
  // RELU with zy = 10: [10, 127].
  p = MakeQ8AddParams({0.5f, 0}, {0.5f, 0}, {1.0f, 10}, Activation::kRelu);
  q8_add__ref(Broadcast({3}, {3}), p, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (I8{12, 13, 10}));
}

TEST(OpsQ8, AddAndMulBroadcast) {
  // Scales 1 and zero points 0 make ADD exact (qa + qb); MUL with
  // sa * sb / sy = 1 is (qa - za) * (qb - zb).
  const Q8AddParams add = MakeQ8AddParams({1.0f, 0}, {1.0f, 0}, {1.0f, 0}, Activation::kNone);
  const Q8MulParams mul = MakeQ8MulParams({0.5f, 1}, {0.5f, -1}, {0.25f, 0}, Activation::kNone);
  const I8 a = {1, 2, 3, 4, 5, 6};  // [2, 3]
  I8 y(6);
  const I8 bc = {10, 20, 30};  // per channel [3]
  q8_add__ref(Broadcast({2, 3}, {3}), add, a.data(), bc.data(), y.data());
  EXPECT_EQ(y, (I8{11, 22, 33, 14, 25, 36}));
  q8_add__ref(Broadcast({3}, {2, 3}), add, bc.data(), a.data(), y.data());
  EXPECT_EQ(y, (I8{11, 22, 33, 14, 25, 36}));
  const I8 s = {-1};  // scalar
  q8_add__ref(Broadcast({2, 3}, {1}), add, a.data(), s.data(), y.data());
  EXPECT_EQ(y, (I8{0, 1, 2, 3, 4, 5}));
  const I8 col = {100, -100};  // [2, 1] + [1, 3]: general broadcast
  q8_add__ref(Broadcast({2, 1}, {1, 3}), add, col.data(), bc.data(), y.data());
  EXPECT_EQ(y, (I8{110, 120, 127, -90, -80, -70}));
  // MUL: (a - 1) * (b + 1).
  const I8 m = {1, 2, 3};
  q8_mul__ref(Broadcast({2, 3}, {3}), mul, a.data(), m.data(), y.data());
  EXPECT_EQ(y, (I8{0, 3, 8, 6, 12, 20}));
  q8_mul__ref(Broadcast({2, 1}, {1, 3}), mul, col.data(), m.data(), y.data());
  EXPECT_EQ(y, (I8{127, 127, 127, -128, -128, -128}));  // 99 * 2.. saturate
  // Fused RELU6 with sy = 0.25, zy = 0: [0, 24].
  const Q8MulParams relu6 = MakeQ8MulParams({0.5f, 1}, {0.5f, -1}, {0.25f, 0}, Activation::kRelu6);
  const I8 neg = {-3, 2, 9};
  q8_mul__ref(Broadcast({2, 3}, {3}), relu6, a.data(), neg.data(), y.data());
  EXPECT_EQ(y, (I8{0, 3, 20, 0, 12, 24}));  // 0*-2, 1*3, 2*10, 3*-2, 4*3, 5*10
}

// ---- pools, MEAN, SOFTMAX ----------------------------------------------------------

Pool2DParams PoolGeometry(Padding pad) {
  Pool2DParams p;
  p.batch = 1;
  p.in_h = p.in_w = 3;
  p.channels = 1;
  p.filter_h = p.filter_w = 2;
  p.stride_h = p.stride_w = 2;
  ComputeWindow(3, 2, 2, 1, pad, &p.out_h, &p.pad_top);
  ComputeWindow(3, 2, 2, 1, pad, &p.out_w, &p.pad_left);
  return p;
}

TEST(OpsQ8, MaxPoolSameStride2) {
  const I8 x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const Pool2DParams p = PoolGeometry(Padding::kSame);
  I8 y(4);
  q8_max_pool2d__ref(p, Q8Range(), x.data(), y.data(), nullptr);
  EXPECT_EQ(y, (I8{5, 6, 8, 9}));
  q8_max_pool2d__ref(p, Q8ActivationRange(Activation::kRelu6, {1.0f, 0}), x.data(), y.data(),
                     nullptr);
  EXPECT_EQ(y, (I8{5, 6, 6, 6}));
  const I8 neg = {-9, -8, -7, -6, -5, -4, -3, -2, -1};
  q8_max_pool2d__ref(PoolGeometry(Padding::kValid), Q8Range(), neg.data(), y.data(), nullptr);
  EXPECT_EQ(y[0], -5);
}

TEST(OpsQ8, AveragePoolRoundsHalfAwayFromZero) {
  const Pool2DParams p = PoolGeometry(Padding::kSame);
  I8 y(4);
  const I8 x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  q8_average_pool2d__ref(p, Q8Range(), x.data(), y.data(), nullptr);
  EXPECT_EQ(y, (I8{3, 5, 8, 9}));  // 12/4, 9/2 = 4.5 -> 5, 15/2 -> 8, 9 (padding not counted)
  const I8 neg = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
  q8_average_pool2d__ref(p, Q8Range(), neg.data(), y.data(), nullptr);
  EXPECT_EQ(y, (I8{-3, -5, -8, -9}));
}

TEST(OpsQ8, Mean) {
  // x [1,2,2,1] = 1 2 3 5, zx 1: sum 7 over n = 4; sx / (sy * n) = 1 / 2:
  // srdhm(7, 2^30) = 3.5 -> 4.
  const I8 x = {1, 2, 3, 5};
  const MeanParams shape = MakeMeanParams({1, 2, 2, 1}, {1, 2});
  const Q8RescaleParams q = MakeQ8MeanParams({1.0f, 1}, {0.5f, 0}, shape.reduced_count);
  I8 y(1);
  q8_mean__ref(shape, q, x.data(), y.data());
  EXPECT_EQ(y[0], 4);
  // Over axis 2 only, two outputs: (0 + 1) / 2 / 0.5 = 1, (2 + 4) / 2 / 0.5 = 6;
  // with sy = 0.01 they saturate.
  const MeanParams rows = MakeMeanParams({1, 2, 2, 1}, {2});
  I8 y2(2);
  q8_mean__ref(rows, MakeQ8MeanParams({1.0f, 1}, {0.5f, 0}, 2), x.data(), y2.data());
  EXPECT_EQ(y2, (I8{1, 6}));
  q8_mean__ref(rows, MakeQ8MeanParams({1.0f, 1}, {0.01f, 0}, 2), x.data(), y2.data());
  EXPECT_EQ(y2, (I8{50, 127}));
}

TEST(OpsQ8, ReluFamilyRescales) {
  // sx / sy = 0.5 / 0.25 = 2: y = 2 * (q - 2) - 3, clamped.
  const I8 x = {0, 2, 5, 100};
  I8 y(4);
  const Q8Quant xq{0.5f, 2}, yq{0.25f, -3};
  q8_rescale__ref(MakeQ8RescaleParams(UnaryOp::kRelu, xq, yq), x.data(), y.data(), 4);
  EXPECT_EQ(y, (I8{-3, -3, 3, 127}));
  q8_rescale__ref(MakeQ8RescaleParams(UnaryOp::kRelu6, xq, yq), x.data(), y.data(), 4);
  EXPECT_EQ(y, (I8{-3, -3, 3, 21}));  // 6 / 0.25 - 3 = 21
  q8_rescale__ref(MakeQ8RescaleParams(UnaryOp::kReluN1To1, xq, yq), x.data(), y.data(), 4);
  EXPECT_EQ(y, (I8{-7, -3, 1, 1}));  // [-4 - 3, 4 - 3]
}

TEST(OpsQ8, Tables) {
  const I8 x = {0, 127, -128, 10, -10, 50, -50};
  I8 y(x.size());
  const auto n = static_cast<int64_t>(x.size());
  // LOGISTIC, y = (1/256, -128): 0.5 -> 0; ~1 -> 128 -> 127; ~0 -> -128.
  q8_lookup__ref(MakeQ8Table(UnaryOp::kLogistic, {0.1f, 0}, {1.0f / 256, -128}), x.data(), y.data(),
                 n);
  EXPECT_EQ(y[0], 0);
  EXPECT_EQ(y[1], 127);
  EXPECT_EQ(y[2], -128);
  EXPECT_EQ(y[3], -128 + static_cast<int>(std::round(256.0 / (1.0 + std::exp(-1.0)))));
  // TANH, y = (1/128, 0): tanh(1) * 128 = 97.48 -> 97.
  q8_lookup__ref(MakeQ8Table(UnaryOp::kTanh, {0.1f, 0}, {1.0f / 128, 0}), x.data(), y.data(), n);
  EXPECT_EQ(y[0], 0);
  EXPECT_EQ(y[3], 97);
  EXPECT_EQ(y[4], -97);
  // HARD_SWISH, x = y = (0.1, 0): v = 1 -> 4/6 -> 6.67 -> 7; v = -1 ->
  // -2/6 -> -3.33 -> -3; v = 5 -> 5 -> 50; v = -5 -> 0; v = 12.7 -> 127.
  q8_lookup__ref(MakeQ8Table(UnaryOp::kHardSwish, {0.1f, 0}, {0.1f, 0}), x.data(), y.data(), n);
  EXPECT_EQ(y, (I8{0, 127, 0, 7, -3, 50, 0}));
}

TEST(OpsQ8, Softmax) {
  SoftmaxParams shape;
  shape.rows = 2;
  shape.cols = 2;
  const I8 x = {0, 0, 0, -100};
  I8 y(4);
  q8_softmax__ref(shape, MakeQ8SoftmaxParams(1.0f, {1.0f, 0}, {1.0f / 256, -128}), x.data(),
                  y.data());
  // 0.5 * 256 = 128 -> 0; 1 * 256 -> 127 (saturates); e^-100 -> -128.
  EXPECT_EQ(y, (I8{0, 0, 127, -128}));
  // beta 0.5 * sx 2 = 1: row (1, 0): e / (e + 1) = 0.731 -> 187 - 128 = 59, 0.269 -> -59.
  shape.rows = 1;
  const I8 z = {5, 4};
  q8_softmax__ref(shape, MakeQ8SoftmaxParams(0.5f, {2.0f, 3}, {1.0f / 256, -128}), z.data(),
                  y.data());
  EXPECT_EQ(y[0], -128 + static_cast<int>(std::round(256 * std::exp(1.0) / (std::exp(1.0) + 1))));
  EXPECT_EQ(y[1], -128 + static_cast<int>(std::round(256 / (std::exp(1.0) + 1))));
}

// ---- value-moving ops --------------------------------------------------------------

TEST(OpsQ8, ConcatPadCopy) {
  const I8 a = {1, -2, 3, -4}, b = {5, -6};  // [2, 2] and [2, 1] along axis 1
  const ConcatParams c = MakeConcatParams({{2, 2}, {2, 1}}, 1, Activation::kNone);
  const int8_t* in[] = {a.data(), b.data()};
  I8 y(6);
  q8_concat__ref(c, Q8Range(), in, y.data());
  EXPECT_EQ(y, (I8{1, -2, 5, 3, -4, -6}));
  q8_concat__ref(c, Q8ActivationRange(Activation::kRelu, {1.0f, -1}), in, y.data());
  EXPECT_EQ(y, (I8{1, -1, 5, 3, -1, -1}));
  const PadParams pad = MakePadParams({1, 2}, {{0, 1}, {1, 0}});  // -> [2, 3]
  I8 padded(6);
  q8_pad__ref(pad, -7, a.data(), padded.data());
  EXPECT_EQ(padded, (I8{-7, 1, -2, -7, -7, -7}));
  I8 copy(4);
  q8_copy__ref(a.data(), copy.data(), 4);
  EXPECT_EQ(copy, a);
}

// ---- GEMM paths == reference ------------------------------------------------------

struct GemmEntry {
  Isa isa;
  Q8GemmKernel kernel;
};

std::vector<Q8GemmKernel> RunnableKernels() {
  std::vector<GemmEntry> all;
#define GS_UKERNEL(isa, name, mr, nr, kr, a_offset, wmin, wide_nc) \
  all.push_back({isa, {&name, mr, nr, kr, #name, a_offset, wmin, wide_nc != 0}});
#include "kernels/q8_gemm/q8_gemm.inc"
#undef GS_UKERNEL
  const CpuFeatures f = DetectCpuFeatures();
  std::vector<Q8GemmKernel> v;
  for (const GemmEntry& e : all) {
    if (IsaSupported(e.isa, f)) v.push_back(e.kernel);
  }
  return v;
}

std::vector<int32_t> Pack(const Q8GemmKernel& k, int64_t n, int64_t kdim, const I8& w,
                          const std::vector<int32_t>& bias, const Q8ChannelRequant& q) {
  std::vector<int32_t> packed(
      Q8GemmPackedBytes(static_cast<size_t>(n), static_cast<size_t>(kdim), k) / 4 + 1);
  PackQ8GemmWeights(k, static_cast<size_t>(n), static_cast<size_t>(kdim), w.data(), bias.data(),
                    q.multiplier.data(), q.shift.data(), q.x_zero_point, packed.data());
  return packed;
}

TEST(OpsQ8, ConvGemmMatchesReference) {
  struct Case {
    int h, w, c, kh, kw, o, stride, dilation;
    Padding pad;
  };
  const Case cases[] = {
      {5, 7, 3, 3, 3, 5, 1, 1, Padding::kSame},
      {6, 6, 8, 1, 1, 9, 1, 1, Padding::kValid},
      {7, 5, 4, 3, 3, 8, 2, 1, Padding::kSame},
      {9, 9, 2, 3, 3, 3, 1, 2, Padding::kSame},
      {4, 4, 16, 1, 1, 17, 2, 1, Padding::kValid},
      {8, 8, 5, 5, 5, 4, 2, 1, Padding::kValid},
      {3, 3, 33, 2, 2, 1, 1, 1, Padding::kSame},
      // filter rows of 3 and 6 contiguous bytes (the gather's short runs)
      {6, 6, 1, 3, 3, 4, 1, 1, Padding::kSame},
      {7, 6, 2, 3, 3, 3, 2, 1, Padding::kSame},
  };
  std::mt19937 rng(11);
  const std::vector<Q8GemmKernel> kernels = RunnableKernels();
  ASSERT_FALSE(kernels.empty());
  for (const Case& cs : cases) {
    for (int batch : {1, 2}) {
      Conv2DParams p =
          Geometry(cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.o, cs.stride, cs.pad, cs.dilation);
      p.batch = batch;
      const int64_t kdim = int64_t{cs.kh} * cs.kw * cs.c;
      const I8 x = RandomI8(&rng, batch * cs.h * cs.w * cs.c);
      const I8 w = RandomI8(&rng, cs.o * kdim, -127, 127);
      const std::vector<int32_t> bias = RandomBias(&rng, cs.o);
      const int32_t zx = std::uniform_int_distribution<int>(-128, 127)(rng);
      Q8ChannelRequant q;
      MakeQ8ChannelRequant({0.02f, zx}, RandomScales(&rng, cs.o, 0.0005f, 0.01f), {0.05f, -3}, cs.o,
                           batch == 1 ? Activation::kNone : Activation::kRelu6, &q);
      const size_t out = static_cast<size_t>(batch * p.out_h * p.out_w * cs.o);
      I8 ref(out);
      q8_conv2d__ref(p, q, x.data(), w.data(), bias.data(), ref.data(), nullptr);
      for (const Q8GemmKernel& k : kernels) {
        ASSERT_TRUE(Q8Conv2DGemmSupported(p, k)) << k.name;
        const std::vector<int32_t> packed = Pack(k, cs.o, kdim, w, bias, q);
        for (int threads : {1, 3}) {
          ThreadPool pool(threads, 1);
          I8 y(out, 0x55);
          q8_conv2d__gemm(p, q, k, packed.data(), x.data(), y.data(), &pool);
          EXPECT_EQ(y, ref) << k.name << " " << cs.h << "x" << cs.w << "x" << cs.c << " k" << cs.kh
                            << " s" << cs.stride << " threads " << threads;
        }
      }
    }
  }
}

// Stems of 1-4 input channels (filter rows of at most 4 bytes: the gather's
// 4-byte copies, its exact-length copy where a 4-byte read would pass the
// input's end, and rows padded to the kernel's K groups), odd widths, 1-48
// output channels, edge pixels of same and valid padding, batches of 1-2:
// every runnable kernel gives the reference's integers.
TEST(OpsQ8, NarrowStemGemmMatchesReference) {
  struct Case {
    int h, w, c, kh, kw, o, stride;
    Padding pad;
  };
  const Case cases[] = {
      {28, 28, 1, 3, 3, 16, 2, Padding::kSame}, {28, 28, 1, 3, 3, 8, 2, Padding::kSame},
      {13, 11, 1, 3, 3, 5, 1, Padding::kSame},  {9, 7, 1, 3, 3, 48, 2, Padding::kValid},
      {7, 9, 1, 3, 3, 17, 1, Padding::kValid},  {5, 5, 1, 2, 2, 1, 1, Padding::kSame},
      {11, 6, 1, 2, 4, 33, 2, Padding::kSame},  {8, 13, 2, 3, 2, 12, 2, Padding::kSame},
      {6, 15, 4, 3, 1, 24, 1, Padding::kValid}, {29, 29, 1, 3, 3, 16, 2, Padding::kSame},
      {3, 3, 1, 3, 3, 40, 1, Padding::kValid},  {1, 1, 1, 3, 3, 3, 1, Padding::kSame},
      {7, 8, 3, 3, 1, 9, 1, Padding::kSame},    {10, 9, 1, 4, 3, 2, 3, Padding::kSame},
  };
  std::mt19937 rng(23);
  const std::vector<Q8GemmKernel> kernels = RunnableKernels();
  ASSERT_FALSE(kernels.empty());
  for (const Case& cs : cases) {
    for (int batch : {1, 2}) {
      Conv2DParams p = Geometry(cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.o, cs.stride, cs.pad, 1);
      p.batch = batch;
      const int64_t kdim = int64_t{cs.kh} * cs.kw * cs.c;
      // Exactly the input's size: a read past its end would be out of bounds.
      const I8 x = RandomI8(&rng, batch * cs.h * cs.w * cs.c);
      const I8 w = RandomI8(&rng, cs.o * kdim);
      const std::vector<int32_t> bias = RandomBias(&rng, cs.o);
      const int32_t zx = batch == 1 ? -128 : std::uniform_int_distribution<int>(-128, 127)(rng);
      Q8ChannelRequant q;
      MakeQ8ChannelRequant({0.02f, zx}, RandomScales(&rng, cs.o, 0.0005f, 0.01f), {0.05f, 9}, cs.o,
                           batch == 1 ? Activation::kRelu6 : Activation::kNone, &q);
      const size_t out = static_cast<size_t>(batch * p.out_h * p.out_w * cs.o);
      I8 ref(out);
      q8_conv2d__ref(p, q, x.data(), w.data(), bias.data(), ref.data(), nullptr);
      for (const Q8GemmKernel& k : kernels) {
        const std::vector<int32_t> packed = Pack(k, cs.o, kdim, w, bias, q);
        for (int threads : {1, 3}) {
          ThreadPool pool(threads, 1);
          I8 y(out, 0x55);
          q8_conv2d__gemm(p, q, k, packed.data(), x.data(), y.data(), &pool);
          EXPECT_EQ(y, ref) << k.name << " " << cs.h << "x" << cs.w << "x" << cs.c << " k" << cs.kh
                            << "x" << cs.kw << " o" << cs.o << " s" << cs.stride << " batch "
                            << batch << " threads " << threads;
        }
      }
    }
  }
}

// TRANSPOSE_CONV on the GEMM kernels (gathered taps, padding where a tap
// reads no input pixel) gives the reference's integers: strides 1-3, kernels
// larger and smaller than the stride, SAME and VALID, every runnable kernel.
TEST(OpsQ8, TransposeConvGemmMatchesReference) {
  std::mt19937 rng(17);
  const std::vector<Q8GemmKernel> kernels = RunnableKernels();
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 40; ++trial) {
    Conv2DParams p;
    p.batch = pick(1, 2);
    p.in_h = pick(1, 6);
    p.in_w = pick(1, 6);
    p.in_c = pick(1, 20);
    p.out_c = trial % 8 == 0 ? pick(17, 40) : pick(1, 12);
    p.kernel_h = pick(1, 4);
    p.kernel_w = pick(1, 4);
    p.stride_h = pick(1, 3);
    p.stride_w = pick(1, 3);
    const Padding pad = pick(0, 1) != 0 ? Padding::kSame : Padding::kValid;
    p.out_h = pad == Padding::kSame ? p.in_h * p.stride_h : (p.in_h - 1) * p.stride_h + p.kernel_h;
    p.out_w = pad == Padding::kSame ? p.in_w * p.stride_w : (p.in_w - 1) * p.stride_w + p.kernel_w;
    p.pad_top = TransposeConvPadBefore(p.in_h, p.out_h, p.kernel_h, p.stride_h, pad);
    p.pad_left = TransposeConvPadBefore(p.in_w, p.out_w, p.kernel_w, p.stride_w, pad);
    const int64_t kdim = int64_t{p.kernel_h} * p.kernel_w * p.in_c;
    const I8 x = RandomI8(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const I8 w = RandomI8(&rng, p.out_c * kdim, -127, 127);
    const std::vector<int32_t> bias = RandomBias(&rng, p.out_c);
    const int32_t zx = pick(-128, 127);
    Q8ChannelRequant q;
    MakeQ8ChannelRequant({0.02f, zx}, RandomScales(&rng, p.out_c, 0.0005f, 0.01f), {0.05f, -3},
                         p.out_c, trial % 2 == 0 ? Activation::kNone : Activation::kRelu6, &q);
    const size_t out = static_cast<size_t>(p.batch * p.out_h * p.out_w * p.out_c);
    I8 ref(out);
    q8_transpose_conv2d__ref(p, q, x.data(), w.data(), bias.data(), ref.data(), nullptr);
    for (const Q8GemmKernel& k : kernels) {
      const std::vector<int32_t> packed = Pack(k, p.out_c, kdim, w, bias, q);
      for (int threads : {1, 3}) {
        ThreadPool pool(threads, 1);
        I8 y(out, 0x55);
        q8_transpose_conv2d__gemm(p, q, k, packed.data(), x.data(), y.data(), &pool);
        ASSERT_EQ(y, ref) << k.name << " trial " << trial << " threads " << threads;
      }
    }
  }
}

// TRANSPOSE_CONV whose stride equals its kernel (2x2 stride-2 upsampling
// heads) runs as one GEMM per (input row, filter row) with N = KW * O:
// the reference's integers for kernels 1-4 per side, one to many output
// channels, rows longer than a tile, every runnable kernel.
TEST(OpsQ8, TransposeConvShuffleMatchesReference) {
  std::mt19937 rng(19);
  const std::vector<Q8GemmKernel> kernels = RunnableKernels();
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int cases = 0;
  for (int trial = 0; trial < 40; ++trial) {
    Conv2DParams p;
    p.batch = pick(1, 2);
    p.in_h = pick(1, 5);
    p.in_w = pick(1, 21);
    p.in_c = pick(1, 40);
    p.out_c = trial % 5 == 0 ? pick(17, 40) : pick(1, 6);
    p.kernel_h = p.stride_h = pick(1, 4);
    p.kernel_w = p.stride_w = pick(1, 4);
    const Padding pad = trial % 2 != 0 ? Padding::kSame : Padding::kValid;
    p.out_h = p.in_h * p.stride_h;  // SAME and VALID agree when stride == kernel
    p.out_w = p.in_w * p.stride_w;
    p.pad_top = TransposeConvPadBefore(p.in_h, p.out_h, p.kernel_h, p.stride_h, pad);
    p.pad_left = TransposeConvPadBefore(p.in_w, p.out_w, p.kernel_w, p.stride_w, pad);
    ASSERT_TRUE(TransposeConvIsShuffle(p));
    const int64_t kdim = int64_t{p.kernel_h} * p.kernel_w * p.in_c;
    const I8 x = RandomI8(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const I8 w = RandomI8(&rng, p.out_c * kdim, -127, 127);
    const std::vector<int32_t> bias = RandomBias(&rng, p.out_c);
    Q8ChannelRequant q;
    MakeQ8ChannelRequant({0.02f, pick(-128, 127)}, RandomScales(&rng, p.out_c, 0.0005f, 0.01f),
                         {0.05f, -3}, p.out_c,
                         trial % 2 == 0 ? Activation::kNone : Activation::kRelu6, &q);
    const size_t out = static_cast<size_t>(p.batch * p.out_h * p.out_w * p.out_c);
    I8 ref(out);
    q8_transpose_conv2d__ref(p, q, x.data(), w.data(), bias.data(), ref.data(), nullptr);
    Q8ChannelRequant cols = q;
    cols.multiplier = TransposeConvShuffleColumns(p, q.multiplier.data());
    cols.shift = TransposeConvShuffleColumns(p, q.shift.data());
    const std::vector<int32_t> bias_cols = TransposeConvShuffleColumns(p, bias.data());
    for (const Q8GemmKernel& k : kernels) {
      std::vector<std::vector<int32_t>> packs;
      std::vector<const void*> row_packed;
      for (int ky = 0; ky < p.kernel_h; ++ky) {
        const I8 rows = TransposeConvShuffleFilter(p, w.data(), ky);
        packs.push_back(Pack(k, p.kernel_w * p.out_c, p.in_c, rows, bias_cols, cols));
        row_packed.push_back(packs.back().data());
      }
      for (int threads : {1, 3}) {
        ThreadPool pool(threads, 1);
        I8 y(out, 0x55);
        q8_transpose_conv2d__shuffle(p, q, k, row_packed.data(), x.data(), y.data(), &pool);
        ASSERT_EQ(y, ref) << k.name << " trial " << trial << " threads " << threads;
      }
      ++cases;
    }
  }
  EXPECT_GE(cases, 40);
}

// 3x3 convolutions over many channels used to exceed a fixed 32 KiB gather
// tile and silently take the scalar reference loop (a 3x3 512->64 conv ran
// 10x slower in int8 than in fp32); every geometry now takes the GEMM path.
TEST(OpsQ8, WideConvTakesTheGemmPath) {
  std::mt19937 rng(13);
  const std::vector<Q8GemmKernel> kernels = RunnableKernels();
  const Conv2DParams p = Geometry(5, 4, 515, 3, 3, 9, 1, Padding::kSame);
  const int64_t kdim = 9 * 515;
  const I8 x = RandomI8(&rng, 5 * 4 * 515);
  const I8 w = RandomI8(&rng, 9 * kdim, -127, 127);
  const std::vector<int32_t> bias = RandomBias(&rng, 9);
  Q8ChannelRequant q;
  MakeQ8ChannelRequant({0.02f, 17}, RandomScales(&rng, 9, 0.0005f, 0.01f), {0.05f, -3}, 9,
                       Activation::kNone, &q);
  const size_t out = static_cast<size_t>(p.out_h * p.out_w * 9);
  I8 ref(out);
  q8_conv2d__ref(p, q, x.data(), w.data(), bias.data(), ref.data(), nullptr);
  for (const Q8GemmKernel& k : kernels) {
    ASSERT_TRUE(Q8Conv2DGemmSupported(p, k)) << k.name;
    const std::vector<int32_t> packed = Pack(k, 9, kdim, w, bias, q);
    ThreadPool pool(2, 1);
    I8 y(out, 0x55);
    q8_conv2d__gemm(p, q, k, packed.data(), x.data(), y.data(), &pool);
    EXPECT_EQ(y, ref) << k.name;
  }
}

TEST(OpsQ8, DenseGemmMatchesReference) {
  std::mt19937 rng(12);
  const std::vector<Q8GemmKernel> kernels = RunnableKernels();
  for (int rows : {1, 3, 4, 9}) {
    for (int in : {1, 7, 64, 129}) {
      for (int outf : {1, 8, 13}) {
        FullyConnectedParams p;
        p.rows = rows;
        p.in_features = in;
        p.out_features = outf;
        const I8 x = RandomI8(&rng, rows * in);
        const I8 w = RandomI8(&rng, outf * in, -127, 127);
        const std::vector<int32_t> bias = RandomBias(&rng, outf);
        Q8ChannelRequant q;
        // no fused activation on odd widths: negative ties (single rounding
        // sends them toward +inf) reach the output
        MakeQ8ChannelRequant({0.03f, -128}, RandomScales(&rng, outf, 0.0005f, 0.01f), {0.07f, 9},
                             outf, in % 2 ? Activation::kNone : Activation::kRelu, &q);
        I8 ref(static_cast<size_t>(rows * outf));
        q8_fully_connected__ref(p, q, x.data(), w.data(), bias.data(), ref.data(), nullptr);
        for (const Q8GemmKernel& k : kernels) {
          const std::vector<int32_t> packed = Pack(k, outf, in, w, bias, q);
          for (int threads : {1, 3}) {
            ThreadPool pool(threads, 1);
            I8 y(ref.size(), 0x55);
            q8_fully_connected__gemm(p, q, k, packed.data(), x.data(), y.data(), &pool);
            EXPECT_EQ(y, ref) << k.name << " rows " << rows << " in " << in << " out " << outf;
          }
        }
      }
    }
  }
}

// FULLY_CONNECTED requantizes with single rounding, as LiteRT's reference
// FullyConnected: (acc * M + 2^(30 - shift)) >> (31 - shift) in int64 (ties
// toward +inf); CONV_2D keeps TFLite's double rounding (SRDHM, then
// RoundingDivideByPOT). acc 8838 at 0.0023194204 with zy 7 is 27.499:
// single rounding gives 27 (what LiteRT gives), double 28 (SRDHM rounds
// 5247.7 up to 5248, which the shift by 8 then sees as a tie, 20.5 -> 21).
// acc -20 at 0.125 (-2.5): single -2, double -3. The reference kernel and the
// GEMM path of every runnable microkernel, 1 and 3 threads, agree.
TEST(OpsQ8, FullyConnectedRoundsOnceConvTwice) {
  struct Tie {
    int32_t bias;
    double m;
    int32_t zy;
    int8_t dense, conv;
  };
  const Tie ties[] = {{8837, 0.0023194204, 7, 27, 28}, {-21, 0.125, 0, -2, -3}};
  for (const Tie& t : ties) {
    Q8ChannelRequant q;
    q.y_zero_point = t.zy;
    q.multiplier.assign(1, 0);
    q.shift.assign(1, 0);
    QuantizeMultiplier(t.m, &q.multiplier[0], &q.shift[0]);
    const I8 x = {1}, w = {1};  // zx = 0: acc = 1 + bias
    const std::vector<int32_t> bias = {t.bias};
    FullyConnectedParams fp;
    fp.rows = fp.in_features = fp.out_features = 1;
    I8 y(1, 0x55);
    q8_fully_connected__ref(fp, q, x.data(), w.data(), bias.data(), y.data(), nullptr);
    EXPECT_EQ(y[0], t.dense) << t.bias;
    const Conv2DParams cp = Geometry(1, 1, 1, 1, 1, 1, 1, Padding::kValid);
    q8_conv2d__ref(cp, q, x.data(), w.data(), bias.data(), y.data(), nullptr);
    EXPECT_EQ(y[0], t.conv) << t.bias;
    q8_depthwise_conv2d__ref(cp, q, x.data(), w.data(), bias.data(), y.data(), nullptr);
    EXPECT_EQ(y[0], t.conv) << t.bias;
    for (const Q8GemmKernel& k : RunnableKernels()) {
      const std::vector<int32_t> packed = Pack(k, 1, 1, w, bias, q);
      for (int threads : {1, 3}) {
        ThreadPool pool(threads, 1);
        y[0] = 0x55;
        q8_fully_connected__gemm(fp, q, k, packed.data(), x.data(), y.data(), &pool);
        EXPECT_EQ(y[0], t.dense) << k.name << " " << t.bias;
        y[0] = 0x55;
        q8_conv2d__gemm(cp, q, k, packed.data(), x.data(), y.data(), &pool);
        EXPECT_EQ(y[0], t.conv) << k.name << " " << t.bias;
      }
    }
  }
}

}  // namespace
}  // namespace gearshift
