// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The op registry: one OpDef per op, which says everything the planner
// needs to know about that op: its name, its shape rule, and per compute
// dtype a prepare function (fills the step's own parameters, packs its
// weights through PlanPacks) and a run function. Plan build and run look
// ops up here instead of switching over OpType, so a new op is its kernel
// files, an OpDef in its family's file under plan/op_defs/ and one line in
// OpRegistry::Default's list (op_registry.cc).
//
// The registry is an immutable value: Default() builds the one the Runtime
// uses on first use (a function-local const, no self-registration, no
// mutable global), and a test can build its own from any list of OpDefs.
//
// A gear whose node has no run function for the dtype that node computes
// in (f32: float gears, fp16 and compact recipes included, and an int8
// gear's float islands; q8: int8 gears) is refused when its plan is built
// (CheckGearKernels), never halfway through a run.
#ifndef GEARSHIFT_PLAN_OP_REGISTRY_H_
#define GEARSHIFT_PLAN_OP_REGISTRY_H_

#include <array>
#include <cstdint>
#include <vector>

#include "dispatch.h"
#include "format/model_desc.h"
#include "gearshift/status.h"
#include "ops_q8/q8_common.h"
#include "plan/memory_plan.h"
#include "thread_pool.h"

namespace gearshift {

class PackedWeightsCache;
class PlanPacks;
struct PlanStep;

// What an op's prepare function sees of the plan being built.
struct StepBuild {
  const ModelDesc& model;
  const GearDesc& gear;
  const NodeDesc& node;
  int index;                         // the node's (and step's) index
  const std::vector<Shape>& shapes;  // every tensor's shape
  const MemoryPlan& mem;             // where every tensor lives (mem.refs)
  const GearWeights& weights;
  const KernelTable& kernels;
  PackedWeightsCache* packs;  // shared packs (may be null)
  PlanPacks& plan_packs;      // the plan's own packs and their bytes
  bool q8;                    // the step computes in int8
  // q8 steps: input 0's and the output's int8 parameters (checked before
  // the op's q8.prepare runs).
  Q8Quant q8_x, q8_y;

  const Shape& in_shape(size_t i) const { return shapes[node.inputs[i]]; }
  const Shape& out_shape() const { return shapes[node.outputs[0]]; }
  const std::vector<TensorRef>& refs() const { return mem.refs; }
  int fold() const { return mem.folds[index]; }  // the PAD folded into this node, or -1
};

// The shape of a node's output from its inputs' (absent optional inputs
// are null); a FormatError naming the node if they do not fit.
using ShapeRuleFn = Status (*)(const NodeDesc& node, const std::vector<const Shape*>& in,
                               Shape* out);
// Fills st->params for this op (geometry, float packs where b.q8 is false;
// the int8 side in q8.prepare, which runs after f32.prepare).
using PrepareFn = Status (*)(const StepBuild& b, PlanStep* st);
// One step on float operands into y.
using RunF32Fn = void (*)(const PlanStep& st, const KernelTable& kernels, const float* const* in,
                          float* y, ThreadPool* pool);
// One step on int8 operands into y; bias: operand 2 as int32 (conv/dense).
using RunQ8Fn = void (*)(const PlanStep& st, const KernelTable& kernels, const int8_t* const* in,
                         const int32_t* bias, int8_t* y, ThreadPool* pool);

// The dtypes a step computes in.
enum class StepDtype { kF32, kQ8 };
const char* StepDtypeName(StepDtype d);

// f32 (also the fp16 gear and compact recipes, and an int8 gear's float
// islands): `prepare` fills the geometry and the float packs. Every op
// needs it (the int8 side starts from the geometry); `run` may be null.
struct F32Kernels {
  PrepareFn prepare = nullptr;
  RunF32Fn run = nullptr;
};
// q8 (q8 and q4 gears): `prepare` runs after the f32 one and adds the int8
// side; both null for an op without an int8 kernel.
struct Q8Kernels {
  PrepareFn prepare = nullptr;
  RunQ8Fn run = nullptr;
};

struct OpDef {
  OpType op = OpType::kRelu;
  const char* name = nullptr;  // as docs/FORMAT.md spells it
  ShapeRuleFn shape = nullptr;
  F32Kernels f32;
  Q8Kernels q8;
  // The output is input 0's values, unchanged and in the same order (a pure
  // metadata op: RESHAPE). The memory plan lets the output share input 0's
  // bytes where that is safe (PlanMemory, "aliases") and the step then does
  // nothing; where it is not, the step runs its copy (int8: its
  // requantizing copy when the parameters differ).
  bool alias = false;
};

constexpr size_t kNumOpTypes = static_cast<size_t>(OpType::kQuantize) + 1;

class OpRegistry {
 public:
  // A registry of `defs` (one per op at most; later duplicates are ignored).
  explicit OpRegistry(const std::vector<OpDef>& defs);
  // The registry of every op gearshift runs (op_registry.cc's list).
  static const OpRegistry& Default();

  // The op's definition, or null if the registry does not know it.
  const OpDef* Find(OpType op) const {
    const size_t i = static_cast<size_t>(op);
    return i < kNumOpTypes && defs_[i].name != nullptr ? &defs_[i] : nullptr;
  }
  // Ok if every node of gear `gear` has a shape rule and a prepare and run
  // function for the dtype it computes in (float_nodes of an int8 gear
  // compute in f32); else an Unsupported status naming the gear, node, op
  // and dtype and what to do instead.
  Status CheckGear(const ModelDesc& model, int gear, bool int8) const;

 private:
  std::array<OpDef, kNumOpTypes> defs_{};
};

}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_OP_REGISTRY_H_
