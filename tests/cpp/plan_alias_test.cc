// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// RESHAPE as an alias (OpDef::alias, PlanMemory): its output shares its
// input's bytes where that is safe, and its step does nothing. The oracle is
// the same plan built with a registry whose RESHAPE is not an alias (every
// reshape copies, as before): every output must be equal bit for bit, on
// the reference ops and on this CPU's best kernels, at 1 and 3 threads, in
// float and int8 gears. Plan::alias_steps() says which steps aliased.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dispatch.h"
#include "format/model_desc.h"
#include "plan/op_registry.h"
#include "plan/plan.h"
#include "prepare/gear_weights.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

// A model of weightless ops, with a float gear (0) and an int8 gear (1).
struct Model {
  ModelDesc md;
  std::shared_ptr<GearWeights> f32, q8;

  Model() {
    md.version_major = 1;
    md.version_minor = 5;
  }
  int Tensor(const char* name, Shape shape) {
    TensorDesc t;
    t.name = name;
    t.shape = std::move(shape);
    md.tensors.push_back(t);
    return static_cast<int>(md.tensors.size()) - 1;
  }
  int Reshape(const char* name, int in, Shape shape) {
    const int out = Tensor(name, shape);
    NodeDesc n;
    n.name = name;
    n.op = OpType::kReshape;
    n.inputs = {in};
    n.outputs = {out};
    n.attrs.shape.assign(shape.begin() + 1, shape.end());  // the batch dimension stays
    md.nodes.push_back(n);
    return out;
  }
  int Op(const char* name, OpType op, std::vector<int> in, Shape shape) {
    const int out = Tensor(name, std::move(shape));
    NodeDesc n;
    n.name = name;
    n.op = op;
    n.inputs = std::move(in);
    n.outputs = {out};
    md.nodes.push_back(n);
    return out;
  }
  // Gears over every tensor; int8 parameters: (1/16, 3) everywhere but the
  // tensors listed in `q8_other`, which get (1/8, -5).
  void Finish(const std::vector<int>& q8_other = {}) {
    GearDesc f;
    f.name = "fp32";
    f.compute = "f32";
    f.arith = Compute::kF32;
    f.constant_storage.assign(md.tensors.size(), -1);
    md.gears.push_back(f);
    GearDesc q;
    q.name = "int8";
    q.compute = "q8";
    q.arith = Compute::kQ8;
    q.constant_storage.assign(md.tensors.size(), -1);
    q.activations.assign(md.tensors.size(), ActQuant{1.0f / 16, 3});
    for (int t : q8_other) q.activations[static_cast<size_t>(t)] = ActQuant{1.0f / 8, -5};
    md.gears.push_back(q);
    f32 = std::make_shared<GearWeights>(0, Compute::kF32, md.tensors.size());
    q8 = std::make_shared<GearWeights>(1, Compute::kQ8, md.tensors.size());
  }
};

// The default registry with RESHAPE's alias flag cleared: the copying path.
const OpRegistry& CopyingRegistry() {
  static const OpRegistry r([] {
    std::vector<OpDef> defs;
    for (size_t i = 0; i < kNumOpTypes; ++i) {
      OpDef d = *OpRegistry::Default().Find(static_cast<OpType>(i));
      d.alias = false;
      defs.push_back(d);
    }
    return defs;
  }());
  return r;
}

struct Result {
  std::vector<std::vector<float>> outputs;
  int alias_steps = 0;
  int64_t arena_bytes = 0;
};

// Runs gear `int8` of m on one input of `shape` (values in about [-4, 4])
// and returns its outputs as float.
Result RunGear(const Model& m, bool int8, const Shape& shape, const OpRegistry& registry,
               const KernelTable& kernels, int threads) {
  Result r;
  std::unique_ptr<Plan> plan;
  const Status s =
      Plan::Build(m.md, int8 ? m.q8 : m.f32, {shape}, kernels, nullptr, &plan, false, registry);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return r;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>((i * 37) % 101 - 50) / 12.5f;
  const std::vector<float> x_before = x;
  std::vector<uint8_t> storage(static_cast<size_t>(plan->arena_bytes()) + 64, 0xAB);
  uint8_t* arena = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
  for (const Shape& o : plan->output_shapes()) {
    int64_t e = 1;
    for (int64_t d : o) e *= d;
    r.outputs.emplace_back(static_cast<size_t>(e), -999.0f);
  }
  std::vector<void*> out;
  for (auto& o : r.outputs) out.push_back(o.data());
  const void* in[] = {x.data()};
  ThreadPool pool(threads, 1);  // min cost 1: even tiny ops are split
  plan->Run(in, out.data(), arena, &pool);
  EXPECT_EQ(x, x_before) << "the caller's input was written";
  r.alias_steps = plan->alias_steps();
  r.arena_bytes = plan->arena_bytes();
  return r;
}

bool SameBits(const Result& a, const Result& b) {
  if (a.outputs.size() != b.outputs.size()) return false;
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    if (a.outputs[i].size() != b.outputs[i].size() ||
        std::memcmp(a.outputs[i].data(), b.outputs[i].data(), a.outputs[i].size() * 4) != 0) {
      return false;
    }
  }
  return true;
}

// Every gear, kernel table and thread count gives the copying path's bits;
// returns the alias path's results on the reference ops (float, int8).
void ExpectSameAsCopying(const Model& m, const Shape& shape, int f32_aliases, int q8_aliases) {
  KernelTable best;
  ASSERT_TRUE(BuildKernelTable("", &best).ok());
  for (bool int8 : {false, true}) {
    const Result copy = RunGear(m, int8, shape, CopyingRegistry(), KernelTable(), 1);
    EXPECT_EQ(copy.alias_steps, 0);
    for (const KernelTable* k :
         {static_cast<const KernelTable*>(&best), static_cast<const KernelTable*>(nullptr)}) {
      for (int threads : {1, 3}) {
        const Result alias = RunGear(m, int8, shape, OpRegistry::Default(),
                                     k != nullptr ? *k : KernelTable(), threads);
        SCOPED_TRACE(std::string(int8 ? "int8" : "fp32") + (k != nullptr ? " best" : " ref") +
                     " threads " + std::to_string(threads));
        EXPECT_TRUE(SameBits(alias, copy));
        EXPECT_EQ(alias.alias_steps, int8 ? q8_aliases : f32_aliases);
        EXPECT_LE(alias.arena_bytes, copy.arena_bytes);
      }
    }
  }
}

TEST(PlanAlias, ReshapeFeedingTwoConsumersAndItsInputReadLater) {
  // x -> RELU -> a -> RESHAPE r -> LOGISTIC y1, TANH y2; a -> RELU6 y3
  // after them; r read again by the last step.
  Model m;
  const int x = m.Tensor("x", {-1, 4, 6});
  const int a = m.Op("a", OpType::kRelu, {x}, {-1, 4, 6});
  const int r = m.Reshape("r", a, {-1, 24});
  const int y1 = m.Op("y1", OpType::kLogistic, {r}, {-1, 24});
  const int y2 = m.Op("y2", OpType::kTanh, {r}, {-1, 24});
  const int y3 = m.Op("y3", OpType::kRelu6, {a}, {-1, 4, 6});
  // r read again after three more steps, each of which could take a dead
  // buffer: the shared one must outlive every reader of either tensor.
  const int t1 = m.Op("t1", OpType::kTanh, {y3}, {-1, 4, 6});
  const int t2 = m.Reshape("t2", t1, {-1, 24});
  const int t3 = m.Op("t3", OpType::kLogistic, {t2}, {-1, 24});
  const int t4 = m.Op("t4", OpType::kRelu, {t3}, {-1, 24});
  const int z = m.Op("z", OpType::kAdd, {t4, r}, {-1, 24});
  m.md.inputs = {x};
  m.md.outputs = {y1, y2, z};
  m.Finish();
  ExpectSameAsCopying(m, {3, 4, 6}, 2, 2);
}

TEST(PlanAlias, ReshapeOfAGraphInput) {
  // Float gears: r is the caller's buffer read in place. int8 gears: the
  // input quantized into the arena.
  Model m;
  const int x = m.Tensor("x", {-1, 10});
  const int r = m.Reshape("r", x, {-1, 2, 5});
  const int y = m.Op("y", OpType::kTanh, {r}, {-1, 2, 5});
  m.md.inputs = {x};
  m.md.outputs = {y};
  m.Finish();
  ExpectSameAsCopying(m, {2, 10}, 1, 1);
}

TEST(PlanAlias, ReshapeProducingAGraphOutput) {
  // a -> RESHAPE y1 (a graph output): an alias. x -> RESHAPE y2 (a graph
  // input straight to a graph output): a float gear copies it (the caller's
  // input is not the caller's output); an int8 gear's input is in the arena.
  Model m;
  const int x = m.Tensor("x", {-1, 8});
  const int a = m.Op("a", OpType::kRelu, {x}, {-1, 8});
  const int y1 = m.Reshape("y1", a, {-1, 2, 4});
  const int y2 = m.Reshape("y2", x, {-1, 4, 2});
  m.md.inputs = {x};
  m.md.outputs = {y1, y2};
  m.Finish();
  ExpectSameAsCopying(m, {3, 8}, 1, 2);
}

TEST(PlanAlias, ChainedReshapesShareOneBuffer) {
  // a -> r1 -> r2 -> r3 -> LOGISTIC y; r2 is also a graph output, and a is
  // read again after the chain.
  Model m;
  const int x = m.Tensor("x", {-1, 12});
  const int a = m.Op("a", OpType::kHardSwish, {x}, {-1, 12});
  const int r1 = m.Reshape("r1", a, {-1, 3, 4});
  const int r2 = m.Reshape("r2", r1, {-1, 2, 6});
  const int r3 = m.Reshape("r3", r2, {-1, 12});
  const int y = m.Op("y", OpType::kLogistic, {r3}, {-1, 12});
  const int z = m.Op("z", OpType::kAdd, {a, r3}, {-1, 12});
  m.md.inputs = {x};
  m.md.outputs = {y, r2, z};
  m.Finish();
  ExpectSameAsCopying(m, {2, 12}, 3, 3);

  std::unique_ptr<Plan> plan;
  ASSERT_TRUE(Plan::Build(m.md, m.f32, {{2, 12}}, KernelTable(), nullptr, &plan).ok());
  // One buffer for a, r1, r2 and r3: the alias steps do nothing.
  for (size_t s = 1; s <= 3; ++s) {
    EXPECT_TRUE(plan->steps()[s].alias);
    EXPECT_TRUE(plan->steps()[s].skip);
    EXPECT_EQ(plan->steps()[s].output.index, plan->steps()[0].output.index);
  }
}

TEST(PlanAlias, Int8ReshapeWithEqualParametersIsAnAlias) {
  Model m;
  const int x = m.Tensor("x", {-1, 6});
  const int a = m.Op("a", OpType::kRelu, {x}, {-1, 6});
  const int r = m.Reshape("r", a, {-1, 2, 3});
  const int y = m.Op("y", OpType::kRelu6, {r}, {-1, 2, 3});
  m.md.inputs = {x};
  m.md.outputs = {y};
  m.Finish();
  ExpectSameAsCopying(m, {4, 6}, 1, 1);
}

TEST(PlanAlias, Int8ReshapeWithOtherParametersRequantizesLikeQuantize) {
  // r's parameters differ from a's: the step stays a requantizing copy,
  // with the bits of QUANTIZE (int8 -> int8) in its place.
  auto build = [](OpType op) {
    auto m = std::make_unique<Model>();
    const int x = m->Tensor("x", {-1, 6});
    const int a = m->Op("a", OpType::kRelu, {x}, {-1, 6});
    const int r = op == OpType::kReshape ? m->Reshape("r", a, {-1, 6})
                                         : m->Op("r", OpType::kQuantize, {a}, {-1, 6});
    const int y = m->Op("y", OpType::kRelu6, {r}, {-1, 6});
    m->md.inputs = {x};
    m->md.outputs = {y, r};
    m->Finish({r, y});
    return m;
  };
  auto reshape = build(OpType::kReshape);
  auto quantize = build(OpType::kQuantize);
  ExpectSameAsCopying(*reshape, {5, 6}, 1, 0);
  for (int threads : {1, 3}) {
    const Result got =
        RunGear(*reshape, true, {5, 6}, OpRegistry::Default(), KernelTable(), threads);
    const Result want = RunGear(*quantize, true, {5, 6}, OpRegistry::Default(), KernelTable(), 1);
    ASSERT_EQ(got.outputs.size(), 2u);
    EXPECT_TRUE(SameBits(got, want));
    // And those are a's values requantized: each within half a step of r's
    // scale (1/8) of a's dequantized value.
    const Result a_only = RunGear(*reshape, false, {5, 6}, OpRegistry::Default(), KernelTable(), 1);
    for (size_t i = 0; i < got.outputs[1].size(); ++i) {
      EXPECT_NEAR(got.outputs[1][i], a_only.outputs[1][i], 1.0f / 16 + 1.0f / 32 + 1e-6f) << i;
    }
  }
}

TEST(PlanAlias, KeepTensorsNeverAliases) {
  Model m;
  const int x = m.Tensor("x", {-1, 6});
  const int a = m.Op("a", OpType::kRelu, {x}, {-1, 6});
  const int r = m.Reshape("r", a, {-1, 2, 3});
  m.md.inputs = {x};
  m.md.outputs = {r};
  m.Finish();
  std::unique_ptr<Plan> plan;
  ASSERT_TRUE(
      Plan::Build(m.md, m.f32, {{1, 6}}, KernelTable(), nullptr, &plan, /*keep_tensors=*/true)
          .ok());
  EXPECT_EQ(plan->alias_steps(), 0);
}

}  // namespace
}  // namespace gearshift
