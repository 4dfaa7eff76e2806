// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The op is a template parameter, so each loop below compiles to a tight loop
// with no per-element switch.
#include "ops/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace gearshift {
namespace {

template <typename F>
void UnaryLoop(const float* x, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

struct AddOp {
  float operator()(float a, float b) const { return a + b; }
};
struct MulOp {
  float operator()(float a, float b) const { return a * b; }
};
struct SubOp {
  float operator()(float a, float b) const { return a - b; }
};
struct DivOp {
  float operator()(float a, float b) const { return a / b; }
};
struct MaxOp {
  float operator()(float a, float b) const { return a > b ? a : b; }
};
struct MinOp {
  float operator()(float a, float b) const { return a < b ? a : b; }
};
struct PreluOp {
  float operator()(float a, float alpha) const { return a >= 0.0f ? a : alpha * a; }
};

template <typename Op>
void BinaryLoops(const BinaryParams& p, const float* a, const float* b, float* y) {
  const Op op;
  const ActRange act = p.act;
  switch (p.kind) {
    case BroadcastKind::kSameShape:
      for (int64_t i = 0; i < p.size; ++i) y[i] = Clamp(op(a[i], b[i]), act);
      return;
    case BroadcastKind::kScalarA: {
      const float s = a[0];
      for (int64_t i = 0; i < p.size; ++i) y[i] = Clamp(op(s, b[i]), act);
      return;
    }
    case BroadcastKind::kScalarB: {
      const float s = b[0];
      for (int64_t i = 0; i < p.size; ++i) y[i] = Clamp(op(a[i], s), act);
      return;
    }
    case BroadcastKind::kPerChannelA:
      for (int64_t i = 0; i < p.size; i += p.channels) {
        for (int64_t c = 0; c < p.channels; ++c) y[i + c] = Clamp(op(a[c], b[i + c]), act);
      }
      return;
    case BroadcastKind::kPerChannelB:
      for (int64_t i = 0; i < p.size; i += p.channels) {
        for (int64_t c = 0; c < p.channels; ++c) y[i + c] = Clamp(op(a[i + c], b[c]), act);
      }
      return;
    case BroadcastKind::kGeneral:
      break;
  }
  const int64_t* s = p.shape;
  const int64_t* as = p.a_stride;
  const int64_t* bs = p.b_stride;
  for (int64_t i0 = 0; i0 < s[0]; ++i0) {
    for (int64_t i1 = 0; i1 < s[1]; ++i1) {
      for (int64_t i2 = 0; i2 < s[2]; ++i2) {
        for (int64_t i3 = 0; i3 < s[3]; ++i3) {
          for (int64_t i4 = 0; i4 < s[4]; ++i4) {
            const float* ap = a + i0 * as[0] + i1 * as[1] + i2 * as[2] + i3 * as[3] + i4 * as[4];
            const float* bp = b + i0 * bs[0] + i1 * bs[1] + i2 * bs[2] + i3 * bs[3] + i4 * bs[4];
            for (int64_t i5 = 0; i5 < s[5]; ++i5) {
              *y++ = Clamp(op(ap[i5 * as[5]], bp[i5 * bs[5]]), act);
            }
          }
        }
      }
    }
  }
}

int64_t NumElements(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

}  // namespace

void f32_unary__ref(UnaryOp op, const float* x, float* y, int64_t n) {
  switch (op) {
    case UnaryOp::kRelu:
      return UnaryLoop(x, y, n, [](float v) { return std::max(v, 0.0f); });
    case UnaryOp::kRelu6:
      return UnaryLoop(x, y, n, [](float v) { return std::min(std::max(v, 0.0f), 6.0f); });
    case UnaryOp::kReluN1To1:
      return UnaryLoop(x, y, n, [](float v) { return std::min(std::max(v, -1.0f), 1.0f); });
    case UnaryOp::kLogistic:
      return UnaryLoop(x, y, n, [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
    case UnaryOp::kTanh:
      return UnaryLoop(x, y, n, [](float v) { return std::tanh(v); });
    case UnaryOp::kHardSwish:
      return UnaryLoop(x, y, n,
                       [](float v) { return v * std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f; });
  }
}

namespace {

// exp(t) for t in [-87.3, 0] (denormal results are not needed: the callers
// add 1 to it or clamp first): t = n ln2 + r with |r| <= ln2 / 2, n from
// the 1.5 * 2^23 rounding trick, ln2 in two parts (Cody-Waite), exp(r) as a
// degree-7 Taylor polynomial (truncation below 2^-27 relative), and 2^n
// built in the exponent bits. Branch-free and call-free, so loops over it
// vectorise.
inline float ExpNonPositive(float t) {
  t = t > -87.3f ? t : -87.3f;      // (a NaN too: the caller keeps its own NaN)
  const float magic = 12582912.0f;  // 1.5 * 2^23
  const float nf = (t * 1.44269504f + magic) - magic;
  const float r = (t - nf * 0.693145752f) - nf * 1.42860677e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const auto bits = static_cast<uint32_t>(static_cast<int32_t>(nf) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// 1 / (1 + exp(-v)) through z = exp(-|v|) <= 1: 1 / (1 + z) for v >= 0,
// z / (1 + z) below, so neither side loses precision to cancellation.
inline float Sigmoid(float v) {
  const float z = ExpNonPositive(-std::fabs(v));
  const float inv = 1.0f / (1.0f + z);
  const float s = v >= 0.0f ? inv : z * inv;
  return v != v ? v : s;  // NaN stays NaN
}

}  // namespace

void f32_unary__opt(UnaryOp op, const float* x, float* y, int64_t n, ThreadPool* pool) {
  constexpr int64_t kBlock = 16384;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  ParallelItems(pool, blocks, std::min(n, kBlock) * (op == UnaryOp::kTanh ? 20 : 4),
                [=](int64_t begin, int64_t end) {
                  const int64_t first = begin * kBlock, count = std::min(end * kBlock, n) - first;
                  if (op == UnaryOp::kLogistic) {
                    UnaryLoop(x + first, y + first, count, [](float v) { return Sigmoid(v); });
                  } else {
                    f32_unary__ref(op, x + first, y + first, count);
                  }
                });
}

bool BroadcastShapes(const Shape& a, const Shape& b, Shape* out) {
  const size_t rank = std::max(a.size(), b.size());
  if (rank > static_cast<size_t>(kMaxRank)) return false;
  Shape y(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    // Aligned at the last axis: index i of y is index i - (rank - size) of a/b.
    const int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    const int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1) return false;
    y[i] = da == 1 ? db : da;
  }
  *out = std::move(y);
  return true;
}

bool MakeBinaryParams(const Shape& a, const Shape& b, Activation act, BinaryParams* p) {
  Shape y;
  if (!BroadcastShapes(a, b, &y)) return false;
  *p = BinaryParams();
  p->act = ActivationRange(act);
  p->size = NumElements(y);
  p->channels = y.empty() ? 1 : y.back();
  const int64_t na = NumElements(a), nb = NumElements(b);
  // A vector along the last axis: its last dim is y's and every other dim is 1.
  auto is_channel_vector = [&](const Shape& s, int64_t n) {
    return !s.empty() && s.back() == p->channels && n == p->channels;
  };
  if (na == p->size && nb == p->size) {
    p->kind = BroadcastKind::kSameShape;
  } else if (na == 1) {
    p->kind = BroadcastKind::kScalarA;
  } else if (nb == 1) {
    p->kind = BroadcastKind::kScalarB;
  } else if (nb == p->size && is_channel_vector(a, na)) {
    p->kind = BroadcastKind::kPerChannelA;
  } else if (na == p->size && is_channel_vector(b, nb)) {
    p->kind = BroadcastKind::kPerChannelB;
  } else {
    p->kind = BroadcastKind::kGeneral;
  }
  // The strided frame is filled for every kind; only kGeneral reads it.
  const size_t off = kMaxRank - y.size();
  for (size_t i = 0; i < y.size(); ++i) p->shape[off + i] = y[i];
  auto fill_strides = [&](const Shape& s, int64_t* stride) {
    int64_t st = 1;
    for (size_t k = s.size(); k-- > 0;) {
      const size_t frame = kMaxRank - s.size() + k;
      stride[frame] = s[k] == 1 ? 0 : st;
      st *= s[k];
    }
  };
  fill_strides(a, p->a_stride);
  fill_strides(b, p->b_stride);
  return true;
}

void f32_binary__ref(BinaryOp op, const BinaryParams& p, const float* a, const float* b, float* y) {
  switch (op) {
    case BinaryOp::kAdd:
      return BinaryLoops<AddOp>(p, a, b, y);
    case BinaryOp::kMul:
      return BinaryLoops<MulOp>(p, a, b, y);
    case BinaryOp::kSub:
      return BinaryLoops<SubOp>(p, a, b, y);
    case BinaryOp::kDiv:
      return BinaryLoops<DivOp>(p, a, b, y);
    case BinaryOp::kMaximum:
      return BinaryLoops<MaxOp>(p, a, b, y);
    case BinaryOp::kMinimum:
      return BinaryLoops<MinOp>(p, a, b, y);
    case BinaryOp::kPrelu:
      return BinaryLoops<PreluOp>(p, a, b, y);
  }
}

void f32_binary__opt(BinaryOp op, const BinaryParams& p, F32VBinaryUkernelFn kernel, const float* a,
                     const float* b, float* y, ThreadPool* pool) {
  if (kernel == nullptr || p.kind == BroadcastKind::kGeneral)
    return f32_binary__ref(op, p, a, b, y);
  static constexpr F32VBinOp kOps[] = {F32VBinOp::kAdd,  F32VBinOp::kMul, F32VBinOp::kSub,
                                       F32VBinOp::kDiv,  F32VBinOp::kMax, F32VBinOp::kMin,
                                       F32VBinOp::kPrelu};
  const F32VBinOp vop = kOps[static_cast<int>(op)];
  const float lo = p.act.lo, hi = p.act.hi;
  // Per output, in the multiply-adds the thread split counts: an output
  // moves 12 bytes, which from another core's cache (its producer ran on
  // both threads) costs what about 8 multiply-adds of a GEMM do; split by
  // the same rule, each thread mostly reads what its own core wrote.
  const int64_t cost = op == BinaryOp::kDiv ? 32 : 8;
  if (p.kind == BroadcastKind::kPerChannelA || p.kind == BroadcastKind::kPerChannelB) {
    // Rows of `channels` outputs against the one channel vector: threads take rows.
    const int64_t c = p.channels, rows = c > 0 ? p.size / c : 0;
    const bool va = p.kind == BroadcastKind::kPerChannelA;
    ParallelItems(pool, rows, c * cost, [=](int64_t begin, int64_t end) {
      const size_t off = static_cast<size_t>(begin * c);
      kernel(vop, static_cast<size_t>(end - begin), static_cast<size_t>(c), va ? a : a + off,
             va ? 0 : static_cast<size_t>(c), 1, va ? b + off : b, va ? static_cast<size_t>(c) : 0,
             1, y + off, lo, hi);
    });
    return;
  }
  // Same shape or a scalar operand: one row, cut into blocks for the threads.
  constexpr int64_t kBlock = 4096;
  const int64_t n = p.size, blocks = (n + kBlock - 1) / kBlock;
  const size_t a_col = p.kind == BroadcastKind::kScalarA ? 0 : 1;
  const size_t b_col = p.kind == BroadcastKind::kScalarB ? 0 : 1;
  ParallelItems(pool, blocks, std::min(n, kBlock) * cost, [=](int64_t begin, int64_t end) {
    const int64_t first = begin * kBlock, count = std::min(end * kBlock, n) - first;
    kernel(vop, 1, static_cast<size_t>(count), a + first * static_cast<int64_t>(a_col), 0, a_col,
           b + first * static_cast<int64_t>(b_col), 0, b_col, y + first, lo, hi);
  });
}

void f32_leaky_relu__ref(float alpha, const float* x, float* y, int64_t n) {
  UnaryLoop(x, y, n, [alpha](float v) { return v >= 0.0f ? v : alpha * v; });
}

void f32_leaky_relu__opt(float alpha, F32VBinaryUkernelFn kernel, const float* x, float* y,
                         int64_t n, ThreadPool* pool) {
  if (kernel == nullptr) return f32_leaky_relu__ref(alpha, x, y, n);
  BinaryParams p;
  p.kind = BroadcastKind::kScalarB;
  p.size = n;
  f32_binary__opt(BinaryOp::kPrelu, p, kernel, x, &alpha, y, pool);
}

}  // namespace gearshift
