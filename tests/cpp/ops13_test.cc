// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The ops added in format 1.3, fp32 and int8 reference kernels: small cases
// computed by hand from docs/FORMAT.md and docs/QUANTIZATION.md (the
// arithmetic is written out next to each expectation), TRANSPOSE_CONV and
// the layout ops against naive transcriptions of the spec on random shapes,
// and whole one-op graphs through the reader, shape inference and Plan in
// an fp32 and an int8 gear.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "format/model_desc.h"
#include "gear_builder.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/layout_ops.h"
#include "ops/resize.h"
#include "ops/shape_ops.h"
#include "ops/transpose_conv.h"
#include "ops_q8/q8_elementwise.h"
#include "ops_q8/q8_layout_ops.h"
#include "ops_q8/q8_resize.h"
#include "ops_q8/q8_shape_ops.h"
#include "ops_q8/q8_transpose_conv.h"
#include "plan/plan.h"
#include "plan/shape_inference.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

using F = std::vector<float>;
using I8 = std::vector<int8_t>;

BinaryParams Broadcast(const Shape& a, const Shape& b, Activation act = Activation::kNone) {
  BinaryParams p;
  EXPECT_TRUE(MakeBinaryParams(a, b, act, &p));
  return p;
}

// ---- TRANSPOSE_CONV ------------------------------------------------------------

Conv2DParams TransposeGeometry(int64_t n, int64_t h, int64_t w, int64_t c, int kh, int kw,
                               int64_t out_c, int stride, Padding pad, int64_t oh, int64_t ow) {
  Conv2DParams p;
  p.batch = n;
  p.in_h = h;
  p.in_w = w;
  p.in_c = c;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.out_c = out_c;
  p.out_h = oh;
  p.out_w = ow;
  p.stride_h = p.stride_w = stride;
  p.pad_top = TransposeConvPadBefore(h, oh, kh, stride, pad);
  p.pad_left = TransposeConvPadBefore(w, ow, kw, stride, pad);
  return p;
}

// FORMAT.md's scatter, literally: y[n, iy*sh + ky - pt, ix*sw + kx - pl, o] +=
// x[n,iy,ix,c] * w[o,ky,kx,c], in int64 (exact for the int8 test) or double.
template <typename Acc, typename T>
std::vector<Acc> NaiveTransposeConv(const Conv2DParams& p, const std::vector<T>& x,
                                    const std::vector<T>& w, Acc x_offset) {
  std::vector<Acc> y(static_cast<size_t>(p.batch * p.out_h * p.out_w * p.out_c), Acc(0));
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t iy = 0; iy < p.in_h; ++iy)
      for (int64_t ix = 0; ix < p.in_w; ++ix)
        for (int64_t c = 0; c < p.in_c; ++c)
          for (int ky = 0; ky < p.kernel_h; ++ky)
            for (int kx = 0; kx < p.kernel_w; ++kx)
              for (int64_t o = 0; o < p.out_c; ++o) {
                const int64_t oy = iy * p.stride_h + ky - p.pad_top;
                const int64_t ox = ix * p.stride_w + kx - p.pad_left;
                if (oy < 0 || oy >= p.out_h || ox < 0 || ox >= p.out_w) continue;
                const Acc xv = Acc(x[((n * p.in_h + iy) * p.in_w + ix) * p.in_c + c]) - x_offset;
                const Acc wv = Acc(w[((o * p.kernel_h + ky) * p.kernel_w + kx) * p.in_c + c]);
                y[((n * p.out_h + oy) * p.out_w + ox) * p.out_c + o] += xv * wv;
              }
  return y;
}

TEST(Ops13TransposeConv, Stride2ValidByHand) {
  // Each input pixel stamps x * w on its own 2x2 block; bias 0.5.
  const Conv2DParams p = TransposeGeometry(1, 2, 2, 1, 2, 2, 1, 2, Padding::kValid, 4, 4);
  const F x = {1, 2, 3, 4}, w = {1, 2, 3, 4}, b = {0.5f};
  F y(16);
  f32_transpose_conv2d__ref(p, x.data(), w.data(), b.data(), y.data(), nullptr);
  EXPECT_EQ(y, (F{1.5f, 2.5f, 2.5f, 4.5f, 3.5f, 4.5f, 6.5f, 8.5f, 3.5f, 6.5f, 4.5f, 8.5f, 9.5f,
                  12.5f, 12.5f, 16.5f}));
  // The same in int8 with sx = sw = sy = 1, zx = 1 (x stored + 1), zy = -3,
  // bias 2 (int32), RELU (range [zy, 127]).
  Q8ChannelRequant q;
  MakeQ8ChannelRequant({1.0f, 1}, {1.0f}, {1.0f, -3}, 1, Activation::kNone, &q);
  const I8 xq = {2, 3, 4, 5}, wq = {1, 2, 3, 4};
  const int32_t bias[] = {2};
  I8 yq(16);
  q8_transpose_conv2d__ref(p, q, xq.data(), wq.data(), bias, yq.data(), nullptr);
  EXPECT_EQ(yq, (I8{0, 1, 1, 3, 2, 3, 5, 7, 2, 5, 3, 7, 8, 11, 11, 15}));
  // Negative weights with RELU: max(v, zy).
  MakeQ8ChannelRequant({1.0f, 1}, {1.0f}, {1.0f, -3}, 1, Activation::kRelu, &q);
  const I8 wn = {-1, 2, -3, 4};
  q8_transpose_conv2d__ref(p, q, xq.data(), wn.data(), nullptr, yq.data(), nullptr);
  EXPECT_EQ(yq, (I8{-3, -1, -3, 1, -3, 1, -3, 5, -3, 3, -3, 5, -3, 9, -3, 13}));
}

TEST(Ops13TransposeConv, SamePaddingByHand) {
  // H = W = 2, stride 1, 3x3 ones, output 2x2: pt = max(1 + 3 - 2, 0) / 2 = 1,
  // every output sums every input: 1 + 2 + 3 + 4.
  const Conv2DParams p = TransposeGeometry(1, 2, 2, 1, 3, 3, 1, 1, Padding::kSame, 2, 2);
  EXPECT_EQ(p.pad_top, 1);
  const F x = {1, 2, 3, 4}, w(9, 1.0f);
  F y(4);
  f32_transpose_conv2d__ref(p, x.data(), w.data(), nullptr, y.data(), nullptr);
  EXPECT_EQ(y, (F{10, 10, 10, 10}));
  // H = 3, stride 2, K = 3, output 5 (SAME): pt = max(4 + 3 - 5, 0) / 2 = 1.
  EXPECT_EQ(TransposeConvPadBefore(3, 5, 3, 2, Padding::kSame), 1);
  EXPECT_EQ(TransposeConvPadBefore(3, 6, 3, 2, Padding::kSame), 0);  // max(4+3-6,0)/2 = 0
  EXPECT_EQ(TransposeConvPadBefore(3, 5, 3, 2, Padding::kValid), 0);
}

TEST(Ops13TransposeConv, MatchesNaiveScatterOverRandomShapes) {
  std::mt19937 rng(7);
  ThreadPool pool(3);
  for (int trial = 0; trial < 40; ++trial) {
    auto r = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const int h = r(1, 5), w = r(1, 5), c = r(1, 4), kh = r(1, 4), kw = r(1, 4), o = r(1, 5);
    const int stride = r(1, 3);
    const Padding pad = r(0, 1) ? Padding::kSame : Padding::kValid;
    const int64_t oh = r(1, (h - 1) * stride + kh + 1), ow = r(1, (w - 1) * stride + kw + 1);
    const Conv2DParams p = TransposeGeometry(2, h, w, c, kh, kw, o, stride, pad, oh, ow);
    SCOPED_TRACE(trial);
    // fp32: small integers, so every sum is exact in any order.
    F x(static_cast<size_t>(2 * h * w * c)), wt(static_cast<size_t>(o * kh * kw * c));
    for (float& v : x) v = static_cast<float>(r(-8, 8));
    for (float& v : wt) v = static_cast<float>(r(-8, 8));
    const std::vector<double> want = NaiveTransposeConv<double>(p, x, wt, 0.0);
    F y(want.size());
    f32_transpose_conv2d__ref(p, x.data(), wt.data(), nullptr, y.data(), &pool);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], static_cast<float>(want[i])) << i;
    // int8: accumulate exactly, then the output stage.
    I8 xq(x.size()), wq(wt.size());
    for (int8_t& v : xq) v = static_cast<int8_t>(r(-128, 127));
    for (int8_t& v : wq) v = static_cast<int8_t>(r(-127, 127));
    std::vector<int32_t> bias(static_cast<size_t>(o));
    for (int32_t& v : bias) v = r(-5000, 5000);
    Q8ChannelRequant q;
    std::vector<float> ws(static_cast<size_t>(o));
    for (float& s : ws) s = static_cast<float>(r(1, 64)) / 4096.0f;
    MakeQ8ChannelRequant({0.02f, 3}, ws, {0.05f, -7}, o, Activation::kRelu6, &q);
    const std::vector<int64_t> acc = NaiveTransposeConv<int64_t>(p, xq, wq, int64_t{3});
    I8 yq(acc.size());
    q8_transpose_conv2d__ref(p, q, xq.data(), wq.data(), bias.data(), yq.data(), &pool);
    for (size_t i = 0; i < yq.size(); ++i) {
      const size_t oc = i % static_cast<size_t>(o);
      const int32_t v = MultiplyByQuantizedMultiplier(
          static_cast<int32_t>(acc[i] + bias[oc]), q.multiplier[oc], q.shift[oc]);
      ASSERT_EQ(yq[i], Q8Clamp(int64_t{v} + q.y_zero_point, q.act)) << i;
    }
  }
}

// ---- binary and unary element-wise ops -------------------------------------------

TEST(Ops13Elementwise, F32BinaryOps) {
  F y(3);
  const F a = {5, 3, -2}, b = {1, 4, 4};
  f32_binary__ref(BinaryOp::kSub, Broadcast({3}, {3}), a.data(), b.data(), y.data());
  EXPECT_EQ(y, (F{4, -1, -6}));
  f32_binary__ref(BinaryOp::kSub, Broadcast({3}, {3}, Activation::kRelu), a.data(), b.data(),
                  y.data());
  EXPECT_EQ(y, (F{4, 0, 0}));
  f32_binary__ref(BinaryOp::kDiv, Broadcast({3}, {3}), a.data(), b.data(), y.data());
  EXPECT_EQ(y, (F{5, 0.75f, -0.5f}));
  // IEEE: x / 0 is +-inf, 0 / 0 NaN.
  const F num = {1, -1, 0}, zero = {0};
  f32_binary__ref(BinaryOp::kDiv, Broadcast({3}, {1}), num.data(), zero.data(), y.data());
  EXPECT_EQ(y[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(y[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(y[2]));
  const F three = {3};
  f32_binary__ref(BinaryOp::kMaximum, Broadcast({3}, {1}), a.data(), three.data(), y.data());
  EXPECT_EQ(y, (F{5, 3, 3}));
  f32_binary__ref(BinaryOp::kMinimum, Broadcast({1}, {3}), three.data(), a.data(), y.data());
  EXPECT_EQ(y, (F{3, 3, -2}));
  // PRELU: alpha per channel [3] over x [2, 3].
  const F x = {-1, 2, -3, 4, -5, 6}, alpha = {0.5f, 0.25f, 2};
  F y6(6);
  f32_binary__ref(BinaryOp::kPrelu, Broadcast({2, 3}, {3}), x.data(), alpha.data(), y6.data());
  EXPECT_EQ(y6, (F{-0.5f, 2, -6, 4, -1.25f, 6}));
  f32_leaky_relu__ref(0.5f, x.data(), y6.data(), 6);
  EXPECT_EQ(y6, (F{-0.5f, 2, -1.5f, 4, -2.5f, 6}));
}

TEST(Ops13Elementwise, Q8SubHandChecked) {
  // sa = sb = 0.5, sy = 1 (QUANTIZATION.md: q8_add with b's multiplier
  // negated). Reals 1 - 1 = 0, 2 - 0.5 = 1.5 -> 2, -1.5 - (-1) = -0.5 -> -1.
  const I8 a = {2, 4, -3}, b = {2, 1, -2};
  I8 y(3);
  Q8AddParams p = MakeQ8SubParams({0.5f, 0}, {0.5f, 0}, {1.0f, 0}, Activation::kNone);
  EXPECT_LT(p.b.multiplier, 0);
  EXPECT_EQ(p.b.multiplier, -MakeQ8AddParams({0.5f, 0}, {0.5f, 0}, {1.0f, 0},
                                             Activation::kNone).b.multiplier);
  q8_add__ref(Broadcast({3}, {3}), p, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (I8{0, 2, -1}));
  // Zero points and a scalar b: (qa - 1) * 0.5 - (qb + 2) * 0.5 with qb = 0:
  // [0.5 - 1, 1.5 - 1, -2 - 1] / sy 0.5 -> [-1, 1, -6], + zy 5.
  const I8 s = {0};
  p = MakeQ8SubParams({0.5f, 1}, {0.5f, -2}, {0.5f, 5}, Activation::kRelu);
  q8_add__ref(Broadcast({3}, {1}), p, a.data(), s.data(), y.data());
  EXPECT_EQ(y, (I8{5, 6, 5}));  // RELU: [5 + -1, 5 + 1, 5 - 6] clamped at zy = 5
}

TEST(Ops13Elementwise, Q8DivHandChecked) {
  // All scales 1, zero points 0: rha(a / b).
  const I8 a = {6, 7, -7, 5, 0, -3}, b = {4, 2, 2, 0, 0, 0};
  I8 y(6);
  Q8DivParams p = MakeQ8DivParams({1.0f, 0}, {1.0f, 0}, {1.0f, 0}, Activation::kNone);
  q8_div__ref(Broadcast({6}, {6}), p, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (I8{2, 4, -4, 127, 0, -128}));  // 1.5, 3.5, -3.5, 5/0, 0/0, -3/0
  p = MakeQ8DivParams({1.0f, 0}, {1.0f, 0}, {1.0f, 10}, Activation::kNone);
  q8_div__ref(Broadcast({6}, {6}), p, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (I8{12, 14, 6, 127, 10, -128}));
  // RELU6 with sy = 0.5, zy = 0: range [0, 12]; 7/2 = 3.5 -> 7; 5/0 -> 12.
  p = MakeQ8DivParams({1.0f, 0}, {1.0f, 0}, {0.5f, 0}, Activation::kRelu6);
  q8_div__ref(Broadcast({6}, {6}), p, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (I8{3, 7, 0, 12, 0, 0}));  // 1.5 / 0.5 = 3
  // Zero points and scales: ((0.25 * (10 - 2)) / (0.5 * (3 + 1))) / 0.1 = 10.
  const I8 a1 = {10}, b1 = {3};
  I8 y1(1);
  p = MakeQ8DivParams({0.25f, 2}, {0.5f, -1}, {0.1f, 0}, Activation::kNone);
  q8_div__ref(Broadcast({1}, {1}), p, a1.data(), b1.data(), y1.data());
  EXPECT_EQ(y1[0], 10);
}

TEST(Ops13Elementwise, Q8MaximumMinimum) {
  const I8 a = {-5, 7, 0, 100}, b = {3, -1};  // [2, 2] vs [2]
  I8 y(4);
  q8_maximum__ref(Broadcast({2, 2}, {2}), a.data(), b.data(), y.data());
  EXPECT_EQ(y, (I8{3, 7, 3, 100}));
  q8_minimum__ref(Broadcast({2, 2}, {2}), a.data(), b.data(), y.data());
  EXPECT_EQ(y, (I8{-5, -1, 0, -1}));
}

TEST(Ops13Elementwise, Q8LeakyReluPreluQuantize) {
  // LEAKY_RELU, sx = sy = 1, alpha 0.5: d = -3 -> MBQM(-3, 0.5) = -1 (the
  // fixed-point high multiply rounds the tie -1.5 upwards), -1 -> 0 (-0.5
  // upwards), 4 -> MBQM(4, 1) = 4; zy 2 is added.
  const I8 x = {-3, -1, 4, 127};
  I8 y(4);
  Q8LeakyReluParams lp = MakeQ8LeakyReluParams(0.5f, {1.0f, 0}, {1.0f, 2});
  q8_leaky_relu__ref(lp, x.data(), y.data(), 4);
  EXPECT_EQ(y, (I8{1, 2, 6, 127}));  // 127 + 2 saturates
  // zx = -1, sx = 0.5, sy = 0.25, alpha 0.25: d = q + 1; positive: 2d;
  // negative: 0.5d. q = -9: d = -8 -> -4; q = 3: d = 4 -> 8.
  lp = MakeQ8LeakyReluParams(0.25f, {0.5f, -1}, {0.25f, 0});
  const I8 x2 = {-9, 3};
  I8 y2(2);
  q8_leaky_relu__ref(lp, x2.data(), y2.data(), 2);
  EXPECT_EQ(y2, (I8{-4, 8}));

  // PRELU: x [2, 2] with sx = 1, zx = 0; alpha [2] = {2, 4} with sa = 0.25
  // (reals 0.5, 1), za = 0; sy = 1. Negative d: MBQM(d * qa, 0.25).
  const I8 xp = {-4, -4, 3, -8}, alpha = {2, 4};
  I8 yp(4);
  Q8PreluParams pp = MakeQ8PreluParams({1.0f, 0}, {0.25f, 0}, {1.0f, 0});
  q8_prelu__ref(Broadcast({2, 2}, {2}), pp, xp.data(), alpha.data(), yp.data());
  EXPECT_EQ(yp, (I8{-2, -4, 3, -8}));
  // Alpha zero point 2: qa - za = {0, 2} -> reals {0, 0.5}.
  pp = MakeQ8PreluParams({1.0f, 0}, {0.25f, 2}, {1.0f, 0});
  q8_prelu__ref(Broadcast({2, 2}, {2}), pp, xp.data(), alpha.data(), yp.data());
  EXPECT_EQ(yp, (I8{0, -2, 3, -4}));

  // QUANTIZE: sx = 0.5 -> sy = 1, zy = 5: 4 -> 2 + 5; -3 -> MBQM(-3, 0.5) = -1 -> 4.
  const Q8RescaleParams rq = MakeQ8RequantizeParams({0.5f, 0}, {1.0f, 5});
  const I8 xq = {4, -3, 127, -128};
  I8 yq(4);
  q8_rescale__ref(rq, xq.data(), yq.data(), 4);
  EXPECT_EQ(yq, (I8{7, 4, 69, -59}));  // 63.5 -> 64 + 5; -64 + 5
}

// ---- PAD value ---------------------------------------------------------------------

TEST(Ops13Pad, FillsWithValue) {
  const F x = {1, 2};
  const PadParams p = MakePadParams({1, 2}, {{0, 0}, {1, 1}}, 9.5f);
  F y(4);
  f32_pad__ref(p, x.data(), y.data());
  EXPECT_EQ(y, (F{9.5f, 1, 2, 9.5f}));
  // int8: clamp(rha(value / s) + z): 9.5 / 0.5 + 1 = 20; -0.25 / 0.5 = -0.5
  // -> -1 (half away) + 1 = 0; 1000 saturates; 0 is the zero point.
  EXPECT_EQ(QuantizeQ8Fill(9.5, {0.5f, 1}), 20);
  EXPECT_EQ(QuantizeQ8Fill(-0.25, {0.5f, 1}), 0);
  EXPECT_EQ(QuantizeQ8Fill(1000.0, {0.5f, 1}), 127);
  EXPECT_EQ(QuantizeQ8Fill(0.0, {0.5f, -7}), -7);
  const I8 xq = {3, 4};
  I8 yq(4);
  q8_pad__ref(p, QuantizeQ8Fill(9.5, {0.5f, 1}), xq.data(), yq.data());
  EXPECT_EQ(yq, (I8{20, 3, 4, 20}));
}

// ---- resizes ---------------------------------------------------------------------------

ResizeParams Resize(int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, bool align,
                    bool half) {
  ResizeParams p;
  p.batch = 1;
  p.in_h = in_h;
  p.in_w = in_w;
  p.channels = 1;
  p.out_h = out_h;
  p.out_w = out_w;
  p.align_corners = align;
  p.half_pixel_centers = half;
  return p;
}

TEST(Ops13Resize, BilinearF32) {
  const F x = {0, 1, 2, 3};  // [[0, 1], [2, 3]]: y = 2 * row + col, linear
  F y(9);
  // align_corners 2 -> 3: scale 0.5, sources 0, 0.5, 1.
  f32_resize_bilinear__ref(Resize(2, 2, 3, 3, true, false), x.data(), y.data());
  EXPECT_EQ(y, (F{0, 0.5f, 1, 1, 1.5f, 2, 2, 2.5f, 3}));
  // half_pixel_centers 2 -> 4: v = -0.25, 0.25, 0.75, 1.25 -> lo 0,0,0,1,
  // weights give 0, 0.25, 0.75, 1 along each axis (edges clamp).
  F y16(16);
  f32_resize_bilinear__ref(Resize(2, 2, 4, 4, false, true), x.data(), y16.data());
  EXPECT_EQ(y16, (F{0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2,
                    2.25f, 2.75f, 3}));
  // Neither flag, 2 -> 3: scale 2/3, v = 0, 2/3, 4/3 -> [0, 2/3, 1].
  f32_resize_bilinear__ref(Resize(2, 2, 3, 3, false, false), x.data(), y.data());
  const float t = 2.0f / 3.0f;
  const F want = {0, t, 1, 2 * t, 3 * t, 2 * t + 1, 2, 2 + t, 3};
  for (size_t i = 0; i < 9; ++i) EXPECT_NEAR(y[i], want[i], 1e-6f) << i;
}

// The threaded fp32 resizes equal the references bit for bit (the same
// float expression per element), sizes up and down, every coordinate mode.
TEST(Ops13Resize, F32OptEqualsReference) {
  std::mt19937 rng(31);
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  ThreadPool pool(3, 1);
  for (int trial = 0; trial < 80; ++trial) {
    ResizeParams p;
    p.batch = ri(1, 2);
    p.in_h = ri(1, 9);
    p.in_w = ri(1, 9);
    p.channels = ri(1, 21);
    p.out_h = ri(1, 19);
    p.out_w = ri(1, 19);
    p.align_corners = ri(0, 1) != 0;
    p.half_pixel_centers = !p.align_corners && ri(0, 1) != 0;
    std::vector<float> x(static_cast<size_t>(p.batch * p.in_h * p.in_w * p.channels));
    for (float& v : x) v = std::uniform_real_distribution<float>(-3.0f, 3.0f)(rng);
    const size_t ny = static_cast<size_t>(p.batch * p.out_h * p.out_w * p.channels);
    std::vector<float> want(ny), got(ny);
    f32_resize_bilinear__ref(p, x.data(), want.data());
    for (ThreadPool* tp : {static_cast<ThreadPool*>(nullptr), &pool}) {
      std::fill(got.begin(), got.end(), -7.0f);
      f32_resize_bilinear__opt(p, x.data(), got.data(), tp);
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), ny * sizeof(float)))
          << "bilinear " << trial;
    }
    f32_resize_nearest__ref(p, x.data(), want.data());
    std::fill(got.begin(), got.end(), -7.0f);
    f32_resize_nearest__opt(p, x.data(), got.data(), &pool);
    ASSERT_EQ(got, want) << "nearest " << trial;
  }
}

TEST(Ops13Resize, BilinearInt8) {
  // TFLite's integer kernel. half_pixel 2 -> 4: scale_10 = (2048 + 2) / 4 =
  // 512, v = -256, 256, 768, 1280; y = 20 * ry + 10 * rx with ry, rx in
  // {0, 0.25, 0.75, 1}; halves round away from zero.
  EXPECT_EQ(ResizeScale10(2, 4, false), 512);
  EXPECT_EQ(ResizeScale10(2, 3, true), 512);    // (1024 + 1) / 2
  EXPECT_EQ(ResizeScale10(3, 2, false), 1536);  // (3072 + 1) / 2
  EXPECT_EQ(ResizeScale10(2, 3, false), 683);   // (2048 + 1) / 3
  const I8 x = {0, 10, 20, 30};
  I8 y(16);
  q8_resize_bilinear__ref(Resize(2, 2, 4, 4, false, true), x.data(), y.data());
  EXPECT_EQ(y, (I8{0, 3, 8, 10, 5, 8, 13, 15, 15, 18, 23, 25, 20, 23, 28, 30}));
  const I8 xn = {0, -10, -20, -30};
  q8_resize_bilinear__ref(Resize(2, 2, 4, 4, false, true), xn.data(), y.data());
  EXPECT_EQ(y, (I8{0, -3, -8, -10, -5, -8, -13, -15, -15, -18, -23, -25, -20, -23, -28, -30}));
  // align_corners 2 -> 3: midpoints.
  I8 y9(9);
  q8_resize_bilinear__ref(Resize(2, 2, 3, 3, true, false), x.data(), y9.data());
  EXPECT_EQ(y9, (I8{0, 5, 10, 10, 15, 20, 20, 25, 30}));
  // Neither flag 2 -> 3 along width only: v = 0, 683, 1366 -> weights
  // 683/1024 of col 1 for o = 1 (6.67 -> 7), o = 2 clamps to col 1.
  I8 y3(3);
  q8_resize_bilinear__ref(Resize(1, 2, 1, 3, false, false), x.data(), y3.data());
  EXPECT_EQ(y3, (I8{0, 7, 10}));
}

TEST(Ops13Resize, NearestF32AndInt8PickTheSameSources) {
  // 1 x 3 -> 1 x 2 (width): default scale 1.5, floor(0), floor(1.5) -> [a, b];
  // align_corners scale 2: round(0), round(2) -> [a, c]; half_pixel
  // floor(0.75), floor(2.25) -> [a, c].
  const F x = {1, 2, 3};
  const I8 xq = {1, 2, 3};
  struct Case {
    bool align, half;
    int64_t in, out;
    std::vector<int> src;
  };
  const std::vector<Case> cases = {
      {false, false, 3, 2, {0, 1}},
      {true, false, 3, 2, {0, 2}},
      {false, true, 3, 2, {0, 2}},
      // align_corners 2 -> 5: scale 0.25, round(0, .25, .5, .75, 1) with
      // half away from zero -> 0, 0, 1, 1, 1.
      {true, false, 2, 5, {0, 0, 1, 1, 1}},
      // half_pixel 2 -> 5: scale 0.4, floor(0.2, 0.6, 1.0, 1.4, 1.8) -> 0,0,1,1,1.
      {false, true, 2, 5, {0, 0, 1, 1, 1}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.in) + "->" + std::to_string(c.out));
    const ResizeParams p = Resize(1, c.in, 1, c.out, c.align, c.half);
    F y(static_cast<size_t>(c.out));
    I8 yq(static_cast<size_t>(c.out));
    f32_resize_nearest__ref(p, x.data(), y.data());
    q8_resize_nearest__ref(p, xq.data(), yq.data());
    for (size_t i = 0; i < c.src.size(); ++i) {
      EXPECT_EQ(y[i], x[static_cast<size_t>(c.src[i])]) << i;
      EXPECT_EQ(yq[i], xq[static_cast<size_t>(c.src[i])]) << i;
    }
  }
}

// ---- layout ops --------------------------------------------------------------------------

F Iota(int64_t n) {
  F v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return v;
}

TEST(Ops13Layout, DepthToSpaceAndBack) {
  // x [1,1,2,8], b = 2, C' = 2: y[0, i, w*2 + j, c] = x[0, 0, w, (i*2 + j)*2 + c].
  const F x = Iota(16);
  F y(16), back(16);
  f32_strided_copy__ref(MakeDepthToSpaceParams({1, 1, 2, 8}, 2), x.data(), y.data());
  EXPECT_EQ(y, (F{0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15}));
  f32_strided_copy__ref(MakeSpaceToDepthParams({1, 2, 4, 2}, 2), y.data(), back.data());
  EXPECT_EQ(back, x);
  // The int8 path is the same index walk.
  I8 xq(16), yq(16);
  for (size_t i = 0; i < 16; ++i) xq[i] = static_cast<int8_t>(i);
  q8_strided_copy__ref(MakeDepthToSpaceParams({1, 1, 2, 8}, 2), xq.data(), yq.data());
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(yq[i], static_cast<int8_t>(y[i]));
}

TEST(Ops13Layout, SpaceToDepthMatchesNaive) {
  // x [2, 4, 6, 3], b = 2: y[n, h, w, (i*b + j)*C + c] = x[n, h*b + i, w*b + j, c].
  const int64_t n = 2, h = 4, w = 6, c = 3, b = 2;
  const F x = Iota(n * h * w * c);
  F y(x.size());
  f32_strided_copy__ref(MakeSpaceToDepthParams({n, h, w, c}, b), x.data(), y.data());
  const int64_t oh = h / b, ow = w / b, oc = c * b * b;
  for (int64_t in = 0; in < n; ++in)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t d = 0; d < oc; ++d) {
          const int64_t i = d / (b * c), j = (d / c) % b, cc = d % c;
          const float want = x[static_cast<size_t>(((in * h + oy * b + i) * w + ox * b + j) * c + cc)];
          ASSERT_EQ(y[static_cast<size_t>(((in * oh + oy) * ow + ox) * oc + d)], want);
        }
}

TEST(Ops13Layout, TransposeSliceGather) {
  // TRANSPOSE [1,2,3] perm [0,2,1]: [[0,1,2],[3,4,5]] -> [[0,3],[1,4],[2,5]].
  F y(6);
  const F x6 = Iota(6);
  f32_strided_copy__ref(MakeTransposeParams({1, 2, 3}, {0, 2, 1}), x6.data(), y.data());
  EXPECT_EQ(y, (F{0, 3, 1, 4, 2, 5}));
  // Rank 4, perm [0, 3, 1, 2] against the index formula.
  const Shape s = {2, 3, 4, 5};
  const F x = Iota(120);
  F t(120);
  f32_strided_copy__ref(MakeTransposeParams(s, {0, 3, 1, 2}), x.data(), t.data());
  size_t k = 0;
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t d = 0; d < 5; ++d)
      for (int64_t b = 0; b < 3; ++b)
        for (int64_t c = 0; c < 4; ++c) {
          ASSERT_EQ(t[k++], x[static_cast<size_t>(((a * 3 + b) * 4 + c) * 5 + d)]);
        }
  // SLICE [1,4,5], begin [1,0], end [4,5], strides [2,2]: rows 1, 3 and
  // columns 0, 2, 4.
  const F x20 = Iota(20);
  F sl(6);
  f32_strided_copy__ref(MakeSliceParams({1, 4, 5}, {1, 0}, {4, 5}, {2, 2}), x20.data(), sl.data());
  EXPECT_EQ(sl, (F{5, 7, 9, 15, 17, 19}));
  // Batch 2, contiguous inner run: [2,3,2], begin [1,0], end [3,2], strides [1,1].
  const F x12 = Iota(12);
  F sl2(8);
  f32_strided_copy__ref(MakeSliceParams({2, 3, 2}, {1, 0}, {3, 2}, {1, 1}), x12.data(),
                        sl2.data());
  EXPECT_EQ(sl2, (F{2, 3, 4, 5, 8, 9, 10, 11}));
  // GATHER [1,3,2] along axis 1, indices [2, 0, 2]; along axis 2, [1].
  F g(6), g1(3);
  f32_gather__ref(MakeGatherParams({1, 3, 2}, 1, {2, 0, 2}), x6.data(), g.data());
  EXPECT_EQ(g, (F{4, 5, 0, 1, 4, 5}));
  f32_gather__ref(MakeGatherParams({1, 3, 2}, 2, {1}), x6.data(), g1.data());
  EXPECT_EQ(g1, (F{1, 3, 5}));
  I8 xq = {0, 1, 2, 3, 4, 5}, gq(6);
  q8_gather__ref(MakeGatherParams({1, 3, 2}, 1, {2, 0, 2}), xq.data(), gq.data());
  EXPECT_EQ(gq, (I8{4, 5, 0, 1, 4, 5}));
}

// ---- whole graphs: reader, shape inference, Plan ----------------------------------------

// Loads `bytes`, plans gear `gear` for `in_shape` and runs it on `x`.
std::vector<float> RunGraph(const std::vector<uint8_t>& bytes, int gear, const Shape& in_shape,
                            const F& x, Shape* out_shape = nullptr) {
  std::unique_ptr<GearFile> file;
  Status s = GearFile::FromBuffer(bytes.data(), bytes.size(), GearFile::Options(), &file);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  std::unique_ptr<Plan> plan;
  s = Plan::Build(file->model(), gear, {in_shape}, &plan);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  std::vector<uint8_t> arena(static_cast<size_t>(plan->arena_bytes()) + 64);
  uint8_t* base = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64) % 64;
  F y(static_cast<size_t>(NumElements(plan->output_shapes()[0])));
  const void* in[] = {x.data()};
  void* out[] = {y.data()};
  plan->Run(in, out, base, nullptr);
  if (out_shape != nullptr) *out_shape = plan->output_shapes()[0];
  return y;
}

TEST(Ops13Graph, TransposeConvF32AndInt8Gears) {
  // x [-1,2,2,1] -> TRANSPOSE_CONV 2x2 stride 2 VALID, output 4x4, one
  // channel, bias; the fp32 gear reads f32 weights, the int8 gear i8 weights
  // (per channel, axis 0) and an i32 bias.
  testing::GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 2, 2, 1});
  const int w = b.AddConstTensor("w", {1, 2, 2, 1});
  const int bias = b.AddConstTensor("b", {1});
  const int y = b.AddTensor("y", {-1, 4, 4, 1});
  b.AddNode("tconv", "TRANSPOSE_CONV", {x, w, bias}, {y},
            R"({"stride":[2,2],"padding":"VALID","output_size":[4,4],"activation":"NONE"})");
  b.AddOutput(y);
  const int wf = b.AddF32Storage({1, 2, 2, 1}, {1, 2, 3, 4});
  const int bf = b.AddF32Storage({1}, {0.5f});
  testing::QuantSpec wq;
  wq.axis = 0;
  wq.scale = {0.5f};
  const int wi = b.AddI8Storage({1, 2, 2, 1}, {2, 4, 6, 8}, wq);  // reals 1, 2, 3, 4
  testing::QuantSpec bq;
  bq.axis = 0;
  bq.scale = {0.25f};
  const int bi = b.AddI32Storage({1}, {2}, bq);  // 0.5 at sx * sw = 0.25
  b.AddGear("fp32", "f32", {{w, wf}, {bias, bf}});
  b.AddGear("int8", "q8", {{w, wi}, {bias, bi}}, {{x, 0.5f, 0}, {y, 0.5f, 0}});
  const std::vector<uint8_t> file = b.Build();
  const F in = {1, 2, 3, 4, 4, 3, 2, 1};  // batch 2
  Shape shape;
  const F yf = RunGraph(file, 0, {2, 2, 2, 1}, in, &shape);
  EXPECT_EQ(shape, (Shape{2, 4, 4, 1}));
  const F want = {1.5f, 2.5f, 2.5f, 4.5f, 3.5f, 4.5f, 6.5f, 8.5f,
                  3.5f, 6.5f, 4.5f, 8.5f, 9.5f, 12.5f, 12.5f, 16.5f};
  ASSERT_EQ(yf.size(), 32u);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(yf[i], want[i]) << i;
  // int8: every value is a multiple of 0.5, exact.
  const F yq = RunGraph(file, 1, {2, 2, 2, 1}, in);
  ASSERT_EQ(yq.size(), 32u);
  for (size_t i = 0; i < 32; ++i) EXPECT_EQ(yq[i], yf[i]) << i;
}

TEST(Ops13Graph, ElementwiseChainF32AndInt8Gears) {
  // x [-1,4] -> PRELU(alpha const [4]) -> SUB(x) -> LEAKY_RELU -> MAXIMUM(x)
  // -> DIV(x) -> QUANTIZE -> MINIMUM(c) -> y. Uniform activations
  // (scale 0.5, zero point 0) and integer-friendly values keep the int8 gear
  // exact, so both gears must give the same numbers.
  testing::GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 4});
  const int alpha = b.AddConstTensor("alpha", {4});
  const int c = b.AddConstTensor("c", {1});
  const int t1 = b.AddTensor("prelu", {-1, 4});
  const int t2 = b.AddTensor("sub", {-1, 4});
  const int t3 = b.AddTensor("leaky", {-1, 4});
  const int t4 = b.AddTensor("max", {-1, 4});
  const int t5 = b.AddTensor("div", {-1, 4});
  const int t6 = b.AddTensor("quant", {-1, 4});
  const int y = b.AddTensor("y", {-1, 4});
  b.AddNode("prelu", "PRELU", {x, alpha}, {t1});
  b.AddNode("sub", "SUB", {t1, x}, {t2}, R"({"activation":"NONE"})");
  b.AddNode("leaky", "LEAKY_RELU", {t2}, {t3}, R"({"alpha":0.5})");
  b.AddNode("max", "MAXIMUM", {t3, x}, {t4});
  b.AddNode("div", "DIV", {t4, x}, {t5}, R"({"activation":"RELU"})");
  b.AddNode("quant", "QUANTIZE", {t5}, {t6});
  b.AddNode("min", "MINIMUM", {t6, c}, {y});
  b.AddOutput(y);
  const int af = b.AddF32Storage({4}, {0.5f, 1, 2, 0});
  const int cf = b.AddF32Storage({1}, {1.5f});
  testing::QuantSpec q;
  q.scale = {0.5f};
  const int ai = b.AddI8Storage({4}, {1, 2, 4, 0}, q);
  const int ci = b.AddI8Storage({1}, {3}, q);
  b.AddGear("fp32", "f32", {{alpha, af}, {c, cf}});
  b.AddGear("int8", "q8", {{alpha, ai}, {c, ci}}, b.UniformActivations(0.5f, 0));
  const std::vector<uint8_t> file = b.Build();
  // x = [-2, -2, -2, 2]: prelu [-1, -2, -4, 2]; sub [1, 0, -2, 0];
  // leaky [1, 0, -1, 0]; max with x [1, 0, -1, 2]; div by x
  // [-0.5, 0, 0.5, 1] -> RELU [0, 0, 0.5, 1]; min 1.5 -> same.
  const F in = {-2, -2, -2, 2};
  const F yf = RunGraph(file, 0, {1, 4}, in);
  EXPECT_EQ(yf, (F{0, 0, 0.5f, 1}));
  const F yq = RunGraph(file, 1, {1, 4}, in);
  EXPECT_EQ(yq, (F{0, 0, 0.5f, 1}));
}

TEST(Ops13Graph, LayoutChainF32AndInt8Gears) {
  // x [-1,1,2,8] -> DEPTH_TO_SPACE 2 -> [.,2,4,2] -> PAD value 7 on width ->
  // [.,2,6,2] -> SLICE width 1..5 -> [.,2,4,2] -> SPACE_TO_DEPTH 2 -> [.,1,2,8]
  // -> TRANSPOSE [0,3,1,2] -> [.,8,1,2] -> GATHER axis 1 [7, 0] -> [.,2,1,2]
  // -> RESIZE_NEAREST_NEIGHBOR [2,2] -> RESIZE_BILINEAR [2,2] (identity
  // sizes) -> y. Values move unchanged, so int8 (scale 1) equals fp32.
  testing::GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 1, 2, 8});
  const int t1 = b.AddTensor("d2s", {-1, 2, 4, 2});
  const int t2 = b.AddTensor("pad", {-1, 2, 6, 2});
  const int t3 = b.AddTensor("slice", {-1, 2, 4, 2});
  const int t4 = b.AddTensor("s2d", {-1, 1, 2, 8});
  const int t5 = b.AddTensor("transpose", {-1, 8, 1, 2});
  const int t6 = b.AddTensor("gather", {-1, 2, 1, 2});
  const int t7 = b.AddTensor("nearest", {-1, 2, 2, 2});
  const int y = b.AddTensor("y", {-1, 2, 2, 2});
  b.AddNode("d2s", "DEPTH_TO_SPACE", {x}, {t1}, R"({"block_size":2})");
  b.AddNode("pad", "PAD", {t1}, {t2}, R"({"paddings":[[0,0],[0,0],[1,1],[0,0]],"value":7})");
  b.AddNode("slice", "SLICE", {t2}, {t3}, R"({"begin":[0,1,0],"end":[2,5,2],"strides":[1,1,1]})");
  b.AddNode("s2d", "SPACE_TO_DEPTH", {t3}, {t4}, R"({"block_size":2})");
  b.AddNode("transpose", "TRANSPOSE", {t4}, {t5}, R"({"perm":[0,3,1,2]})");
  b.AddNode("gather", "GATHER", {t5}, {t6}, R"({"axis":1,"indices":[7,0]})");
  b.AddNode("nearest", "RESIZE_NEAREST_NEIGHBOR", {t6}, {t7},
            R"({"size":[2,2],"align_corners":false,"half_pixel_centers":false})");
  b.AddNode("bilinear", "RESIZE_BILINEAR", {t7}, {y},
            R"({"size":[2,2],"align_corners":false,"half_pixel_centers":true})");
  b.AddOutput(y);
  b.AddGear("fp32", "f32", {});
  b.AddGear("int8", "q8", {}, b.UniformActivations(1.0f, 0));
  const std::vector<uint8_t> file = b.Build();
  const F in = Iota(16);
  // d2s -> [0,1,2,3,8,9,10,11 | 4,5,6,7,12,13,14,15] as [2,4,2]; pad and
  // slice cancel; s2d restores x; transpose puts channel first: [8,1,2] with
  // channel c = [c, c+8]; gather channels 7, 0 -> [7,15, 0,8] as [2,1,2];
  // nearest 1 -> 2 columns duplicates; bilinear at the same size copies.
  const F want = {7, 15, 7, 15, 0, 8, 0, 8};
  EXPECT_EQ(RunGraph(file, 0, {1, 1, 2, 8}, in), want);
  EXPECT_EQ(RunGraph(file, 1, {1, 1, 2, 8}, in), want);
}

TEST(Ops13Graph, PadFoldsIntoTheConvolutionThatReadsIt) {
  // x [-1,5,6,3] -> PAD H (1,2) W (0,1) with zeros -> [.,8,7,3] ->
  // DEPTHWISE 3x3 stride 2 VALID; and a PAD with a non-zero fill -> CONV_2D
  // 2x2 SAME, which must not fold. Both must equal PAD then convolution.
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  auto random = [&](size_t n) {
    F v(n);
    for (float& e : v) e = d(rng);
    return v;
  };
  const F wd = random(27), bd = random(3), wc = random(4 * 2 * 2 * 3), bc = random(4);
  testing::GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 5, 6, 3});
  const int w1 = b.AddConst("dw/w", {1, 3, 3, 3}, wd);
  const int b1 = b.AddConst("dw/b", {3}, bd);
  const int w2 = b.AddConst("c/w", {4, 2, 2, 3}, wc);
  const int b2 = b.AddConst("c/b", {4}, bc);
  const int p1 = b.AddTensor("pad1", {-1, 8, 7, 3});
  const int t1 = b.AddTensor("dw", {-1, 3, 3, 3});
  const int p2 = b.AddTensor("pad2", {-1, 5, 5, 3});
  const int y = b.AddTensor("y", {-1, 5, 5, 4});
  b.AddNode("pad1", "PAD", {x}, {p1}, R"({"paddings":[[0,0],[1,2],[0,1],[0,0]]})");
  b.AddNode("dw", "DEPTHWISE_CONV_2D", {p1, w1, b1}, {t1},
            R"({"stride":[2,2],"dilation":[1,1],"padding":"VALID","depth_multiplier":1,)"
            R"("activation":"NONE"})");
  b.AddNode("pad2", "PAD", {t1}, {p2}, R"({"paddings":[[0,0],[1,1],[1,1],[0,0]],"value":0.5})");
  b.AddNode("c", "CONV_2D", {p2, w2, b2}, {y},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","activation":"NONE"})");
  b.AddOutput(y);
  b.AddGear("fp32", "f32", b.default_constants());
  const std::vector<uint8_t> file = b.Build();
  const F in = random(5 * 6 * 3);

  // The unfolded computation, op by op.
  const PadParams pp1 = MakePadParams({1, 5, 6, 3}, {{0, 0}, {1, 2}, {0, 1}, {0, 0}});
  F padded1(static_cast<size_t>(pp1.out_size));
  f32_pad__ref(pp1, in.data(), padded1.data());
  Conv2DParams dp;
  dp.batch = 1;
  dp.in_h = 8;
  dp.in_w = 7;
  dp.in_c = dp.out_c = 3;
  dp.out_h = dp.out_w = 3;
  dp.kernel_h = dp.kernel_w = 3;
  dp.stride_h = dp.stride_w = 2;
  F dw(27);
  f32_depthwise_conv2d__ref(dp, padded1.data(), wd.data(), bd.data(), dw.data(), nullptr);
  const PadParams pp2 = MakePadParams({1, 3, 3, 3}, {{0, 0}, {1, 1}, {1, 1}, {0, 0}}, 0.5f);
  F padded2(static_cast<size_t>(pp2.out_size));
  f32_pad__ref(pp2, dw.data(), padded2.data());
  Conv2DParams cp;
  cp.batch = 1;
  cp.in_h = cp.in_w = cp.out_h = cp.out_w = 5;
  cp.in_c = 3;
  cp.out_c = 4;
  cp.kernel_h = cp.kernel_w = 2;
  F want(100);
  f32_conv2d__ref(cp, padded2.data(), wc.data(), bc.data(), want.data(), nullptr);
  EXPECT_EQ(RunGraph(file, 0, {1, 5, 6, 3}, in), want);

  std::unique_ptr<GearFile> gf;
  ASSERT_TRUE(GearFile::FromBuffer(file.data(), file.size(), GearFile::Options(), &gf).ok());
  std::unique_ptr<Plan> plan;
  ASSERT_TRUE(Plan::Build(gf->model(), 0, {{1, 5, 6, 3}}, &plan).ok());
  EXPECT_TRUE(plan->steps()[0].skip) << "the zero PAD feeding the depthwise was not folded";
  EXPECT_FALSE(plan->steps()[2].skip) << "a PAD that fills 0.5 cannot fold";
  EXPECT_EQ(plan->steps()[1].get<DepthwiseStep>()->conv.pad_top, 1);
  EXPECT_EQ(plan->steps()[1].get<DepthwiseStep>()->conv.in_h, 5);
}

}  // namespace
}  // namespace gearshift
