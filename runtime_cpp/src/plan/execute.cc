// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Running a plan: resolves each operand (caller input, constant or arena
// offset) and calls the step's kernel; float gears here, int8 gears in
// execute_q8.cc. Every graph output is computed into the arena and copied to
// the caller at the end: one memcpy per output buys freedom from aliasing
// between caller buffers and the arena.
#include <cstdint>
#include <cstring>

#include "plan/plan.h"
#include "plan/plan_internal.h"

namespace gearshift {

using plan_internal::StepTimer;

const void* Plan::Resolve(const TensorRef& ref, const void* const* inputs, uint8_t* arena) const {
  switch (ref.kind) {
    case TensorRef::Kind::kAbsent:
      return nullptr;
    case TensorRef::Kind::kInput:
      return inputs[ref.index];
    case TensorRef::Kind::kConst:
      return ref.data;
    case TensorRef::Kind::kArena:
      return arena + ref.index;
  }
  return nullptr;
}

void Plan::Run(const void* const* inputs, void* const* outputs, uint8_t* arena, ThreadPool* pool,
               double* step_ms, bool native_io) {
  if (int8_) {
    RunQ8(inputs, outputs, arena, pool, step_ms, native_io);
  } else {
    RunF32(inputs, outputs, arena, pool, step_ms);
  }
}

const void* Plan::TensorData(int t, const uint8_t* arena) const {
  if (t < 0 || static_cast<size_t>(t) >= tensor_refs_.size()) return nullptr;
  const TensorRef& r = tensor_refs_[t];
  return r.kind == TensorRef::Kind::kArena ? arena + r.index : nullptr;
}

void Plan::RunF32(const void* const* inputs, void* const* outputs, uint8_t* arena, ThreadPool* pool,
                  double* step_ms, int only_step) {
  const float** in = scratch_.data();
  StepTimer timer(step_ms);
  const size_t first = only_step < 0 ? 0 : static_cast<size_t>(only_step);
  const size_t end = only_step < 0 ? steps_.size() : first + 1;
  for (size_t s = first; s < end; ++s) {
    const PlanStep& st = steps_[s];
    timer.Next();
    if (st.skip) continue;  // a PAD folded into its convolution
    for (int i = 0; i < st.num_operands; ++i) {
      in[i] = static_cast<const float*>(Resolve(operands_[st.first_operand + i], inputs, arena));
    }
    float* y = reinterpret_cast<float*>(arena + st.output.index);
    switch (st.op) {
      case OpType::kConv2D:
        if (st.sparse != nullptr) {
          f32_conv2d__sparse(st.conv, *st.sparse, in[0], st.num_operands > 2 ? in[2] : nullptr, y,
                             pool);
          break;
        }
        if (st.f16_packed != nullptr) {
          if (kernels_.f16_gemm.fn != nullptr) {  // packed for it (PackGemmF16)
            f16_conv2d__gemm(st.conv, kernels_.f16_gemm, st.f16_packed, in[0], y, pool);
          } else {
            f16w_conv2d__gemm(st.conv, kernels_.f16w_gemm, st.f16_packed, in[0], y, pool);
          }
          break;
        }
        if (st.packed != nullptr) {
          f32_conv2d__gemm(st.conv, st.f32_gemm, st.packed, in[0], y, pool);
          break;
        }
        f32_conv2d__ref(st.conv, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr, y, pool);
        break;
      case OpType::kDepthwiseConv2D:
        if (st.f16_filter != nullptr && kernels_.f16_dwconv.fn != nullptr) {
          f16_depthwise_conv2d__dwconv(st.conv, kernels_.f16_dwconv, in[0], st.f16_filter,
                                       st.num_operands > 2 ? in[2] : nullptr, y, pool);
          break;
        }
        if (st.f16_filter != nullptr) {
          f16w_depthwise_conv2d__dwconv(st.conv, kernels_.f16w_dwconv, in[0], st.f16_filter,
                                        st.num_operands > 2 ? in[2] : nullptr, y, pool);
          break;
        }
        if (st.dwconv) {
          f32_depthwise_conv2d__dwconv(st.conv, kernels_.f32_dwconv, in[0], in[1],
                                       st.num_operands > 2 ? in[2] : nullptr, y, pool);
          break;
        }
        f32_depthwise_conv2d__ref(st.conv, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr, y,
                                  pool);
        break;
      case OpType::kFullyConnected:
        if (st.sparse != nullptr) {
          f32_fully_connected__sparse(st.dense, *st.sparse, in[0],
                                      st.num_operands > 2 ? in[2] : nullptr, y, pool);
          break;
        }
        if (st.f16_packed != nullptr) {
          if (kernels_.f16_gemm.fn != nullptr) {
            f16_fully_connected__gemm(st.dense, kernels_.f16_gemm, st.f16_packed, in[0], y, pool);
          } else {
            f16w_fully_connected__gemm(st.dense, kernels_.f16w_gemm, st.f16_packed, in[0], y, pool);
          }
          break;
        }
        if (st.packed != nullptr) {
          f32_fully_connected__gemm(st.dense, st.f32_gemm, st.packed, in[0], y, pool);
          break;
        }
        f32_fully_connected__ref(st.dense, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr, y,
                                 pool);
        break;
      case OpType::kMaxPool2D:
        f32_max_pool2d__opt(st.pool, kernels_.f32_pool, in[0], y, pool);
        break;
      case OpType::kAveragePool2D:
        f32_average_pool2d__opt(st.pool, kernels_.f32_pool, in[0], y, pool);
        break;
      case OpType::kMean:
        f32_mean__opt(st.mean, in[0], y);
        break;
      case OpType::kRelu:
      case OpType::kRelu6:
      case OpType::kReluN1To1:
      case OpType::kLogistic:
      case OpType::kTanh:
      case OpType::kHardSwish:
        f32_unary__opt(st.unary, in[0], y, st.out_elements, pool);
        break;
      case OpType::kSoftmax:
        f32_softmax__ref(st.softmax, in[0], y);
        break;
      case OpType::kAdd:
        f32_binary__opt(BinaryOp::kAdd, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kMul:
        f32_binary__opt(BinaryOp::kMul, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kConcatenation:
        f32_concat__ref(st.concat, in, y);
        break;
      case OpType::kReshape:
        f32_copy__ref(in[0], y, st.out_elements);
        break;
      case OpType::kPad:
        f32_pad__opt(st.pad, in[0], y, pool);
        break;
      case OpType::kTransposeConv:
        if (st.shuffle) {
          f32_transpose_conv2d__shuffle(st.conv, kernels_.f32_gemm, st.phase_packed.data(), in[0],
                                        y, pool);
          break;
        }
        if (!st.phase_packed.empty()) {
          f32_transpose_conv2d__phased(st.conv, kernels_.f32_gemm, st.phase_packed.data(), in[0], y,
                                       pool);
          break;
        }
        f32_transpose_conv2d__ref(st.conv, in[0], in[1], st.num_operands > 2 ? in[2] : nullptr, y,
                                  pool);
        break;
      case OpType::kSub:
        f32_binary__opt(BinaryOp::kSub, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kDiv:
        f32_binary__opt(BinaryOp::kDiv, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kMaximum:
        f32_binary__opt(BinaryOp::kMaximum, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kMinimum:
        f32_binary__opt(BinaryOp::kMinimum, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kPrelu:
        f32_binary__opt(BinaryOp::kPrelu, st.binary, kernels_.f32_vbinary, in[0], in[1], y, pool);
        break;
      case OpType::kLeakyRelu:
        f32_leaky_relu__opt(st.alpha, kernels_.f32_vbinary, in[0], y, st.out_elements, pool);
        break;
      case OpType::kResizeBilinear:
        f32_resize_bilinear__opt(st.resize, in[0], y, pool);
        break;
      case OpType::kResizeNearestNeighbor:
        f32_resize_nearest__opt(st.resize, in[0], y, pool);
        break;
      case OpType::kDepthToSpace:
      case OpType::kSpaceToDepth:
      case OpType::kTranspose:
      case OpType::kSlice:
        f32_strided_copy__ref(st.strided, in[0], y);
        break;
      case OpType::kGather:
        f32_gather__ref(st.gather, in[0], y);
        break;
      case OpType::kQuantize:  // identity in float gears
        f32_copy__ref(in[0], y, st.out_elements);
        break;
    }
  }
  if (only_step >= 0) return;  // an int8 gear's float island step (RunQ8)
  timer.Next();
  for (size_t i = 0; i < graph_outputs_.size(); ++i) {
    const void* src = Resolve(graph_outputs_[i], inputs, arena);
    if (src != outputs[i]) {
      std::memmove(outputs[i], src, static_cast<size_t>(output_bytes_[i]));
    }
  }
}

}  // namespace gearshift
