// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The op registry: every op has a complete definition, and a gear whose
// node has no kernel for the dtype it computes in is refused when its plan
// is built (at load), with a message naming the gear, node, op and dtype
// and what to do, never halfway through a run. The registries lacking a
// kernel here are test-only instances; the default one is never changed.
#include "plan/op_registry.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "format/model_desc.h"
#include "plan/plan.h"
#include "plan/shape_inference.h"
#include "prepare/gear_weights.h"

namespace gearshift {
namespace {

// x [-1, 4] -> LOGISTIC -> h -> SOFTMAX -> y, with an int8 gear ("int8")
// whose SOFTMAX may be a float island, and an f32 gear ("fp32").
struct TinyModel {
  ModelDesc model;
  std::shared_ptr<GearWeights> q8, f32;
};

std::unique_ptr<TinyModel> Tiny(bool softmax_in_float) {
  auto m = std::make_unique<TinyModel>();
  ModelDesc& md = m->model;
  md.version_major = 1;
  md.version_minor = 5;
  for (const char* name : {"x", "h", "y"}) {
    TensorDesc t;
    t.name = name;
    t.shape = {-1, 4};
    md.tensors.push_back(t);
  }
  md.inputs = {0};
  md.outputs = {2};
  NodeDesc logistic;
  logistic.name = "gate";
  logistic.op = OpType::kLogistic;
  logistic.inputs = {0};
  logistic.outputs = {1};
  md.nodes.push_back(logistic);
  NodeDesc softmax;
  softmax.name = "probs";
  softmax.op = OpType::kSoftmax;
  softmax.inputs = {1};
  softmax.outputs = {2};
  softmax.attrs.beta = 1.0f;
  md.nodes.push_back(softmax);

  GearDesc q8;
  q8.name = "int8";
  q8.compute = "q8";
  q8.arith = Compute::kQ8;
  q8.constant_storage.assign(md.tensors.size(), -1);
  q8.activations = {{1.0f / 32, 0}, {1.0f / 256, -128}, {1.0f / 256, -128}};
  if (softmax_in_float) q8.float_nodes = {0, 1};
  md.gears.push_back(q8);
  GearDesc f32;
  f32.name = "fp32";
  f32.compute = "f32";
  f32.arith = Compute::kF32;
  f32.constant_storage.assign(md.tensors.size(), -1);
  md.gears.push_back(f32);
  m->q8 = std::make_shared<GearWeights>(0, Compute::kQ8, md.tensors.size());
  m->f32 = std::make_shared<GearWeights>(1, Compute::kF32, md.tensors.size());
  return m;
}

// The default registry's definitions, SOFTMAX's changed by `edit`.
OpRegistry Without(void (*edit)(OpDef*)) {
  std::vector<OpDef> defs;
  for (size_t i = 0; i < kNumOpTypes; ++i) {
    OpDef d = *OpRegistry::Default().Find(static_cast<OpType>(i));
    if (d.op == OpType::kSoftmax) edit(&d);
    defs.push_back(d);
  }
  return OpRegistry(defs);
}

Status BuildWith(const TinyModel& m, bool int8, const OpRegistry& registry) {
  std::unique_ptr<Plan> plan;
  return Plan::Build(m.model, int8 ? m.q8 : m.f32, {{2, 4}}, KernelTable(), nullptr, &plan, false,
                     registry);
}

TEST(OpRegistry, DefaultRegistryDefinesEveryOpCompletely) {
  const OpRegistry& r = OpRegistry::Default();
  for (size_t i = 0; i < kNumOpTypes; ++i) {
    const OpType op = static_cast<OpType>(i);
    const OpDef* d = r.Find(op);
    ASSERT_NE(d, nullptr) << "op " << i;
    EXPECT_EQ(d->op, op);
    EXPECT_EQ(OpName(op), d->name);  // the same table, not a copy of it
    EXPECT_NE(d->shape, nullptr) << d->name;
    EXPECT_NE(d->f32.prepare, nullptr) << d->name;
    EXPECT_NE(d->f32.run, nullptr) << d->name;
    EXPECT_NE(d->q8.prepare, nullptr) << d->name;
    EXPECT_NE(d->q8.run, nullptr) << d->name;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < kNumOpTypes; ++i) names.insert(r.Find(static_cast<OpType>(i))->name);
  EXPECT_EQ(names.size(), kNumOpTypes);  // one name per op
  EXPECT_STREQ(OpName(static_cast<OpType>(kNumOpTypes)), "?");
  EXPECT_EQ(&r, &OpRegistry::Default());  // one immutable instance
}

TEST(OpRegistry, CompleteRegistryBuildsBothGears) {
  auto m = Tiny(false);
  EXPECT_TRUE(BuildWith(*m, true, OpRegistry::Default()).ok());
  EXPECT_TRUE(BuildWith(*m, false, OpRegistry::Default()).ok());
}

TEST(OpRegistry, MissingInt8KernelIsRefusedAtPlanBuild) {
  auto m = Tiny(false);
  const OpRegistry no_q8 = Without([](OpDef* d) { d->q8.run = nullptr; });
  const Status s = BuildWith(*m, true, no_q8);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  const std::string& msg = s.message();
  EXPECT_NE(msg.find("gear 'int8'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("node 'probs'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("SOFTMAX"), std::string::npos) << msg;
  EXPECT_NE(msg.find("int8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("float_layers"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fp32"), std::string::npos) << msg;
  // The float gear never needs the int8 kernel.
  EXPECT_TRUE(BuildWith(*m, false, no_q8).ok());
  // Nor does an int8 gear whose SOFTMAX is a float island.
  auto island = Tiny(true);
  EXPECT_TRUE(BuildWith(*island, true, no_q8).ok());
}

TEST(OpRegistry, MissingFloatKernelIsRefusedForFloatGearsAndIslands) {
  const OpRegistry no_f32 = Without([](OpDef* d) { d->f32.run = nullptr; });
  auto m = Tiny(false);
  Status s = BuildWith(*m, false, no_f32);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("node 'probs' (SOFTMAX) computes in float32"), std::string::npos)
      << s.message();
  EXPECT_TRUE(BuildWith(*m, true, no_f32).ok());  // all int8
  auto island = Tiny(true);
  s = BuildWith(*island, true, no_f32);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("float32"), std::string::npos) << s.message();
}

TEST(OpRegistry, UnregisteredOpIsRefusedBeforeShapes) {
  const OpRegistry only_logistic({*OpRegistry::Default().Find(OpType::kLogistic)});
  auto m = Tiny(false);
  const Status s = BuildWith(*m, false, only_logistic);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("node 'probs'"), std::string::npos) << s.message();
}

TEST(OpRegistry, StepHoldsOnlyItsOwnOpsParams) {
  auto m = Tiny(false);
  std::unique_ptr<Plan> plan;
  ASSERT_TRUE(Plan::Build(m->model, m->q8, {{2, 4}}, KernelTable(), nullptr, &plan, false).ok());
  ASSERT_EQ(plan->steps().size(), 2u);
  EXPECT_NE(plan->steps()[0].get<UnaryStep>(), nullptr);
  EXPECT_EQ(plan->steps()[0].get<SoftmaxStep>(), nullptr);
  EXPECT_NE(plan->steps()[1].get<SoftmaxStep>(), nullptr);
  EXPECT_EQ(plan->steps()[1].get<Conv2DStep>(), nullptr);
  EXPECT_NE(plan->steps()[0].run_q8, nullptr);
  EXPECT_EQ(plan->steps()[0].run_f32, nullptr);
  // The footprint the issue measured at 1,720 bytes a step (every op's
  // params in every step); a step is now its largest family's size.
  std::printf("sizeof(PlanStep) = %zu bytes (largest params: %zu)\n", sizeof(PlanStep),
              sizeof(StepParams));
  // Each conv op its own params (one shared ConvStep was 352 bytes on
  // x86-64, the depthwise step carrying transpose-conv pack vectors).
  std::printf("sizeof Conv2DStep %zu, DepthwiseStep %zu, TransposeConvStep %zu\n",
              sizeof(Conv2DStep), sizeof(DepthwiseStep), sizeof(TransposeConvStep));
}

}  // namespace
}  // namespace gearshift
