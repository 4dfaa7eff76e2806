// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Small helpers shared by the reference kernels and shape inference: fused
// activations as a clamp range, and TensorFlow's SAME/VALID padding rule
// (docs/FORMAT.md "Nodes"). Kept header-only so kernels inline them.
#ifndef GEARSHIFT_OPS_OP_COMMON_H_
#define GEARSHIFT_OPS_OP_COMMON_H_

#include <algorithm>
#include <cstdint>
#include <limits>

#include "format/model_desc.h"
#include "thread_pool.h"

namespace gearshift {

// A fused activation is a clamp to [lo, hi]; NONE clamps to +-infinity.
struct ActRange {
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
};

inline ActRange ActivationRange(Activation a) {
  ActRange r;
  switch (a) {
    case Activation::kNone: break;
    case Activation::kRelu: r.lo = 0.0f; break;
    case Activation::kRelu6: r.lo = 0.0f; r.hi = 6.0f; break;
    case Activation::kReluN1To1: r.lo = -1.0f; r.hi = 1.0f; break;
  }
  return r;
}

inline float Clamp(float x, ActRange r) { return std::min(std::max(x, r.lo), r.hi); }

// Output size and leading padding of one spatial dimension. Returns false when
// the (effective) kernel does not fit a VALID input.
inline bool ComputeWindow(int64_t in, int k, int stride, int dilation, Padding padding,
                          int64_t* out, int64_t* pad_before) {
  const int64_t ek = static_cast<int64_t>(k - 1) * dilation + 1;
  if (padding == Padding::kValid) {
    if (in < ek) return false;
    *out = (in - ek) / stride + 1;
    *pad_before = 0;
    return true;
  }
  *out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((*out - 1) * stride + ek - in, 0);
  *pad_before = total / 2;
  return true;
}

// Splits `items` work items of `cost_per_item` multiply-adds over the pool so
// every thread gets enough work to pay for waking it.
template <typename F>
void ParallelItems(ThreadPool* pool, int64_t items, int64_t cost_per_item, F&& fn) {
  if (pool == nullptr || pool->threads() == 1) {
    fn(int64_t{0}, items);
    return;
  }
  const int64_t cost = std::max<int64_t>(1, cost_per_item);
  const int64_t min_items = (pool->min_cost_per_thread() + cost - 1) / cost;
  pool->ParallelFor(items, min_items, fn);
}

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_OP_COMMON_H_
