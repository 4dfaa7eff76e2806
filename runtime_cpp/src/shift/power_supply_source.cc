// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Linux class/power_supply: every battery-like supply (type Battery or UPS,
// except peripherals' batteries, scope Device) contributes its charge and
// power draw; Mains/USB/Wireless supplies contribute `online`. The kernel's
// units are fixed by Documentation/ABI/testing/sysfs-class-power: capacity
// in %, power_now in µW, current_now in µA, voltage_now in µV, energy_* in
// µWh, charge_* in µAh. Some drivers report a negative current or power while
// discharging; only the magnitude is used.
#include <algorithm>
#include <cmath>

#include "gearshift/power.h"
#include "shift/sysfs.h"

namespace gearshift {
namespace {

struct Battery {
  std::optional<double> charge_pct;
  std::optional<double> full;  // energy_full or charge_full: weights the mean
  std::optional<double> power_w;
  std::optional<std::string> status;
};

std::optional<double> ReadNumber(const std::string& dir, const char* name) {
  const std::optional<int64_t> v = sysfs::ReadInt(sysfs::Join(dir, name));
  if (!v) return std::nullopt;
  return static_cast<double>(*v);
}

// Charge in %, from capacity or else the energy or charge counters.
std::optional<double> ReadCharge(const std::string& dir, std::optional<double>* full) {
  for (const char* kind : {"energy", "charge"}) {
    const std::string k = kind;
    const auto now = ReadNumber(dir, (k + "_now").c_str());
    const auto f = ReadNumber(dir, (k + "_full").c_str());
    if (f && *f > 0) {
      *full = f;
      if (!ReadNumber(dir, "capacity") && now && *now >= 0) {
        return std::min(100.0, 100.0 * *now / *f);
      }
      break;
    }
  }
  const auto capacity = ReadNumber(dir, "capacity");
  if (capacity && *capacity >= 0 && *capacity <= 100) return capacity;
  return std::nullopt;
}

std::optional<double> ReadPower(const std::string& dir) {
  if (const auto p = ReadNumber(dir, "power_now")) return std::fabs(*p) * 1e-6;
  const auto i = ReadNumber(dir, "current_now");
  const auto v = ReadNumber(dir, "voltage_now");
  if (i && v) return std::fabs(*i) * 1e-6 * std::fabs(*v) * 1e-6;
  return std::nullopt;
}

}  // namespace

Status PowerSupplySource::Read(PowerState* state) {
  *state = PowerState();
  const std::string dir = sysfs::Join(root_, "class/power_supply");
  const std::vector<std::string> names = sysfs::List(dir);
  if (names.empty()) return Status(StatusCode::kNotFound, "no power supply under " + dir);

  std::vector<Battery> batteries;
  std::optional<bool> external_online;  // any Mains/USB supply online
  for (const std::string& name : names) {
    const std::string sdir = sysfs::Join(dir, name);
    const std::optional<std::string> type = sysfs::ReadText(sysfs::Join(sdir, "type"));
    if (!type) continue;
    if (*type == "Battery" || *type == "UPS") {
      const auto scope = sysfs::ReadText(sysfs::Join(sdir, "scope"));
      if (scope && *scope == "Device") continue;  // a mouse's or a pen's battery
      if (const auto present = sysfs::ReadInt(sysfs::Join(sdir, "present"))) {
        if (*present == 0) continue;  // an empty battery bay
      }
      Battery b;
      b.charge_pct = ReadCharge(sdir, &b.full);
      b.power_w = ReadPower(sdir);
      b.status = sysfs::ReadText(sysfs::Join(sdir, "status"));
      batteries.push_back(b);
    } else if (*type == "Mains" || *type == "USB" || *type == "Wireless") {
      const std::optional<int64_t> online = sysfs::ReadInt(sysfs::Join(sdir, "online"));
      if (online && (*online == 0 || *online == 1)) {
        external_online = external_online.value_or(false) || *online == 1;
      }
    }
  }

  // Charge: the mean over batteries, weighted by their full capacity when
  // every one reports it (a laptop with two packs).
  double weighted = 0, weights = 0;
  bool all_weighted = true;
  for (const Battery& b : batteries) {
    if (b.charge_pct && !b.full) all_weighted = false;
  }
  for (const Battery& b : batteries) {
    if (!b.charge_pct) continue;
    const double w = all_weighted ? *b.full : 1.0;
    weighted += *b.charge_pct * w;
    weights += w;
  }
  if (weights > 0) state->charge_pct = weighted / weights;

  for (const Battery& b : batteries) {
    if (b.power_w) state->power_w = state->power_w.value_or(0.0) + *b.power_w;
  }

  // On external power, precision comes first even when the battery is full
  // or held at a charge limit ("Not charging"), so any online supply counts.
  std::optional<bool> charging = external_online;
  for (const Battery& b : batteries) {
    if (!b.status) continue;
    if (*b.status == "Charging" || *b.status == "Full") {
      charging = true;
    } else if (*b.status == "Discharging" && !charging.has_value()) {
      charging = false;
    }
  }
  state->charging = charging;

  if (state->empty()) {
    return Status(StatusCode::kIoError, "no readable battery or supply attribute under " + dir);
  }
  return Status::Ok();
}

std::string PowerSupplySource::Describe() const { return "power_supply(" + root_ + ")"; }

}  // namespace gearshift
