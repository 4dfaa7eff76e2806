// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The int4 gear's GEMM weights kept 4-bit (q8_gemm.h, "int4 packs"): the
// int8 pack's layout with each weight byte replaced by its signed nibble r,
// plus the q4m block multipliers m, so a block costs about half the int8
// pack. UnpackQ4GemmBlock rebuilds the int8 block (m * r per weight) right
// before the microkernels read it; the kernels themselves are the int8
// ones, so the int4 gear stays bit-exact with the int8 path on the same
// values.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/q8_gemm/q8_gemm.h"

namespace gearshift {

namespace {

int32_t WrapAdd32(int32_t a, int64_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

size_t RoundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }

// Signed nibble i of r (two per byte, low first).
int Nibble(const uint8_t* r, size_t i) { return (((r[i >> 1] >> ((i & 1) * 4)) & 0xF) ^ 8) - 8; }

}  // namespace

size_t Q4GemmPackedBlockBytes(size_t k, size_t nr, size_t kr, size_t block) {
  const size_t kp = RoundUp(k, kr);
  const size_t blocks = (k + block - 1) / block;
  return RoundUp(3 * sizeof(int32_t) * nr + kp * nr / 2 + blocks * nr, 4);
}

void PackQ4GemmWeights(const Q8GemmKernel& kernel, size_t n, size_t k, const uint8_t* r,
                       const uint8_t* m, size_t block, const int32_t* bias,
                       const int32_t* multiplier, const int32_t* shift, int32_t a_zero_point,
                       void* packed) {
  const auto nr = static_cast<size_t>(kernel.nr);
  const auto kr = static_cast<size_t>(kernel.kr);
  a_zero_point += kernel.a_offset;
  const size_t kp = RoundUp(k, kr);
  const size_t blocks = (k + block - 1) / block;
  auto* p = static_cast<uint8_t*>(packed);
  for (size_t n0 = 0; n0 < n; n0 += nr) {
    const size_t cols = std::min(nr, n - n0);
    std::vector<int32_t> head(3 * nr, 0);
    for (size_t j = 0; j < cols; ++j) {
      int64_t sum = 0;  // of the int4 view's values m * r
      for (size_t kk = 0; kk < k; ++kk) {
        sum += int64_t{m[(n0 + j) * blocks + kk / block]} * Nibble(r, (n0 + j) * k + kk);
      }
      head[j] = WrapAdd32(bias != nullptr ? bias[n0 + j] : 0, -int64_t{a_zero_point} * sum);
      head[nr + j] = multiplier[n0 + j];
      head[2 * nr + j] = shift[n0 + j];
    }
    std::memcpy(p, head.data(), head.size() * sizeof(int32_t));
    uint8_t* nib = p + head.size() * sizeof(int32_t);
    std::memset(nib, 0, kp * nr / 2);
    size_t pos = 0;  // the int8 pack's byte index
    for (size_t k0 = 0; k0 < kp; k0 += kr) {
      for (size_t j = 0; j < nr; ++j) {
        for (size_t kk = k0; kk < k0 + kr; ++kk, ++pos) {
          const int v = (j < cols && kk < k) ? Nibble(r, (n0 + j) * k + kk) : 0;
          nib[pos >> 1] |= static_cast<uint8_t>((v & 0xF) << ((pos & 1) * 4));
        }
      }
    }
    uint8_t* mt = nib + kp * nr / 2;  // [block][column]; 0 for padding columns
    for (size_t b = 0; b < blocks; ++b) {
      for (size_t j = 0; j < nr; ++j) mt[b * nr + j] = j < cols ? m[(n0 + j) * blocks + b] : 0;
    }
    p += Q4GemmPackedBlockBytes(k, nr, kr, block);
  }
}

void UnpackQ4GemmBlock(size_t nr, size_t kr, size_t k, size_t block, const void* q4, void* q8) {
  const size_t kp = RoundUp(k, kr);
  const size_t blocks = (k + block - 1) / block;
  const size_t head = 3 * sizeof(int32_t) * nr;
  std::memcpy(q8, q4, head);
  const auto* nib = static_cast<const uint8_t*>(q4) + head;
  const uint8_t* mt = nib + kp * nr / 2;
  auto* out = static_cast<int8_t*>(q8) + head;
  const size_t group = nr * kr;  // bytes of one k group (even: nr is)
  // The multipliers of one k group by byte, rebuilt when the block changes.
  int8_t pattern[kQ8GemmMaxNr * 8];
  size_t pattern_block = blocks;  // none yet
  for (size_t k0 = 0; k0 < kp; k0 += kr, nib += group / 2, out += group) {
    const size_t b = k0 / block;
    if (group <= sizeof(pattern) && b == std::min((k0 + kr - 1) / block, blocks - 1)) {
      if (b != pattern_block) {
        for (size_t j = 0; j < nr; ++j) {
          std::memset(pattern + j * kr, static_cast<int8_t>(mt[b * nr + j]), kr);
        }
        pattern_block = b;
      }
      // Signed nibbles, then the products (|m * r| <= 120 fits int8); two
      // plain loops that the compiler vectorises.
      for (size_t i = 0; i < group / 2; ++i) {
        out[2 * i] = static_cast<int8_t>(static_cast<int8_t>(nib[i] << 4) >> 4);
        out[2 * i + 1] = static_cast<int8_t>(static_cast<int8_t>(nib[i]) >> 4);
      }
      for (size_t i = 0; i < group; ++i) {
        out[i] = static_cast<int8_t>(out[i] * pattern[i]);
      }
      continue;
    }
    // A group that straddles two blocks (block not a multiple of kr).
    for (size_t j = 0; j < nr; ++j) {
      for (size_t kk = 0; kk < kr; ++kk) {
        const size_t i = j * kr + kk;
        const int v = Nibble(nib, i);
        const size_t bb = std::min((k0 + kk) / block, blocks - 1);
        out[i] = static_cast<int8_t>(v * mt[bb * nr + j]);
      }
    }
  }
}

}  // namespace gearshift
