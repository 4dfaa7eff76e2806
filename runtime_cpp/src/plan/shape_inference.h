// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Shape inference: from a validated ModelDesc and the concrete input shapes
// (batch included), computes every tensor's concrete shape with the rules of
// docs/FORMAT.md "Nodes" and checks each against the shape the manifest
// declares (-1 in dimension 0 matches any batch). A wrong caller shape is
// InvalidArgument; a graph whose shapes do not fit together is FormatError.
// Both name the input, tensor or node at fault.
#ifndef GEARSHIFT_PLAN_SHAPE_INFERENCE_H_
#define GEARSHIFT_PLAN_SHAPE_INFERENCE_H_

#include <string>
#include <vector>

#include "format/model_desc.h"
#include "gearshift/status.h"

namespace gearshift {

// "[-1, 28, 28, 1]"
std::string ShapeToString(const Shape& shape);
// The op's name as docs/FORMAT.md spells it, e.g. "CONV_2D".
const char* OpName(OpType op);
// Product of the dims (1 for rank 0).
int64_t NumElements(const Shape& shape);

// On success `shapes` holds one concrete shape per tensor of `model`.
Status InferShapes(const ModelDesc& model, const std::vector<Shape>& input_shapes,
                   std::vector<Shape>* shapes);

}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_SHAPE_INFERENCE_H_
