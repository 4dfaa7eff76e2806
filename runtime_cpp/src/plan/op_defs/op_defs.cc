// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Helpers the op families' int8 prepare functions share.
#include "plan/op_defs/op_defs.h"

#include <string>

#include "plan/plan_internal.h"

namespace gearshift {
namespace op_defs {

Status Q8Fail(const StepBuild& b, const std::string& m) {
  return FormatError("gear '" + b.gear.name + "', node '" + b.node.name + "': " + m);
}

Status Q8QuantOf(const StepBuild& b, int t, Q8Quant* q) {
  if (b.refs()[t].kind != TensorRef::Kind::kConst) {
    *q = b.gear.activations[t];
    return Status::Ok();
  }
  const ConstView& cv = b.weights.at(t);
  if (cv.i8 == nullptr || cv.quant == nullptr || cv.quant->scale.size() != 1) {
    return Q8Fail(b,
                  "constant '" + b.model.tensors[t].name + "' is not int8 with per-tensor quant");
  }
  q->scale = cv.quant->scale[0];
  q->zero_point = cv.quant->zero_point.empty() ? 0 : cv.quant->zero_point[0];
  return Status::Ok();
}

Status Q8SameAsOutput(const StepBuild& b, int t) {
  Q8Quant q;
  GS_RETURN_IF_ERROR(Q8QuantOf(b, t, &q));
  if (!plan_internal::SameQuant(q, b.q8_y)) {
    return Q8Fail(
        b, "input '" + b.model.tensors[t].name + "' and the output have different int8 parameters");
  }
  return Status::Ok();
}

}  // namespace op_defs
}  // namespace gearshift
