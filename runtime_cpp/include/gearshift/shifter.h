// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The shifter: picks the gear at run time from the latency budget, the
// battery, the temperature and what the runs measured, so a board on battery
// gets the most precise answer it can afford and shifts down before it runs
// out of time, charge or thermal headroom. docs/SHIFTER.md has the rules and
// constants of the default policy.
//
// Two layers, so that Python and C++ share one policy engine:
//   ShiftController  the policy engine alone: latency predictions per gear,
//                    the default (or a user) policy, hysteresis, dwell, the
//                    log. It never touches a Runtime: the caller tells it the
//                    time and the power state, asks Decide, runs, and reports
//                    the latency with Observe. The Python Shifter drives it.
//   Shifter          a ShiftController over a Runtime and a PowerSource for
//                    on-board C++ programs: Run() reads the power source (at
//                    most every power_interval_s; a failing source is reported
//                    once and the policy falls back to latency alone), probes
//                    every gear at the first run, decides, switches, runs.
//
//   std::unique_ptr<gearshift::Shifter> sh;
//   gearshift::ShifterOptions o;
//   o.latency_budget_ms = 20;
//   GS_RETURN_IF_ERROR(gearshift::Shifter::Create(rt.get(), o,
//                                                 gearshift::AutoDetect(), nullptr, &sh));
//   GS_RETURN_IF_ERROR(sh->Run({{1, 224, 224, 3}}, in, out));
#ifndef GEARSHIFT_SHIFTER_H_
#define GEARSHIFT_SHIFTER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gearshift/gearshift.h"
#include "gearshift/power.h"
#include "gearshift/status.h"

namespace gearshift {

struct ShifterOptions {
  // Largest acceptable latency per run; <= 0: none (battery and temperature
  // alone decide).
  double latency_budget_ms = 0;
  // While discharging, charge below thresholds[k] (descending, %) keeps the
  // gear at least k+1 steps below the most precise one.
  std::vector<double> battery_thresholds_pct = {50, 25};
  // At or below this charge (%) while discharging: the cheapest gear.
  double battery_floor_pct = 10;
  // Charge must rise this far above a threshold before the cap lifts again.
  double battery_hysteresis_pct = 3;
  // At or above this temperature (°C), or when the SoC reports throttling,
  // one more gear down per min_dwell_s; back up one per min_dwell_s once at
  // or below temp_step_down_c - temp_hysteresis_c.
  double temp_step_down_c = 70;
  // At or above this temperature (°C): the cheapest gear at once.
  double temp_cheapest_c = 80;
  double temp_hysteresis_c = 5;
  // A more precise gear than the current one is chosen only when its
  // predicted latency is at most budget * (1 - upshift_margin).
  double upshift_margin = 0.15;
  // Minimum time (s) between two gear changes of the default policy.
  double min_dwell_s = 2.0;
  // Weight of the newest run in the latency averages, in (0, 1].
  double ewma_alpha = 0.2;
  // Shifter::Run: runs per gear (after one warm-up run) that seed the
  // predictions at the first run; 0 = no probe (unseeded gears are seeded
  // by their first run).
  int probe_runs = 3;
  // Shifter::Run reads the power source at most this often (s): a sysfs read
  // costs tens of microseconds, vcgencmd milliseconds.
  double power_interval_s = 1.0;
  // Log entries kept (the oldest are dropped first).
  size_t log_capacity = 10000;
};

// What a policy sees when it decides.
struct ShiftContext {
  double now_s = 0;
  const std::vector<std::string>* gears = nullptr;  // most precise first
  int current = -1;                  // index into gears; -1 before the first decision
  double since_switch_s = 0;         // time in the current gear (infinity at first)
  std::vector<double> predicted_ms;  // per gear; NaN while unknown
  double latency_budget_ms = 0;
  PowerState power;  // empty when no source or an unreadable one
  const ShifterOptions* options = nullptr;
};

struct ShiftDecision {
  std::string gear;    // one of the gear names
  std::string reason;  // "<cause>: <detail>", e.g. "battery: 42% < 50%"
};

// A user policy replaces the default entirely (dwell and hysteresis
// included: ShiftContext carries since_switch_s for policies that want them).
class ShiftPolicy {
 public:
  virtual ~ShiftPolicy() = default;
  virtual Status Choose(const ShiftContext& context, ShiftDecision* decision) = 0;
};

// The default policy's ladder rule (docs/SHIFTER.md), one place for the
// policy, `gearshift bench` and `rt.gear_costs`: for gears in precision order
// with these predicted latencies (NaN: unknown, always kept), element i is
// the index of the more precise kept gear that gear i is not 5% faster than
// (gear i is dominated: the policy never takes it), or -1 (kept).
std::vector<int> DominatedBy(const std::vector<double>& predicted_ms);

// The default policy (docs/SHIFTER.md). Stateful: battery level and thermal
// step with their hysteresis.
class DefaultShiftPolicy : public ShiftPolicy {
 public:
  Status Choose(const ShiftContext& context, ShiftDecision* decision) override;

 private:
  int battery_level_ = 0;  // 0..thresholds.size() + 1 (the last = floor)
  int thermal_steps_ = 0;
  double last_thermal_change_s_ = -1e300;
};

// One decision and, once observed, its run.
struct ShiftLogEntry {
  double time_s = 0;
  std::string gear;
  std::string reason;
  bool switched = false;   // the gear differs from the previous entry's
  double latency_ms = -1;  // -1 until observed
  PowerState power;
  std::optional<double> energy_j;  // power_w * latency where power is known
};

struct GearStats {
  std::string gear;
  int64_t runs = 0;          // observed runs (probes and seeds not counted)
  double ewma_ms = -1;       // EWMA of the measured latency; -1 when never run
  double base_ms = -1;       // seed: probe median, benchmark or first run
  double predicted_ms = -1;  // base_ms * load; -1 when unknown
  int64_t energy_runs = 0;   // runs with a known power
  double energy_j_total = 0;
  // Mean joules per inference, or -1 when no run had a known power.
  double energy_j_mean() const { return energy_runs ? energy_j_total / energy_runs : -1; }
};

class ShiftController {
 public:
  // gears: most precise first (Runtime::gears()). Checks the options.
  static Status Create(std::vector<std::string> gears, const ShifterOptions& options,
                       std::unique_ptr<ShiftController>* out);

  // nullptr restores the default policy.
  void SetPolicy(std::unique_ptr<ShiftPolicy> policy);

  // Seeds a gear's latency (a probe or a benchmark) without logging a run.
  Status Seed(const std::string& gear, double latency_ms);
  // Seeds from `gearshift bench --json` output: gears.<name>.latency_ms.median.
  // Gears the file lacks stay unseeded; unknown ones are ignored.
  Status SeedFromBenchmark(const std::string& json_text);
  // Gears without a latency yet (a probe's to-do list).
  std::vector<std::string> Unseeded() const;

  // Chooses the gear for the next run at time now_s (seconds, any epoch,
  // non-decreasing) and appends a log entry for it.
  Status Decide(double now_s, const PowerState& power, ShiftDecision* decision);
  // Reports the latency of the run Decide prepared: updates the gear's
  // average and the load factor, and completes the log entry.
  Status Observe(double latency_ms);
  // A run outside Decide/Observe (a probe): updates the averages only.
  Status Measure(const std::string& gear, double latency_ms);

  // Predicted latency of every gear (NaN while unknown), and the context the
  // policy would see now.
  std::vector<double> Predicted() const;
  ShiftContext Context(double now_s, const PowerState& power) const;

  const std::vector<std::string>& gears() const { return gears_; }
  // The current gear, "" before the first Decide.
  std::string current() const { return current_ < 0 ? "" : gears_[current_]; }
  double load() const { return load_; }
  std::vector<GearStats> stats() const;
  const std::deque<ShiftLogEntry>& log() const { return log_; }
  void ClearLog() { log_.clear(); }
  const ShifterOptions& options() const { return options_; }

 private:
  ShiftController() = default;
  int Index(const std::string& gear) const;
  void Update(int gear, double latency_ms, const PowerState* power);

  std::vector<std::string> gears_;
  ShifterOptions options_;
  std::unique_ptr<ShiftPolicy> policy_;
  std::vector<GearStats> stats_;
  double load_ = 1.0;  // EWMA of measured / base: how loaded the board is
  int current_ = -1;
  double last_switch_s_ = 0;
  bool pending_ = false;  // Decide called, Observe not yet
  std::deque<ShiftLogEntry> log_;
};

class Shifter {
 public:
  using Clock = std::function<double()>;  // seconds
  using WarningHandler = std::function<void(const std::string&)>;

  // runtime: not owned, must outlive the Shifter. power: may be null (latency
  // alone). clock: nullptr = steady_clock. Warnings (a source that cannot be
  // read, once) go to on_warning, by default to stderr.
  static Status Create(Runtime* runtime, const ShifterOptions& options,
                       std::unique_ptr<PowerSource> power, Clock clock,
                       std::unique_ptr<Shifter>* out, WarningHandler on_warning = nullptr);

  // Prepares the runtime for input_shapes, picks the gear, runs it into
  // outputs and records the run. The first call probes the unseeded gears
  // with these inputs (probe_runs + 1 runs per gear into `outputs`).
  Status Run(const std::vector<Shape>& input_shapes, const void* const* inputs,
             void* const* outputs);

  ShiftController& controller() { return *controller_; }
  const ShiftController& controller() const { return *controller_; }
  // The last power state read (empty when none).
  const PowerState& power_state() const { return power_state_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  Shifter() = default;
  void ReadPower(double now_s);
  Status Probe(const void* const* inputs, void* const* outputs);

  Runtime* runtime_ = nullptr;
  std::unique_ptr<ShiftController> controller_;
  std::unique_ptr<PowerSource> power_;
  Clock clock_;
  WarningHandler on_warning_;
  PowerState power_state_;
  double last_power_read_s_ = 0;
  bool power_read_once_ = false;
  bool power_warned_ = false;
  bool probed_ = false;
  std::vector<std::string> warnings_;
};

}  // namespace gearshift

#endif  // GEARSHIFT_SHIFTER_H_
