// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// ADD and MUL walk the broadcast in BinaryParams' rank-6 strided frame (filled
// for every broadcast kind), one plain loop for every case: this is the
// reference, and int8 element-wise ops are memory-bound anyway.
#include "ops_q8/q8_elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace gearshift {
namespace {

template <typename F>
void BinaryLoop(const BinaryParams& p, const int8_t* a, const int8_t* b, int8_t* y, F f) {
  const int64_t* s = p.shape;
  const int64_t* as = p.a_stride;
  const int64_t* bs = p.b_stride;
  for (int64_t i0 = 0; i0 < s[0]; ++i0) {
    for (int64_t i1 = 0; i1 < s[1]; ++i1) {
      for (int64_t i2 = 0; i2 < s[2]; ++i2) {
        for (int64_t i3 = 0; i3 < s[3]; ++i3) {
          for (int64_t i4 = 0; i4 < s[4]; ++i4) {
            const int8_t* ap = a + i0 * as[0] + i1 * as[1] + i2 * as[2] + i3 * as[3] + i4 * as[4];
            const int8_t* bp = b + i0 * bs[0] + i1 * bs[1] + i2 * bs[2] + i3 * bs[3] + i4 * bs[4];
            for (int64_t i5 = 0; i5 < s[5]; ++i5) *y++ = f(ap[i5 * as[5]], bp[i5 * bs[5]]);
          }
        }
      }
    }
  }
}

Activation ActivationOf(UnaryOp op) {
  switch (op) {
    case UnaryOp::kRelu:
      return Activation::kRelu;
    case UnaryOp::kRelu6:
      return Activation::kRelu6;
    case UnaryOp::kReluN1To1:
      return Activation::kReluN1To1;
    default:
      return Activation::kNone;
  }
}

double TableFunction(UnaryOp op, double v) {
  switch (op) {
    case UnaryOp::kLogistic:
      return 1.0 / (1.0 + std::exp(-v));
    case UnaryOp::kTanh:
      return std::tanh(v);
    case UnaryOp::kHardSwish:
      return v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0;
    default:
      return v;
  }
}

}  // namespace

void q8_quantize__ref(const float* x, Q8Quant q, int8_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = QuantizeQ8(x[i], q);
}

void q8_dequantize__ref(const int8_t* x, Q8Quant q, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = DequantizeQ8(x[i], q);
}

Q8RescaleParams MakeQ8RescaleParams(UnaryOp op, Q8Quant x, Q8Quant y) {
  Q8RescaleParams p;
  p.x_zero_point = x.zero_point;
  p.y_zero_point = y.zero_point;
  p.requant = MakeQ8Requant(static_cast<double>(x.scale) / static_cast<double>(y.scale));
  p.range = Q8ActivationRange(ActivationOf(op), y);
  return p;
}

void q8_rescale__ref(const Q8RescaleParams& p, const int8_t* x, int8_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = ApplyQ8Requant(int32_t{x[i]} - p.x_zero_point, p.requant);
    y[i] = Q8Clamp(int64_t{v} + p.y_zero_point, p.range);
  }
}

Q8Table MakeQ8Table(UnaryOp op, Q8Quant x, Q8Quant y) {
  Q8Table t;
  for (int q = -128; q <= 127; ++q) {
    const double v = static_cast<double>(x.scale) * static_cast<double>(q - x.zero_point);
    const double r = std::round(TableFunction(op, v) / static_cast<double>(y.scale)) +
                     static_cast<double>(y.zero_point);
    t[static_cast<size_t>(q + 128)] = static_cast<int8_t>(std::min(std::max(r, -128.0), 127.0));
  }
  return t;
}

void q8_lookup__ref(const Q8Table& table, const int8_t* x, int8_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = table[static_cast<size_t>(int32_t{x[i]} + 128)];
}

Q8AddParams MakeQ8AddParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act) {
  Q8AddParams p;
  p.a_zero_point = a.zero_point;
  p.b_zero_point = b.zero_point;
  p.y_zero_point = y.zero_point;
  // quant_ref.q8_add: the max of the float32 scales, doubled in double.
  const double twice_max = 2.0 * static_cast<double>(std::max(a.scale, b.scale));
  p.a = MakeQ8Requant(static_cast<double>(a.scale) / twice_max);
  p.b = MakeQ8Requant(static_cast<double>(b.scale) / twice_max);
  p.out = MakeQ8Requant(
      twice_max / (static_cast<double>(int64_t{1} << p.left_shift) * static_cast<double>(y.scale)));
  p.act = Q8ActivationRange(act, y);
  return p;
}

void q8_add__ref(const BinaryParams& shape, const Q8AddParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y) {
  BinaryLoop(shape, a, b, y, [&p](int8_t qa, int8_t qb) {
    // (q - z) << 20 is at most 255 * 2^20 in magnitude: no overflow.
    const int32_t va = (int32_t{qa} - p.a_zero_point) * (int32_t{1} << p.left_shift);
    const int32_t vb = (int32_t{qb} - p.b_zero_point) * (int32_t{1} << p.left_shift);
    const int32_t sum = WrapAddI32(ApplyQ8Requant(va, p.a), ApplyQ8Requant(vb, p.b));
    return Q8Clamp(int64_t{ApplyQ8Requant(sum, p.out)} + p.y_zero_point, p.act);
  });
}

Q8MulParams MakeQ8MulParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act) {
  Q8MulParams p;
  p.a_zero_point = a.zero_point;
  p.b_zero_point = b.zero_point;
  p.y_zero_point = y.zero_point;
  p.out = MakeQ8Requant(static_cast<double>(a.scale) * static_cast<double>(b.scale) /
                        static_cast<double>(y.scale));
  p.act = Q8ActivationRange(act, y);
  return p;
}

void q8_mul__ref(const BinaryParams& shape, const Q8MulParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y) {
  BinaryLoop(shape, a, b, y, [&p](int8_t qa, int8_t qb) {
    const int32_t prod = (int32_t{qa} - p.a_zero_point) * (int32_t{qb} - p.b_zero_point);
    return Q8Clamp(int64_t{ApplyQ8Requant(prod, p.out)} + p.y_zero_point, p.act);
  });
}

// ---- 1.3 ----------------------------------------------------------------------

Q8RescaleParams MakeQ8RequantizeParams(Q8Quant x, Q8Quant y) {
  Q8RescaleParams p;
  p.x_zero_point = x.zero_point;
  p.y_zero_point = y.zero_point;
  p.requant = MakeQ8Requant(static_cast<double>(x.scale) / static_cast<double>(y.scale));
  return p;  // range: the full int8 range
}

Q8AddParams MakeQ8SubParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act) {
  Q8AddParams p = MakeQ8AddParams(a, b, y, act);
  // Negating the fixed-point multiplier is not the same as negating the
  // result: SaturatingRoundingDoublingHighMul rounds ties upwards.
  p.b.multiplier = -p.b.multiplier;
  return p;
}

void q8_maximum__ref(const BinaryParams& shape, const int8_t* a, const int8_t* b, int8_t* y) {
  BinaryLoop(shape, a, b, y, [](int8_t qa, int8_t qb) { return qa > qb ? qa : qb; });
}

void q8_minimum__ref(const BinaryParams& shape, const int8_t* a, const int8_t* b, int8_t* y) {
  BinaryLoop(shape, a, b, y, [](int8_t qa, int8_t qb) { return qa < qb ? qa : qb; });
}

Q8DivParams MakeQ8DivParams(Q8Quant a, Q8Quant b, Q8Quant y, Activation act) {
  Q8DivParams p;
  p.a_zero_point = a.zero_point;
  p.b_zero_point = b.zero_point;
  p.y_zero_point = y.zero_point;
  p.a_scale = static_cast<double>(a.scale);
  p.b_scale = static_cast<double>(b.scale);
  p.y_scale = static_cast<double>(y.scale);
  p.act = Q8ActivationRange(act, y);
  return p;
}

void q8_div__ref(const BinaryParams& shape, const Q8DivParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y) {
  BinaryLoop(shape, a, b, y, [&p](int8_t qa, int8_t qb) {
    const int32_t da = int32_t{qa} - p.a_zero_point;
    const int32_t db = int32_t{qb} - p.b_zero_point;
    if (db == 0) {
      // +-inf saturates (and then meets the activation's clamp); NaN (0/0)
      // has no int8 value and maps to real 0.
      const int64_t v = da > 0 ? 127 : da < 0 ? -128 : p.y_zero_point;
      return Q8Clamp(v, p.act);
    }
    const double r =
        p.a_scale * static_cast<double>(da) / (p.b_scale * static_cast<double>(db)) / p.y_scale;
    // |r| <= 255 * max scale ratio could exceed int64 only for absurd
    // scales; clamp in double first.
    const double q =
        std::min(std::max(std::round(r) + static_cast<double>(p.y_zero_point), -1024.0), 1024.0);
    return Q8Clamp(static_cast<int64_t>(q), p.act);
  });
}

Q8LeakyReluParams MakeQ8LeakyReluParams(float alpha, Q8Quant x, Q8Quant y) {
  Q8LeakyReluParams p;
  p.x_zero_point = x.zero_point;
  p.y_zero_point = y.zero_point;
  const double sx = static_cast<double>(x.scale), sy = static_cast<double>(y.scale);
  p.identity = MakeQ8Requant(sx / sy);
  p.alpha = MakeQ8Requant(static_cast<double>(alpha) * sx / sy);
  return p;
}

void q8_leaky_relu__ref(const Q8LeakyReluParams& p, const int8_t* x, int8_t* y, int64_t n) {
  const Q8Range full;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t d = int32_t{x[i]} - p.x_zero_point;
    const int32_t v = ApplyQ8Requant(d, d >= 0 ? p.identity : p.alpha);
    y[i] = Q8Clamp(int64_t{v} + p.y_zero_point, full);
  }
}

Q8PreluParams MakeQ8PreluParams(Q8Quant x, Q8Quant alpha, Q8Quant y) {
  Q8PreluParams p;
  p.x_zero_point = x.zero_point;
  p.alpha_zero_point = alpha.zero_point;
  p.y_zero_point = y.zero_point;
  const double sx = static_cast<double>(x.scale), sy = static_cast<double>(y.scale);
  p.identity = MakeQ8Requant(sx / sy);
  p.alpha = MakeQ8Requant(sx * static_cast<double>(alpha.scale) / sy);
  return p;
}

void q8_prelu__ref(const BinaryParams& shape, const Q8PreluParams& p, const int8_t* x,
                   const int8_t* alpha, int8_t* y) {
  const Q8Range full;
  BinaryLoop(shape, x, alpha, y, [&p, full](int8_t qx, int8_t qa) {
    const int32_t d = int32_t{qx} - p.x_zero_point;
    const int32_t v = d >= 0 ? ApplyQ8Requant(d, p.identity)
                             : ApplyQ8Requant(d * (int32_t{qa} - p.alpha_zero_point), p.alpha);
    return Q8Clamp(int64_t{v} + p.y_zero_point, full);
  });
}

// ---- optimised variants ----------------------------------------------------------

namespace {

// MultiplyByQuantizedMultiplier without branches on the data. gemmlowp's
// SaturatingRoundingDoublingHighMul, trunc((ab + nudge) / 2^31) with
// nudge = ab >= 0 ? 2^30 : 1 - 2^30, equals floor((ab + 2^30) / 2^31), an
// arithmetic shift; its one saturating case needs multiplier == INT32_MIN,
// which QuantizeMultiplier never makes (callers check: UsableMultiplier).
// RoundingDivideByPOT is the same as requant.h's, in int32.
struct FastRequant {
  int32_t multiplier = 0;
  int left = 0, right = 0;
  int32_t mask = 0, half_mask = 0;
};

FastRequant MakeFastRequant(Q8Requant r) {
  FastRequant f;
  f.multiplier = r.multiplier;
  f.left = r.shift > 0 ? r.shift : 0;
  f.right = r.shift > 0 ? 0 : -r.shift;
  f.mask = static_cast<int32_t>((int64_t{1} << f.right) - 1);
  f.half_mask = f.mask >> 1;
  return f;
}

bool UsableMultiplier(Q8Requant r) {
  return r.multiplier != std::numeric_limits<int32_t>::min() && r.shift >= -31 && r.shift <= 30;
}

inline int32_t ApplyFast(int32_t x, const FastRequant& f) {
  const auto xs = static_cast<int32_t>(static_cast<uint32_t>(x) << f.left);
  const int64_t ab = int64_t{xs} * f.multiplier;
  const auto h = static_cast<int32_t>((ab + (int64_t{1} << 30)) >> 31);
  const int32_t threshold = f.half_mask + static_cast<int32_t>(static_cast<uint32_t>(h) >> 31);
  return (h >> f.right) + ((h & f.mask) > threshold ? 1 : 0);
}

// Whether the compiler vectorises ApplyFast's 32x32->64-bit product with the
// baseline flags (NEON; SSE4.1's pmuldq where a build enables it). Without it
// ADD reads its input stages from tables instead.
#if defined(__aarch64__) || defined(__ARM_NEON) || defined(__SSE4_1__)
constexpr bool kVectorMul64 = true;
#else
constexpr bool kVectorMul64 = false;
#endif

// Q8Clamp(v + zy, r) for int32 v without the int64: clamping v to the range
// shifted by -zy first is the same (np.clip's order kept: hi wins).
struct FastOut {
  int32_t zero_point = 0, lo = -128, hi = 127;
};

FastOut MakeFastOut(int32_t zero_point, Q8Range r) {
  return FastOut{zero_point, r.lo - zero_point, r.hi - zero_point};
}

inline int8_t Finish(int32_t v, const FastOut& o) {
  return static_cast<int8_t>(std::min(std::max(v, o.lo), o.hi) + o.zero_point);
}

// BinaryParams' rank-6 frame with size-1 dims dropped and neighbours merged
// where both operands step through them as one (same-shape operands become
// one contiguous row; [N,H,W,C] + [C] becomes rows of C).
struct Frame {
  int rank = 0;
  int64_t shape[kMaxRank] = {1, 1, 1, 1, 1, 1};
  int64_t as[kMaxRank] = {0, 0, 0, 0, 0, 0};
  int64_t bs[kMaxRank] = {0, 0, 0, 0, 0, 0};
};

Frame Coalesce(const BinaryParams& p) {
  Frame f;
  for (int d = 0; d < kMaxRank; ++d) {
    if (p.shape[d] == 1) continue;
    const int k = f.rank - 1;
    if (k >= 0 && f.as[k] == p.a_stride[d] * p.shape[d] && f.bs[k] == p.b_stride[d] * p.shape[d]) {
      f.shape[k] *= p.shape[d];
      f.as[k] = p.a_stride[d];
      f.bs[k] = p.b_stride[d];
      continue;
    }
    f.shape[f.rank] = p.shape[d];
    f.as[f.rank] = p.a_stride[d];
    f.bs[f.rank] = p.b_stride[d];
    ++f.rank;
  }
  if (f.rank == 0) f.rank = 1;  // one element: shape 1, strides 0
  return f;
}

// One contiguous run of y. A stride-0 operand is read once, so the compiler
// hoists its part of `e` out of the loop.
template <typename E>
inline void ElemRow(const int8_t* a, int64_t as, const int8_t* b, int64_t bs, int8_t* y, int64_t n,
                    const E& fn) {
  // A local copy of the functor (with its parameters captured by value): int8
  // stores may alias anything reached through a reference, which would force
  // a reload of every parameter per element and block vectorisation.
  const E e = fn;
  if (as == 1 && bs == 1) {
    for (int64_t i = 0; i < n; ++i) y[i] = e(a[i], b[i]);
  } else if (as == 1 && bs == 0) {
    const int8_t qb = *b;
    for (int64_t i = 0; i < n; ++i) y[i] = e(a[i], qb);
  } else if (as == 0 && bs == 1) {
    const int8_t qa = *a;
    for (int64_t i = 0; i < n; ++i) y[i] = e(qa, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = e(a[i * as], b[i * bs]);
  }
}

// Elements per work item: rows longer than this are split so that one large
// same-shape tensor still spreads over the threads.
constexpr int64_t kBlock = 4096;

// Runs e over the broadcast, items = (row, block of the row); `cost` is the
// rough per-element work relative to a multiply-add, so small tensors stay on
// the calling thread.
// `run(a, as, b, bs, y, n)` computes one contiguous run of y.
template <typename R>
void BinaryRows(const BinaryParams& p, const int8_t* a, const int8_t* b, int8_t* y,
                ThreadPool* pool, int64_t cost, const R& run) {
  if (p.size <= 0) return;
  const Frame f = Coalesce(p);
  const int inner = f.rank - 1;
  const int64_t len = f.shape[inner];
  const int64_t blocks = (len + kBlock - 1) / kBlock;
  const int64_t rows = p.size / len;
  ParallelItems(pool, rows * blocks, std::min(len, kBlock) * cost, [&](int64_t begin, int64_t end) {
    int64_t idx[kMaxRank] = {0, 0, 0, 0, 0, 0};
    int64_t row = begin / blocks;
    for (int d = inner - 1; d >= 0; --d) {
      idx[d] = row % f.shape[d];
      row /= f.shape[d];
    }
    int64_t item = begin;
    while (item < end) {
      int64_t ao = 0, bo = 0;
      for (int d = 0; d < inner; ++d) {
        ao += idx[d] * f.as[d];
        bo += idx[d] * f.bs[d];
      }
      const int64_t row_index = item / blocks;
      int8_t* yr = y + row_index * len;
      for (int64_t blk = item % blocks; blk < blocks && item < end; ++blk, ++item) {
        const int64_t s = blk * kBlock;
        const int64_t n = std::min(kBlock, len - s);
        run(a + ao + s * f.as[inner], f.as[inner], b + bo + s * f.bs[inner], f.bs[inner], yr + s,
            n);
      }
      for (int d = inner - 1; d >= 0; --d) {  // next row
        if (++idx[d] < f.shape[d]) break;
        idx[d] = 0;
      }
    }
  });
}

template <typename E>
void BinaryOpt(const BinaryParams& p, const int8_t* a, const int8_t* b, int8_t* y, ThreadPool* pool,
               int64_t cost, const E& e) {
  BinaryRows(p, a, b, y, pool, cost,
             [&e](const int8_t* ra, int64_t as, const int8_t* rb, int64_t bs, int8_t* ry,
                  int64_t n) { ElemRow(ra, as, rb, bs, ry, n, e); });
}

// Rows where both operands are contiguous go to `kernel`, the rest to the
// portable element function e.
template <typename K, typename P, typename E>
void BinaryKernelOpt(const BinaryParams& p, const int8_t* a, const int8_t* b, int8_t* y,
                     ThreadPool* pool, int64_t cost, K kernel, const P& params, const E& e) {
  BinaryRows(
      p, a, b, y, pool, cost,
      [&](const int8_t* ra, int64_t as, const int8_t* rb, int64_t bs, int8_t* ry, int64_t n) {
        if (as == 1 && bs == 1) {
          kernel(static_cast<size_t>(n), ra, rb, ry, &params);
        } else {
          ElemRow(ra, as, rb, bs, ry, n, e);
        }
      });
}

Q8VRequant VRequant(Q8Requant r) { return Q8VRequant{r.multiplier, r.shift}; }

template <typename Ref>
Q8Table TableOf(const Ref& ref) {
  int8_t x[256];
  for (int i = 0; i < 256; ++i) x[i] = static_cast<int8_t>(i - 128);
  Q8Table t;
  ref(x, t.data(), int64_t{256});
  return t;
}

}  // namespace

Q8Table MakeQ8RescaleTable(const Q8RescaleParams& p) {
  return TableOf([&p](const int8_t* x, int8_t* y, int64_t n) { q8_rescale__ref(p, x, y, n); });
}

Q8Table MakeQ8LeakyReluTable(const Q8LeakyReluParams& p) {
  return TableOf([&p](const int8_t* x, int8_t* y, int64_t n) { q8_leaky_relu__ref(p, x, y, n); });
}

void q8_quantize__opt(const float* x, Q8Quant q, int8_t* y, int64_t n, ThreadPool* pool,
                      Q8QuantizeUkernelFn kernel) {
  if (kernel == nullptr) kernel = &q8_quantize_1x__ref;  // QuantizeQ8 per value
  const double s = static_cast<double>(q.scale);
  const int32_t zp = q.zero_point;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  ParallelItems(pool, blocks, std::min(n, kBlock) * 8, [=](int64_t begin, int64_t end) {
    const int64_t first = begin * kBlock;
    kernel(static_cast<size_t>(std::min(end * kBlock, n) - first), x + first, s, zp, y + first);
  });
}

void q8_dequantize__opt(const int8_t* x, Q8Quant q, float* y, int64_t n, ThreadPool* pool) {
  // The __ref rounds the double product s * (q - z) to float. That product is
  // exact in double (24-bit s times an integer of at most 9 bits), so one
  // float multiply of s by the exact float (q - z), itself correctly rounded,
  // gives the same float; and it vectorises, where a table lookup did not.
  const float s = q.scale;
  const int32_t z = q.zero_point;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  ParallelItems(pool, blocks, std::min(n, kBlock), [=](int64_t begin, int64_t end) {
    const int64_t stop = std::min(end * kBlock, n);
    for (int64_t i = begin * kBlock; i < stop; ++i) {
      y[i] = s * static_cast<float>(int32_t{x[i]} - z);
    }
  });
}

void q8_lookup__opt(const Q8Table& table, const int8_t* x, int8_t* y, int64_t n, ThreadPool* pool,
                    Q8LutUkernelFn kernel) {
  if (kernel == nullptr) kernel = &q8_lut_1x__ref;
  const int8_t* t = table.data();
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  // Pointers by value: int8 stores could alias captured references.
  ParallelItems(pool, blocks, std::min(n, kBlock) * 2, [=](int64_t begin, int64_t end) {
    const int64_t first = begin * kBlock;
    kernel(static_cast<size_t>(std::min(end * kBlock, n) - first), x + first, t, y + first);
  });
}

void q8_add__opt(const BinaryParams& shape, const Q8AddParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y, ThreadPool* pool, const Q8VBinaryKernel* rows) {
  if (!UsableMultiplier(p.a) || !UsableMultiplier(p.b) || !UsableMultiplier(p.out) ||
      p.left_shift < 0 || p.left_shift > 23) {
    q8_add__ref(shape, p, a, b, y);  // never from Make*Params; kept exact anyway
    return;
  }
  const FastRequant fa = MakeFastRequant(p.a), fb = MakeFastRequant(p.b);
  const FastRequant fo = MakeFastRequant(p.out);
  const FastOut out = MakeFastOut(p.y_zero_point, p.act);
  const int32_t za = p.a_zero_point, zb = p.b_zero_point, one = int32_t{1} << p.left_shift;
  auto in_a = [=](int8_t q) { return ApplyFast((int32_t{q} - za) * one, fa); };
  auto in_b = [=](int8_t q) { return ApplyFast((int32_t{q} - zb) * one, fb); };
  if (rows != nullptr && rows->add != nullptr) {
    Q8VAddParams v;
    v.a_zero_point = za;
    v.b_zero_point = zb;
    v.y_zero_point = p.y_zero_point;
    v.left_shift = p.left_shift;
    v.a = VRequant(p.a);
    v.b = VRequant(p.b);
    v.out = VRequant(p.out);
    v.act_min = p.act.lo;
    v.act_max = p.act.hi;
    // MBQM((q - z) << s, (2^30, -r)) = (q - z) << (s - 1 - r) exactly: the
    // high multiply halves an even number, and the right shift then drops
    // only zero bits.
    auto shift_only = [&](const Q8Requant& r) {
      return r.multiplier == (int32_t{1} << 30) && r.shift <= 0 && -r.shift <= p.left_shift - 1
                 ? p.left_shift - 1 + r.shift
                 : -1;
    };
    v.a_shift = shift_only(p.a);
    v.b_shift = shift_only(p.b);
    BinaryKernelOpt(shape, a, b, y, pool, 2, rows->add, v, [=](int8_t qa, int8_t qb) {
      return Finish(ApplyFast(WrapAddI32(in_a(qa), in_b(qb)), fo), out);
    });
    return;
  }
  if (kVectorMul64 || shape.size < 2048) {
    BinaryOpt(shape, a, b, y, pool, 8, [=](int8_t qa, int8_t qb) {
      return Finish(ApplyFast(WrapAddI32(in_a(qa), in_b(qb)), fo), out);
    });
    return;
  }
  // Scalar 64-bit products (x86-64 baseline): the input stages, functions of
  // one int8 each, come from two 256-entry tables of the same values.
  int32_t ta[256], tb[256];
  for (int i = 0; i < 256; ++i) {
    ta[i] = in_a(static_cast<int8_t>(i - 128));
    tb[i] = in_b(static_cast<int8_t>(i - 128));
  }
  const int32_t* pa = ta;
  const int32_t* pb = tb;
  BinaryOpt(shape, a, b, y, pool, 4, [=](int8_t qa, int8_t qb) {
    const int32_t sum =
        WrapAddI32(pa[static_cast<uint8_t>(qa) ^ 0x80u], pb[static_cast<uint8_t>(qb) ^ 0x80u]);
    return Finish(ApplyFast(sum, fo), out);
  });
}

void q8_mul__opt(const BinaryParams& shape, const Q8MulParams& p, const int8_t* a, const int8_t* b,
                 int8_t* y, ThreadPool* pool, const Q8VBinaryKernel* rows) {
  if (!UsableMultiplier(p.out)) {
    q8_mul__ref(shape, p, a, b, y);
    return;
  }
  const FastRequant fo = MakeFastRequant(p.out);
  const FastOut out = MakeFastOut(p.y_zero_point, p.act);
  const int32_t za = p.a_zero_point, zb = p.b_zero_point;
  auto e = [=](int8_t qa, int8_t qb) {
    return Finish(ApplyFast((int32_t{qa} - za) * (int32_t{qb} - zb), fo), out);
  };
  if (rows != nullptr && rows->mul != nullptr) {
    Q8VMulParams v;
    v.a_zero_point = za;
    v.b_zero_point = zb;
    v.y_zero_point = p.y_zero_point;
    v.out = VRequant(p.out);
    v.act_min = p.act.lo;
    v.act_max = p.act.hi;
    BinaryKernelOpt(shape, a, b, y, pool, 1, rows->mul, v, e);
    return;
  }
  BinaryOpt(shape, a, b, y, pool, 4, e);
}

void q8_maximum__opt(const BinaryParams& shape, const int8_t* a, const int8_t* b, int8_t* y,
                     ThreadPool* pool) {
  BinaryOpt(shape, a, b, y, pool, 1, [](int8_t qa, int8_t qb) { return std::max(qa, qb); });
}

void q8_minimum__opt(const BinaryParams& shape, const int8_t* a, const int8_t* b, int8_t* y,
                     ThreadPool* pool) {
  BinaryOpt(shape, a, b, y, pool, 1, [](int8_t qa, int8_t qb) { return std::min(qa, qb); });
}

namespace {

// The channel count of a [pixels, C] x [C] PRELU, else 0.
int64_t PreluChannels(const BinaryParams& shape) {
  const Frame f = Coalesce(shape);
  if (f.rank == 2 && f.as[0] == f.shape[1] && f.as[1] == 1 && f.bs[0] == 0 && f.bs[1] == 1) {
    return f.shape[1];
  }
  return 0;
}

}  // namespace

std::vector<int8_t> MakeQ8PreluTables(const BinaryParams& shape, const Q8PreluParams& p,
                                      const int8_t* alpha) {
  const int64_t c = PreluChannels(shape);
  if (c <= 0 || c > kQ8PreluMaxTableChannels) return {};
  std::vector<int8_t> tables(static_cast<size_t>(c * 256));
  int8_t x[256], a[256];
  for (int i = 0; i < 256; ++i) x[i] = static_cast<int8_t>(i - 128);
  BinaryParams one;  // 256 same-shape elements
  one.kind = BroadcastKind::kSameShape;
  one.size = 256;
  one.shape[kMaxRank - 1] = 256;
  one.a_stride[kMaxRank - 1] = one.b_stride[kMaxRank - 1] = 1;
  for (int64_t ch = 0; ch < c; ++ch) {
    std::fill(a, a + 256, alpha[ch]);
    q8_prelu__ref(one, p, x, a, tables.data() + ch * 256);
  }
  return tables;
}

void q8_prelu__table(const BinaryParams& shape, const std::vector<int8_t>& tables, const int8_t* x,
                     int8_t* y, ThreadPool* pool) {
  const int64_t c = static_cast<int64_t>(tables.size() / 256), n = shape.size;
  const int64_t pixels = n / c;
  const int64_t per_item = std::max<int64_t>(1, kBlock / c);
  const int64_t items = (pixels + per_item - 1) / per_item;
  const int8_t* t = tables.data();
  ParallelItems(pool, items, per_item * c, [=](int64_t begin, int64_t end) {
    const int64_t stop = std::min(end * per_item, pixels);
    for (int64_t px = begin * per_item; px < stop; ++px) {
      const int8_t* xp = x + px * c;
      int8_t* yp = y + px * c;
      const int8_t* tc = t + 128;  // channel ch's table, indexed by q in [-128, 127]
      for (int64_t ch = 0; ch < c; ++ch, tc += 256) yp[ch] = tc[xp[ch]];
    }
  });
}

void q8_prelu__opt(const BinaryParams& shape, const Q8PreluParams& p, const int8_t* x,
                   const int8_t* alpha, int8_t* y, ThreadPool* pool, const Q8VBinaryKernel* rows) {
  if (!UsableMultiplier(p.identity) || !UsableMultiplier(p.alpha)) {
    q8_prelu__ref(shape, p, x, alpha, y);
    return;
  }
  const FastRequant fi = MakeFastRequant(p.identity), fa = MakeFastRequant(p.alpha);
  const FastOut out = MakeFastOut(p.y_zero_point, Q8Range{});
  const int32_t zx = p.x_zero_point, za = p.alpha_zero_point;
  auto e = [=](int8_t qx, int8_t qa) {
    const int32_t d = int32_t{qx} - zx;
    // Both sides computed, then selected: no branch on the data.
    const int32_t pos = ApplyFast(d, fi);
    const int32_t neg = ApplyFast(d * (int32_t{qa} - za), fa);
    return Finish(d >= 0 ? pos : neg, out);
  };
  if (rows != nullptr && rows->prelu != nullptr) {
    Q8VPreluParams v;
    v.x_zero_point = zx;
    v.alpha_zero_point = za;
    v.y_zero_point = p.y_zero_point;
    v.identity = VRequant(p.identity);
    v.alpha = VRequant(p.alpha);
    if (const int64_t c = PreluChannels(shape); c > 0) {
      // [pixels, C] x [C] (the usual per-channel alpha): many pixel rows per
      // call, the kernel's set-up paid once per block rather than per pixel.
      // The alpha row is repeated over k pixels so that a period is a
      // multiple of 64 bytes (the VBMI kernel's step; 16 for the others):
      // the kernels' vectors then never straddle a period end (an 8-channel
      // PRELU was all padded tails). The last pixels short of k go with the
      // single row.
      const int64_t pixels = shape.size / c;
      int64_t k = 1;
      while ((c * k) % 64 != 0 && k < 64) k *= 2;
      std::vector<int8_t> wide;
      const int8_t* alpha_k = alpha;
      if (k > 1 && pixels >= k) {
        wide.resize(static_cast<size_t>(c * k));
        for (int64_t i = 0; i < k; ++i) std::memcpy(wide.data() + i * c, alpha, c);
        alpha_k = wide.data();
      } else {
        k = 1;
      }
      const int64_t per_item = std::max<int64_t>(1, kBlock / (c * k)) * k;  // pixels, k | it
      const int64_t items = (pixels + per_item - 1) / per_item;
      Q8VPreluUkernelFn fn = rows->prelu;
      ParallelItems(pool, items, per_item * c * 2, [=, &v](int64_t begin, int64_t end) {
        const int64_t r0 = begin * per_item, r1 = std::min(end * per_item, pixels);
        const int64_t bulk = (r1 - r0) / k * k;
        Q8VPreluParams vk = v;
        vk.alpha_period = static_cast<size_t>(c * k);
        if (bulk > 0) fn(static_cast<size_t>(bulk * c), x + r0 * c, alpha_k, y + r0 * c, &vk);
        if (bulk < r1 - r0) {
          vk.alpha_period = static_cast<size_t>(c);
          fn(static_cast<size_t>((r1 - r0 - bulk) * c), x + (r0 + bulk) * c, alpha,
             y + (r0 + bulk) * c, &vk);
        }
      });
      return;
    }
    BinaryKernelOpt(shape, x, alpha, y, pool, 2, rows->prelu, v, e);
    return;
  }
  BinaryOpt(shape, x, alpha, y, pool, 8, e);
}

}  // namespace gearshift
