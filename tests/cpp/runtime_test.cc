// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// End-to-end tests of the Runtime: .gear files built with gear_builder.h are
// written to a temp file and opened with Runtime::Open. Covers the plan
// wiring (outputs equal the reference kernels chained by hand, bit for bit),
// batch changes, gear switching and plan caching, wrong input shapes,
// unknown gears, thread-count invariance, zero-copy inputs, shape inference
// errors, executor overhead, GetRuntimeInfo and the tools' .npy helper.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "../../runtime_cpp/tools/npy_io.h"
#include "format/model_desc.h"
#include "gear_builder.h"
#include "gearshift/gearshift.h"
#include "ops/conv.h"
#include "ops/fully_connected.h"
#include "ops/pool.h"
#include "ops/reduce.h"
#include "plan/plan.h"
#include "prepare/gear_weights.h"
#include "plan/shape_inference.h"

namespace gearshift {

// The gear's weights, prepared as a Runtime would (test helper).
[[maybe_unused]] static std::shared_ptr<const GearWeights> PreparedWeights(const ModelDesc& model,
                                                                           int gear) {
  std::shared_ptr<const GearWeights> w;
  EXPECT_TRUE(PrepareGearWeights(model, gear, &w).ok());
  return w;
}
namespace {

using testing::AppendF32;
using testing::BuildGearFile;
using testing::GearModelBuilder;

std::vector<float> Random(std::mt19937* rng, size_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(*rng);
  return v;
}

// The temp files a test made, removed when it ends (the test may still hold
// them open or mapped: unlinking is safe), so runs leave nothing in TempDir().
class TempFileCleanup : public ::testing::EmptyTestEventListener {
 public:
  static TempFileCleanup* Get() {
    static TempFileCleanup* const listener = [] {
      auto* l = new TempFileCleanup;  // owned by gtest's listener list
      ::testing::UnitTest::GetInstance()->listeners().Append(l);
      return l;
    }();
    return listener;
  }
  void Add(const std::string& path) { paths_.push_back(path); }
  void OnTestEnd(const ::testing::TestInfo&) override {
    for (const std::string& p : paths_) std::remove(p.c_str());
    paths_.clear();
  }

 private:
  std::vector<std::string> paths_;
};

// A temp path private to this process and test: ctest runs tests in parallel
// processes that share TempDir(), so fixed names would race.
std::string TempPath(const std::string& stem) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test =
      info != nullptr ? std::string(info->test_suite_name()) + "." + info->name() : "none";
  std::string path =
      ::testing::TempDir() + "/gearshift_" + std::to_string(getpid()) + "_" + test + "_" + stem;
  TempFileCleanup::Get()->Add(path);
  return path;
}

std::string WriteTemp(const std::vector<uint8_t>& bytes, const std::string& name) {
  const std::string path = TempPath("runtime_test_" + name + ".gear");
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::unique_ptr<Runtime> OpenOrDie(const std::vector<uint8_t>& bytes, const std::string& name,
                                   RuntimeOptions options = RuntimeOptions()) {
  // These tests compare against the reference kernels bit for bit; the
  // optimised ISA paths are checked within tolerance in f32_gemm_test.cc.
  if (options.isa.empty()) options.isa = "ref";
  std::unique_ptr<Runtime> rt;
  const Status s = Runtime::Open(WriteTemp(bytes, name), options, &rt);
  EXPECT_TRUE(s.ok()) << s.message();
  return rt;
}

// Adds a second gear `name` to a GearModelBuilder manifest: the same
// constants, except those in `replaced` (tensor -> values), which get new
// storage appended to `data`. `constants` lists the builder's (tensor,
// storage) pairs in AddConst order.
std::string AddGear(std::string json, std::vector<uint8_t>* data, const std::string& name,
                    const std::vector<std::pair<int, int>>& constants,
                    const std::vector<std::pair<int, std::vector<float>>>& replaced) {
  int storage_count = static_cast<int>(constants.size());
  std::string storage, pairs;
  std::vector<std::pair<int, int>> table = constants;
  for (const auto& [tensor, values] : replaced) {
    const uint64_t off = AppendF32(data, values);
    storage += ",{\"section\":1,\"offset\":" + std::to_string(off) + ",\"length\":" +
               std::to_string(values.size() * 4) + ",\"dtype\":\"f32\",\"shape\":SHAPE" +
               std::to_string(tensor) + ",\"encoding\":\"dense\"}";
    for (auto& p : table) {
      if (p.first == tensor) p.second = storage_count;
    }
    ++storage_count;
  }
  for (size_t i = 0; i < table.size(); ++i) {
    pairs += (i ? "," : "") + std::string("[") + std::to_string(table[i].first) + "," +
             std::to_string(table[i].second) + "]";
  }
  const size_t gears_pos = json.find("],\"gears\":[");
  json.insert(gears_pos, storage);
  json.replace(json.size() - 3, 3,
               "},{\"name\":\"" + name + "\",\"compute\":\"f32\",\"constants\":[" + pairs +
                   "]}]}");
  return json;
}

// x [-1,6,6,2] -> CONV_2D 3x3 SAME RELU -> MAX_POOL 2x2/2 -> RESHAPE [-1]
// -> FULLY_CONNECTED 27->4 -> SOFTMAX -> y [-1,4]
struct SmallNet {
  std::vector<float> w1, b1, w2, b2;
  GearModelBuilder b;
  int w1_t = 0, b1_t = 0, w2_t = 0, b2_t = 0;

  explicit SmallNet(uint32_t seed) {
    std::mt19937 rng(seed);
    w1 = Random(&rng, 3 * 3 * 3 * 2);
    b1 = Random(&rng, 3);
    w2 = Random(&rng, 4 * 27);
    b2 = Random(&rng, 4);
    const int x = b.AddInput("x", {-1, 6, 6, 2});
    w1_t = b.AddConst("conv/kernel", {3, 3, 3, 2}, w1);
    b1_t = b.AddConst("conv/bias", {3}, b1);
    w2_t = b.AddConst("fc/kernel", {4, 27}, w2);
    b2_t = b.AddConst("fc/bias", {4}, b2);
    const int c = b.AddTensor("conv", {-1, 6, 6, 3});
    const int p = b.AddTensor("pool", {-1, 3, 3, 3});
    const int r = b.AddTensor("flat", {-1, 27});
    const int f = b.AddTensor("logits", {-1, 4});
    const int y = b.AddTensor("probs", {-1, 4});
    b.AddNode("conv", "CONV_2D", {x, w1_t, b1_t}, {c},
              R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","activation":"RELU"})");
    b.AddNode("pool", "MAX_POOL_2D", {c}, {p},
              R"({"filter":[2,2],"stride":[2,2],"padding":"VALID","activation":"NONE"})");
    b.AddNode("flat", "RESHAPE", {p}, {r}, R"({"shape":[-1]})");
    b.AddNode("fc", "FULLY_CONNECTED", {r, w2_t, b2_t}, {f}, R"({"activation":"NONE"})");
    b.AddNode("softmax", "SOFTMAX", {f}, {y}, R"({"beta":1.0})");
    b.AddOutput(y);
  }

  // The same network by calling the reference kernels directly.
  std::vector<float> Reference(const std::vector<float>& x, int64_t batch,
                               const std::vector<float>& fc_weights) const {
    Conv2DParams cp;
    cp.batch = batch; cp.in_h = 6; cp.in_w = 6; cp.in_c = 2;
    cp.out_h = 6; cp.out_w = 6; cp.out_c = 3; cp.kernel_h = 3; cp.kernel_w = 3;
    cp.pad_top = 1; cp.pad_left = 1;
    cp.act = ActivationRange(Activation::kRelu);
    std::vector<float> c(batch * 6 * 6 * 3), p(batch * 27), f(batch * 4), y(batch * 4);
    f32_conv2d__ref(cp, x.data(), w1.data(), b1.data(), c.data(), nullptr);
    Pool2DParams pp;
    pp.batch = batch; pp.in_h = 6; pp.in_w = 6; pp.channels = 3; pp.out_h = 3; pp.out_w = 3;
    pp.filter_h = 2; pp.filter_w = 2; pp.stride_h = 2; pp.stride_w = 2;
    f32_max_pool2d__ref(pp, c.data(), p.data(), nullptr);
    FullyConnectedParams fp;
    fp.rows = batch; fp.in_features = 27; fp.out_features = 4;
    f32_fully_connected__ref(fp, p.data(), fc_weights.data(), b2.data(), f.data(), nullptr);
    SoftmaxParams sp;
    sp.rows = batch; sp.cols = 4;
    f32_softmax__ref(sp, f.data(), y.data());
    return y;
  }
};

std::vector<float> RunOnce(Runtime* rt, const std::vector<float>& x, int64_t batch) {
  EXPECT_TRUE(rt->Prepare({{batch, 6, 6, 2}}).ok());
  std::vector<float> y(static_cast<size_t>(batch * 4), -1.0f);
  const void* in[] = {x.data()};
  void* out[] = {y.data()};
  const Status s = rt->Run(in, out);
  EXPECT_TRUE(s.ok()) << s.message();
  return y;
}

TEST(RuntimeEndToEnd, MatchesReferenceKernelsBitForBit) {
  SmallNet net(1);
  auto rt = OpenOrDie(net.b.Build(), "e2e");
  ASSERT_NE(rt, nullptr);
  ASSERT_EQ(rt->inputs().size(), 1u);
  EXPECT_EQ(rt->inputs()[0].name, "x");
  EXPECT_EQ(rt->inputs()[0].shape, (Shape{-1, 6, 6, 2}));
  EXPECT_EQ(rt->outputs()[0].name, "probs");
  EXPECT_EQ(rt->gears(), std::vector<std::string>{"fp32"});
  EXPECT_EQ(rt->gear(), "fp32");
  EXPECT_EQ(rt->arena_bytes(), 0);
  std::mt19937 rng(2);
  const auto x = Random(&rng, 2 * 6 * 6 * 2);
  const auto y = RunOnce(rt.get(), x, 2);
  EXPECT_EQ(rt->output_shapes(), (std::vector<Shape>{{2, 4}}));
  EXPECT_EQ(y, net.Reference(x, 2, net.w2));
  EXPECT_GT(rt->arena_bytes(), 0);
  EXPECT_GE(rt->last_latency_ms(), 0.0);
}

TEST(RuntimeEndToEnd, BatchChangeRePrepares) {
  SmallNet net(3);
  auto rt = OpenOrDie(net.b.Build(), "batch");
  std::mt19937 rng(4);
  const auto x3 = Random(&rng, 3 * 72);
  const std::vector<float> x1(x3.begin(), x3.begin() + 72);
  const auto y1 = RunOnce(rt.get(), x1, 1);
  EXPECT_EQ(rt->output_shapes(), (std::vector<Shape>{{1, 4}}));
  const int64_t arena1 = rt->arena_bytes();
  const auto y3 = RunOnce(rt.get(), x3, 3);
  EXPECT_EQ(rt->output_shapes(), (std::vector<Shape>{{3, 4}}));
  EXPECT_GT(rt->arena_bytes(), arena1);
  EXPECT_EQ(std::vector<float>(y3.begin(), y3.begin() + 4), y1);
  EXPECT_EQ(y3, net.Reference(x3, 3, net.w2));
  // Back to batch 1: the cached plan, same result.
  EXPECT_EQ(RunOnce(rt.get(), x1, 1), y1);
  EXPECT_EQ(rt->arena_bytes(), arena1);
}

TEST(RuntimeErrors, WrongInputShapeIsInvalidArgument) {
  SmallNet net(5);
  auto rt = OpenOrDie(net.b.Build(), "wrong_shape");
  Status s = rt->Prepare({{2, 6, 6}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "input 'x': expected shape [-1, 6, 6, 2], got [2, 6, 6]");
  s = rt->Prepare({{2, 6, 5, 2}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = rt->Prepare({{0, 6, 6, 2}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = rt->Prepare({});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("expected 1 input shape"), std::string::npos) << s.message();
  // A failed Prepare leaves the runtime unprepared, and Run says so.
  const std::vector<float> x(72), y(4);
  const void* in[] = {x.data()};
  void* out[] = {const_cast<float*>(y.data())};
  s = rt->Run(in, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Prepare"), std::string::npos) << s.message();
  // Null buffers are refused, not dereferenced.
  ASSERT_TRUE(rt->Prepare({{1, 6, 6, 2}}).ok());
  const void* null_in[] = {nullptr};
  EXPECT_EQ(rt->Run(null_in, out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rt->Run(nullptr, out).code(), StatusCode::kInvalidArgument);
}

TEST(RuntimeErrors, UnknownGearListsAvailableGears) {
  SmallNet net(6);
  auto rt = OpenOrDie(net.b.Build(), "unknown_gear");
  Status s = rt->SetGear("int8");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "unknown gear 'int8'; available gears: fp32");
  EXPECT_EQ(rt->gear(), "fp32");
  RuntimeOptions options;
  options.gear = "fp16";
  std::unique_ptr<Runtime> rt2;
  s = Runtime::Open(WriteTemp(net.b.Build(), "unknown_gear2"), options, &rt2);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("available gears: fp32"), std::string::npos);
  options.gear.clear();
  options.threads = 0;
  s = Runtime::Open(WriteTemp(net.b.Build(), "unknown_gear2"), options, &rt2);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST(RuntimeErrors, MissingFileFails) {
  std::unique_ptr<Runtime> rt;
  const Status s = Runtime::Open("/nonexistent/dir/model.gear", RuntimeOptions(), &rt);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(rt, nullptr);
}

// Two gears over the same graph: "fp32" and "alt" (different FC weights).
struct TwoGearNet {
  SmallNet net{7};
  std::vector<float> alt_w2;
  std::vector<uint8_t> file;
  TwoGearNet() {
    std::mt19937 rng(8);
    alt_w2 = Random(&rng, 4 * 27);
    std::vector<uint8_t> data = net.b.data();
    const std::string json =
        AddGear(net.b.ManifestJson(), &data, "alt",
                {{net.w1_t, 0}, {net.b1_t, 1}, {net.w2_t, 2}, {net.b2_t, 3}},
                {{net.w2_t, alt_w2}});
    std::string fixed = json;
    const std::string key = "SHAPE" + std::to_string(net.w2_t);
    fixed.replace(fixed.find(key), key.size(), "[4,27]");
    file = BuildGearFile(fixed, data);
  }
};

TEST(RuntimeGears, SwitchUsesGearConstantsAndBackIsCached) {
  TwoGearNet g;
  auto rt = OpenOrDie(g.file, "two_gears");
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(rt->gears(), (std::vector<std::string>{"fp32", "alt"}));
  std::mt19937 rng(9);
  const auto x = Random(&rng, 2 * 72);
  const auto y_fp32 = RunOnce(rt.get(), x, 2);
  EXPECT_EQ(y_fp32, g.net.Reference(x, 2, g.net.w2));
  // SetGear takes effect at the next Run even without Prepare.
  ASSERT_TRUE(rt->SetGear("alt").ok());
  EXPECT_EQ(rt->gear(), "alt");
  std::vector<float> y(8);
  const void* in[] = {x.data()};
  void* out[] = {y.data()};
  ASSERT_TRUE(rt->Run(in, out).ok());
  EXPECT_EQ(y, g.net.Reference(x, 2, g.alt_w2));
  ASSERT_TRUE(rt->SetGear("fp32").ok());
  ASSERT_TRUE(rt->Run(in, out).ok());
  EXPECT_EQ(y, y_fp32);

  // The cache behind it: a switch back to a prepared gear does not re-plan.
  std::unique_ptr<GearFile> file;
  ASSERT_TRUE(GearFile::FromBuffer(g.file.data(), g.file.size(), {}, &file).ok());
  PlanCache cache;
  Plan* a = nullptr;
  Plan* b = nullptr;
  Plan* c = nullptr;
  ASSERT_TRUE(cache.Get(file->model(), PreparedWeights(file->model(), 0), {{2, 6, 6, 2}}, &a).ok());
  ASSERT_TRUE(cache.Get(file->model(), PreparedWeights(file->model(), 1), {{2, 6, 6, 2}}, &b).ok());
  ASSERT_TRUE(cache.Get(file->model(), PreparedWeights(file->model(), 0), {{2, 6, 6, 2}}, &c).ok());
  EXPECT_EQ(cache.builds(), 2);
  EXPECT_EQ(a, c);
  EXPECT_NE(a, b);
}

TEST(RuntimeGears, CacheEvictsLeastRecentlyUsed) {
  SmallNet net(10);
  const auto bytes = net.b.Build();
  std::unique_ptr<GearFile> file;
  ASSERT_TRUE(GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file).ok());
  PlanCache cache(2);
  Plan* p = nullptr;
  for (int64_t batch : {1, 2, 1, 3, 1}) {
    ASSERT_TRUE(cache.Get(file->model(), PreparedWeights(file->model(), 0), {{batch, 6, 6, 2}}, &p).ok());
    EXPECT_EQ(p->input_shapes()[0][0], batch);
  }
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.builds(), 3);  // batch 1 stayed cached throughout
}

TEST(RuntimeThreads, ResultsBitIdenticalForAnyThreadCount) {
  // Big enough that the pool really splits the conv and dense layers.
  GearModelBuilder b;
  std::mt19937 rng(11);
  const int x = b.AddInput("x", {-1, 24, 24, 8});
  const int w = b.AddConst("w", {16, 3, 3, 8}, Random(&rng, 16 * 9 * 8));
  const int dw = b.AddConst("dw", {1, 3, 3, 32}, Random(&rng, 9 * 32));
  const int fw = b.AddConst("fw", {10, 32}, Random(&rng, 320));
  const int c = b.AddTensor("c", {-1, 12, 12, 16});
  const int d = b.AddTensor("d", {-1, 12, 12, 32});
  const int p = b.AddTensor("p", {-1, 6, 6, 32});
  const int y = b.AddTensor("y", {-1, 6, 6, 10});
  b.AddNode("conv", "CONV_2D", {x, w, -1}, {c},
            R"({"stride":[2,2],"dilation":[1,1],"padding":"SAME","activation":"RELU6"})");
  b.AddNode("dw", "DEPTHWISE_CONV_2D", {c, dw, -1}, {d},
            R"({"stride":[1,1],"dilation":[2,2],"padding":"SAME","depth_multiplier":2,"activation":"NONE"})");
  b.AddNode("pool", "AVERAGE_POOL_2D", {d}, {p},
            R"({"filter":[3,3],"stride":[2,2],"padding":"SAME","activation":"NONE"})");
  b.AddNode("fc", "FULLY_CONNECTED", {p, fw, -1}, {y}, R"({"activation":"NONE"})");
  b.AddOutput(y);
  const auto bytes = b.Build();
  const auto xin = Random(&rng, 2 * 24 * 24 * 8);
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    RuntimeOptions options;
    options.threads = threads;
    auto rt = OpenOrDie(bytes, "threads" + std::to_string(threads), options);
    ASSERT_NE(rt, nullptr);
    EXPECT_EQ(rt->threads(), threads);
    ASSERT_TRUE(rt->Prepare({{2, 24, 24, 8}}).ok());
    std::vector<float> out(2 * 6 * 6 * 10);
    const void* in[] = {xin.data()};
    void* outs[] = {out.data()};
    ASSERT_TRUE(rt->Run(in, outs).ok());
    results.push_back(out);
  }
  EXPECT_EQ(0, std::memcmp(results[0].data(), results[1].data(), results[0].size() * 4));
  EXPECT_EQ(0, std::memcmp(results[0].data(), results[2].data(), results[0].size() * 4));
}

TEST(RuntimeRun, StaticShapesRunWithoutPrepareAndInputsAreNotCopied) {
  GearModelBuilder b;
  const int x = b.AddInput("x", {1, 1000});
  const int y = b.AddTensor("y", {1, 1000});
  b.AddNode("relu", "RELU", {x}, {y});
  b.AddOutput(y);
  auto rt = OpenOrDie(b.Build(), "static");
  std::vector<float> in(1000), out(1000);
  for (int i = 0; i < 1000; ++i) in[i] = static_cast<float>(i - 500);
  const void* ins[] = {in.data()};
  void* outs[] = {out.data()};
  ASSERT_TRUE(rt->Run(ins, outs).ok());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(out[i], std::max(0.0f, in[i]));
  // Only y lives in the arena; x is read from the caller's buffer.
  EXPECT_EQ(rt->arena_bytes(), 4032);
}

TEST(RuntimeRun, EveryElementwiseAndShapeOpThroughTheRuntime) {
  // x [-1,2,3] -> PAD -> CONCAT with itself -> MUL by const -> ADD const
  // -> MEAN over axis 2 -> each unary op; checked against formulas.
  GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 2, 3});
  const int k = b.AddConst("k", {3}, {1.0f, -2.0f, 0.5f});
  const int s = b.AddConst("s", {1}, {0.25f});
  const int p = b.AddTensor("p", {-1, 2, 3});
  const int c = b.AddTensor("c", {-1, 4, 3});
  const int m = b.AddTensor("m", {-1, 4, 3});
  const int a = b.AddTensor("a", {-1, 4, 3});
  const int mean = b.AddTensor("mean", {-1, 4, 1});
  b.AddNode("pad", "PAD", {x}, {p}, R"({"paddings":[[0,0],[0,0],[0,0]]})");
  b.AddNode("cat", "CONCATENATION", {x, p}, {c}, R"({"axis":1,"activation":"NONE"})");
  b.AddNode("mul", "MUL", {c, k}, {m}, R"({"activation":"NONE"})");
  b.AddNode("add", "ADD", {m, s}, {a}, R"({"activation":"NONE"})");
  b.AddNode("mean", "MEAN", {a}, {mean}, R"({"axes":[2],"keep_dims":true})");
  const char* unary[] = {"RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH"};
  std::vector<int> outs;
  for (const char* op : unary) {
    const int t = b.AddTensor(std::string("u_") + op, {-1, 4, 1});
    b.AddNode(std::string("n_") + op, op, {mean}, {t});
    b.AddOutput(t);
    outs.push_back(t);
  }
  auto rt = OpenOrDie(b.Build(), "elementwise");
  ASSERT_NE(rt, nullptr);
  const std::vector<float> xin = {1, 2, 3, -4, -5, -6};
  ASSERT_TRUE(rt->Prepare({{1, 2, 3}}).ok());
  std::vector<std::vector<float>> ys(6, std::vector<float>(4));
  std::vector<void*> out_ptrs;
  for (auto& v : ys) out_ptrs.push_back(v.data());
  const void* in[] = {xin.data()};
  ASSERT_TRUE(rt->Run(in, out_ptrs.data()).ok());
  // mean row r of (x rows repeated twice) * k + 0.25
  std::vector<double> means;
  for (int r = 0; r < 4; ++r) {
    const float* row = &xin[(r % 2) * 3];
    means.push_back((row[0] * 1.0 - row[1] * 2.0 + row[2] * 0.5) / 3.0 + 0.25);
  }
  for (int r = 0; r < 4; ++r) {
    const double v = means[r];
    EXPECT_NEAR(ys[0][r], std::max(v, 0.0), 1e-5);
    EXPECT_NEAR(ys[1][r], std::min(std::max(v, 0.0), 6.0), 1e-5);
    EXPECT_NEAR(ys[2][r], std::min(std::max(v, -1.0), 1.0), 1e-5);
    EXPECT_NEAR(ys[3][r], 1.0 / (1.0 + std::exp(-v)), 1e-5);
    EXPECT_NEAR(ys[4][r], std::tanh(v), 1e-5);
    EXPECT_NEAR(ys[5][r], v * std::min(std::max(v + 3, 0.0), 6.0) / 6.0, 1e-5);
  }
}

TEST(RuntimeOverhead, TenNodeModelRunIsCheap) {
  // Ten tiny nodes: the time is almost all executor overhead. It is printed,
  // not asserted (a timed assertion fails on a loaded or emulated machine:
  // 87 us under qemu beside other jobs); what is asserted is that 20,000
  // runs of the prepared plan keep giving the right values.
  GearModelBuilder b;
  int t = b.AddInput("x", {1, 8});
  const int k = b.AddConst("k", {8}, std::vector<float>(8, 0.5f));
  for (int i = 0; i < 10; ++i) {
    const int next = b.AddTensor("t" + std::to_string(i), {1, 8});
    if (i % 2 == 0) {
      b.AddNode("add" + std::to_string(i), "ADD", {t, k}, {next}, R"({"activation":"RELU"})");
    } else {
      b.AddNode("tanh" + std::to_string(i), "TANH", {t}, {next});
    }
    t = next;
  }
  b.AddOutput(t);
  auto rt = OpenOrDie(b.Build(), "overhead");
  ASSERT_TRUE(rt->Prepare({{1, 8}}).ok());
  std::vector<float> x(8, 1.0f), y(8);
  const void* in[] = {x.data()};
  void* out[] = {y.data()};
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(rt->Run(in, out).ok());
  constexpr int kRuns = 20000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRuns; ++i) rt->Run(in, out);
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
          .count() / kRuns;
  std::printf("[ overhead ] 10-node model: %.3f us per Run\n", us);
  float v = 1.0f;
  for (int i = 0; i < 10; ++i) v = i % 2 == 0 ? std::max(v + 0.5f, 0.0f) : std::tanh(v);
  for (float got : y) EXPECT_NEAR(got, v, 1e-6f);
}

// ---- shape inference on ModelDescs built in code ---------------------------

struct DescBuilder {
  ModelDesc m;
  int Tensor(const std::string& name, Shape shape, bool is_const = false) {
    TensorDesc t;
    t.name = name;
    t.shape = std::move(shape);
    t.is_const = is_const;
    m.tensors.push_back(t);
    return static_cast<int>(m.tensors.size()) - 1;
  }
  NodeDesc& Node(const std::string& name, OpType op, std::vector<int> in, int out) {
    NodeDesc n;
    n.name = name;
    n.op = op;
    n.inputs = std::move(in);
    n.outputs = {out};
    m.nodes.push_back(n);
    return m.nodes.back();
  }
};

Status Infer(const DescBuilder& d, const std::vector<Shape>& in) {
  std::vector<Shape> shapes;
  return InferShapes(d.m, in, &shapes);
}

TEST(RuntimeShapeInference, ConvFilterChannelsMustMatchInput) {
  DescBuilder d;
  const int x = d.Tensor("x", {-1, 5, 5, 3});
  const int w = d.Tensor("w", {4, 3, 3, 2}, true);
  const int y = d.Tensor("y", {-1, 5, 5, 4});
  d.m.inputs = {x};
  d.m.outputs = {y};
  d.Node("conv", OpType::kConv2D, {x, w, -1}, y).attrs.padding = Padding::kSame;
  const Status s = Infer(d, {{1, 5, 5, 3}});
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  EXPECT_NE(s.message().find("node 'conv' (CONV_2D): filter channels 2 != input channels 3"),
            std::string::npos)
      << s.message();
}

TEST(RuntimeShapeInference, InferredShapeMustMatchDeclared) {
  DescBuilder d;
  const int x = d.Tensor("x", {-1, 5, 5, 3});
  const int w = d.Tensor("w", {4, 3, 3, 3}, true);
  const int y = d.Tensor("y", {-1, 5, 5, 4});  // VALID gives 3x3
  d.m.inputs = {x};
  d.m.outputs = {y};
  d.Node("conv", OpType::kConv2D, {x, w, -1}, y);
  Status s = Infer(d, {{2, 5, 5, 3}});
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  EXPECT_NE(s.message().find("inferred shape [2, 3, 3, 4], declared [-1, 5, 5, 4]"),
            std::string::npos)
      << s.message();
  d.m.nodes[0].attrs.padding = Padding::kSame;
  EXPECT_TRUE(Infer(d, {{2, 5, 5, 3}}).ok());
  d.m.nodes[0].attrs.stride_h = 2;
  EXPECT_EQ(Infer(d, {{2, 5, 5, 3}}).code(), StatusCode::kFormatError);
}

TEST(RuntimeShapeInference, ConcatReshapeAndBroadcastMismatches) {
  {
    DescBuilder d;
    const int a = d.Tensor("a", {-1, 2, 3});
    const int b = d.Tensor("b", {-1, 4, 3});
    const int y = d.Tensor("y", {-1, 2, 6});
    d.m.inputs = {a, b};
    d.m.outputs = {y};
    d.Node("cat", OpType::kConcatenation, {a, b}, y).attrs.axis = 2;
    const Status s = Infer(d, {{1, 2, 3}, {1, 4, 3}});
    EXPECT_EQ(s.code(), StatusCode::kFormatError);
    EXPECT_NE(s.message().find("node 'cat' (CONCATENATION)"), std::string::npos);
    d.m.nodes[0].attrs.axis = 1;
    d.m.tensors[y].shape = {-1, 6, 3};
    EXPECT_TRUE(Infer(d, {{1, 2, 3}, {1, 4, 3}}).ok());
  }
  {
    DescBuilder d;
    const int x = d.Tensor("x", {-1, 2, 3});
    const int y = d.Tensor("y", {-1, 4});
    d.m.inputs = {x};
    d.m.outputs = {y};
    d.Node("reshape", OpType::kReshape, {x}, y).attrs.shape = {4};
    const Status s = Infer(d, {{1, 2, 3}});
    EXPECT_EQ(s.code(), StatusCode::kFormatError);
    EXPECT_NE(s.message().find("element count mismatch"), std::string::npos) << s.message();
    d.m.nodes[0].attrs.shape = {-1, 2};
    d.m.tensors[y].shape = {-1, 3, 2};
    EXPECT_TRUE(Infer(d, {{5, 2, 3}}).ok());
  }
  {
    DescBuilder d;
    const int a = d.Tensor("a", {-1, 3});
    const int k = d.Tensor("k", {4}, true);
    const int y = d.Tensor("y", {-1, 3});
    d.m.inputs = {a};
    d.m.outputs = {y};
    d.Node("add", OpType::kAdd, {a, k}, y);
    const Status s = Infer(d, {{2, 3}});
    EXPECT_EQ(s.code(), StatusCode::kFormatError);
    EXPECT_NE(s.message().find("cannot be broadcast"), std::string::npos) << s.message();
  }
  {
    DescBuilder d;
    const int x = d.Tensor("x", {-1, 4, 4, 2});
    const int y = d.Tensor("y", {-1, 2});
    d.m.inputs = {x};
    d.m.outputs = {y};
    auto& n = d.Node("mean", OpType::kMean, {x}, y);
    n.attrs.axes = {1, 2};
    EXPECT_TRUE(Infer(d, {{3, 4, 4, 2}}).ok());
    n.attrs.keep_dims = true;
    EXPECT_EQ(Infer(d, {{3, 4, 4, 2}}).code(), StatusCode::kFormatError);
    d.m.tensors[y].shape = {-1, 1, 1, 2};
    EXPECT_TRUE(Infer(d, {{3, 4, 4, 2}}).ok());
  }
}

TEST(RuntimeInfo, ReportsVersionAndReferenceKernels) {
  const RuntimeInfo info = GetRuntimeInfo();
  EXPECT_EQ(info.version, kVersion);
  EXPECT_EQ(info.format_major, 1);
  ASSERT_FALSE(info.isa_compiled.empty());
  EXPECT_EQ(info.isa_compiled[0], "ref");
}

// ---- tools: .npy helper ------------------------------------------------------

TEST(ToolsNpy, RoundTripsFloat32) {
  const std::vector<float> data = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -1e-3f};
  const auto bytes = npy::Serialize({2, 3}, data.data());
  EXPECT_EQ(bytes.size() % 64, (6 * 4) % 64);  // header padded to 64
  npy::Array a;
  std::string error;
  ASSERT_TRUE(npy::Parse(bytes, &a, &error)) << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.data, data);
  ASSERT_TRUE(npy::Parse(npy::Serialize({6}, data.data()), &a, &error)) << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{6}));
  float scalar = 4.0f;
  ASSERT_TRUE(npy::Parse(npy::Serialize({}, &scalar), &a, &error)) << error;
  EXPECT_TRUE(a.shape.empty());
  EXPECT_EQ(a.data, std::vector<float>{4.0f});
}

std::vector<uint8_t> NpyWithHeader(const std::string& dict, const std::vector<uint8_t>& payload) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  const std::string text = std::string("\x93NUMPY\x01\x00", 8) +
                           static_cast<char>(header.size()) + '\0' + header;
  std::vector<uint8_t> b(text.size() + payload.size());
  std::memcpy(b.data(), text.data(), text.size());
  std::memcpy(b.data() + text.size(), payload.data(), payload.size());
  return b;
}

TEST(ToolsNpy, ConvertsFloat64AndRefusesOtherDtypes) {
  const double vals[2] = {0.5, -3.0};
  std::vector<uint8_t> payload(16);
  std::memcpy(payload.data(), vals, 16);
  npy::Array a;
  std::string error;
  ASSERT_TRUE(npy::Parse(
      NpyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", payload), &a,
      &error))
      << error;
  EXPECT_EQ(a.data, (std::vector<float>{0.5f, -3.0f}));
  EXPECT_FALSE(npy::Parse(
      NpyWithHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", payload), &a,
      &error));
  EXPECT_NE(error.find("unsupported dtype '<i4'"), std::string::npos) << error;
  EXPECT_FALSE(npy::Parse(
      NpyWithHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", payload), &a,
      &error));
  EXPECT_FALSE(npy::Parse(
      NpyWithHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", payload), &a,
      &error));
  EXPECT_NE(error.find("Fortran"), std::string::npos);
  EXPECT_FALSE(npy::Parse(
      NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", payload), &a,
      &error));
  EXPECT_NE(error.find("does not match"), std::string::npos);
  EXPECT_FALSE(npy::Parse({1, 2, 3}, &a, &error));
}

// ---- tools: the executables, found next to this test binary -----------------

std::string BuildDir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string exe(buf, static_cast<size_t>(n));
  return exe.substr(0, exe.rfind('/'));
}

// Runs a shell command; returns its exit code, stdout+stderr in *output.
int Shell(const std::string& cmd, std::string* output) {
  const std::string log = TempPath("tools_test.log");
  const int status = std::system((cmd + " > " + log + " 2>&1").c_str());
  std::ifstream f(log);
  output->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class ToolsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ = BuildDir() + "/gearshift-run";
    bench_ = BuildDir() + "/gearshift-bench";
    if (access(run_.c_str(), X_OK) != 0 || access(bench_.c_str(), X_OK) != 0) {
      GTEST_SKIP() << "tools not built next to the test binary";
    }
    model_ = WriteTemp(net_.b.Build(), "tools");
    std::mt19937 rng(12);
    x_ = Random(&rng, 2 * 72);
    input_ = TempPath("tools_x.npy");
    std::string error;
    ASSERT_TRUE(npy::Write(input_, {2, 6, 6, 2}, x_.data(), &error)) << error;
  }
  SmallNet net_{13};
  std::string run_, bench_, model_, input_;
  std::vector<float> x_;
};

TEST_F(ToolsCli, RunWritesOutputNpy) {
  const std::string out = TempPath("tools_y.npy");
  std::string log;
  ASSERT_EQ(Shell("GEARSHIFT_ISA=ref " + run_ + " " + model_ + " --input " + input_ +
                      " --output " + out +
                      " --threads 2",
                  &log),
            0)
      << log;
  npy::Array y;
  std::string error;
  ASSERT_TRUE(npy::Read(out, &y, &error)) << error;
  EXPECT_EQ(y.shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(y.data, net_.Reference(x_, 2, net_.w2));
  ASSERT_EQ(Shell(run_ + " " + model_ + " --input " + input_, &log), 0) << log;
  EXPECT_NE(log.find("output 'probs': shape [2, 4]"), std::string::npos) << log;
  ASSERT_EQ(Shell(run_ + " --info", &log), 0) << log;
  EXPECT_NE(log.find("isa compiled: ref"), std::string::npos) << log;
}

TEST_F(ToolsCli, ExitCodesForErrorsAndUsage) {
  std::string log;
  EXPECT_EQ(Shell(run_ + " " + model_ + " --input " + input_ + " --gear int8", &log), 1);
  EXPECT_EQ(log.rfind("error: ", 0), 0u) << log;
  EXPECT_NE(log.find("available gears: fp32"), std::string::npos) << log;
  EXPECT_EQ(Shell(run_ + " /nonexistent.gear --input " + input_, &log), 1) << log;
  EXPECT_EQ(Shell(run_ + " " + model_, &log), 2) << log;
  EXPECT_EQ(Shell(run_ + " " + model_ + " --input " + input_ + " --threads x", &log), 2);
  EXPECT_EQ(Shell(run_ + " " + model_ + " --bogus", &log), 2) << log;
  EXPECT_EQ(Shell(bench_, &log), 2) << log;
  EXPECT_EQ(Shell(bench_ + " " + model_ + " --gears nope", &log), 1) << log;
}

TEST_F(ToolsCli, BenchPrintsJson) {
  std::string log;
  ASSERT_EQ(Shell(bench_ + " " + model_ + " --runs 5 --warmup 1 --batch 2 --json", &log), 0)
      << log;
  for (const char* key :
       {"\"file\"", "\"gears\"", "\"fp32\"", "\"latency_ms\"", "\"median\"", "\"p99\"",
        "\"runs\": 5", "\"threads\": 1", "\"peak_rss_bytes\"", "\"file_bytes\"", "\"arena_bytes\"",
        // the document of docs/BENCH.md, as gearshift bench --json writes it
        "\"schema\": \"gearshift-bench\"", "\"schema_version\": 1",
        "\"results\": [{\"runtime\": \"gearshift\"", "\"host\": \"local\"", "\"load_ms\"",
        "\"prepared_bytes\"", "\"batch\": 2"}) {
    EXPECT_NE(log.find(key), std::string::npos) << key << " missing from " << log;
  }
  ASSERT_EQ(Shell(bench_ + " " + model_ + " --runs 3 --gears all", &log), 0) << log;
  EXPECT_NE(log.find("median ms"), std::string::npos) << log;
}

}  // namespace
}  // namespace gearshift
