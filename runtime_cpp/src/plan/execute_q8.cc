// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Running an int8 gear's plan: graph inputs are quantized into the arena on
// entry, each step runs its int8 kernel (a float island's step runs on the
// float path, with its boundary conversions first), and outputs are
// dequantized into the caller's buffers at the end.
#include <cstdint>
#include <cstring>

#include "plan/plan.h"
#include "plan/plan_internal.h"

namespace gearshift {

using plan_internal::StepTimer;

void Plan::RunQ8(const void* const* inputs, void* const* outputs, uint8_t* arena, ThreadPool* pool,
                 double* step_ms, bool native_io) {
  for (size_t i = 0; i < q8_inputs_.size(); ++i) {
    const Q8Io& io = q8_inputs_[i];
    if (native_io && io.conv.kind != IoConv::Kind::kFloat) {  // integers as they are
      IoToQ8(io.conv, inputs[i], reinterpret_cast<int8_t*>(arena + io.offset), io.elements);
      continue;
    }
    q8_quantize__opt(static_cast<const float*>(inputs[i]), io.quant,
                     reinterpret_cast<int8_t*>(arena + io.offset), io.elements, pool,
                     kernels_.q8_quantize.fn);
  }
  const int8_t** in = scratch_q8_.data();
  StepTimer timer(step_ms);
  for (const PlanStep& st : steps_) {
    timer.Next();
    if (st.skip) continue;                              // a PAD folded into its convolution
    for (const PlanStep::Conversion& c : st.convert) {  // across an island's boundary
      if (c.to_f32) {
        q8_dequantize__opt(reinterpret_cast<const int8_t*>(arena + c.src), c.quant,
                           reinterpret_cast<float*>(arena + c.dst), c.elements, pool);
      } else {
        q8_quantize__opt(reinterpret_cast<const float*>(arena + c.src), c.quant,
                         reinterpret_cast<int8_t*>(arena + c.dst), c.elements, pool,
                         kernels_.q8_quantize.fn);
      }
    }
    if (st.f32) {  // a float island's node: the float path, this step alone
      RunF32(inputs, outputs, arena, pool, nullptr, static_cast<int>(&st - steps_.data()));
      continue;
    }
    for (int i = 0; i < st.num_operands; ++i) {
      in[i] = static_cast<const int8_t*>(Resolve(operands_[st.first_operand + i], inputs, arena));
    }
    // Conv/dense operand 2 is the int32 bias.
    const auto* bias =
        st.num_operands > 2
            ? static_cast<const int32_t*>(Resolve(operands_[st.first_operand + 2], inputs, arena))
            : nullptr;
    int8_t* y = reinterpret_cast<int8_t*>(arena + st.output.index);
    switch (st.op) {
      case OpType::kConv2D:
        if (st.sparse != nullptr) {
          q8_conv2d__sparse(st.conv, st.q8_channel, *st.sparse, in[0], bias, y, pool);
        } else if (st.q8_packed != nullptr) {
          q8_conv2d__gemm(st.conv, st.q8_channel, st.q8_gemm, st.q8_packed, in[0], y, pool,
                          st.q4_block);
        } else {
          q8_conv2d__ref(st.conv, st.q8_channel, in[0], in[1], bias, y, pool);
        }
        break;
      case OpType::kDepthwiseConv2D:
        if (st.q8_packed != nullptr) {
          q8_depthwise_conv2d__dw(st.conv, st.q8_channel, kernels_.q8_dwconv, st.q8_packed, in[0],
                                  y, pool);
        } else {
          q8_depthwise_conv2d__ref(st.conv, st.q8_channel, in[0], in[1], bias, y, pool);
        }
        break;
      case OpType::kFullyConnected:
        if (st.sparse != nullptr) {
          q8_fully_connected__sparse(st.dense, st.q8_channel, *st.sparse, in[0], bias, y, pool);
        } else if (st.q8_packed != nullptr) {
          q8_fully_connected__gemm(st.dense, st.q8_channel, st.q8_gemm, st.q8_packed, in[0], y,
                                   pool, st.q4_block);
        } else {
          q8_fully_connected__ref(st.dense, st.q8_channel, in[0], in[1], bias, y, pool);
        }
        break;
      case OpType::kMaxPool2D:
        q8_max_pool2d__opt(st.pool, st.q8_act, in[0], y, pool);
        break;
      case OpType::kAveragePool2D:
        q8_average_pool2d__opt(st.pool, st.q8_act, in[0], y, pool);
        break;
      case OpType::kMean:
        q8_mean__opt(st.mean, st.q8_rescale, in[0], y, pool);
        break;
      case OpType::kRelu:
      case OpType::kRelu6:
      case OpType::kReluN1To1:
        q8_lookup__opt(st.q8_table, in[0], y, st.out_elements, pool, kernels_.q8_lut.fn);
        break;
      case OpType::kLogistic:
      case OpType::kTanh:
      case OpType::kHardSwish:
        q8_lookup__opt(st.q8_table, in[0], y, st.out_elements, pool, kernels_.q8_lut.fn);
        break;
      case OpType::kSoftmax:
        q8_softmax__opt(st.softmax, st.q8_softmax, in[0], y, pool);
        break;
      case OpType::kAdd:
        q8_add__opt(st.binary, st.q8_add, in[0], in[1], y, pool, &kernels_.q8_vbinary);
        break;
      case OpType::kMul:
        q8_mul__opt(st.binary, st.q8_mul, in[0], in[1], y, pool, &kernels_.q8_vbinary);
        break;
      case OpType::kConcatenation:
        q8_concat__opt(st.concat, st.q8_act, in, y, pool);
        break;
      case OpType::kReshape:
        q8_copy__ref(in[0], y, st.out_elements);
        break;
      case OpType::kPad:
        q8_pad__opt(st.pad, st.q8_pad_value, in[0], y, pool);
        break;
      case OpType::kTransposeConv:
        if (st.shuffle) {
          q8_transpose_conv2d__shuffle(st.conv, st.q8_channel, st.q8_gemm,
                                       st.q8_phase_packed.data(), in[0], y, pool);
        } else if (st.q8_packed != nullptr) {
          q8_transpose_conv2d__gemm(st.conv, st.q8_channel, st.q8_gemm, st.q8_packed, in[0], y,
                                    pool, st.q4_block);
        } else {
          q8_transpose_conv2d__opt(st.conv, st.q8_channel, in[0], in[1], bias, y, pool);
        }
        break;
      case OpType::kSub:
        q8_add__opt(st.binary, st.q8_add, in[0], in[1], y, pool, &kernels_.q8_vbinary);
        break;
      case OpType::kDiv:
        q8_div__ref(st.binary, st.q8_div, in[0], in[1], y);
        break;
      case OpType::kMaximum:
        q8_maximum__opt(st.binary, in[0], in[1], y, pool);
        break;
      case OpType::kMinimum:
        q8_minimum__opt(st.binary, in[0], in[1], y, pool);
        break;
      case OpType::kPrelu:
        if (!st.q8_prelu_tables.empty()) {
          q8_prelu__table(st.binary, st.q8_prelu_tables, in[0], y, pool);
          break;
        }
        q8_prelu__opt(st.binary, st.q8_prelu, in[0], in[1], y, pool, &kernels_.q8_vbinary);
        break;
      case OpType::kLeakyRelu:
        q8_lookup__opt(st.q8_table, in[0], y, st.out_elements, pool, kernels_.q8_lut.fn);
        break;
      case OpType::kQuantize:
        q8_lookup__opt(st.q8_table, in[0], y, st.out_elements, pool, kernels_.q8_lut.fn);
        break;
      case OpType::kResizeBilinear:
        q8_resize_bilinear__opt(st.resize, in[0], y, pool, kernels_.q8_resize.bilinear);
        break;
      case OpType::kResizeNearestNeighbor:
        q8_resize_nearest__opt(st.resize, in[0], y, pool);
        break;
      case OpType::kDepthToSpace:
      case OpType::kSpaceToDepth:
      case OpType::kTranspose:
      case OpType::kSlice:
        q8_strided_copy__ref(st.strided, in[0], y);
        break;
      case OpType::kGather:
        q8_gather__ref(st.gather, in[0], y);
        break;
    }
  }
  timer.Next();
  for (size_t i = 0; i < q8_outputs_.size(); ++i) {
    const Q8Io& io = q8_outputs_[i];
    if (io.f32_offset >= 0) {  // a float island's output: float32, as f32 gears give it
      const auto* v = reinterpret_cast<const float*>(arena + io.f32_offset);
      if (native_io && io.conv.kind != IoConv::Kind::kFloat) {
        F32ToIo(io.io, v, outputs[i], io.elements);
      } else {
        std::memcpy(outputs[i], v, static_cast<size_t>(io.elements) * sizeof(float));
      }
      continue;
    }
    if (native_io && io.conv.kind != IoConv::Kind::kFloat) {
      Q8ToIo(io.conv, reinterpret_cast<const int8_t*>(arena + io.offset), outputs[i], io.elements);
      continue;
    }
    q8_dequantize__opt(reinterpret_cast<const int8_t*>(arena + io.offset), io.quant,
                       static_cast<float*>(outputs[i]), io.elements, pool);
  }
}

}  // namespace gearshift
