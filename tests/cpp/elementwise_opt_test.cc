// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// f32_unary__opt against f32_unary__ref: LOGISTIC (a polynomial exp) within
// 4 ulp, or 1e-37 absolute where the reference is subnormal, over a sweep
// of every exponent, the edges and the specials; the other ops (the
// reference's own expressions) bit for bit; any thread count alike. The
// binary ops' row kernels of every ISA this CPU runs (f32_binary__opt) bit
// for bit against f32_binary__ref, over every broadcast kind, odd sizes,
// clamps and the specials.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cpu_features.h"
#include "dispatch.h"
#include "ops/elementwise.h"
#include "ops/pool.h"
#include "plan/shape_inference.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

std::vector<float> Inputs() {
  std::vector<float> x = {0.0f,
                          -0.0f,
                          1e-30f,
                          -1e-30f,
                          87.0f,
                          -87.0f,
                          87.5f,
                          -87.5f,
                          88.8f,
                          -88.8f,
                          104.0f,
                          -104.0f,
                          1e30f,
                          -1e30f,
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::denorm_min()};
  std::mt19937 rng(7);
  // Every magnitude from 2^-30 to 2^8, both signs, random mantissas.
  for (int e = -30; e <= 8; ++e) {
    for (int i = 0; i < 2000; ++i) {
      const float m = std::uniform_real_distribution<float>(1.0f, 2.0f)(rng);
      x.push_back((i % 2 ? -1.0f : 1.0f) * std::ldexp(m, e));
    }
  }
  return x;
}

TEST(ElementwiseOpt, LogisticWithinFourUlpOfReference) {
  const std::vector<float> x = Inputs();
  const auto n = static_cast<int64_t>(x.size());
  std::vector<float> want(x.size()), got(x.size());
  f32_unary__ref(UnaryOp::kLogistic, x.data(), want.data(), n);
  f32_unary__opt(UnaryOp::kLogistic, x.data(), got.data(), n, nullptr);
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << x[i];
      continue;
    }
    const float tol = std::max(4.0f * std::numeric_limits<float>::epsilon() * want[i], 1e-37f);
    ASSERT_NEAR(got[i], want[i], tol) << "x = " << x[i];
  }
  ThreadPool pool(3, 1);
  std::vector<float> threaded(x.size());
  f32_unary__opt(UnaryOp::kLogistic, x.data(), threaded.data(), n, &pool);
  EXPECT_EQ(0, std::memcmp(threaded.data(), got.data(), got.size() * sizeof(float)));
}

TEST(ElementwiseOpt, OtherOpsEqualReference) {
  const std::vector<float> x = Inputs();
  const auto n = static_cast<int64_t>(x.size());
  ThreadPool pool(2, 1);
  for (UnaryOp op : {UnaryOp::kRelu, UnaryOp::kRelu6, UnaryOp::kReluN1To1, UnaryOp::kTanh,
                     UnaryOp::kHardSwish}) {
    std::vector<float> want(x.size()), got(x.size());
    f32_unary__ref(op, x.data(), want.data(), n);
    f32_unary__opt(op, x.data(), got.data(), n, &pool);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), got.size() * sizeof(float)))
        << static_cast<int>(op);
  }
}

struct VBinaryEntry {
  Isa isa;
  F32VBinaryUkernelFn fn;
  const char* name;
};

std::vector<VBinaryEntry> VBinaryEntries() {
  std::vector<VBinaryEntry> v;
#define GS_UKERNEL(isa, name) v.push_back({isa, &name, #name});
#include "kernels/f32_vbinary/f32_vbinary.inc"
#undef GS_UKERNEL
  return v;
}

TEST(ElementwiseOpt, BinaryRowKernelsEqualReferenceBitForBit) {
  const std::vector<float> pool_values = Inputs();
  std::mt19937 rng(11);
  auto values = [&](size_t n) {
    std::vector<float> v(n);
    std::uniform_int_distribution<size_t> pick(0, pool_values.size() - 1);
    for (float& x : v) x = pool_values[pick(rng)] * 1e-2f;  // products stay finite mostly
    if (n > 3) v[1] = std::numeric_limits<float>::quiet_NaN(), v[2] = -0.0f;
    return v;
  };
  ThreadPool pool(3, 1);
  const Shape full = {1, 7, 9, 37};  // 2331 values: odd rows, odd channels
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {full, full},
      {{1}, full},
      {full, {1}},
      {{37}, full},
      {full, {1, 1, 37}},
      {{1, 1, 1, 37}, full},
      {{5000}, {5000}},          // several blocks
      {{2, 1, 37}, {2, 9, 37}},  // general broadcast: the reference either way
  };
  const BinaryOp ops[] = {BinaryOp::kAdd,     BinaryOp::kMul,     BinaryOp::kSub,  BinaryOp::kDiv,
                          BinaryOp::kMaximum, BinaryOp::kMinimum, BinaryOp::kPrelu};
  const Activation acts[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6,
                             Activation::kReluN1To1};
  for (const VBinaryEntry& e : VBinaryEntries()) {
    if (!IsaSupported(e.isa, DetectCpuFeatures())) continue;
    for (const auto& [sa, sb] : shapes) {
      for (BinaryOp op : ops) {
        for (Activation act : acts) {
          BinaryParams p;
          ASSERT_TRUE(MakeBinaryParams(sa, sb, act, &p));
          const std::vector<float> a = values(NumElements(sa)), b = values(NumElements(sb));
          std::vector<float> want(p.size), got(p.size, 7.0f), threaded(p.size, 7.0f);
          f32_binary__ref(op, p, a.data(), b.data(), want.data());
          f32_binary__opt(op, p, e.fn, a.data(), b.data(), got.data(), nullptr);
          f32_binary__opt(op, p, e.fn, a.data(), b.data(), threaded.data(), &pool);
          const auto bytes = want.size() * sizeof(float);
          ASSERT_EQ(0, std::memcmp(want.data(), got.data(), bytes))
              << e.name << " op " << static_cast<int>(op) << " kind " << static_cast<int>(p.kind);
          ASSERT_EQ(0, std::memcmp(want.data(), threaded.data(), bytes)) << e.name;
        }
      }
    }
  }
}

TEST(ElementwiseOpt, LeakyReluOnRowKernelsEqualsReference) {
  const std::vector<float> x = Inputs();
  const auto n = static_cast<int64_t>(x.size());
  ThreadPool pool(2, 1);
  for (const VBinaryEntry& e : VBinaryEntries()) {
    if (!IsaSupported(e.isa, DetectCpuFeatures())) continue;
    for (float alpha : {0.2f, -1.5f, 0.0f}) {
      std::vector<float> want(x.size()), got(x.size());
      f32_leaky_relu__ref(alpha, x.data(), want.data(), n);
      f32_leaky_relu__opt(alpha, e.fn, x.data(), got.data(), n, &pool);
      ASSERT_EQ(0, std::memcmp(want.data(), got.data(), got.size() * sizeof(float))) << e.name;
    }
  }
}

struct PoolEntry {
  Isa isa;
  F32PoolUkernelFn fn;
  const char* name;
};

TEST(ElementwiseOpt, PoolKernelsEqualReferenceBitForBit) {
  std::vector<PoolEntry> entries;
#define GS_UKERNEL(isa, name) entries.push_back({isa, &name, #name});
#include "kernels/f32_pool/f32_pool.inc"
#undef GS_UKERNEL
  const std::vector<float> pool_values = Inputs();
  std::mt19937 rng(5);
  ThreadPool threads(2, 1);
  struct Case {
    int64_t h, w, c;
    int k, s;
    int64_t pad;
  };
  // Odd channel counts (a block of 64 and a tail), 8, 16, 32 and 64 (their
  // own compile-time loops), 2x2/3x3 windows, strides,
  // padding (windows clipped at the edges; a 2x2 window at pad 2 on a 1x1
  // input has no taps at all at its first pixel), NaN and infinities.
  const Case cases[] = {{9, 7, 70, 3, 2, 1},
                        {8, 8, 3, 2, 2, 0},
                        {5, 6, 129, 3, 1, 1},
                        {1, 1, 5, 3, 1, 2},
                        {1, 1, 5, 2, 1, 2},
                        // the compile-time channel counts (8, 16, 32, 64)
                        {12, 10, 8, 2, 2, 0},
                        {7, 9, 16, 2, 2, 1},
                        {6, 7, 32, 3, 2, 1},
                        {5, 5, 64, 3, 1, 1},
                        {1, 1, 16, 2, 1, 2}};
  for (const PoolEntry& e : entries) {
    if (!IsaSupported(e.isa, DetectCpuFeatures())) continue;
    for (const Case& k : cases) {
      for (Activation act : {Activation::kNone, Activation::kRelu6}) {
        Pool2DParams p;
        p.batch = 2, p.in_h = k.h, p.in_w = k.w, p.channels = k.c;
        p.filter_h = p.filter_w = k.k, p.stride_h = p.stride_w = k.s;
        p.pad_top = p.pad_left = k.pad;
        p.out_h = (k.h + 2 * k.pad - k.k) / k.s + 1, p.out_w = (k.w + 2 * k.pad - k.k) / k.s + 1;
        p.act = ActivationRange(act);
        std::vector<float> x(p.batch * k.h * k.w * k.c);
        std::uniform_int_distribution<size_t> pick(0, pool_values.size() - 1);
        for (float& v : x) v = pool_values[pick(rng)];
        const size_t n = p.batch * p.out_h * p.out_w * k.c;
        for (bool max : {true, false}) {
          std::vector<float> want(n), got(n, 7.0f);
          if (max) {
            f32_max_pool2d__ref(p, x.data(), want.data(), nullptr);
            f32_max_pool2d__opt(p, e.fn, x.data(), got.data(), &threads);
          } else {
            f32_average_pool2d__ref(p, x.data(), want.data(), nullptr);
            f32_average_pool2d__opt(p, e.fn, x.data(), got.data(), &threads);
          }
          ASSERT_EQ(0, std::memcmp(want.data(), got.data(), n * sizeof(float)))
              << e.name << (max ? " max" : " average") << " c=" << k.c;
        }
      }
    }
  }
}

}  // namespace
}  // namespace gearshift
