// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The body of fuzz_gear_run, shared with tests/cpp/fuzz_corpus_test.cc (which
// replays fuzz/corpus/gear in the ordinary and the ASan test builds): load a
// .gear file from memory, then on every gear switch, prepare small fixed
// input shapes and run one inference.
//
// The file's size and CRCs are rewritten first (fuzz_common.h) so mutations
// reach the validator and the kernels. To find bugs rather than slow inputs,
// files whose constants hold more than kMaxConstElements are skipped, batch
// (-1) is 1, inputs with more than kMaxInputElements are skipped, and plans
// whose activation arena exceeds kMaxArenaBytes are not run.
#ifndef GEARSHIFT_FUZZ_RUN_GEAR_FILE_H_
#define GEARSHIFT_FUZZ_RUN_GEAR_FILE_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "format/model_desc.h"
#include "fuzz_common.h"
#include "gearshift/gearshift.h"
#include "runtime_impl.h"

namespace gearshift {
namespace fuzz {

struct RunOptions {
  std::string isa;     // "" = the best this CPU offers, "ref" = reference kernels
  bool io = false;     // RunIo (interface dtypes) instead of Run (float32)
  bool trace = false;  // one line per gear on stderr
};

struct RunResult {
  bool loaded = false;  // the file passed validation and a Runtime was made
  int gears = 0;        // gears in the file
  int runs_ok = 0;      // gears whose Prepare and Run succeeded
};

inline RunResult RunGearFile(const uint8_t* data, size_t size, const RunOptions& run) {
  constexpr int64_t kMaxConstElements = int64_t{1} << 20;
  constexpr int64_t kMaxInputElements = int64_t{1} << 14;
  constexpr int64_t kMaxArenaBytes = int64_t{64} << 20;
  RunResult result;
  std::vector<uint8_t> bytes(data, data + size);
  FixUp(&bytes);
  GearFile::Options file_options;
  std::unique_ptr<GearFile> file;
  if (!GearFile::FromBuffer(bytes.data(), bytes.size(), file_options, &file).ok()) return result;
  if (!StorageWithin(file->model(), kMaxConstElements)) return result;

  RuntimeOptions options;
  options.threads = 1;  // the fuzzer runs with one core per job
  options.isa = run.isa;
  std::unique_ptr<Runtime> rt;
  if (!CreateRuntime(std::move(file), options, &rt).ok()) return result;
  result.loaded = true;
  result.gears = static_cast<int>(rt->gears().size());

  // Fixed shapes: batch 1, anything else as the file declares it.
  std::vector<Shape> shapes;
  for (const auto& in : rt->inputs()) {
    Shape s = in.shape;
    for (int64_t& d : s) {
      if (d < 0) d = 1;
    }
    if (Elements(s, kMaxInputElements) > kMaxInputElements) return result;
    shapes.push_back(s);
  }
  auto element_bytes = [&](DType t) -> size_t {
    return !run.io || t == DType::kF32 ? sizeof(float) : 1;
  };

  // Deterministic inputs with both signs, zeros and values past +-1, and
  // every byte value for integer interfaces.
  std::vector<std::vector<uint8_t>> in_buffers;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const int64_t n = Elements(shapes[i], kMaxInputElements);
    const bool f32 = element_bytes(rt->inputs()[i].dtype) == sizeof(float);
    std::vector<uint8_t> b(static_cast<size_t>(n) * (f32 ? sizeof(float) : 1));
    for (int64_t k = 0; k < n; ++k) {
      if (f32) {
        reinterpret_cast<float*>(b.data())[k] = std::sin(0.37f * static_cast<float>(k + i)) * 3.0f;
      } else {
        b[static_cast<size_t>(k)] = static_cast<uint8_t>(k * 37 + static_cast<int64_t>(i));
      }
    }
    in_buffers.push_back(std::move(b));
  }
  std::vector<const void*> ins;
  for (auto& b : in_buffers) ins.push_back(b.data());

  const std::vector<std::string> gears = rt->gears();
  for (const std::string& g : gears) {
    if (!rt->SetGear(g).ok()) continue;
    if (!rt->Prepare(shapes).ok()) continue;
    if (rt->arena_bytes() > kMaxArenaBytes) continue;
    std::vector<std::vector<uint8_t>> out_buffers;
    std::vector<void*> outs;
    bool fits = true;
    for (size_t o = 0; o < rt->output_shapes().size(); ++o) {
      const int64_t n = Elements(rt->output_shapes()[o], kMaxArenaBytes);
      if (n > kMaxArenaBytes / 4) fits = false;
      const size_t eb = o < rt->outputs().size() ? element_bytes(rt->outputs()[o].dtype) : 4;
      out_buffers.emplace_back(fits ? static_cast<size_t>(n) * eb : 0);
      outs.push_back(out_buffers.back().data());
    }
    if (!fits) continue;
    const Status st =
        run.io ? rt->RunIo(ins.data(), outs.data()) : rt->Run(ins.data(), outs.data());
    if (st.ok()) ++result.runs_ok;
    if (run.trace) {
      std::fprintf(stderr, "gear %s isa %s %s: %s\n", g.c_str(), rt->isa().c_str(),
                   run.io ? "RunIo" : "Run", st.ok() ? "ok" : st.message().c_str());
    }
  }
  return result;
}

}  // namespace fuzz
}  // namespace gearshift

#endif  // GEARSHIFT_FUZZ_RUN_GEAR_FILE_H_
