// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The optimised int8 kernels (the __opt functions of src/ops_q8 other than
// conv and dense) against their __ref oracles, bit for bit, on random shapes,
// broadcasts and quantization parameters (zero points at both ends of the
// int8 range, odd sizes, fused activations), with no pool and with 1 and 2
// threads (the pools split every op, however small).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "cpu_features.h"
#include "dispatch.h"
#include "ops_q8/q8_common.h"
#include "ops_q8/q8_conv.h"
#include "ops_q8/q8_elementwise.h"
#include "ops_q8/q8_pool.h"
#include "ops_q8/q8_reduce.h"
#include "ops_q8/q8_resize.h"
#include "ops_q8/q8_shape_ops.h"
#include "ops_q8/q8_transpose_conv.h"
#include "requant.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

using I8 = std::vector<int8_t>;

class Q8Fast : public ::testing::Test {
 protected:
  Q8Fast() : rng_(1234) {
    pools_.push_back(nullptr);
    owned_.push_back(std::make_unique<ThreadPool>(1, 1));
    owned_.push_back(std::make_unique<ThreadPool>(2, 1));
    for (auto& p : owned_) pools_.push_back(p.get());
  }

  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  I8 Random(int64_t n) {
    I8 v(static_cast<size_t>(n));
    for (auto& e : v) e = static_cast<int8_t>(Int(-128, 127));
    return v;
  }

  // Zero points at the ends of the range as often as in between; scales over
  // several decades.
  Q8Quant Quant() {
    static const int32_t kEdges[] = {-128, -127, 127, 126, 0};
    const int32_t z = Int(0, 1) != 0 ? kEdges[Int(0, 4)] : Int(-128, 127);
    const float scale = std::pow(10.0f, static_cast<float>(Int(-300, 100)) / 100.0f);
    return Q8Quant{scale, z};
  }

  Activation Act() {
    static const Activation kActs[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6,
                                       Activation::kReluN1To1};
    return kActs[Int(0, 3)];
  }

  // A random rank-1..4 shape with odd and even sizes.
  Shape RandomShape(int max_rank, int max_dim) {
    Shape s(static_cast<size_t>(Int(1, max_rank)));
    for (auto& d : s) d = Int(1, max_dim);
    return s;
  }

  // b's shape: a's, a suffix of it, or some dims set to 1 (NumPy broadcast).
  Shape BroadcastOf(const Shape& a) {
    Shape b = a;
    switch (Int(0, 3)) {
      case 0:
        break;
      case 1:
        b.erase(b.begin(), b.begin() + Int(0, static_cast<int>(b.size()) - 1));
        break;
      case 2:
        for (auto& d : b) {
          if (Int(0, 1) != 0) d = 1;
        }
        break;
      default:
        b = Shape{1};
        break;
    }
    return b;
  }

  std::mt19937 rng_;
  std::vector<std::unique_ptr<ThreadPool>> owned_;
  std::vector<ThreadPool*> pools_;
};

int64_t Elements(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// The lookup kernels this CPU can run (kernels/q8_lut), after a null entry.
std::vector<Q8LutKernel> LutKernels() {
  std::vector<Q8LutKernel> v(1);
  const CpuFeatures f = DetectCpuFeatures();
#define GS_UKERNEL(isa, name, vbmi) \
  if (IsaSupported(isa, f) && (!(vbmi) || f.avx512_vbmi)) v.push_back({&name, #name, vbmi != 0});
#include "kernels/q8_lut/q8_lut.inc"
#undef GS_UKERNEL
  return v;
}

TEST_F(Q8Fast, UnaryTablesMatchReference) {
  const I8 all = [] {
    I8 v(256);
    for (int i = 0; i < 256; ++i) v[static_cast<size_t>(i)] = static_cast<int8_t>(i - 128);
    return v;
  }();
  for (int trial = 0; trial < 200; ++trial) {
    const Q8Quant x = Quant(), y = Quant();
    const UnaryOp ops[] = {UnaryOp::kRelu, UnaryOp::kRelu6, UnaryOp::kReluN1To1};
    const Q8RescaleParams rp =
        Int(0, 3) == 3 ? MakeQ8RequantizeParams(x, y) : MakeQ8RescaleParams(ops[Int(0, 2)], x, y);
    const float alpha = static_cast<float>(Int(-300, 300)) / 100.0f;
    const Q8LeakyReluParams lp = MakeQ8LeakyReluParams(alpha, x, y);
    const int64_t n = Int(0, 3) == 0 ? 256 : Int(1, 20000);
    const I8 in = n == 256 ? all : Random(n);
    I8 want(in.size()), got(in.size());
    q8_rescale__ref(rp, in.data(), want.data(), n);
    for (ThreadPool* pool : pools_) {
      q8_lookup__opt(MakeQ8RescaleTable(rp), in.data(), got.data(), n, pool);
      ASSERT_EQ(got, want) << "rescale trial " << trial;
    }
    q8_leaky_relu__ref(lp, in.data(), want.data(), n);
    for (ThreadPool* pool : pools_) {
      q8_lookup__opt(MakeQ8LeakyReluTable(lp), in.data(), got.data(), n, pool);
      ASSERT_EQ(got, want) << "leaky relu trial " << trial;
    }
    const Q8Table t = MakeQ8Table(UnaryOp::kLogistic, x, y);
    q8_lookup__ref(t, in.data(), want.data(), n);
    for (const Q8LutKernel& k : LutKernels()) {  // null: the scalar loop
      for (ThreadPool* pool : pools_) {
        std::fill(got.begin(), got.end(), int8_t{0x55});
        q8_lookup__opt(t, in.data(), got.data(), n, pool, k.fn);
        ASSERT_EQ(got, want) << "lookup trial " << trial << " " << k.name;
      }
    }
  }
}

TEST_F(Q8Fast, QuantizeAndDequantizeMatchReference) {
  for (int trial = 0; trial < 50; ++trial) {
    Q8Quant q = Quant();
    const int64_t n = Int(1, 30000);
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = static_cast<float>(Int(-100000, 100000)) * q.scale / 300.0f;
    if (trial % 5 == 1) {  // exact ties: a power-of-two scale, x = (m + 1/2) * scale
      q.scale = 0.25f;
      for (float& v : x) v = (static_cast<float>(Int(-400, 400)) + 0.5f) * 0.25f;
    }
    x[0] = NAN;
    if (n > 2) {
      x[1] = INFINITY;
      x[2] = -INFINITY;
    }
    I8 want(x.size()), got(x.size());
    q8_quantize__ref(x.data(), q, want.data(), n);
    for (ThreadPool* pool : pools_) {
      q8_quantize__opt(x.data(), q, got.data(), n, pool);
      ASSERT_EQ(got, want) << "trial " << trial;
    }
    std::vector<float> fwant(x.size()), fgot(x.size());
    q8_dequantize__ref(want.data(), q, fwant.data(), n);
    for (ThreadPool* pool : pools_) {
      q8_dequantize__opt(want.data(), q, fgot.data(), n, pool);
      ASSERT_EQ(fgot, fwant) << "trial " << trial;
    }
  }
}

// The row kernel sets this CPU can run (kernels/q8_vbinary), after the
// portable loops (an empty set).
std::vector<Q8VBinaryKernel> VBinaryKernels() {
  std::vector<Q8VBinaryKernel> v(1);
  const CpuFeatures f = DetectCpuFeatures();
#define GS_UKERNEL(isa, suffix, prelu_suffix, vbmi)                                  \
  if (IsaSupported(isa, f) && (!(vbmi) || f.avx512_vbmi)) {                          \
    v.push_back({&q8_vadd__##suffix, &q8_vmul__##suffix, &q8_vprelu__##prelu_suffix, \
                 #prelu_suffix, vbmi != 0});                                         \
  }
#include "kernels/q8_vbinary/q8_vbinary.inc"
#undef GS_UKERNEL
  return v;
}

TEST_F(Q8Fast, BinaryOpsMatchReference) {
  const std::vector<Q8VBinaryKernel> kernels = VBinaryKernels();
  for (int trial = 0; trial < 400; ++trial) {
    Shape sa = RandomShape(4, trial % 10 == 0 ? 70 : 9);
    Shape sb = BroadcastOf(sa);
    if (Int(0, 1) != 0) std::swap(sa, sb);
    if (trial % 25 == 0) sa = sb = Shape{Int(5000, 40000)};  // one long row
    BinaryParams shape;
    ASSERT_TRUE(MakeBinaryParams(sa, sb, Activation::kNone, &shape));
    const I8 a = Random(Elements(sa)), b = Random(Elements(sb));
    const Q8Quant qa = Quant(), qb = Quant(), qy = Quant();
    const Activation act = Act();
    I8 want(static_cast<size_t>(shape.size)), got(want.size());
    const Q8VBinaryKernel* rows = nullptr;  // set per kernel set below
    auto check = [&](const char* what, auto ref, auto opt) {
      ref(want.data());
      for (const Q8VBinaryKernel& k : kernels) {
        rows = &k;
        for (ThreadPool* pool : pools_) {
          std::fill(got.begin(), got.end(), int8_t{0});
          opt(got.data(), pool);
          ASSERT_EQ(got, want) << what << " rows " << k.name << " trial " << trial;
        }
      }
    };
    const Q8AddParams add = MakeQ8AddParams(qa, qb, qy, act);
    check(
        "add", [&](int8_t* y) { q8_add__ref(shape, add, a.data(), b.data(), y); },
        [&](int8_t* y, ThreadPool* pool) {
          q8_add__opt(shape, add, a.data(), b.data(), y, pool, rows);
        });
    const Q8AddParams sub = MakeQ8SubParams(qa, qb, qy, act);
    check(
        "sub", [&](int8_t* y) { q8_add__ref(shape, sub, a.data(), b.data(), y); },
        [&](int8_t* y, ThreadPool* pool) {
          q8_add__opt(shape, sub, a.data(), b.data(), y, pool, rows);
        });
    const Q8MulParams mul = MakeQ8MulParams(qa, qb, qy, act);
    check(
        "mul", [&](int8_t* y) { q8_mul__ref(shape, mul, a.data(), b.data(), y); },
        [&](int8_t* y, ThreadPool* pool) {
          q8_mul__opt(shape, mul, a.data(), b.data(), y, pool, rows);
        });
    check(
        "max", [&](int8_t* y) { q8_maximum__ref(shape, a.data(), b.data(), y); },
        [&](int8_t* y, ThreadPool* pool) { q8_maximum__opt(shape, a.data(), b.data(), y, pool); });
    check(
        "min", [&](int8_t* y) { q8_minimum__ref(shape, a.data(), b.data(), y); },
        [&](int8_t* y, ThreadPool* pool) { q8_minimum__opt(shape, a.data(), b.data(), y, pool); });
    const Q8PreluParams prelu = MakeQ8PreluParams(qa, qb, qy);
    check(
        "prelu", [&](int8_t* y) { q8_prelu__ref(shape, prelu, a.data(), b.data(), y); },
        [&](int8_t* y, ThreadPool* pool) {
          q8_prelu__opt(shape, prelu, a.data(), b.data(), y, pool, rows);
        });
  }
}

// The ADD input stage with 32-bit multiplies (Q8VPow2Stage, used by the
// x86 row kernels) against requant.h's doubling high multiply of d << E, for
// every d in [-255, 255], multipliers of both signs (SUB negates them) and
// every left shift; it refuses E outside [8, 23]. This checks the stage
// itself: through a whole ADD a unit's error in it hides under the output
// requantization (a rounding there moved no output in these tests).
TEST(Q8VPow2Stage, EqualsTheDoublingHighMulForEveryInput) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> mag(int32_t{1} << 30, INT32_MAX);
  int checked = 0;
  for (int32_t left_shift = 0; left_shift <= 26; ++left_shift) {
    for (int trial = 0; trial < 40; ++trial) {
      Q8VRequant r;
      r.multiplier = trial % 2 ? -mag(rng) : mag(rng);
      if (trial == 0) r.multiplier = INT32_MAX;
      if (trial == 1) r.multiplier = -INT32_MAX;
      r.shift = static_cast<int32_t>(rng() % 12) - 8;  // -8 .. 3
      const int32_t e = left_shift + std::max(r.shift, 0);
      Q8VPow2Stage s;
      const bool ok = MakeQ8VPow2Stage(r, left_shift, &s);
      ASSERT_EQ(ok, e >= 8 && e <= 23) << e;
      if (!ok) continue;
      for (int32_t d = -255; d <= 255; ++d) {
        const int32_t want = SaturatingRoundingDoublingHighMul(d * (int32_t{1} << e), r.multiplier);
        const int32_t got = d * s.high + ((d * s.low + s.round) >> s.k);
        ASSERT_EQ(got, want) << "d " << d << " M " << r.multiplier << " E " << e;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100000);
}

// Same-scale inputs (the residual ADD of MobileNetV2) and extreme scale
// ratios, where the multipliers' shifts reach their ends; every row kernel.
TEST_F(Q8Fast, AddExtremeScales) {
  const float scales[] = {1e-6f, 1e-3f, 0.0235f, 0.5f, 1.0f, 7.0f, 300.0f};
  const int32_t zeros[] = {-128, 0, 127};
  BinaryParams shape;
  ASSERT_TRUE(MakeBinaryParams(Shape{3, 7, 11}, Shape{3, 7, 11}, Activation::kNone, &shape));
  const I8 a = Random(shape.size), b = Random(shape.size);
  I8 want(static_cast<size_t>(shape.size)), got(want.size());
  for (float sa : scales) {
    for (float sb : scales) {
      for (float sy : scales) {
        const Q8Quant qa{sa, zeros[Int(0, 2)]}, qb{sb, zeros[Int(0, 2)]}, qy{sy, zeros[Int(0, 2)]};
        for (const Q8VBinaryKernel& k : VBinaryKernels()) {
          for (const Q8AddParams& p :
               {MakeQ8AddParams(qa, qb, qy, Act()), MakeQ8SubParams(qa, qb, qy, Act())}) {
            q8_add__ref(shape, p, a.data(), b.data(), want.data());
            q8_add__opt(shape, p, a.data(), b.data(), got.data(), pools_[2], &k);
            ASSERT_EQ(got, want) << sa << " " << sb << " " << sy << " " << k.name;
          }
          const Q8MulParams m = MakeQ8MulParams(qa, qb, qy, Act());
          q8_mul__ref(shape, m, a.data(), b.data(), want.data());
          q8_mul__opt(shape, m, a.data(), b.data(), got.data(), pools_[2], &k);
          ASSERT_EQ(got, want) << sa << " " << sb << " " << sy << " " << k.name;
          const Q8PreluParams pr = MakeQ8PreluParams(qa, qb, qy);
          q8_prelu__ref(shape, pr, a.data(), b.data(), want.data());
          q8_prelu__opt(shape, pr, a.data(), b.data(), got.data(), pools_[2], &k);
          ASSERT_EQ(got, want) << sa << " " << sb << " " << sy << " " << k.name;
        }
      }
    }
  }
}

// PRELU with a constant per-channel alpha runs as C tables of 256 bytes:
// the reference's bytes for every channel count up to the limit (none past
// it), extreme scales, zero points at both ends, 1-3 threads; and on every
// row kernel, whose alpha row is repeated to a multiple of 16 bytes.
TEST_F(Q8Fast, PreluTablesMatchReference) {
  const float scales[] = {1e-3f, 0.0235f, 0.5f, 7.0f};
  int tabled = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t c = trial % 10 == 0 ? Int(250, 300) : Int(1, 70);
    const int64_t h = Int(1, 9), w = Int(1, 23);
    BinaryParams shape;
    ASSERT_TRUE(MakeBinaryParams(Shape{1, h, w, c}, Shape{1, 1, c}, Activation::kNone, &shape));
    const Q8Quant qx{scales[Int(0, 3)], Int(-128, 127)}, qa{scales[Int(0, 3)], Int(-128, 127)};
    const Q8Quant qy{scales[Int(0, 3)], trial % 2 ? -128 : 127};
    const Q8PreluParams p = MakeQ8PreluParams(qx, qa, qy);
    const I8 x = Random(shape.size), alpha = Random(c);
    const std::vector<int8_t> tables = MakeQ8PreluTables(shape, p, alpha.data());
    {  // the row kernels too (alpha repeated to a 16-byte multiple inside)
      I8 want(static_cast<size_t>(shape.size)), got(want.size());
      q8_prelu__ref(shape, p, x.data(), alpha.data(), want.data());
      for (const Q8VBinaryKernel& k : VBinaryKernels()) {
        for (ThreadPool* pool : pools_) {
          std::fill(got.begin(), got.end(), int8_t{0});
          q8_prelu__opt(shape, p, x.data(), alpha.data(), got.data(), pool, &k);
          ASSERT_EQ(got, want) << "rows " << k.name << " trial " << trial << " c " << c;
        }
      }
    }
    if (c > kQ8PreluMaxTableChannels) {
      EXPECT_TRUE(tables.empty()) << c;
      continue;
    }
    ASSERT_EQ(tables.size(), static_cast<size_t>(c * 256));
    I8 want(static_cast<size_t>(shape.size)), got(want.size());
    q8_prelu__ref(shape, p, x.data(), alpha.data(), want.data());
    for (ThreadPool* pool : pools_) {
      std::fill(got.begin(), got.end(), int8_t{0});
      q8_prelu__table(shape, tables, x.data(), got.data(), pool);
      ASSERT_EQ(got, want) << "trial " << trial << " c " << c;
    }
    ++tabled;
  }
  EXPECT_GT(tabled, 40);
  // Not a [pixels, C] x [C] broadcast: no tables.
  BinaryParams same;
  ASSERT_TRUE(MakeBinaryParams(Shape{2, 3, 4}, Shape{2, 3, 4}, Activation::kNone, &same));
  const I8 alpha = Random(24);
  EXPECT_TRUE(
      MakeQ8PreluTables(same, MakeQ8PreluParams(Quant(), Quant(), Quant()), alpha.data()).empty());
}

TEST_F(Q8Fast, PoolsMatchReference) {
  for (int trial = 0; trial < 150; ++trial) {
    Pool2DParams p;
    p.batch = Int(1, 2);
    p.in_h = Int(1, 12);
    p.in_w = Int(1, 12);
    p.channels = trial % 10 == 0 ? Int(250, 600) : Int(1, 40);
    p.filter_h = Int(1, 5);
    p.filter_w = Int(1, 5);
    p.stride_h = Int(1, 3);
    p.stride_w = Int(1, 3);
    const Padding pad = Int(0, 1) != 0 ? Padding::kSame : Padding::kValid;
    if (trial % 7 == 0) {  // global pooling
      p.filter_h = static_cast<int>(p.in_h);
      p.filter_w = static_cast<int>(p.in_w);
    }
    ComputeWindow(p.in_h, p.filter_h, p.stride_h, 1, pad, &p.out_h, &p.pad_top);
    ComputeWindow(p.in_w, p.filter_w, p.stride_w, 1, pad, &p.out_w, &p.pad_left);
    if (p.out_h <= 0 || p.out_w <= 0) continue;
    const Q8Range act = Q8ActivationRange(Act(), Quant());
    const I8 x = Random(p.batch * p.in_h * p.in_w * p.channels);
    I8 want(static_cast<size_t>(p.batch * p.out_h * p.out_w * p.channels)), got(want.size());
    q8_average_pool2d__ref(p, act, x.data(), want.data(), nullptr);
    for (ThreadPool* pool : pools_) {
      q8_average_pool2d__opt(p, act, x.data(), got.data(), pool);
      ASSERT_EQ(got, want) << "trial " << trial;
    }
    q8_max_pool2d__ref(p, act, x.data(), want.data(), nullptr);
    for (ThreadPool* pool : pools_) {
      q8_max_pool2d__opt(p, act, x.data(), got.data(), pool);
      ASSERT_EQ(got, want) << "max trial " << trial;
    }
  }
}

TEST_F(Q8Fast, MeanMatchesReference) {
  for (int trial = 0; trial < 200; ++trial) {
    Shape s = RandomShape(4, 9);
    if (trial % 10 == 0) s = Shape{Int(1, 2), Int(1, 7), Int(1, 7), Int(200, 600)};
    std::vector<int> axes;
    for (int d = 0; d < static_cast<int>(s.size()); ++d) {
      if (Int(0, 1) != 0) axes.push_back(d);
    }
    if (trial % 5 == 0 && s.size() == 4) axes = {1, 2};  // global pooling
    if (axes.empty()) axes.push_back(Int(0, static_cast<int>(s.size()) - 1));
    if (Int(0, 1) != 0) std::reverse(axes.begin(), axes.end());
    const MeanParams p = MakeMeanParams(s, axes);
    const Q8RescaleParams q = MakeQ8MeanParams(Quant(), Quant(), p.reduced_count);
    const I8 x = Random(Elements(s));
    I8 want(static_cast<size_t>(p.out_size)), got(want.size());
    q8_mean__ref(p, q, x.data(), want.data());
    for (ThreadPool* pool : pools_) {
      q8_mean__opt(p, q, x.data(), got.data(), pool);
      ASSERT_EQ(got, want) << "trial " << trial;
    }
  }
}

TEST_F(Q8Fast, SoftmaxMatchesReference) {
  for (int trial = 0; trial < 100; ++trial) {
    SoftmaxParams p;
    p.rows = Int(1, 40);
    p.cols = trial % 5 == 0 ? Int(900, 1100) : Int(1, 60);
    const float beta = static_cast<float>(Int(1, 300)) / 100.0f;
    const Q8Quant y = Int(0, 1) != 0 ? Q8Quant{1.0f / 256, -128} : Quant();
    const Q8SoftmaxParams q = MakeQ8SoftmaxParams(beta, Quant(), y);
    const I8 x = Random(p.rows * p.cols);
    I8 want(x.size()), got(x.size());
    q8_softmax__ref(p, q, x.data(), want.data());
    for (ThreadPool* pool : pools_) {
      q8_softmax__opt(p, q, x.data(), got.data(), pool);
      ASSERT_EQ(got, want) << "trial " << trial;
    }
  }
}

TEST_F(Q8Fast, ConcatAndPadMatchReference) {
  for (int trial = 0; trial < 150; ++trial) {
    const Shape base = RandomShape(4, 8);
    const int axis = Int(0, static_cast<int>(base.size()) - 1);
    std::vector<Shape> shapes(static_cast<size_t>(Int(1, 4)), base);
    std::vector<I8> data;
    std::vector<const int8_t*> ptrs;
    for (Shape& s : shapes) {
      s[static_cast<size_t>(axis)] = Int(1, 9);
      data.push_back(Random(Elements(s)));
    }
    for (const I8& d : data) ptrs.push_back(d.data());
    const ConcatParams cp = MakeConcatParams(shapes, axis, Activation::kNone);
    const Q8Range act = Int(0, 1) != 0 ? Q8Range{} : Q8ActivationRange(Act(), Quant());
    I8 want(static_cast<size_t>(cp.outer * cp.out_chunk)), got(want.size());
    q8_concat__ref(cp, act, ptrs.data(), want.data());
    for (ThreadPool* pool : pools_) {
      q8_concat__opt(cp, act, ptrs.data(), got.data(), pool);
      ASSERT_EQ(got, want) << "concat trial " << trial;
    }

    std::vector<std::pair<int64_t, int64_t>> pads;
    for (size_t d = 0; d < base.size(); ++d) {  // unpadded dims half the time
      if (Int(0, 1) != 0) {
        pads.emplace_back(0, 0);
      } else {
        pads.emplace_back(Int(0, 3), Int(0, 3));
      }
    }
    const PadParams pp = MakePadParams(base, pads);
    const I8 x = Random(Elements(base));
    const auto fill = static_cast<int8_t>(Int(-128, 127));
    I8 pwant(static_cast<size_t>(pp.out_size)), pgot(pwant.size());
    q8_pad__ref(pp, fill, x.data(), pwant.data());
    for (ThreadPool* pool : pools_) {
      std::fill(pgot.begin(), pgot.end(), static_cast<int8_t>(~fill));
      q8_pad__opt(pp, fill, x.data(), pgot.data(), pool);
      ASSERT_EQ(pgot, pwant) << "pad trial " << trial;
    }
    // The fp32 PAD runs the same row code (ops/pad_rows.h).
    const PadParams fp = MakePadParams(base, pads, 0.25f * fill);
    const std::vector<float> xf(x.begin(), x.end());
    std::vector<float> fwant(static_cast<size_t>(fp.out_size)), fgot(fwant.size());
    f32_pad__ref(fp, xf.data(), fwant.data());
    for (ThreadPool* pool : pools_) {
      std::fill(fgot.begin(), fgot.end(), -1e30f);
      f32_pad__opt(fp, xf.data(), fgot.data(), pool);
      ASSERT_EQ(fgot, fwant) << "fp32 pad trial " << trial;
    }
  }
}

std::vector<Q8ResizeKernel> ResizeKernels() {
  std::vector<Q8ResizeKernel> v;
  const CpuFeatures f = DetectCpuFeatures();
#define GS_UKERNEL(isa, name) \
  if (IsaSupported(isa, f)) v.push_back({&name, #name});
#include "kernels/q8_resize/q8_resize.inc"
#undef GS_UKERNEL
  return v;
}

TEST_F(Q8Fast, ResizeMatchesReference) {
  for (int trial = 0; trial < 150; ++trial) {
    ResizeParams p;
    p.batch = Int(1, 2);
    p.in_h = Int(1, 9);
    p.in_w = Int(1, 9);
    p.channels = Int(1, 33);
    p.out_h = Int(1, 20);
    p.out_w = Int(1, 20);
    p.align_corners = Int(0, 1) != 0;
    p.half_pixel_centers = !p.align_corners && Int(0, 1) != 0;
    I8 x = Random(p.batch * p.in_h * p.in_w * p.channels);
    if (trial % 10 == 0) std::fill(x.begin(), x.end(), trial % 20 ? int8_t{-128} : int8_t{127});
    I8 want(static_cast<size_t>(p.batch * p.out_h * p.out_w * p.channels)), got(want.size());
    q8_resize_bilinear__ref(p, x.data(), want.data());
    for (const Q8ResizeKernel& k : ResizeKernels()) {  // every row kernel this CPU runs
      for (ThreadPool* pool : pools_) {
        std::fill(got.begin(), got.end(), int8_t{0x55});
        q8_resize_bilinear__opt(p, x.data(), got.data(), pool, k.bilinear);
        ASSERT_EQ(got, want) << "bilinear trial " << trial << " " << k.name;
      }
    }
    q8_resize_nearest__ref(p, x.data(), want.data());
    for (ThreadPool* pool : pools_) {
      q8_resize_nearest__opt(p, x.data(), got.data(), pool);
      ASSERT_EQ(got, want) << "nearest trial " << trial;
    }
  }
}

TEST_F(Q8Fast, TransposeConvMatchesReference) {
  for (int trial = 0; trial < 80; ++trial) {
    Conv2DParams p;
    p.batch = Int(1, 2);
    p.in_h = Int(1, 6);
    p.in_w = Int(1, 6);
    p.in_c = Int(1, 20);
    p.out_c = trial % 10 == 0 ? Int(130, 300) : Int(1, 12);
    p.kernel_h = Int(1, 4);
    p.kernel_w = Int(1, 4);
    p.stride_h = Int(1, 3);
    p.stride_w = Int(1, 3);
    const Padding pad = Int(0, 1) != 0 ? Padding::kSame : Padding::kValid;
    p.out_h = pad == Padding::kSame ? p.in_h * p.stride_h : (p.in_h - 1) * p.stride_h + p.kernel_h;
    p.out_w = pad == Padding::kSame ? p.in_w * p.stride_w : (p.in_w - 1) * p.stride_w + p.kernel_w;
    p.pad_top = TransposeConvPadBefore(p.in_h, p.out_h, p.kernel_h, p.stride_h, pad);
    p.pad_left = TransposeConvPadBefore(p.in_w, p.out_w, p.kernel_w, p.stride_w, pad);
    const Q8Quant x = Quant(), y = Quant();
    std::vector<float> w_scale(static_cast<size_t>(p.out_c));
    for (float& s : w_scale) s = static_cast<float>(Int(1, 100)) / 1000.0f;
    Q8ChannelRequant q;
    MakeQ8ChannelRequant(x, w_scale, y, p.out_c, Act(), &q);
    const I8 in = Random(p.batch * p.in_h * p.in_w * p.in_c);
    const I8 w = Random(p.out_c * p.kernel_h * p.kernel_w * p.in_c);
    std::vector<int32_t> bias(static_cast<size_t>(p.out_c));
    for (int32_t& v : bias) v = Int(-100000, 100000);
    const int32_t* bp = Int(0, 1) != 0 ? bias.data() : nullptr;
    I8 want(static_cast<size_t>(p.batch * p.out_h * p.out_w * p.out_c)), got(want.size());
    q8_transpose_conv2d__ref(p, q, in.data(), w.data(), bp, want.data(), nullptr);
    for (ThreadPool* pool : pools_) {
      q8_transpose_conv2d__opt(p, q, in.data(), w.data(), bp, got.data(), pool);
      ASSERT_EQ(got, want) << "trial " << trial;
    }
  }
}

}  // namespace
}  // namespace gearshift
