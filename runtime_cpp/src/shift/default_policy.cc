// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The default shift policy, in the order its rules apply (docs/SHIFTER.md):
//   1. battery: on external power nothing is capped (precision first); while
//      discharging, each threshold the charge falls below caps the gear one
//      step further down, and at the floor only the cheapest gear is left.
//      A cap lifts only when the charge is battery_hysteresis_pct above its
//      threshold, so a noisy gauge does not flip it.
//   2. latency: the most precise gear at or below the cap whose predicted
//      latency fits the budget; a gear more precise than the current one must
//      fit with upshift_margin to spare (hysteresis); an unknown prediction
//      fits (its first run measures it). Nothing fits: the cheapest gear.
//   3. temperature: at temp_step_down_c (or when the SoC says it throttles)
//      one more step down per min_dwell_s, so the load drops before the SoC
//      throttles itself; back up one step per min_dwell_s once it has cooled
//      by temp_hysteresis_c; at temp_cheapest_c the cheapest gear at once.
//   4. dwell: no change within min_dwell_s of the previous one.
#include <algorithm>
#include <cmath>
#include <cstdio>

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

}  // namespace

Status DefaultShiftPolicy::Choose(const ShiftContext& ctx, ShiftDecision* decision) {
  const ShifterOptions& o = *ctx.options;
  const std::vector<std::string>& gears = *ctx.gears;
  const int n = static_cast<int>(gears.size());
  const int cheapest = n - 1;
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
      cap_reason = Fmt("floor: battery %.0f%% near empty (floor %.0f%%)", c, o.battery_floor_pct);
    } else if (battery_level_ > 0) {
      cap = std::min(battery_level_, cheapest);
      const double t = o.battery_thresholds_pct[battery_level_ - 1];
      cap_reason = c < t ? Fmt("battery: %.0f%% < %.0f%%", c, t)
                         : Fmt("battery: %.0f%% < %.0f%% + hysteresis", c, t);
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
      const double pred = ctx.predicted_ms[i];
      const bool upshift = ctx.current >= 0 && i < ctx.current;
      const double limit = upshift ? budget * (1.0 - o.upshift_margin) : budget;
      if (std::isnan(pred) || pred <= limit) {
        pick = i;
        break;
      }
    }
    if (pick < 0) {
      pick = cheapest;
      reason = Fmt("latency: no gear fits the budget of %.3g ms (cheapest predicted %.3g ms)",
                   budget, ctx.predicted_ms[cheapest]);
    } else if (pick > cap) {
      const double above = ctx.predicted_ms[pick - 1];
      const bool margin = ctx.current >= 0 && pick - 1 < ctx.current;
      reason = "latency: " + gears[pick - 1] +
               Fmt(" predicted %.3g ms > %.3g ms", above,
                   margin ? budget * (1.0 - o.upshift_margin) : budget) +
               (margin ? " (budget less the upshift margin)" : "");
    } else if (reason.empty()) {
      reason = Fmt("precision: predicted %.3g ms fits the budget of %.3g ms",
                   ctx.predicted_ms[pick], budget);
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
  }

  // 4. Dwell.
  if (ctx.current >= 0 && pick != ctx.current && ctx.since_switch_s < o.min_dwell_s) {
    decision->gear = gears[ctx.current];
    decision->reason =
        Fmt("dwell: %.2f s in this gear < %.2f s, wanted ", ctx.since_switch_s, o.min_dwell_s) +
        gears[pick] + " (" + reason + ")";
    return Status::Ok();
  }
  decision->gear = gears[pick];
  decision->reason = reason;
  return Status::Ok();
}

}  // namespace gearshift
