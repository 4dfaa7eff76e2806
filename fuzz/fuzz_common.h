// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Helpers shared by the libFuzzer harnesses in fuzz/: rewriting a mutated
// file's size and CRCs so that mutations reach the validator (the manifest's
// CRC is always checked, so without this almost every mutation would stop at
// the checksum), and a bound on what a file's constants describe, so the
// fuzzers spend their time on bugs rather than on legitimately huge models.
#ifndef GEARSHIFT_FUZZ_FUZZ_COMMON_H_
#define GEARSHIFT_FUZZ_FUZZ_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/crc32c.h"
#include "format/model_desc.h"

namespace gearshift {
namespace fuzz {

inline uint64_t Get(const std::vector<uint8_t>& b, size_t off, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(b[off + i]) << (8 * i);
  return v;
}
inline void Put(std::vector<uint8_t>* b, size_t off, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) (*b)[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Rewrites file_size and every CRC (docs/FORMAT.md section 2) in place.
inline void FixUp(std::vector<uint8_t>* f) {
  if (f->size() < 64) return;
  Put(f, 16, f->size(), 8);
  const uint64_t count = Get(*f, 12, 4);
  if (count == 0 || count > 1024 || 64 + count * 32 > f->size()) return;
  for (uint64_t i = 0; i < count; ++i) {
    const size_t e = 64 + i * 32;
    const uint64_t off = Get(*f, e + 8, 8), size = Get(*f, e + 16, 8);
    if (off <= f->size() && size <= f->size() - off) {
      Put(f, e + 24, Crc32c(f->data() + off, size), 4);
    }
  }
  Put(f, 32, 0, 4);
  uint32_t crc = Crc32c(f->data(), 64);
  crc = Crc32c(f->data() + 64, count * 32, crc);
  Put(f, 32, crc, 4);
}

// Elements of `shape` (dimensions < 1 count as 1), saturated at limit + 1.
inline int64_t Elements(const Shape& shape, int64_t limit) {
  int64_t n = 1;
  for (int64_t d : shape) {
    const int64_t k = d > 0 ? d : 1;
    if (n > limit / k) return limit + 1;
    n *= k;
  }
  return n;
}

// True when the constants of all storage entries together hold at most
// `limit` elements. A sparse entry of a few bytes can describe a huge tensor,
// and preparing densifies it (a Status on allocation failure, but real memory
// when it succeeds): the harnesses stay within the fuzzer's RSS limit.
inline bool StorageWithin(const ModelDesc& model, int64_t limit) {
  int64_t total = 0;
  for (const auto& s : model.storage) {
    total += Elements(s.shape, limit);
    if (total > limit) return false;
  }
  return true;
}

}  // namespace fuzz
}  // namespace gearshift

#endif  // GEARSHIFT_FUZZ_FUZZ_COMMON_H_
