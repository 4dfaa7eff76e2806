// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Thermal zones: class/thermal/thermal_zone*/temp holds millidegrees Celsius
// and `type` the zone's name (cpu-thermal, GPU-therm, x86_pkg_temp...). The
// shifter wants to shift down before the SoC throttles, so the hottest zone
// is reported, or the hottest of the zones named zone_type. Readings outside
// [-60, 200] °C (disabled zones report -273 or absurd values) are ignored.
#include <algorithm>

#include "gearshift/power.h"
#include "shift/sysfs.h"

namespace gearshift {

Status ThermalSource::Read(PowerState* state) {
  *state = PowerState();
  const std::string dir = sysfs::Join(root_, "class/thermal");
  const std::vector<std::string> zones = sysfs::List(dir, "thermal_zone");
  if (zones.empty()) return Status(StatusCode::kNotFound, "no thermal zone under " + dir);
  std::optional<double> hottest;
  for (const std::string& zone : zones) {
    const std::string zdir = sysfs::Join(dir, zone);
    if (!zone_type_.empty()) {
      const std::optional<std::string> type = sysfs::ReadText(sysfs::Join(zdir, "type"));
      if (!type || *type != zone_type_) continue;
    }
    const std::optional<int64_t> milli = sysfs::ReadInt(sysfs::Join(zdir, "temp"));
    if (!milli) continue;
    const double c = static_cast<double>(*milli) / 1000.0;
    if (c < -60.0 || c > 200.0) continue;
    hottest = hottest ? std::max(*hottest, c) : c;
  }
  if (!hottest) {
    return Status(StatusCode::kIoError, "no readable thermal zone temperature under " + dir +
                                            (zone_type_.empty() ? "" : " of type " + zone_type_));
  }
  state->temp_c = hottest;
  return Status::Ok();
}

std::string ThermalSource::Describe() const {
  return "thermal(" + root_ + (zone_type_.empty() ? "" : ", " + zone_type_) + ")";
}

}  // namespace gearshift
