// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// libFuzzer harness for the whole runtime: load a .gear file from memory,
// then on every gear switch, prepare small fixed input shapes and run one
// inference. Every input must either run or fail with a Status, never crash,
// read out of bounds or hit undefined behaviour. Built only with
// -DGEARSHIFT_FUZZ=ON (clang, -fsanitize=fuzzer,address,undefined); `make
// fuzz` runs it on fuzz/corpus/gear (the same seeds as fuzz_gear_reader).
//
// The file's size and CRCs are rewritten first (fuzz_common.h) so mutations
// reach the validator and the kernels. To find bugs rather than slow inputs,
// files whose constants hold more than kMaxConstElements are skipped, batch
// (-1) is 1, inputs with more than kMaxInputElements are skipped, and plans
// whose activation arena exceeds kMaxArenaBytes are not run. Which kernels
// run follows the sum of the input's bytes (so a crash reproduces from the
// file alone): bit 0 picks the reference kernels or the best ISA of this
// CPU, bit 1 Run (float32) or RunIo (interface dtypes).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "format/model_desc.h"
#include "fuzz_common.h"
#include "gearshift/gearshift.h"
#include "runtime_impl.h"

namespace {

constexpr int64_t kMaxConstElements = int64_t{1} << 20;
constexpr int64_t kMaxInputElements = int64_t{1} << 14;
constexpr int64_t kMaxArenaBytes = int64_t{64} << 20;

// GEARSHIFT_FUZZ_TRACE=1: one line per gear with the status of its run, to
// check that the seeds really reach the kernels (running the binary on the
// seed files, without fuzzing).
bool Trace() {
  static const bool on = std::getenv("GEARSHIFT_FUZZ_TRACE") != nullptr;
  return on;
}

size_t ElementBytes(gearshift::DType t, bool io) {
  if (!io) return sizeof(float);
  return t == gearshift::DType::kF32 ? sizeof(float) : 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  gearshift::fuzz::FixUp(&bytes);
  gearshift::GearFile::Options file_options;
  std::unique_ptr<gearshift::GearFile> file;
  if (!gearshift::GearFile::FromBuffer(bytes.data(), bytes.size(), file_options, &file).ok()) {
    return 0;
  }
  if (!gearshift::fuzz::StorageWithin(file->model(), kMaxConstElements)) return 0;

  unsigned sum = 0;
  for (size_t i = 0; i < size; ++i) sum += data[i];
  gearshift::RuntimeOptions options;
  options.threads = 1;  // the fuzzer runs with one core per job
  options.isa = sum % 2 == 0 ? "ref" : "";
  const bool io = (sum / 2) % 2 == 1;
  std::unique_ptr<gearshift::Runtime> rt;
  if (!gearshift::CreateRuntime(std::move(file), options, &rt).ok()) return 0;

  // Fixed shapes: batch 1, anything else as the file declares it.
  std::vector<gearshift::Shape> shapes;
  for (const auto& in : rt->inputs()) {
    gearshift::Shape s = in.shape;
    for (int64_t& d : s) {
      if (d < 0) d = 1;
    }
    if (gearshift::fuzz::Elements(s, kMaxInputElements) > kMaxInputElements) return 0;
    shapes.push_back(s);
  }

  // Deterministic inputs with both signs, zeros and values past +-1, plus
  // every byte value for integer interfaces.
  std::vector<std::vector<uint8_t>> in_buffers;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const int64_t n = gearshift::fuzz::Elements(shapes[i], kMaxInputElements);
    const bool f32 = ElementBytes(rt->inputs()[i].dtype, io) == sizeof(float);
    std::vector<uint8_t> b(static_cast<size_t>(n) * (f32 ? sizeof(float) : 1));
    for (int64_t k = 0; k < n; ++k) {
      if (f32) {
        const float v = std::sin(0.37f * static_cast<float>(k + i)) * 3.0f;
        reinterpret_cast<float*>(b.data())[k] = v;
      } else {
        b[static_cast<size_t>(k)] = static_cast<uint8_t>(k * 37 + i);
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
      const int64_t n = gearshift::fuzz::Elements(rt->output_shapes()[o], kMaxArenaBytes);
      if (n > kMaxArenaBytes / 4) fits = false;
      const size_t eb = o < rt->outputs().size() ? ElementBytes(rt->outputs()[o].dtype, io) : 4;
      out_buffers.emplace_back(fits ? static_cast<size_t>(n) * eb : 0);
      outs.push_back(out_buffers.back().data());
    }
    if (!fits) continue;
    const gearshift::Status st =
        io ? rt->RunIo(ins.data(), outs.data()) : rt->Run(ins.data(), outs.data());
    if (Trace()) {
      std::fprintf(stderr, "gear %s isa %s %s: %s\n", g.c_str(), rt->isa().c_str(),
                   io ? "RunIo" : "Run", st.ok() ? "ok" : st.message().c_str());
    }
  }
  return 0;
}
