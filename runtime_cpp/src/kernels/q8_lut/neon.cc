// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON int8 lookup, 16 bytes a step: the 256-byte table sits in 16
// registers; TBL over its first 64 entries, then TBX over each further 64
// with the index lowered by 64 (TBX leaves a lane whose index is out of its
// 64 entries unchanged, and a lowered index that wraps below zero is out of
// range). A last step shorter than 16 goes through a padded buffer.
// AArch64 only (ARMv7's TBL reaches 32 entries).
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>

#include "kernels/q8_lut/q8_lut.h"

namespace gearshift {

void q8_lut_16x__neon(size_t n, const int8_t* x, const int8_t* table, int8_t* y) {
  const auto* t = reinterpret_cast<const uint8_t*>(table);
  const uint8x16x4_t t0 = vld1q_u8_x4(t), t1 = vld1q_u8_x4(t + 64);
  const uint8x16x4_t t2 = vld1q_u8_x4(t + 128), t3 = vld1q_u8_x4(t + 192);
  const uint8x16_t flip = vdupq_n_u8(0x80), step = vdupq_n_u8(64);
  auto look = [&](const int8_t* in, int8_t* out) {
    uint8x16_t i = veorq_u8(vld1q_u8(reinterpret_cast<const uint8_t*>(in)), flip);  // x + 128
    uint8x16_t r = vqtbl4q_u8(t0, i);
    i = vsubq_u8(i, step);
    r = vqtbx4q_u8(r, t1, i);
    i = vsubq_u8(i, step);
    r = vqtbx4q_u8(r, t2, i);
    i = vsubq_u8(i, step);
    r = vqtbx4q_u8(r, t3, i);
    vst1q_u8(reinterpret_cast<uint8_t*>(out), r);
  };
  size_t i = 0;
  for (; i + 16 <= n; i += 16) look(x + i, y + i);
  if (i < n) {
    int8_t in[16] = {}, out[16];
    std::memcpy(in, x + i, n - i);
    look(in, out);
    std::memcpy(y + i, out, n - i);
  }
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
