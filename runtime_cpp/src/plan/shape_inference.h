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
// Each node's shape comes from its op's rule in `registry` (OpRegistry,
// plan/op_registry.h; the first form uses OpRegistry::Default()).
Status InferShapes(const ModelDesc& model, const std::vector<Shape>& input_shapes,
                   std::vector<Shape>* shapes);
class OpRegistry;
Status InferShapes(const ModelDesc& model, const std::vector<Shape>& input_shapes,
                   const OpRegistry& registry, std::vector<Shape>* shapes);

// The shape rules ops name in their OpDef: the shape of a node's output
// from its inputs' shapes (absent optional inputs are null), or a
// FormatError naming the node.
namespace shape_rules {
Status Conv(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Dense(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Pool(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Mean(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Unary(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Softmax(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Binary(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Concat(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Reshape(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Pad(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status TransposeConv(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Prelu(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Resize(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status BlockShuffle(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Transpose(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Slice(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
Status Gather(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out);
}  // namespace shape_rules

}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_SHAPE_INFERENCE_H_
