// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference sparse fp32 FULLY_CONNECTED and CONV_2D (any kernel size,
// stride, padding, dilation) over a SparseMatrix: only the stored non-zero
// weights are visited, so the work is proportional to nnz. Same geometry
// params and output layout as ops/conv.h and ops/fully_connected.h; the sum
// runs in increasing column order, so the results differ from the dense
// kernels only by the terms of pruned (zero) weights and by float rounding
// order. Each output element is computed by one thread: results do not
// depend on the thread count.
#ifndef GEARSHIFT_OPS_SPARSE_CONV_H_
#define GEARSHIFT_OPS_SPARSE_CONV_H_

#include "ops/conv.h"
#include "ops/fully_connected.h"
#include "ops/sparse_matrix.h"
#include "thread_pool.h"

namespace gearshift {

// x [rows, I], w [O, I] sparse (f32 values), bias [O] or null, y [rows, O].
void f32_fully_connected__sparse(const FullyConnectedParams& p, const SparseMatrix& w,
                                 const float* x, const float* bias, float* y, ThreadPool* pool);

// x [N,H,W,C], w [O, KH*KW*C] sparse (a filter [O,KH,KW,C]), bias [O] or
// null, y [N,OH,OW,O].
void f32_conv2d__sparse(const Conv2DParams& p, const SparseMatrix& w, const float* x,
                        const float* bias, float* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_SPARSE_CONV_H_
