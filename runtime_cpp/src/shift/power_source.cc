// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The source plumbing shared by every board: merging readings, the callback
// source, the composite (first non-null per field) and auto-detection, which
// adds a sysfs source only where its files exist so that a plain PC or a
// container does not report four failures.
#include <utility>

#include "gearshift/power.h"
#include "shift/sysfs.h"

namespace gearshift {
namespace {

template <typename T>
void Fill(std::optional<T>* dst, const std::optional<T>& src) {
  if (!dst->has_value() && src.has_value()) *dst = src;
}

bool HasPowerSupply(const std::string& root) {
  const std::string dir = sysfs::Join(root, "class/power_supply");
  for (const std::string& name : sysfs::List(dir)) {
    if (sysfs::Exists(sysfs::Join(sysfs::Join(dir, name), "type"))) return true;
  }
  return false;
}

bool HasThermalZone(const std::string& root) {
  const std::string dir = sysfs::Join(root, "class/thermal");
  for (const std::string& name : sysfs::List(dir, "thermal_zone")) {
    if (sysfs::Exists(sysfs::Join(sysfs::Join(dir, name), "temp"))) return true;
  }
  return false;
}

}  // namespace

void PowerState::MergeFrom(const PowerState& other) {
  Fill(&charge_pct, other.charge_pct);
  Fill(&power_w, other.power_w);
  Fill(&temp_c, other.temp_c);
  Fill(&charging, other.charging);
  Fill(&throttled, other.throttled);
  Fill(&under_voltage, other.under_voltage);
}

bool PowerState::empty() const {
  return !charge_pct && !power_w && !temp_c && !charging && !throttled && !under_voltage;
}

Status CallbackSource::Read(PowerState* state) {
  *state = PowerState();
  if (!fn_) return Status(StatusCode::kNotFound, "callback source: no function");
  *state = fn_();
  return Status::Ok();
}

Status CompositeSource::Read(PowerState* state) {
  *state = PowerState();
  if (sources_.empty()) {
    return Status(StatusCode::kNotFound, "no power or thermal source found");
  }
  bool any_ok = false;
  std::string errors;
  for (const auto& source : sources_) {
    PowerState one;
    const Status s = source->Read(&one);
    if (s.ok()) {
      any_ok = true;
      state->MergeFrom(one);
    } else {
      if (!errors.empty()) errors += "; ";
      errors += s.message();
    }
  }
  if (!any_ok) return Status(StatusCode::kNotFound, errors);
  return Status::Ok();
}

std::string CompositeSource::Describe() const {
  std::string out = "composite[";
  for (size_t i = 0; i < sources_.size(); ++i) {
    if (i) out += ", ";
    out += sources_[i]->Describe();
  }
  return out + "]";
}

std::unique_ptr<CompositeSource> AutoDetect(const std::string& root) {
  auto composite = std::make_unique<CompositeSource>();
  if (HasPowerSupply(root)) composite->Add(std::make_unique<PowerSupplySource>(root));
  if (JetsonPowerSource::Present(root)) composite->Add(std::make_unique<JetsonPowerSource>(root));
  if (!RpiThrottleSource::Find(root).empty() ||
      !RpiThrottleSource::FindUnderVoltageAlarm(root).empty() ||
      (root == "/sys" && RpiThrottleSource::HasVcgencmd())) {
    composite->Add(std::make_unique<RpiThrottleSource>(root));
  }
  if (HasThermalZone(root)) composite->Add(std::make_unique<ThermalSource>(root));
  return composite;
}

}  // namespace gearshift
