// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int4 GEMM packs (kernels/q8_gemm/q4_pack.cc): packing a q4m weight 4-bit
// and unpacking it gives, byte for byte, the int8 pack of its values m * r,
// for every tile shape the kernels use, blocks that do and do not divide K,
// and K groups that straddle two blocks. The microkernels then run on the
// same bytes as the int8 gear, so their exactness tests cover int4 too.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/q8_gemm/q8_gemm.h"
#include "ops_q8/q8_conv.h"

namespace gearshift {
namespace {

TEST(Q4GemmPack, UnpacksToTheInt8PackOfItsValues) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> nib(-8, 7), mul(1, 15), bias_d(-5000, 5000);
  for (int nr : {4, 8, 16}) {
    for (int kr : {1, 2, 4, 8}) {
      for (size_t n : {1u, 7u, 16u, 21u}) {
        for (size_t k : {1u, 5u, 31u, 32u, 33u, 100u}) {
          for (size_t block : {1u, 3u, 32u, 64u}) {
            Q8GemmKernel kernel;
            kernel.mr = 4;
            kernel.nr = nr;
            kernel.kr = kr;
            kernel.a_offset = kr == 4 ? 128 : 0;
            const size_t blocks = (k + block - 1) / block;
            std::vector<uint8_t> r((n * k + 1) / 2, 0), m(n * blocks);
            std::vector<int8_t> values(n * k);
            for (auto& v : m) v = static_cast<uint8_t>(mul(rng));
            for (size_t i = 0; i < n * k; ++i) {
              const int v = nib(rng);
              r[i / 2] |= static_cast<uint8_t>((v & 0xF) << ((i % 2) * 4));
              values[i] = static_cast<int8_t>(v * m[(i / k) * blocks + (i % k) / block]);
            }
            std::vector<int32_t> bias(n), mult(n, 1 << 30), shift(n, -3);
            for (auto& b : bias) b = bias_d(rng);
            const int32_t zp = -7;
            const size_t q8_block = Q8GemmPackedBlockBytes(k, nr, kr);
            const size_t q4_block = Q4GemmPackedBlockBytes(k, nr, kr, block);
            const size_t nb = (n + nr - 1) / nr;
            ASSERT_EQ(Q4GemmPackedBytes(n, k, kernel, block), nb * q4_block);
            std::vector<int32_t> want(nb * q8_block / 4 + 1), got(want.size());
            std::vector<int32_t> q4(nb * q4_block / 4 + 1);
            PackQ8GemmWeights(kernel, n, k, values.data(), bias.data(), mult.data(), shift.data(),
                              zp, want.data());
            PackQ4GemmWeights(kernel, n, k, r.data(), m.data(), block, bias.data(), mult.data(),
                              shift.data(), zp, q4.data());
            for (size_t b = 0; b < nb; ++b) {
              UnpackQ4GemmBlock(nr, kr, k, block,
                                reinterpret_cast<const char*>(q4.data()) + b * q4_block,
                                reinterpret_cast<char*>(got.data()) + b * q8_block);
            }
            ASSERT_EQ(0, std::memcmp(want.data(), got.data(), nb * q8_block))
                << "nr " << nr << " kr " << kr << " n " << n << " k " << k << " block " << block;
          }
        }
      }
    }
  }
}

// What the int4 gear saves: a pack about half the int8 one for the usual
// q4m block of 32 (one multiplier byte per 32 weights).
TEST(Q4GemmPack, IsAboutHalfTheInt8Pack) {
  Q8GemmKernel kernel;
  kernel.mr = 8;
  kernel.nr = 16;
  kernel.kr = 4;
  const size_t n = 144, k = 576;
  const double ratio = static_cast<double>(Q4GemmPackedBytes(n, k, kernel, 32)) /
                       static_cast<double>(Q8GemmPackedBytes(n, k, kernel));
  EXPECT_LT(ratio, 0.56);
  EXPECT_GT(ratio, 0.5);
}

}  // namespace
}  // namespace gearshift
