// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// CRC-32C implementations. The portable path is slicing-by-8 over
// compile-time tables (no global mutable state, nothing to initialise). On
// x86-64 with GCC/Clang the SSE4.2 `crc32` instruction is used after a
// runtime CPU check; on AArch64 builds with the CRC extension enabled at
// compile time (__ARM_FEATURE_CRC32) the ARMv8 instructions are used. Every
// other target, including armv7, gets the portable code.
#include "format/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GEARSHIFT_CRC32C_X86 1
#include <nmmintrin.h>
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#define GEARSHIFT_CRC32C_ARM 1
#include <arm_acle.h>
#endif

namespace gearshift {
namespace {

constexpr uint32_t kPolyReflected = 0x82F63B78u;

struct Tables {
  uint32_t t[8][256];
};

constexpr Tables MakeTables() {
  Tables tables{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1u) ? kPolyReflected : 0u);
    tables.t[0][i] = c;
  }
  for (int s = 1; s < 8; ++s) {
    for (uint32_t i = 0; i < 256; ++i) {
      const uint32_t prev = tables.t[s - 1][i];
      tables.t[s][i] = (prev >> 8) ^ tables.t[0][prev & 0xFFu];
    }
  }
  return tables;
}

constexpr Tables kTables = MakeTables();
static_assert(kTables.t[0][1] == 0xF26B8303u, "CRC-32C table");

// Little-endian 32-bit load assembled from bytes: correct on any host byte
// order and alignment; compilers turn it into one load on LE targets.
inline uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// Raw update without the initial/final inversion.
uint32_t UpdatePortable(uint32_t c, const uint8_t* p, size_t n) {
  const auto& t = kTables.t;
  while (n >= 8) {
    const uint32_t lo = LoadLe32(p) ^ c;
    const uint32_t hi = LoadLe32(p + 4);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^
        t[4][lo >> 24] ^ t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^
        t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
  return c;
}

#if defined(GEARSHIFT_CRC32C_X86)
__attribute__((target("sse4.2"))) uint32_t UpdateHardware(uint32_t c, const uint8_t* p,
                                                          size_t n) {
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);  // unaligned-safe; x86 is little-endian
    c64 = _mm_crc32_u64(c64, v);
    p += 8;
    n -= 8;
  }
  c = static_cast<uint32_t>(c64);
  while (n--) c = _mm_crc32_u8(c, *p++);
  return c;
}
bool HasHardware() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#elif defined(GEARSHIFT_CRC32C_ARM)
uint32_t UpdateHardware(uint32_t c, const uint8_t* p, size_t n) {
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
#if defined(__ARM_BIG_ENDIAN)
    v = __builtin_bswap64(v);
#endif
    c = __crc32cd(c, v);
    p += 8;
    n -= 8;
  }
  while (n--) c = __crc32cb(c, *p++);
  return c;
}
bool HasHardware() { return true; }  // guaranteed by the compile flags
#else
bool HasHardware() { return false; }
#endif

}  // namespace

uint32_t Crc32cPortable(const void* data, size_t n, uint32_t crc) {
  return ~UpdatePortable(~crc, static_cast<const uint8_t*>(data), n);
}

uint32_t Crc32c(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const uint8_t*>(data);
#if defined(GEARSHIFT_CRC32C_X86) || defined(GEARSHIFT_CRC32C_ARM)
  if (HasHardware()) return ~UpdateHardware(~crc, p, n);
#endif
  return ~UpdatePortable(~crc, p, n);
}

bool Crc32cIsHardwareAccelerated() { return HasHardware(); }

}  // namespace gearshift
