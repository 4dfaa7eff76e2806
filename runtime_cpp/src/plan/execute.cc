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
    if (st.skip) continue;  // a PAD folded into its convolution, or an alias
    for (int i = 0; i < st.num_operands; ++i) {
      in[i] = static_cast<const float*>(Resolve(operands_[st.first_operand + i], inputs, arena));
    }
    float* y = reinterpret_cast<float*>(arena + st.output.index);
    st.run_f32(st, kernels_, in, y, pool);
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
