// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Ops that move values without arithmetic (int8 gears: equal parameters in
// and out): CONCATENATION, RESHAPE, PAD, the resizes, DEPTH_TO_SPACE,
// SPACE_TO_DEPTH, TRANSPOSE, SLICE and GATHER.
#include <vector>

#include "plan/op_defs/op_defs.h"
#include "plan/plan_internal.h"
#include "plan/shape_inference.h"

namespace gearshift {
namespace {

using op_defs::MutableParams;
using op_defs::Params;
using op_defs::Q8SameAsOutput;

// The int8 prepare of an op whose only condition is input 0's parameters.
Status PrepareSameQ8(const StepBuild& b, PlanStep*) { return Q8SameAsOutput(b, b.node.inputs[0]); }

// ---- CONCATENATION ------------------------------------------------------------

Status PrepareConcatF32(const StepBuild& b, PlanStep* st) {
  std::vector<Shape> in;
  for (int t : b.node.inputs) in.push_back(b.shapes[t]);
  st->params.emplace<ConcatStep>().concat =
      MakeConcatParams(in, b.node.attrs.axis, b.node.attrs.activation);
  return Status::Ok();
}
Status PrepareConcatQ8(const StepBuild& b, PlanStep* st) {
  for (int t : b.node.inputs) GS_RETURN_IF_ERROR(Q8SameAsOutput(b, t));
  MutableParams<ConcatStep>(st).q8_act = Q8ActivationRange(b.node.attrs.activation, b.q8_y);
  return Status::Ok();
}
void RunConcatF32(const PlanStep& st, const KernelTable&, const float* const* in, float* y,
                  ThreadPool*) {
  f32_concat__ref(Params<ConcatStep>(st).concat, in, y);
}
void RunConcatQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in, const int32_t*,
                 int8_t* y, ThreadPool* pool) {
  const ConcatStep& s = Params<ConcatStep>(st);
  q8_concat__opt(s.concat, s.q8_act, in, y, pool);
}

// ---- RESHAPE ----------------------------------------------------------------------
// An alias (OpDef::alias) wherever the memory plan allows: its step then
// does nothing. Otherwise a copy; in int8 with input parameters unlike the
// output's, a requantizing copy (a 256-entry lookup, as QUANTIZE).

Status PrepareNothing(const StepBuild&, PlanStep*) { return Status::Ok(); }
Status PrepareReshapeQ8(const StepBuild& b, PlanStep* st) {
  if (!plan_internal::SameQuant(b.q8_x, b.q8_y)) {
    st->params.emplace<UnaryStep>().q8_table =
        MakeQ8RescaleTable(MakeQ8RequantizeParams(b.q8_x, b.q8_y));
  }
  return Status::Ok();
}
void RunCopyF32(const PlanStep& st, const KernelTable&, const float* const* in, float* y,
                ThreadPool*) {
  f32_copy__ref(in[0], y, st.out_elements);
}
void RunReshapeQ8(const PlanStep& st, const KernelTable& k, const int8_t* const* in, const int32_t*,
                  int8_t* y, ThreadPool* pool) {
  if (const UnaryStep* u = st.get<UnaryStep>()) {
    q8_lookup__opt(u->q8_table, in[0], y, st.out_elements, pool, k.q8_lut.fn);
  } else {
    q8_copy__ref(in[0], y, st.out_elements);
  }
}

// ---- PAD ----------------------------------------------------------------------------

Status PreparePadF32(const StepBuild& b, PlanStep* st) {
  st->params.emplace<PadStep>().pad = MakePadParams(b.in_shape(0), b.node.attrs.paddings,
                                                    static_cast<float>(b.node.attrs.pad_value));
  return Status::Ok();
}
Status PreparePadQ8(const StepBuild& b, PlanStep* st) {
  GS_RETURN_IF_ERROR(Q8SameAsOutput(b, b.node.inputs[0]));
  // The fill is real `value` (default 0, which quantizes to zy).
  MutableParams<PadStep>(st).q8_pad_value = QuantizeQ8Fill(b.node.attrs.pad_value, b.q8_y);
  return Status::Ok();
}
void RunPadF32(const PlanStep& st, const KernelTable&, const float* const* in, float* y,
               ThreadPool* pool) {
  f32_pad__opt(Params<PadStep>(st).pad, in[0], y, pool);
}
void RunPadQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in, const int32_t*,
              int8_t* y, ThreadPool* pool) {
  const PadStep& s = Params<PadStep>(st);
  q8_pad__opt(s.pad, s.q8_pad_value, in[0], y, pool);
}

// ---- resizes --------------------------------------------------------------------------

Status PrepareResizeF32(const StepBuild& b, PlanStep* st) {
  st->params.emplace<ResizeStep>().resize =
      MakeResizeParams(b.in_shape(0), b.out_shape(), b.node.attrs);
  return Status::Ok();
}
void RunResizeBilinearF32(const PlanStep& st, const KernelTable&, const float* const* in, float* y,
                          ThreadPool* pool) {
  f32_resize_bilinear__opt(Params<ResizeStep>(st).resize, in[0], y, pool);
}
void RunResizeNearestF32(const PlanStep& st, const KernelTable&, const float* const* in, float* y,
                         ThreadPool* pool) {
  f32_resize_nearest__opt(Params<ResizeStep>(st).resize, in[0], y, pool);
}
void RunResizeBilinearQ8(const PlanStep& st, const KernelTable& k, const int8_t* const* in,
                         const int32_t*, int8_t* y, ThreadPool* pool) {
  q8_resize_bilinear__opt(Params<ResizeStep>(st).resize, in[0], y, pool, k.q8_resize.bilinear);
}
void RunResizeNearestQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in,
                        const int32_t*, int8_t* y, ThreadPool* pool) {
  q8_resize_nearest__opt(Params<ResizeStep>(st).resize, in[0], y, pool);
}

// ---- strided copies: DEPTH_TO_SPACE, SPACE_TO_DEPTH, TRANSPOSE, SLICE -------------

Status PrepareDepthToSpaceF32(const StepBuild& b, PlanStep* st) {
  st->params.emplace<StridedStep>().strided =
      MakeDepthToSpaceParams(b.in_shape(0), b.node.attrs.block_size);
  return Status::Ok();
}
Status PrepareSpaceToDepthF32(const StepBuild& b, PlanStep* st) {
  st->params.emplace<StridedStep>().strided =
      MakeSpaceToDepthParams(b.in_shape(0), b.node.attrs.block_size);
  return Status::Ok();
}
Status PrepareTransposeF32(const StepBuild& b, PlanStep* st) {
  st->params.emplace<StridedStep>().strided = MakeTransposeParams(b.in_shape(0), b.node.attrs.perm);
  return Status::Ok();
}
Status PrepareSliceF32(const StepBuild& b, PlanStep* st) {
  const NodeAttrs& a = b.node.attrs;
  st->params.emplace<StridedStep>().strided =
      MakeSliceParams(b.in_shape(0), a.begin, a.end, a.strides);
  return Status::Ok();
}
void RunStridedF32(const PlanStep& st, const KernelTable&, const float* const* in, float* y,
                   ThreadPool*) {
  f32_strided_copy__ref(Params<StridedStep>(st).strided, in[0], y);
}
void RunStridedQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in, const int32_t*,
                  int8_t* y, ThreadPool*) {
  q8_strided_copy__ref(Params<StridedStep>(st).strided, in[0], y);
}

// ---- GATHER -------------------------------------------------------------------------

Status PrepareGatherF32(const StepBuild& b, PlanStep* st) {
  st->params.emplace<GatherStep>().gather =
      MakeGatherParams(b.in_shape(0), b.node.attrs.axis, b.node.attrs.indices);
  return Status::Ok();
}
void RunGatherF32(const PlanStep& st, const KernelTable&, const float* const* in, float* y,
                  ThreadPool*) {
  f32_gather__ref(Params<GatherStep>(st).gather, in[0], y);
}
void RunGatherQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in, const int32_t*,
                 int8_t* y, ThreadPool*) {
  q8_gather__ref(Params<GatherStep>(st).gather, in[0], y);
}

}  // namespace

OpDef ConcatenationOp() {
  return {OpType::kConcatenation,
          "CONCATENATION",
          shape_rules::Concat,
          {PrepareConcatF32, RunConcatF32},
          {PrepareConcatQ8, RunConcatQ8}};
}
OpDef ReshapeOp() {
  return {OpType::kReshape,
          "RESHAPE",
          shape_rules::Reshape,
          {PrepareNothing, RunCopyF32},
          {PrepareReshapeQ8, RunReshapeQ8},
          /*alias=*/true};
}
OpDef PadOp() {
  return {
      OpType::kPad, "PAD", shape_rules::Pad, {PreparePadF32, RunPadF32}, {PreparePadQ8, RunPadQ8}};
}
OpDef ResizeBilinearOp() {
  return {OpType::kResizeBilinear,
          "RESIZE_BILINEAR",
          shape_rules::Resize,
          {PrepareResizeF32, RunResizeBilinearF32},
          {PrepareSameQ8, RunResizeBilinearQ8}};
}
OpDef ResizeNearestNeighborOp() {
  return {OpType::kResizeNearestNeighbor,
          "RESIZE_NEAREST_NEIGHBOR",
          shape_rules::Resize,
          {PrepareResizeF32, RunResizeNearestF32},
          {PrepareSameQ8, RunResizeNearestQ8}};
}
OpDef DepthToSpaceOp() {
  return {OpType::kDepthToSpace,
          "DEPTH_TO_SPACE",
          shape_rules::BlockShuffle,
          {PrepareDepthToSpaceF32, RunStridedF32},
          {PrepareSameQ8, RunStridedQ8}};
}
OpDef SpaceToDepthOp() {
  return {OpType::kSpaceToDepth,
          "SPACE_TO_DEPTH",
          shape_rules::BlockShuffle,
          {PrepareSpaceToDepthF32, RunStridedF32},
          {PrepareSameQ8, RunStridedQ8}};
}
OpDef TransposeOp() {
  return {OpType::kTranspose,
          "TRANSPOSE",
          shape_rules::Transpose,
          {PrepareTransposeF32, RunStridedF32},
          {PrepareSameQ8, RunStridedQ8}};
}
OpDef SliceOp() {
  return {OpType::kSlice,
          "SLICE",
          shape_rules::Slice,
          {PrepareSliceF32, RunStridedF32},
          {PrepareSameQ8, RunStridedQ8}};
}
OpDef GatherOp() {
  return {OpType::kGather,
          "GATHER",
          shape_rules::Gather,
          {PrepareGatherF32, RunGatherF32},
          {PrepareSameQ8, RunGatherQ8}};
}

}  // namespace gearshift
