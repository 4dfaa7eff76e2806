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
  p.requant = MakeQ8Requant(static_cast<double>(x.scale) /
                            (static_cast<double>(y.scale) * static_cast<double>(reduced_count)));
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

}  // namespace gearshift
