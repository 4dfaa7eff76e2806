// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Power and thermal sources against fake sysfs trees (tests/cpp/fake_sysfs.h)
// laid out as the kernel does: power_supply batteries and mains, Jetson
// INA3221 in its hwmon and iio layouts, the Raspberry Pi's get_throttled (and
// vcgencmd through an injected runner), thermal zones, traces with a fake
// clock, the composite and AutoDetect. Each layout is also tried with missing
// files, garbage values, a folder in place of a file and (not as root, where
// it cannot fail) unreadable files.
#include <gtest/gtest.h>

#include <string>

#include "fake_sysfs.h"
#include "gearshift/power.h"

namespace gearshift {
namespace {

using testing::FakeSysfs;
using testing::RunningAsRoot;

constexpr const char* kBat = "class/power_supply/BAT0/";
constexpr const char* kAc = "class/power_supply/AC/";

void WriteBattery(const FakeSysfs& fs, const std::string& dir, const std::string& capacity,
                  const std::string& status) {
  fs.Write(dir + "type", "Battery");
  fs.Write(dir + "present", "1");
  fs.Write(dir + "capacity", capacity);
  fs.Write(dir + "status", status);
}

// ---- power_supply -----------------------------------------------------------

TEST(PowerSupply, BatteryWithPowerNow) {
  FakeSysfs fs;
  WriteBattery(fs, kBat, "57", "Discharging");
  fs.Write(std::string(kBat) + "power_now", "7250000");  // µW
  PowerState s;
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.charge_pct, 57);
  EXPECT_DOUBLE_EQ(*s.power_w, 7.25);
  EXPECT_FALSE(*s.charging);
  EXPECT_FALSE(s.temp_c.has_value());
  EXPECT_FALSE(s.throttled.has_value());
}

TEST(PowerSupply, CurrentTimesVoltageAndNegativeCurrent) {
  FakeSysfs fs;
  WriteBattery(fs, kBat, "80", "Discharging");
  fs.Write(std::string(kBat) + "current_now", "-1500000");  // µA, negative while discharging
  fs.Write(std::string(kBat) + "voltage_now", "4000000");   // µV
  PowerState s;
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.power_w, 6.0);
}

TEST(PowerSupply, EnergyCountersWhenNoCapacity) {
  FakeSysfs fs;
  fs.Write(std::string(kBat) + "type", "Battery");
  fs.Write(std::string(kBat) + "energy_now", "25000000");   // µWh
  fs.Write(std::string(kBat) + "energy_full", "50000000");  // µWh
  fs.Write(std::string(kBat) + "status", "Charging");
  PowerState s;
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.charge_pct, 50);
  EXPECT_TRUE(*s.charging);
}

TEST(PowerSupply, MainsOnlineCountsAsCharging) {
  FakeSysfs fs;
  WriteBattery(fs, kBat, "80", "Not charging");  // held at a charge limit
  fs.Write(std::string(kAc) + "type", "Mains");
  fs.Write(std::string(kAc) + "online", "1");
  PowerState s;
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_TRUE(*s.charging);
  fs.Write(std::string(kAc) + "online", "0");
  fs.Write(std::string(kBat) + "status", "Discharging");
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_FALSE(*s.charging);
}

TEST(PowerSupply, MainsOnlyDesktop) {
  FakeSysfs fs;
  fs.Write(std::string(kAc) + "type", "Mains");
  fs.Write(std::string(kAc) + "online", "1");
  PowerState s;
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_TRUE(*s.charging);
  EXPECT_FALSE(s.charge_pct.has_value());
}

TEST(PowerSupply, TwoBatteriesWeightedByFullCapacity) {
  FakeSysfs fs;
  WriteBattery(fs, "class/power_supply/BAT0/", "100", "Discharging");
  fs.Write("class/power_supply/BAT0/energy_full", "30000000");
  WriteBattery(fs, "class/power_supply/BAT1/", "20", "Discharging");
  fs.Write("class/power_supply/BAT1/energy_full", "10000000");
  PowerState s;
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.charge_pct, 80);  // (100*30 + 20*10) / 40
}

TEST(PowerSupply, PeripheralAndAbsentBatteriesIgnored) {
  FakeSysfs fs;
  WriteBattery(fs, "class/power_supply/hid-mouse/", "5", "Discharging");
  fs.Write("class/power_supply/hid-mouse/scope", "Device");
  WriteBattery(fs, "class/power_supply/BAT1/", "3", "Unknown");
  fs.Write("class/power_supply/BAT1/present", "0");
  WriteBattery(fs, kBat, "90", "Discharging");
  PowerState s;
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.charge_pct, 90);
}

TEST(PowerSupply, GarbageValuesLeaveFieldsUnset) {
  FakeSysfs fs;
  WriteBattery(fs, kBat, "fifty", "Discharging");
  fs.Write(std::string(kBat) + "power_now", "12abc");
  fs.Write(std::string(kAc) + "type", "Mains");
  fs.Write(std::string(kAc) + "online", "2");
  PowerState s;
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_FALSE(s.charge_pct.has_value());
  EXPECT_FALSE(s.power_w.has_value());
  EXPECT_FALSE(*s.charging);  // from the status; the garbage `online` is ignored

  fs.Write(std::string(kBat) + "capacity", "250");  // out of range
  fs.Write(std::string(kBat) + "status", "Sideways");
  fs.Write(std::string(kBat) + "power_now", "");
  ASSERT_FALSE(PowerSupplySource(fs.root()).Read(&s).ok());  // nothing usable left
  EXPECT_TRUE(s.empty());
}

TEST(PowerSupply, MissingTreeAndEmptyFolders) {
  FakeSysfs fs;
  PowerState s;
  Status st = PowerSupplySource(fs.root()).Read(&s);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  fs.MakeDirs("class/power_supply/BAT0");  // a supply without any attribute
  st = PowerSupplySource(fs.root()).Read(&s);
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(PowerSupplySource(fs.root() + "/nope").Read(&s).code(), StatusCode::kNotFound);
}

TEST(PowerSupply, FolderInPlaceOfAFile) {
  FakeSysfs fs;
  WriteBattery(fs, kBat, "40", "Discharging");
  fs.Remove(std::string(kBat) + "capacity");
  fs.MakeDirs(std::string(kBat) + "capacity");  // read(2) fails with EISDIR
  PowerState s;
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_FALSE(s.charge_pct.has_value());
  EXPECT_FALSE(*s.charging);
}

TEST(PowerSupply, UnreadableFiles) {
  if (RunningAsRoot()) GTEST_SKIP() << "chmod 000 does not stop root";
  FakeSysfs fs;
  WriteBattery(fs, kBat, "40", "Discharging");
  fs.Chmod(std::string(kBat) + "capacity", 0);
  PowerState s;
  ASSERT_TRUE(PowerSupplySource(fs.root()).Read(&s).ok());
  EXPECT_FALSE(s.charge_pct.has_value());
  fs.Chmod(std::string(kBat) + "status", 0);
  EXPECT_EQ(PowerSupplySource(fs.root()).Read(&s).code(), StatusCode::kIoError);
}

// ---- Jetson INA3221 ----------------------------------------------------------

constexpr const char* kHwmon = "bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3/";

void WriteHwmonRail(const FakeSysfs& fs, int ch, const std::string& label, int mv, int ma) {
  const std::string n = std::to_string(ch);
  fs.Write(std::string(kHwmon) + "in" + n + "_label", label);
  fs.Write(std::string(kHwmon) + "in" + n + "_input", std::to_string(mv));
  fs.Write(std::string(kHwmon) + "curr" + n + "_input", std::to_string(ma));
}

TEST(PowerJetson, HwmonReportsTheInputRail) {
  FakeSysfs fs;
  fs.Write("bus/i2c/drivers/ina3221/bind", "");  // driver attributes are not devices
  WriteHwmonRail(fs, 1, "VDD_IN", 5000, 1200);   // 6 W: the whole module
  WriteHwmonRail(fs, 2, "VDD_CPU_GPU_CV", 5000, 400);
  WriteHwmonRail(fs, 3, "VDD_SOC", 5000, 300);
  EXPECT_TRUE(JetsonPowerSource::Present(fs.root()));
  PowerState s;
  ASSERT_TRUE(JetsonPowerSource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.power_w, 6.0);
  EXPECT_FALSE(s.charge_pct.has_value());
}

TEST(PowerJetson, HwmonSumsRailsWithoutAnInputRailAndSkipsDisabled) {
  FakeSysfs fs;
  WriteHwmonRail(fs, 1, "CPU", 5000, 200);  // 1 W
  WriteHwmonRail(fs, 2, "GPU", 5000, 100);  // 0.5 W
  WriteHwmonRail(fs, 3, "SOC", 5000, 999);
  fs.Write(std::string(kHwmon) + "in3_enable", "0");
  PowerState s;
  ASSERT_TRUE(JetsonPowerSource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.power_w, 1.5);
}

TEST(PowerJetson, HwmonGarbageAndMissing) {
  FakeSysfs fs;
  WriteHwmonRail(fs, 1, "VDD_IN", 5000, 1000);
  fs.Write(std::string(kHwmon) + "curr1_input", "n/a");
  WriteHwmonRail(fs, 2, "CPU", 5000, 200);
  fs.Remove(std::string(kHwmon) + "in2_input");
  WriteHwmonRail(fs, 3, "GPU", 4000, 250);  // the only readable one: 1 W
  PowerState s;
  ASSERT_TRUE(JetsonPowerSource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.power_w, 1.0);
  fs.Write(std::string(kHwmon) + "in3_input", "");
  EXPECT_EQ(JetsonPowerSource(fs.root()).Read(&s).code(), StatusCode::kIoError);
}

TEST(PowerJetson, IioLayoutPowerAndVoltageCurrent) {
  FakeSysfs fs;
  const std::string iio = "bus/i2c/drivers/ina3221x/6-0040/iio:device0/";
  fs.Write(iio + "rail_name_0", "VDD_CPU");
  fs.Write(iio + "in_power0_input", "1500");  // mW
  fs.Write(iio + "rail_name_1", "VDD_GPU");
  fs.Write(iio + "in_voltage1_input", "5000");  // mV
  fs.Write(iio + "in_current1_input", "100");   // mA
  PowerState s;
  ASSERT_TRUE(JetsonPowerSource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.power_w, 2.0);
  fs.Write(iio + "rail_name_2", "POM_5V_IN");
  fs.Write(iio + "in_power2_input", "4200");
  ASSERT_TRUE(JetsonPowerSource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.power_w, 4.2);
}

TEST(PowerJetson, IioThroughI2cDevices) {
  FakeSysfs fs;
  const std::string iio = "bus/i2c/devices/0-0041/iio:device1/";
  fs.Write(iio + "rail_name_0", "POM_5V_IN");
  fs.Write(iio + "in_power0_input", "3000");
  PowerState s;
  ASSERT_TRUE(JetsonPowerSource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.power_w, 3.0);
}

TEST(PowerJetson, AbsentOrUnreadable) {
  FakeSysfs fs;
  EXPECT_FALSE(JetsonPowerSource::Present(fs.root()));
  PowerState s;
  EXPECT_EQ(JetsonPowerSource(fs.root()).Read(&s).code(), StatusCode::kNotFound);
  if (RunningAsRoot()) return;  // chmod cannot hide files from root
  WriteHwmonRail(fs, 1, "VDD_IN", 5000, 1000);
  fs.Chmod(std::string(kHwmon) + "in1_input", 0);
  EXPECT_EQ(JetsonPowerSource(fs.root()).Read(&s).code(), StatusCode::kIoError);
}

// ---- Raspberry Pi --------------------------------------------------------------

constexpr const char* kThrottled = "devices/platform/soc/soc:firmware/get_throttled";

TEST(PowerRpi, SysfsFlags) {
  FakeSysfs fs;
  fs.Write(kThrottled, "50005");  // under-voltage now, throttled now, both since boot
  RpiThrottleSource::CommandRunner never = [](const std::string&) -> std::optional<std::string> {
    ADD_FAILURE() << "vcgencmd must not run when sysfs has the value";
    return std::nullopt;
  };
  PowerState s;
  ASSERT_TRUE(RpiThrottleSource(fs.root(), never).Read(&s).ok());
  EXPECT_TRUE(*s.under_voltage);
  EXPECT_TRUE(*s.throttled);
  fs.Write(kThrottled, "0x50000");  // only "has happened since boot"
  ASSERT_TRUE(RpiThrottleSource(fs.root(), never).Read(&s).ok());
  EXPECT_FALSE(*s.under_voltage);
  EXPECT_FALSE(*s.throttled);
  fs.Write(kThrottled, "8");  // soft temperature limit
  ASSERT_TRUE(RpiThrottleSource(fs.root(), never).Read(&s).ok());
  EXPECT_TRUE(*s.throttled);
  EXPECT_FALSE(*s.under_voltage);
}

TEST(PowerRpi, GarbageInSysfs) {
  FakeSysfs fs;
  fs.Write(kThrottled, "0xZZ");
  PowerState s;
  EXPECT_EQ(RpiThrottleSource(fs.root(), nullptr).Read(&s).code(), StatusCode::kIoError);
  EXPECT_TRUE(s.empty());
}

TEST(PowerRpi, VcgencmdThroughAnInjectedRunner) {
  FakeSysfs fs;
  std::string ran;
  auto runner = [&](const std::string& cmd) -> std::optional<std::string> {
    ran = cmd;
    return std::string("throttled=0x4\n");
  };
  PowerState s;
  ASSERT_TRUE(RpiThrottleSource(fs.root(), runner).Read(&s).ok());
  EXPECT_EQ(ran, "vcgencmd get_throttled");
  EXPECT_TRUE(*s.throttled);
  EXPECT_FALSE(*s.under_voltage);

  auto failing = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  EXPECT_EQ(RpiThrottleSource(fs.root(), failing).Read(&s).code(), StatusCode::kIoError);
  auto odd = [](const std::string&) -> std::optional<std::string> {
    return std::string("error=1 error_msg=\"Command not registered\"");
  };
  EXPECT_FALSE(RpiThrottleSource(fs.root(), odd).Read(&s).ok());
}

TEST(PowerRpi, NothingPresent) {
  FakeSysfs fs;
  PowerState s;
  // A fake root never falls back to the real vcgencmd.
  EXPECT_EQ(RpiThrottleSource(fs.root()).Read(&s).code(), StatusCode::kNotFound);
  EXPECT_EQ(RpiThrottleSource::Find(fs.root()), "");
}

TEST(PowerRpi, HwmonUnderVoltageAlarm) {
  FakeSysfs fs;
  fs.Write("devices/platform/soc/soc:firmware/raspberrypi-hwmon/hwmon/hwmon1/in0_lcrit_alarm", "1");
  PowerState s;
  ASSERT_TRUE(RpiThrottleSource(fs.root(), nullptr).Read(&s).ok());
  EXPECT_TRUE(*s.under_voltage);
  EXPECT_FALSE(s.throttled.has_value());
}

TEST(PowerRpi, Decode) {
  PowerState s;
  EXPECT_TRUE(RpiThrottleSource::Decode("throttled=0x0", &s));
  EXPECT_FALSE(*s.throttled);
  EXPECT_TRUE(RpiThrottleSource::Decode("0x2\n", &s));
  EXPECT_TRUE(*s.throttled);
  EXPECT_FALSE(RpiThrottleSource::Decode("", &s));
  EXPECT_FALSE(RpiThrottleSource::Decode("volts=0x1", &s));
  EXPECT_FALSE(RpiThrottleSource::Decode("-1", &s));
  EXPECT_FALSE(RpiThrottleSource::Decode("0x123456789ab", &s));
}

TEST(PowerRpi, UnreadableFile) {
  if (RunningAsRoot()) GTEST_SKIP() << "chmod 000 does not stop root";
  FakeSysfs fs;
  fs.Write(kThrottled, "0x0");
  fs.Chmod(kThrottled, 0);
  PowerState s;
  EXPECT_EQ(RpiThrottleSource(fs.root(), nullptr).Read(&s).code(), StatusCode::kIoError);
}

// ---- thermal ----------------------------------------------------------------------

TEST(PowerThermal, HottestZoneAndTypeFilter) {
  FakeSysfs fs;
  fs.Write("class/thermal/thermal_zone0/type", "cpu-thermal");
  fs.Write("class/thermal/thermal_zone0/temp", "61500");
  fs.Write("class/thermal/thermal_zone1/type", "gpu-thermal");
  fs.Write("class/thermal/thermal_zone1/temp", "70250");
  fs.Write("class/thermal/cooling_device0/type", "fan");  // not a zone
  PowerState s;
  ASSERT_TRUE(ThermalSource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.temp_c, 70.25);
  ASSERT_TRUE(ThermalSource(fs.root(), "cpu-thermal").Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.temp_c, 61.5);
  EXPECT_EQ(ThermalSource(fs.root(), "npu").Read(&s).code(), StatusCode::kIoError);
}

TEST(PowerThermal, GarbageDisabledAndMissing) {
  FakeSysfs fs;
  fs.Write("class/thermal/thermal_zone0/temp", "-273000");  // a disabled zone
  fs.Write("class/thermal/thermal_zone1/temp", "hot");
  fs.MakeDirs("class/thermal/thermal_zone2");  // no temp file
  fs.Write("class/thermal/thermal_zone3/temp", "45000");
  PowerState s;
  ASSERT_TRUE(ThermalSource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.temp_c, 45.0);
  fs.Remove("class/thermal/thermal_zone3/temp");
  EXPECT_EQ(ThermalSource(fs.root()).Read(&s).code(), StatusCode::kIoError);
  EXPECT_EQ(ThermalSource(fs.root() + "/none").Read(&s).code(), StatusCode::kNotFound);
}

TEST(PowerThermal, UnreadableZone) {
  if (RunningAsRoot()) GTEST_SKIP() << "chmod 000 does not stop root";
  FakeSysfs fs;
  fs.Write("class/thermal/thermal_zone0/temp", "80000");
  fs.Write("class/thermal/thermal_zone1/temp", "50000");
  fs.Chmod("class/thermal/thermal_zone0/temp", 0);
  PowerState s;
  ASSERT_TRUE(ThermalSource(fs.root()).Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.temp_c, 50.0);
}

// ---- callback, trace, composite, auto-detection ---------------------------------------

TEST(PowerCallback, ReturnsTheApplicationsState) {
  int calls = 0;
  CallbackSource cb([&] {
    PowerState s;
    s.charge_pct = 42;
    s.charging = false;
    ++calls;
    return s;
  });
  PowerState s;
  ASSERT_TRUE(cb.Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.charge_pct, 42);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(CallbackSource(nullptr).Read(&s).ok());
}

std::string WriteTrace(const FakeSysfs& fs, const std::string& text) {
  fs.Write("trace.csv", text);
  return fs.Path("trace.csv");
}

TEST(PowerTrace, PlaysAtAcceleratedTimeWithAFakeClock) {
  FakeSysfs fs;
  const std::string path = WriteTrace(fs,
                                      "# a test trace\n"
                                      "time_s,charge_pct,charging,temp_c\r\n"
                                      "0,100,0,40\n"
                                      "60,90,0,\n"
                                      "\n"
                                      "120,80,1,55.5\n");
  double now = 1000.0;
  std::unique_ptr<TraceSource> trace;
  ASSERT_TRUE(TraceSource::Load(
                  path, 60.0, [&] { return now; }, &trace)
                  .ok());
  EXPECT_EQ(trace->rows().size(), 3u);
  EXPECT_DOUBLE_EQ(trace->duration_s(), 120);
  PowerState s;
  ASSERT_TRUE(trace->Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.charge_pct, 100);
  EXPECT_DOUBLE_EQ(*s.temp_c, 40);
  now += 0.999;  // 59.94 trace seconds
  trace->Read(&s);
  EXPECT_DOUBLE_EQ(*s.charge_pct, 100);
  now += 0.001;  // 60
  trace->Read(&s);
  EXPECT_DOUBLE_EQ(*s.charge_pct, 90);
  EXPECT_FALSE(s.temp_c.has_value());
  EXPECT_FALSE(*s.charging);
  now += 100;  // past the end: the last row
  trace->Read(&s);
  EXPECT_DOUBLE_EQ(*s.charge_pct, 80);
  EXPECT_TRUE(*s.charging);
  EXPECT_DOUBLE_EQ(*s.temp_c, 55.5);
  EXPECT_DOUBLE_EQ(*trace->StateAt(-5).charge_pct, 100);
}

TEST(PowerTrace, ParseErrorsNameTheLine) {
  std::vector<TraceSource::Row> rows;
  auto err = [&](const std::string& text) {
    const Status s = TraceSource::Parse(text, "t.csv", &rows);
    EXPECT_FALSE(s.ok()) << text;
    return s.message();
  };
  EXPECT_NE(err("time,charge\n0,1\n").find("t.csv:1: expected the header"), std::string::npos);
  const std::string h = "time_s,charge_pct,charging,temp_c\n";
  EXPECT_NE(err(h + "0,100,0,\n10,90,2,\n").find("t.csv:3: charging"), std::string::npos);
  EXPECT_NE(err(h + "0,150,0,\n").find("charge_pct"), std::string::npos);
  EXPECT_NE(err(h + "10,100,0,\n5,90,0,\n").find("backwards"), std::string::npos);
  EXPECT_NE(err(h + "x,100,0,\n").find("time_s"), std::string::npos);
  EXPECT_NE(err(h + "0,100,0,warm\n").find("temp_c"), std::string::npos);
  EXPECT_NE(err(h + "0,100\n").find("expected 4 values"), std::string::npos);
  EXPECT_NE(err(h).find("no rows"), std::string::npos);
  EXPECT_NE(err("").find("empty trace"), std::string::npos);
  std::unique_ptr<TraceSource> trace;
  EXPECT_EQ(TraceSource::Load("/nonexistent/t.csv", 1, nullptr, &trace).code(),
            StatusCode::kNotFound);
  FakeSysfs fs;
  EXPECT_EQ(TraceSource::Load(WriteTrace(fs, h + "0,1,0,\n"), 0, nullptr, &trace).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(TraceSource::Load(WriteTrace(fs, h + "0,1,0,\n"), 1, nullptr, &trace).ok());
}

TEST(PowerComposite, FirstSourceWinsPerField) {
  auto composite = std::make_unique<CompositeSource>();
  composite->Add(std::make_unique<CallbackSource>([] {
    PowerState s;
    s.charge_pct = 50;
    return s;
  }));
  composite->Add(std::make_unique<CallbackSource>([] {
    PowerState s;
    s.charge_pct = 10;
    s.temp_c = 60;
    return s;
  }));
  composite->Add(std::make_unique<ThermalSource>("/nonexistent"));  // fails: ignored
  PowerState s;
  ASSERT_TRUE(composite->Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.charge_pct, 50);
  EXPECT_DOUBLE_EQ(*s.temp_c, 60);
  EXPECT_NE(composite->Describe().find("thermal(/nonexistent)"), std::string::npos);

  CompositeSource failing;
  failing.Add(std::make_unique<ThermalSource>("/nonexistent"));
  failing.Add(std::make_unique<JetsonPowerSource>("/nonexistent"));
  const Status st = failing.Read(&s);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("thermal zone"), std::string::npos);
  EXPECT_NE(st.message().find("INA3221"), std::string::npos);
}

TEST(PowerAutoDetect, FindsEveryKindInAFakeTree) {
  FakeSysfs fs;
  {
    auto none = AutoDetect(fs.root());
    EXPECT_EQ(none->size(), 0u);
    PowerState s;
    EXPECT_EQ(none->Read(&s).code(), StatusCode::kNotFound);
  }
  WriteBattery(fs, kBat, "33", "Discharging");
  WriteHwmonRail(fs, 1, "VDD_IN", 5000, 1000);
  fs.Write(kThrottled, "0x0");
  fs.Write("class/thermal/thermal_zone0/temp", "52000");
  auto all = AutoDetect(fs.root());
  EXPECT_EQ(all->size(), 4u) << all->Describe();
  PowerState s;
  ASSERT_TRUE(all->Read(&s).ok());
  EXPECT_DOUBLE_EQ(*s.charge_pct, 33);
  EXPECT_FALSE(*s.charging);
  EXPECT_DOUBLE_EQ(*s.power_w, 5.0);  // the battery has none: the Jetson rail's
  EXPECT_DOUBLE_EQ(*s.temp_c, 52);
  EXPECT_FALSE(*s.throttled);
  EXPECT_FALSE(*s.under_voltage);
}

TEST(PowerState, MergeAndEmpty) {
  PowerState a, b;
  EXPECT_TRUE(a.empty());
  a.charge_pct = 10;
  b.charge_pct = 20;
  b.throttled = true;
  a.MergeFrom(b);
  EXPECT_DOUBLE_EQ(*a.charge_pct, 10);
  EXPECT_TRUE(*a.throttled);
  EXPECT_FALSE(a.empty());
}

}  // namespace
}  // namespace gearshift
