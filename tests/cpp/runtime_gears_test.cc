// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Gear switching in the Runtime (issue 3): fp32 <-> fp16 over shared f32
// storage and over f16 storage, lazy and eager ("all") preparation, the
// memory budget (eviction of least-recently-used gears, a gear that does not
// fit alone), the cost of a switch once prepared, and thread safety: several
// threads run while another switches gears, and every output must be exactly
// one gear's. Build with -fsanitize=thread (make test-tsan) to check races.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dispatch.h"
#include "format/model_desc.h"
#include "gear_builder.h"
#include "gearshift/gearshift.h"
#include "prepare/gear_weights.h"
#include "runtime_impl.h"

namespace gearshift {
namespace {

using testing::GearModelBuilder;

// x [1,8,8,4] -> CONV_2D 3x3x16 SAME RELU -> DEPTHWISE 3x3 SAME -> MEAN
// [1,2] -> FULLY_CONNECTED 16->10 -> y [1,10]. Gears: "fp32" (f32 dense),
// "fp16" (the same f32 payloads, rounded by the runtime), and with
// `f16_storage` also "fp16s" (the rounded weights stored as f16).
// `round` writes the weights already rounded to half (the reference that
// the fp16 gears must equal bit for bit).
GearModelBuilder SwitchNet(bool round, bool f16_storage) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  auto values = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = round ? RoundToF16(d(rng)) : d(rng);
    return v;
  };
  GearModelBuilder b;
  const int x = b.AddInput("x", {1, 8, 8, 4});
  const int w1 = b.AddConst("conv/w", {16, 3, 3, 4}, values(16 * 9 * 4));
  const int b1 = b.AddConst("conv/b", {16}, values(16));
  const int dw = b.AddConst("dw/w", {1, 3, 3, 16}, values(9 * 16));
  const int fw = b.AddConst("fc/w", {10, 16}, values(160));
  const int fb = b.AddConst("fc/b", {10}, values(10));
  const int c = b.AddTensor("conv", {1, 8, 8, 16});
  const int e = b.AddTensor("dw", {1, 8, 8, 16});
  const int m = b.AddTensor("mean", {1, 16});
  const int y = b.AddTensor("y", {1, 10});
  b.AddNode("conv", "CONV_2D", {x, w1, b1}, {c},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","activation":"RELU"})");
  b.AddNode("dw", "DEPTHWISE_CONV_2D", {c, dw, -1}, {e},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":1})");
  b.AddNode("mean", "MEAN", {e}, {m}, R"({"axes":[1,2],"keep_dims":false})");
  b.AddNode("fc", "FULLY_CONNECTED", {m, fw, fb}, {y}, "{}");
  b.AddOutput(y);
  b.AddGear("fp32", "f32", b.default_constants());
  b.AddGear("fp16", "f16", b.default_constants());
  if (f16_storage) {
    // The same weights as f16 payloads.
    std::mt19937 again(11);
    std::vector<std::pair<int, int>> pairs;
    const std::vector<std::pair<int, std::vector<int64_t>>> consts = {
        {w1, {16, 3, 3, 4}}, {b1, {16}}, {dw, {1, 3, 3, 16}}, {fw, {10, 16}}, {fb, {10}}};
    for (const auto& cst : consts) {
      int64_t n = 1;
      for (int64_t dim : cst.second) n *= dim;
      std::vector<uint16_t> bits(static_cast<size_t>(n));
      for (uint16_t& h : bits) h = F32ToF16Bits(d(again));
      pairs.emplace_back(cst.first, b.AddF16Storage(cst.second, bits));
    }
    b.AddGear("fp16s", "f16", pairs);
  }
  return b;
}

std::unique_ptr<Runtime> Open(const std::vector<uint8_t>& bytes, RuntimeOptions options = {}) {
  std::unique_ptr<GearFile> file;
  Status s = GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return nullptr;
  std::unique_ptr<Runtime> rt;
  s = CreateRuntime(std::move(file), options, &rt);
  EXPECT_TRUE(s.ok()) << s.message();
  return rt;
}

std::vector<float> Input() {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> x(8 * 8 * 4);
  for (float& v : x) v = d(rng);
  return x;
}

std::vector<float> RunOnce(Runtime* rt, const std::vector<float>& x) {
  std::vector<float> y(10, -1.0f);
  const void* in[] = {x.data()};
  void* out[] = {y.data()};
  const Status s = rt->Run(in, out);
  EXPECT_TRUE(s.ok()) << s.message();
  return y;
}

// The fp16 gears equal fp32 over weights rounded to half, bit for bit,
// where they widen the weights (f16w kernels); on a CPU with fp16
// arithmetic (neon_fp16: half activations and sums) within the fp16 gear's
// stated tolerance of it (1e-2 of the largest output, docs/QUANTIZATION.md),
// and both storages still give the same bits.
TEST(RuntimeGears, Fp16GearsEqualFp32OverRoundedWeights) {
  KernelTable table;
  ASSERT_TRUE(BuildKernelTable("", &table).ok());
  const bool half_arithmetic = table.f16_gemm.fn != nullptr;
  const std::vector<float> x = Input();
  auto rounded = Open(SwitchNet(true, false).Build());
  ASSERT_NE(rounded, nullptr);
  const std::vector<float> want16 = RunOnce(rounded.get(), x);
  float max_abs = 0.0f;
  for (float v : want16) max_abs = std::max(max_abs, std::fabs(v));
  auto expect_fp16 = [&](const std::vector<float>& y) {
    if (!half_arithmetic) {
      EXPECT_EQ(y, want16);
      return;
    }
    ASSERT_EQ(y.size(), want16.size());
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], want16[i], 1e-2f * max_abs) << i;
  };
  auto rt = Open(SwitchNet(false, true).Build());
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(rt->gears(), (std::vector<std::string>{"fp32", "fp16", "fp16s"}));
  const std::vector<float> y32 = RunOnce(rt.get(), x);
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(rt->SetGear("fp16").ok());
    EXPECT_EQ(rt->gear(), "fp16");
    const std::vector<float> y16 = RunOnce(rt.get(), x);
    expect_fp16(y16);
    ASSERT_TRUE(rt->SetGear("fp16s").ok());
    EXPECT_EQ(RunOnce(rt.get(), x), y16);
    ASSERT_TRUE(rt->SetGear("fp32").ok());
    EXPECT_EQ(RunOnce(rt.get(), x), y32);
  }
  EXPECT_NE(y32, want16);  // the gears really differ
}

TEST(RuntimeGears, LazyPreparesAtTheFirstSwitchAllAtOpen) {
  RuntimeOptions lazy;
  lazy.isa = "ref";  // no packing: prepared bytes are the derived weights only
  auto rt = Open(SwitchNet(false, true).Build(), lazy);
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(rt->prepared_bytes(), 0);  // nothing yet, and fp32 is used in place
  RunOnce(rt.get(), Input());
  EXPECT_EQ(rt->prepared_bytes(), 0);
  ASSERT_TRUE(rt->SetGear("fp16").ok());
  // Derived: conv/b 16 and fc/b 10 floats (64-byte blocks) and the recipes
  // of the three weights, which stay underived until a plan packs them.
  const int64_t recipes = 3 * static_cast<int64_t>(sizeof(F16Tensor));
  EXPECT_EQ(rt->prepared_bytes(), 64 + 64 + recipes);
  RunOnce(rt.get(), Input());
  // Packed as half for the ref f16w kernels (4 columns a block: 4 bias
  // floats, then K rows of 4 halves): conv/w 16 x 36 -> 4 blocks of 304
  // bytes, fc/w 10 x 16 -> 3 blocks of 144; dw/w's 144 halves (its f32
  // storage rounded).
  const int64_t fp16_bytes = 64 + 64 + recipes + 4 * 304 + 3 * 144 + 288;
  EXPECT_EQ(rt->prepared_bytes(), fp16_bytes);
  ASSERT_TRUE(rt->SetGear("fp32").ok());
  EXPECT_EQ(rt->prepared_bytes(), fp16_bytes);  // kept for the next switch

  RuntimeOptions all = lazy;
  all.prepare = "all";
  rt = Open(SwitchNet(false, true).Build(), all);
  ASSERT_NE(rt, nullptr);
  // fp16 and fp16s, whose dw/w is f16 storage, read in place.
  EXPECT_EQ(rt->prepared_bytes(), 2 * fp16_bytes - 288);
  EXPECT_GT(rt->arena_bytes(), 0);                  // static shapes: planned at Open

  RuntimeOptions bad = lazy;
  bad.prepare = "eager";
  std::unique_ptr<GearFile> file;
  const std::vector<uint8_t> bytes = SwitchNet(false, false).Build();
  ASSERT_TRUE(GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file).ok());
  std::unique_ptr<Runtime> none;
  Status s = CreateRuntime(std::move(file), bad, &none);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("prepare must be \"lazy\" or \"all\""), std::string::npos);
}

TEST(RuntimeGears, SwitchingOncePreparedIsCheap) {
  RuntimeOptions all;
  all.prepare = "all";
  auto rt = Open(SwitchNet(false, true).Build(), all);
  ASSERT_NE(rt, nullptr);
  const std::vector<float> x = Input();
  const char* names[] = {"fp32", "fp16", "fp16s"};
  for (const char* g : names) {  // first run of each gear
    ASSERT_TRUE(rt->SetGear(g).ok());
    RunOnce(rt.get(), x);
  }
  const int64_t bytes = rt->prepared_bytes();
  constexpr int kSwitches = 300;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kSwitches; ++i) ASSERT_TRUE(rt->SetGear(names[i % 3]).ok());
  const double ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  EXPECT_LT(ms / kSwitches, 1.0) << ms / kSwitches << " ms per switch";
  std::printf("[ switch   ] %.4f ms per SetGear once prepared\n", ms / kSwitches);
  EXPECT_EQ(rt->prepared_bytes(), bytes);  // nothing prepared again
}

TEST(RuntimeGears, BudgetEvictsLeastRecentlyUsedGears) {
  const std::vector<float> x = Input();
  // Sizes of each gear alone (weights plus packed copies), unlimited budget.
  std::vector<int64_t> alone;
  std::vector<std::vector<float>> want;
  for (const char* g : {"fp32", "fp16", "fp16s"}) {
    RuntimeOptions o;
    o.gear = g;
    auto rt = Open(SwitchNet(false, true).Build(), o);
    ASSERT_NE(rt, nullptr);
    want.push_back(RunOnce(rt.get(), x));
    alone.push_back(rt->prepared_bytes());
  }
  const int64_t biggest = std::max({alone[0], alone[1], alone[2]});
  RuntimeOptions o;
  o.memory_budget_bytes = biggest;  // one gear at a time
  auto rt = Open(SwitchNet(false, true).Build(), o);
  ASSERT_NE(rt, nullptr);
  const char* names[] = {"fp32", "fp16", "fp16s"};
  for (int round = 0; round < 3; ++round) {
    for (int g = 0; g < 3; ++g) {
      ASSERT_TRUE(rt->SetGear(names[g]).ok());
      EXPECT_EQ(RunOnce(rt.get(), x), want[g]) << names[g];
      EXPECT_LE(rt->prepared_bytes(), biggest);
      EXPECT_EQ(rt->prepared_bytes(), alone[g]) << names[g];  // the others were dropped
    }
  }
  // Room for two: switching back to the previous gear needs no preparation.
  o.memory_budget_bytes = alone[1] + alone[2];
  rt = Open(SwitchNet(false, true).Build(), o);
  ASSERT_NE(rt, nullptr);
  ASSERT_TRUE(rt->SetGear("fp16").ok());
  RunOnce(rt.get(), x);
  ASSERT_TRUE(rt->SetGear("fp16s").ok());
  RunOnce(rt.get(), x);
  EXPECT_EQ(rt->prepared_bytes(), alone[1] + alone[2]);
  ASSERT_TRUE(rt->SetGear("fp16").ok());
  EXPECT_EQ(RunOnce(rt.get(), x), want[1]);
  EXPECT_EQ(rt->prepared_bytes(), alone[1] + alone[2]);
}

TEST(RuntimeGears, AGearThatDoesNotFitAloneFailsClearly) {
  RuntimeOptions o;
  o.isa = "ref";
  // fp16 derives its two biases (64 bytes each) and three weight recipes,
  // and packs 1936 bytes when planned.
  const int64_t derived = 2 * 64 + 3 * static_cast<int64_t>(sizeof(F16Tensor));
  const std::string derived_s = std::to_string(derived);
  o.memory_budget_bytes = 100;
  auto rt = Open(SwitchNet(false, true).Build(), o);
  ASSERT_NE(rt, nullptr);
  const std::vector<float> x = Input();
  const std::vector<float> y32 = RunOnce(rt.get(), x);  // fp32: in place, 0 bytes
  Status s = rt->SetGear("fp16");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("gear 'fp16' needs " + derived_s + " bytes of prepared weights (" +
                             derived_s +
                             " derived, 0 packed for the kernels), more than the memory budget "
                             "of 100 bytes"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(rt->gear(), "fp32");  // unchanged
  EXPECT_EQ(rt->prepared_bytes(), 0);
  EXPECT_EQ(RunOnce(rt.get(), x), y32);
  // A gear whose packs exceed the budget fails at its first run, as clearly.
  o.memory_budget_bytes = 1000;
  rt = Open(SwitchNet(false, true).Build(), o);
  ASSERT_NE(rt, nullptr);
  ASSERT_TRUE(rt->SetGear("fp16").ok());
  std::vector<float> y(10);
  const void* in[] = {x.data()};
  void* out[] = {y.data()};
  s = rt->Run(in, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("gear 'fp16' needs " + std::to_string(derived + 1936) +
                             " bytes of prepared weights (" + derived_s +
                             " derived, 1936 packed for the kernels), more than the memory "
                             "budget of 1000 bytes"),
            std::string::npos)
      << s.message();
  // prepare="all" refuses at Open what cannot all be held.
  o.prepare = "all";
  o.memory_budget_bytes = 300;  // room for one gear's derived weights, not two
  std::unique_ptr<GearFile> file;
  const std::vector<uint8_t> bytes = SwitchNet(false, true).Build();
  ASSERT_TRUE(GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file).ok());
  std::unique_ptr<Runtime> none;
  s = CreateRuntime(std::move(file), o, &none);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("prepare=\"all\": the prepared weights of all gears need " +
                             std::to_string(2 * derived) +
                             " bytes, more than the memory budget of 300 bytes"),
            std::string::npos)
      << s.message();
}

// Several threads run while another switches between fp32 and fp16: every
// output is exactly one of the two gears' outputs (a run finishes in the
// gear it started with), and nothing races (TSan build).
TEST(RuntimeGears, ConcurrentRunsWhileSwitching) {
  const std::vector<float> x = Input();
  RuntimeOptions o;
  o.threads = 2;
  auto rt = Open(SwitchNet(false, false).Build(), o);
  ASSERT_NE(rt, nullptr);
  const std::vector<float> y32 = RunOnce(rt.get(), x);
  ASSERT_TRUE(rt->SetGear("fp16").ok());
  const std::vector<float> y16 = RunOnce(rt.get(), x);
  ASSERT_NE(y32, y16);
  // Runners keep going until the switcher has switched often enough, and
  // the switcher until the runners are done, so both overlap on any machine.
  constexpr int kRunners = 3, kRuns = 100, kSwitches = 200;
  std::atomic<int> switches{0}, running{kRunners};
  std::atomic<int> bad{0}, failed{0}, seen32{0}, seen16{0};
  std::thread switcher([&] {
    for (int i = 0; running.load() > 0; ++i) {
      if (!rt->SetGear(i % 2 ? "fp16" : "fp32").ok()) failed.fetch_add(1);
      switches.fetch_add(1);
      (void)rt->gear();
      (void)rt->prepared_bytes();
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  std::vector<std::thread> runners;
  for (int t = 0; t < kRunners; ++t) {
    runners.emplace_back([&] {
      std::vector<float> y(10);
      const void* in[] = {x.data()};
      void* out[] = {y.data()};
      for (int i = 0; i < kRuns || switches.load() < kSwitches; ++i) {
        if (!rt->Run(in, out).ok()) {
          failed.fetch_add(1);
          continue;
        }
        if (y == y32) {
          seen32.fetch_add(1);
        } else if (y == y16) {
          seen16.fetch_add(1);
        } else {
          bad.fetch_add(1);
        }
        (void)rt->last_latency_ms();
        (void)rt->arena_bytes();
      }
      running.fetch_sub(1);
    });
  }
  for (std::thread& t : runners) t.join();
  switcher.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GE(seen32.load() + seen16.load(), kRunners * kRuns);
  EXPECT_GT(seen32.load(), 0);
  EXPECT_GT(seen16.load(), 0);
  std::printf("[ threads  ] %d runs in fp32, %d in fp16\n", seen32.load(), seen16.load());
}

// The same under a budget that holds one gear: switches evict and
// re-prepare while runs are in flight.
TEST(RuntimeGears, ConcurrentRunsWhileSwitchingUnderABudget) {
  const std::vector<float> x = Input();
  auto probe = Open(SwitchNet(false, false).Build());
  ASSERT_NE(probe, nullptr);
  const std::vector<float> y32 = RunOnce(probe.get(), x);
  const int64_t fp32_bytes = probe->prepared_bytes();
  ASSERT_TRUE(probe->SetGear("fp16").ok());
  const std::vector<float> y16 = RunOnce(probe.get(), x);
  const int64_t fp16_bytes = probe->prepared_bytes() - fp32_bytes;
  RuntimeOptions o;
  o.memory_budget_bytes = std::max(fp32_bytes, fp16_bytes);
  auto rt = Open(SwitchNet(false, false).Build(), o);
  ASSERT_NE(rt, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, failed{0};
  std::thread switcher([&] {
    int i = 0;
    while (!stop.load()) {
      if (!rt->SetGear(i++ % 2 ? "fp16" : "fp32").ok()) failed.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::vector<std::thread> runners;
  for (int t = 0; t < 2; ++t) {
    runners.emplace_back([&] {
      std::vector<float> y(10);
      const void* in[] = {x.data()};
      void* out[] = {y.data()};
      for (int i = 0; i < 100; ++i) {
        if (!rt->Run(in, out).ok()) {
          failed.fetch_add(1);
        } else if (y != y32 && y != y16) {
          bad.fetch_add(1);
        }
        EXPECT_LE(rt->prepared_bytes(), o.memory_budget_bytes);
      }
    });
  }
  for (std::thread& t : runners) t.join();
  stop.store(true);
  switcher.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(failed.load(), 0);
}

}  // namespace
}  // namespace gearshift
