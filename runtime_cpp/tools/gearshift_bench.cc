// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// gearshift-bench: latency and memory of each gear of a .gear file on random
// inputs, without Python. Reports min/median/p90/p99 after a warm-up (the
// tail is what a latency budget cares about) as a table or as the JSON
// document `gearshift bench --json` writes (docs/BENCH.md, schema version 1;
// one process for every gear, so load_ms and peak_rss_bytes are this
// process's). Exit codes: 0 ok, 1 error, 2 usage.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gearshift/gearshift.h"
#include "tool_util.h"

namespace gearshift {
namespace {

constexpr char kUsage[] =
    "usage: gearshift-bench FILE.gear [--gears G1,G2|all] [--threads N] [--runs N]\n"
    "                       [--warmup N] [--batch N] [--profile] [--json]\n"
    "  --gears   comma-separated gear names, or all (default)\n"
    "  --threads worker threads (default 1)\n"
    "  --runs    timed runs per gear (default 50); --warmup untimed runs (default 5;\n"
    "            the first, which ends the gear's load time, always runs)\n"
    "  --batch   batch size for inputs whose dimension 0 is -1 (default 1)\n"
    "  --profile time every node too: time per op type and the slowest nodes\n"
    "  --json    print JSON instead of a table\n";

// A profiled node or op type: median ms over the runs and share of the
// median latency.
struct ProfileRow {
  std::string name, op;  // op rows: name == op
  int nodes = 1;
  double ms = 0, share = 0;
};

struct GearResult {
  std::string gear;
  double min = 0, median = 0, p90 = 0, p99 = 0, mean = 0;
  double load_ms = 0;  // switch to the gear (the first: open the file) to the end of its first run
  int64_t arena_bytes = 0, prepared_bytes = 0, peak_rss_bytes = 0;
  std::vector<ProfileRow> nodes, ops;  // --profile only
  double other_ms = 0;                 // latency the nodes do not cover
};

// Percentile with linear interpolation between order statistics (NumPy's
// default), so the C++ and Python benches agree.
double Percentile(const std::vector<double>& sorted, double q) {
  const double pos = q / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

// A /proc/self/status field (VmHWM, VmRSS) in bytes; -1 where unreadable.
int64_t ProcStatusBytes(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, field.size() + 1, field + ":") == 0) {
      return std::atoll(line.c_str() + field.size() + 1) * 1024;  // kB
    }
  }
  return -1;
}

// Peak resident set of this process: VmHWM, else ru_maxrss.
int64_t PeakRssBytes() {
  const int64_t hwm = ProcStatusBytes("VmHWM");
  if (hwm >= 0) return hwm;
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
#if defined(__APPLE__)
  return static_cast<int64_t>(ru.ru_maxrss);
#else
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
#endif
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The CPU's model name from /proc/cpuinfo, else the machine name.
std::string CpuModel(const std::string& machine) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    if (key == "model name" || key == "Model" || key == "Hardware") {
      const size_t v = line.find_first_not_of(" \t", colon + 1);
      return v == std::string::npos ? machine : line.substr(v);
    }
  }
  return machine;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : Percentile(v, 50);
}

// Per-node medians over the runs (runs[r][i] = node i's ms in run r), the
// op types' sums of them, sorted slowest first, and the uncovered rest.
void Summarize(const std::vector<NodeTime>& names, const std::vector<std::vector<double>>& runs,
               GearResult* r) {
  const double total = std::max(r->median, 1e-12);
  double covered = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    std::vector<double> v;
    for (const auto& run : runs) v.push_back(run[i]);
    const double ms = Median(v);
    covered += ms;
    r->nodes.push_back({names[i].name, names[i].op, 1, ms, ms / total});
    auto it = std::find_if(r->ops.begin(), r->ops.end(),
                           [&](const ProfileRow& o) { return o.op == names[i].op; });
    if (it == r->ops.end()) {
      r->ops.push_back({names[i].op, names[i].op, 1, ms, 0});
    } else {
      ++it->nodes;
      it->ms += ms;
    }
  }
  for (ProfileRow& o : r->ops) o.share = o.ms / total;
  std::sort(r->ops.begin(), r->ops.end(),
            [](const ProfileRow& a, const ProfileRow& b) { return a.ms > b.ms; });
  r->other_ms = std::max(r->median - covered, 0.0);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t pos = 0;
  for (;;) {
    const size_t next = s.find(sep, pos);
    parts.push_back(s.substr(pos, next - pos));
    if (next == std::string::npos) return parts;
    pos = next + 1;
  }
}

int Main(int argc, char** argv) {
  std::string path, gears_arg = "all";
  long threads = 1, runs = 50, warmup = 5, batch = 1;
  bool json = false, profile = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto int_flag = [&](long lo, long hi, long* out) {
      return i + 1 < argc && tools::ParseInt(argv[++i], lo, hi, out);
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return tools::kExitOk;
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "--profile") {
      profile = true;
    } else if (arg == "--gears") {
      if (i + 1 >= argc) return tools::UsageError(kUsage, "--gears needs a value");
      gears_arg = argv[++i];
    } else if (arg == "--threads") {
      if (!int_flag(1, 1024, &threads)) {
        return tools::UsageError(kUsage, "--threads needs an integer in [1, 1024]");
      }
    } else if (arg == "--runs") {
      if (!int_flag(1, 100000000, &runs)) {
        return tools::UsageError(kUsage, "--runs needs a positive integer");
      }
    } else if (arg == "--warmup") {
      if (!int_flag(0, 100000000, &warmup)) {
        return tools::UsageError(kUsage, "--warmup needs a non-negative integer");
      }
    } else if (arg == "--batch") {
      if (!int_flag(1, 1 << 20, &batch)) {
        return tools::UsageError(kUsage, "--batch needs a positive integer");
      }
    } else if (!arg.empty() && arg[0] == '-') {
      return tools::UsageError(kUsage, "unknown option '" + arg + "'");
    } else if (path.empty()) {
      path = arg;
    } else {
      return tools::UsageError(kUsage, "more than one model file given");
    }
  }
  if (path.empty()) return tools::UsageError(kUsage, "no model file given");

  RuntimeOptions options;
  options.threads = static_cast<int>(threads);
  std::unique_ptr<Runtime> rt;
  auto t_load = std::chrono::steady_clock::now();  // the first gear's load includes the open
  Status s = Runtime::Open(path, options, &rt);
  if (!s.ok()) return tools::FailStatus(s);
  std::vector<std::string> gears =
      gears_arg == "all" ? rt->gears() : Split(gears_arg, ',');
  for (const std::string& g : gears) {
    if (std::find(rt->gears().begin(), rt->gears().end(), g) == rt->gears().end()) {
      std::string avail;
      for (const std::string& a : rt->gears()) avail += (avail.empty() ? "" : ", ") + a;
      return tools::Fail("unknown gear '" + g + "'; " + path + " carries: " + avail);
    }
  }
  struct stat st;
  const int64_t file_bytes = stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;

  // Random standard-normal inputs, fixed seed so runs are comparable.
  std::mt19937 rng(0);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<Shape> shapes;
  std::vector<std::vector<float>> in_data;
  std::vector<const void*> in_ptrs;
  for (const TensorInfo& in : rt->inputs()) {
    Shape shape = in.shape;
    if (!shape.empty() && shape[0] == -1) shape[0] = batch;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = normal(rng);
    shapes.push_back(shape);
    in_data.push_back(std::move(v));
  }
  for (const auto& v : in_data) in_ptrs.push_back(v.data());

  rt->SetProfiling(profile);
  std::vector<GearResult> results;
  for (size_t gi = 0; gi < gears.size(); ++gi) {
    const std::string& g = gears[gi];
    if (gi > 0) t_load = std::chrono::steady_clock::now();
    s = rt->SetGear(g);
    if (s.ok()) s = rt->Prepare(shapes);
    if (!s.ok()) return tools::FailStatus(s);
    std::vector<std::vector<float>> out_data;
    std::vector<void*> out_ptrs;
    for (const Shape& shape : rt->output_shapes()) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      out_data.emplace_back(static_cast<size_t>(n));
    }
    for (auto& v : out_data) out_ptrs.push_back(v.data());
    s = rt->Run(in_ptrs.data(), out_ptrs.data());  // the first inference ends the load
    if (!s.ok()) return tools::FailStatus(s);
    const double load_ms = MsSince(t_load);
    for (long i = 1; i < warmup; ++i) {
      s = rt->Run(in_ptrs.data(), out_ptrs.data());
      if (!s.ok()) return tools::FailStatus(s);
    }
    std::vector<double> samples;
    samples.reserve(static_cast<size_t>(runs));
    std::vector<NodeTime> names;
    std::vector<std::vector<double>> node_ms;
    for (long i = 0; i < runs; ++i) {
      s = rt->Run(in_ptrs.data(), out_ptrs.data());
      if (!s.ok()) return tools::FailStatus(s);
      samples.push_back(rt->last_latency_ms());
      if (profile) {
        std::vector<NodeTime> t = rt->last_profile();
        node_ms.emplace_back();
        for (const NodeTime& n : t) node_ms.back().push_back(n.ms);
        if (names.empty()) names = std::move(t);
      }
    }
    std::sort(samples.begin(), samples.end());
    GearResult r;
    r.gear = g;
    r.min = samples.front();
    r.median = Percentile(samples, 50);
    r.p90 = Percentile(samples, 90);
    r.p99 = Percentile(samples, 99);
    for (double v : samples) r.mean += v / static_cast<double>(samples.size());
    r.load_ms = load_ms;
    r.arena_bytes = rt->arena_bytes();
    r.prepared_bytes = rt->prepared_bytes();
    r.peak_rss_bytes = PeakRssBytes();
    if (profile) Summarize(names, node_ms, &r);
    results.push_back(r);
  }

  if (json) {
    // One result object, written twice: in "results" and, for older readers, in
    // "gears" by gear name (as gearshift bench --json does).
    auto result_json = [&](const GearResult& r) {
      char buf[1024];
      std::string o;
      std::snprintf(buf, sizeof(buf),
                    "{\"runtime\": \"gearshift\", \"gear\": %s, \"threads\": %d, "
                    "\"host\": \"local\", \"model\": %s, ",
                    JsonString(r.gear).c_str(), rt->threads(), JsonString(path).c_str());
      o += buf;
      std::snprintf(buf, sizeof(buf),
                    "\"latency_ms\": {\"min\": %.6f, \"median\": %.6f, \"p90\": %.6f, "
                    "\"p99\": %.6f, \"mean\": %.6f}, \"runs\": %ld, \"load_ms\": %.6f, "
                    "\"peak_rss_bytes\": %lld, \"file_bytes\": %lld, \"arena_bytes\": %lld, "
                    "\"prepared_bytes\": %lld",
                    r.min, r.median, r.p90, r.p99, r.mean, runs, r.load_ms,
                    static_cast<long long>(r.peak_rss_bytes), static_cast<long long>(file_bytes),
                    static_cast<long long>(r.arena_bytes),
                    static_cast<long long>(r.prepared_bytes));
      o += buf;
      if (profile) {  // the same shape as gearshift bench --profile --json
        o += ", \"profile\": {\"nodes\": [";
        for (size_t j = 0; j < r.nodes.size(); ++j) {
          std::snprintf(buf, sizeof(buf),
                        "%s{\"name\": %s, \"op\": %s, \"ms\": %.6f, \"share\": %.6f}",
                        j ? ", " : "", JsonString(r.nodes[j].name).c_str(),
                        JsonString(r.nodes[j].op).c_str(), r.nodes[j].ms, r.nodes[j].share);
          o += buf;
        }
        o += "], \"ops\": [";
        for (size_t j = 0; j < r.ops.size(); ++j) {
          std::snprintf(buf, sizeof(buf),
                        "%s{\"op\": %s, \"nodes\": %d, \"ms\": %.6f, \"share\": %.6f}",
                        j ? ", " : "", JsonString(r.ops[j].op).c_str(), r.ops[j].nodes, r.ops[j].ms,
                        r.ops[j].share);
          o += buf;
        }
        std::snprintf(buf, sizeof(buf), "], \"other_ms\": %.6f}", r.other_ms);
        o += buf;
      }
      return o + "}";
    };
    struct utsname un;
    const bool have_un = uname(&un) == 0;
    const std::string machine = have_un ? un.machine : "";
    const std::string platform =
        have_un ? std::string(un.sysname) + "-" + un.release + "-" + un.machine : "";
    char created[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    std::printf(
        "{\"schema\": \"gearshift-bench\", \"schema_version\": 1, "
        "\"tool\": \"gearshift-bench %s (c++)\", \"created\": \"%s\", \"file\": %s, "
        "\"file_bytes\": %lld, \"batch\": %ld, \"threads\": %d, \"warmup\": %ld, "
        "\"duration_s\": null, \"machine\": {\"platform\": %s, \"processor\": %s, "
        "\"cpu\": %s, \"cpus\": %u}, \"skipped\": [], \"notes\": [], \"results\": [",
        kVersion, created, JsonString(path).c_str(), static_cast<long long>(file_bytes), batch,
        rt->threads(), warmup, JsonString(platform).c_str(), JsonString(machine).c_str(),
        JsonString(CpuModel(machine)).c_str(), std::thread::hardware_concurrency());
    for (size_t i = 0; i < results.size(); ++i) {
      std::printf("%s%s", i ? ", " : "", result_json(results[i]).c_str());
    }
    std::printf("], \"gears\": {");
    for (size_t i = 0; i < results.size(); ++i) {
      std::printf("%s%s: %s", i ? ", " : "", JsonString(results[i].gear).c_str(),
                  result_json(results[i]).c_str());
    }
    std::printf("}}\n");
    return tools::kExitOk;
  }
  std::printf("%s  (%.1f KiB, batch %ld)\n", path.c_str(), static_cast<double>(file_bytes) / 1024,
              batch);
  std::printf("%-12s %10s %10s %10s %10s %6s %7s %10s %12s %9s\n", "gear", "min ms", "median ms",
              "p90 ms", "p99 ms", "runs", "threads", "arena KiB", "peak RSS MiB", "load ms");
  for (const GearResult& r : results) {
    std::printf("%-12s %10.3f %10.3f %10.3f %10.3f %6ld %7d %10.1f %12.1f %9.2f\n", r.gear.c_str(),
                r.min, r.median, r.p90, r.p99, runs, rt->threads(),
                static_cast<double>(r.arena_bytes) / 1024,
                static_cast<double>(r.peak_rss_bytes) / (1 << 20), r.load_ms);
  }
  for (const GearResult& r : results) {
    if (!profile) break;
    std::printf("\nprofile of gear %s (median of %ld runs, %.3f ms)\n", r.gear.c_str(), runs,
                r.median);
    std::printf("%-28s %6s %10s %7s\n", "op", "nodes", "ms", "share");
    for (const ProfileRow& o : r.ops) {
      std::printf("%-28s %6d %10.3f %6.1f%%\n", o.op.c_str(), o.nodes, o.ms, 100 * o.share);
    }
    std::printf("%-28s %6s %10.3f\n", "(input/output, runtime)", "", r.other_ms);
    std::vector<ProfileRow> slow = r.nodes;
    std::sort(slow.begin(), slow.end(),
              [](const ProfileRow& a, const ProfileRow& b) { return a.ms > b.ms; });
    if (slow.size() > 15) slow.resize(15);
    std::printf("slowest %zu of %zu nodes\n", slow.size(), r.nodes.size());
    for (const ProfileRow& n : slow) {
      std::printf("%-40s %-20s %10.3f %6.1f%%\n", n.name.c_str(), n.op.c_str(), n.ms,
                  100 * n.share);
    }
  }
  return tools::kExitOk;
}

}  // namespace
}  // namespace gearshift

int main(int argc, char** argv) {
  try {
    return gearshift::Main(argc, argv);
  } catch (const std::exception& e) {
    return gearshift::tools::Fail(e.what());
  }
}
