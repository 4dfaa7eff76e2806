// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The shifter with a fake Runtime (fake latencies per gear times a load the
// test sets), an injected clock and callback or trace power sources, so
// every test is deterministic and sleeps for no time at all: the gear
// follows the budget as latency rises and falls, battery thresholds and
// their hysteresis, dwell time, a draining trace shifts down in order and
// never up, plugging in shifts up, thermal step-down, an unreadable source
// warns once, user policies, energy per inference, probe and benchmark seeds.
#include "gearshift/shifter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <string>

#include "fake_sysfs.h"
#include "gear_builder.h"

namespace gearshift {
namespace {

// Runs instantly; last_latency_ms() = the gear's cost * load.
class FakeRuntime : public Runtime {
 public:
  explicit FakeRuntime(std::vector<std::string> gears, std::vector<double> cost_ms)
      : gears_(std::move(gears)), cost_(std::move(cost_ms)) {}
  const std::vector<TensorInfo>& inputs() const override { return io_; }
  const std::vector<TensorInfo>& outputs() const override { return io_; }
  const std::vector<std::string>& gears() const override { return gears_; }
  const std::string& gear() const override { return gears_[gear_]; }
  Status SetGear(const std::string& name) override {
    for (size_t i = 0; i < gears_.size(); ++i) {
      if (gears_[i] == name) {
        gear_ = i;
        return Status::Ok();
      }
    }
    return InvalidArgument("unknown gear " + name);
  }
  Status Prepare(const std::vector<Shape>&) override { return Status::Ok(); }
  const std::vector<Shape>& output_shapes() const override { return shapes_; }
  Status Run(const void* const*, void* const*) override {
    last_ = cost_[gear_] * load;
    ++runs[gears_[gear_]];
    return Status::Ok();
  }
  int64_t arena_bytes() const override { return 0; }
  Status ReadTensor(const std::string&, std::vector<float>*, Shape*) override {
    return InvalidArgument("no tensors");
  }
  Status TensorView(const std::string&, const float**, Shape*) override {
    return InvalidArgument("no tensors");
  }
  int64_t prepared_bytes() const override { return 0; }
  double last_latency_ms() const override { return last_; }
  void SetProfiling(bool) override {}
  std::vector<NodeTime> last_profile() const override { return {}; }
  int threads() const override { return 1; }
  const std::string& isa() const override { return isa_; }

  double load = 1.0;
  std::map<std::string, int> runs;

 private:
  std::vector<std::string> gears_;
  std::vector<double> cost_;
  size_t gear_ = 0;
  double last_ = 0;
  std::vector<TensorInfo> io_;
  std::vector<Shape> shapes_;
  std::string isa_ = "ref";
};

const std::vector<std::string> kGears = {"fp32", "fp16", "int8", "int4"};
const std::vector<double> kCost = {4.0, 2.5, 1.5, 1.0};

// A shifter over a FakeRuntime with a clock and a power state the test owns.
struct Rig {
  explicit Rig(ShifterOptions o, bool with_power = true, std::vector<double> cost = kCost)
      : rt(kGears, std::move(cost)) {
    std::unique_ptr<PowerSource> src;
    if (with_power) src = std::make_unique<CallbackSource>([this] { return power; });
    o.power_interval_s = 0;  // read at every run
    const Status s = Shifter::Create(
        &rt, o, std::move(src), [this] { return now; }, &shifter,
        [this](const std::string& m) { warnings.push_back(m); });
    EXPECT_TRUE(s.ok()) << s.message();
  }
  // One run `dt` seconds after the previous; returns the gear it ran.
  std::string Step(double dt = 1.0) {
    now += dt;
    const Status s = shifter->Run({{1}}, nullptr, nullptr);
    EXPECT_TRUE(s.ok()) << s.message();
    return rt.gear();
  }
  FakeRuntime rt;
  std::unique_ptr<Shifter> shifter;
  PowerState power;
  double now = 100.0;
  std::vector<std::string> warnings;
};

ShifterOptions Budget(double ms, double dwell = 0) {
  ShifterOptions o;
  o.latency_budget_ms = ms;
  o.min_dwell_s = dwell;
  return o;
}

TEST(Shifter, ProbeSeedsEveryGearThenPicksTheMostPreciseThatFits) {
  Rig r(Budget(3.0));
  EXPECT_EQ(r.Step(), "fp16");  // fp32 4 ms > 3 ms
  for (const std::string& g : kGears) EXPECT_EQ(r.rt.runs[g], g == "fp16" ? 5 : 4) << g;
  const auto stats = r.shifter->controller().stats();
  EXPECT_DOUBLE_EQ(stats[0].base_ms, 4.0);
  EXPECT_DOUBLE_EQ(stats[3].base_ms, 1.0);
  const ShiftLogEntry& e = r.shifter->controller().log().back();
  EXPECT_EQ(e.gear, "fp16");
  EXPECT_DOUBLE_EQ(e.latency_ms, 2.5);
  EXPECT_EQ(e.reason.rfind("latency: fp32 predicted 4 ms > 3 ms", 0), 0u) << e.reason;
}

TEST(Shifter, NoBudgetNoPowerMeansMostPrecise) {
  Rig r(ShifterOptions(), /*with_power=*/false);
  EXPECT_EQ(r.Step(), "fp32");
  EXPECT_EQ(r.shifter->controller().log().back().reason, "precision: no latency budget");
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Shifter, FollowsTheBudgetAsLatencyRisesAndFalls) {
  Rig r(Budget(5.0));
  EXPECT_EQ(r.Step(), "fp32");
  r.rt.load = 2.2;  // another process takes the CPU: fp32 8.8 ms, fp16 5.5 ms, int8 3.3 ms
  std::vector<std::string> seen;
  for (int i = 0; i < 30; ++i) seen.push_back(r.Step());
  EXPECT_EQ(seen.back(), "int8");
  // Down in order, never up while the load only rises.
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(std::find(kGears.begin(), kGears.end(), seen[i]) - kGears.begin(),
              std::find(kGears.begin(), kGears.end(), seen[i - 1]) - kGears.begin());
  }
  EXPECT_NEAR(r.shifter->controller().load(), 2.2, 1e-2);
  r.rt.load = 1.0;  // the load goes away: fp32 (not run since) is predicted 4 ms again
  std::string g;
  for (int i = 0; i < 30; ++i) g = r.Step();
  EXPECT_EQ(g, "fp32");
}

TEST(Shifter, UpshiftNeedsTheMargin) {
  Rig r(Budget(4.4));           // fp32 4 ms fits 4.4 but not 4.4 * 0.85 = 3.74
  EXPECT_EQ(r.Step(), "fp32");  // first decision: no margin
  r.rt.load = 1.2;              // fp32 4.8 ms: down
  for (int i = 0; i < 20; ++i) r.Step();
  EXPECT_EQ(r.rt.gear(), "fp16");
  r.rt.load = 1.0;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(r.Step(), "fp16");  // 4 ms > 3.74: stays
}

TEST(Shifter, DwellTimeRespected) {
  Rig r(Budget(5.0, /*dwell=*/3.0));
  r.Step();
  double last_switch = r.now;
  std::string last = r.rt.gear();
  int switches = 0;
  for (int i = 0; i < 200; ++i) {
    r.rt.load = (i / 7) % 2 ? 4.0 : 1.0;  // a load that flips every 7 steps of 0.5 s
    const std::string g = r.Step(0.5);
    if (g != last) {
      EXPECT_GE(r.now - last_switch, 3.0 - 1e-9) << "switch at step " << i;
      last_switch = r.now;
      last = g;
      ++switches;
    }
  }
  EXPECT_GT(switches, 3);
  bool saw_dwell = false;
  for (const auto& e : r.shifter->controller().log()) {
    saw_dwell |= e.reason.rfind("dwell:", 0) == 0;
  }
  EXPECT_TRUE(saw_dwell);
}

TEST(Shifter, BatteryThresholdsAndHysteresis) {
  ShifterOptions o;  // thresholds 50, 25; floor 10; hysteresis 3
  o.min_dwell_s = 0;
  Rig r(o);
  r.power.charging = false;
  auto at = [&](double charge) {
    r.power.charge_pct = charge;
    return r.Step();
  };
  EXPECT_EQ(at(80), "fp32");
  EXPECT_EQ(at(50), "fp32");
  EXPECT_EQ(at(49.9), "fp16");
  EXPECT_EQ(r.shifter->controller().log().back().reason, "battery: 50% < 50%");
  EXPECT_EQ(at(51), "fp16");  // a noisy gauge: 51 < 50 + 3
  EXPECT_EQ(at(52.9), "fp16");
  EXPECT_EQ(at(53), "fp32");
  EXPECT_EQ(at(24), "int8");
  EXPECT_EQ(at(26), "int8");
  EXPECT_EQ(at(10), "int4");
  EXPECT_EQ(r.shifter->controller().log().back().reason.rfind("floor:", 0), 0u);
  EXPECT_EQ(at(12), "int4");  // 12 <= 10 + 3
  EXPECT_EQ(at(13.5), "int8");
  r.power.charging = true;  // plugged in: precision first
  EXPECT_EQ(at(13.5), "fp32");
  EXPECT_EQ(r.shifter->controller().log().back().reason.rfind("mains:", 0), 0u);
}

// Where a lower-precision gear is not faster (int4 without 4-bit arithmetic,
// fp16 without fp16 arithmetic), every rule steps down by measured cost: the
// dominated gears are never chosen and the log names them.
const std::vector<double> kInt4Slow = {4.0, 3.9, 1.5, 1.6};  // fp16 ~ fp32, int4 > int8

TEST(Shifter, BatteryStepsDownByMeasuredCostNotPrecisionOrder) {
  ShifterOptions o;  // thresholds 50, 25; floor 10
  o.min_dwell_s = 0;
  Rig r(o, true, kInt4Slow);
  r.power.charging = false;
  auto at = [&](double charge) {
    r.power.charge_pct = charge;
    return r.Step();
  };
  EXPECT_EQ(at(80), "fp32");
  EXPECT_EQ(at(40), "int8");  // one step down the ladder fp32, int8
  const std::string& reason = r.shifter->controller().log().back().reason;
  EXPECT_NE(reason.find("dominated on this machine, skipped: fp16 (by fp32), int4 (by int8)"),
            std::string::npos)
      << reason;
  EXPECT_EQ(at(20), "int8");  // the ladder has no second step: int8 is the fastest
  EXPECT_EQ(at(5), "int8");   // floor: the fastest gear, not the last one
  for (const ShiftLogEntry& e : r.shifter->controller().log()) EXPECT_NE(e.gear, "int4");
}

TEST(Shifter, NothingFitsTakesTheFastestGear) {
  Rig r(Budget(0.5), true, kInt4Slow);
  EXPECT_EQ(r.Step(), "int8");
  const std::string& reason = r.shifter->controller().log().back().reason;
  EXPECT_EQ(reason.rfind("latency: no gear fits the budget of 0.5 ms (fastest: int8, predicted "
                         "1.5 ms)",
                         0),
            0u)
      << reason;
}

TEST(Shifter, BudgetPicksTheMostPreciseFittingLadderGear) {
  Rig r(Budget(3.95), true, kInt4Slow);
  EXPECT_EQ(r.Step(), "int8");  // fp16 fits 3.95 ms but is dominated by fp32 (3.9 vs 4.0)
  Rig fast(Budget(1.55), true, {4.0, 2.5, 1.5, 1.0});
  EXPECT_EQ(fast.Step(), "int8");  // monotone costs: the precision order as before
}

TEST(Shifter, ThermalStepsAlongTheLadder) {
  ShifterOptions o;  // step down at 70 C, fastest at 80
  o.min_dwell_s = 0;
  Rig r(o, true, kInt4Slow);
  r.power.temp_c = 72;
  EXPECT_EQ(r.Step(), "int8");
  r.power.temp_c = 85;
  EXPECT_EQ(r.Step(), "int8");
  EXPECT_NE(r.shifter->controller().log().back().reason.find("skipped: fp16"), std::string::npos);
}

TEST(Shifter, TwoGearsClampTheBatteryLevels) {
  FakeRuntime rt({"fp32", "int8"}, {2, 1});
  std::unique_ptr<Shifter> sh;
  PowerState p;
  p.charging = false;
  double now = 0;
  ShifterOptions o;
  o.power_interval_s = 0;
  ASSERT_TRUE(
      Shifter::Create(
          &rt, o, std::make_unique<CallbackSource>([&] { return p; }), [&] { return now; }, &sh)
          .ok());
  for (double c : {90.0, 40.0, 20.0, 5.0}) {
    p.charge_pct = c;
    now += 10;
    ASSERT_TRUE(sh->Run({{1}}, nullptr, nullptr).ok());
    EXPECT_EQ(rt.gear(), c > 50 ? "fp32" : "int8") << c;
  }
}

TEST(Shifter, DrainingTraceShiftsDownInOrderAndPluggingInShiftsUp) {
  testing::FakeSysfs fs;
  std::string csv = "time_s,charge_pct,charging,temp_c\n";
  for (int t = 0; t <= 97; ++t) {
    csv += std::to_string(t * 60) + "," + std::to_string(100 - t) + ",0,45\n";  // 100% -> 3%
  }
  csv += "5880,3,1,45\n";  // plugged in at the end
  fs.Write("drain.csv", csv);
  FakeRuntime rt(kGears, kCost);
  double now = 0;
  std::unique_ptr<TraceSource> trace;
  ASSERT_TRUE(TraceSource::Load(fs.Path("drain.csv"), 60.0, [&] { return now; }, &trace).ok());
  std::unique_ptr<Shifter> sh;
  ShifterOptions o = Budget(10.0, 2.0);
  o.power_interval_s = 0;
  ASSERT_TRUE(Shifter::Create(&rt, o, std::move(trace), [&] { return now; }, &sh).ok());
  std::vector<std::string> order;  // each gear as first entered
  for (int step = 0; step < 98; ++step) {
    ASSERT_TRUE(sh->Run({{1}}, nullptr, nullptr).ok());
    if (order.empty() || order.back() != rt.gear()) order.push_back(rt.gear());
    now += 1.0;  // one trace minute (speed 60): one percent
  }
  EXPECT_EQ(order, kGears);  // every gear, in order, never back up
  const auto& log = sh->controller().log();
  EXPECT_EQ(log.back().gear, "int4");
  EXPECT_DOUBLE_EQ(*log.back().power.charge_pct, 3);
  now += 1.0;
  ASSERT_TRUE(sh->Run({{1}}, nullptr, nullptr).ok());
  EXPECT_EQ(rt.gear(), "fp32");
}

TEST(Shifter, ThermalStepsDownBeforeTheSocThrottles) {
  ShifterOptions o;  // step down at 70 C, cheapest at 80, hysteresis 5, dwell 2 s
  Rig r(o);
  r.power.temp_c = 50;
  EXPECT_EQ(r.Step(), "fp32");
  r.power.temp_c = 72;
  EXPECT_EQ(r.Step(5), "fp16");
  EXPECT_EQ(r.Step(), "fp16");  // 1 s later: within the dwell
  EXPECT_EQ(r.Step(), "int8");  // still hot after 2 s: one more down
  r.power.temp_c = 81;
  EXPECT_EQ(r.Step(5), "int4");
  r.power.temp_c = 68;  // cooler, but not by the hysteresis
  EXPECT_EQ(r.Step(5), "int4");
  r.power.temp_c = 64;
  std::vector<std::string> up;
  for (int i = 0; i < 4; ++i) up.push_back(r.Step(2.5));
  EXPECT_EQ(up, (std::vector<std::string>{"int8", "fp16", "fp32", "fp32"}));
  r.power = PowerState();
  r.power.throttled = true;  // a Raspberry Pi's firmware flag
  EXPECT_EQ(r.Step(5), "fp16");
  EXPECT_EQ(r.shifter->controller().log().back().reason, "thermal: the SoC reports throttling");
}

TEST(Shifter, UnreadableSourceWarnsOnceAndFallsBackToLatency) {
  FakeRuntime rt(kGears, kCost);
  std::unique_ptr<Shifter> sh;
  std::vector<std::string> warnings;
  ShifterOptions o = Budget(3.0);
  o.power_interval_s = 0;
  double now = 0;
  ASSERT_TRUE(Shifter::Create(
                  &rt, o, std::make_unique<ThermalSource>("/nonexistent"), [&] { return now++; },
                  &sh, [&](const std::string& m) { warnings.push_back(m); })
                  .ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(sh->Run({{1}}, nullptr, nullptr).ok());
    EXPECT_EQ(rt.gear(), "fp16");
  }
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("thermal(/nonexistent)"), std::string::npos);
  EXPECT_EQ(sh->warnings(), warnings);
  EXPECT_TRUE(sh->power_state().empty());
}

TEST(Shifter, PowerReadAtMostEveryInterval) {
  FakeRuntime rt(kGears, kCost);
  int reads = 0;
  double now = 0;
  std::unique_ptr<Shifter> sh;
  ShifterOptions o;
  o.power_interval_s = 1.0;
  ASSERT_TRUE(Shifter::Create(
                  &rt, o, std::make_unique<CallbackSource>([&] {
                    ++reads;
                    return PowerState();
                  }),
                  [&] { return now; }, &sh)
                  .ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(sh->Run({{1}}, nullptr, nullptr).ok());
    now += 0.25;
  }
  EXPECT_EQ(reads, 3);  // at 0, 1.0 and 2.0 s
}

TEST(Shifter, EnergyPerInferenceWherePowerIsKnown) {
  Rig r(Budget(3.0));
  r.power.power_w = 5.0;
  r.Step();  // fp16, 2.5 ms at 5 W
  const ShiftLogEntry& e = r.shifter->controller().log().back();
  ASSERT_TRUE(e.energy_j.has_value());
  EXPECT_DOUBLE_EQ(*e.energy_j, 0.0125);
  const GearStats s = r.shifter->controller().stats()[1];
  EXPECT_EQ(s.energy_runs, 1);
  EXPECT_DOUBLE_EQ(s.energy_j_mean(), 0.0125);
  EXPECT_DOUBLE_EQ(r.shifter->controller().stats()[0].energy_j_mean(), -1);
}

class CheapestWhenWarm : public ShiftPolicy {
 public:
  Status Choose(const ShiftContext& ctx, ShiftDecision* d) override {
    const bool warm = ctx.power.temp_c.value_or(0) > 40;
    d->gear = warm ? ctx.gears->back() : ctx.gears->front();
    d->reason = warm ? "user: warm" : "user: cool";
    seen_predicted = ctx.predicted_ms;
    return Status::Ok();
  }
  std::vector<double> seen_predicted;
};

TEST(Shifter, UserPolicyReplacesTheDefault) {
  Rig r(Budget(1.0));
  auto policy = std::make_unique<CheapestWhenWarm>();
  CheapestWhenWarm* p = policy.get();
  r.shifter->controller().SetPolicy(std::move(policy));
  r.power.temp_c = 30;
  EXPECT_EQ(r.Step(), "fp32");  // the budget would say int4: the policy rules
  EXPECT_EQ(r.shifter->controller().log().back().reason, "user: cool");
  EXPECT_DOUBLE_EQ(p->seen_predicted[0], 4.0);
  r.power.temp_c = 50;
  EXPECT_EQ(r.Step(0.001), "int4");  // and no dwell unless it wants one
}

class BadPolicy : public ShiftPolicy {
 public:
  Status Choose(const ShiftContext&, ShiftDecision* d) override {
    d->gear = "fp8";
    return Status::Ok();
  }
};

TEST(ShiftController, ErrorsAndSeeds) {
  std::unique_ptr<ShiftController> c;
  ShifterOptions o;
  EXPECT_FALSE(ShiftController::Create({}, o, &c).ok());
  o.battery_thresholds_pct = {20, 50};
  EXPECT_FALSE(ShiftController::Create(kGears, o, &c).ok());
  o = ShifterOptions();
  o.battery_floor_pct = 30;
  EXPECT_FALSE(ShiftController::Create(kGears, o, &c).ok());
  o = ShifterOptions();
  o.ewma_alpha = 0;
  EXPECT_FALSE(ShiftController::Create(kGears, o, &c).ok());
  o = ShifterOptions();
  o.temp_cheapest_c = 60;
  EXPECT_FALSE(ShiftController::Create(kGears, o, &c).ok());
  o = ShifterOptions();
  o.latency_budget_ms = 2.0;
  ASSERT_TRUE(ShiftController::Create(kGears, o, &c).ok());

  EXPECT_EQ(c->Unseeded(), kGears);
  EXPECT_FALSE(c->Seed("fp8", 1).ok());
  EXPECT_FALSE(c->Seed("fp32", -1).ok());
  EXPECT_FALSE(c->Observe(1.0).ok());  // no Decide yet
  const std::string bench =
      R"({"file": "m.gear", "gears": {"fp32": {"latency_ms": {"median": 3.0}},
          "int8": {"latency_ms": {"median": 1.5}}, "fp8": {"latency_ms": {"median": 1}}}})";
  ASSERT_TRUE(c->SeedFromBenchmark(bench).ok());
  EXPECT_EQ(c->Unseeded(), (std::vector<std::string>{"fp16", "int4"}));
  EXPECT_FALSE(c->SeedFromBenchmark("{").ok());
  EXPECT_FALSE(c->SeedFromBenchmark(R"({"gears": {"fp32": {"latency_ms": 3}}})").ok());

  ShiftDecision d;
  ASSERT_TRUE(c->Decide(0, PowerState(), &d).ok());
  EXPECT_EQ(d.gear, "fp16");  // unknown: assumed to fit, measured by its run
  ASSERT_TRUE(c->Observe(2.4).ok());
  EXPECT_FALSE(c->Observe(2.4).ok());  // one Observe per Decide
  const auto stats = c->stats();
  EXPECT_DOUBLE_EQ(stats[1].base_ms, 2.4);
  EXPECT_EQ(stats[1].runs, 1);
  EXPECT_TRUE(std::isnan(c->Predicted()[3]));
  ASSERT_TRUE(c->Measure("int4", 1.0).ok());
  EXPECT_FALSE(std::isnan(c->Predicted()[3]));

  c->SetPolicy(std::make_unique<BadPolicy>());
  EXPECT_EQ(c->Decide(1, PowerState(), &d).code(), StatusCode::kInvalidArgument);
  c->SetPolicy(nullptr);
  EXPECT_TRUE(c->Decide(1, PowerState(), &d).ok());
}

TEST(ShiftController, LogIsBounded) {
  std::unique_ptr<ShiftController> c;
  ShifterOptions o;
  o.log_capacity = 5;
  ASSERT_TRUE(ShiftController::Create(kGears, o, &c).ok());
  ShiftDecision d;
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(c->Decide(i, PowerState(), &d).ok());
    ASSERT_TRUE(c->Observe(1.0).ok());
  }
  ASSERT_EQ(c->log().size(), 5u);
  EXPECT_DOUBLE_EQ(c->log().front().time_s, 7);
}

TEST(Shifter, DrivesARealRuntime) {
  testing::GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 4});
  const int w = b.AddConst("w", {2, 4}, {1, 2, 3, 4, -1, -2, -3, -4});
  const int y = b.AddTensor("y", {-1, 2});
  b.AddNode("fc", "FULLY_CONNECTED", {x, w, -1}, {y});
  b.AddOutput(y);
  const std::vector<uint8_t> bytes = b.Build();
  testing::FakeSysfs fs;
  {
    std::ofstream f(fs.Path("m.gear"), std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  }
  std::unique_ptr<Runtime> rt;
  ASSERT_TRUE(Runtime::Open(fs.Path("m.gear"), RuntimeOptions(), &rt).ok());
  std::unique_ptr<Shifter> sh;
  ShifterOptions o;
  o.latency_budget_ms = 1000;
  ASSERT_TRUE(Shifter::Create(rt.get(), o, nullptr, nullptr, &sh).ok());
  const float in[4] = {1, 1, 1, 1};
  float out[2] = {0, 0};
  const void* ins[] = {in};
  void* outs[] = {out};
  ASSERT_TRUE(sh->Run({{1, 4}}, ins, outs).ok());
  EXPECT_FLOAT_EQ(out[0], 10);
  EXPECT_FLOAT_EQ(out[1], -10);
  const ShiftLogEntry& e = sh->controller().log().back();
  EXPECT_EQ(e.gear, "fp32");
  EXPECT_GE(e.latency_ms, 0);
  EXPECT_EQ(sh->controller().stats()[0].runs, 1);  // the probe seeds, it is not a run
  EXPECT_EQ(sh->Run({{1, 3}}, ins, outs).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gearshift
