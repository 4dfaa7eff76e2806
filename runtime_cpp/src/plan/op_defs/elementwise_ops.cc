// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The one-input ops (RELU family, LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU,
// QUANTIZE: int8 gears run them as a 256-entry lookup), SOFTMAX, and the
// two-input ones (ADD, MUL, SUB, DIV, MAXIMUM, MINIMUM, PRELU).
#include <vector>

#include "plan/op_defs/op_defs.h"
#include "plan/shape_inference.h"

namespace gearshift {
namespace {

using op_defs::MutableParams;
using op_defs::Params;
using op_defs::Q8QuantOf;

// ---- one input ----------------------------------------------------------------

template <UnaryOp kOp>
Status PrepareUnaryF32(const StepBuild&, PlanStep* st) {
  st->params.emplace<UnaryStep>().unary = kOp;
  return Status::Ok();
}
// RELU, RELU6, RELU_N1_TO_1: a rescale with a clamp, run as a lookup.
Status PrepareReluQ8(const StepBuild& b, PlanStep* st) {
  UnaryStep& s = MutableParams<UnaryStep>(st);
  s.q8_table = MakeQ8RescaleTable(MakeQ8RescaleParams(s.unary, b.q8_x, b.q8_y));
  return Status::Ok();
}
// LOGISTIC, TANH, HARD_SWISH.
Status PrepareTableQ8(const StepBuild& b, PlanStep* st) {
  UnaryStep& s = MutableParams<UnaryStep>(st);
  s.q8_table = MakeQ8Table(s.unary, b.q8_x, b.q8_y);
  return Status::Ok();
}
void RunUnaryF32(const PlanStep& st, const KernelTable&, const float* const* in, float* y,
                 ThreadPool* pool) {
  f32_unary__opt(Params<UnaryStep>(st).unary, in[0], y, st.out_elements, pool);
}
void RunLookupQ8(const PlanStep& st, const KernelTable& k, const int8_t* const* in, const int32_t*,
                 int8_t* y, ThreadPool* pool) {
  q8_lookup__opt(Params<UnaryStep>(st).q8_table, in[0], y, st.out_elements, pool, k.q8_lut.fn);
}

Status PrepareLeakyReluF32(const StepBuild& b, PlanStep* st) {
  st->params.emplace<UnaryStep>().alpha = b.node.attrs.alpha;
  return Status::Ok();
}
Status PrepareLeakyReluQ8(const StepBuild& b, PlanStep* st) {
  MutableParams<UnaryStep>(st).q8_table =
      MakeQ8LeakyReluTable(MakeQ8LeakyReluParams(b.node.attrs.alpha, b.q8_x, b.q8_y));
  return Status::Ok();
}
void RunLeakyReluF32(const PlanStep& st, const KernelTable& k, const float* const* in, float* y,
                     ThreadPool* pool) {
  f32_leaky_relu__opt(Params<UnaryStep>(st).alpha, k.f32_vbinary, in[0], y, st.out_elements, pool);
}

// QUANTIZE: identity in float gears; an int8 requantization as a lookup.
Status PrepareQuantizeF32(const StepBuild&, PlanStep* st) {
  st->params.emplace<UnaryStep>();
  return Status::Ok();
}
Status PrepareQuantizeQ8(const StepBuild& b, PlanStep* st) {
  MutableParams<UnaryStep>(st).q8_table =
      MakeQ8RescaleTable(MakeQ8RequantizeParams(b.q8_x, b.q8_y));
  return Status::Ok();
}
void RunCopyF32(const PlanStep& st, const KernelTable&, const float* const* in, float* y,
                ThreadPool*) {
  f32_copy__ref(in[0], y, st.out_elements);
}

// ---- SOFTMAX ----------------------------------------------------------------------

Status PrepareSoftmaxF32(const StepBuild& b, PlanStep* st) {
  const Shape& x = b.in_shape(0);
  SoftmaxParams& p = st->params.emplace<SoftmaxStep>().softmax;
  p.cols = x.back();
  p.rows = NumElements(x) / x.back();
  p.beta = b.node.attrs.beta;
  return Status::Ok();
}
Status PrepareSoftmaxQ8(const StepBuild& b, PlanStep* st) {
  MutableParams<SoftmaxStep>(st).q8_softmax =
      MakeQ8SoftmaxParams(b.node.attrs.beta, b.q8_x, b.q8_y);
  return Status::Ok();
}
void RunSoftmaxF32(const PlanStep& st, const KernelTable& k, const float* const* in, float* y,
                   ThreadPool* pool) {
  f32_softmax__opt(Params<SoftmaxStep>(st).softmax, k.f32_softmax.row, in[0], y, pool);
}
void RunSoftmaxQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in, const int32_t*,
                  int8_t* y, ThreadPool* pool) {
  const SoftmaxStep& s = Params<SoftmaxStep>(st);
  q8_softmax__opt(s.softmax, s.q8_softmax, in[0], y, pool);
}

// ---- two inputs ---------------------------------------------------------------

Status PrepareBinaryF32(const StepBuild& b, PlanStep* st) {
  MakeBinaryParams(b.in_shape(0), b.in_shape(1), b.node.attrs.activation,
                   &st->params.emplace<BinaryStep>().binary);
  return Status::Ok();
}
template <BinaryOp kOp>
void RunBinaryF32(const PlanStep& st, const KernelTable& k, const float* const* in, float* y,
                  ThreadPool* pool) {
  f32_binary__opt(kOp, Params<BinaryStep>(st).binary, k.f32_vbinary, in[0], in[1], y, pool);
}

Status PrepareAddQ8(const StepBuild& b, PlanStep* st) {
  Q8Quant q;
  GS_RETURN_IF_ERROR(Q8QuantOf(b, b.node.inputs[1], &q));
  MutableParams<BinaryStep>(st).q8_add =
      MakeQ8AddParams(b.q8_x, q, b.q8_y, b.node.attrs.activation);
  return Status::Ok();
}
Status PrepareSubQ8(const StepBuild& b, PlanStep* st) {
  Q8Quant q;
  GS_RETURN_IF_ERROR(Q8QuantOf(b, b.node.inputs[1], &q));
  MutableParams<BinaryStep>(st).q8_add =
      MakeQ8SubParams(b.q8_x, q, b.q8_y, b.node.attrs.activation);
  return Status::Ok();
}
void RunAddQ8(const PlanStep& st, const KernelTable& k, const int8_t* const* in, const int32_t*,
              int8_t* y, ThreadPool* pool) {  // ADD and SUB
  const BinaryStep& s = Params<BinaryStep>(st);
  q8_add__opt(s.binary, s.q8_add, in[0], in[1], y, pool, &k.q8_vbinary);
}

Status PrepareMulQ8(const StepBuild& b, PlanStep* st) {
  Q8Quant q;
  GS_RETURN_IF_ERROR(Q8QuantOf(b, b.node.inputs[1], &q));
  MutableParams<BinaryStep>(st).q8_mul =
      MakeQ8MulParams(b.q8_x, q, b.q8_y, b.node.attrs.activation);
  return Status::Ok();
}
void RunMulQ8(const PlanStep& st, const KernelTable& k, const int8_t* const* in, const int32_t*,
              int8_t* y, ThreadPool* pool) {
  const BinaryStep& s = Params<BinaryStep>(st);
  q8_mul__opt(s.binary, s.q8_mul, in[0], in[1], y, pool, &k.q8_vbinary);
}

Status PrepareDivQ8(const StepBuild& b, PlanStep* st) {
  Q8Quant q;
  GS_RETURN_IF_ERROR(Q8QuantOf(b, b.node.inputs[1], &q));
  MutableParams<BinaryStep>(st).q8_div =
      MakeQ8DivParams(b.q8_x, q, b.q8_y, b.node.attrs.activation);
  return Status::Ok();
}
void RunDivQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in, const int32_t*,
              int8_t* y, ThreadPool*) {
  const BinaryStep& s = Params<BinaryStep>(st);
  q8_div__ref(s.binary, s.q8_div, in[0], in[1], y);
}

// MAXIMUM, MINIMUM: value-moving, so equal parameters in and out.
Status PrepareMinMaxQ8(const StepBuild& b, PlanStep*) {
  for (int t : b.node.inputs) GS_RETURN_IF_ERROR(op_defs::Q8SameAsOutput(b, t));
  return Status::Ok();
}
void RunMaximumQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in, const int32_t*,
                  int8_t* y, ThreadPool* pool) {
  q8_maximum__opt(Params<BinaryStep>(st).binary, in[0], in[1], y, pool);
}
void RunMinimumQ8(const PlanStep& st, const KernelTable&, const int8_t* const* in, const int32_t*,
                  int8_t* y, ThreadPool* pool) {
  q8_minimum__opt(Params<BinaryStep>(st).binary, in[0], in[1], y, pool);
}

Status PreparePreluQ8(const StepBuild& b, PlanStep* st) {
  BinaryStep& s = MutableParams<BinaryStep>(st);
  Q8Quant alpha;
  GS_RETURN_IF_ERROR(Q8QuantOf(b, b.node.inputs[1], &alpha));
  s.q8_prelu = MakeQ8PreluParams(b.q8_x, alpha, b.q8_y);
  const int at = b.node.inputs[1];
  // Tables where no vector row kernel runs PRELU (the ref ISA): one load
  // per element beats two scalar 64-bit requantizations; the AVX2,
  // AVX-512 and NEON rows beat the table's scalar loads.
  if (b.kernels.q8_vbinary.prelu == nullptr && b.refs()[at].kind == TensorRef::Kind::kConst &&
      b.weights.at(at).i8 != nullptr) {
    s.q8_prelu_tables = MakeQ8PreluTables(s.binary, s.q8_prelu, b.weights.at(at).i8);
    b.plan_packs.AddBytes(static_cast<int64_t>(s.q8_prelu_tables.size()));
  }
  return Status::Ok();
}
void RunPreluQ8(const PlanStep& st, const KernelTable& k, const int8_t* const* in, const int32_t*,
                int8_t* y, ThreadPool* pool) {
  const BinaryStep& s = Params<BinaryStep>(st);
  if (!s.q8_prelu_tables.empty()) {
    q8_prelu__table(s.binary, s.q8_prelu_tables, in[0], y, pool);
  } else {
    q8_prelu__opt(s.binary, s.q8_prelu, in[0], in[1], y, pool, &k.q8_vbinary);
  }
}

}  // namespace

OpDef ReluOp() {
  return {OpType::kRelu,
          "RELU",
          shape_rules::Unary,
          {PrepareUnaryF32<UnaryOp::kRelu>, RunUnaryF32},
          {PrepareReluQ8, RunLookupQ8}};
}
OpDef Relu6Op() {
  return {OpType::kRelu6,
          "RELU6",
          shape_rules::Unary,
          {PrepareUnaryF32<UnaryOp::kRelu6>, RunUnaryF32},
          {PrepareReluQ8, RunLookupQ8}};
}
OpDef ReluN1To1Op() {
  return {OpType::kReluN1To1,
          "RELU_N1_TO_1",
          shape_rules::Unary,
          {PrepareUnaryF32<UnaryOp::kReluN1To1>, RunUnaryF32},
          {PrepareReluQ8, RunLookupQ8}};
}
OpDef LogisticOp() {
  return {OpType::kLogistic,
          "LOGISTIC",
          shape_rules::Unary,
          {PrepareUnaryF32<UnaryOp::kLogistic>, RunUnaryF32},
          {PrepareTableQ8, RunLookupQ8}};
}
OpDef TanhOp() {
  return {OpType::kTanh,
          "TANH",
          shape_rules::Unary,
          {PrepareUnaryF32<UnaryOp::kTanh>, RunUnaryF32},
          {PrepareTableQ8, RunLookupQ8}};
}
OpDef HardSwishOp() {
  return {OpType::kHardSwish,
          "HARD_SWISH",
          shape_rules::Unary,
          {PrepareUnaryF32<UnaryOp::kHardSwish>, RunUnaryF32},
          {PrepareTableQ8, RunLookupQ8}};
}
OpDef LeakyReluOp() {
  return {OpType::kLeakyRelu,
          "LEAKY_RELU",
          shape_rules::Unary,
          {PrepareLeakyReluF32, RunLeakyReluF32},
          {PrepareLeakyReluQ8, RunLookupQ8}};
}
OpDef QuantizeOp() {
  return {OpType::kQuantize,
          "QUANTIZE",
          shape_rules::Unary,
          {PrepareQuantizeF32, RunCopyF32},
          {PrepareQuantizeQ8, RunLookupQ8}};
}
OpDef SoftmaxOp() {
  return {OpType::kSoftmax,
          "SOFTMAX",
          shape_rules::Softmax,
          {PrepareSoftmaxF32, RunSoftmaxF32},
          {PrepareSoftmaxQ8, RunSoftmaxQ8}};
}
OpDef AddOp() {
  return {OpType::kAdd,
          "ADD",
          shape_rules::Binary,
          {PrepareBinaryF32, RunBinaryF32<BinaryOp::kAdd>},
          {PrepareAddQ8, RunAddQ8}};
}
OpDef MulOp() {
  return {OpType::kMul,
          "MUL",
          shape_rules::Binary,
          {PrepareBinaryF32, RunBinaryF32<BinaryOp::kMul>},
          {PrepareMulQ8, RunMulQ8}};
}
OpDef SubOp() {
  return {OpType::kSub,
          "SUB",
          shape_rules::Binary,
          {PrepareBinaryF32, RunBinaryF32<BinaryOp::kSub>},
          {PrepareSubQ8, RunAddQ8}};
}
OpDef DivOp() {
  return {OpType::kDiv,
          "DIV",
          shape_rules::Binary,
          {PrepareBinaryF32, RunBinaryF32<BinaryOp::kDiv>},
          {PrepareDivQ8, RunDivQ8}};
}
OpDef MaximumOp() {
  return {OpType::kMaximum,
          "MAXIMUM",
          shape_rules::Binary,
          {PrepareBinaryF32, RunBinaryF32<BinaryOp::kMaximum>},
          {PrepareMinMaxQ8, RunMaximumQ8}};
}
OpDef MinimumOp() {
  return {OpType::kMinimum,
          "MINIMUM",
          shape_rules::Binary,
          {PrepareBinaryF32, RunBinaryF32<BinaryOp::kMinimum>},
          {PrepareMinMaxQ8, RunMinimumQ8}};
}
OpDef PreluOp() {
  return {OpType::kPrelu,
          "PRELU",
          shape_rules::Prelu,
          {PrepareBinaryF32, RunBinaryF32<BinaryOp::kPrelu>},
          {PreparePreluQ8, RunPreluQ8}};
}

}  // namespace gearshift
