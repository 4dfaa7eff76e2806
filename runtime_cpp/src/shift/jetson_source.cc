// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// NVIDIA Jetson on-board INA3221 power monitors (three rails per chip, one to
// three chips per module). Two sysfs layouts exist:
//   hwmon (JetPack 5+, mainline ina3221 driver):
//     bus/i2c/drivers/ina3221/<dev>/hwmon/hwmon*/in{1,2,3}_label   rail name
//                                               in{N}_input        mV (bus)
//                                               curr{N}_input      mA
//                                               in{N}_enable       0 = off
//   iio (JetPack 4, ina3221x driver):
//     bus/i2c/drivers/ina3221x/<dev>/iio:device*/rail_name_{0,1,2}
//                                               in_power{N}_input   mW
//                                               in_voltage{N}_input mV
//                                               in_current{N}_input mA
//   (the iio devices are also reached through bus/i2c/devices/<dev>/).
// The module's input rail (VDD_IN on Orin/Xavier/TX2, POM_5V_IN on Nano) is
// the whole board's draw, so it is reported when labelled; otherwise the sum
// of the rails (which then misses what no monitor sees).
#include <algorithm>
#include <set>

#include "gearshift/power.h"
#include "shift/sysfs.h"

namespace gearshift {
namespace {

struct Rail {
  std::string name;
  double watts;
};

bool IsTotalRail(const std::string& name) {
  return name == "VDD_IN" || name == "POM_5V_IN" || name == "VIN_SYS_5V0";
}

std::optional<double> ReadNumber(const std::string& path) {
  const std::optional<int64_t> v = sysfs::ReadInt(path);
  if (!v) return std::nullopt;
  return static_cast<double>(*v);
}

// Device folders of INA3221 chips: bus/i2c/drivers/ina3221*/<dev>/ and, for
// iio, bus/i2c/devices/<dev>/ (symlinks to the same device, deduplicated by
// the rails found below only where the drivers folder is absent).
std::vector<std::string> DeviceDirs(const std::string& root) {
  std::vector<std::string> dirs;
  const std::string drivers = sysfs::Join(root, "bus/i2c/drivers");
  for (const std::string& driver : sysfs::List(drivers, "ina3221")) {
    const std::string ddir = sysfs::Join(drivers, driver);
    for (const std::string& dev : sysfs::List(ddir)) {
      const std::string path = sysfs::Join(ddir, dev);
      // Skip the driver's own attributes (bind, unbind, uevent, module).
      if (dev != "module" && sysfs::IsDir(path)) dirs.push_back(path);
    }
  }
  if (dirs.empty()) {
    const std::string devices = sysfs::Join(root, "bus/i2c/devices");
    for (const std::string& dev : sysfs::List(devices)) {
      const std::string path = sysfs::Join(devices, dev);
      if (!sysfs::List(path, "iio:device").empty()) dirs.push_back(path);
    }
  }
  return dirs;
}

void ReadHwmon(const std::string& hdir, std::vector<Rail>* rails) {
  for (int ch = 1; ch <= 3; ++ch) {
    const std::string n = std::to_string(ch);
    if (const auto enable = sysfs::ReadInt(sysfs::Join(hdir, "in" + n + "_enable"))) {
      if (*enable == 0) continue;
    }
    const auto mv = ReadNumber(sysfs::Join(hdir, "in" + n + "_input"));
    const auto ma = ReadNumber(sysfs::Join(hdir, "curr" + n + "_input"));
    if (!mv || !ma || *mv < 0) continue;
    const auto label = sysfs::ReadText(sysfs::Join(hdir, "in" + n + "_label"));
    rails->push_back({label.value_or("in" + n), *mv * std::max(0.0, *ma) * 1e-6});
  }
}

void ReadIio(const std::string& idir, std::vector<Rail>* rails) {
  for (int ch = 0; ch <= 2; ++ch) {
    const std::string n = std::to_string(ch);
    std::optional<double> watts;
    if (const auto mw = ReadNumber(sysfs::Join(idir, "in_power" + n + "_input"))) {
      if (*mw >= 0) watts = *mw * 1e-3;
    }
    if (!watts) {
      const auto mv = ReadNumber(sysfs::Join(idir, "in_voltage" + n + "_input"));
      const auto ma = ReadNumber(sysfs::Join(idir, "in_current" + n + "_input"));
      if (mv && ma && *mv >= 0 && *ma >= 0) watts = *mv * *ma * 1e-6;
    }
    if (!watts) continue;
    const auto label = sysfs::ReadText(sysfs::Join(idir, "rail_name_" + n));
    rails->push_back({label.value_or("rail" + n), *watts});
  }
}

std::vector<Rail> ReadRails(const std::string& root, bool* found) {
  std::vector<Rail> rails;
  *found = false;
  std::set<std::string> seen;  // the same iio device via two paths counts once
  for (const std::string& dev : DeviceDirs(root)) {
    const std::string hwmon = sysfs::Join(dev, "hwmon");
    for (const std::string& h : sysfs::List(hwmon, "hwmon")) {
      *found = true;
      ReadHwmon(sysfs::Join(hwmon, h), &rails);
    }
    for (const std::string& i : sysfs::List(dev, "iio:device")) {
      *found = true;
      if (!seen.insert(i).second) continue;
      ReadIio(sysfs::Join(dev, i), &rails);
    }
  }
  return rails;
}

}  // namespace

bool JetsonPowerSource::Present(const std::string& root) {
  bool found = false;
  ReadRails(root, &found);
  return found;
}

Status JetsonPowerSource::Read(PowerState* state) {
  *state = PowerState();
  bool found = false;
  const std::vector<Rail> rails = ReadRails(root_, &found);
  if (!found) {
    return Status(StatusCode::kNotFound, "no INA3221 power monitor under " + root_);
  }
  if (rails.empty()) {
    return Status(StatusCode::kIoError, "no readable INA3221 rail under " + root_);
  }
  double sum = 0;
  for (const Rail& r : rails) {
    if (IsTotalRail(r.name)) {
      state->power_w = r.watts;
      return Status::Ok();
    }
    sum += r.watts;
  }
  state->power_w = sum;
  return Status::Ok();
}

std::string JetsonPowerSource::Describe() const { return "jetson_ina3221(" + root_ + ")"; }

}  // namespace gearshift
