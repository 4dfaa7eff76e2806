// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// MAX_POOL_2D, AVERAGE_POOL_2D and MEAN.
#include "plan/op_defs/op_defs.h"
#include "plan/shape_inference.h"

namespace gearshift {
namespace {

using op_defs::MutableParams;
using op_defs::Params;

Status PreparePoolF32(const StepBuild& b, PlanStep* st) {
  const NodeAttrs& a = b.node.attrs;
  const Shape& x = b.in_shape(0);
  const Shape& y = b.out_shape();
  Pool2DParams& p = st->params.emplace<PoolStep>().pool;
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
  return Status::Ok();
}

Status PreparePoolQ8(const StepBuild& b, PlanStep* st) {
  GS_RETURN_IF_ERROR(op_defs::Q8SameAsOutput(b, b.node.inputs[0]));
  MutableParams<PoolStep>(st).q8_act = Q8ActivationRange(b.node.attrs.activation, b.q8_y);
  return Status::Ok();
}

void RunMaxPoolF32(const PlanStep& st, const KernelTable& k, const float* const* in, float* y,
                   ThreadPool* pool) {
  f32_max_pool2d__opt(Params<PoolStep>(st).pool, k.f32_pool, in[0], y, pool);
}
void RunAveragePoolF32(const PlanStep& st, const KernelTable& k, const float* const* in, float* y,
                       ThreadPool* pool) {
  f32_average_pool2d__opt(Params<PoolStep>(st).pool, k.f32_pool, in[0], y, pool);
}
void RunMaxPoolQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in, const int32_t*,
                  int8_t* y, ThreadPool* pool) {
  const PoolStep& s = Params<PoolStep>(st);
  q8_max_pool2d__opt(s.pool, s.q8_act, in[0], y, pool);
}
void RunAveragePoolQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in,
                      const int32_t*, int8_t* y, ThreadPool* pool) {
  const PoolStep& s = Params<PoolStep>(st);
  q8_average_pool2d__opt(s.pool, s.q8_act, in[0], y, pool);
}

Status PrepareMeanF32(const StepBuild& b, PlanStep* st) {
  st->params.emplace<MeanStep>().mean = MakeMeanParams(b.in_shape(0), b.node.attrs.axes);
  return Status::Ok();
}
Status PrepareMeanQ8(const StepBuild& b, PlanStep* st) {
  MeanStep& s = MutableParams<MeanStep>(st);
  s.q8_rescale = MakeQ8MeanParams(b.q8_x, b.q8_y, s.mean.reduced_count);
  return Status::Ok();
}
void RunMeanF32(const PlanStep& st, const KernelTable&, const float* const* in, float* y,
                ThreadPool*) {
  f32_mean__opt(Params<MeanStep>(st).mean, in[0], y);
}
void RunMeanQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in, const int32_t*,
               int8_t* y, ThreadPool* pool) {
  const MeanStep& s = Params<MeanStep>(st);
  q8_mean__opt(s.mean, s.q8_rescale, in[0], y, pool);
}

}  // namespace

OpDef MaxPool2DOp() {
  return {OpType::kMaxPool2D,
          "MAX_POOL_2D",
          shape_rules::Pool,
          {PreparePoolF32, RunMaxPoolF32},
          {PreparePoolQ8, RunMaxPoolQ8}};
}
OpDef AveragePool2DOp() {
  return {OpType::kAveragePool2D,
          "AVERAGE_POOL_2D",
          shape_rules::Pool,
          {PreparePoolF32, RunAveragePoolF32},
          {PreparePoolQ8, RunAveragePoolQ8}};
}
OpDef MeanOp() {
  return {OpType::kMean,
          "MEAN",
          shape_rules::Mean,
          {PrepareMeanF32, RunMeanF32},
          {PrepareMeanQ8, RunMeanQ8}};
}

}  // namespace gearshift
