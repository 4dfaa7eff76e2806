// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// CRC-32C (Castagnoli), the checksum of every .gear header and section
// (docs/FORMAT.md section 1). Portable slicing-by-8 tables, plus the SSE4.2
// and ARMv8 CRC32 instructions where the build or the CPU offers them: a big
// model's data sections are checked at every load, so speed matters there.
#ifndef GEARSHIFT_FORMAT_CRC32C_H_
#define GEARSHIFT_FORMAT_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace gearshift {

// CRC-32C of `n` bytes at `data`, continuing from `crc` (the result of a
// previous call; 0 to start). Incremental like zlib's crc32:
//   Crc32c(b, nb, Crc32c(a, na)) == Crc32c(a+b, na+nb).
// Crc32c("123456789", 9) == 0xE3069283.
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

// The portable table-driven implementation, exposed so tests can compare
// it with the hardware path on the same input.
uint32_t Crc32cPortable(const void* data, size_t n, uint32_t crc = 0);

// True when Crc32c() uses a CRC instruction on this CPU.
bool Crc32cIsHardwareAccelerated();

}  // namespace gearshift

#endif  // GEARSHIFT_FORMAT_CRC32C_H_
