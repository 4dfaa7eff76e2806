// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and FULLY_CONNECTED: geometry,
// weight packs (fp32 GEMM, fp16 / f16w, q8 / q4 GEMM, q8 depthwise, sparse)
// and the kernel each step runs on.
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "plan/op_defs/op_defs.h"
#include "plan/plan_internal.h"
#include "plan/shape_inference.h"

namespace gearshift {
namespace {

using op_defs::MutableParams;
using op_defs::Params;
using op_defs::Q8Fail;
using plan_internal::BiasData;
using plan_internal::ConstWeights;
using plan_internal::F16Weights;
using plan_internal::Int8Values;
using plan_internal::SparseWeights;
using plan_internal::Unsupported;

// The fp32 GEMM kernel for a layer of n output columns: the narrow sibling
// where it exists and n fits it (a 16-channel layer half-filled an 8 x 32
// AVX-512 tile), else the table's kernel.
F32GemmKernel NarrowOr(const KernelTable& kernels, int64_t n) {
  const F32GemmKernel& narrow = kernels.f32_gemm_n16;
  return narrow.fn != nullptr && n <= narrow.nr ? narrow : kernels.f32_gemm;
}

// ---- CONV_2D and DEPTHWISE_CONV_2D ----------------------------------------

// The geometry CONV_2D and DEPTHWISE_CONV_2D share, a folded PAD's
// padding included.
void ConvGeometry(const StepBuild& b, Conv2DParams* out) {
  const NodeAttrs& a = b.node.attrs;
  const Shape& x = b.in_shape(0);
  const Shape& y = b.out_shape();
  const Shape& f = b.in_shape(1);
  Conv2DParams& p = *out;
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
  ComputeWindow(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, a.padding, &unused, &p.pad_left);
  if (b.fold() >= 0) {  // read the unpadded input; its pads are the conv's
    const NodeDesc& pad = b.model.nodes[b.fold()];
    const Shape& u = b.shapes[pad.inputs[0]];
    p.in_h = u[1];
    p.in_w = u[2];
    p.pad_top += pad.attrs.paddings[1].first;
    p.pad_left += pad.attrs.paddings[2].first;
  }
}

Status PrepareConv2DF32(const StepBuild& b, PlanStep* st) {
  const NodeDesc& node = b.node;
  const std::vector<TensorRef>& refs = b.refs();
  const KernelTable& kernels = b.kernels;
  Conv2DStep& s = st->params.emplace<Conv2DStep>();
  Conv2DParams& p = s.conv;
  ConvGeometry(b, &p);
  s.sparse = SparseWeights(b.weights, refs, node);
  if (s.sparse != nullptr &&
      (s.sparse->rows != p.out_c || s.sparse->cols != p.kernel_h * p.kernel_w * p.in_c ||
       (b.q8 ? s.sparse->i8.size() : s.sparse->f32.size()) != s.sparse->col.size())) {
    return FormatError("node '" + node.name + "': its sparse weights do not fit the filter");
  }
  const F16Tensor* f16 = F16Weights(b.weights, refs, node);
  if (f16 != nullptr && ConstWeights(refs, node) && kernels.f16w_gemm.fn != nullptr &&
      kernels.f16w_gemm.mr <= kF32GemmMaxMr) {
    s.f16_packed =
        b.plan_packs.PackGemmF16(p.out_c, p.kernel_h * p.kernel_w * p.in_c, *f16,
                                 static_cast<const float*>(BiasData(refs, node)), b.packs);
  } else if (s.sparse == nullptr && !b.q8 && ConstWeights(refs, node) &&
             F32Conv2DGemmSupported(p, kernels.f32_gemm)) {
    s.f32_gemm = NarrowOr(kernels, p.out_c);
    s.packed = b.plan_packs.PackF32Weight(node, refs, p.out_c, p.kernel_h * p.kernel_w * p.in_c,
                                          s.f32_gemm, b.packs);
  }
  return Status::Ok();
}

// Depthwise weights are never sparse (PrepareGearWeights makes sparse
// matrices of CONV_2D and FULLY_CONNECTED weights only).
Status PrepareDepthwiseF32(const StepBuild& b, PlanStep* st) {
  const KernelTable& kernels = b.kernels;
  DepthwiseStep& s = st->params.emplace<DepthwiseStep>();
  Conv2DParams& p = s.conv;
  ConvGeometry(b, &p);
  const F16Tensor* f16 = F16Weights(b.weights, b.refs(), b.node);
  if (f16 != nullptr && kernels.f16w_dwconv != nullptr && F32DepthwiseDwconvSupported(p)) {
    s.f16_filter = b.plan_packs.F16Values(*f16, b.packs);
  }
  s.dwconv = !b.q8 && kernels.f32_dwconv != nullptr && F32DepthwiseDwconvSupported(p);
  return Status::Ok();
}

void RunConv2DF32(const PlanStep& st, const KernelTable& k, const float* const* in, float* y,
                  ThreadPool* pool) {
  const Conv2DStep& s = Params<Conv2DStep>(st);
  const float* bias = st.num_operands > 2 ? in[2] : nullptr;
  if (s.sparse != nullptr) {
    f32_conv2d__sparse(s.conv, *s.sparse, in[0], bias, y, pool);
  } else if (s.f16_packed != nullptr) {
    if (k.f16_gemm.fn != nullptr) {  // packed for it (PlanPacks::PackGemmF16)
      f16_conv2d__gemm(s.conv, k.f16_gemm, s.f16_packed, in[0], y, pool);
    } else {
      f16w_conv2d__gemm(s.conv, k.f16w_gemm, s.f16_packed, in[0], y, pool);
    }
  } else if (s.packed != nullptr) {
    f32_conv2d__gemm(s.conv, s.f32_gemm, s.packed, in[0], y, pool);
  } else {
    f32_conv2d__ref(s.conv, in[0], in[1], bias, y, pool);
  }
}

void RunDepthwiseF32(const PlanStep& st, const KernelTable& k, const float* const* in, float* y,
                     ThreadPool* pool) {
  const DepthwiseStep& s = Params<DepthwiseStep>(st);
  const float* bias = st.num_operands > 2 ? in[2] : nullptr;
  if (s.f16_filter != nullptr && k.f16_dwconv.fn != nullptr) {
    f16_depthwise_conv2d__dwconv(s.conv, k.f16_dwconv, in[0], s.f16_filter, bias, y, pool);
  } else if (s.f16_filter != nullptr) {
    f16w_depthwise_conv2d__dwconv(s.conv, k.f16w_dwconv, in[0], s.f16_filter, bias, y, pool);
  } else if (s.dwconv) {
    f32_depthwise_conv2d__dwconv(s.conv, k.f32_dwconv, in[0], in[1], bias, y, pool);
  } else {
    f32_depthwise_conv2d__ref(s.conv, in[0], in[1], bias, y, pool);
  }
}

// ---- TRANSPOSE_CONV ---------------------------------------------------------

Status PrepareTransposeConvF32(const StepBuild& b, PlanStep* st) {
  const NodeDesc& node = b.node;
  const NodeAttrs& a = node.attrs;
  const Shape& x = b.in_shape(0);
  const Shape& y = b.out_shape();
  const Shape& f = b.in_shape(1);
  const std::vector<TensorRef>& refs = b.refs();
  TransposeConvStep& s = st->params.emplace<TransposeConvStep>();
  Conv2DParams& p = s.conv;
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
  if (b.q8 || !ConstWeights(refs, node) || b.weights.at(node.inputs[1]).sparse != nullptr ||
      !F32Conv2DGemmSupported(p, b.kernels.f32_gemm)) {
    return Status::Ok();
  }
  const auto* w = static_cast<const float*>(refs[node.inputs[1]].data);
  const auto* bias = static_cast<const float*>(BiasData(refs, node));
  if (TransposeConvIsShuffle(p)) {  // one temporary pack per filter row
    s.shuffle = true;
    const std::vector<float> bias_cols =
        bias != nullptr ? TransposeConvShuffleColumns(p, bias) : std::vector<float>();
    for (int ky = 0; ky < p.kernel_h; ++ky) {
      const std::vector<float> rows = TransposeConvShuffleFilter(p, w, ky);
      s.phase_packed.push_back(b.plan_packs.PackGemm(p.kernel_w * p.out_c, p.in_c, rows.data(),
                                                     bias != nullptr ? bias_cols.data() : nullptr,
                                                     nullptr));
    }
    return Status::Ok();
  }
  // One pack per output phase (f32_transpose_conv2d__phased). A phase with
  // every tap (stride 1) packs the filter itself, shared through `packs`;
  // the others pack a temporary, which `packs` (keyed by the weights'
  // address) must not keep.
  for (int ry = 0; ry < p.stride_h; ++ry) {
    for (int rx = 0; rx < p.stride_w; ++rx) {
      const std::vector<int> taps = TransposeConvPhaseTaps(p, ry, rx);
      const int64_t k = static_cast<int64_t>(taps.size()) * p.in_c;
      if (taps.size() == static_cast<size_t>(p.kernel_h) * p.kernel_w) {
        s.phase_packed.push_back(b.plan_packs.PackGemm(p.out_c, k, w, bias, b.packs));
      } else {
        const std::vector<float> sub = TransposeConvPhaseFilter(p, w, taps);
        s.phase_packed.push_back(b.plan_packs.PackGemm(p.out_c, k, sub.data(), bias, nullptr));
      }
    }
  }
  return Status::Ok();
}

void RunTransposeConvF32(const PlanStep& st, const KernelTable& k, const float* const* in, float* y,
                         ThreadPool* pool) {
  const TransposeConvStep& s = Params<TransposeConvStep>(st);
  if (s.shuffle) {
    f32_transpose_conv2d__shuffle(s.conv, k.f32_gemm, s.phase_packed.data(), in[0], y, pool);
  } else if (!s.phase_packed.empty()) {
    f32_transpose_conv2d__phased(s.conv, k.f32_gemm, s.phase_packed.data(), in[0], y, pool);
  } else {
    f32_transpose_conv2d__ref(s.conv, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr, y, pool);
  }
}

// ---- FULLY_CONNECTED --------------------------------------------------------

Status PrepareDenseF32(const StepBuild& b, PlanStep* st) {
  const NodeDesc& node = b.node;
  const Shape& x = b.in_shape(0);
  const Shape& y = b.out_shape();
  const std::vector<TensorRef>& refs = b.refs();
  const KernelTable& kernels = b.kernels;
  DenseStep& s = st->params.emplace<DenseStep>();
  s.dense.in_features = x.back();
  s.dense.out_features = y.back();
  s.dense.rows = NumElements(x) / x.back();
  s.dense.act = ActivationRange(node.attrs.activation);
  s.sparse = SparseWeights(b.weights, refs, node);
  if (s.sparse != nullptr &&
      (s.sparse->rows != s.dense.out_features || s.sparse->cols != s.dense.in_features ||
       (b.q8 ? s.sparse->i8.size() : s.sparse->f32.size()) != s.sparse->col.size())) {
    return FormatError("node '" + node.name + "': its sparse weights do not fit the layer");
  }
  const F16Tensor* f16 = F16Weights(b.weights, refs, node);
  if (f16 != nullptr && ConstWeights(refs, node) && kernels.f16w_gemm.fn != nullptr &&
      kernels.f16w_gemm.mr <= kF32GemmMaxMr) {
    s.f16_packed =
        b.plan_packs.PackGemmF16(s.dense.out_features, s.dense.in_features, *f16,
                                 static_cast<const float*>(BiasData(refs, node)), b.packs);
  } else if (s.sparse == nullptr && !b.q8 && kernels.f32_gemm.fn != nullptr &&
             kernels.f32_gemm.mr <= kF32GemmMaxMr && ConstWeights(refs, node)) {
    s.f32_gemm = NarrowOr(kernels, s.dense.out_features);
    s.packed = b.plan_packs.PackF32Weight(node, refs, s.dense.out_features, s.dense.in_features,
                                          s.f32_gemm, b.packs);
  }
  return Status::Ok();
}

void RunDenseF32(const PlanStep& st, const KernelTable& k, const float* const* in, float* y,
                 ThreadPool* pool) {
  const DenseStep& s = Params<DenseStep>(st);
  const float* bias = st.num_operands > 2 ? in[2] : nullptr;
  if (s.sparse != nullptr) {
    f32_fully_connected__sparse(s.dense, *s.sparse, in[0], bias, y, pool);
  } else if (s.f16_packed != nullptr) {
    if (k.f16_gemm.fn != nullptr) {
      f16_fully_connected__gemm(s.dense, k.f16_gemm, s.f16_packed, in[0], y, pool);
    } else {
      f16w_fully_connected__gemm(s.dense, k.f16w_gemm, s.f16_packed, in[0], y, pool);
    }
  } else if (s.packed != nullptr) {
    f32_fully_connected__gemm(s.dense, s.f32_gemm, s.packed, in[0], y, pool);
  } else {
    f32_fully_connected__ref(s.dense, in[0], in[1], bias, y, pool);
  }
}

// ---- int8: the requantization and packs of all four ------------------------

// The sparse weights of a step that may have them.
const SparseMatrix* SparseOf(const Conv2DStep& s) { return s.sparse; }
const SparseMatrix* SparseOf(const DenseStep& s) { return s.sparse; }
const SparseMatrix* SparseOf(const DepthwiseStep&) { return nullptr; }
const SparseMatrix* SparseOf(const TransposeConvStep&) { return nullptr; }

// S: Conv2DStep, DepthwiseStep, TransposeConvStep or DenseStep.
template <class S>
Status PrepareLayerQ8(const StepBuild& b, PlanStep* step) {
  S* st = &MutableParams<S>(step);
  const NodeDesc& node = b.node;
  const std::vector<TensorRef>& refs = b.refs();
  const KernelTable& kernels = b.kernels;
  constexpr bool dense = std::is_same<S, DenseStep>::value;
  constexpr bool depthwise = std::is_same<S, DepthwiseStep>::value;
  constexpr bool transpose = std::is_same<S, TransposeConvStep>::value;
  const SparseMatrix* sparse = SparseOf(*st);
  const int wt = node.inputs[1];
  const int bt = node.inputs.size() > 2 ? node.inputs[2] : -1;
  if (refs[wt].kind != TensorRef::Kind::kConst) {
    return Unsupported("gear '" + b.gear.name + "', node '" + node.name +
                       "': int8 weights must be constant");
  }
  const ConstView& w = b.weights.at(wt);
  int64_t channels = 0, k = 0;
  if constexpr (dense) {
    channels = st->dense.out_features;
    k = st->dense.in_features;
  } else {
    channels = st->conv.out_c;
    k = int64_t{st->conv.kernel_h} * st->conv.kernel_w * st->conv.in_c;
  }
  const int axis = depthwise ? 3 : 0;
  if ((w.i8 == nullptr && w.sparse == nullptr && w.q4 == nullptr) || w.quant == nullptr) {
    return Q8Fail(b, "weights are not int8");
  }
  const QuantDesc& wq = *w.quant;
  if (!(wq.scale.size() == 1 ||
        (static_cast<int64_t>(wq.scale.size()) == channels && wq.axis == axis))) {
    return Q8Fail(b, "weight quant is neither per tensor nor per output channel");
  }
  for (int32_t z : wq.zero_point) {
    if (z != 0) return Q8Fail(b, "int8 weights must be symmetric (zero point 0)");
  }
  const int32_t* bias = nullptr;
  if (bt >= 0) {
    bias = refs[bt].kind == TensorRef::Kind::kConst ? b.weights.at(bt).i32 : nullptr;
    if (bias == nullptr) return Q8Fail(b, "the bias is not a constant int32 tensor");
  }
  MakeQ8ChannelRequant(b.q8_x, wq.scale, b.q8_y, channels, node.attrs.activation, &st->q8_channel);
  if constexpr (depthwise) {
    if ((w.i8 != nullptr || w.q4 != nullptr) &&
        Q8DepthwiseDwconvSupported(st->conv, kernels.q8_dwconv)) {
      size_t bytes = 0;
      PackedWeightsCache local;
      std::vector<int8_t> expanded;  // a depthwise pack holds int8 copies anyway
      std::shared_ptr<const void> pack =
          (b.packs != nullptr ? b.packs : &local)
              ->GetQ8Depthwise(kernels.q8_dwconv, st->conv, Int8Values(w, &expanded), bias,
                               st->q8_channel, &bytes, w.q4);
      st->q8_packed = b.plan_packs.Keep(std::move(pack), bytes);
    }
    return Status::Ok();
  } else {
    // A kernel that sums two int8 products in int16 is exact only without
    // -128 weights: checked here, per layer, on the gear's own values.
    bool has_w_min = false;
    if (w.i8 != nullptr && kernels.q8_gemm_w127.fn != kernels.q8_gemm.fn) {
      const int64_t count = channels * k;
      for (int64_t i = 0; i < count && !has_w_min; ++i) has_w_min = w.i8[i] == -128;
    }
    const Q8GemmKernel& kernel = has_w_min ? kernels.q8_gemm : kernels.q8_gemm_w127;
    st->q8_gemm = kernel;
    if constexpr (transpose) {
      if (TransposeConvIsShuffle(st->conv) && Q8GemmUsable(kernels.q8_gemm)) {
        // One pack per filter row, of rearranged (temporary) rows: packed
        // through a local cache, never shared by address.
        const Conv2DParams& p = st->conv;
        std::vector<int8_t> expanded;
        const int8_t* values = Int8Values(w, &expanded);
        const int64_t count = p.out_c * p.kernel_h * p.kernel_w * p.in_c;
        const bool w_min = std::find(values, values + count, int8_t{-128}) != values + count;
        st->q8_gemm = w_min ? kernels.q8_gemm : kernels.q8_gemm_w127;
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
          st->q8_phase_packed.push_back(b.plan_packs.Keep(
              std::move(pack),
              Q8GemmPackedBytes(static_cast<size_t>(n), static_cast<size_t>(p.in_c), st->q8_gemm)));
        }
        st->shuffle = true;
        return Status::Ok();
      }
    }
    bool gemm = false;
    if constexpr (dense) {
      gemm = sparse == nullptr && Q8GemmUsable(kernel);
    } else {
      gemm = sparse == nullptr && Q8Conv2DGemmSupported(st->conv, kernel);
    }
    if (gemm) {
      PackedWeightsCache local;
      PackedWeightsCache* cache = b.packs != nullptr ? b.packs : &local;
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
      st->q8_packed = b.plan_packs.Keep(std::move(pack), bytes);
    }
    return Status::Ok();
  }
}

void RunConv2DQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in,
                 const int32_t* bias, int8_t* y, ThreadPool* pool) {
  const Conv2DStep& s = Params<Conv2DStep>(st);
  if (s.sparse != nullptr) {
    q8_conv2d__sparse(s.conv, s.q8_channel, *s.sparse, in[0], bias, y, pool);
  } else if (s.q8_packed != nullptr) {
    q8_conv2d__gemm(s.conv, s.q8_channel, s.q8_gemm, s.q8_packed, in[0], y, pool, s.q4_block);
  } else {
    q8_conv2d__ref(s.conv, s.q8_channel, in[0], in[1], bias, y, pool);
  }
}

void RunDepthwiseQ8(const PlanStep& st, const KernelTable& k, const int8_t* const* in,
                    const int32_t* bias, int8_t* y, ThreadPool* pool) {
  const DepthwiseStep& s = Params<DepthwiseStep>(st);
  if (s.q8_packed != nullptr) {
    q8_depthwise_conv2d__dw(s.conv, s.q8_channel, k.q8_dwconv, s.q8_packed, in[0], y, pool);
  } else {
    q8_depthwise_conv2d__ref(s.conv, s.q8_channel, in[0], in[1], bias, y, pool);
  }
}

void RunTransposeConvQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in,
                        const int32_t* bias, int8_t* y, ThreadPool* pool) {
  const TransposeConvStep& s = Params<TransposeConvStep>(st);
  if (s.shuffle) {
    q8_transpose_conv2d__shuffle(s.conv, s.q8_channel, s.q8_gemm, s.q8_phase_packed.data(), in[0],
                                 y, pool);
  } else if (s.q8_packed != nullptr) {
    q8_transpose_conv2d__gemm(s.conv, s.q8_channel, s.q8_gemm, s.q8_packed, in[0], y, pool,
                              s.q4_block);
  } else {
    q8_transpose_conv2d__opt(s.conv, s.q8_channel, in[0], in[1], bias, y, pool);
  }
}

void RunDenseQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in,
                const int32_t* bias, int8_t* y, ThreadPool* pool) {
  const DenseStep& s = Params<DenseStep>(st);
  if (s.sparse != nullptr) {
    q8_fully_connected__sparse(s.dense, s.q8_channel, *s.sparse, in[0], bias, y, pool);
  } else if (s.q8_packed != nullptr) {
    q8_fully_connected__gemm(s.dense, s.q8_channel, s.q8_gemm, s.q8_packed, in[0], y, pool,
                             s.q4_block);
  } else {
    q8_fully_connected__ref(s.dense, s.q8_channel, in[0], in[1], bias, y, pool);
  }
}

}  // namespace

OpDef Conv2DOp() {
  return {OpType::kConv2D,
          "CONV_2D",
          shape_rules::Conv,
          {PrepareConv2DF32, RunConv2DF32},
          {PrepareLayerQ8<Conv2DStep>, RunConv2DQ8}};
}
OpDef DepthwiseConv2DOp() {
  return {OpType::kDepthwiseConv2D,
          "DEPTHWISE_CONV_2D",
          shape_rules::Conv,
          {PrepareDepthwiseF32, RunDepthwiseF32},
          {PrepareLayerQ8<DepthwiseStep>, RunDepthwiseQ8}};
}
OpDef TransposeConvOp() {
  return {OpType::kTransposeConv,
          "TRANSPOSE_CONV",
          shape_rules::TransposeConv,
          {PrepareTransposeConvF32, RunTransposeConvF32},
          {PrepareLayerQ8<TransposeConvStep>, RunTransposeConvQ8}};
}
OpDef FullyConnectedOp() {
  return {OpType::kFullyConnected,
          "FULLY_CONNECTED",
          shape_rules::Dense,
          {PrepareDenseF32, RunDenseF32},
          {PrepareLayerQ8<DenseStep>, RunDenseQ8}};
}

}  // namespace gearshift
