// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The fp32 gear of compact storage (q8r4 / q8r8: int8 plus a 4- or 8-bit
// residual) keeps
// no decoded copy of a conv/depthwise/dense weight beside its pack: the plan
// decodes it straight into the GEMM pack, or once for a step that reads the
// filter itself (depthwise, the reference ops). Oracle: the same model with
// the decoded values stored as dense f32 (what the gear computed on before:
// the decode is one rounding, DecodeResidual) gives the same outputs bit for
// bit on every ISA this CPU runs, at 1 and 3 threads, and the compact gear
// prepares exactly the dense one's packs plus the recipes, the decoded
// filters no pack holds and the q8r4 constants other ops read; at most
// 1.05x the model's fp32 weight bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dispatch.h"
#include "gear_builder.h"
#include "gearshift/gearshift.h"
#include "prepare/gear_weights.h"
#include "runtime_impl.h"

namespace gearshift {
namespace {

using testing::GearModelBuilder;

// One residual weight: int8 base, residuals (`bits` wide) and per-channel scales.
struct Q8R4Weight {
  std::vector<int64_t> shape;
  int axis = 0;
  int bits = 4;
  std::vector<int> q, r;
  std::vector<float> scale;
  int64_t elements() const { return static_cast<int64_t>(q.size()); }
  std::vector<float> Decoded() const {
    const std::vector<int8_t> q8(q.begin(), q.end());
    std::vector<uint8_t> res = testing::NibbleBytes(r);
    if (bits == 8) {
      res.assign(r.size(), 0);
      for (size_t i = 0; i < r.size(); ++i) res[i] = static_cast<uint8_t>(r[i] & 0xFF);
    }
    std::vector<float> v(q.size());
    DecodeResidual(q8.data(), res.data(), bits, LayoutOf(shape, axis), scale.data(), v.data());
    return v;
  }
};

Q8R4Weight RandomQ8R4(std::mt19937* rng, std::vector<int64_t> shape, int axis, int bits) {
  const int half = 1 << (bits - 1);
  std::uniform_int_distribution<int> q(-127, 127), r(-half, half - 1);
  Q8R4Weight w;
  w.bits = bits;
  w.shape = std::move(shape);
  w.axis = axis;
  int64_t n = 1;
  for (int64_t d : w.shape) n *= d;
  for (int64_t i = 0; i < n; ++i) {
    w.q.push_back(q(*rng));
    w.r.push_back(r(*rng));
  }
  for (int64_t c = 0; c < w.shape[static_cast<size_t>(axis)]; ++c) {
    w.scale.push_back(0.0005f * static_cast<float>(c % 7 + 1));
  }
  return w;
}

// x [1,15,13,5] -> CONV 1x1 (16) -> CONV 3x3/2 SAME RELU6 (32) -> DEPTHWISE
// 3x3 SAME -> DEPTHWISE 3x3 multiplier 2 VALID (64; the reference op) ->
// CONV 5x5 SAME (64) -> MEAN -> FULLY_CONNECTED 64->64 -> ADD a constant
// (a q8r4 tensor no filter: the gear decodes it). Every weight and the
// added constant q8r4 (`compact`) or their decoded values as f32; biases
// f32. Channel counts fill the GEMM tiles, as a real model's mostly do.
struct CompactNet {
  std::vector<uint8_t> bytes;
  int64_t filter_elements = 0;     // conv + depthwise + dense weights
  int64_t depthwise_elements = 0;  // read by the depthwise steps themselves
  int64_t added_elements = 0;      // the ADD's constant
  int64_t float_weight_bytes = 0;  // every constant as f32
  int recipes = 0;
};

CompactNet BuildNet(bool compact, int bits) {
  std::mt19937 rng(51);
  std::uniform_real_distribution<float> d(-0.25f, 0.25f);
  auto values = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
  };
  const Q8R4Weight w1 = RandomQ8R4(&rng, {16, 1, 1, 5}, 0, bits);
  const Q8R4Weight w2 = RandomQ8R4(&rng, {32, 3, 3, 16}, 0, bits);
  const Q8R4Weight d1 = RandomQ8R4(&rng, {1, 3, 3, 32}, 3, bits);
  const Q8R4Weight d2 = RandomQ8R4(&rng, {1, 3, 3, 64}, 3, bits);
  const Q8R4Weight w3 = RandomQ8R4(&rng, {64, 5, 5, 64}, 0, bits);
  const Q8R4Weight fw = RandomQ8R4(&rng, {64, 64}, 0, bits);
  const Q8R4Weight k = RandomQ8R4(&rng, {1, 64}, 1, bits);
  GearModelBuilder b;
  const int x = b.AddInput("x", {1, 15, 13, 5});
  const std::vector<float> b1 = values(16), b2 = values(32), bd1 = values(32), bf = values(64);
  const int tb1 = b.AddConst("c1/b", {16}, b1);
  const int tb2 = b.AddConst("c2/b", {32}, b2);
  const int tbd1 = b.AddConst("d1/b", {32}, bd1);
  const int tbf = b.AddConst("fc/b", {64}, bf);
  std::vector<std::pair<int, int>> consts = b.default_constants();
  CompactNet net;
  net.float_weight_bytes = (16 + 32 + 32 + 64) * 4;
  auto add = [&](const char* name, const Q8R4Weight& w, bool filter) {
    const int t = b.AddConstTensor(name, w.shape);
    int s;
    if (compact) {
      testing::QuantSpec q;
      q.axis = w.axis;
      q.scale = w.scale;
      const int base = b.AddI8Storage(w.shape, std::vector<int8_t>(w.q.begin(), w.q.end()), q);
      s = bits == 8 ? b.AddQ8R8Storage(w.shape, base, w.r) : b.AddQ8R4Storage(w.shape, base, w.r);
    } else {
      s = b.AddF32Storage(w.shape, w.Decoded());
    }
    consts.emplace_back(t, s);
    net.float_weight_bytes += w.elements() * 4;
    if (filter) {
      net.filter_elements += w.elements();
      ++net.recipes;
    }
    return t;
  };
  const int tw1 = add("c1/w", w1, true);
  const int tw2 = add("c2/w", w2, true);
  const int td1 = add("d1/w", d1, true);
  const int td2 = add("d2/w", d2, true);
  const int tw3 = add("c3/w", w3, true);
  const int tfw = add("fc/w", fw, true);
  const int tk = add("k", k, false);
  net.depthwise_elements = d1.elements() + d2.elements();
  net.added_elements = k.elements();
  const int t1 = b.AddTensor("c1", {1, 15, 13, 16});
  const int t2 = b.AddTensor("c2", {1, 8, 7, 32});
  const int t3 = b.AddTensor("d1", {1, 8, 7, 32});
  const int t4 = b.AddTensor("d2", {1, 6, 5, 64});
  const int t5 = b.AddTensor("c3", {1, 6, 5, 64});
  const int t6 = b.AddTensor("mean", {1, 64});
  const int t7 = b.AddTensor("fc", {1, 64});
  const int y = b.AddTensor("y", {1, 64});
  b.AddNode("c1", "CONV_2D", {x, tw1, tb1}, {t1},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"VALID"})");
  b.AddNode("c2", "CONV_2D", {t1, tw2, tb2}, {t2},
            R"({"stride":[2,2],"dilation":[1,1],"padding":"SAME","activation":"RELU6"})");
  b.AddNode("d1", "DEPTHWISE_CONV_2D", {t2, td1, tbd1}, {t3},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":1})");
  b.AddNode("d2", "DEPTHWISE_CONV_2D", {t3, td2, -1}, {t4},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"VALID","depth_multiplier":2})");
  b.AddNode("c3", "CONV_2D", {t4, tw3, -1}, {t5},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME"})");
  b.AddNode("mean", "MEAN", {t5}, {t6}, R"({"axes":[1,2],"keep_dims":false})");
  b.AddNode("fc", "FULLY_CONNECTED", {t6, tfw, tbf}, {t7}, "{}");
  b.AddNode("add", "ADD", {t7, tk}, {y}, "{}");
  b.AddOutput(y);
  b.AddGear("fp32", "f32", consts);
  net.bytes = b.Build();
  return net;
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

std::vector<float> RunNet(Runtime* rt, const std::vector<float>& x) {
  std::vector<float> y(64, -1.0f);
  const void* in[] = {x.data()};
  void* out[] = {y.data()};
  const Status s = rt->Run(in, out);
  EXPECT_TRUE(s.ok()) << s.message();
  return y;
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class F32Compact : public ::testing::TestWithParam<int> {};  // residual bits: q8r4, q8r8

TEST_P(F32Compact, GearEqualsDecodedWeightsBitForBitWithoutADecodedCopy) {
  const CompactNet compact = BuildNet(true, GetParam()), dense = BuildNet(false, GetParam());
  std::mt19937 rng(52);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> x(15 * 13 * 5);
  for (float& v : x) v = d(rng);
  const CpuFeatures f = DetectCpuFeaturesMasked();
  int isas = 0;
  for (const std::string& isa : CompiledIsas()) {
    KernelTable t;
    if (!BuildKernelTable(isa, f, &t).ok()) continue;  // the CPU lacks it
    RuntimeOptions o;
    o.isa = isa;
    for (int threads : {1, 3}) {
      o.threads = threads;
      auto rt = OpenBytes(compact.bytes, o);
      auto want_rt = OpenBytes(dense.bytes, o);
      ASSERT_NE(rt, nullptr);
      ASSERT_NE(want_rt, nullptr);
      const std::vector<float> want = RunNet(want_rt.get(), x);
      const std::vector<float> y = RunNet(rt.get(), x);
      EXPECT_TRUE(BitEqual(y, want)) << isa << ", " << threads << " threads";
      EXPECT_TRUE(BitEqual(RunNet(rt.get(), x), want)) << isa << ", second run";
      // The dense gear holds only its packs (its f32 payloads are used in
      // place). The compact one holds the same packs, plus one recipe per
      // filter, the ADD's constant decoded by the gear (one 64-byte block
      // per 16 floats) and the filters no pack holds, decoded once: the
      // depthwise ones, or every filter where the ISA has no f32 GEMM.
      const int64_t unpacked =
          t.f32_gemm.fn != nullptr ? compact.depthwise_elements : compact.filter_elements;
      const int64_t expect = want_rt->prepared_bytes() +
                             compact.recipes * static_cast<int64_t>(sizeof(Q8R4Tensor)) +
                             (compact.added_elements * 4 + 63) / 64 * 64 + unpacked * 4;
      EXPECT_EQ(rt->prepared_bytes(), expect) << isa;
      EXPECT_LE(rt->prepared_bytes() * 100, compact.float_weight_bytes * 105)
          << isa << ": " << rt->prepared_bytes() << " prepared bytes, "
          << compact.float_weight_bytes << " fp32 weight bytes";
    }
    ++isas;
  }
  EXPECT_GE(isas, 1);
}

INSTANTIATE_TEST_SUITE_P(ResidualBits, F32Compact, ::testing::Values(4, 8));

}  // namespace
}  // namespace gearshift
