// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Power and thermal sources: what the shifter knows about the board's battery,
// power draw and temperature. Each source reads one kind of Linux sysfs tree
// (power_supply, Jetson INA3221 monitors, the Raspberry Pi firmware's
// get_throttled, thermal zones) under a `root` (default "/sys") so that tests
// can point it at a fake tree. A source never throws and never blocks
// inference: a missing file, a garbage value or a permission error leaves
// that field unset, and Read returns a non-ok Status only when it could read
// nothing at all, so the caller can log it once and fall back to latency
// alone. See docs/POWER.md for the files, units and fallbacks.
#ifndef GEARSHIFT_POWER_H_
#define GEARSHIFT_POWER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gearshift/status.h"

namespace gearshift {

// One reading. Every field is unset where unknown.
struct PowerState {
  std::optional<double> charge_pct;   // battery charge, 0..100
  std::optional<double> power_w;      // power drawn (battery or board input), W
  std::optional<double> temp_c;       // hottest (or selected) thermal zone, °C
  std::optional<bool> charging;       // on external power (mains/USB) or charging
  std::optional<bool> throttled;      // the SoC is throttled or frequency capped now
  std::optional<bool> under_voltage;  // supply voltage too low now (Raspberry Pi)

  // Fills every unset field of *this from `other` (first non-null wins).
  void MergeFrom(const PowerState& other);
  // True when no field is set.
  bool empty() const;
};

class PowerSource {
 public:
  virtual ~PowerSource() = default;
  // Reads the current state into *state (fields it cannot read stay unset).
  // Returns a non-ok Status (kNotFound or kIoError) only when nothing could
  // be read; *state is then left empty.
  virtual Status Read(PowerState* state) = 0;
  // Short human-readable name, e.g. "power_supply(/sys)".
  virtual std::string Describe() const = 0;
};

// /sys/class/power_supply/*: batteries and UPSes (capacity, status,
// power_now or current_now x voltage_now) and Mains/USB supplies (online).
class PowerSupplySource : public PowerSource {
 public:
  explicit PowerSupplySource(std::string root = "/sys") : root_(std::move(root)) {}
  Status Read(PowerState* state) override;
  std::string Describe() const override;

 private:
  std::string root_;
};

// NVIDIA Jetson INA3221 rail monitors, hwmon layout
// (bus/i2c/drivers/ina3221*/*/hwmon/hwmon*/in{1,2,3}_input mV, curr{1,2,3}_input
// mA, in{N}_label) or the older iio layout
// (bus/i2c/devices/*/iio:device*/in_power{0,1,2}_input mW, rail_name_{N}).
// Reports the VDD_IN / POM_5V_IN total rail when labelled, else the rails' sum.
class JetsonPowerSource : public PowerSource {
 public:
  explicit JetsonPowerSource(std::string root = "/sys") : root_(std::move(root)) {}
  Status Read(PowerState* state) override;
  std::string Describe() const override;
  // True when either layout exists under `root`.
  static bool Present(const std::string& root);

 private:
  std::string root_;
};

// Raspberry Pi firmware throttling flags: the get_throttled bit mask (hex),
// read from sysfs (devices/platform/soc/soc:firmware/get_throttled) or, where
// that file is absent, from `vcgencmd get_throttled` ("throttled=0x50005").
// throttled = bit 1 (arm frequency capped), 2 (throttled) or 3 (soft
// temperature limit) set now; under_voltage = bit 0. Newer kernels without
// get_throttled still give under-voltage through raspberrypi-hwmon's
// in0_lcrit_alarm.
class RpiThrottleSource : public PowerSource {
 public:
  // Runs a command and returns its standard output, or nullopt when it could
  // not run. Injectable so that tests need no vcgencmd.
  using CommandRunner = std::function<std::optional<std::string>(const std::string& command)>;

  // runner: nullptr = run vcgencmd if root is "/sys" and an executable
  // vcgencmd is on $PATH (a fake tree is never mixed with the real board).
  explicit RpiThrottleSource(std::string root = "/sys", CommandRunner runner = nullptr);
  Status Read(PowerState* state) override;
  std::string Describe() const override;
  // The get_throttled path under `root`, or "" when there is none.
  static std::string Find(const std::string& root);
  // The hwmon under-voltage alarm under `root`, or "" when there is none.
  static std::string FindUnderVoltageAlarm(const std::string& root);
  // True when `vcgencmd` is an executable file in a $PATH directory.
  static bool HasVcgencmd();
  // Decodes a get_throttled value ("0x50005", "50005" or "throttled=0x50005").
  static bool Decode(const std::string& text, PowerState* state);

 private:
  std::string root_;
  CommandRunner runner_;
};

// class/thermal/thermal_zone*/temp (millidegrees C): the hottest zone, or the
// hottest zone whose `type` equals zone_type when one is given.
class ThermalSource : public PowerSource {
 public:
  explicit ThermalSource(std::string root = "/sys", std::string zone_type = "")
      : root_(std::move(root)), zone_type_(std::move(zone_type)) {}
  Status Read(PowerState* state) override;
  std::string Describe() const override;

 private:
  std::string root_;
  std::string zone_type_;
};

// The application knows its battery: a function returning the state.
class CallbackSource : public PowerSource {
 public:
  explicit CallbackSource(std::function<PowerState()> fn) : fn_(std::move(fn)) {}
  Status Read(PowerState* state) override;
  std::string Describe() const override { return "callback"; }

 private:
  std::function<PowerState()> fn_;
};

// Plays a CSV trace with the header `time_s,charge_pct,charging,temp_c`
// (charging 0 or 1, temp_c may be empty, time_s non-decreasing; blank lines
// and lines starting with '#' are skipped). Read returns the state at trace
// time rows[0].time_s + (clock() - start) * speed, where start is the clock at
// Load: the last row at or before that time (the first row before the trace
// starts, the last row after it ends). speed 60 plays an hour in a minute.
class TraceSource : public PowerSource {
 public:
  // Seconds, any epoch; the default is std::chrono::steady_clock.
  using Clock = std::function<double()>;
  struct Row {
    double time_s;
    double charge_pct;
    bool charging;
    std::optional<double> temp_c;
  };

  // Parses `path`; errors name the line ("trace.csv:3: ...").
  static Status Load(const std::string& path, double speed, Clock clock,
                     std::unique_ptr<TraceSource>* out);
  // Parses CSV text; `name` prefixes error messages.
  static Status Parse(const std::string& text, const std::string& name, std::vector<Row>* rows);

  Status Read(PowerState* state) override;
  std::string Describe() const override { return "trace(" + path_ + ")"; }
  // The state at trace time t, on the CSV's own time axis.
  PowerState StateAt(double t) const;
  // Trace time now (rows[0].time_s + elapsed clock seconds * speed).
  double Now() const;
  double duration_s() const { return rows_.back().time_s - rows_.front().time_s; }
  const std::vector<Row>& rows() const { return rows_; }

 private:
  TraceSource() = default;
  std::string path_;
  std::vector<Row> rows_;
  double speed_ = 1.0;
  Clock clock_;
  double start_ = 0.0;
};

// Several sources merged: per field, the first source that reports it wins.
class CompositeSource : public PowerSource {
 public:
  CompositeSource() = default;
  void Add(std::unique_ptr<PowerSource> source) { sources_.push_back(std::move(source)); }
  size_t size() const { return sources_.size(); }
  // Ok when any source read something; else the sources' messages joined.
  Status Read(PowerState* state) override;
  std::string Describe() const override;

 private:
  std::vector<std::unique_ptr<PowerSource>> sources_;
};

// The sources whose sysfs files exist under `root`, in the order
// power_supply, Jetson, Raspberry Pi, thermal. May be empty (Read then
// returns kNotFound).
std::unique_ptr<CompositeSource> AutoDetect(const std::string& root = "/sys");

}  // namespace gearshift

#endif  // GEARSHIFT_POWER_H_
