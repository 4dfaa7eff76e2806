// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Each op family's step parameters: what one plan step of that op needs at
// run time, float and int8 side together (an int8 gear's float-island step
// uses the float side). A PlanStep holds exactly one of them
// (StepParams), so a step costs the bytes of its own op, not of every op.
#ifndef GEARSHIFT_PLAN_STEP_PARAMS_H_
#define GEARSHIFT_PLAN_STEP_PARAMS_H_

#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

#include "dispatch.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/fully_connected.h"
#include "ops/layout_ops.h"
#include "ops/pool.h"
#include "ops/reduce.h"
#include "ops/resize.h"
#include "ops/shape_ops.h"
#include "ops/sparse_conv.h"
#include "ops/transpose_conv.h"
#include "ops_q8/q8_conv.h"
#include "ops_q8/q8_elementwise.h"
#include "ops_q8/q8_layout_ops.h"
#include "ops_q8/q8_pool.h"
#include "ops_q8/q8_reduce.h"
#include "ops_q8/q8_resize.h"
#include "ops_q8/q8_shape_ops.h"
#include "ops_q8/q8_sparse.h"
#include "ops_q8/q8_transpose_conv.h"

namespace gearshift {

// CONV_2D: geometry and weight packs.
struct Conv2DStep {
  Conv2DParams conv;
  const float* packed = nullptr;  // GEMM-packed weights, else the reference op
  F32GemmKernel f32_gemm;         // the kernel `packed` is packed for (per layer: N <= 16 may
                                  // take KernelTable::f32_gemm_n16)
  // fp16 gear: the conv on KernelTable::f16w_gemm (this pack); null: the
  // f32 paths above, on the weights widened (Plan::MaterializeRecipeReads).
  const void* f16_packed = nullptr;
  // A `sparse` gear's conv whose weights are stored sparse.
  const SparseMatrix* sparse = nullptr;
  // int8 gears.
  const void* q8_packed = nullptr;  // q8 GEMM pack, else the reference op
  Q8GemmKernel q8_gemm;             // the GEMM kernel q8_packed is packed for
  size_t q4_block = 0;              // > 0: q8_packed is an int4 pack (q4m blocks)
  Q8ChannelRequant q8_channel;
};

// DEPTHWISE_CONV_2D: geometry and its kernel choice.
struct DepthwiseStep {
  Conv2DParams conv;
  bool dwconv = false;  // run KernelTable::f32_dwconv, else the reference op
  // fp16 gear: the filter's half bits for f16w_dwconv / f16_dwconv; null:
  // the f32 paths, on the weights widened.
  const uint16_t* f16_filter = nullptr;
  // int8 gears.
  const void* q8_packed = nullptr;  // q8 depthwise pack, else the reference op
  Q8ChannelRequant q8_channel;
};

// TRANSPOSE_CONV: geometry and its packs.
struct TransposeConvStep {
  Conv2DParams conv;
  // One GEMM pack per output phase, or per filter row where `shuffle`
  // (TransposeConvIsShuffle, ops/conv.h); q8_phase_packed: the int8
  // gear's filter-row packs. Empty: the reference op.
  std::vector<const float*> phase_packed;
  std::vector<const void*> q8_phase_packed;
  bool shuffle = false;
  // int8 gears, not shuffled: one GEMM pack over all taps, else the op.
  const void* q8_packed = nullptr;
  Q8GemmKernel q8_gemm;
  size_t q4_block = 0;
  Q8ChannelRequant q8_channel;
};

// FULLY_CONNECTED.
struct DenseStep {
  FullyConnectedParams dense;
  const float* packed = nullptr;
  F32GemmKernel f32_gemm;
  const void* f16_packed = nullptr;
  const SparseMatrix* sparse = nullptr;
  const void* q8_packed = nullptr;
  Q8GemmKernel q8_gemm;
  size_t q4_block = 0;
  Q8ChannelRequant q8_channel;
};

// MAX_POOL_2D, AVERAGE_POOL_2D.
struct PoolStep {
  Pool2DParams pool;
  Q8Range q8_act;
};

// MEAN.
struct MeanStep {
  MeanParams mean;
  Q8RescaleParams q8_rescale;
};

// RELU, RELU6, RELU_N1_TO_1, LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU,
// QUANTIZE: one input, one output; int8 gears run them as a lookup.
struct UnaryStep {
  UnaryOp unary = UnaryOp::kRelu;
  float alpha = 0.0f;  // LEAKY_RELU
  Q8Table q8_table{};
};

// SOFTMAX.
struct SoftmaxStep {
  SoftmaxParams softmax;
  Q8SoftmaxParams q8_softmax;
};

// ADD, MUL, SUB, DIV, MAXIMUM, MINIMUM, PRELU.
struct BinaryStep {
  BinaryParams binary;
  Q8AddParams q8_add;  // ADD, SUB
  Q8MulParams q8_mul;
  Q8DivParams q8_div;
  Q8PreluParams q8_prelu;
  std::vector<int8_t> q8_prelu_tables;  // constant per-channel alpha: C x 256
};

// CONCATENATION.
struct ConcatStep {
  ConcatParams concat;
  Q8Range q8_act;
};

// PAD.
struct PadStep {
  PadParams pad;
  int8_t q8_pad_value = 0;  // zy, or its `value` quantized
};

// RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR.
struct ResizeStep {
  ResizeParams resize;
};

// TRANSPOSE, SLICE, DEPTH_TO_SPACE, SPACE_TO_DEPTH.
struct StridedStep {
  StridedCopyParams strided;
};

// GATHER.
struct GatherStep {
  GatherParams gather;
};

// RESHAPE has no parameters (monostate).
using StepParams = std::variant<std::monostate, Conv2DStep, DepthwiseStep, TransposeConvStep,
                                DenseStep, PoolStep, MeanStep, UnaryStep, SoftmaxStep, BinaryStep,
                                ConcatStep, PadStep, ResizeStep, StridedStep, GatherStep>;

}  // namespace gearshift

#endif  // GEARSHIFT_PLAN_STEP_PARAMS_H_
