// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Plan building: shapes (plan/shape_inference.h), memory
// (plan/memory_plan.h), then each step's kernel parameters and packed
// weights (plan/weight_packing.h; int8 gears: prepare_q8.cc).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "plan/memory_plan.h"
#include "plan/plan.h"
#include "plan/plan_internal.h"
#include "plan/shape_inference.h"

namespace gearshift {

using plan_internal::BiasData;
using plan_internal::ConstWeights;
using plan_internal::F16Weights;
using plan_internal::SparseWeights;
using plan_internal::Unsupported;

Status Plan::Build(const ModelDesc& model, int gear, const std::vector<Shape>& input_shapes,
                   std::unique_ptr<Plan>* out) {
  std::shared_ptr<const GearWeights> weights;
  GS_RETURN_IF_ERROR(PrepareGearWeights(model, gear, &weights));
  return Build(model, std::move(weights), input_shapes, KernelTable(), nullptr, out);
}

namespace {

// The fp32 GEMM kernel for a layer of n output columns: the narrow sibling
// where it exists and n fits it (a 16-channel layer half-filled an 8 x 32
// AVX-512 tile), else the table's kernel.
F32GemmKernel NarrowOr(const KernelTable& kernels, int64_t n) {
  const F32GemmKernel& narrow = kernels.f32_gemm_n16;
  return narrow.fn != nullptr && n <= narrow.nr ? narrow : kernels.f32_gemm;
}

}  // namespace

Status Plan::Build(const ModelDesc& model, std::shared_ptr<const GearWeights> weights,
                   const std::vector<Shape>& input_shapes, const KernelTable& kernels,
                   PackedWeightsCache* packs, std::unique_ptr<Plan>* out, bool keep_tensors) {
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
  std::unique_ptr<Plan> plan(new Plan());
  plan->gear_ = gear;
  plan->int8_ = int8;
  plan->weights_ = weights;
  plan->kernels_ = kernels;
  plan->input_shapes_ = input_shapes;
  GS_RETURN_IF_ERROR(InferShapes(model, input_shapes, &plan->tensor_shapes_));
  const std::vector<Shape>& shapes = plan->tensor_shapes_;
  const int num_nodes = static_cast<int>(model.nodes.size());
  MemoryPlan mem;
  GS_RETURN_IF_ERROR(PlanMemory(model, *weights, gear, int8, shapes, keep_tensors, &mem));
  plan->arena_bytes_ = mem.layout.arena_bytes;
  const std::vector<TensorRef>& refs = mem.refs;
  const std::vector<int>& folds = mem.folds;
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
    st.skip = folded[s];
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
      for (const PlanStep::Conversion& c : st.convert) listed |= c.src == refs[t].index;
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
        ComputeWindow(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, a.padding, &unused, &p.pad_top);
        ComputeWindow(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, a.padding, &unused,
                      &p.pad_left);
        if (folds[s] >= 0) {  // read the unpadded input; its pads are the conv's
          const NodeDesc& pad = model.nodes[folds[s]];
          const Shape& u = shapes[pad.inputs[0]];
          p.in_h = u[1];
          p.in_w = u[2];
          p.pad_top += pad.attrs.paddings[1].first;
          p.pad_left += pad.attrs.paddings[2].first;
        }
        st.sparse = SparseWeights(*weights, refs, node);
        if (st.sparse != nullptr &&
            (st.sparse->rows != p.out_c || st.sparse->cols != p.kernel_h * p.kernel_w * p.in_c ||
             (q8 ? st.sparse->i8.size() : st.sparse->f32.size()) != st.sparse->col.size())) {
          return FormatError("node '" + node.name + "': its sparse weights do not fit the filter");
        }
        const F16Tensor* f16 = F16Weights(*weights, refs, node);
        if (f16 != nullptr && node.op == OpType::kConv2D && ConstWeights(refs, node) &&
            kernels.f16w_gemm.fn != nullptr && kernels.f16w_gemm.mr <= kF32GemmMaxMr) {
          st.f16_packed = plan->PackGemmF16(p.out_c, p.kernel_h * p.kernel_w * p.in_c, *f16,
                                            static_cast<const float*>(BiasData(refs, node)), packs);
        } else if (st.sparse == nullptr && !q8 && node.op == OpType::kConv2D &&
                   ConstWeights(refs, node) && F32Conv2DGemmSupported(p, kernels.f32_gemm)) {
          st.f32_gemm = NarrowOr(kernels, p.out_c);
          st.packed = plan->PackF32Weight(node, refs, p.out_c, p.kernel_h * p.kernel_w * p.in_c,
                                          st.f32_gemm, packs);
        }
        if (f16 != nullptr && node.op == OpType::kDepthwiseConv2D &&
            kernels.f16w_dwconv != nullptr && F32DepthwiseDwconvSupported(p)) {
          st.f16_filter = plan->F16Values(*f16, packs);
        }
        st.dwconv = !q8 && node.op == OpType::kDepthwiseConv2D && kernels.f32_dwconv != nullptr &&
                    F32DepthwiseDwconvSupported(p);
        break;
      }
      case OpType::kFullyConnected: {
        st.dense.in_features = x.back();
        st.dense.out_features = y.back();
        st.dense.rows = NumElements(x) / x.back();
        st.dense.act = ActivationRange(a.activation);
        st.sparse = SparseWeights(*weights, refs, node);
        if (st.sparse != nullptr &&
            (st.sparse->rows != st.dense.out_features || st.sparse->cols != st.dense.in_features ||
             (q8 ? st.sparse->i8.size() : st.sparse->f32.size()) != st.sparse->col.size())) {
          return FormatError("node '" + node.name + "': its sparse weights do not fit the layer");
        }
        const F16Tensor* f16 = F16Weights(*weights, refs, node);
        if (f16 != nullptr && ConstWeights(refs, node) && kernels.f16w_gemm.fn != nullptr &&
            kernels.f16w_gemm.mr <= kF32GemmMaxMr) {
          st.f16_packed = plan->PackGemmF16(st.dense.out_features, st.dense.in_features, *f16,
                                            static_cast<const float*>(BiasData(refs, node)), packs);
        } else if (st.sparse == nullptr && !q8 && kernels.f32_gemm.fn != nullptr &&
                   kernels.f32_gemm.mr <= kF32GemmMaxMr && ConstWeights(refs, node)) {
          st.f32_gemm = NarrowOr(kernels, st.dense.out_features);
          st.packed = plan->PackF32Weight(node, refs, st.dense.out_features, st.dense.in_features,
                                          st.f32_gemm, packs);
        }
        break;
      }
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
      case OpType::kRelu:
        st.unary = UnaryOp::kRelu;
        break;
      case OpType::kRelu6:
        st.unary = UnaryOp::kRelu6;
        break;
      case OpType::kReluN1To1:
        st.unary = UnaryOp::kReluN1To1;
        break;
      case OpType::kLogistic:
        st.unary = UnaryOp::kLogistic;
        break;
      case OpType::kTanh:
        st.unary = UnaryOp::kTanh;
        break;
      case OpType::kHardSwish:
        st.unary = UnaryOp::kHardSwish;
        break;
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
      case OpType::kQuantize:
        break;
      case OpType::kPad:
        st.pad = MakePadParams(x, a.paddings, static_cast<float>(a.pad_value));
        break;
      case OpType::kTransposeConv: {
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
        p.act = ActivationRange(a.activation);
        p.pad_top = TransposeConvPadBefore(p.in_h, p.out_h, p.kernel_h, p.stride_h, a.padding);
        p.pad_left = TransposeConvPadBefore(p.in_w, p.out_w, p.kernel_w, p.stride_w, a.padding);
        if (!q8 && ConstWeights(refs, node) && weights->at(node.inputs[1]).sparse == nullptr &&
            F32Conv2DGemmSupported(p, kernels.f32_gemm)) {
          const auto* w = static_cast<const float*>(refs[node.inputs[1]].data);
          const auto* b = static_cast<const float*>(BiasData(refs, node));
          if (TransposeConvIsShuffle(p)) {  // one temporary pack per filter row
            st.shuffle = true;
            const std::vector<float> bias_cols =
                b != nullptr ? TransposeConvShuffleColumns(p, b) : std::vector<float>();
            for (int ky = 0; ky < p.kernel_h; ++ky) {
              const std::vector<float> rows = TransposeConvShuffleFilter(p, w, ky);
              st.phase_packed.push_back(plan->PackGemm(p.kernel_w * p.out_c, p.in_c, rows.data(),
                                                       b != nullptr ? bias_cols.data() : nullptr,
                                                       nullptr));
            }
            break;
          }
          // One pack per output phase (f32_transpose_conv2d__phased). A
          // phase with every tap (stride 1) packs the filter itself, shared
          // through `packs`; the others pack a temporary, which `packs`
          // (keyed by the weights' address) must not keep.
          for (int ry = 0; ry < p.stride_h; ++ry) {
            for (int rx = 0; rx < p.stride_w; ++rx) {
              const std::vector<int> taps = TransposeConvPhaseTaps(p, ry, rx);
              const int64_t k = static_cast<int64_t>(taps.size()) * p.in_c;
              if (taps.size() == static_cast<size_t>(p.kernel_h) * p.kernel_w) {
                st.phase_packed.push_back(plan->PackGemm(p.out_c, k, w, b, packs));
              } else {
                const std::vector<float> sub = TransposeConvPhaseFilter(p, w, taps);
                st.phase_packed.push_back(plan->PackGemm(p.out_c, k, sub.data(), b, nullptr));
              }
            }
          }
        }
        break;
      }
      case OpType::kSub:
      case OpType::kDiv:
      case OpType::kMaximum:
      case OpType::kMinimum:
      case OpType::kPrelu:
        MakeBinaryParams(x, shapes[node.inputs[1]], a.activation, &st.binary);
        break;
      case OpType::kLeakyRelu:
        st.alpha = a.alpha;
        break;
      case OpType::kResizeBilinear:
      case OpType::kResizeNearestNeighbor:
        st.resize = MakeResizeParams(x, y, a);
        break;
      case OpType::kDepthToSpace:
        st.strided = MakeDepthToSpaceParams(x, a.block_size);
        break;
      case OpType::kSpaceToDepth:
        st.strided = MakeSpaceToDepthParams(x, a.block_size);
        break;
      case OpType::kTranspose:
        st.strided = MakeTransposeParams(x, a.perm);
        break;
      case OpType::kSlice:
        st.strided = MakeSliceParams(x, a.begin, a.end, a.strides);
        break;
      case OpType::kGather:
        st.gather = MakeGatherParams(x, a.axis, a.indices);
        break;
    }
    if (q8) GS_RETURN_IF_ERROR(plan->PrepareQ8Step(model, node, refs, packs, &st));
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

}  // namespace gearshift
