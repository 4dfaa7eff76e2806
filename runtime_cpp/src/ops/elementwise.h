// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference fp32 element-wise ops: the unary activations (RELU, RELU6,
// RELU_N1_TO_1, LOGISTIC, TANH, HARD_SWISH, and 1.3's LEAKY_RELU) and the
// binary ops (ADD, MUL; 1.3: SUB, DIV, MAXIMUM, MINIMUM, PRELU with alpha as
// operand b) with NumPy broadcasting up to rank 6. Broadcasting is resolved at plan time into a
// BinaryParams whose `kind` picks a loop without index arithmetic for the
// common cases (same shape, scalar, per-channel vector).
#ifndef GEARSHIFT_OPS_ELEMENTWISE_H_
#define GEARSHIFT_OPS_ELEMENTWISE_H_

#include <cstdint>

#include "kernels/f32_vbinary/f32_vbinary.h"
#include "ops/op_common.h"
#include "thread_pool.h"

namespace gearshift {

constexpr int kMaxRank = 6;

enum class UnaryOp { kRelu, kRelu6, kReluN1To1, kLogistic, kTanh, kHardSwish };

void f32_unary__ref(UnaryOp op, const float* x, float* y, int64_t n);

// The same ops in blocks over `pool` (null: this thread), written so the
// compiler vectorises them. LOGISTIC evaluates exp on a reduced argument
// with a polynomial instead of std::exp (within 4 ulp of the reference,
// or 1e-37 absolute where the reference goes subnormal:
// tests/cpp/elementwise_opt_test.cc); the others are the reference's
// expressions.
void f32_unary__opt(UnaryOp op, const float* x, float* y, int64_t n, ThreadPool* pool);

// y = x >= 0 ? x : alpha * x.
void f32_leaky_relu__ref(float alpha, const float* x, float* y, int64_t n);
// The same as PRELU's rows with a scalar alpha (f32_binary__opt; bit for bit).
void f32_leaky_relu__opt(float alpha, F32VBinaryUkernelFn kernel, const float* x, float* y,
                         int64_t n, ThreadPool* pool);

// kPrelu: a >= 0 ? a : b * a (b is alpha). kMaximum/kMinimum as TFLite:
// a > b ? a : b and a < b ? a : b.
enum class BinaryOp { kAdd, kMul, kSub, kDiv, kMaximum, kMinimum, kPrelu };

enum class BroadcastKind {
  kSameShape,    // a, b and y have the same shape
  kScalarA,      // a has one element
  kScalarB,      // b has one element
  kPerChannelA,  // a is a vector along y's last dim, b has y's shape
  kPerChannelB,  // b is a vector along y's last dim, a has y's shape
  kGeneral,      // anything else: strided rank-6 loops
};

struct BinaryParams {
  BroadcastKind kind = BroadcastKind::kGeneral;
  int64_t size = 0;      // elements of y
  int64_t channels = 1;  // y's last dim (per-channel kinds)
  // kGeneral: y's shape left-padded with 1s to rank 6, and element strides of
  // a and b in that frame (0 along broadcast dimensions).
  int64_t shape[kMaxRank] = {1, 1, 1, 1, 1, 1};
  int64_t a_stride[kMaxRank] = {0, 0, 0, 0, 0, 0};
  int64_t b_stride[kMaxRank] = {0, 0, 0, 0, 0, 0};
  ActRange act;
};

// NumPy broadcast of two shapes (rank <= 6). False if incompatible.
bool BroadcastShapes(const Shape& a, const Shape& b, Shape* out);

// Resolves broadcasting of concrete shapes a and b; false if incompatible.
bool MakeBinaryParams(const Shape& a, const Shape& b, Activation act, BinaryParams* p);

void f32_binary__ref(BinaryOp op, const BinaryParams& p, const float* a, const float* b,
                     float* y);

// The same op on `kernel`'s rows (the dispatcher's f32_vbinary; null: the
// reference), split across `pool`'s threads: same shape, scalar and
// per-channel operands; the general strided broadcast runs the reference.
// Bit for bit the reference (tests/cpp/elementwise_opt_test.cc).
void f32_binary__opt(BinaryOp op, const BinaryParams& p, F32VBinaryUkernelFn kernel,
                     const float* a, const float* b, float* y, ThreadPool* pool);

}  // namespace gearshift

#endif  // GEARSHIFT_OPS_ELEMENTWISE_H_
