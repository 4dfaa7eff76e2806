// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Plan building: shapes (plan/shape_inference.h), memory
// (plan/memory_plan.h), then each step's kernel parameters and packed
// weights through each op's OpDef (plan/op_registry.h, plan/op_defs/) and
// plan/weight_packing.h.
#include <algorithm>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "plan/memory_plan.h"
#include "plan/op_defs/op_defs.h"
#include "plan/op_registry.h"
#include "plan/plan.h"
#include "plan/plan_internal.h"
#include "plan/shape_inference.h"

namespace gearshift {

using plan_internal::Unsupported;

Status Plan::Build(const ModelDesc& model, int gear, const std::vector<Shape>& input_shapes,
                   std::unique_ptr<Plan>* out) {
  std::shared_ptr<const GearWeights> weights;
  GS_RETURN_IF_ERROR(PrepareGearWeights(model, gear, &weights));
  return Build(model, std::move(weights), input_shapes, KernelTable(), nullptr, out);
}

Status Plan::Build(const ModelDesc& model, std::shared_ptr<const GearWeights> weights,
                   const std::vector<Shape>& input_shapes, const KernelTable& kernels,
                   PackedWeightsCache* packs, std::unique_ptr<Plan>* out, bool keep_tensors) {
  return Build(model, std::move(weights), input_shapes, kernels, packs, out, keep_tensors,
               OpRegistry::Default());
}

Status Plan::Build(const ModelDesc& model, std::shared_ptr<const GearWeights> weights,
                   const std::vector<Shape>& input_shapes, const KernelTable& kernels,
                   PackedWeightsCache* packs, std::unique_ptr<Plan>* out, bool keep_tensors,
                   const OpRegistry& registry) {
  if (weights == nullptr) return InvalidArgument("Plan::Build: null weights");
  const int gear = weights->gear();
  if (gear < 0 || static_cast<size_t>(gear) >= model.gears.size() ||
      weights->consts().size() != model.tensors.size()) {
    return InvalidArgument("gear index " + std::to_string(gear) + " out of range");
  }
  const GearDesc& g = model.gears[gear];
  const bool int8 = weights->compute() == Compute::kQ8 || weights->compute() == Compute::kQ4;
  if (int8 && g.activations.size() != model.tensors.size()) {
    return FormatError("gear '" + g.name + "': activations do not cover every tensor");
  }
  // Refused at load, before any shape or pack work: a node whose op has no
  // kernel for the dtype it computes in.
  GS_RETURN_IF_ERROR(registry.CheckGear(model, gear, int8));
  std::unique_ptr<Plan> plan(new Plan());
  plan->gear_ = gear;
  plan->int8_ = int8;
  plan->weights_ = weights;
  plan->kernels_ = kernels;
  plan->plan_packs_.reset(new PlanPacks(weights, &plan->kernels_));
  plan->input_shapes_ = input_shapes;
  GS_RETURN_IF_ERROR(InferShapes(model, input_shapes, registry, &plan->tensor_shapes_));
  const std::vector<Shape>& shapes = plan->tensor_shapes_;
  const int num_nodes = static_cast<int>(model.nodes.size());
  MemoryPlan mem;
  GS_RETURN_IF_ERROR(PlanMemory(model, *weights, gear, int8, shapes, keep_tensors, registry, &mem));
  plan->arena_bytes_ = mem.layout.arena_bytes;
  const std::vector<TensorRef>& refs = mem.refs;
  const std::vector<std::vector<int>>& reads = mem.reads;
  const std::vector<bool>& folded = mem.folded;
  const std::vector<int>& copies = mem.copies;
  const std::vector<ArenaRequest>& requests = mem.requests;
  const ArenaLayout& layout = mem.layout;
  const bool islands = mem.islands;
  auto float_node = [&](int s) { return mem.FloatNode(s); };
  auto is_float = [&](int t) { return mem.IsFloat(t); };
  auto operand = [&](int s, int t) { return mem.Operand(s, t); };

  // Kernel parameters.
  size_t max_operands = 0;
  plan->steps_.reserve(num_nodes);
  for (int s = 0; s < num_nodes; ++s) {
    const NodeDesc& node = model.nodes[s];
    PlanStep st;
    st.op = node.op;
    st.alias = mem.aliased[s];
    st.skip = folded[s] || st.alias;
    st.first_operand = static_cast<int>(plan->operands_.size());
    st.num_operands = static_cast<int>(node.inputs.size());
    max_operands = std::max(max_operands, node.inputs.size());
    for (int t : reads[s]) plan->operands_.push_back(operand(s, t));
    // The boundary copies this step makes first (each tensor's first reader
    // in the other arithmetic).
    for (int t : reads[s]) {
      if (t < 0 || !islands || copies[t] < 0 || requests[copies[t]].first_step != s) continue;
      if (is_float(t) == float_node(s) || refs[t].kind == TensorRef::Kind::kConst) continue;
      bool listed = false;
      // Listed once per copy (an aliased tensor and its root share `src`
      // but have copies of their own).
      for (const PlanStep::Conversion& c : st.convert) {
        listed |= c.dst == layout.offsets[copies[t]];
      }
      if (listed) continue;
      PlanStep::Conversion c;
      c.src = refs[t].index;
      c.dst = layout.offsets[copies[t]];
      c.elements = NumElements(shapes[t]);
      c.quant = g.activations[t];
      c.to_f32 = float_node(s);
      st.convert.push_back(c);
    }
    // The arithmetic of this step: an island's node computes in float32.
    const bool q8 = int8 && !float_node(s);
    st.f32 = int8 && !q8;
    const int o = node.outputs[0];
    st.output = refs[o];
    st.out_elements = NumElements(shapes[o]);
    const OpDef& def = *registry.Find(node.op);  // CheckGear: present, with kernels
    StepBuild b{
        model, g,  node, s, shapes, mem, *weights, plan->kernels_, packs, *plan->plan_packs_,
        q8,    {}, {}};
    GS_RETURN_IF_ERROR(def.f32.prepare(b, &st));  // geometry (and float packs)
    if (q8) {
      GS_RETURN_IF_ERROR(op_defs::Q8QuantOf(b, node.inputs[0], &b.q8_x));
      b.q8_y = g.activations[o];
      GS_RETURN_IF_ERROR(def.q8.prepare(b, &st));
      st.run_q8 = def.q8.run;
    } else {
      st.run_f32 = def.f32.run;
    }
    plan->steps_.push_back(std::move(st));
  }
  if (int8) plan->ExpandQ4Reads(model);
  if (!int8) plan->MaterializeRecipeReads(model, packs);
  if (keep_tensors) plan->tensor_refs_ = refs;
  plan->float_tensor_ = mem.float_tensor;
  for (int o : model.outputs) {
    plan->graph_outputs_.push_back(refs[o]);
    plan->output_shapes_.push_back(shapes[o]);
    plan->output_bytes_.push_back(NumElements(shapes[o]) * static_cast<int64_t>(sizeof(float)));
  }
  if (int8) {
    for (int t : model.inputs) {
      plan->q8_inputs_.push_back({refs[t].index, NumElements(shapes[t]), g.activations[t],
                                  MakeIoConv(model.tensors[t].io, g.activations[t]), -1, IoDesc()});
    }
    for (int o : model.outputs) {
      if (refs[o].kind == TensorRef::Kind::kConst) {
        return Unsupported("gear '" + g.name + "': graph output '" + model.tensors[o].name +
                           "' is a constant");
      }
      // An island's output leaves as float32 (f32_offset), converted as f32
      // gears convert at an integer interface.
      plan->q8_outputs_.push_back({refs[o].index, NumElements(shapes[o]), g.activations[o],
                                   MakeIoConv(model.tensors[o].io, g.activations[o]),
                                   is_float(o) ? refs[o].index : -1, model.tensors[o].io});
    }
  }
  plan->scratch_.assign(max_operands, nullptr);
  plan->scratch_q8_.assign(max_operands, nullptr);
  *out = std::move(plan);
  return Status::Ok();
}

int Plan::alias_steps() const {
  int n = 0;
  for (const PlanStep& st : steps_) n += st.alias ? 1 : 0;
  return n;
}

const float* PlanStep::packed() const {
  if (const Conv2DStep* c = get<Conv2DStep>()) return c->packed;
  if (const DenseStep* d = get<DenseStep>()) return d->packed;
  return nullptr;
}

const void* PlanStep::q8_packed() const {
  if (const Conv2DStep* c = get<Conv2DStep>()) return c->q8_packed;
  if (const DepthwiseStep* c = get<DepthwiseStep>()) return c->q8_packed;
  if (const TransposeConvStep* c = get<TransposeConvStep>()) return c->q8_packed;
  if (const DenseStep* d = get<DenseStep>()) return d->q8_packed;
  return nullptr;
}

const SparseMatrix* PlanStep::sparse() const {
  if (const Conv2DStep* c = get<Conv2DStep>()) return c->sparse;
  if (const DenseStep* d = get<DenseStep>()) return d->sparse;
  return nullptr;
}

bool FloatStepPacksWeight(const StepParams& p) {
  if (const Conv2DStep* c = std::get_if<Conv2DStep>(&p)) {
    return c->packed != nullptr || c->f16_packed != nullptr;
  }
  if (const DepthwiseStep* c = std::get_if<DepthwiseStep>(&p)) return c->f16_filter != nullptr;
  if (const DenseStep* d = std::get_if<DenseStep>(&p)) {
    return d->packed != nullptr || d->f16_packed != nullptr;
  }
  return false;  // TRANSPOSE_CONV: its float steps read the operand itself
}

bool Q8StepPacksWeight(const StepParams& p) {
  if (const Conv2DStep* c = std::get_if<Conv2DStep>(&p)) return c->q8_packed != nullptr;
  if (const DepthwiseStep* c = std::get_if<DepthwiseStep>(&p)) return c->q8_packed != nullptr;
  if (const TransposeConvStep* c = std::get_if<TransposeConvStep>(&p)) {
    return c->q8_packed != nullptr;
  }
  if (const DenseStep* d = std::get_if<DenseStep>(&p)) return d->q8_packed != nullptr;
  return false;
}

}  // namespace gearshift
