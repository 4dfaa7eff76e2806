// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Memory planning: where every tensor lives (caller input, constant, arena
// offset), which PADs fold into the convolution reading them, tensor
// lifetimes and the arena layout, and the copies across a float island's
// boundary.
#include "plan/memory_plan.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "plan/op_registry.h"
#include "plan/shape_inference.h"

namespace gearshift {
namespace {

// For each node, the PAD node its input 0 comes from when that PAD can be
// folded into it (else -1): the node is a CONV_2D or DEPTHWISE_CONV_2D and
// the PAD fills with 0 (in int8 gears: the zero point, since PAD keeps its
// input's quantization), pads only H and W of an NHWC tensor by
// non-negative amounts, and has no other reader and is no graph output.
// The convolution then reads the PAD's input with the pads added to its own
// (any tap outside the input reads zero), so the padded copy is never made.
std::vector<int> FoldablePads(const ModelDesc& model) {
  const int num_nodes = static_cast<int>(model.nodes.size());
  std::vector<int> readers(model.tensors.size(), 0), producer(model.tensors.size(), -1);
  for (int s = 0; s < num_nodes; ++s) {
    for (int t : model.nodes[s].inputs) {
      if (t >= 0) ++readers[t];
    }
    producer[model.nodes[s].outputs[0]] = s;
  }
  for (int o : model.outputs) ++readers[o];
  std::vector<int> folds(num_nodes, -1);
  for (int s = 0; s < num_nodes; ++s) {
    const NodeDesc& conv = model.nodes[s];
    if (conv.op != OpType::kConv2D && conv.op != OpType::kDepthwiseConv2D) continue;
    const int t = conv.inputs[0];
    if (t < 0 || readers[t] != 1 || producer[t] < 0) continue;
    const NodeDesc& pad = model.nodes[producer[t]];
    const auto& pads = pad.attrs.paddings;
    if (pad.op != OpType::kPad || pads.size() != 4 || pad.attrs.pad_value != 0.0) continue;
    if (pads[0] != std::make_pair(int64_t{0}, int64_t{0}) ||
        pads[3] != std::make_pair(int64_t{0}, int64_t{0})) {
      continue;
    }
    bool ok = true;
    for (int d = 1; d <= 2; ++d) ok = ok && pads[d].first >= 0 && pads[d].second >= 0;
    if (ok) folds[s] = producer[t];
  }
  return folds;
}

}  // namespace

TensorRef MemoryPlan::Operand(int s, int t) const {
  if (t < 0) return TensorRef();
  if (!islands || copies[t] < 0 || refs[t].kind == TensorRef::Kind::kConst ||
      IsFloat(t) == FloatNode(s)) {
    return refs[t];
  }
  TensorRef r;
  r.kind = TensorRef::Kind::kArena;
  r.index = layout.offsets[copies[t]];
  return r;
}

Status PlanMemory(const ModelDesc& model, const GearWeights& weights, int gear, bool int8,
                  const std::vector<Shape>& shapes, bool keep_tensors, const OpRegistry& registry,
                  MemoryPlan* out) {
  const GearDesc& g = model.gears[gear];
  const size_t num_tensors = model.tensors.size();
  const int num_nodes = static_cast<int>(model.nodes.size());
  MemoryPlan& m = *out;
  // Where every tensor lives. Arena tensors get their offset below.
  std::vector<TensorRef> refs(num_tensors);
  for (size_t t = 0; t < num_tensors; ++t) {
    const TensorDesc& td = model.tensors[t];
    if (!td.is_const) continue;
    const ConstView& cv = weights.at(static_cast<int>(t));
    const void* data = int8 ? (cv.i8 != nullptr ? static_cast<const void*>(cv.i8)
                                                : static_cast<const void*>(cv.i32))
                            : static_cast<const void*>(cv.f32);
    // An fp16 gear's underived weight: its steps pack it or widen it.
    if (data == nullptr && !int8) data = cv.f16;
    // An f32 gear's undecoded q8r4 weight: likewise packed or decoded.
    if (data == nullptr && !int8) data = cv.q8r4;
    // A 4-bit weight: its steps pack it; other reads get int8 values below.
    if (data == nullptr && int8) data = cv.q4;
    // A sparse weight: only its steps read it, through PlanStep::sparse.
    if (data == nullptr) data = cv.sparse;
    // A float island's weight in an int8 gear: f32 values.
    if (data == nullptr) data = cv.f32;
    if (data == nullptr) {
      return FormatError("gear '" + g.name + "': constant '" + td.name + "' has no " +
                         (int8 ? "int8/int32" : "f32") + " data");
    }
    refs[t].kind = TensorRef::Kind::kConst;
    refs[t].data = data;
  }
  for (size_t i = model.inputs.size(); i-- > 0;) {  // first occurrence wins
    refs[model.inputs[i]].kind = TensorRef::Kind::kInput;
    refs[model.inputs[i]].index = static_cast<int64_t>(i);
  }

  // Float islands (FORMAT.md 1.5): the nodes of an int8 gear computed in
  // float32, and the tensors they produce, which hold float32.
  const bool islands = int8 && !g.float_nodes.empty();
  auto float_node = [&](int s) { return islands && g.float_nodes[static_cast<size_t>(s)] != 0; };
  std::vector<char> float_tensor(islands ? num_tensors : 0, 0);
  for (int s = 0; s < num_nodes && islands; ++s) {
    if (float_node(s)) float_tensor[model.nodes[s].outputs[0]] = 1;
  }
  auto is_float = [&](int t) { return islands && float_tensor[static_cast<size_t>(t)] != 0; };

  // The tensors each step reads: the node's inputs, except that a
  // convolution reading a foldable PAD reads the PAD's input instead (not
  // across an island's boundary: the PAD runs in its own arithmetic).
  std::vector<int> folds = keep_tensors ? std::vector<int>(num_nodes, -1) : FoldablePads(model);
  for (int s = 0; s < num_nodes && islands; ++s) {
    if (folds[s] >= 0 && float_node(s) != float_node(folds[s])) folds[s] = -1;
  }
  std::vector<std::vector<int>> reads(num_nodes);
  for (int s = 0; s < num_nodes; ++s) {
    reads[s] = model.nodes[s].inputs;
    if (folds[s] >= 0) reads[s][0] = model.nodes[folds[s]].inputs[0];
  }
  std::vector<bool> folded(num_nodes, false);  // PAD steps that do nothing
  for (int s = 0; s < num_nodes; ++s) {
    if (folds[s] >= 0) folded[folds[s]] = true;
  }

  // Lifetimes of produced tensors: producing step .. last reading step;
  // graph outputs stay live to the end (step num_nodes copies them out).
  // A folded PAD's output is never made, so it gets no memory.
  std::vector<int> producer(num_tensors, -1), last_use(num_tensors, -1);
  std::vector<bool> written(num_tensors, false);
  for (int s = 0; s < num_nodes; ++s) {
    const NodeDesc& node = model.nodes[s];
    const int o = node.outputs[0];
    if (refs[o].kind != TensorRef::Kind::kAbsent || written[o]) {
      return FormatError("node '" + node.name + "' writes tensor '" + model.tensors[o].name +
                         "', which is an input, a constant or written twice");
    }
    written[o] = true;
    if (!folded[s]) {
      producer[o] = s;
      last_use[o] = s;
    }
    for (int t : reads[s]) {
      if (t >= 0) last_use[t] = std::max(last_use[t], s);
    }
  }
  for (int o : model.outputs) last_use[o] = num_nodes;
  // int8 gears quantize the graph inputs into the arena before step 0; an
  // input buffer is live from step 0 (nothing else is live before it).
  if (int8) {
    for (int t : model.inputs) {
      producer[t] = 0;
      last_use[t] = std::max(last_use[t], 0);
    }
  }
  // Aliases (memory_plan.h), decided in node order so that a chain of
  // them shares its first input's bytes: the output gets no request of its
  // own, and the buffer it shares lives to the last use of either.
  std::vector<int> alias_of(num_tensors, -1);
  std::vector<bool> aliased(num_nodes, false);
  std::vector<bool> graph_output(num_tensors, false);
  for (int o : model.outputs) graph_output[o] = true;
  for (int s = 0; s < num_nodes && !keep_tensors; ++s) {
    const NodeDesc& node = model.nodes[s];
    const OpDef* def = registry.Find(node.op);
    if (def == nullptr || !def->alias || folded[s] || reads[s].empty()) continue;
    const int i = reads[s][0];
    const int o = node.outputs[0];
    if (i < 0 || refs[i].kind == TensorRef::Kind::kConst) continue;
    if (NumElements(shapes[i]) != NumElements(shapes[o])) continue;
    const int root = alias_of[i] >= 0 ? alias_of[i] : i;
    // A float gear reads its graph inputs in the caller's buffers (int8
    // gears quantize them into the arena first): the caller's input must
    // not become the caller's output.
    if (!int8 && refs[root].kind == TensorRef::Kind::kInput && graph_output[o]) continue;
    // Across an island's boundary the step converts, and in int8 unequal
    // parameters make it a requantizing copy.
    if (islands && is_float(i) != float_node(s)) continue;
    if (int8 && !float_node(s)) {
      const ActQuant& qi = g.activations[i];
      const ActQuant& qo = g.activations[o];
      if (qi.scale != qo.scale || qi.zero_point != qo.zero_point) continue;
    }
    alias_of[o] = root;
    aliased[s] = true;
    producer[o] = -1;
    last_use[root] = std::max(last_use[root], last_use[o]);
  }
  if (keep_tensors) {  // nothing computed is overwritten before Run returns
    for (size_t t = 0; t < num_tensors; ++t) {
      if (producer[t] >= 0) last_use[t] = num_nodes;
    }
  }
  auto element_bytes = [&](int t) -> int64_t {
    return int8 && !is_float(t) ? 1 : static_cast<int64_t>(sizeof(float));
  };
  std::vector<ArenaRequest> requests;
  std::vector<int> request_tensor;
  for (size_t t = 0; t < num_tensors; ++t) {
    if (producer[t] < 0) continue;
    ArenaRequest r;
    r.bytes = NumElements(shapes[t]) * element_bytes(static_cast<int>(t));
    r.first_step = producer[t];
    r.last_step = last_use[t];
    requests.push_back(r);
    request_tensor.push_back(static_cast<int>(t));
  }
  // An island's boundary: a tensor read in the other arithmetic than it
  // holds gets a converted copy, made by the first step that reads it so and
  // live until the last. copies[t]: index into `requests`, or -1.
  std::vector<int> copies(islands ? num_tensors : 0, -1);
  for (int s = 0; s < num_nodes && islands; ++s) {
    if (folded[s]) continue;
    for (int t : reads[s]) {
      if (t < 0 || refs[t].kind == TensorRef::Kind::kConst || is_float(t) == float_node(s)) {
        continue;
      }
      if (copies[t] < 0) {
        ArenaRequest r;
        r.bytes = NumElements(shapes[t]) * (is_float(t) ? 1 : static_cast<int64_t>(sizeof(float)));
        r.first_step = s;
        copies[t] = static_cast<int>(requests.size());
        requests.push_back(r);
        request_tensor.push_back(-1 - t);
      }
      requests[copies[t]].last_step = keep_tensors ? num_nodes : s;
    }
  }
  const ArenaLayout layout = PlanArena(requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    if (request_tensor[i] < 0) continue;  // a boundary copy
    refs[request_tensor[i]].kind = TensorRef::Kind::kArena;
    refs[request_tensor[i]].index = layout.offsets[i];
  }
  for (size_t t = 0; t < num_tensors; ++t) {
    if (alias_of[t] >= 0) refs[t] = refs[alias_of[t]];
  }
  m.refs = std::move(refs);
  m.folds = std::move(folds);
  m.reads = std::move(reads);
  m.folded = std::move(folded);
  m.alias_of = std::move(alias_of);
  m.aliased = std::move(aliased);
  m.islands = islands;
  m.float_tensor = std::move(float_tensor);
  m.float_node.assign(islands ? num_nodes : 0, 0);
  for (int s = 0; s < num_nodes && islands; ++s) m.float_node[s] = float_node(s) ? 1 : 0;
  m.copies = std::move(copies);
  m.requests = std::move(requests);
  m.layout = layout;
  return Status::Ok();
}

}  // namespace gearshift
