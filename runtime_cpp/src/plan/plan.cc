// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Plan building (shape inference, lifetimes, arena layout, kernel params)
// and the executor loop. Every graph output is computed into the arena and
// copied to the caller at the end: one memcpy per output buys freedom from
// aliasing between caller buffers and the arena.
#include "plan/plan.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "plan/arena_planner.h"
#include "plan/shape_inference.h"

namespace gearshift {
namespace {

Status Unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }

bool SameShapes(const std::vector<Shape>& a, const std::vector<Shape>& b) { return a == b; }

// Conv/dense weights (input 1) and bias (input 2, optional) known at plan
// time, so they can be packed once.
bool ConstWeights(const std::vector<TensorRef>& refs, const NodeDesc& node) {
  if (node.inputs.size() < 2 || node.inputs[1] < 0) return false;
  if (refs[node.inputs[1]].kind != TensorRef::Kind::kConst) return false;
  return node.inputs.size() < 3 || node.inputs[2] < 0 ||
         refs[node.inputs[2]].kind == TensorRef::Kind::kConst;
}

const float* BiasData(const std::vector<TensorRef>& refs, const NodeDesc& node) {
  return node.inputs.size() > 2 && node.inputs[2] >= 0 ? refs[node.inputs[2]].data : nullptr;
}

}  // namespace

Status Plan::Build(const ModelDesc& model, int gear, const std::vector<Shape>& input_shapes,
                   std::unique_ptr<Plan>* out) {
  std::shared_ptr<const GearWeights> weights;
  GS_RETURN_IF_ERROR(PrepareGearWeights(model, gear, &weights));
  return Build(model, std::move(weights), input_shapes, KernelTable(), nullptr, out);
}

std::shared_ptr<const float> PackedWeightsCache::Get(int64_t n, int64_t k, int nr,
                                                     const float* w, const float* bias) {
  for (const Entry& e : entries_) {
    if (e.w == w && e.bias == bias && e.n == n && e.k == k && e.nr == nr) {
      if (std::shared_ptr<const float> pack = e.pack.lock()) return pack;
    }
  }
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [](const Entry& e) { return e.pack.expired(); }),
                 entries_.end());
  const size_t unr = static_cast<size_t>(nr);
  const size_t blocks = (static_cast<size_t>(n) + unr - 1) / unr;
  const size_t floats = blocks * F32GemmPackedBlockFloats(static_cast<size_t>(k), unr);
  constexpr size_t kAlignFloats = 16;  // 64 bytes
  std::unique_ptr<float[]> raw(new float[floats + kAlignFloats]);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(raw.get());
  float* aligned = raw.get() + ((64 - addr % 64) % 64) / sizeof(float);
  PackF32GemmWeights(static_cast<size_t>(n), static_cast<size_t>(k), unr, w, bias, aligned);
  float* owner = raw.release();
  std::shared_ptr<const float> pack(aligned, [owner](const float*) { delete[] owner; });
  entries_.push_back({w, bias, n, k, nr, pack});
  return pack;
}

const float* Plan::PackGemm(int64_t n, int64_t k, const float* w, const float* bias,
                            PackedWeightsCache* packs) {
  PackedWeightsCache local;
  std::shared_ptr<const float> pack =
      (packs != nullptr ? packs : &local)->Get(n, k, kernels_.f32_gemm.nr, w, bias);
  const size_t nr = static_cast<size_t>(kernels_.f32_gemm.nr);
  packed_bytes_ += static_cast<int64_t>(((static_cast<size_t>(n) + nr - 1) / nr) *
                                        F32GemmPackedBlockFloats(static_cast<size_t>(k), nr) *
                                        sizeof(float));
  packed_storage_.push_back(pack);
  return pack.get();
}

Status Plan::Build(const ModelDesc& model, std::shared_ptr<const GearWeights> weights,
                   const std::vector<Shape>& input_shapes, const KernelTable& kernels,
                   PackedWeightsCache* packs, std::unique_ptr<Plan>* out) {
  if (weights == nullptr) return InvalidArgument("Plan::Build: null weights");
  const int gear = weights->gear();
  if (gear < 0 || static_cast<size_t>(gear) >= model.gears.size() ||
      weights->consts().size() != model.tensors.size()) {
    return InvalidArgument("gear index " + std::to_string(gear) + " out of range");
  }
  const GearDesc& g = model.gears[gear];
  if (weights->compute() != Compute::kF32 && weights->compute() != Compute::kF16) {
    return Unsupported("gear '" + g.name + "': compute '" + g.compute +
                       "' is not supported by this build (only 'f32')");
  }
  std::unique_ptr<Plan> plan(new Plan());
  plan->gear_ = gear;
  plan->weights_ = weights;
  plan->kernels_ = kernels;
  plan->input_shapes_ = input_shapes;
  GS_RETURN_IF_ERROR(InferShapes(model, input_shapes, &plan->tensor_shapes_));
  const std::vector<Shape>& shapes = plan->tensor_shapes_;
  const size_t num_tensors = model.tensors.size();
  const int num_nodes = static_cast<int>(model.nodes.size());

  // Where every tensor lives. Arena tensors get their offset below.
  std::vector<TensorRef> refs(num_tensors);
  for (size_t t = 0; t < num_tensors; ++t) {
    const TensorDesc& td = model.tensors[t];
    if (!td.is_const) continue;
    const float* data = weights->at(static_cast<int>(t)).f32;
    if (data == nullptr) {
      return FormatError("gear '" + g.name + "': constant '" + td.name + "' has no f32 data");
    }
    refs[t].kind = TensorRef::Kind::kConst;
    refs[t].data = data;
  }
  for (size_t i = model.inputs.size(); i-- > 0;) {  // first occurrence wins
    refs[model.inputs[i]].kind = TensorRef::Kind::kInput;
    refs[model.inputs[i]].index = static_cast<int64_t>(i);
  }

  // Lifetimes of produced tensors: producing step .. last reading step;
  // graph outputs stay live to the end (step num_nodes copies them out).
  std::vector<int> producer(num_tensors, -1), last_use(num_tensors, -1);
  for (int s = 0; s < num_nodes; ++s) {
    const NodeDesc& node = model.nodes[s];
    const int o = node.outputs[0];
    if (refs[o].kind != TensorRef::Kind::kAbsent || producer[o] >= 0) {
      return FormatError("node '" + node.name + "' writes tensor '" + model.tensors[o].name +
                         "', which is an input, a constant or written twice");
    }
    producer[o] = s;
    last_use[o] = s;
    for (int t : node.inputs) {
      if (t >= 0) last_use[t] = std::max(last_use[t], s);
    }
  }
  for (int o : model.outputs) last_use[o] = num_nodes;
  std::vector<ArenaRequest> requests;
  std::vector<int> request_tensor;
  for (size_t t = 0; t < num_tensors; ++t) {
    if (producer[t] < 0) continue;
    ArenaRequest r;
    r.bytes = NumElements(shapes[t]) * static_cast<int64_t>(sizeof(float));
    r.first_step = producer[t];
    r.last_step = last_use[t];
    requests.push_back(r);
    request_tensor.push_back(static_cast<int>(t));
  }
  const ArenaLayout layout = PlanArena(requests);
  plan->arena_bytes_ = layout.arena_bytes;
  for (size_t i = 0; i < requests.size(); ++i) {
    refs[request_tensor[i]].kind = TensorRef::Kind::kArena;
    refs[request_tensor[i]].index = layout.offsets[i];
  }

  // Kernel parameters.
  size_t max_operands = 0;
  plan->steps_.reserve(num_nodes);
  for (const NodeDesc& node : model.nodes) {
    PlanStep st;
    st.op = node.op;
    st.first_operand = static_cast<int>(plan->operands_.size());
    st.num_operands = static_cast<int>(node.inputs.size());
    max_operands = std::max(max_operands, node.inputs.size());
    for (int t : node.inputs) plan->operands_.push_back(t >= 0 ? refs[t] : TensorRef());
    const int o = node.outputs[0];
    st.output = refs[o];
    st.out_elements = NumElements(shapes[o]);
    const NodeAttrs& a = node.attrs;
    const Shape& x = shapes[node.inputs[0]];
    const Shape& y = shapes[o];
    switch (node.op) {
      case OpType::kConv2D:
      case OpType::kDepthwiseConv2D: {
        const Shape& f = shapes[node.inputs[1]];
        Conv2DParams& p = st.conv;
        p.batch = x[0];
        p.in_h = x[1];
        p.in_w = x[2];
        p.in_c = x[3];
        p.out_h = y[1];
        p.out_w = y[2];
        p.out_c = y[3];
        p.kernel_h = static_cast<int>(f[1]);
        p.kernel_w = static_cast<int>(f[2]);
        p.stride_h = a.stride_h;
        p.stride_w = a.stride_w;
        p.dilation_h = a.dilation_h;
        p.dilation_w = a.dilation_w;
        p.depth_multiplier = a.depth_multiplier;
        p.act = ActivationRange(a.activation);
        int64_t unused;
        ComputeWindow(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, a.padding, &unused,
                      &p.pad_top);
        ComputeWindow(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, a.padding, &unused,
                      &p.pad_left);
        if (node.op == OpType::kConv2D && ConstWeights(refs, node) &&
            F32Conv2DGemmSupported(p, kernels.f32_gemm)) {
          st.packed = plan->PackGemm(p.out_c, p.kernel_h * p.kernel_w * p.in_c,
                                     refs[node.inputs[1]].data, BiasData(refs, node), packs);
        }
        st.dwconv = node.op == OpType::kDepthwiseConv2D && kernels.f32_dwconv != nullptr &&
                    F32DepthwiseDwconvSupported(p);
        break;
      }
      case OpType::kFullyConnected:
        st.dense.in_features = x.back();
        st.dense.out_features = y.back();
        st.dense.rows = NumElements(x) / x.back();
        st.dense.act = ActivationRange(a.activation);
        if (kernels.f32_gemm.fn != nullptr && kernels.f32_gemm.mr <= kF32GemmMaxMr &&
            ConstWeights(refs, node)) {
          st.packed = plan->PackGemm(st.dense.out_features, st.dense.in_features,
                                     refs[node.inputs[1]].data, BiasData(refs, node), packs);
        }
        break;
      case OpType::kMaxPool2D:
      case OpType::kAveragePool2D: {
        Pool2DParams& p = st.pool;
        p.batch = x[0];
        p.in_h = x[1];
        p.in_w = x[2];
        p.channels = x[3];
        p.out_h = y[1];
        p.out_w = y[2];
        p.filter_h = a.filter_h;
        p.filter_w = a.filter_w;
        p.stride_h = a.stride_h;
        p.stride_w = a.stride_w;
        p.act = ActivationRange(a.activation);
        int64_t unused;
        ComputeWindow(p.in_h, p.filter_h, p.stride_h, 1, a.padding, &unused, &p.pad_top);
        ComputeWindow(p.in_w, p.filter_w, p.stride_w, 1, a.padding, &unused, &p.pad_left);
        break;
      }
      case OpType::kMean:
        st.mean = MakeMeanParams(x, a.axes);
        break;
      case OpType::kRelu: st.unary = UnaryOp::kRelu; break;
      case OpType::kRelu6: st.unary = UnaryOp::kRelu6; break;
      case OpType::kReluN1To1: st.unary = UnaryOp::kReluN1To1; break;
      case OpType::kLogistic: st.unary = UnaryOp::kLogistic; break;
      case OpType::kTanh: st.unary = UnaryOp::kTanh; break;
      case OpType::kHardSwish: st.unary = UnaryOp::kHardSwish; break;
      case OpType::kSoftmax:
        st.softmax.cols = x.back();
        st.softmax.rows = NumElements(x) / x.back();
        st.softmax.beta = a.beta;
        break;
      case OpType::kAdd:
      case OpType::kMul:
        MakeBinaryParams(x, shapes[node.inputs[1]], a.activation, &st.binary);
        break;
      case OpType::kConcatenation: {
        std::vector<Shape> in;
        for (int t : node.inputs) in.push_back(shapes[t]);
        st.concat = MakeConcatParams(in, a.axis, a.activation);
        break;
      }
      case OpType::kReshape:
        break;
      case OpType::kPad:
        st.pad = MakePadParams(x, a.paddings);
        break;
    }
    plan->steps_.push_back(std::move(st));
  }
  for (int o : model.outputs) {
    plan->graph_outputs_.push_back(refs[o]);
    plan->output_shapes_.push_back(shapes[o]);
    plan->output_bytes_.push_back(NumElements(shapes[o]) * static_cast<int64_t>(sizeof(float)));
  }
  plan->scratch_.assign(max_operands, nullptr);
  *out = std::move(plan);
  return Status::Ok();
}

const float* Plan::Resolve(const TensorRef& ref, const void* const* inputs,
                           uint8_t* arena) const {
  switch (ref.kind) {
    case TensorRef::Kind::kAbsent: return nullptr;
    case TensorRef::Kind::kInput: return static_cast<const float*>(inputs[ref.index]);
    case TensorRef::Kind::kConst: return ref.data;
    case TensorRef::Kind::kArena: return reinterpret_cast<const float*>(arena + ref.index);
  }
  return nullptr;
}

void Plan::Run(const void* const* inputs, void* const* outputs, uint8_t* arena,
               ThreadPool* pool) {
  for (const PlanStep& st : steps_) {
    const float** in = scratch_.data();
    for (int i = 0; i < st.num_operands; ++i) {
      in[i] = Resolve(operands_[st.first_operand + i], inputs, arena);
    }
    float* y = reinterpret_cast<float*>(arena + st.output.index);
    switch (st.op) {
      case OpType::kConv2D:
        if (st.packed != nullptr) {
          f32_conv2d__gemm(st.conv, kernels_.f32_gemm, st.packed, in[0], y, pool);
          break;
        }
        f32_conv2d__ref(st.conv, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr, y, pool);
        break;
      case OpType::kDepthwiseConv2D:
        if (st.dwconv) {
          f32_depthwise_conv2d__dwconv(st.conv, kernels_.f32_dwconv, in[0], in[1],
                                       st.num_operands > 2 ? in[2] : nullptr, y, pool);
          break;
        }
        f32_depthwise_conv2d__ref(st.conv, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr,
                                  y, pool);
        break;
      case OpType::kFullyConnected:
        if (st.packed != nullptr) {
          f32_fully_connected__gemm(st.dense, kernels_.f32_gemm, st.packed, in[0], y, pool);
          break;
        }
        f32_fully_connected__ref(st.dense, in[0], in[1],
                                 st.num_operands > 2 ? in[2] : nullptr, y, pool);
        break;
      case OpType::kMaxPool2D:
        f32_max_pool2d__ref(st.pool, in[0], y, pool);
        break;
      case OpType::kAveragePool2D:
        f32_average_pool2d__ref(st.pool, in[0], y, pool);
        break;
      case OpType::kMean:
        f32_mean__ref(st.mean, in[0], y);
        break;
      case OpType::kRelu:
      case OpType::kRelu6:
      case OpType::kReluN1To1:
      case OpType::kLogistic:
      case OpType::kTanh:
      case OpType::kHardSwish:
        f32_unary__ref(st.unary, in[0], y, st.out_elements);
        break;
      case OpType::kSoftmax:
        f32_softmax__ref(st.softmax, in[0], y);
        break;
      case OpType::kAdd:
        f32_binary__ref(BinaryOp::kAdd, st.binary, in[0], in[1], y);
        break;
      case OpType::kMul:
        f32_binary__ref(BinaryOp::kMul, st.binary, in[0], in[1], y);
        break;
      case OpType::kConcatenation:
        f32_concat__ref(st.concat, in, y);
        break;
      case OpType::kReshape:
        f32_copy__ref(in[0], y, st.out_elements);
        break;
      case OpType::kPad:
        f32_pad__ref(st.pad, in[0], y);
        break;
    }
  }
  for (size_t i = 0; i < graph_outputs_.size(); ++i) {
    const float* src = Resolve(graph_outputs_[i], inputs, arena);
    if (src != outputs[i]) {
      std::memmove(outputs[i], src, static_cast<size_t>(output_bytes_[i]));
    }
  }
}

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
  GS_RETURN_IF_ERROR(Plan::Build(model, weights, input_shapes, kernels_, &packs_, &fresh.plan));
  ++builds_;
  fresh.last_use = tick_;
  if (entries_.size() >= capacity_) {
    auto lru = std::min_element(entries_.begin(), entries_.end(),
                                [](const Entry& a, const Entry& b) {
                                  return a.last_use < b.last_use;
                                });
    *lru = std::move(fresh);
    *plan = lru->plan.get();
  } else {
    entries_.push_back(std::move(fresh));
    *plan = entries_.back().plan.get();
  }
  return Status::Ok();
}

}  // namespace gearshift
