// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The list of every op gearshift runs (one line per op; each OpDef lives
// in its family's file under plan/op_defs/), and the load-time check that
// a gear's nodes all have a kernel for the dtype they compute in.
#include "plan/op_registry.h"

#include <string>

#include "plan/op_defs/op_defs.h"

namespace gearshift {

const char* StepDtypeName(StepDtype d) { return d == StepDtype::kQ8 ? "int8" : "float32"; }

OpRegistry::OpRegistry(const std::vector<OpDef>& defs) {
  for (const OpDef& d : defs) {
    const size_t i = static_cast<size_t>(d.op);
    if (i < kNumOpTypes && defs_[i].name == nullptr && d.name != nullptr) defs_[i] = d;
  }
}

const OpRegistry& OpRegistry::Default() {
  // Built once, on first use, and never changed after (C++11 guarantees a
  // thread-safe initialisation): no mutable global state.
  static const OpRegistry registry({
      Conv2DOp(),
      DepthwiseConv2DOp(),
      FullyConnectedOp(),
      MaxPool2DOp(),
      AveragePool2DOp(),
      MeanOp(),
      ReluOp(),
      Relu6Op(),
      ReluN1To1Op(),
      LogisticOp(),
      TanhOp(),
      HardSwishOp(),
      SoftmaxOp(),
      AddOp(),
      MulOp(),
      ConcatenationOp(),
      ReshapeOp(),
      PadOp(),
      TransposeConvOp(),
      SubOp(),
      DivOp(),
      MaximumOp(),
      MinimumOp(),
      LeakyReluOp(),
      PreluOp(),
      ResizeBilinearOp(),
      ResizeNearestNeighborOp(),
      DepthToSpaceOp(),
      SpaceToDepthOp(),
      TransposeOp(),
      SliceOp(),
      GatherOp(),
      QuantizeOp(),
  });
  return registry;
}

Status OpRegistry::CheckGear(const ModelDesc& model, int gear, bool int8) const {
  const GearDesc& g = model.gears[static_cast<size_t>(gear)];
  for (size_t s = 0; s < model.nodes.size(); ++s) {
    const NodeDesc& node = model.nodes[s];
    const OpDef* def = Find(node.op);
    const bool island = int8 && s < g.float_nodes.size() && g.float_nodes[s] != 0;
    const StepDtype dtype = int8 && !island ? StepDtype::kQ8 : StepDtype::kF32;
    const char* op_name = def != nullptr ? def->name : "(unregistered op)";
    std::string missing;
    if (def == nullptr) {
      missing = "no definition";
    } else if (def->shape == nullptr) {
      missing = "no shape rule";
    } else if (def->f32.prepare == nullptr) {  // the geometry every dtype starts from
      missing = "no float32 prepare function";
    } else if (dtype == StepDtype::kF32 && def->f32.run == nullptr) {
      missing = "no float32 kernel";
    } else if (dtype == StepDtype::kQ8 && (def->q8.prepare == nullptr || def->q8.run == nullptr)) {
      missing = "no int8 kernel";
    }
    if (missing.empty()) continue;
    const std::string what = "gear '" + g.name + "': node '" + node.name + "' (" + op_name +
                             ") computes in " + StepDtypeName(dtype) + " but this runtime has " +
                             missing + " for it; ";
    return Status(StatusCode::kUnsupported,
                  what + (dtype == StepDtype::kQ8
                              ? "convert the model with this op in float (float_layers) or "
                                "use the gear's fp32 sibling"
                              : "use a gearshift runtime that supports " + std::string(op_name) +
                                    " or convert without it"));
  }
  return Status::Ok();
}

}  // namespace gearshift
