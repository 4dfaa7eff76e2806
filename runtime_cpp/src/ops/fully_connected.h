// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 FULLY_CONNECTED on the last dimension of a rank >= 1 input:
// y[r, o] = sum_i x[r, i] * w[o, i] + b[o] (docs/FORMAT.md). Weights are
// [O, I] so each dot product reads both operands contiguously.
//
// f32_fully_connected__gemm is the same op on a GEMM microkernel with the
// weights and bias packed once at plan time (PackF32GemmWeights).
#ifndef GEARSHIFT_OPS_FULLY_CONNECTED_H_
#define GEARSHIFT_OPS_FULLY_CONNECTED_H_

#include <cstdint>

#include "kernels/f16_gemm/f16_gemm.h"
#include "kernels/f16w_gemm/f16w_gemm.h"
#include "kernels/f32_gemm/f32_gemm.h"
#include "ops/op_common.h"

namespace gearshift {

struct FullyConnectedParams {
  int64_t rows = 0;  // product of all input dims but the last
  int64_t in_features = 0, out_features = 0;
  ActRange act;
};

void f32_fully_connected__ref(const FullyConnectedParams& p, const float* x, const float* w,
                              const float* bias, float* y, ThreadPool* pool);

// `packed`: w [O, I] and bias packed for `kernel` (kernel.nr). Work is split
// over (row tile, column tile) pairs, each computed by one thread with the
// same code, so results are bit-identical for any thread count.
void f32_fully_connected__gemm(const FullyConnectedParams& p, const F32GemmKernel& kernel,
                               const float* packed, const float* x, float* y,
                               ThreadPool* pool);

// The same on fp16 weights (PackF16wGemmWeights' layout for `kernel`).
void f16w_fully_connected__gemm(const FullyConnectedParams& p, const F16wGemmKernel& kernel,
                                const void* packed, const float* x, float* y, ThreadPool* pool);

// The same in fp16 arithmetic (PackF16GemmWeights' layout for `kernel`):
// each row tile's inputs are converted to half once; the output is fp32.
void f16_fully_connected__gemm(const FullyConnectedParams& p, const F16GemmKernel& kernel,
                               const void* packed, const float* x, float* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_FULLY_CONNECTED_H_
