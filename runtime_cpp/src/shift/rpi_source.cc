// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Raspberry Pi firmware flags. get_throttled is a bit mask: bits 0-3 are the
// state now (0 under-voltage, 1 arm frequency capped, 2 throttled, 3 soft
// temperature limit), bits 16-19 the same since boot (ignored: the shifter
// cares about now). The firmware exposes it in sysfs on kernels with the
// raspberrypi firmware driver, and always through `vcgencmd get_throttled`,
// which costs a process spawn (~10 ms), so the sysfs file is preferred and
// the shifter reads sources at most once per power_interval_s.
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "gearshift/power.h"
#include "shift/sysfs.h"

namespace gearshift {
namespace {

constexpr const char* kThrottledPaths[] = {
    "devices/platform/soc/soc:firmware/get_throttled",
    "devices/platform/soc:firmware/get_throttled",
};
constexpr const char* kCommand = "vcgencmd get_throttled";

struct PipeCloser {
  void operator()(FILE* f) const { ::pclose(f); }
};

std::optional<std::string> RunCommand(const std::string& command) {
  std::unique_ptr<FILE, PipeCloser> pipe(::popen((command + " 2>/dev/null").c_str(), "r"));
  if (!pipe) return std::nullopt;
  std::string out;
  char buf[256];
  size_t n;
  while ((n = ::fread(buf, 1, sizeof(buf), pipe.get())) > 0 && out.size() < 4096) {
    out.append(buf, n);
  }
  const int rc = ::pclose(pipe.release());
  if (rc != 0) return std::nullopt;
  return out;
}

}  // namespace

RpiThrottleSource::RpiThrottleSource(std::string root, CommandRunner runner)
    : root_(std::move(root)), runner_(std::move(runner)) {
  // Only the real tree is paired with the real vcgencmd: a fake tree under
  // another root must not pick up this machine's flags.
  if (!runner_ && root_ == "/sys" && HasVcgencmd()) runner_ = RunCommand;
}

std::string RpiThrottleSource::Find(const std::string& root) {
  for (const char* rel : kThrottledPaths) {
    const std::string path = sysfs::Join(root, rel);
    if (sysfs::Exists(path)) return path;
  }
  return "";
}

std::string RpiThrottleSource::FindUnderVoltageAlarm(const std::string& root) {
  const std::string dir =
      sysfs::Join(root, "devices/platform/soc/soc:firmware/raspberrypi-hwmon/hwmon");
  for (const std::string& h : sysfs::List(dir, "hwmon")) {
    const std::string path = sysfs::Join(sysfs::Join(dir, h), "in0_lcrit_alarm");
    if (sysfs::Exists(path)) return path;
  }
  return "";
}

bool RpiThrottleSource::HasVcgencmd() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string dirs = path;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = dirs.substr(start, end - start);
    if (!dir.empty()) {
      const std::string exe = sysfs::Join(dir, "vcgencmd");
      struct stat st;
      if (::stat(exe.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          ::access(exe.c_str(), X_OK) == 0) {
        return true;
      }
    }
    start = end + 1;
  }
  return false;
}

bool RpiThrottleSource::Decode(const std::string& raw, PowerState* state) {
  std::string text = raw;
  const size_t eq = text.find('=');
  if (eq != std::string::npos) {
    if (text.compare(0, eq, "throttled") != 0) return false;
    text = text.substr(eq + 1);
  }
  // Trim whitespace (vcgencmd ends with a newline).
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) {
    text.pop_back();
  }
  if (text.empty() || text.size() > 10) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long v = std::strtoul(text.c_str(), &end, 16);
  if (errno != 0 || end == text.c_str() || *end != '\0' || text[0] == '-' || text[0] == '+') {
    return false;
  }
  state->under_voltage = (v & 0x1) != 0;
  state->throttled = (v & 0xE) != 0;
  return true;
}

Status RpiThrottleSource::Read(PowerState* state) {
  *state = PowerState();
  const std::string path = Find(root_);
  bool decoded = false;
  if (!path.empty()) {
    const std::optional<std::string> text = sysfs::ReadText(path);
    decoded = text && Decode(*text, state);
  }
  if (!decoded && path.empty() && runner_) {
    const std::optional<std::string> out = runner_(kCommand);
    decoded = out && Decode(*out, state);
  }
  if (!decoded) {
    // Newer kernels: only the under-voltage alarm of raspberrypi-hwmon.
    const std::string alarm = FindUnderVoltageAlarm(root_);
    if (!alarm.empty()) {
      const std::optional<int64_t> v = sysfs::ReadInt(alarm);
      if (v && (*v == 0 || *v == 1)) {
        state->under_voltage = *v == 1;
        return Status::Ok();
      }
    }
    if (path.empty() && !runner_ && FindUnderVoltageAlarm(root_).empty()) {
      return Status(StatusCode::kNotFound,
                    "no Raspberry Pi get_throttled under " + root_ + " and no vcgencmd");
    }
    return Status(StatusCode::kIoError, "cannot read the Raspberry Pi throttling flags (" +
                                            (path.empty() ? std::string(kCommand) : path) + ")");
  }
  return Status::Ok();
}

std::string RpiThrottleSource::Describe() const {
  return "rpi_throttle(" + root_ + (Find(root_).empty() && runner_ ? ", vcgencmd" : "") + ")";
}

}  // namespace gearshift
