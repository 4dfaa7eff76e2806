// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Memory planning, the first half of a plan build: where every tensor lives
// (a caller's input, a constant in the mapped file, or an offset into the
// activation arena), which PADs fold into the convolution that reads them,
// each computed tensor's lifetime and the arena layout (arena_planner.h),
// and the converted copies a float island's boundary needs.
#ifndef GEARSHIFT_PLAN_MEMORY_PLAN_H_
#define GEARSHIFT_PLAN_MEMORY_PLAN_H_

#include <cstdint>
#include <vector>

#include "format/model_desc.h"
#include "gearshift/status.h"
#include "plan/arena_planner.h"
#include "prepare/gear_weights.h"

namespace gearshift {

class OpRegistry;

// Where an operand lives at run time.
struct TensorRef {
  enum class Kind { kAbsent, kInput, kConst, kArena };
  Kind kind = Kind::kAbsent;
  int64_t index = 0;           // kInput: graph input index; kArena: byte offset
  const void* data = nullptr;  // kConst: the constant (f32; int8 gears: i8 or i32)
};

struct MemoryPlan {
  std::vector<TensorRef> refs;          // where every tensor lives
  std::vector<int> folds;               // per node: the PAD folded into it, or -1
  std::vector<std::vector<int>> reads;  // per node: the tensors its step reads
  std::vector<bool> folded;             // per node: a PAD folded away (its step does nothing)
  bool islands = false;                 // an int8 gear with float islands
  std::vector<char> float_node;         // islands: 1 for a node computed in float32
  std::vector<char> float_tensor;       // islands: 1 for a tensor holding float32
  std::vector<int> copies;              // islands: tensor -> its boundary copy's request, or -1
  std::vector<ArenaRequest> requests;   // every arena buffer (tensors and boundary copies)
  ArenaLayout layout;                   // their offsets
  // Per tensor: the tensor whose bytes it shares (an alias op's output, see
  // PlanMemory), or -1 for a tensor with bytes of its own.
  std::vector<int> alias_of;
  // Per node: its output shares input 0's bytes (its step does nothing).
  std::vector<bool> aliased;

  bool FloatNode(int s) const { return islands && float_node[static_cast<size_t>(s)] != 0; }
  bool IsFloat(int t) const { return islands && float_tensor[static_cast<size_t>(t)] != 0; }
  // Where step s reads tensor t: t itself, or its boundary copy.
  TensorRef Operand(int s, int t) const;
};

// Plans the memory of gear `gear` (int8: one byte per activation) for the
// tensor shapes `shapes` (InferShapes). keep_tensors: every computed tensor
// keeps its own bytes to the end, no PAD is folded and nothing is aliased.
// `registry` says which ops may alias (OpDef::alias).
//
// Aliases: the output of an alias op (RESHAPE) shares the bytes of the
// tensor it reads (of that tensor's own root, through a chain of them),
// and that buffer lives to the last use of any of them. Refused (the step
// copies) where the two could not hold the same bytes for their whole
// lives: the input is a caller's buffer (a float gear's graph input) and
// the output a graph output; the input is a constant; the step converts
// across a float island's boundary; or, in int8, the input's parameters
// differ from the output's (the step requantizes). Nothing writes a tensor
// after its producer, so a shared buffer never holds two contents.
Status PlanMemory(const ModelDesc& model, const GearWeights& weights, int gear, bool int8,
                  const std::vector<Shape>& shapes, bool keep_tensors, const OpRegistry& registry,
                  MemoryPlan* out);

}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_MEMORY_PLAN_H_
