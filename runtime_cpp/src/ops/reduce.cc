// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// MEAN walks the output in row-major order with an odometer over the kept
// dims and, per output element, an odometer over the reduced dims.
#include "ops/reduce.h"

#include <algorithm>
#include <vector>
#include <cmath>

#include "ops/op_common.h"

namespace gearshift {

MeanParams MakeMeanParams(const Shape& in, const std::vector<int>& axes) {
  MeanParams p;
  const int rank = static_cast<int>(in.size());
  int64_t stride = 1;
  int64_t strides[kMaxRank] = {0, 0, 0, 0, 0, 0};
  for (int d = rank - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= in[d];
  }
  for (int d = 0; d < rank; ++d) {
    const bool reduced = std::find(axes.begin(), axes.end(), d) != axes.end();
    if (reduced) {
      p.reduced_size[p.reduced_rank] = in[d];
      p.reduced_stride[p.reduced_rank++] = strides[d];
      p.reduced_count *= in[d];
    } else {
      p.kept_size[p.kept_rank] = in[d];
      p.kept_stride[p.kept_rank++] = strides[d];
      p.out_size *= in[d];
    }
  }
  return p;
}

void f32_mean__ref(const MeanParams& p, const float* x, float* y) {
  int64_t kept_idx[kMaxRank] = {0, 0, 0, 0, 0, 0};
  for (int64_t o = 0; o < p.out_size; ++o) {
    int64_t base = 0;
    for (int k = 0; k < p.kept_rank; ++k) base += kept_idx[k] * p.kept_stride[k];
    double sum = 0.0;
    int64_t red_idx[kMaxRank] = {0, 0, 0, 0, 0, 0};
    int64_t off = base;
    for (int64_t r = 0; r < p.reduced_count; ++r) {
      sum += x[off];
      // Advance the reduced odometer, innermost dim fastest.
      for (int k = p.reduced_rank - 1; k >= 0; --k) {
        off += p.reduced_stride[k];
        if (++red_idx[k] < p.reduced_size[k]) break;
        off -= red_idx[k] * p.reduced_stride[k];
        red_idx[k] = 0;
      }
    }
    y[o] = static_cast<float>(sum / static_cast<double>(p.reduced_count));
    for (int k = p.kept_rank - 1; k >= 0; --k) {
      if (++kept_idx[k] < p.kept_size[k]) break;
      kept_idx[k] = 0;
    }
  }
}

void f32_mean__opt(const MeanParams& p, const float* x, float* y) {
  const int inner = p.kept_rank - 1;
  if (inner < 0 || p.kept_stride[inner] != 1 || p.kept_size[inner] < 2) {
    f32_mean__ref(p, x, y);
    return;
  }
  // The innermost kept dim (channels) is contiguous: sum whole rows of it,
  // each channel in double in the reference's order (bit-identical), so the
  // compiler can vectorise across channels.
  const int64_t channels = p.kept_size[inner];
  std::vector<double> sum(static_cast<size_t>(channels));
  int64_t kept_idx[kMaxRank] = {0, 0, 0, 0, 0, 0};
  for (int64_t o = 0; o < p.out_size; o += channels) {
    int64_t base = 0;
    for (int k = 0; k < inner; ++k) base += kept_idx[k] * p.kept_stride[k];
    std::fill(sum.begin(), sum.end(), 0.0);
    int64_t red_idx[kMaxRank] = {0, 0, 0, 0, 0, 0};
    int64_t off = base;
    for (int64_t r = 0; r < p.reduced_count; ++r) {
      const float* row = x + off;
      for (int64_t c = 0; c < channels; ++c) sum[c] += row[c];
      for (int k = p.reduced_rank - 1; k >= 0; --k) {
        off += p.reduced_stride[k];
        if (++red_idx[k] < p.reduced_size[k]) break;
        off -= red_idx[k] * p.reduced_stride[k];
        red_idx[k] = 0;
      }
    }
    const double count = static_cast<double>(p.reduced_count);
    for (int64_t c = 0; c < channels; ++c) y[o + c] = static_cast<float>(sum[c] / count);
    for (int k = inner - 1; k >= 0; --k) {
      if (++kept_idx[k] < p.kept_size[k]) break;
      kept_idx[k] = 0;
    }
  }
}

void f32_softmax__ref(const SoftmaxParams& p, const float* x, float* y) {
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* xp = x + r * p.cols;
    float* yp = y + r * p.cols;
    // max of beta*x (not of x): beta may be negative.
    float max_v = p.beta * xp[0];
    for (int64_t c = 1; c < p.cols; ++c) max_v = std::max(max_v, p.beta * xp[c]);
    float sum = 0.0f;
    for (int64_t c = 0; c < p.cols; ++c) {
      yp[c] = std::exp(p.beta * xp[c] - max_v);
      sum += yp[c];
    }
    const float inv = 1.0f / sum;
    for (int64_t c = 0; c < p.cols; ++c) yp[c] *= inv;
  }
}

void f32_softmax__opt(const SoftmaxParams& p, F32SoftmaxRowFn row, const float* x, float* y,
                      ThreadPool* pool) {
  if (row == nullptr) return f32_softmax__ref(p, x, y);
  const size_t cols = static_cast<size_t>(p.cols);
  // About 20 operations an element (the exp's polynomial and reduction).
  ParallelItems(pool, p.rows, 20 * p.cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) row(cols, p.beta, x + r * p.cols, y + r * p.cols);
  });
}

}  // namespace gearshift
