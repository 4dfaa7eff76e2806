// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// libFuzzer harness for the .gear reader: every input must either load or
// fail with a Status, never crash, leak or read out of bounds. Built only
// with -DGEARSHIFT_FUZZ=ON (clang, -fsanitize=fuzzer,address); not part of
// the test binary. Run, e.g.:
//   build-fuzz/fuzz_gear_reader -max_len=65536 corpus/
//
// Each input is loaded with checksums verified and, to let mutations reach
// the manifest validator past the CRCs, once more with every CRC recomputed.
// Every gear of a file that loads is then prepared (f16 rounding, q8r4
// decoding, q4m views), so the derivations see hostile-but-valid files too.
// Seeds, format 1.0 and 1.1 (every storage dtype, encoding and compute) and
// 1.2 (bitmap, csr and 2:4 weights, q8r4/q4m over them, sparse gears) and 1.3
// (one file per op added in 1.3):
//   GEARSHIFT_FUZZ_CORPUS=corpus build/gearshift_tests
//       --gtest_filter=GearReaderTest.WritesFuzzSeedCorpusWhenAsked:SparseReaderTest.WritesFuzzSeeds*
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "format/crc32c.h"
#include "format/json.h"
#include "format/model_desc.h"
#include "prepare/gear_weights.h"

namespace {

uint64_t Get(const std::vector<uint8_t>& b, size_t off, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(b[off + i]) << (8 * i);
  return v;
}
void Put(std::vector<uint8_t>* b, size_t off, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) (*b)[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Rewrites file_size and every CRC so the mutated bytes reach the validator.
void FixUp(std::vector<uint8_t>* f) {
  if (f->size() < 64) return;
  Put(f, 16, f->size(), 8);
  const uint64_t count = Get(*f, 12, 4);
  if (count == 0 || count > 1024 || 64 + count * 32 > f->size()) return;
  for (uint64_t i = 0; i < count; ++i) {
    const size_t e = 64 + i * 32;
    const uint64_t off = Get(*f, e + 8, 8), size = Get(*f, e + 16, 8);
    if (off <= f->size() && size <= f->size() - off) {
      Put(f, e + 24, gearshift::Crc32c(f->data() + off, size), 4);
    }
  }
  Put(f, 32, 0, 4);
  uint32_t crc = gearshift::Crc32c(f->data(), 64);
  crc = gearshift::Crc32c(f->data() + 64, count * 32, crc);
  Put(f, 32, crc, 4);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gearshift::GearFile::Options options;
  std::unique_ptr<gearshift::GearFile> file;
  (void)gearshift::GearFile::FromBuffer(data, size, options, &file);

  std::vector<uint8_t> fixed(data, data + size);
  FixUp(&fixed);
  file.reset();
  (void)gearshift::GearFile::FromBuffer(fixed.data(), fixed.size(), options, &file);
  if (file) {
    // Touch every payload so ASan checks the bounds the reader promised.
    volatile uint8_t sink = 0;
    for (const auto& s : file->model().storage) {
      for (uint64_t i = 0; i < s.length; ++i) sink ^= s.data[i];
    }
    (void)sink;
    // A sparse entry of a few bytes can describe a huge tensor, and
    // preparing densifies it (a Status on allocation failure, but real
    // memory when it succeeds): stay within the fuzzer's RSS limit.
    constexpr int64_t kMaxElements = int64_t{1} << 24;
    int64_t elements = 0;
    for (const auto& s : file->model().storage) {
      int64_t n = 1;
      for (int64_t d : s.shape) n = d > 0 && n <= kMaxElements / d ? n * d : kMaxElements + 1;
      elements += n;
      if (elements > kMaxElements) break;
    }
    const size_t gears = elements > kMaxElements ? 0 : file->model().gears.size();
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
