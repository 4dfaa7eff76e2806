// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The default shift policy, in the order its rules apply (docs/SHIFTER.md).
// Every rule moves along the ladder: the gears in precision order less the
// dominated ones, a gear being dominated when a more precise gear on the
// ladder is predicted (measured: probe, benchmark seed, runs) no more than
// 5% slower. So "down" always means measured cheaper on this machine: on a
// CPU where int4 runs no faster than int8, int4 is never chosen. Gears not
// measured yet stay on the ladder (their first run measures them).
//   1. battery: on external power nothing is capped (precision first); while
//      discharging, each threshold the charge falls below caps the gear one
//      ladder step further down, and at the floor only the fastest gear is
//      left. A cap lifts only when the charge is battery_hysteresis_pct above
//      its threshold, so a noisy gauge does not flip it.
//   2. latency: the most precise ladder gear at or below the cap whose
//      predicted latency fits the budget; a gear more precise than the
//      current one must fit with upshift_margin to spare (hysteresis); an
//      unknown prediction fits. Nothing fits: the fastest gear.
//   3. temperature: at temp_step_down_c (or when the SoC says it throttles)
//      one more ladder step down per min_dwell_s, so the load drops before
//      the SoC throttles itself; back up one step per min_dwell_s once it has
//      cooled by temp_hysteresis_c; at temp_cheapest_c the fastest gear at once.
//   4. dwell: no change within min_dwell_s of the previous one.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gearshift/shifter.h"

namespace gearshift {
namespace {

std::string Fmt(const char* format, double a, double b = 0) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), format, a, b);
  return buf;
}

// How many caps apply to `charge` with thresholds raised by `lift`; the last
// level (thresholds.size() + 1) is the floor.
int BatteryLevel(const ShifterOptions& o, double charge, double lift) {
  if (charge <= o.battery_floor_pct + lift) {
    return static_cast<int>(o.battery_thresholds_pct.size()) + 1;
  }
  int level = 0;
  for (double t : o.battery_thresholds_pct) {
    if (charge < t + lift) ++level;
  }
  return level;
}

// The ladder (gear indices, most precise first) and, in *dominated, one
// "gear (by faster-or-equal gear)" note per gear left off.
std::vector<int> Ladder(const std::vector<std::string>& gears, const std::vector<double>& pred,
                        std::string* dominated) {
  const std::vector<int> by = DominatedBy(pred);
  std::vector<int> ladder;
  for (size_t i = 0; i < gears.size(); ++i) {
    if (by[i] < 0) {
      ladder.push_back(static_cast<int>(i));
      continue;
    }
    if (!dominated->empty()) *dominated += ", ";
    *dominated += gears[i] + " (by " + gears[static_cast<size_t>(by[i])] + ")";
  }
  return ladder;
}

}  // namespace

std::vector<int> DominatedBy(const std::vector<double>& pred) {
  // A kept gear must be predicted at least this much faster than every more
  // precise kept gear: measurement noise alone must not buy a precision loss.
  constexpr double kMinGain = 0.05;
  std::vector<int> by(pred.size(), -1);
  int best = -1;  // the kept gear with the least known prediction so far
  for (size_t i = 0; i < pred.size(); ++i) {
    const double p = pred[i];
    if (!std::isnan(p) && best >= 0 && p > pred[static_cast<size_t>(best)] * (1.0 - kMinGain)) {
      by[i] = best;
      continue;
    }
    if (!std::isnan(p) && (best < 0 || p < pred[static_cast<size_t>(best)])) {
      best = static_cast<int>(i);
    }
  }
  return by;
}

Status DefaultShiftPolicy::Choose(const ShiftContext& ctx, ShiftDecision* decision) {
  const ShifterOptions& o = *ctx.options;
  const std::vector<std::string>& gears = *ctx.gears;
  std::string dominated;
  const std::vector<int> ladder = Ladder(gears, ctx.predicted_ms, &dominated);
  const int n = static_cast<int>(ladder.size());
  const int cheapest = n - 1;  // a ladder position: the fastest gear
  // Appended where a rule stepped down, so the log says what it skipped.
  const std::string skipped =
      dominated.empty() ? "" : "; dominated on this machine, skipped: " + dominated;
  auto pred = [&](int pos) { return ctx.predicted_ms[static_cast<size_t>(ladder[pos])]; };
  auto name = [&](int pos) { return gears[static_cast<size_t>(ladder[pos])]; };
  const PowerState& p = ctx.power;

  // 1. Battery cap.
  int cap = 0;
  std::string cap_reason;
  if (p.charging.value_or(false)) {
    battery_level_ = 0;
    cap_reason = "mains: on external power, precision first";
  } else if (p.charge_pct) {
    const double c = *p.charge_pct;
    const int now_level = BatteryLevel(o, c, 0);
    if (now_level >= battery_level_) {
      battery_level_ = now_level;
    } else {
      // Rising charge: lift the cap only past threshold + hysteresis.
      battery_level_ = std::max(
          now_level, std::min(battery_level_, BatteryLevel(o, c, o.battery_hysteresis_pct)));
    }
    const int floor_level = static_cast<int>(o.battery_thresholds_pct.size()) + 1;
    if (battery_level_ == floor_level) {
      cap = cheapest;
      cap_reason =
          Fmt("floor: battery %.0f%% near empty (floor %.0f%%)", c, o.battery_floor_pct) + skipped;
    } else if (battery_level_ > 0) {
      cap = std::min(battery_level_, cheapest);
      const double t = o.battery_thresholds_pct[battery_level_ - 1];
      cap_reason = (c < t ? Fmt("battery: %.0f%% < %.0f%%", c, t)
                          : Fmt("battery: %.0f%% < %.0f%% + hysteresis", c, t)) +
                   skipped;
    }
  } else {
    battery_level_ = 0;
  }

  // 2. Latency.
  const double budget = o.latency_budget_ms;
  int pick = cap;
  std::string reason = cap_reason;
  if (budget > 0) {
    pick = -1;
    for (int i = cap; i < n; ++i) {
      const bool upshift = ctx.current >= 0 && ladder[i] < ctx.current;
      const double limit = upshift ? budget * (1.0 - o.upshift_margin) : budget;
      if (std::isnan(pred(i)) || pred(i) <= limit) {
        pick = i;
        break;
      }
    }
    if (pick < 0) {
      pick = cheapest;
      reason = "latency: no gear fits the budget of " + Fmt("%.3g ms (fastest: ", budget) +
               name(cheapest) + Fmt(", predicted %.3g ms)", pred(cheapest)) + skipped;
    } else if (pick > cap) {
      const bool margin = ctx.current >= 0 && ladder[pick - 1] < ctx.current;
      reason = "latency: " + name(pick - 1) +
               Fmt(" predicted %.3g ms > %.3g ms", pred(pick - 1),
                   margin ? budget * (1.0 - o.upshift_margin) : budget) +
               (margin ? " (budget less the upshift margin)" : "") + skipped;
    } else if (reason.empty()) {
      reason = Fmt("precision: predicted %.3g ms fits the budget of %.3g ms", pred(pick), budget);
    }
  } else if (reason.empty()) {
    reason = "precision: no latency budget";
  }

  // 3. Temperature.
  const bool throttled = p.throttled.value_or(false);
  const bool dwell_over = ctx.now_s - last_thermal_change_s_ >= o.min_dwell_s;
  if (!p.temp_c && !p.throttled) {
    thermal_steps_ = 0;  // no sensor (any more): latency and battery alone
  } else if (p.temp_c && *p.temp_c >= o.temp_cheapest_c) {
    if (thermal_steps_ < cheapest) last_thermal_change_s_ = ctx.now_s;
    thermal_steps_ = cheapest;
  } else if ((p.temp_c && *p.temp_c >= o.temp_step_down_c) || throttled) {
    if (dwell_over && thermal_steps_ < cheapest) {
      ++thermal_steps_;
      last_thermal_change_s_ = ctx.now_s;
    }
  } else if (thermal_steps_ > 0 && dwell_over &&
             (!p.temp_c || *p.temp_c <= o.temp_step_down_c - o.temp_hysteresis_c)) {
    --thermal_steps_;
    last_thermal_change_s_ = ctx.now_s;
  }
  if (thermal_steps_ > 0 && pick < cheapest) {
    pick = std::min(cheapest, pick + thermal_steps_);
    if (p.temp_c) {
      reason = Fmt("thermal: %.1f C (steps down from %.0f C)", *p.temp_c, o.temp_step_down_c);
    } else {
      reason = "thermal: the SoC reports throttling";
    }
    if (thermal_steps_ > 1) reason += Fmt(", %.0f steps down", thermal_steps_);
    reason += skipped;
  }

  // 4. Dwell.
  if (ctx.current >= 0 && ladder[pick] != ctx.current && ctx.since_switch_s < o.min_dwell_s) {
    decision->gear = gears[ctx.current];
    decision->reason =
        Fmt("dwell: %.2f s in this gear < %.2f s, wanted ", ctx.since_switch_s, o.min_dwell_s) +
        name(pick) + " (" + reason + ")";
    return Status::Ok();
  }
  decision->gear = name(pick);
  decision->reason = reason;
  return Status::Ok();
}

}  // namespace gearshift
