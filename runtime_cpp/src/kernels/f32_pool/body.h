// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The loops of every f32_pool kernel, written so the compiler vectorises them
// along the channels for the instruction set its translation unit is built
// for (CMakeLists.txt sets the flags by file name, and -fno-trapping-math so
// the selects become blends). Internal linkage and written-out ternaries, as
// f32_vbinary/body.h explains.
#ifndef GEARSHIFT_KERNELS_F32_POOL_BODY_H_
#define GEARSHIFT_KERNELS_F32_POOL_BODY_H_

#include <cstddef>
#include <limits>

#include "kernels/f32_pool/f32_pool.h"

namespace gearshift {
namespace {

inline float PClamp(float v, float lo, float hi) {
  const float m = v < lo ? lo : v;
  return hi < m ? hi : m;
}

// Channel blocks of kBlock: the block's running values stay in a local array
// (registers once vectorised) across the taps, one pass over the output.
constexpr size_t kBlock = 64;

inline void Pool(F32PoolOp op, size_t channels, size_t taps, const float* const* input, float div,
                 float* output, float lo, float hi) {
  for (size_t c0 = 0; c0 < channels; c0 += kBlock) {
    const size_t n = channels - c0 < kBlock ? channels - c0 : kBlock;
    float acc[kBlock];
    if (op == F32PoolOp::kMax) {
      for (size_t c = 0; c < n; ++c) acc[c] = -std::numeric_limits<float>::infinity();
      for (size_t t = 0; t < taps; ++t) {
        const float* x = input[t] + c0;
        for (size_t c = 0; c < n; ++c) acc[c] = acc[c] < x[c] ? x[c] : acc[c];
      }
      if (taps == 0) {
        for (size_t c = 0; c < n; ++c) acc[c] = 0.0f;
      }
      for (size_t c = 0; c < n; ++c) output[c0 + c] = PClamp(acc[c], lo, hi);
    } else {
      for (size_t c = 0; c < n; ++c) acc[c] = 0.0f;
      for (size_t t = 0; t < taps; ++t) {
        const float* x = input[t] + c0;
        for (size_t c = 0; c < n; ++c) acc[c] += x[c];
      }
      for (size_t c = 0; c < n; ++c) output[c0 + c] = PClamp(acc[c] / div, lo, hi);
    }
  }
}

}  // namespace
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_POOL_BODY_H_
