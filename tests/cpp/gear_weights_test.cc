// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// GearWeights (src/prepare): the derivations of docs/FORMAT.md checked
// against hand-computed values (f16 rounding, saturation, subnormals and NaN;
// the q8r4 decode, odd counts included; the q4m integer rule and its tie
// break), and PrepareGearWeights for every compute token of a 1.1 file.
#include "prepare/gear_weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "format/model_desc.h"
#include "gear_builder.h"

namespace gearshift {
namespace {

float Bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t BitsOf(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

TEST(F16Test, RoundsToNearestEvenAndSaturates) {
  struct Case {
    float x;
    uint16_t h;
  };
  const Case cases[] = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3C00},
      {-2.0f, 0xC000},
      {0.333333343f, 0x3555},  // 0.333251953125
      {65504.0f, 0x7BFF},
      // Beyond the largest half: saturate (IEEE would give inf from 65520 on).
      {65505.0f, 0x7BFF},
      {65519.0f, 0x7BFF},
      {65520.0f, 0x7BFF},
      {1e10f, 0x7BFF},
      {-1e30f, 0xFBFF},
      {std::numeric_limits<float>::max(), 0x7BFF},
      // Infinities stay infinite.
      {std::numeric_limits<float>::infinity(), 0x7C00},
      {-std::numeric_limits<float>::infinity(), 0xFC00},
      // Ties to even: 1 + 2^-11 lies halfway between 1 (even) and 1 + 2^-10.
      {1.0f + 0x1p-11f, 0x3C00},
      {1.0f + 3 * 0x1p-11f, 0x3C02},         // halfway between 0x3C01 and 0x3C02 (even)
      {1.0f + 0x1p-11f + 0x1p-20f, 0x3C01},  // just above the tie
  };
  for (const Case& c : cases) EXPECT_EQ(F32ToF16Bits(c.x), c.h) << c.x;
  // Around 2048 the half ulp is 1 below and 2 above: 2047.5 ties to 2048
  // (mantissa of 2048 is even), 2049 ties to 2048, 2051 ties to 2052.
  EXPECT_EQ(F32ToF16Bits(2047.5f), 0x6800);
  EXPECT_EQ(F32ToF16Bits(2049.0f), 0x6800);
  EXPECT_EQ(F32ToF16Bits(2051.0f), 0x6802);
  // The largest value below the saturation threshold rounds, not saturates.
  EXPECT_EQ(F32ToF16Bits(65503.0f), 0x7BFF);
  // 65488 lies halfway between 65472 (0x7BFE, even) and 65504 (0x7BFF).
  EXPECT_EQ(F32ToF16Bits(65488.0f), 0x7BFE);
}

TEST(F16Test, Subnormals) {
  EXPECT_EQ(F32ToF16Bits(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(F32ToF16Bits(-0x1p-24f), 0x8001);
  EXPECT_EQ(F32ToF16Bits(0x1p-25f), 0x0000);  // tie between 0 and 2^-24: even (0)
  EXPECT_EQ(F32ToF16Bits(-0x1p-25f), 0x8000);
  EXPECT_EQ(F32ToF16Bits(1.5f * 0x1p-25f), 0x0001);  // above the tie
  EXPECT_EQ(F32ToF16Bits(3.0f * 0x1p-25f), 0x0002);  // 1.5 units: tie, even is 2
  EXPECT_EQ(F32ToF16Bits(5.0f * 0x1p-25f), 0x0002);  // 2.5 units: tie, even is 2
  EXPECT_EQ(F32ToF16Bits(0x1p-30f), 0x0000);
  EXPECT_EQ(F32ToF16Bits(1023.0f * 0x1p-24f), 0x03FF);  // largest subnormal
  EXPECT_EQ(F32ToF16Bits(0x1p-14f), 0x0400);            // smallest normal
  // 1023.75 units rounds up into the smallest normal.
  EXPECT_EQ(F32ToF16Bits(1023.75f * 0x1p-24f), 0x0400);
  EXPECT_EQ(F16BitsToF32(0x0001), 0x1p-24f);
  EXPECT_EQ(F16BitsToF32(0x03FF), 1023.0f * 0x1p-24f);
  EXPECT_EQ(F16BitsToF32(0x8200), -512.0f * 0x1p-24f);
  EXPECT_EQ(F16BitsToF32(0x0400), 0x1p-14f);
}

TEST(F16Test, NanStaysNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const uint16_t h = F32ToF16Bits(nan);
  EXPECT_EQ(h & 0x7C00, 0x7C00);
  EXPECT_NE(h & 0x03FF, 0);
  EXPECT_TRUE(std::isnan(F16BitsToF32(h)));
  EXPECT_TRUE(std::isnan(RoundToF16(-nan)));
  // A signalling NaN whose payload lies only in the low bits still stays NaN.
  EXPECT_TRUE(std::isnan(RoundToF16(Bits(0x7F800001u))));
  EXPECT_TRUE(std::isnan(F16BitsToF32(0x7C01)));
  EXPECT_EQ(F16BitsToF32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(F16BitsToF32(0xFC00), -std::numeric_limits<float>::infinity());
}

TEST(F16Test, EveryHalfRoundTripsAndRandomFloatsRoundToNearest) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = F16BitsToF32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(F32ToF16Bits(f), h) << std::hex << h;
  }
  // Nearest (ties even) among the finite halves, checked against the
  // neighbours of the result, in double.
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits(0, 0x477FDFFFu);  // |x| < 65504
  for (int i = 0; i < 200000; ++i) {
    const float x = Bits(bits(rng) | ((i & 1) ? 0x80000000u : 0));
    const uint16_t h = F32ToF16Bits(x);
    const double r = F16BitsToF32(h);
    const double e = std::fabs(static_cast<double>(x) - r);
    for (int d : {-1, 1}) {
      const uint16_t n = static_cast<uint16_t>((h & 0x7FFF) + d) | (h & 0x8000);
      if ((h & 0x7FFF) == 0 && d < 0) continue;
      const double en = std::fabs(static_cast<double>(x) - F16BitsToF32(n));
      ASSERT_TRUE(e < en || (e == en && (h & 1) == 0))
          << x << " -> " << std::hex << h << " vs neighbour " << n;
    }
  }
}

TEST(Q8R4Test, DecodesPerChannelWithOddCount) {
  // Shape [1, 3], channel axis 1: three channels of one value each, so the
  // payload is 2 bytes and the last high nibble is unused.
  const int8_t q[] = {1, 2, 3};
  const uint8_t r[] = {0xF1, 0x07};  // r = 1, -1, 7
  const float scale[] = {1.0f, 2.0f, 4.0f};
  float out[3];
  DecodeResidual(q, r, 4, LayoutOf({1, 3}, 1), scale, out);
  EXPECT_EQ(out[0], 1.0625f);  // 1 * (1 + 1/16)
  EXPECT_EQ(out[1], 3.875f);   // 2 * (2 - 1/16)
  EXPECT_EQ(out[2], 13.75f);   // 4 * (3 + 7/16)
  // Axis 0 of [2, 3] (rows), 6 values: residual -8 is the most negative.
  const int8_t q2[] = {10, -3, 0, 127, -127, 1};
  const uint8_t r2[] = {0x83, 0x00, 0x7F};  // r = 3, -8, 0, 0, -1, 7
  const float s2[] = {0.5f, 0.25f};
  float out2[6];
  DecodeResidual(q2, r2, 4, LayoutOf({2, 3}, 0), s2, out2);
  EXPECT_EQ(out2[0], 5.09375f);  // 0.5 * 10.1875
  EXPECT_EQ(out2[1], -1.75f);    // 0.5 * (-3 - 0.5)
  EXPECT_EQ(out2[2], 0.0f);
  EXPECT_EQ(out2[3], 31.75f);                        // 0.25 * 127
  EXPECT_EQ(out2[4], 0.25f * (-127.0f - 0.0625f));   // -31.765625
  EXPECT_EQ(out2[5], 0.25f * (1.0f + 7 * 0.0625f));  // 0.359375
}

TEST(Q8R8Test, DecodesSignedBytesInUnitsOfAStep256th) {
  // Shape [2, 2], channel axis 0; residual bytes are two's complement.
  const int8_t q[] = {1, -127, 0, 127};
  const uint8_t r[] = {0x01, 0x80, 0x7F, 0xFF};  // r = 1, -128, 127, -1
  const float scale[] = {1.0f, 0.5f};
  float out[4];
  DecodeResidual(q, r, 8, LayoutOf({2, 2}, 0), scale, out);
  EXPECT_EQ(out[0], 1.00390625f);                    // 1 + 1/256
  EXPECT_EQ(out[1], -127.5f);                        // -127 - 128/256
  EXPECT_EQ(out[2], 0.5f * 0.49609375f);             // 0.5 * 127/256
  EXPECT_EQ(out[3], 0.5f * (127.0f - 0.00390625f));  // the sum is exact
  EXPECT_NE(out[3], 0.5f * 127.0f);
}

TEST(Q4MTest, HandComputedBlocks) {
  // One row (channel axis 0 of [1, 6]), blocks of 3: {-6, -11, 35} and
  // {127, 3, -3}.
  // Block 1: m = 5 gives -5, -10, 35 (squared error 1 + 1 + 0 = 2) and m = 6
  // gives -6, -12, 36 (0 + 1 + 1 = 2); every other m is worse. The tie goes
  // to the smaller m.
  // Block 2: 127 needs the largest step: m = 15, 7 * 15 = 105; 3 and -3
  // round to 0 (rdiv(3, 15) = (6 + 15) div 30 = 0).
  const int8_t q[] = {-6, -11, 35, 127, 3, -3};
  int8_t out[7];
  DeriveQ4M(q, LayoutOf({1, 6}, 0), 3, out);
  EXPECT_EQ(std::vector<int8_t>(out, out + 6), (std::vector<int8_t>{-5, -10, 35, 105, 0, 0}));
  // Halves round away from zero: 3 / 2 = 1.5 -> 2 (m = 2 gives 4, -4; m = 1
  // and m = 3 are exact, and m = 1 is the smallest).
  const int8_t q2[] = {3, -3};
  DeriveQ4M(q2, LayoutOf({1, 2}, 0), 2, out);
  EXPECT_EQ(out[0], 3);
  EXPECT_EQ(out[1], -3);
  // -128 (a non-weight base may hold it): m = 15 gives -8 * 15 = -120.
  const int8_t q3[] = {-128};
  DeriveQ4M(q3, LayoutOf({1}, 0), 32, out);
  EXPECT_EQ(out[0], -120);
  // The last block of a row may be shorter: row of 7, blocks 3 + 3 + 1; the
  // lone 100 takes m = 14 (7 * 14 = 98, error 4; m = 15 gives 105, error 25).
  const int8_t q4[] = {-6, -11, 35, 127, 3, -3, 100};
  DeriveQ4M(q4, LayoutOf({1, 7}, 0), 3, out);
  EXPECT_EQ(std::vector<int8_t>(out, out + 7), (std::vector<int8_t>{-5, -10, 35, 105, 0, 0, 98}));
}

TEST(Q4MTest, RowsFollowTheChannelAxis) {
  // Depthwise filter [1, 2, 2, 2], channel axis 3: channel 0's row is
  // elements 0, 2, 4, 6 and channel 1's is 1, 3, 5, 7; blocks of 2.
  // Channel 0: {-6, -11} -> m = 2 (tie with 6, smaller wins): -6, -12;
  //            {35, 127} -> m = 15: 30, 105.
  // Channel 1: {100, -50} -> m = 14: 98, -56; {7, 1} -> m = 1: 7, 1.
  const int8_t q[] = {-6, 100, -11, -50, 35, 7, 127, 1};
  int8_t out[8];
  DeriveQ4M(q, LayoutOf({1, 2, 2, 2}, 3), 2, out);
  EXPECT_EQ(std::vector<int8_t>(out, out + 8),
            (std::vector<int8_t>{-6, 98, -12, -56, 30, 7, 105, 1}));
  // Every value is a 4-bit integer times the block's m.
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> d(-127, 127);
  std::vector<int8_t> big(64 * 45), res(big.size());
  for (int8_t& v : big) v = static_cast<int8_t>(d(rng));
  DeriveQ4M(big.data(), LayoutOf({64, 45}, 0), 32, res.data());
  for (size_t i = 0; i < res.size(); ++i) ASSERT_LE(std::abs(res[i] - big[i]), 60);
}

// ---- PrepareGearWeights over the mixed 1.1 model -------------------------------

class PrepareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::vector<uint8_t> bytes = testing::MixedGearModel().Build();
    Status s = GearFile::FromBuffer(bytes.data(), bytes.size(), {}, &file_);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  const ModelDesc& m() const { return file_->model(); }
  std::shared_ptr<const GearWeights> Prepare(int gear) {
    std::shared_ptr<const GearWeights> w;
    Status s = PrepareGearWeights(m(), gear, &w);
    EXPECT_TRUE(s.ok()) << s.message();
    return w;
  }
  std::unique_ptr<GearFile> file_;
};

TEST_F(PrepareTest, F32KeepsQ8R4ConvWeightsUndecodedAndUsesDenseInPlace) {
  auto w = Prepare(0);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->compute(), Compute::kF32);
  EXPECT_EQ(w->at(0).f32, nullptr);  // not a constant
  // conv/w from q8r4 over int8 {100,-12,16 | 16,-16,32 | 5,16,-21 | 16,0,-8},
  // read only as a convolution's weights: a recipe the plan decodes into
  // its pack, no f32 copy in the gear.
  ASSERT_NE(w->at(1).q8r4, nullptr);
  EXPECT_EQ(w->at(1).f32, nullptr);
  EXPECT_EQ(w->at(1).q8r4->entry, &m().storage[9]);
  float cw[12];
  w->at(1).q8r4->Decode(cw);
  const float expect[] = {
      1.5625f, -0.1875f,  0.25f,       0.5f,           -0.5f,
      1.0f,    0.234375f, 0.75f,       -0.9697265625f,  // 0.046875 * (-21 + 5/16)
      0.125f,  0.0f,      -0.06640625f};                // 0.0078125 * (-8 - 8/16)
  for (int i = 0; i < 12; ++i) EXPECT_EQ(cw[i], expect[i]) << i;
  // Dense f32 entries are used in place.
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(w->at(2).f32), m().storage[1].data);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(w->at(7).f32), m().storage[2].data);
  EXPECT_EQ(w->owned_bytes(), static_cast<int64_t>(sizeof(Q8R4Tensor)));  // was 64: 12 floats
}

TEST_F(PrepareTest, F16KeepsConvAndDenseWeightsHalfAndRoundsTheRest) {
  auto w = Prepare(1);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->compute(), Compute::kF16);
  // conv/w (f16 storage) and fc/w (f32 storage) are read only as conv/dense
  // weights: recipes, no f32 copy. conv/w's half bits are used in place.
  ASSERT_NE(w->at(1).f16, nullptr);
  EXPECT_EQ(w->at(1).f32, nullptr);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(w->at(1).f16->InPlace()), m().storage[4].data);
  float cw[12];
  w->at(1).f16->Widen(cw);
  const float expect[] = {1.5625f, -0.1875f, 0.25f, 0.5f,   -0.5f, 1.0f,
                          0.25f,   0.75f,    -1.0f, 0.125f, 0.0f,  -0.0625f};
  for (int i = 0; i < 12; ++i) EXPECT_EQ(cw[i], expect[i]) << i;
  ASSERT_NE(w->at(7).f16, nullptr);
  EXPECT_EQ(w->at(7).f16->InPlace(), nullptr);  // f32 storage: rounded when packed
  uint16_t fw[16];
  w->at(7).f16->Derive(fw);
  for (uint16_t h : fw) EXPECT_EQ(h, 0x2C00);  // 0.0625
  // Everything else: a rounded f32 copy (values here are exact halves).
  EXPECT_NE(reinterpret_cast<const uint8_t*>(w->at(2).f32), m().storage[1].data);
  EXPECT_EQ(w->at(2).f32[0], 0.5f);
  EXPECT_EQ(w->at(9).f32[0], 0.5f);
  // conv/b, k: 64 bytes each; the two recipes.
  EXPECT_EQ(w->owned_bytes(), 2 * 64 + 2 * static_cast<int64_t>(sizeof(F16Tensor)));
}

TEST_F(PrepareTest, Q8UsesIntegerStorageInPlaceWithItsQuant) {
  auto w = Prepare(2);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->compute(), Compute::kQ8);
  EXPECT_EQ(w->owned_bytes(), 0);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(w->at(1).i8), m().storage[5].data);
  EXPECT_EQ(w->at(1).quant, &m().storage[5].quant);
  EXPECT_EQ(w->at(1).f32, nullptr);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(w->at(2).i32), m().storage[6].data);
  EXPECT_EQ(w->at(2).i32[3], 3277);
  EXPECT_EQ(w->at(2).quant->scale.size(), 4u);
  EXPECT_EQ(w->at(9).i8[0], 24);
  EXPECT_EQ(w->at(9).quant->zero_point[0], 3);
}

TEST_F(PrepareTest, Q4DerivesTheInt4ViewWithTheBaseScales) {
  auto w = Prepare(3);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->compute(), Compute::kQ4);
  // conv/w rows (axis 0) of 3 in blocks of 2: {100,-12},{16} | {16,-16},{32}
  // | {5,16},{-21} | {16,0},{-8}.
  // {100,-12}: m = 14 -> 98, -14 (error 4 + 4 = 8; m = 13: 91, -13 -> 82;
  //   m = 15: 105, -15 -> 34).
  // {16}: 16 / m must be at most 7, so m = 4 is the smallest exact one
  //   (m = 2 clamps to 14). {16,-16}: m = 4 exact. {32}: m = 8 exact.
  // {5,16}: m = 3 -> 6, 15 (error 2); m = 4 -> 4 (rdiv(5, 4) = 14 div 8 = 1),
  //   16 (error 1); m = 5 -> 5, 15 (error 1): a tie, m = 4 wins -> 4, 16.
  // {-21}: m = 3 exact. {16,0}: m = 4 exact. {-8}: m = 1 exact.
  const int8_t expect[] = {98, -14, 16, 16, -16, 32, 4, 16, -21, 16, 0, -8};
  // No int8 copy: a recipe the plan derives its 4-bit packs from.
  EXPECT_EQ(w->at(1).i8, nullptr);
  const Q4MTensor* q4 = w->at(1).q4;
  ASSERT_NE(q4, nullptr);
  EXPECT_EQ(q4->elements, 12);
  EXPECT_EQ(q4->blocks, 2);
  int8_t q[12];
  q4->Expand(q);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(q[i], expect[i]) << i;
  uint8_t r[6], mult[8];
  q4->Derive(r, mult);
  EXPECT_EQ(r[0], 0xF7);  // 98 = 14 * 7, -14 = 14 * -1
  EXPECT_EQ(mult[0], 14);
  EXPECT_EQ(mult[7], 1);                             // {-8}: m = 1,
  EXPECT_EQ(r[5] >> 4, 0x8);                         // r = -8
  EXPECT_EQ(w->at(1).quant, &m().storage[5].quant);  // the base's scales
  // fc/w: all 127, blocks of 4: m = 15 -> 105 everywhere.
  ASSERT_NE(w->at(7).q4, nullptr);
  int8_t fc[16];
  w->at(7).q4->Expand(fc);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(fc[i], 105);
  // Bias and the other constant as in q8, in place.
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(w->at(2).i32), m().storage[6].data);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(w->at(9).i8), m().storage[8].data);
  EXPECT_EQ(w->owned_bytes(), 2 * static_cast<int64_t>(sizeof(Q4MTensor)));
}

// The 4-bit parts, decoded as Q4MTensor documents, give DeriveQ4M's values
// on a tensor of many blocks, channels in the middle axis and a block that
// does not divide the row.
TEST(Q4MTest, PartsFollowTheDocumentedLayout) {
  std::vector<int8_t> q(3 * 5 * 7);
  uint32_t s = 12345;
  for (auto& v : q) {
    s = s * 1103515245u + 12345u;
    v = static_cast<int8_t>(static_cast<int>(s >> 16) % 255 - 127);
  }
  const ChannelLayout layout = LayoutOf({3, 5, 7}, 1);
  for (int block : {1, 3, 4, 32}) {
    std::vector<int8_t> want(q.size()), got(q.size());
    DeriveQ4M(q.data(), layout, block, want.data());
    const int64_t blocks = (3 * 7 + block - 1) / block;
    std::vector<uint8_t> r((q.size() + 1) / 2), m(static_cast<size_t>(5 * blocks));
    DeriveQ4MParts(q.data(), layout, block, r.data(), m.data());
    for (size_t i = 0; i < q.size(); ++i) {
      const int v = (((r[i / 2] >> ((i % 2) * 4)) & 0xF) ^ 8) - 8;
      const int64_t c = (static_cast<int64_t>(i) / 7) % 5;
      const int64_t k = static_cast<int64_t>(i) / 35 * 7 + static_cast<int64_t>(i) % 7;
      got[i] = static_cast<int8_t>(m[static_cast<size_t>(c * blocks + k / block)] * v);
    }
    EXPECT_EQ(got, want) << "block " << block;
    for (uint8_t mm : m) EXPECT_TRUE(mm >= 1 && mm <= 15);
  }
}

TEST_F(PrepareTest, RefusesStorageAGearCannotTake) {
  // ModelDescs built in code skip the reader; PrepareGearWeights still checks.
  ModelDesc model = m();
  model.gears[0].constant_storage[1] = 5;  // fp32 gear, i8 storage
  std::shared_ptr<const GearWeights> w;
  Status s = PrepareGearWeights(model, 0, &w);
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  EXPECT_NE(s.message().find("gear 'fp32': storage 5 of constant 'conv/w' is not f32"),
            std::string::npos)
      << s.message();
  model = m();
  model.gears[2].constant_storage[1] = 10;  // q8 gear, q4m storage
  s = PrepareGearWeights(model, 2, &w);
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  EXPECT_NE(s.message().find("gear 'int8'"), std::string::npos) << s.message();
  model = m();
  model.storage[10].base = 0;  // q4m over f32
  s = PrepareGearWeights(model, 3, &w);
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  EXPECT_EQ(PrepareGearWeights(m(), 4, &w).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PrepareGearWeights(m(), -1, &w).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gearshift
