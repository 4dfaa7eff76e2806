// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The int8 gear through Plan: a small model (conv 3x3 -> depthwise 3x3 ->
// add -> conv 1x1 -> max pool -> mean -> reshape -> dense -> softmax) with
// its ModelDesc and GearWeights assembled here. The reference path (empty
// KernelTable), the ref microkernel, the best kernels of this CPU and 1 or 3
// threads must give identical bits, equal to golden values computed with
// converters/quant_ref.py from the same generated data (the generator below
// is a plain LCG that the Python script reproduces; its source is quoted at
// the end of this file).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "dispatch.h"
#include "format/model_desc.h"
#include "gear_builder.h"
#include "gearshift/gearshift.h"
#include "plan/plan.h"
#include "prepare/gear_weights.h"
#include "runtime_impl.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

struct Lcg {
  uint32_t s;
  uint32_t Next() {
    s = s * 1664525u + 1013904223u;
    return s >> 8;
  }
  int Int(int lo, int hi) {
    return lo + static_cast<int>(Next() % static_cast<uint32_t>(hi - lo + 1));
  }
};

std::vector<int> Ints(uint32_t seed, int64_t n, int lo, int hi) {
  Lcg g{seed};
  std::vector<int> v(static_cast<size_t>(n));
  for (int& x : v) x = g.Int(lo, hi);
  return v;
}

// Exact float32 scales (1 + k) / d.
std::vector<float> Scales(uint32_t seed, int n, float d = 4096.0f) {
  Lcg g{seed};
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(1 + g.Int(0, 63)) / d;
  return v;
}

// The test model and its int8 gear, owning every buffer the GearWeights
// point into.
struct Q8Model {
  ModelDesc model;
  std::vector<std::vector<int8_t>> i8;
  std::vector<std::vector<int32_t>> i32;
  std::vector<std::unique_ptr<QuantDesc>> quants;
  std::shared_ptr<GearWeights> weights;

  int Tensor(const char* name, Shape shape, bool is_const = false) {
    TensorDesc t;
    t.name = name;
    t.shape = std::move(shape);
    t.is_const = is_const;
    model.tensors.push_back(t);
    return static_cast<int>(model.tensors.size()) - 1;
  }
  void Node(const char* name, OpType op, std::vector<int> in, int out, NodeAttrs a = {}) {
    NodeDesc n;
    n.name = name;
    n.op = op;
    n.inputs = std::move(in);
    n.outputs = {out};
    n.attrs = std::move(a);
    model.nodes.push_back(std::move(n));
  }
};

// Weights [shape] from seed, per-channel scales along `axis` from seed + 100,
// bias [channels] from seed + 1, as the golden script.
void SetWeights(Q8Model* m, int w, int b, uint32_t seed, int axis, int channels,
                float scale_div = 4096.0f) {
  int64_t n = 1;
  for (int64_t d : m->model.tensors[w].shape) n *= d;
  std::vector<int> wv = Ints(seed, n, -127, 127);
  m->i8.emplace_back(wv.begin(), wv.end());
  auto q = std::make_unique<QuantDesc>();
  q->present = true;
  q->axis = axis;
  q->scale = Scales(seed + 100, channels, scale_div);
  q->zero_point.assign(static_cast<size_t>(channels), 0);
  ConstView& cw = m->weights->mutable_at(w);
  cw.i8 = m->i8.back().data();
  cw.quant = q.get();
  m->quants.push_back(std::move(q));
  std::vector<int> bv = Ints(seed + 1, channels, -3000, 3000);
  m->i32.emplace_back(bv.begin(), bv.end());
  m->weights->mutable_at(b).i32 = m->i32.back().data();
}

std::unique_ptr<Q8Model> BuildModel(Compute compute) {
  auto m = std::make_unique<Q8Model>();
  ModelDesc& md = m->model;
  md.version_major = 1;
  md.version_minor = 1;
  const int x = m->Tensor("x", {-1, 8, 8, 3});
  const int cw = m->Tensor("cw", {8, 3, 3, 3}, true);
  const int cb = m->Tensor("cb", {8}, true);
  const int c1 = m->Tensor("c1", {-1, 8, 8, 8});
  const int dw = m->Tensor("dw", {1, 3, 3, 8}, true);
  const int db = m->Tensor("db", {8}, true);
  const int d = m->Tensor("d", {-1, 8, 8, 8});
  const int add = m->Tensor("add", {-1, 8, 8, 8});
  const int pw = m->Tensor("pw", {12, 1, 1, 8}, true);
  const int pb = m->Tensor("pb", {12}, true);
  const int p1 = m->Tensor("p1", {-1, 8, 8, 12});
  const int mp = m->Tensor("mp", {-1, 4, 4, 12});
  const int mn = m->Tensor("mn", {-1, 1, 1, 12});
  const int rs = m->Tensor("rs", {-1, 12});
  const int fw = m->Tensor("fw", {5, 12}, true);
  const int fb = m->Tensor("fb", {5}, true);
  const int fc = m->Tensor("fc", {-1, 5});
  const int sm = m->Tensor("sm", {-1, 5});
  md.inputs = {x};
  md.outputs = {sm, fc, add};

  NodeAttrs conv;
  conv.padding = Padding::kSame;
  conv.activation = Activation::kRelu;
  m->Node("conv", OpType::kConv2D, {x, cw, cb}, c1, conv);
  NodeAttrs dwa;
  dwa.padding = Padding::kSame;
  dwa.activation = Activation::kRelu6;
  m->Node("dw", OpType::kDepthwiseConv2D, {c1, dw, db}, d, dwa);
  m->Node("add", OpType::kAdd, {c1, d}, add);
  NodeAttrs pwa;
  pwa.padding = Padding::kValid;
  m->Node("pw", OpType::kConv2D, {add, pw, pb}, p1, pwa);
  NodeAttrs pool;
  pool.filter_h = pool.filter_w = 2;
  pool.stride_h = pool.stride_w = 2;
  pool.padding = Padding::kValid;
  m->Node("pool", OpType::kMaxPool2D, {p1}, mp, pool);
  NodeAttrs mean;
  mean.axes = {1, 2};
  mean.keep_dims = true;
  m->Node("mean", OpType::kMean, {mp}, mn, mean);
  NodeAttrs reshape;
  reshape.shape = {12};
  m->Node("reshape", OpType::kReshape, {mn}, rs, reshape);
  m->Node("fc", OpType::kFullyConnected, {rs, fw, fb}, fc);
  m->Node("softmax", OpType::kSoftmax, {fc}, sm);

  GearDesc g;
  g.name = compute == Compute::kQ8 ? "int8" : "int4";
  g.compute = compute == Compute::kQ8 ? "q8" : "q4";
  g.arith = compute;
  g.constant_storage.assign(md.tensors.size(), -1);
  g.activations.assign(md.tensors.size(), ActQuant());
  auto act = [&](int t, float s, int32_t z) { g.activations[t] = {s, z}; };
  act(x, 1.0f / 32, 3);
  act(c1, 1.0f / 16, -128);
  act(d, 1.0f / 32, -128);
  act(add, 1.0f / 16, -100);
  act(p1, 1.0f / 8, 5);
  act(mp, 1.0f / 8, 5);
  act(mn, 1.0f / 8, 0);
  act(rs, 1.0f / 8, 0);
  act(fc, 1.0f / 64, -2);
  act(sm, 1.0f / 256, -128);
  md.gears.push_back(std::move(g));

  m->weights = std::make_shared<GearWeights>(0, compute, md.tensors.size());
  m->i8.reserve(8);
  m->i32.reserve(8);
  SetWeights(m.get(), cw, cb, 1, 0, 8);
  SetWeights(m.get(), dw, db, 4, 3, 8);
  SetWeights(m.get(), pw, pb, 8, 0, 12);
  SetWeights(m.get(), fw, fb, 14, 0, 5, 65536.0f);
  return m;
}

constexpr int kBatch = 2;

std::vector<float> Input() {
  std::vector<int> v = Ints(100, kBatch * 8 * 8 * 3, -1000, 1000);
  std::vector<float> x(v.size());
  for (size_t i = 0; i < v.size(); ++i) x[i] = static_cast<float>(v[i]) / 256.0f;
  return x;
}

struct Outputs {
  std::vector<float> sm, fc, add;
  bool operator==(const Outputs& o) const {
    auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
      return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
    };
    return same(sm, o.sm) && same(fc, o.fc) && same(add, o.add);
  }
};

Outputs RunModel(const Q8Model& m, const KernelTable& kernels, int threads,
                 PackedWeightsCache* packs = nullptr) {
  std::unique_ptr<Plan> plan;
  const Status s = Plan::Build(m.model, m.weights, {{kBatch, 8, 8, 3}}, kernels, packs, &plan);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  EXPECT_TRUE(plan->int8());
  Outputs o;
  o.sm.assign(kBatch * 5, NAN);
  o.fc.assign(kBatch * 5, NAN);
  o.add.assign(kBatch * 8 * 8 * 8, NAN);
  const std::vector<float> x = Input();
  std::vector<uint8_t> arena_storage(static_cast<size_t>(plan->arena_bytes()) + 64);
  uint8_t* arena =
      arena_storage.data() + (64 - reinterpret_cast<uintptr_t>(arena_storage.data()) % 64) % 64;
  const void* in[] = {x.data()};
  void* out[] = {o.sm.data(), o.fc.data(), o.add.data()};
  ThreadPool pool(threads, 1);  // min cost 1: even tiny ops are split
  plan->Run(in, out, arena, &pool);
  return o;
}

// Back to int8 (every scale here is a power of two, so this is exact).
std::vector<int> Requantize(const std::vector<float>& f, float s, int z) {
  std::vector<int> q;
  for (float v : f) q.push_back(static_cast<int>(std::lround(v / s)) + z);
  return q;
}

int64_t Checksum(const std::vector<int>& q) {
  int64_t sum = 0;
  for (size_t i = 0; i < q.size(); ++i) sum += (q[i] + 128) * static_cast<int64_t>(i % 251 + 1);
  return sum;
}

TEST(PlanQ8, WholeModelMatchesQuantRefGolden) {
  std::unique_ptr<Q8Model> m = BuildModel(Compute::kQ8);
  const Outputs o = RunModel(*m, KernelTable(), 1);
  // From /tmp golden.py (quoted below) over converters/quant_ref.py.
  const std::vector<int> fc_golden = {-2, 66, 13, 48, 35, -5, 57, 17, 46, 41};
  const std::vector<int> sm_golden = {-100, -47, -93, -67, -78, -101, -56, -89, -67, -72};
  for (size_t i = 0; i < fc_golden.size(); ++i) {
    // Dequantized exactly as the spec: (float)((double)s * (q - z)).
    EXPECT_EQ(o.fc[i], static_cast<float>((1.0 / 64) * (fc_golden[i] + 2))) << i;
    EXPECT_EQ(o.sm[i], static_cast<float>((1.0 / 256) * (sm_golden[i] + 128))) << i;
  }
  EXPECT_EQ(Checksum(Requantize(o.add, 1.0f / 16, -100)), 12886289);
}

TEST(PlanQ8, PathsAndThreadCountsAreBitIdentical) {
  std::unique_ptr<Q8Model> m = BuildModel(Compute::kQ8);
  const Outputs ref = RunModel(*m, KernelTable(), 1);
  KernelTable best, ref_isa;
  ASSERT_TRUE(BuildKernelTable("", &best).ok());
  ASSERT_TRUE(BuildKernelTable("ref", &ref_isa).ok());
  std::printf("q8 plan kernels: best %s, ref isa %s\n", best.q8_gemm.name, ref_isa.q8_gemm.name);
  EXPECT_TRUE(RunModel(*m, KernelTable(), 3) == ref);
  EXPECT_TRUE(RunModel(*m, ref_isa, 1) == ref);
  EXPECT_TRUE(RunModel(*m, ref_isa, 3) == ref);
  EXPECT_TRUE(RunModel(*m, best, 1) == ref);
  EXPECT_TRUE(RunModel(*m, best, 3) == ref);
}

TEST(PlanQ8, GemmPathPacksConvAndDenseAndSharesPacks) {
  std::unique_ptr<Q8Model> m = BuildModel(Compute::kQ8);
  KernelTable best;
  ASSERT_TRUE(BuildKernelTable("", &best).ok());
  PackedWeightsCache packs;
  std::unique_ptr<Plan> a, b, r;
  ASSERT_TRUE(Plan::Build(m->model, m->weights, {{1, 8, 8, 3}}, best, &packs, &a).ok());
  ASSERT_TRUE(Plan::Build(m->model, m->weights, {{4, 8, 8, 3}}, best, &packs, &b).ok());
  ASSERT_TRUE(Plan::Build(m->model, m->weights, {{1, 8, 8, 3}}, KernelTable(), nullptr, &r).ok());
  int packed = 0;
  for (size_t i = 0; i < a->steps().size(); ++i) {
    EXPECT_EQ(a->steps()[i].q8_packed(), b->steps()[i].q8_packed()) << "step " << i;
    EXPECT_EQ(r->steps()[i].q8_packed(), nullptr);
    packed += a->steps()[i].q8_packed() != nullptr;
  }
  EXPECT_EQ(packed, 4);  // conv 3x3 (gathered), conv 1x1 (direct), depthwise, dense
  EXPECT_GT(a->packed_bytes(), 0);
  EXPECT_EQ(r->packed_bytes(), 0);
  // int8 activations: one byte per element. The two largest live tensors
  // (c1 and d, or c1 and add: 512 bytes each at batch 1) fit well under what
  // float would need.
  EXPECT_LE(r->arena_bytes(), 4 * 512 + 4 * 64);
}

// A GEMM kernel with wmin -127 (one that sums two int8 products in int16,
// as SMULL + SMLAL do) must not get a layer holding a -128 weight: the
// plan checks each layer's weights and gives such a layer the general
// kernel. Modelled here with any two distinct kernels, so it runs on every
// CPU; the outputs stay those of the reference ops.
TEST(PlanQ8, LayerWithMinus128WeightTakesTheGeneralKernel) {
  std::unique_ptr<Q8Model> m = BuildModel(Compute::kQ8);
  KernelTable t;
  ASSERT_TRUE(BuildKernelTable("", &t).ok());
  if (t.q8_gemm.fn == &q8_gemm_4x4__ref) GTEST_SKIP() << "only the reference GEMM here";
  t.q8_gemm_w127 = t.q8_gemm;
  t.q8_gemm_w127.wmin = -127;
  t.q8_gemm = Q8GemmKernel{&q8_gemm_4x4__ref, 4, 4, 1, "q8_gemm_4x4__ref", 0, -128};
  int pw = -1;
  for (size_t i = 0; i < m->model.tensors.size(); ++i) {
    if (m->model.tensors[i].name == "pw") pw = static_cast<int>(i);
  }
  ASSERT_GE(pw, 0);
  const Outputs before = RunModel(*m, KernelTable(), 1);
  auto* w = const_cast<int8_t*>(m->weights->at(pw).i8);
  w[5] = -128;  // the 1x1 conv now holds a -128 weight; the 3x3 conv and FC do not
  const Outputs ref = RunModel(*m, KernelTable(), 1);
  EXPECT_FALSE(ref == before);
  std::unique_ptr<Plan> plan;
  ASSERT_TRUE(Plan::Build(m->model, m->weights, {{1, 8, 8, 3}}, t, nullptr, &plan).ok());
  int general = 0, fast = 0;
  for (const PlanStep& st : plan->steps()) {
    if (st.q8_packed() == nullptr || st.op == OpType::kDepthwiseConv2D) continue;
    const Q8GemmKernel& gemm = st.get<Conv2DStep>() != nullptr ? st.get<Conv2DStep>()->q8_gemm
                                                               : st.get<DenseStep>()->q8_gemm;
    general += gemm.fn == &q8_gemm_4x4__ref;
    fast += gemm.wmin == -127;
  }
  EXPECT_EQ(general, 1);  // pw
  EXPECT_EQ(fast, 2);     // conv, fc
  EXPECT_TRUE(RunModel(*m, t, 1) == ref);
  EXPECT_TRUE(RunModel(*m, t, 3) == ref);
}

TEST(PlanQ8, Q4GearPlansLikeQ8) {
  std::unique_ptr<Q8Model> m8 = BuildModel(Compute::kQ8);
  std::unique_ptr<Q8Model> m4 = BuildModel(Compute::kQ4);
  // Same int8 values: the q4 gear's q4m weights would differ, the plan not.
  EXPECT_TRUE(RunModel(*m4, KernelTable(), 1) == RunModel(*m8, KernelTable(), 1));
}

TEST(PlanQ8, RefusesUnequalParametersOnValueMovingOps) {
  std::unique_ptr<Q8Model> m = BuildModel(Compute::kQ8);
  m->model.gears[0].activations[11].zero_point = 6;  // max pool out != in
  std::unique_ptr<Plan> plan;
  const Status s = Plan::Build(m->model, m->weights, {{1, 8, 8, 3}}, KernelTable(), nullptr, &plan);
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  EXPECT_NE(s.message().find("pool"), std::string::npos) << s.message();
}

TEST(PlanQ8, RefusesAsymmetricWeights) {
  std::unique_ptr<Q8Model> m = BuildModel(Compute::kQ8);
  m->quants[0]->zero_point[3] = 1;
  std::unique_ptr<Plan> plan;
  const Status s = Plan::Build(m->model, m->weights, {{1, 8, 8, 3}}, KernelTable(), nullptr, &plan);
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  EXPECT_NE(s.message().find("symmetric"), std::string::npos) << s.message();
}

// Not a timed assertion: logs int8 vs f32 latency of a conv-heavy plan
// (32x32x16 input, three 3x3 convolutions of 32 channels, a 1x1 of 64) on
// this CPU's best kernels, one thread.
TEST(PlanQ8, ConvHeavySpeedLog) {
  ModelDesc md;
  auto tensor = [&](const char* name, Shape shape, bool is_const) {
    TensorDesc t;
    t.name = name;
    t.shape = std::move(shape);
    t.is_const = is_const;
    md.tensors.push_back(t);
    return static_cast<int>(md.tensors.size()) - 1;
  };
  int x = tensor("x", {-1, 32, 32, 16}, false);
  md.inputs = {x};
  struct Layer {
    int w, b, c_in, c_out, k;
  };
  std::vector<Layer> layers;
  const int specs[][3] = {{16, 32, 3}, {32, 32, 3}, {32, 32, 3}, {32, 64, 1}};
  for (const auto& sp : specs) {
    Layer l{tensor("w", {sp[1], sp[2], sp[2], sp[0]}, true), tensor("b", {sp[1]}, true), sp[0],
            sp[1], sp[2]};
    const int y = tensor("y", {-1, 32, 32, sp[1]}, false);
    NodeDesc n;
    n.name = "conv";
    n.op = OpType::kConv2D;
    n.inputs = {x, l.w, l.b};
    n.outputs = {y};
    n.attrs.padding = Padding::kSame;
    n.attrs.activation = Activation::kRelu;
    md.nodes.push_back(n);
    layers.push_back(l);
    x = y;
  }
  md.outputs = {x};
  GearDesc f32;
  f32.name = "fp32";
  f32.arith = Compute::kF32;
  GearDesc q8 = f32;
  q8.name = "int8";
  q8.arith = Compute::kQ8;
  q8.activations.assign(md.tensors.size(), ActQuant{0.05f, -128});
  q8.activations[0] = {0.02f, 0};
  md.gears = {f32, q8};

  auto wf = std::make_shared<GearWeights>(0, Compute::kF32, md.tensors.size());
  auto wq = std::make_shared<GearWeights>(1, Compute::kQ8, md.tensors.size());
  std::vector<std::vector<float>> fdata;
  std::vector<std::vector<int8_t>> qdata;
  std::vector<std::vector<int32_t>> bdata;
  std::vector<std::unique_ptr<QuantDesc>> quants;
  fdata.reserve(16);
  qdata.reserve(8);
  bdata.reserve(8);
  uint32_t seed = 1;
  for (const Layer& l : layers) {
    const int n = l.c_out * l.k * l.k * l.c_in;
    std::vector<int> v = Ints(seed++, n, -127, 127);
    qdata.emplace_back(v.begin(), v.end());
    fdata.emplace_back(v.begin(), v.end());
    for (float& f : fdata.back()) f *= 0.001f;
    fdata.emplace_back(static_cast<size_t>(l.c_out), 0.01f);
    bdata.emplace_back(static_cast<size_t>(l.c_out), 100);
    auto qd = std::make_unique<QuantDesc>();
    qd->present = true;
    qd->axis = 0;
    qd->scale.assign(static_cast<size_t>(l.c_out), 0.001f);
    qd->zero_point.assign(static_cast<size_t>(l.c_out), 0);
    wf->mutable_at(l.w).f32 = fdata[fdata.size() - 2].data();
    wf->mutable_at(l.b).f32 = fdata.back().data();
    wq->mutable_at(l.w).i8 = qdata.back().data();
    wq->mutable_at(l.w).quant = qd.get();
    wq->mutable_at(l.b).i32 = bdata.back().data();
    quants.push_back(std::move(qd));
  }
  KernelTable best;
  ASSERT_TRUE(BuildKernelTable("", &best).ok());
  std::vector<float> in(32 * 32 * 16, 0.5f), out(32 * 32 * 64);
  const void* ins[] = {in.data()};
  void* outs[] = {out.data()};
  ThreadPool pool(1);
  auto time_ms = [&](const std::shared_ptr<GearWeights>& w, const KernelTable& k) {
    std::unique_ptr<Plan> plan;
    const Status s = Plan::Build(md, w, {{1, 32, 32, 16}}, k, nullptr, &plan);
    EXPECT_TRUE(s.ok()) << s.message();
    if (!s.ok()) return 0.0;
    std::vector<uint8_t> arena(static_cast<size_t>(plan->arena_bytes()) + 64);
    uint8_t* a = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64) % 64;
    plan->Run(ins, outs, a, &pool);  // warm up
    double best_ms = 1e9;
    for (int r = 0; r < 5; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      plan->Run(ins, outs, a, &pool);
      const auto t1 = std::chrono::steady_clock::now();
      best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    return best_ms;
  };
  const double f = time_ms(wf, best), q = time_ms(wq, best), qref = time_ms(wq, KernelTable());
  std::printf(
      "conv-heavy plan, 1 thread, best of 5: f32 %s %.3f ms, q8 %s %.3f ms, q8 reference "
      "ops %.3f ms\n",
      best.f32_gemm.name, f, best.q8_gemm.name, q, qref);
}

// Through the public API: gear_builder.h's mixed 1.1 model (conv 1x1 ->
// max pool -> reshape -> concat -> dense -> add of an int8 constant) on its
// int8 and int4 gears, against converters/gear_reference.run_gear (the numpy
// whole-graph oracle) on the same input, for the reference and the best
// ISA, 1 and 3 threads.
TEST(PlanQ8, RuntimeRunsInt8AndInt4GearsLikeTheNumpyOracle) {
  const std::vector<uint8_t> bytes = testing::MixedGearModel().Build();
  const std::vector<float> x = {0.5f,  -0.25f, 1.0f,  0.3f,   -1.2f, 2.0f,  0.0f,  0.75f,
                                -0.6f, 1.5f,   0.1f,  -2.0f,  -0.5f, 0.25f, -1.0f, 4.0f,
                                1.2f,  -2.0f,  0.05f, -0.75f, 0.6f,  -1.5f, 0.9f,  2.0f};
  // run_gear(file, gear, x.reshape(2, 2, 2, 3))["y"]
  const std::vector<float> want8 = {1.5859375f, 1.1328125f, 2.0390625f, 1.8125f};
  const std::vector<float> want4 = {1.359375f, 0.90625f, 1.5859375f, 1.359375f};
  for (const char* isa : {"ref", ""}) {
    for (int threads : {1, 3}) {
      std::unique_ptr<GearFile> file;
      ASSERT_TRUE(GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file).ok());
      RuntimeOptions options;
      options.isa = isa;
      options.threads = threads;
      std::unique_ptr<Runtime> rt;
      const Status s = CreateRuntime(std::move(file), options, &rt);
      ASSERT_TRUE(s.ok()) << s.message();
      for (const auto& gear : {std::make_pair("int8", want8), std::make_pair("int4", want4)}) {
        ASSERT_TRUE(rt->SetGear(gear.first).ok());
        ASSERT_TRUE(rt->Prepare({{2, 2, 2, 3}}).ok());
        std::vector<float> y(4, NAN);
        const void* in[] = {x.data()};
        void* out[] = {y.data()};
        const Status r = rt->Run(in, out);
        ASSERT_TRUE(r.ok()) << r.message();
        EXPECT_EQ(y, gear.second) << gear.first << " isa '" << isa << "' threads " << threads;
      }
    }
  }
}

// The golden script (numpy, converters/quant_ref.py), for the record:
//
//   class Lcg: s = (s * 1664525 + 1013904223) & 0xffffffff; next = s >> 8;
//              int(lo, hi) = lo + next() % (hi - lo + 1)
//   ints(seed, shape, lo, hi); scales(seed, n, d=4096) = (1 + int(0, 63)) / d
//   x = ints(100, (2, 8, 8, 3), -1000, 1000) / 256 (float32)
//   weights ints(seed, shape, -127, 127), scales(seed + 100, channels),
//   bias ints(seed + 1, (channels,), -3000, 3000): conv seed 1 (axis 0),
//   depthwise 4 (axis 3), 1x1 conv 8, dense 14 with d = 65536
//   xq = quantize_input(x, P[0])
//   c1 = q8_conv2d(xq, .., "SAME", "RELU"); d = q8_depthwise_conv2d(c1, ..,
//   "SAME", "RELU6"); a = q8_add(c1, d); p1 = q8_conv2d(a, .., "VALID");
//   mp = q8_max_pool(p1, (2, 2), (2, 2), "VALID"); mn = q8_mean(mp, (1, 2),
//   True); fc = q8_fully_connected(mn.reshape(2, 12), ..); sm = q8_softmax(fc)
//   checksum(t) = sum((t + 128) * (arange(t.size) % 251 + 1))

}  // namespace
}  // namespace gearshift
