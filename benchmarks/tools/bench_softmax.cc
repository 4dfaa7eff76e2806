// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp32 SOFTMAX: the reference op (std::exp, scalar) beside each row kernel
// of kernels/f32_softmax this CPU runs, and the best one through
// f32_softmax__opt on 2 threads, on softmax-heavy shapes: classifier rows
// of 1000 classes (batch 1 and 64) and attention-like rows of 16 (4096 of
// them: 16 heads x 16 queries x 16 batches) and of 197 (ViT-like, 12 x 197).
// Best of 7 repeats of enough calls to take ~20 ms; prints a table and,
// with a path, writes the same as JSON.
//
//   build/gearshift-bench-softmax [results.json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "dispatch.h"
#include "kernels/f32_softmax/f32_softmax.h"
#include "ops/reduce.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0 || line.rfind("Hardware", 0) == 0) {
      return line.substr(line.find(':') + 2);
    }
  }
  return "unknown";
}

template <class F>
double BestUs(F&& fn) {
  using Clock = std::chrono::steady_clock;
  int reps = 1;
  for (;;) {  // calls per timing: about 20 ms
    const auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) fn();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (ms > 20 || reps > (1 << 24)) break;
    reps *= 2;
  }
  double best = 1e300;
  for (int k = 0; k < 7; ++k) {
    const auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) fn();
    best =
        std::min(best, std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / reps);
  }
  return best;
}

struct Kernel {
  std::string name;
  F32SoftmaxRowFn row;
};

int Main(int argc, char** argv) {
  std::vector<Kernel> kernels;
  const char* isas[] = {"ref", "avx2", "avx512", "neon"};
  for (const char* isa : isas) {
    KernelTable t;
    if (!BuildKernelTable(isa, &t).ok()) continue;
    // The ref ISA's table keeps the reference op; its row kernel is the
    // scalar form of the polynomial exp.
    if (std::string(isa) == "ref") {
      kernels.push_back({"f32_softmax_row__ref", &f32_softmax_row__ref});
    } else if (t.f32_softmax.row != nullptr) {
      kernels.push_back({t.f32_softmax.name, t.f32_softmax.row});
    }
  }
  KernelTable best;
  if (!BuildKernelTable("", &best).ok()) return 1;
  struct ShapeCase {
    const char* what;
    int64_t rows, cols;
  };
  const ShapeCase shapes[] = {{"classifier 1x1000", 1, 1000},
                              {"classifier 64x1000", 64, 1000},
                              {"attention 4096x16", 4096, 16},
                              {"attention 2364x197", 12 * 197, 197}};
  const std::string cpu = CpuModel();
  std::printf("fp32 SOFTMAX, %s, us per call (best of 7)\n", cpu.c_str());
  std::printf("%-20s %-26s %10s %8s\n", "shape", "kernel", "us", "vs ref");
  std::string json = "{\"cpu\": \"" + cpu + "\", \"unit\": \"us per call\", \"results\": [";
  bool first = true;
  ThreadPool pool1(1), pool2(2);
  for (const ShapeCase& sc : shapes) {
    SoftmaxParams p;
    p.rows = sc.rows;
    p.cols = sc.cols;
    std::vector<float> x(static_cast<size_t>(sc.rows * sc.cols)), y(x.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 2000) / 100 - 10;
    auto emit = [&](const std::string& name, int threads, double us, double ref_us) {
      std::printf("%-20s %-26s %10.2f %7.2fx\n", sc.what,
                  (name + (threads > 1 ? " 2T" : "")).c_str(), us, ref_us / us);
      json += std::string(first ? "" : ", ") + "{\"shape\": \"" + sc.what +
              "\", \"rows\": " + std::to_string(sc.rows) +
              ", \"cols\": " + std::to_string(sc.cols) + ", \"kernel\": \"" + name +
              "\", \"threads\": " + std::to_string(threads) + ", \"us\": " + std::to_string(us) +
              ", \"speedup_vs_reference_op\": " + std::to_string(ref_us / us) + "}";
      first = false;
    };
    const double ref_us = BestUs([&] { f32_softmax__ref(p, x.data(), y.data()); });
    emit("reference op (std::exp)", 1, ref_us, ref_us);
    for (const Kernel& k : kernels) {
      emit(k.name, 1, BestUs([&] { f32_softmax__opt(p, k.row, x.data(), y.data(), &pool1); }),
           ref_us);
    }
    if (best.f32_softmax.row != nullptr) {
      emit(best.f32_softmax.name, 2,
           BestUs([&] { f32_softmax__opt(p, best.f32_softmax.row, x.data(), y.data(), &pool2); }),
           ref_us);
    }
  }
  json += "]}\n";
  if (argc > 1) {
    std::ofstream(argv[1]) << json;
    std::printf("wrote %s\n", argv[1]);
  }
  return 0;
}

}  // namespace
}  // namespace gearshift

int main(int argc, char** argv) { return gearshift::Main(argc, argv); }
