// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// gearshift-run: runs a .gear file once on inputs read from .npy files,
// without Python. Writes each output to a .npy file, or prints its shape and
// first values. Exit codes: 0 ok, 1 error, 2 usage error.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "gearshift/gearshift.h"
#include "npy_io.h"
#include "tool_util.h"

namespace gearshift {
namespace {

constexpr char kUsage[] =
    "usage: gearshift-run FILE.gear --input X.npy [--input X2.npy ...] [--gear G]\n"
    "                     [--output Y.npy ...] [--threads N] [--info]\n"
    "       gearshift-run --info\n"
    "  --input   one .npy per graph input, in order (float32 or float64, C order)\n"
    "  --output  one .npy per graph output; without it, print shapes and first values\n"
    "  --gear    gear name (default: the file's first)\n"
    "  --threads worker threads (default 1)\n"
    "  --info    print runtime version and CPU features\n";

int Main(int argc, char** argv) {
  std::string path, gear;
  std::vector<std::string> inputs, outputs;
  long threads = 1;
  bool info = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string* v) {
      if (i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return tools::kExitOk;
    } else if (arg == "--info") {
      info = true;
    } else if (arg == "--input") {
      if (!value(&v)) return tools::UsageError(kUsage, "--input needs a file");
      inputs.push_back(v);
    } else if (arg == "--output") {
      if (!value(&v)) return tools::UsageError(kUsage, "--output needs a file");
      outputs.push_back(v);
    } else if (arg == "--gear") {
      if (!value(&gear)) return tools::UsageError(kUsage, "--gear needs a name");
    } else if (arg == "--threads") {
      if (!value(&v) || !tools::ParseInt(v, 1, 1024, &threads)) {
        return tools::UsageError(kUsage, "--threads needs an integer in [1, 1024]");
      }
    } else if (!arg.empty() && arg[0] == '-') {
      return tools::UsageError(kUsage, "unknown option '" + arg + "'");
    } else if (path.empty()) {
      path = arg;
    } else {
      return tools::UsageError(kUsage, "more than one model file given");
    }
  }
  if (info) {
    tools::PrintRuntimeInfo(stdout);
    std::string selected;
    for (const auto& kv : GetRuntimeInfo().isa_selected) {
      selected += (selected.empty() ? "" : " ") + kv.first + "=" + kv.second;
    }
    std::printf("isa selected: %s\n", selected.c_str());
  }
  if (path.empty()) {
    return info ? tools::kExitOk : tools::UsageError(kUsage, "no model file given");
  }

  RuntimeOptions options;
  options.gear = gear;
  options.threads = static_cast<int>(threads);
  std::unique_ptr<Runtime> rt;
  Status s = Runtime::Open(path, options, &rt);
  if (!s.ok()) return tools::FailStatus(s);
  if (inputs.size() != rt->inputs().size()) {
    return tools::UsageError(kUsage, path + " has " + std::to_string(rt->inputs().size()) +
                                         " input(s); got " + std::to_string(inputs.size()) +
                                         " --input file(s)");
  }
  if (!outputs.empty() && outputs.size() != rt->outputs().size()) {
    return tools::UsageError(kUsage, path + " has " + std::to_string(rt->outputs().size()) +
                                         " output(s); got " + std::to_string(outputs.size()) +
                                         " --output file(s)");
  }
  std::vector<npy::Array> arrays(inputs.size());
  std::vector<Shape> shapes;
  std::vector<const void*> in_ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string error;
    if (!npy::Read(inputs[i], &arrays[i], &error)) return tools::Fail(error);
    shapes.push_back(arrays[i].shape);
    in_ptrs.push_back(arrays[i].data.data());
  }
  s = rt->Prepare(shapes);
  if (!s.ok()) return tools::FailStatus(s);
  std::vector<std::vector<float>> results;
  std::vector<void*> out_ptrs;
  for (const Shape& shape : rt->output_shapes()) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    results.emplace_back(static_cast<size_t>(n));
    out_ptrs.push_back(results.back().data());
  }
  s = rt->Run(in_ptrs.data(), out_ptrs.data());
  if (!s.ok()) return tools::FailStatus(s);
  for (size_t i = 0; i < results.size(); ++i) {
    const Shape& shape = rt->output_shapes()[i];
    if (!outputs.empty()) {
      std::string error;
      if (!npy::Write(outputs[i], shape, results[i].data(), &error)) return tools::Fail(error);
      continue;
    }
    std::printf("output '%s': shape %s\n", rt->outputs()[i].name.c_str(),
                tools::ShapeText(shape).c_str());
    const size_t shown = std::min<size_t>(results[i].size(), 10);
    std::printf("  first values:");
    for (size_t k = 0; k < shown; ++k) std::printf(" %.6g", results[i][k]);
    std::printf("%s\n", shown < results[i].size() ? " ..." : "");
  }
  std::printf("gear %s, %d thread(s), %.3f ms\n",
               rt->gear().c_str(), rt->threads(), rt->last_latency_ms());
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
