// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Small helpers the plan's files share (build, weight packing, execution).
// Internal to src/plan: nothing outside it includes this header.
#ifndef GEARSHIFT_PLAN_PLAN_INTERNAL_H_
#define GEARSHIFT_PLAN_PLAN_INTERNAL_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plan/plan.h"

namespace gearshift {
namespace plan_internal {

inline Status Unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }

// Conv/dense weights (input 1) and bias (input 2, optional) known at plan
// time, so they can be packed once.
inline bool ConstWeights(const std::vector<TensorRef>& refs, const NodeDesc& node) {
  if (node.inputs.size() < 2 || node.inputs[1] < 0) return false;
  if (refs[node.inputs[1]].kind != TensorRef::Kind::kConst) return false;
  return node.inputs.size() < 3 || node.inputs[2] < 0 ||
         refs[node.inputs[2]].kind == TensorRef::Kind::kConst;
}

// The SparseMatrix a `sparse` gear keeps for a CONV_2D / FULLY_CONNECTED
// node's constant weights; null for any other node or dense weights.
inline const SparseMatrix* SparseWeights(const GearWeights& w, const std::vector<TensorRef>& refs,
                                         const NodeDesc& node) {
  if (node.op != OpType::kConv2D && node.op != OpType::kFullyConnected) return nullptr;
  if (node.inputs.size() < 2 || node.inputs[1] < 0) return nullptr;
  if (refs[node.inputs[1]].kind != TensorRef::Kind::kConst) return nullptr;
  return w.at(node.inputs[1]).sparse;
}

// The fp16 gear's underived weight (input 1) of a conv/dense node; null for
// any other gear, node or weight.
inline const F16Tensor* F16Weights(const GearWeights& w, const std::vector<TensorRef>& refs,
                                   const NodeDesc& node) {
  if (node.inputs.size() < 2 || node.inputs[1] < 0) return nullptr;
  if (refs[node.inputs[1]].kind != TensorRef::Kind::kConst) return nullptr;
  return w.at(node.inputs[1]).f16;
}

inline const void* BiasData(const std::vector<TensorRef>& refs, const NodeDesc& node) {
  return node.inputs.size() > 2 && node.inputs[2] >= 0 ? refs[node.inputs[2]].data : nullptr;
}

inline bool SameQuant(Q8Quant a, Q8Quant b) {
  return a.scale == b.scale && a.zero_point == b.zero_point;
}

// A weight's int8 values: in place, or a q4 weight's expanded into *scratch.
inline const int8_t* Int8Values(const ConstView& w, std::vector<int8_t>* scratch) {
  if (w.q4 == nullptr) return w.i8;
  scratch->resize(static_cast<size_t>(w.q4->elements));
  w.q4->Expand(scratch->data());
  return scratch->data();
}

// Times the steps of one run into step_ms[i] when step_ms is not null:
// Next() at the top of each step and once after the last.
class StepTimer {
 public:
  explicit StepTimer(double* step_ms) : ms_(step_ms) {}
  void Next() {
    if (ms_ == nullptr) return;
    const auto now = std::chrono::steady_clock::now();
    if (step_ > 0) ms_[step_ - 1] = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    ++step_;
  }

 private:
  double* ms_;
  size_t step_ = 0;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace plan_internal
}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_PLAN_INTERNAL_H_
