// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// An int8 gear's step preparation: the quantized side of each step's
// parameters (multipliers, clamp ranges, lookup tables) and its int8 packs.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "plan/plan.h"
#include "plan/plan_internal.h"

namespace gearshift {

using plan_internal::Int8Values;
using plan_internal::SameQuant;
using plan_internal::Unsupported;

Status Plan::PrepareQ8Step(const ModelDesc& model, const NodeDesc& node,
                           const std::vector<TensorRef>& refs, PackedWeightsCache* packs,
                           PlanStep* st) {
  const GearDesc& g = model.gears[gear_];
  auto fail = [&](const std::string& m) {
    return FormatError("gear '" + g.name + "', node '" + node.name + "': " + m);
  };
  // (scale, zero point) of an operand: the gear's activation parameters, or
  // a constant's per-tensor storage quant.
  auto quant_of = [&](int t, Q8Quant* q) -> Status {
    if (refs[t].kind != TensorRef::Kind::kConst) {
      *q = g.activations[t];
      return Status::Ok();
    }
    const ConstView& cv = weights_->at(t);
    if (cv.i8 == nullptr || cv.quant == nullptr || cv.quant->scale.size() != 1) {
      return fail("constant '" + model.tensors[t].name + "' is not int8 with per-tensor quant");
    }
    q->scale = cv.quant->scale[0];
    q->zero_point = cv.quant->zero_point.empty() ? 0 : cv.quant->zero_point[0];
    return Status::Ok();
  };
  // Value-moving ops (pools, CONCATENATION, RESHAPE, PAD, 1.3's layout ops,
  // resizes, MAXIMUM/MINIMUM) need equal
  // parameters in and out (the reader checks; a plan never rescales there).
  auto same_as_output = [&](int t, Q8Quant y) -> Status {
    Q8Quant q;
    GS_RETURN_IF_ERROR(quant_of(t, &q));
    if (!SameQuant(q, y)) {
      return fail("input '" + model.tensors[t].name +
                  "' and the output have different int8 parameters");
    }
    return Status::Ok();
  };
  Q8Quant x, y = g.activations[node.outputs[0]];
  GS_RETURN_IF_ERROR(quant_of(node.inputs[0], &x));
  const Activation act = node.attrs.activation;
  switch (node.op) {
    case OpType::kConv2D:
    case OpType::kDepthwiseConv2D:
    case OpType::kFullyConnected:
    case OpType::kTransposeConv: {
      const int wt = node.inputs[1];
      const int bt = node.inputs.size() > 2 ? node.inputs[2] : -1;
      if (refs[wt].kind != TensorRef::Kind::kConst) {
        return Unsupported("gear '" + g.name + "', node '" + node.name +
                           "': int8 weights must be constant");
      }
      const ConstView& w = weights_->at(wt);
      const bool dense = node.op == OpType::kFullyConnected;
      const int64_t channels = dense ? st->dense.out_features : st->conv.out_c;
      const int axis = node.op == OpType::kDepthwiseConv2D ? 3 : 0;
      if ((w.i8 == nullptr && w.sparse == nullptr && w.q4 == nullptr) || w.quant == nullptr) {
        return fail("weights are not int8");
      }
      const QuantDesc& wq = *w.quant;
      if (!(wq.scale.size() == 1 ||
            (static_cast<int64_t>(wq.scale.size()) == channels && wq.axis == axis))) {
        return fail("weight quant is neither per tensor nor per output channel");
      }
      for (int32_t z : wq.zero_point) {
        if (z != 0) return fail("int8 weights must be symmetric (zero point 0)");
      }
      const int32_t* bias = nullptr;
      if (bt >= 0) {
        bias = refs[bt].kind == TensorRef::Kind::kConst ? weights_->at(bt).i32 : nullptr;
        if (bias == nullptr) return fail("the bias is not a constant int32 tensor");
      }
      MakeQ8ChannelRequant(x, wq.scale, y, channels, act, &st->q8_channel);
      // A kernel that sums two int8 products in int16 is exact only without
      // -128 weights: checked here, per layer, on the gear's own values.
      bool has_w_min = false;
      if (w.i8 != nullptr &&
          (dense || node.op == OpType::kConv2D || node.op == OpType::kTransposeConv) &&
          kernels_.q8_gemm_w127.fn != kernels_.q8_gemm.fn) {
        const int64_t count =
            channels * (dense ? st->dense.in_features
                              : int64_t{st->conv.kernel_h} * st->conv.kernel_w * st->conv.in_c);
        for (int64_t i = 0; i < count && !has_w_min; ++i) has_w_min = w.i8[i] == -128;
      }
      const Q8GemmKernel& kernel = has_w_min ? kernels_.q8_gemm : kernels_.q8_gemm_w127;
      st->q8_gemm = kernel;
      if (node.op == OpType::kTransposeConv && st->sparse == nullptr &&
          TransposeConvIsShuffle(st->conv) && Q8GemmUsable(kernels_.q8_gemm)) {
        // One pack per filter row, of rearranged (temporary) rows: packed
        // through a local cache, never shared by address.
        const Conv2DParams& p = st->conv;
        std::vector<int8_t> expanded;
        const int8_t* values = Int8Values(w, &expanded);
        const int64_t count = p.out_c * p.kernel_h * p.kernel_w * p.in_c;
        const bool w_min = std::find(values, values + count, int8_t{-128}) != values + count;
        st->q8_gemm = w_min ? kernels_.q8_gemm : kernels_.q8_gemm_w127;
        Q8ChannelRequant cols = st->q8_channel;
        cols.multiplier = TransposeConvShuffleColumns(p, st->q8_channel.multiplier.data());
        cols.shift = TransposeConvShuffleColumns(p, st->q8_channel.shift.data());
        const std::vector<int32_t> bias_cols =
            bias != nullptr ? TransposeConvShuffleColumns(p, bias) : std::vector<int32_t>();
        const int64_t n = p.kernel_w * p.out_c;
        for (int ky = 0; ky < p.kernel_h; ++ky) {
          const std::vector<int8_t> rows = TransposeConvShuffleFilter(p, values, ky);
          PackedWeightsCache local;
          std::shared_ptr<const void> pack =
              local.GetQ8(st->q8_gemm, n, p.in_c, rows.data(),
                          bias != nullptr ? bias_cols.data() : nullptr, cols);
          packed_bytes_ += static_cast<int64_t>(
              Q8GemmPackedBytes(static_cast<size_t>(n), static_cast<size_t>(p.in_c), st->q8_gemm));
          st->q8_phase_packed.push_back(pack.get());
          packed_storage_.push_back(std::move(pack));
        }
        st->shuffle = true;
        break;
      }
      const bool gemm =
          st->sparse == nullptr &&
          (dense ? Q8GemmUsable(kernel)
                 : (node.op == OpType::kConv2D || node.op == OpType::kTransposeConv) &&
                       Q8Conv2DGemmSupported(st->conv, kernel));
      if (gemm) {
        const int64_t k = dense ? st->dense.in_features
                                : int64_t{st->conv.kernel_h} * st->conv.kernel_w * st->conv.in_c;
        PackedWeightsCache local;
        PackedWeightsCache* cache = packs != nullptr ? packs : &local;
        std::shared_ptr<const void> pack;
        size_t bytes = 0;
        const Q4MTensor* q4 = w.q4;
        if (q4 != nullptr && q4->layout.outer == 1 && q4->layout.channels == channels &&
            q4->layout.inner == k) {
          // Rows are the channels' rows of the q4m view: pack it 4-bit.
          pack = cache->GetQ4(kernel, channels, k, *q4, bias, st->q8_channel, &bytes);
          st->q4_block = static_cast<size_t>(q4->block);
        } else {  // int8 weights, or a q4 weight of a hand-made layout: an int8 pack
          std::vector<int8_t> expanded;
          pack =
              cache->GetQ8(kernel, channels, k, Int8Values(w, &expanded), bias, st->q8_channel, q4);
          bytes = Q8GemmPackedBytes(static_cast<size_t>(channels), static_cast<size_t>(k), kernel);
        }
        packed_bytes_ += static_cast<int64_t>(bytes);
        st->q8_packed = pack.get();
        packed_storage_.push_back(std::move(pack));
      } else if (node.op == OpType::kDepthwiseConv2D && st->sparse == nullptr &&
                 (w.i8 != nullptr || w.q4 != nullptr) &&
                 Q8DepthwiseDwconvSupported(st->conv, kernels_.q8_dwconv)) {
        size_t bytes = 0;
        PackedWeightsCache local;
        std::vector<int8_t> expanded;  // a depthwise pack holds int8 copies anyway
        std::shared_ptr<const void> pack =
            (packs != nullptr ? packs : &local)
                ->GetQ8Depthwise(kernels_.q8_dwconv, st->conv, Int8Values(w, &expanded), bias,
                                 st->q8_channel, &bytes, w.q4);
        packed_bytes_ += static_cast<int64_t>(bytes);
        st->q8_packed = pack.get();
        packed_storage_.push_back(std::move(pack));
      }
      break;
    }
    case OpType::kMaxPool2D:
    case OpType::kAveragePool2D:
      GS_RETURN_IF_ERROR(same_as_output(node.inputs[0], y));
      st->q8_act = Q8ActivationRange(act, y);
      break;
    case OpType::kMean:
      st->q8_rescale = MakeQ8MeanParams(x, y, st->mean.reduced_count);
      break;
    case OpType::kRelu:
    case OpType::kRelu6:
    case OpType::kReluN1To1:
      st->q8_rescale = MakeQ8RescaleParams(st->unary, x, y);
      st->q8_table = MakeQ8RescaleTable(st->q8_rescale);  // run as a lookup
      break;
    case OpType::kLogistic:
    case OpType::kTanh:
    case OpType::kHardSwish:
      st->q8_table = MakeQ8Table(st->unary, x, y);
      break;
    case OpType::kSoftmax:
      st->q8_softmax = MakeQ8SoftmaxParams(node.attrs.beta, x, y);
      break;
    case OpType::kAdd:
    case OpType::kMul: {
      Q8Quant b;
      GS_RETURN_IF_ERROR(quant_of(node.inputs[1], &b));
      if (node.op == OpType::kAdd) {
        st->q8_add = MakeQ8AddParams(x, b, y, act);
      } else {
        st->q8_mul = MakeQ8MulParams(x, b, y, act);
      }
      break;
    }
    case OpType::kConcatenation:
      for (int t : node.inputs) GS_RETURN_IF_ERROR(same_as_output(t, y));
      st->q8_act = Q8ActivationRange(act, y);
      break;
    case OpType::kReshape:
      GS_RETURN_IF_ERROR(same_as_output(node.inputs[0], y));
      break;
    case OpType::kPad:
      GS_RETURN_IF_ERROR(same_as_output(node.inputs[0], y));
      // The fill is real `value` (default 0, which quantizes to zy).
      st->q8_pad_value = QuantizeQ8Fill(node.attrs.pad_value, y);
      break;
    case OpType::kSub: {
      Q8Quant b;
      GS_RETURN_IF_ERROR(quant_of(node.inputs[1], &b));
      st->q8_add = MakeQ8SubParams(x, b, y, act);
      break;
    }
    case OpType::kDiv: {
      Q8Quant b;
      GS_RETURN_IF_ERROR(quant_of(node.inputs[1], &b));
      st->q8_div = MakeQ8DivParams(x, b, y, act);
      break;
    }
    case OpType::kPrelu: {
      Q8Quant alpha;
      GS_RETURN_IF_ERROR(quant_of(node.inputs[1], &alpha));
      st->q8_prelu = MakeQ8PreluParams(x, alpha, y);
      const int at = node.inputs[1];
      // Tables where no vector row kernel runs PRELU (the ref ISA): one load
      // per element beats two scalar 64-bit requantizations; the AVX2,
      // AVX-512 and NEON rows beat the table's scalar loads.
      if (kernels_.q8_vbinary.prelu == nullptr && refs[at].kind == TensorRef::Kind::kConst &&
          weights_->at(at).i8 != nullptr) {
        st->q8_prelu_tables = MakeQ8PreluTables(st->binary, st->q8_prelu, weights_->at(at).i8);
        packed_bytes_ += static_cast<int64_t>(st->q8_prelu_tables.size());
      }
      break;
    }
    case OpType::kLeakyRelu:
      st->q8_leaky_relu = MakeQ8LeakyReluParams(node.attrs.alpha, x, y);
      st->q8_table = MakeQ8LeakyReluTable(st->q8_leaky_relu);  // run as a lookup
      break;
    case OpType::kQuantize:
      st->q8_rescale = MakeQ8RequantizeParams(x, y);
      st->q8_table = MakeQ8RescaleTable(st->q8_rescale);  // run as a lookup
      break;
    case OpType::kMaximum:
    case OpType::kMinimum:
      for (int t : node.inputs) GS_RETURN_IF_ERROR(same_as_output(t, y));
      break;
    case OpType::kResizeBilinear:
    case OpType::kResizeNearestNeighbor:
    case OpType::kDepthToSpace:
    case OpType::kSpaceToDepth:
    case OpType::kTranspose:
    case OpType::kSlice:
    case OpType::kGather:
      GS_RETURN_IF_ERROR(same_as_output(node.inputs[0], y));
      break;
  }
  return Status::Ok();
}

}  // namespace gearshift
