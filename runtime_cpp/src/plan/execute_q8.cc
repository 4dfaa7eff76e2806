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
    if (st.skip) continue;  // a PAD folded into its convolution, or an alias
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
    st.run_q8(st, kernels_, in, bias, y, pool);
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
