// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// MEAN walks the output with an odometer over the kept dims and, per output
// element, an odometer over the reduced dims (as f32_mean__ref). SOFTMAX
// computes each exp twice (once for the sum, once for the output) rather than
// keeping a row buffer: the same libm call on the same double gives the same
// bits, and running a plan allocates nothing.
#include "ops_q8/q8_reduce.h"

#include <algorithm>
#include <cmath>

namespace gearshift {

Q8RescaleParams MakeQ8MeanParams(Q8Quant x, Q8Quant y, int64_t reduced_count) {
  Q8RescaleParams p;
  p.x_zero_point = x.zero_point;
  p.y_zero_point = y.zero_point;
  // LiteRT's reference MEAN: the multiplier of sx / sy, then 1/n folded into
  // it in integers (M << k) / n with 2^k <= n, k <= 32 and s - k >= -31;
  // a double sx / (sy * n) rounds differently on some sums.
  p.requant = MakeQ8Requant(static_cast<double>(x.scale) / static_cast<double>(y.scale));
  if (reduced_count > 0 && p.requant.multiplier != 0) {
    int k = 0;
    while ((int64_t{2} << k) <= reduced_count && k < 32) ++k;
    k = std::max(0, std::min(k, 31 + p.requant.shift));
    p.requant.multiplier =
        static_cast<int32_t>((int64_t{p.requant.multiplier} << k) / reduced_count);
    p.requant.shift -= k;
  }
  return p;
}

void q8_mean__ref(const MeanParams& shape, const Q8RescaleParams& q, const int8_t* x, int8_t* y) {
  const MeanParams& p = shape;
  int64_t kept_idx[kMaxRank] = {0, 0, 0, 0, 0, 0};
  for (int64_t o = 0; o < p.out_size; ++o) {
    int64_t off = 0;
    for (int k = 0; k < p.kept_rank; ++k) off += kept_idx[k] * p.kept_stride[k];
    int32_t acc = 0;
    int64_t red_idx[kMaxRank] = {0, 0, 0, 0, 0, 0};
    for (int64_t r = 0; r < p.reduced_count; ++r) {
      acc = WrapAddI32(acc, int32_t{x[off]} - q.x_zero_point);
      for (int k = p.reduced_rank - 1; k >= 0; --k) {  // innermost dim fastest
        off += p.reduced_stride[k];
        if (++red_idx[k] < p.reduced_size[k]) break;
        off -= red_idx[k] * p.reduced_stride[k];
        red_idx[k] = 0;
      }
    }
    y[o] = Q8Clamp(int64_t{ApplyQ8Requant(acc, q.requant)} + q.y_zero_point, q.range);
    for (int k = p.kept_rank - 1; k >= 0; --k) {
      if (++kept_idx[k] < p.kept_size[k]) break;
      kept_idx[k] = 0;
    }
  }
}

Q8SoftmaxParams MakeQ8SoftmaxParams(float beta, Q8Quant x, Q8Quant y) {
  Q8SoftmaxParams p;
  p.beta_x_scale = static_cast<double>(beta) * static_cast<double>(x.scale);
  p.y_scale = static_cast<double>(y.scale);
  p.y_zero_point = y.zero_point;
  return p;
}

void q8_softmax__ref(const SoftmaxParams& shape, const Q8SoftmaxParams& q, const int8_t* x,
                     int8_t* y) {
  for (int64_t r = 0; r < shape.rows; ++r) {
    const int8_t* xp = x + r * shape.cols;
    int8_t* yp = y + r * shape.cols;
    int32_t m = xp[0];
    for (int64_t c = 1; c < shape.cols; ++c) m = std::max<int32_t>(m, xp[c]);
    auto e = [&](int64_t c) {
      return std::exp(q.beta_x_scale * static_cast<double>(int32_t{xp[c]} - m));
    };
    double sum = 0.0;
    for (int64_t c = 0; c < shape.cols; ++c) sum += e(c);
    for (int64_t c = 0; c < shape.cols; ++c) {
      const double v = std::round(e(c) / sum / q.y_scale) + static_cast<double>(q.y_zero_point);
      yp[c] = static_cast<int8_t>(std::min(std::max(v, -128.0), 127.0));
    }
  }
}

// ---- optimised variants ----------------------------------------------------------

namespace {

inline int8_t MeanOut(uint32_t sum, const Q8RescaleParams& q) {
  return Q8Clamp(int64_t{ApplyQ8Requant(static_cast<int32_t>(sum), q.requant)} + q.y_zero_point,
                 q.range);
}

// Output o's sum as the __ref's odometer walks it.
int8_t MeanOne(const MeanParams& p, const Q8RescaleParams& q, const int8_t* x, int64_t o) {
  int64_t off = 0;
  for (int k = p.kept_rank - 1; k >= 0; --k) {
    off += (o % p.kept_size[k]) * p.kept_stride[k];
    o /= p.kept_size[k];
  }
  uint32_t acc = 0;
  int64_t red_idx[kMaxRank] = {0, 0, 0, 0, 0, 0};
  for (int64_t r = 0; r < p.reduced_count; ++r) {
    acc += static_cast<uint32_t>(int32_t{x[off]} - q.x_zero_point);
    for (int k = p.reduced_rank - 1; k >= 0; --k) {
      off += p.reduced_stride[k];
      if (++red_idx[k] < p.reduced_size[k]) break;
      off -= red_idx[k] * p.reduced_stride[k];
      red_idx[k] = 0;
    }
  }
  return MeanOut(acc, q);
}

}  // namespace

void q8_mean__opt(const MeanParams& shape, const Q8RescaleParams& q, const int8_t* x, int8_t* y,
                  ThreadPool* pool) {
  const MeanParams& p = shape;
  if (p.out_size <= 0) return;
  const int last = p.kept_rank - 1;
  if (last < 0 || p.kept_stride[last] != 1 || p.kept_size[last] < 8) {
    ParallelItems(pool, p.out_size, p.reduced_count * 2, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) y[o] = MeanOne(p, q, x, o);
    });
    return;
  }
  constexpr int64_t kChannelBlock = 256;
  const int64_t channels = p.kept_size[last];
  const int64_t blocks = (channels + kChannelBlock - 1) / kChannelBlock;
  const int64_t outer = p.out_size / channels;
  // sum(q - zx) = sum(q) - n * zx, modulo 2^32 like the __ref's wrapped sum.
  const uint32_t zero_sum =
      static_cast<uint32_t>(p.reduced_count) * static_cast<uint32_t>(q.x_zero_point);
  ParallelItems(
      pool, outer * blocks, p.reduced_count * std::min(channels, kChannelBlock),
      [&](int64_t begin, int64_t end) {
        uint32_t acc[kChannelBlock];
        for (int64_t item = begin; item < end; ++item) {
          int64_t o = item / blocks;
          const int64_t c0 = (item % blocks) * kChannelBlock;
          const int64_t cn = std::min(kChannelBlock, channels - c0);
          int8_t* yp = y + o * channels + c0;
          int64_t off = c0;
          for (int k = last - 1; k >= 0; --k) {
            off += (o % p.kept_size[k]) * p.kept_stride[k];
            o /= p.kept_size[k];
          }
          std::fill(acc, acc + cn, 0u);
          int64_t red_idx[kMaxRank] = {0, 0, 0, 0, 0, 0};
          for (int64_t r = 0; r < p.reduced_count; ++r) {
            const int8_t* xp = x + off;
            for (int64_t c = 0; c < cn; ++c) acc[c] += static_cast<uint32_t>(int32_t{xp[c]});
            for (int k = p.reduced_rank - 1; k >= 0; --k) {
              off += p.reduced_stride[k];
              if (++red_idx[k] < p.reduced_size[k]) break;
              off -= red_idx[k] * p.reduced_stride[k];
              red_idx[k] = 0;
            }
          }
          for (int64_t c = 0; c < cn; ++c) yp[c] = MeanOut(acc[c] - zero_sum, q);
        }
      });
}

void q8_softmax__opt(const SoftmaxParams& shape, const Q8SoftmaxParams& q, const int8_t* x,
                     int8_t* y, ThreadPool* pool) {
  if (shape.rows * shape.cols < 128) {  // fewer exps than the table
    q8_softmax__ref(shape, q, x, y);
    return;
  }
  double table[256];  // table[k] = exp(beta * sx * -k)
  for (int k = 0; k < 256; ++k) {
    table[k] = std::exp(q.beta_x_scale * static_cast<double>(int32_t{-k}));
  }
  const int64_t cols = shape.cols;
  ParallelItems(pool, shape.rows, cols * 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int8_t* xp = x + r * cols;
      int8_t* yp = y + r * cols;
      int32_t m = xp[0];
      for (int64_t c = 1; c < cols; ++c) m = std::max<int32_t>(m, xp[c]);
      // table[m - q] = exp(beta * sx * (q - m)), as the __ref's e(c).
      double sum = 0.0;
      for (int64_t c = 0; c < cols; ++c) sum += table[m - xp[c]];
      for (int64_t c = 0; c < cols; ++c) {
        const double v =
            std::round(table[m - xp[c]] / sum / q.y_scale) + static_cast<double>(q.y_zero_point);
        yp[c] = static_cast<int8_t>(std::min(std::max(v, -128.0), 127.0));
      }
    }
  });
}

}  // namespace gearshift
