// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Trace playback for simulation and tests: a CSV of time -> charge, charging
// and temperature, read at the trace time an injectable clock gives, so a
// test can step through an hour of battery in microseconds. Parsing is
// strict (every error names the file and line) because a silently skipped
// row would make a simulation lie.
#include <chrono>
#include <fstream>
#include <sstream>

#include "gearshift/power.h"
#include "shift/sysfs.h"

namespace gearshift {
namespace {

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> cells;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    cells.push_back(Trim(line.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return cells;
}

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Status TraceSource::Parse(const std::string& text, const std::string& name,
                          std::vector<Row>* rows) {
  rows->clear();
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  bool header = false;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    const std::string where = name + ":" + std::to_string(line_no) + ": ";
    const std::vector<std::string> cells = SplitCsv(trimmed);
    if (!header) {
      if (cells.size() < 4 || cells[0] != "time_s" || cells[1] != "charge_pct" ||
          cells[2] != "charging" || cells[3] != "temp_c") {
        return InvalidArgument(where +
                               "expected the header time_s,charge_pct,charging,temp_c, found '" +
                               trimmed + "'");
      }
      header = true;
      continue;
    }
    if (cells.size() < 4) {
      return InvalidArgument(where +
                             "expected 4 values (time_s,charge_pct,charging,temp_c), found " +
                             std::to_string(cells.size()));
    }
    Row row;
    const auto t = sysfs::ParseDouble(cells[0]);
    if (!t || *t < 0) {
      return InvalidArgument(where + "time_s: expected a number >= 0, found '" + cells[0] + "'");
    }
    if (!rows->empty() && *t < rows->back().time_s) {
      return InvalidArgument(where + "time_s goes backwards (" + cells[0] + " after " +
                             std::to_string(rows->back().time_s) + ")");
    }
    const auto charge = sysfs::ParseDouble(cells[1]);
    if (!charge || *charge < 0 || *charge > 100) {
      return InvalidArgument(where + "charge_pct: expected a number in [0, 100], found '" +
                             cells[1] + "'");
    }
    if (cells[2] != "0" && cells[2] != "1") {
      return InvalidArgument(where + "charging: expected 0 or 1, found '" + cells[2] + "'");
    }
    row.time_s = *t;
    row.charge_pct = *charge;
    row.charging = cells[2] == "1";
    if (!cells[3].empty()) {
      const auto temp = sysfs::ParseDouble(cells[3]);
      if (!temp || *temp < -60 || *temp > 200) {
        return InvalidArgument(
            where + "temp_c: expected a number in [-60, 200] or nothing, found '" + cells[3] + "'");
      }
      row.temp_c = temp;
    }
    rows->push_back(row);
  }
  if (!header)
    return InvalidArgument(name + ": empty trace (no header time_s,charge_pct,charging,temp_c)");
  if (rows->empty()) return InvalidArgument(name + ": the trace has a header but no rows");
  return Status::Ok();
}

Status TraceSource::Load(const std::string& path, double speed, Clock clock,
                         std::unique_ptr<TraceSource>* out) {
  if (!(speed > 0) || speed > 1e9) {
    return InvalidArgument("trace speed must be > 0, got " + std::to_string(speed));
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return Status(sysfs::Exists(path) ? StatusCode::kIoError : StatusCode::kNotFound,
                  "cannot open trace " + path);
  }
  std::ostringstream text;
  text << f.rdbuf();
  std::unique_ptr<TraceSource> source(new TraceSource());
  GS_RETURN_IF_ERROR(Parse(text.str(), path, &source->rows_));
  source->path_ = path;
  source->speed_ = speed;
  source->clock_ = clock ? std::move(clock) : Clock(SteadySeconds);
  source->start_ = source->clock_();
  *out = std::move(source);
  return Status::Ok();
}

double TraceSource::Now() const { return rows_.front().time_s + (clock_() - start_) * speed_; }

PowerState TraceSource::StateAt(double t) const {
  // The last row at or before t (binary search: traces may be long).
  size_t lo = 0, hi = rows_.size();
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    if (rows_[mid].time_s <= t) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const Row& r = rows_[lo];
  PowerState s;
  s.charge_pct = r.charge_pct;
  s.charging = r.charging;
  s.temp_c = r.temp_c;
  return s;
}

Status TraceSource::Read(PowerState* state) {
  *state = StateAt(Now());
  return Status::Ok();
}

}  // namespace gearshift
