// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 NEON int8 depthwise microkernel with the ARMv8.2 dot product
// extension (SDOT), 16 channels per tile, for 3x3 filters (every
// MobileNet-style depthwise layer). SDOT sums 4 adjacent bytes per int32
// lane, and a tap's input holds adjacent channels, so the taps are
// transposed first: per group of 4 taps, one 4-register TBL per 4 channels
// gathers x[t][c], t = 0..3, into the 4 bytes of lane c (the weights are
// transposed the same way once per call), and one SDOT adds the 4 products
// of each channel to its int32 accumulator: 2 instructions per 4 channels and
// 4 taps where SMULL/SMLAL + SADDW need 4. The ninth tap is SMULL + SADDW.
// The sums are exact (int32, as SMULL's products), so they equal the
// reference's for any weight, -128 included. The requantization (TFLite's
// double rounding, q8_requant/neon.h's all-right-shift form) runs in
// registers; the pixel loop is inline assembly, as all 32 vector registers
// hold its values (weights, TBL indices, multipliers, shifts). Rows whose
// layer has other shapes, shifts of 0 or left, or a clamp narrower than
// int8 go to q8_dwconv_16c__neon. Compiled with -march=armv8.2-a+dotprod
// (CMakeLists.txt, by file name) or, where a board pins -mcpu, the pragma
// below; only called where getauxval reports HWCAP_ASIMDDP (dispatch.cc).
#if defined(__aarch64__)

#if !defined(__ARM_FEATURE_DOTPROD)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("arch=armv8.2-a+dotprod")
#else
#error "neon_dot.cc needs -march=armv8.2-a+dotprod (CMakeLists.txt)"
#endif
#endif

#include <arm_neon.h>

#include <cstdint>

#include "kernels/q8_dwconv/q8_dwconv.h"
#include "kernels/q8_requant/neon.h"

namespace gearshift {
namespace {

constexpr size_t kCt = 16;
constexpr size_t kTaps = 9;

// Byte 4c + t of TBL index j (its 4 table registers being taps 0-3, 16
// channels each) selects tap t of channel 4j + c.
constexpr uint8_t kTransposeIndex[4][16] = {
    {0, 16, 32, 48, 1, 17, 33, 49, 2, 18, 34, 50, 3, 19, 35, 51},
    {4, 20, 36, 52, 5, 21, 37, 53, 6, 22, 38, 54, 7, 23, 39, 55},
    {8, 24, 40, 56, 9, 25, 41, 57, 10, 26, 42, 58, 11, 27, 43, 59},
    {12, 28, 44, 60, 13, 29, 45, 61, 14, 30, 46, 62, 15, 31, 47, 63},
};

// Every shift of the layer's tiles is a right shift of at least 1.
bool AllRightShifts(size_t channels, const char* wb, size_t block) {
  int32x4_t m = vdupq_n_s32(-1);
  for (size_t c0 = 0; c0 < channels; c0 += kCt, wb += block) {
    const auto* s = reinterpret_cast<const int32_t*>(wb) + 2 * kCt;
    m = vmaxq_s32(m, vmaxq_s32(vmaxq_s32(vld1q_s32(s), vld1q_s32(s + 4)),
                               vmaxq_s32(vld1q_s32(s + 8), vld1q_s32(s + 12))));
  }
  return vmaxvq_s32(m) < 0;
}

// One 16-channel tile over `width` pixels, in assembly: its values take all
// 32 vector registers. Set-up: the TBL indices into v19-v22; the weights of
// taps 0-3 (v10-v13) and 4-7 (v14-v17) transposed as the inputs will be,
// tap 8 as it is (v18); the multipliers into v23-v26, the (negative) shifts
// into v27-v30, the zero point into v31's int16 lanes. Per pixel: the 9 tap
// pointers, the accumulators (v6-v9) from the folded bias, taps 0-3 and 4-7
// (4 loads, 4 TBL + 4 SDOT each), tap 8 (SMULL, SADDW), then SQRDMULH, SSRA
// (x - 1 where negative) and SRSHL (requant_neon::ScaleRight), + zero point
// in int16, saturation to int8 (the clamp range is int8's), one store.
void Tile(size_t c0, size_t channels, size_t width, const int8_t* const* input, const int32_t* head,
          int32_t zero_point, int8_t* output) {
  const int8_t* const* in = input;
  int8_t* out = output + c0;
  size_t n = width;
  asm volatile(
      // clang-format off
      "ld1 {v19.16b, v20.16b, v21.16b, v22.16b}, [%[idx]]\n"
      "add x9, %[head], #192\n"
      "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [x9], #64\n"
      "tbl v10.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v19.16b\n"
      "tbl v11.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v20.16b\n"
      "tbl v12.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v21.16b\n"
      "tbl v13.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v22.16b\n"
      "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [x9], #64\n"
      "tbl v14.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v19.16b\n"
      "tbl v15.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v20.16b\n"
      "tbl v16.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v21.16b\n"
      "tbl v17.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v22.16b\n"
      "ldr q18, [x9]\n"
      "ldp q23, q24, [%[head], #64]\n"
      "ldp q25, q26, [%[head], #96]\n"
      "ldp q27, q28, [%[head], #128]\n"
      "ldp q29, q30, [%[head], #160]\n"
      "dup v31.8h, %w[zp]\n"
      "1:\n"
      "ldp x9, x10, [%[in]]\n"
      "ldp x11, x12, [%[in], #16]\n"
      "ldp x13, x14, [%[in], #32]\n"
      "ldp x15, x16, [%[in], #48]\n"
      "ldr x17, [%[in], #64]\n"
      "add %[in], %[in], #72\n"
      "ldr q0, [x9, %[c0]]\n"
      "ldr q1, [x10, %[c0]]\n"
      "ldr q2, [x11, %[c0]]\n"
      "ldr q3, [x12, %[c0]]\n"
      "ldp q6, q7, [%[head]]\n"
      "ldp q8, q9, [%[head], #32]\n"
      "tbl v4.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v19.16b\n"
      "sdot v6.4s, v4.16b, v10.16b\n"
      "tbl v4.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v20.16b\n"
      "sdot v7.4s, v4.16b, v11.16b\n"
      "tbl v4.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v21.16b\n"
      "sdot v8.4s, v4.16b, v12.16b\n"
      "tbl v4.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v22.16b\n"
      "sdot v9.4s, v4.16b, v13.16b\n"
      "ldr q0, [x13, %[c0]]\n"
      "ldr q1, [x14, %[c0]]\n"
      "ldr q2, [x15, %[c0]]\n"
      "ldr q3, [x16, %[c0]]\n"
      "tbl v4.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v19.16b\n"
      "sdot v6.4s, v4.16b, v14.16b\n"
      "tbl v4.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v20.16b\n"
      "sdot v7.4s, v4.16b, v15.16b\n"
      "tbl v4.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v21.16b\n"
      "sdot v8.4s, v4.16b, v16.16b\n"
      "tbl v4.16b, {v0.16b, v1.16b, v2.16b, v3.16b}, v22.16b\n"
      "sdot v9.4s, v4.16b, v17.16b\n"
      "ldr q0, [x17, %[c0]]\n"
      "smull v4.8h, v0.8b, v18.8b\n"
      "smull2 v5.8h, v0.16b, v18.16b\n"
      "saddw v6.4s, v6.4s, v4.4h\n"
      "saddw2 v7.4s, v7.4s, v4.8h\n"
      "saddw v8.4s, v8.4s, v5.4h\n"
      "saddw2 v9.4s, v9.4s, v5.8h\n"
      "sqrdmulh v6.4s, v6.4s, v23.4s\n"
      "sqrdmulh v7.4s, v7.4s, v24.4s\n"
      "sqrdmulh v8.4s, v8.4s, v25.4s\n"
      "sqrdmulh v9.4s, v9.4s, v26.4s\n"
      "ssra v6.4s, v6.4s, #31\n"
      "ssra v7.4s, v7.4s, #31\n"
      "ssra v8.4s, v8.4s, #31\n"
      "ssra v9.4s, v9.4s, #31\n"
      "srshl v6.4s, v6.4s, v27.4s\n"
      "srshl v7.4s, v7.4s, v28.4s\n"
      "srshl v8.4s, v8.4s, v29.4s\n"
      "srshl v9.4s, v9.4s, v30.4s\n"
      "sqxtn v4.4h, v6.4s\n"
      "sqxtn2 v4.8h, v7.4s\n"
      "sqxtn v5.4h, v8.4s\n"
      "sqxtn2 v5.8h, v9.4s\n"
      "sqadd v4.8h, v4.8h, v31.8h\n"
      "sqadd v5.8h, v5.8h, v31.8h\n"
      "sqxtn v4.8b, v4.8h\n"
      "sqxtn2 v4.16b, v5.8h\n"
      "str q4, [%[out]]\n"
      "add %[out], %[out], %[ostride]\n"
      "subs %[n], %[n], #1\n"
      "b.ne 1b\n"
      // clang-format on
      : [in] "+r"(in), [out] "+r"(out), [n] "+r"(n)
      : [c0] "r"(c0), [head] "r"(head), [ostride] "r"(channels), [idx] "r"(kTransposeIndex),
        [zp] "r"(zero_point)
      : "cc", "memory", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "v0", "v1",
        "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15",
        "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28",
        "v29", "v30", "v31");
}

}  // namespace

void q8_dwconv_16c__neon_dot(size_t channels, size_t width, size_t taps, const int8_t* const* input,
                             const void* w, int8_t* output, const Q8GemmOutput* out) {
  const size_t block = 3 * sizeof(int32_t) * kCt + taps * kCt;
  const auto* wb = static_cast<const char*>(w);
  if (taps != kTaps || channels % kCt != 0 || width == 0 ||
      !requant_neon::FullRange(out->act_min, out->act_max) ||
      !AllRightShifts(channels, wb, block)) {
    q8_dwconv_16c__neon(channels, width, taps, input, w, output, out);
    return;
  }
  for (size_t c0 = 0; c0 < channels; c0 += kCt, wb += block) {
    Tile(c0, channels, width, input, reinterpret_cast<const int32_t*>(wb), out->c_zero_point,
         output);
  }
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
