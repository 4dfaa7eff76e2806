// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// PlanCache: the least recently used plans of one Runtime.
#include <algorithm>
#include <vector>

#include "plan/plan.h"

namespace gearshift {
namespace {

bool SameShapes(const std::vector<Shape>& a, const std::vector<Shape>& b) { return a == b; }

}  // namespace

void PlanCache::DropGear(int gear) {
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [gear](const Entry& e) { return e.plan->gear() == gear; }),
                 entries_.end());
}

Status PlanCache::Get(const ModelDesc& model, const std::shared_ptr<const GearWeights>& weights,
                      const std::vector<Shape>& input_shapes, Plan** plan) {
  if (weights == nullptr) return InvalidArgument("PlanCache::Get: null weights");
  const int gear = weights->gear();
  ++tick_;
  for (Entry& e : entries_) {
    if (e.plan->gear() == gear && SameShapes(e.plan->input_shapes(), input_shapes)) {
      e.last_use = tick_;
      *plan = e.plan.get();
      return Status::Ok();
    }
  }
  Entry fresh;
  GS_RETURN_IF_ERROR(
      Plan::Build(model, weights, input_shapes, kernels_, &packs_, &fresh.plan, keep_tensors_));
  ++builds_;
  fresh.last_use = tick_;
  if (entries_.size() >= capacity_) {
    auto lru =
        std::min_element(entries_.begin(), entries_.end(),
                         [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; });
    *lru = std::move(fresh);
    *plan = lru->plan.get();
  } else {
    entries_.push_back(std::move(fresh));
    *plan = entries_.back().plan.get();
  }
  return Status::Ok();
}

}  // namespace gearshift
