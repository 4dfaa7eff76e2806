// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 MAX_POOL_2D and AVERAGE_POOL_2D (quant_ref.q8_max_pool, q8_avg_pool;
// TFLite's reference_integer_ops MaxPool/AveragePool). Input and output share
// (scale, zero point), so values move without rescaling: the max of the
// in-bounds taps, or their sum divided by their count rounding half away from
// zero, clamped to the fused activation's range. Geometry is the fp32 ops'
// Pool2DParams (its float `act` unused).
#ifndef GEARSHIFT_OPS_Q8_Q8_POOL_H_
#define GEARSHIFT_OPS_Q8_Q8_POOL_H_

#include <cstdint>

#include "ops/pool.h"
#include "ops_q8/q8_common.h"

namespace gearshift {

void q8_max_pool2d__ref(const Pool2DParams& p, Q8Range act, const int8_t* x, int8_t* y,
                        ThreadPool* pool);
void q8_average_pool2d__ref(const Pool2DParams& p, Q8Range act, const int8_t* x, int8_t* y,
                            ThreadPool* pool);

// Same integers as the __ref: the taps of a block of channels are summed in
// int32 (exact: windows under 2^23 taps, else it runs the __ref) with the
// channel loop innermost, so it vectorises; one division per output.
void q8_average_pool2d__opt(const Pool2DParams& p, Q8Range act, const int8_t* x, int8_t* y,
                            ThreadPool* pool);
// The same maxima as the __ref, over blocks of channels in a local buffer
// (the __ref's int8 output can alias its input, which keeps it scalar).
void q8_max_pool2d__opt(const Pool2DParams& p, Q8Range act, const int8_t* x, int8_t* y,
                        ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_POOL_H_
