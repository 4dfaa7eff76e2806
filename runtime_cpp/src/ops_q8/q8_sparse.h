// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference sparse int8 FULLY_CONNECTED and CONV_2D over a SparseMatrix of
// int8 weights (a `sparse` q8/q4 gear): int32 accumulation modulo 2^32 of
// (qx - zx) * qw over the stored weights only, plus the bias, then the same
// output stage as ops_q8/q8_conv.h. A pruned weight adds (qx - zx) * 0 = 0
// and integer sums do not depend on their order, so every output is
// bit-identical to q8_*__ref on the densified weights.
//
// The dense layer folds the input zero point into the row sum once per
// output (-zx * sum(qw), modulo 2^32); the convolution cannot (a padding
// tap contributes nothing, not -zx * qw), so it subtracts zx per tap.
#ifndef GEARSHIFT_OPS_Q8_Q8_SPARSE_H_
#define GEARSHIFT_OPS_Q8_Q8_SPARSE_H_

#include <cstdint>

#include "ops/sparse_matrix.h"
#include "ops_q8/q8_conv.h"
#include "thread_pool.h"

namespace gearshift {

// x [rows, I], w [O, I] sparse (i8 values, row_sum), bias [O] or null.
void q8_fully_connected__sparse(const FullyConnectedParams& p, const Q8ChannelRequant& q,
                                const SparseMatrix& w, const int8_t* x, const int32_t* bias,
                                int8_t* y, ThreadPool* pool);

// x [N,H,W,C], w [O, KH*KW*C] sparse, bias [O] or null, y [N,OH,OW,O].
void q8_conv2d__sparse(const Conv2DParams& p, const Q8ChannelRequant& q, const SparseMatrix& w,
                       const int8_t* x, const int32_t* bias, int8_t* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_SPARSE_H_
