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

// One block of n channels from c0 (n <= kBlock); kN > 0: n == kN, known at
// compile time.
template <size_t kN>
inline void PoolBlock(F32PoolOp op, size_t n_run, size_t c0, size_t taps, const float* const* input,
                      float div, float* output, float lo, float hi) {
  const size_t n = kN > 0 ? kN : n_run;
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

inline void Pool(F32PoolOp op, size_t channels, size_t taps, const float* const* input, float div,
                 float* output, float lo, float hi) {
  // 8, 16, 32 and 64 channels (MediaPipe's BlazeFace-style pools): a
  // compile-time count lets each loop be whole vectors without a trip-count
  // check and remainder. With 16 channels those cost more than the pooling
  // (face_landmark's 96x96x16 max pool: ~70 cycles a pixel). Same
  // expressions, same order: the same bits.
  switch (channels) {
    case 8:
      return PoolBlock<8>(op, 8, 0, taps, input, div, output, lo, hi);
    case 16:
      return PoolBlock<16>(op, 16, 0, taps, input, div, output, lo, hi);
    case 32:
      return PoolBlock<32>(op, 32, 0, taps, input, div, output, lo, hi);
    case 64:
      return PoolBlock<64>(op, 64, 0, taps, input, div, output, lo, hi);
    default:
      break;
  }
  for (size_t c0 = 0; c0 < channels; c0 += kBlock) {
    const size_t n = channels - c0 < kBlock ? channels - c0 : kBlock;
    PoolBlock<0>(op, n, c0, taps, input, div, output, lo, hi);
  }
}

}  // namespace
}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_POOL_BODY_H_
