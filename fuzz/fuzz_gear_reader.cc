// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// libFuzzer harness for the .gear reader: every input must either load or
// fail with a Status, never crash, leak or read out of bounds. Built only
// with -DGEARSHIFT_FUZZ=ON (clang, -fsanitize=fuzzer,address,undefined);
// not part of the test binary. `make fuzz` runs it on fuzz/corpus/gear;
// by hand, e.g.:
//   build-fuzz/fuzz_gear_reader -max_len=65536 fuzz/corpus/gear
//
// Each input is loaded with checksums verified and, to let mutations reach
// the manifest validator past the CRCs, once more with every CRC recomputed.
// Every gear of a file that loads is then prepared (f16 rounding, q8r4
// decoding, q4m views), so the derivations see hostile-but-valid files too.
// Seeds, format 1.0 and 1.1 (every storage dtype, encoding and compute) and
// 1.2 (bitmap, csr and 2:4 weights, q8r4/q4m over them, sparse gears) and 1.3
// (one file per op added in 1.3) and 1.6 (binary params: seed_params_0),
// committed under fuzz/corpus/gear with the golden files of tests/python/data
// (one per format version); regenerate them with
//   GEARSHIFT_FUZZ_CORPUS=fuzz/corpus/gear build/gearshift_tests
//       --gtest_filter=GearReaderTest.WritesFuzzSeedCorpusWhenAsked:SparseReaderTest.WritesFuzzSeeds*
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "format/json.h"
#include "format/model_desc.h"
#include "fuzz_common.h"
#include "prepare/gear_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gearshift::GearFile::Options options;
  std::unique_ptr<gearshift::GearFile> file;
  (void)gearshift::GearFile::FromBuffer(data, size, options, &file);

  std::vector<uint8_t> fixed(data, data + size);
  gearshift::fuzz::FixUp(&fixed);
  file.reset();
  (void)gearshift::GearFile::FromBuffer(fixed.data(), fixed.size(), options, &file);
  if (file) {
    // Touch every payload so ASan checks the bounds the reader promised.
    volatile uint8_t sink = 0;
    for (const auto& s : file->model().storage) {
      for (uint64_t i = 0; i < s.length; ++i) sink ^= s.data[i];
    }
    (void)sink;
    constexpr int64_t kMaxElements = int64_t{1} << 24;
    const size_t gears = gearshift::fuzz::StorageWithin(file->model(), kMaxElements)
                             ? file->model().gears.size()
                             : 0;
    for (size_t g = 0; g < gears; ++g) {
      std::shared_ptr<const gearshift::GearWeights> weights;
      (void)gearshift::PrepareGearWeights(file->model(), static_cast<int>(g), &weights);
    }
  }

  // The JSON parser on its own, on the raw input.
  gearshift::json::Value v;
  (void)gearshift::json::Parse(reinterpret_cast<const char*>(data), size, &v);
  return 0;
}
