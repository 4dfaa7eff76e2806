// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// fp32 pooling microkernels: one output pixel, all channels, over the taps
// of its window that fall inside the input (one pointer per tap to
// `channels` floats, as f32_dwconv takes them). The reference ops'
// expressions in the reference's order (ops/pool.cc), so every ISA gives the
// reference's bits; the ISA variants are the same loops compiled for wider
// vectors (body.h).
#ifndef GEARSHIFT_KERNELS_F32_POOL_F32_POOL_H_
#define GEARSHIFT_KERNELS_F32_POOL_F32_POOL_H_

#include <cstddef>

namespace gearshift {

// kMax: out[c] = clamp(max_t in[t][c]) (m < x ? x : m from -inf, so a NaN
// input is skipped as the reference's std::max skips it); kAverage: out[c] =
// clamp((0 + in[0][c] + in[1][c] + ...) / div). No taps: clamp(0).
enum class F32PoolOp { kMax, kAverage };

using F32PoolUkernelFn = void (*)(F32PoolOp op, size_t channels, size_t taps,
                                  const float* const* input, float div, float* output, float lo,
                                  float hi);

#define GS_UKERNEL(isa, name)                                                                 \
  void name(F32PoolOp op, size_t channels, size_t taps, const float* const* input, float div, \
            float* output, float lo, float hi);
#include "kernels/f32_pool/f32_pool.inc"
#undef GS_UKERNEL

}  // namespace gearshift

#endif  // GEARSHIFT_KERNELS_F32_POOL_F32_POOL_H_
