// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The policy engine behind gs.Shifter and gearshift::Shifter. Latency
// prediction: each gear keeps a base latency (its probe median, a benchmark's
// median or its first run) and the board one load factor, an EWMA of
// measured / base over whatever gear runs. predicted = base * load, so when
// the board throttles or other work loads it, every gear's prediction rises,
// not only the running one's, and when the load goes away the precise gears
// look affordable again although they have not run since (a per-gear average
// alone would keep their stale, high values and never shift back up).
#include <cmath>
#include <limits>

#include "format/json.h"
#include "gearshift/shifter.h"

namespace gearshift {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool Finite(double x) { return std::isfinite(x); }

}  // namespace

Status ShiftController::Create(std::vector<std::string> gears, const ShifterOptions& o,
                               std::unique_ptr<ShiftController>* out) {
  if (gears.empty()) return InvalidArgument("shifter: the runtime has no gears");
  auto bad = [](const std::string& what) { return InvalidArgument("shifter: " + what); };
  if (!Finite(o.latency_budget_ms)) return bad("latency_budget_ms must be finite");
  double prev = 101;
  for (double t : o.battery_thresholds_pct) {
    if (!Finite(t) || t <= 0 || t > 100 || t >= prev) {
      return bad("battery_thresholds_pct must be descending values in (0, 100]");
    }
    prev = t;
  }
  if (!Finite(o.battery_floor_pct) || o.battery_floor_pct < 0 ||
      (!o.battery_thresholds_pct.empty() &&
       o.battery_floor_pct >= o.battery_thresholds_pct.back())) {
    return bad("battery_floor_pct must be >= 0 and below every battery threshold");
  }
  if (!Finite(o.battery_hysteresis_pct) || o.battery_hysteresis_pct < 0) {
    return bad("battery_hysteresis_pct must be >= 0");
  }
  if (!Finite(o.temp_step_down_c) || !Finite(o.temp_cheapest_c) ||
      o.temp_cheapest_c < o.temp_step_down_c) {
    return bad("temp_cheapest_c must be >= temp_step_down_c");
  }
  if (!Finite(o.temp_hysteresis_c) || o.temp_hysteresis_c < 0) {
    return bad("temp_hysteresis_c must be >= 0");
  }
  if (!(o.upshift_margin >= 0 && o.upshift_margin < 1))
    return bad("upshift_margin must be in [0, 1)");
  if (!Finite(o.min_dwell_s) || o.min_dwell_s < 0) return bad("min_dwell_s must be >= 0");
  if (!(o.ewma_alpha > 0 && o.ewma_alpha <= 1)) return bad("ewma_alpha must be in (0, 1]");
  if (o.probe_runs < 0 || o.probe_runs > 1000) return bad("probe_runs must be in [0, 1000]");
  if (!Finite(o.power_interval_s) || o.power_interval_s < 0) {
    return bad("power_interval_s must be >= 0");
  }
  if (o.log_capacity == 0) return bad("log_capacity must be >= 1");

  std::unique_ptr<ShiftController> c(new ShiftController());
  c->gears_ = std::move(gears);
  c->options_ = o;
  c->policy_ = std::make_unique<DefaultShiftPolicy>();
  for (const std::string& g : c->gears_) {
    GearStats s;
    s.gear = g;
    c->stats_.push_back(s);
  }
  *out = std::move(c);
  return Status::Ok();
}

void ShiftController::SetPolicy(std::unique_ptr<ShiftPolicy> policy) {
  policy_ = policy ? std::move(policy) : std::make_unique<DefaultShiftPolicy>();
}

int ShiftController::Index(const std::string& gear) const {
  for (size_t i = 0; i < gears_.size(); ++i) {
    if (gears_[i] == gear) return static_cast<int>(i);
  }
  return -1;
}

Status ShiftController::Seed(const std::string& gear, double latency_ms) {
  const int i = Index(gear);
  if (i < 0) return InvalidArgument("shifter: unknown gear '" + gear + "'");
  if (!Finite(latency_ms) || latency_ms <= 0) {
    return InvalidArgument("shifter: a seed latency must be > 0 ms");
  }
  // The seed is the gear's cost on an unloaded board, so it is not divided
  // by the current load.
  stats_[i].base_ms = latency_ms;
  if (stats_[i].ewma_ms < 0) stats_[i].ewma_ms = latency_ms;
  return Status::Ok();
}

Status ShiftController::SeedFromBenchmark(const std::string& json_text) {
  json::Value root;
  GS_RETURN_IF_ERROR(json::Parse(json_text, &root));
  const json::Value* gears = root.Find("gears");
  if (gears == nullptr || !gears->is_object()) {
    return InvalidArgument("benchmark: expected an object 'gears' (gearshift bench --json)");
  }
  for (size_t k = 0; k < gears->keys().size(); ++k) {
    const std::string& name = gears->keys()[k];
    if (Index(name) < 0) continue;
    const json::Value* lat = gears->items()[k].Find("latency_ms");
    const json::Value* median = lat != nullptr ? lat->Find("median") : nullptr;
    if (median == nullptr || !median->is_number()) {
      return InvalidArgument("benchmark: gears." + name + ".latency_ms.median: expected a number");
    }
    GS_RETURN_IF_ERROR(Seed(name, median->number_value()));
  }
  return Status::Ok();
}

std::vector<std::string> ShiftController::Unseeded() const {
  std::vector<std::string> out;
  for (const GearStats& s : stats_) {
    if (s.base_ms <= 0) out.push_back(s.gear);
  }
  return out;
}

std::vector<double> ShiftController::Predicted() const {
  std::vector<double> p;
  for (const GearStats& s : stats_) p.push_back(s.base_ms > 0 ? s.base_ms * load_ : kNaN);
  return p;
}

ShiftContext ShiftController::Context(double now_s, const PowerState& power) const {
  ShiftContext ctx;
  ctx.now_s = now_s;
  ctx.gears = &gears_;
  ctx.current = current_;
  ctx.since_switch_s =
      current_ < 0 ? std::numeric_limits<double>::infinity() : now_s - last_switch_s_;
  ctx.predicted_ms = Predicted();
  ctx.latency_budget_ms = options_.latency_budget_ms;
  ctx.power = power;
  ctx.options = &options_;
  return ctx;
}

Status ShiftController::Decide(double now_s, const PowerState& power, ShiftDecision* decision) {
  if (!Finite(now_s)) return InvalidArgument("shifter: the clock gave a non-finite time");
  ShiftDecision d;
  GS_RETURN_IF_ERROR(policy_->Choose(Context(now_s, power), &d));
  const int i = Index(d.gear);
  if (i < 0) {
    return InvalidArgument("shifter: the policy chose an unknown gear '" + d.gear + "'");
  }
  ShiftLogEntry e;
  e.time_s = now_s;
  e.gear = d.gear;
  e.reason = d.reason.empty() ? "policy" : d.reason;
  e.switched = current_ >= 0 && i != current_;
  e.power = power;
  if (current_ < 0 || i != current_) last_switch_s_ = now_s;
  current_ = i;
  if (log_.size() >= options_.log_capacity) log_.pop_front();
  log_.push_back(e);
  pending_ = true;
  *decision = d;
  return Status::Ok();
}

void ShiftController::Update(int i, double ms, const PowerState* power) {
  GearStats& s = stats_[i];
  const double a = options_.ewma_alpha;
  if (s.base_ms <= 0) s.base_ms = ms / load_;  // first run seeds, at today's load
  load_ += a * (ms / s.base_ms - load_);
  s.ewma_ms = s.ewma_ms < 0 ? ms : s.ewma_ms + a * (ms - s.ewma_ms);
  ++s.runs;
  if (power != nullptr && power->power_w) {
    ++s.energy_runs;
    s.energy_j_total += *power->power_w * ms * 1e-3;
  }
}

Status ShiftController::Observe(double latency_ms) {
  if (!pending_ || log_.empty()) {
    return InvalidArgument("shifter: Observe without a Decide before it");
  }
  if (!Finite(latency_ms) || latency_ms < 0) {
    return InvalidArgument("shifter: a latency must be >= 0 ms");
  }
  pending_ = false;
  ShiftLogEntry& e = log_.back();
  // A 0 ms run (a coarse timer) carries no information about the load.
  if (latency_ms > 0) Update(current_, latency_ms, &e.power);
  e.latency_ms = latency_ms;
  if (e.power.power_w) e.energy_j = *e.power.power_w * latency_ms * 1e-3;
  return Status::Ok();
}

Status ShiftController::Measure(const std::string& gear, double latency_ms) {
  const int i = Index(gear);
  if (i < 0) return InvalidArgument("shifter: unknown gear '" + gear + "'");
  if (!Finite(latency_ms) || latency_ms < 0) {
    return InvalidArgument("shifter: a latency must be >= 0 ms");
  }
  if (latency_ms > 0) Update(i, latency_ms, nullptr);
  return Status::Ok();
}

std::vector<GearStats> ShiftController::stats() const {
  std::vector<GearStats> out = stats_;
  for (GearStats& s : out) s.predicted_ms = s.base_ms > 0 ? s.base_ms * load_ : -1;
  return out;
}

}  // namespace gearshift
