// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Weight packing for the int8 depthwise microkernels and the plain-loop
// reference microkernel (baseline flags; its requantization is the shared
// scalar epilogue of kernels/q8_gemm/ref.cc).
#include <algorithm>
#include <cstring>

#include "kernels/q8_dwconv/q8_dwconv.h"

namespace gearshift {

void PackQ8DwconvWeights(size_t channels, size_t taps, size_t ct, const int8_t* filter,
                         const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                         int32_t x_zero_point, void* packed) {
  auto* p = static_cast<char*>(packed);
  for (size_t c0 = 0; c0 < channels; c0 += ct) {
    const size_t cn = std::min(ct, channels - c0);
    auto* head = reinterpret_cast<int32_t*>(p);
    for (size_t j = 0; j < ct; ++j) {
      uint32_t b = 0;
      int32_t m = 0, s = 0;
      if (j < cn) {
        int64_t sum = 0;
        for (size_t t = 0; t < taps; ++t) sum += filter[t * channels + c0 + j];
        b = static_cast<uint32_t>(bias != nullptr ? bias[c0 + j] : 0) -
            static_cast<uint32_t>(static_cast<int64_t>(x_zero_point) * sum);
        m = multiplier[c0 + j];
        s = shift[c0 + j];
      }
      const auto bi = static_cast<int32_t>(b);
      std::memcpy(head + j, &bi, sizeof(bi));
      std::memcpy(head + ct + j, &m, sizeof(m));
      std::memcpy(head + 2 * ct + j, &s, sizeof(s));
    }
    auto* w = reinterpret_cast<int8_t*>(p + 3 * sizeof(int32_t) * ct);
    for (size_t t = 0; t < taps; ++t) {
      for (size_t j = 0; j < ct; ++j) {
        w[t * ct + j] = j < cn ? filter[t * channels + c0 + j] : 0;
      }
    }
    p += 3 * sizeof(int32_t) * ct + taps * ct;
  }
}

void q8_dwconv_8c__ref(size_t channels, size_t width, size_t taps, const int8_t* const* input,
                       const void* w, int8_t* output, const Q8GemmOutput* out) {
  constexpr size_t kCt = 8;
  const size_t block = 3 * sizeof(int32_t) * kCt + taps * kCt;
  for (size_t px = 0; px < width; ++px) {
    const int8_t* const* in = input + px * taps;
    const auto* wb = static_cast<const char*>(w);
    for (size_t c0 = 0; c0 < channels; c0 += kCt, wb += block) {
      const size_t cn = std::min(kCt, channels - c0);
      int32_t head[3 * kCt];
      std::memcpy(head, wb, sizeof(head));
      const auto* wt = reinterpret_cast<const int8_t*>(wb + sizeof(head));
      int32_t acc[kCt];
      for (size_t j = 0; j < cn; ++j) {
        uint32_t a = static_cast<uint32_t>(head[j]);
        for (size_t t = 0; t < taps; ++t) {
          a += static_cast<uint32_t>(int32_t{in[t][c0 + j]} * int32_t{wt[t * kCt + j]});
        }
        acc[j] = static_cast<int32_t>(a);
      }
      Q8GemmRequantizeTile(1, cn, acc, kCt, head + kCt, head + 2 * kCt, *out, output + c0,
                           channels);
    }
    output += channels;
  }
}

}  // namespace gearshift
