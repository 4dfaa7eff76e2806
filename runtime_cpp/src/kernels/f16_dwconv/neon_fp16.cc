// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// AArch64 fp16-arithmetic depthwise microkernel: 16 channels a step (one
// LD1 of two .8h vectors per input and per weight pointer and tap, two FMLA
// .8h), then 8, then a scalar half tail; fixed tap counts (3x3, 5x5
// interiors) walk private pointer copies held in registers. Per tap and 16
// channels: 4 instructions, against 6 for f32_dwconv_8c__neon and 9 for
// f16w_dwconv_8c__neon (which widens the weights). Flags as
// f16_gemm/neon_fp16.cc: -march=armv8.2-a+fp16 or the pragma below.
#if defined(__aarch64__)

#if !defined(__ARM_FEATURE_FP16_VECTOR_ARITHMETIC)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("arch=armv8.2-a+fp16")
#else
#error "neon_fp16.cc needs -march=armv8.2-a+fp16 (CMakeLists.txt)"
#endif
#endif

#include <arm_neon.h>

#include "kernels/f16_dwconv/f16_dwconv.h"
#include "kernels/f32_dwconv/aarch64_dw9.h"

namespace gearshift {
namespace {

inline float16x8_t Bias8(const float* bias) {
  if (bias == nullptr) return vdupq_n_f16(0);
  return vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(bias)), vld1q_f32(bias + 4));
}

inline void Store8(float* out, float16x8_t v) {
  vst1q_f32(out, vcvt_f32_f16(vget_low_f16(v)));
  vst1q_f32(out + 4, vcvt_high_f32_f16(v));
}

// 3x3 interior pixels (the bulk of every MobileNet-style depthwise layer),
// 16 channels a step, in assembly: GCC 12 keeps the 18 walking pointers of
// the intrinsics loop on the stack and re-derives them every step (25
// instructions a step, beside 36 loads and multiply-adds); here each LD1
// post-increments its own register (x0-x8 the taps' inputs, x9-x17 their
// weights): 52 instructions a step instead of 82.
// The same operations in the same order as Dwconv<9>: bit for bit.
// Returns the channels done (a multiple of 16).
template <bool kBias>
size_t Dwconv9x16(size_t channels, const float16_t* const* input, const float16_t* const* weights,
                  const float* bias, float* output, float16x8_t vlo, float16x8_t vhi) {
  size_t steps = channels / 16;
  if (steps == 0) return 0;
  const float* b = bias;
  float* out = output;
  // clang-format off
#define GS_F16DW_TAP(I, W, X0, X1, W0, W1) \
  "ld1 {" X0 ".8h, " X1 ".8h}, [" I "], #32\n" \
  "ld1 {" W0 ".8h, " W1 ".8h}, [" W "], #32\n" \
  "fmla v0.8h, " X0 ".8h, " W0 ".8h\n" \
  "fmla v1.8h, " X1 ".8h, " W1 ".8h\n"
#define GS_F16DW_LOOP(BIAS) \
  asm volatile( \
      GS_DW9_LOAD_POINTERS \
      "1:\n" \
      BIAS \
      GS_F16DW_TAP("x0", "x9", "v2", "v3", "v4", "v5") \
      GS_F16DW_TAP("x1", "x10", "v6", "v7", "v16", "v17") \
      GS_F16DW_TAP("x2", "x11", "v2", "v3", "v4", "v5") \
      GS_F16DW_TAP("x3", "x12", "v6", "v7", "v16", "v17") \
      GS_F16DW_TAP("x4", "x13", "v2", "v3", "v4", "v5") \
      GS_F16DW_TAP("x5", "x14", "v6", "v7", "v16", "v17") \
      GS_F16DW_TAP("x6", "x15", "v2", "v3", "v4", "v5") \
      GS_F16DW_TAP("x7", "x16", "v6", "v7", "v16", "v17") \
      GS_F16DW_TAP("x8", "x17", "v2", "v3", "v4", "v5") \
      "fmax v0.8h, v0.8h, %[lo].8h\n" \
      "fmax v1.8h, v1.8h, %[lo].8h\n" \
      "fmin v0.8h, v0.8h, %[hi].8h\n" \
      "fmin v1.8h, v1.8h, %[hi].8h\n" \
      "fcvtl v18.4s, v0.4h\n" \
      "fcvtl2 v19.4s, v0.8h\n" \
      "fcvtl v20.4s, v1.4h\n" \
      "fcvtl2 v21.4s, v1.8h\n" \
      "st1 {v18.4s, v19.4s, v20.4s, v21.4s}, [%[out]], #64\n" \
      "subs %[n], %[n], #1\n" \
      "b.ne 1b\n" \
      : [b] "+r"(b), [out] "+r"(out), [n] "+r"(steps) \
      : [in] "r"(input), [wt] "r"(weights), [lo] "w"(vlo), [hi] "w"(vhi) \
      : "cc", "memory", GS_DW9_POINTER_CLOBBERS, "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", \
        "v16", "v17", "v18", "v19", "v20", "v21");
#define GS_F16DW_BIAS \
  "ld1 {v18.4s, v19.4s, v20.4s, v21.4s}, [%[b]], #64\n" \
  "fcvtn v0.4h, v18.4s\n" \
  "fcvtn2 v0.8h, v19.4s\n" \
  "fcvtn v1.4h, v20.4s\n" \
  "fcvtn2 v1.8h, v21.4s\n"
#define GS_F16DW_ZERO \
  "movi v0.16b, #0\n" \
  "movi v1.16b, #0\n"
  if (kBias) {
    GS_F16DW_LOOP(GS_F16DW_BIAS);
  } else {
    GS_F16DW_LOOP(GS_F16DW_ZERO);
  }
  // clang-format on
#undef GS_F16DW_ZERO
#undef GS_F16DW_BIAS
#undef GS_F16DW_LOOP
#undef GS_F16DW_TAP
  return channels / 16 * 16;
}

// kTaps > 0: the tap count, known at compile time; 0: `taps` at run time.
template <size_t kTaps>
void Dwconv(size_t channels, size_t taps, const float16_t* const* input,
            const float16_t* const* weights, const float* bias, float* output, float lo, float hi) {
  const size_t n = kTaps > 0 ? kTaps : taps;
  const float16x8_t vlo = vdupq_n_f16(static_cast<float16_t>(lo));
  const float16x8_t vhi = vdupq_n_f16(static_cast<float16_t>(hi));
  size_t c = 0;
  if (kTaps > 0) {
    const float16_t* ip[kTaps > 0 ? kTaps : 1];
    const float16_t* wp[kTaps > 0 ? kTaps : 1];
    for (size_t t = 0; t < kTaps; ++t) {
      ip[t] = input[t];
      wp[t] = weights[t];
    }
    for (; c + 16 <= channels; c += 16) {
      float16x8_t acc0 = Bias8(bias != nullptr ? bias + c : nullptr);
      float16x8_t acc1 = Bias8(bias != nullptr ? bias + c + 8 : nullptr);
#pragma GCC unroll 32
      for (size_t t = 0; t < kTaps; ++t) {
        const float16x8x2_t x = vld1q_f16_x2(ip[t]);
        const float16x8x2_t w = vld1q_f16_x2(wp[t]);
        acc0 = vfmaq_f16(acc0, x.val[0], w.val[0]);
        acc1 = vfmaq_f16(acc1, x.val[1], w.val[1]);
        ip[t] += 16;
        wp[t] += 16;
      }
      Store8(output + c, vminq_f16(vmaxq_f16(acc0, vlo), vhi));
      Store8(output + c + 8, vminq_f16(vmaxq_f16(acc1, vlo), vhi));
    }
  }
  for (; c + 8 <= channels; c += 8) {
    float16x8_t acc = Bias8(bias != nullptr ? bias + c : nullptr);
    for (size_t t = 0; t < n; ++t) {
      acc = vfmaq_f16(acc, vld1q_f16(input[t] + c), vld1q_f16(weights[t] + c));
    }
    Store8(output + c, vminq_f16(vmaxq_f16(acc, vlo), vhi));
  }
  if (c < channels) {
    const float16_t hlo = static_cast<float16_t>(lo), hhi = static_cast<float16_t>(hi);
    for (; c < channels; ++c) {
      float16_t acc = bias != nullptr ? static_cast<float16_t>(bias[c]) : float16_t{0};
      for (size_t t = 0; t < n; ++t) acc = vfmah_f16(acc, input[t][c], weights[t][c]);
      output[c] = static_cast<float>(vminh_f16(vmaxh_f16(acc, hlo), hhi));
    }
  }
}

}  // namespace

void f16_dwconv_16c__neon_fp16(size_t channels, size_t taps, const uint16_t* const* input,
                               const uint16_t* const* weights, const float* bias, float* output,
                               float lo, float hi) {
  const auto* in = reinterpret_cast<const float16_t* const*>(input);
  const auto* w = reinterpret_cast<const float16_t* const*>(weights);
  if (taps == 9 && channels >= 16) {  // 3x3 interior pixels: the assembly step, as
    // f32_dwconv/neon.cc, then Dwconv<9> for the channels past the last 16
    const float16x8_t vlo = vdupq_n_f16(static_cast<float16_t>(lo));
    const float16x8_t vhi = vdupq_n_f16(static_cast<float16_t>(hi));
    const size_t done = bias != nullptr
                            ? Dwconv9x16<true>(channels, in, w, bias, output, vlo, vhi)
                            : Dwconv9x16<false>(channels, in, w, bias, output, vlo, vhi);
    if (done == channels) return;
    const float16_t* in_rest[9];
    const float16_t* w_rest[9];
    for (size_t t = 0; t < 9; ++t) {
      in_rest[t] = in[t] + done;
      w_rest[t] = w[t] + done;
    }
    return Dwconv<9>(channels - done, taps, in_rest, w_rest,
                     bias != nullptr ? bias + done : nullptr, output + done, lo, hi);
  }
  ByTapCount(taps, [&](auto fixed) {
    Dwconv<decltype(fixed)::value>(channels, taps, in, w, bias, output, lo, hi);
  });
}

}  // namespace gearshift

#endif  // defined(__aarch64__)
