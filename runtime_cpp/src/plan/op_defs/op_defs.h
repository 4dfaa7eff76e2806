// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The OpDef of every op, one function per op, defined in its family's file
// (conv_ops.cc, pool_ops.cc, elementwise_ops.cc, layout_ops.cc) and listed
// once in OpRegistry::Default (op_registry.cc); plus the helpers the
// families' prepare and run functions share.
#ifndef GEARSHIFT_PLAN_OP_DEFS_OP_DEFS_H_
#define GEARSHIFT_PLAN_OP_DEFS_OP_DEFS_H_

#include <string>
#include <variant>

#include "plan/op_registry.h"
#include "plan/plan.h"

namespace gearshift {

// conv_ops.cc
OpDef Conv2DOp();
OpDef DepthwiseConv2DOp();
OpDef TransposeConvOp();
OpDef FullyConnectedOp();
// pool_ops.cc
OpDef MaxPool2DOp();
OpDef AveragePool2DOp();
OpDef MeanOp();
// elementwise_ops.cc
OpDef ReluOp();
OpDef Relu6Op();
OpDef ReluN1To1Op();
OpDef LogisticOp();
OpDef TanhOp();
OpDef HardSwishOp();
OpDef LeakyReluOp();
OpDef QuantizeOp();
OpDef SoftmaxOp();
OpDef AddOp();
OpDef MulOp();
OpDef SubOp();
OpDef DivOp();
OpDef MaximumOp();
OpDef MinimumOp();
OpDef PreluOp();
// layout_ops.cc
OpDef ConcatenationOp();
OpDef ReshapeOp();
OpDef PadOp();
OpDef ResizeBilinearOp();
OpDef ResizeNearestNeighborOp();
OpDef DepthToSpaceOp();
OpDef SpaceToDepthOp();
OpDef TransposeOp();
OpDef SliceOp();
OpDef GatherOp();

namespace op_defs {

// The step's params of family T: run functions call this on steps their
// own prepare filled (no check on the hot path beyond the variant's index).
template <class T>
const T& Params(const PlanStep& st) {
  return *std::get_if<T>(&st.params);
}
template <class T>
T& MutableParams(PlanStep* st) {
  return *std::get_if<T>(&st->params);
}

// "gear 'g', node 'n': m" as a FormatError.
Status Q8Fail(const StepBuild& b, const std::string& m);
// (scale, zero point) of operand tensor t: the gear's activation
// parameters, or a constant's per-tensor storage quant.
Status Q8QuantOf(const StepBuild& b, int t, Q8Quant* q);
// Value-moving ops (pools, CONCATENATION, RESHAPE, PAD, the layout ops,
// resizes, MAXIMUM/MINIMUM) need equal parameters in and out (the reader
// checks; a plan never rescales there).
Status Q8SameAsOutput(const StepBuild& b, int t);

}  // namespace op_defs
}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_OP_DEFS_OP_DEFS_H_
