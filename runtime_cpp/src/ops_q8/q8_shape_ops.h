// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// int8 CONCATENATION, RESHAPE (a copy) and PAD: values move unchanged, since
// inputs and output share (scale, zero point) (docs/FORMAT.md "Compute
// tokens"). CONCATENATION clamps to its fused activation's range (a no-op
// for NONE); PAD fills with the zero point, which is real 0, or (1.3) with
// its `value` quantized. Shapes come from the fp32 ops' ConcatParams and
// PadParams.
#ifndef GEARSHIFT_OPS_Q8_Q8_SHAPE_OPS_H_
#define GEARSHIFT_OPS_Q8_Q8_SHAPE_OPS_H_

#include <cstdint>

#include "ops/op_common.h"
#include "ops/shape_ops.h"
#include "ops_q8/q8_common.h"

namespace gearshift {

// PAD's fill: clamp(round_half_away(value / (double)s) + z), with `value`
// the double the file holds (QUANTIZATION.md; 0 gives the zero point).
int8_t QuantizeQ8Fill(double value, Q8Quant q);

void q8_concat__ref(const ConcatParams& p, Q8Range act, const int8_t* const* inputs, int8_t* y);
void q8_copy__ref(const int8_t* x, int8_t* y, int64_t n);
void q8_pad__ref(const PadParams& p, int8_t pad_value, const int8_t* x, int8_t* y);

// Same bytes as the __refs, split over threads where there are enough of
// them: CONCATENATION copies each (outer, input) chunk with memcpy (a clamp
// loop only under a fused activation); PAD writes each output row once (fill,
// copy, fill) instead of filling the whole output and then copying over it.
void q8_concat__opt(const ConcatParams& p, Q8Range act, const int8_t* const* inputs, int8_t* y,
                    ThreadPool* pool);
void q8_pad__opt(const PadParams& p, int8_t pad_value, const int8_t* x, int8_t* y,
                 ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_Q8_Q8_SHAPE_OPS_H_
