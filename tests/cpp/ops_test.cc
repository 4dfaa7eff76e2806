// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Reference kernels (src/ops) against independent naive implementations
// written here straight from the formulas in docs/FORMAT.md (double
// accumulation, explicit index arithmetic, their own padding computation),
// over random shapes and parameters. The threaded kernels must also give
// bit-identical results for 1, 2 and 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/fully_connected.h"
#include "ops/pool.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

std::vector<float> Random(std::mt19937* rng, int64_t n, float lo = -2.0f, float hi = 2.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(*rng);
  return v;
}

int RandInt(std::mt19937* rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(*rng);
}

double NaiveAct(double v, Activation a) {
  switch (a) {
    case Activation::kNone: return v;
    case Activation::kRelu: return v < 0 ? 0 : v;
    case Activation::kRelu6: return v < 0 ? 0 : (v > 6 ? 6 : v);
    case Activation::kReluN1To1: return v < -1 ? -1 : (v > 1 ? 1 : v);
  }
  return v;
}

// Output size and leading pad per TensorFlow's definition, written
// independently of ComputeWindow.
bool NaiveWindow(int in, int k, int s, int d, Padding p, int* out, int* pad) {
  const int ek = (k - 1) * d + 1;
  if (p == Padding::kValid) {
    if (in < ek) return false;
    *out = (in - ek) / s + 1;
    *pad = 0;
  } else {
    *out = static_cast<int>(std::ceil(static_cast<double>(in) / s));
    int total = (*out - 1) * s + ek - in;
    *pad = total > 0 ? total / 2 : 0;
  }
  return true;
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-4 * (1.0 + std::fabs(want[i])))
        << what << " at element " << i;
  }
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Runs `kernel(pool)` with 1, 2 and 3 threads (splitting forced even for
// tiny shapes) and checks the three outputs are bit-identical.
void ExpectThreadInvariant(const std::function<std::vector<float>(ThreadPool*)>& kernel,
                           const std::string& what) {
  ThreadPool p1(1), p2(2, 1), p3(3, 1);
  const std::vector<float> y1 = kernel(&p1);
  EXPECT_TRUE(BitEqual(y1, kernel(&p2))) << what << ": 2 threads differ from 1";
  EXPECT_TRUE(BitEqual(y1, kernel(&p3))) << what << ": 3 threads differ from 1";
  EXPECT_TRUE(BitEqual(y1, kernel(nullptr))) << what << ": no pool differs from 1 thread";
}

const Activation kActs[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6,
                            Activation::kReluN1To1};

struct ConvCase {
  Conv2DParams p;
  Padding padding;
  Activation act;
  bool bias;
  std::string Describe() const {
    return "N" + std::to_string(p.batch) + " H" + std::to_string(p.in_h) + " W" +
           std::to_string(p.in_w) + " C" + std::to_string(p.in_c) + " O" +
           std::to_string(p.out_c) + " K" + std::to_string(p.kernel_h) + "x" +
           std::to_string(p.kernel_w) + " s" + std::to_string(p.stride_h) + "," +
           std::to_string(p.stride_w) + " d" + std::to_string(p.dilation_h) + "," +
           std::to_string(p.dilation_w) + (padding == Padding::kSame ? " SAME" : " VALID") +
           " M" + std::to_string(p.depth_multiplier);
  }
};

// Random convolution geometry; false if VALID does not fit.
bool RandomConv(std::mt19937* rng, bool depthwise, ConvCase* c) {
  Conv2DParams& p = c->p;
  p.batch = RandInt(rng, 1, 2);
  p.in_h = RandInt(rng, 1, 9);
  p.in_w = RandInt(rng, 1, 9);
  p.in_c = RandInt(rng, 1, 5);
  p.kernel_h = RandInt(rng, 1, 3);
  p.kernel_w = RandInt(rng, 1, 3);
  p.stride_h = RandInt(rng, 1, 2);
  p.stride_w = RandInt(rng, 1, 2);
  p.dilation_h = RandInt(rng, 1, 2);
  p.dilation_w = RandInt(rng, 1, 2);
  p.depth_multiplier = depthwise ? RandInt(rng, 1, 2) : 1;
  p.out_c = depthwise ? p.in_c * p.depth_multiplier : RandInt(rng, 1, 4);
  c->padding = RandInt(rng, 0, 1) ? Padding::kSame : Padding::kValid;
  c->act = kActs[RandInt(rng, 0, 3)];
  c->bias = RandInt(rng, 0, 1) == 1;
  p.act = ActivationRange(c->act);
  int oh, ow, pt, pl;
  if (!NaiveWindow(static_cast<int>(p.in_h), p.kernel_h, p.stride_h, p.dilation_h, c->padding,
                   &oh, &pt) ||
      !NaiveWindow(static_cast<int>(p.in_w), p.kernel_w, p.stride_w, p.dilation_w, c->padding,
                   &ow, &pl)) {
    return false;
  }
  p.out_h = oh;
  p.out_w = ow;
  p.pad_top = pt;
  p.pad_left = pl;
  return true;
}

// y[n,oy,ox,oc] = b[oc] + sum_{ky,kx,c} x[n, oy*s-pt+ky*d, ox*s-pl+kx*d, c] * w[oc,ky,kx,c]
std::vector<double> NaiveConv(const ConvCase& c, const std::vector<float>& x,
                              const std::vector<float>& w, const float* b) {
  const Conv2DParams& p = c.p;
  std::vector<double> y;
  for (int n = 0; n < p.batch; ++n)
    for (int oy = 0; oy < p.out_h; ++oy)
      for (int ox = 0; ox < p.out_w; ++ox)
        for (int oc = 0; oc < p.out_c; ++oc) {
          double acc = b ? b[oc] : 0.0;
          for (int ky = 0; ky < p.kernel_h; ++ky)
            for (int kx = 0; kx < p.kernel_w; ++kx)
              for (int ch = 0; ch < p.in_c; ++ch) {
                const int iy = static_cast<int>(oy * p.stride_h - p.pad_top + ky * p.dilation_h);
                const int ix = static_cast<int>(ox * p.stride_w - p.pad_left + kx * p.dilation_w);
                if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
                acc += static_cast<double>(x[((n * p.in_h + iy) * p.in_w + ix) * p.in_c + ch]) *
                       w[((oc * p.kernel_h + ky) * p.kernel_w + kx) * p.in_c + ch];
              }
          y.push_back(NaiveAct(acc, c.act));
        }
  return y;
}

// Output channel c*M+m convolves input channel c with filter slice c*M+m.
std::vector<double> NaiveDepthwise(const ConvCase& c, const std::vector<float>& x,
                                   const std::vector<float>& w, const float* b) {
  const Conv2DParams& p = c.p;
  const int m_count = p.depth_multiplier;
  std::vector<double> y;
  for (int n = 0; n < p.batch; ++n)
    for (int oy = 0; oy < p.out_h; ++oy)
      for (int ox = 0; ox < p.out_w; ++ox)
        for (int ch = 0; ch < p.in_c; ++ch)
          for (int m = 0; m < m_count; ++m) {
            const int oc = ch * m_count + m;
            double acc = b ? b[oc] : 0.0;
            for (int ky = 0; ky < p.kernel_h; ++ky)
              for (int kx = 0; kx < p.kernel_w; ++kx) {
                const int iy = static_cast<int>(oy * p.stride_h - p.pad_top + ky * p.dilation_h);
                const int ix = static_cast<int>(ox * p.stride_w - p.pad_left + kx * p.dilation_w);
                if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
                acc += static_cast<double>(x[((n * p.in_h + iy) * p.in_w + ix) * p.in_c + ch]) *
                       w[(ky * p.kernel_w + kx) * p.out_c + oc];
              }
            y.push_back(NaiveAct(acc, c.act));
          }
  return y;
}

TEST(OpsConv2D, MatchesNaiveOverRandomShapes) {
  std::mt19937 rng(1);
  int tested = 0;
  bool saw_stride2 = false, saw_dilation2 = false, saw_same_even = false, saw_valid_odd = false;
  while (tested < 150) {
    ConvCase c;
    if (!RandomConv(&rng, false, &c)) continue;
    ++tested;
    const Conv2DParams& p = c.p;
    saw_stride2 |= p.stride_h == 2;
    saw_dilation2 |= p.dilation_h == 2;
    saw_same_even |= c.padding == Padding::kSame && p.in_h % 2 == 0;
    saw_valid_odd |= c.padding == Padding::kValid && p.in_h % 2 == 1;
    const auto x = Random(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const auto w = Random(&rng, p.out_c * p.kernel_h * p.kernel_w * p.in_c);
    const auto b = Random(&rng, p.out_c);
    const float* bias = c.bias ? b.data() : nullptr;
    auto run = [&](ThreadPool* pool) {
      std::vector<float> y(p.batch * p.out_h * p.out_w * p.out_c);
      f32_conv2d__ref(p, x.data(), w.data(), bias, y.data(), pool);
      return y;
    };
    ExpectNear(run(nullptr), NaiveConv(c, x, w, bias), c.Describe());
    ExpectThreadInvariant(run, c.Describe());
  }
  EXPECT_TRUE(saw_stride2 && saw_dilation2 && saw_same_even && saw_valid_odd);
}

TEST(OpsConv2D, SamePaddingSplitsOddTotalWithExtraAfter) {
  // in 4, k 2, s 2 (SAME): out 2, total 0; in 5, k 3, s 2: out 3, total 2 -> pad 1.
  // in 6, k 4, s 1: total 3 -> 1 before, 2 after: y[0] sees x[0..2], y[5] sees x[4..5].
  Conv2DParams p;
  p.batch = 1; p.in_h = 1; p.in_w = 6; p.in_c = 1; p.out_c = 1;
  p.kernel_h = 1; p.kernel_w = 4;
  int64_t ow, pad;
  ASSERT_TRUE(ComputeWindow(6, 4, 1, 1, Padding::kSame, &ow, &pad));
  EXPECT_EQ(ow, 6);
  EXPECT_EQ(pad, 1);
  p.out_h = 1; p.out_w = ow; p.pad_left = pad;
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const std::vector<float> w = {1, 1, 1, 1};
  std::vector<float> y(6);
  f32_conv2d__ref(p, x.data(), w.data(), nullptr, y.data(), nullptr);
  EXPECT_EQ(y, (std::vector<float>{6, 10, 14, 18, 15, 11}));
}

TEST(OpsDepthwiseConv2D, MatchesNaiveOverRandomShapes) {
  std::mt19937 rng(2);
  int tested = 0;
  bool saw_m2 = false;
  while (tested < 150) {
    ConvCase c;
    if (!RandomConv(&rng, true, &c)) continue;
    ++tested;
    const Conv2DParams& p = c.p;
    saw_m2 |= p.depth_multiplier == 2;
    const auto x = Random(&rng, p.batch * p.in_h * p.in_w * p.in_c);
    const auto w = Random(&rng, p.kernel_h * p.kernel_w * p.out_c);
    const auto b = Random(&rng, p.out_c);
    const float* bias = c.bias ? b.data() : nullptr;
    auto run = [&](ThreadPool* pool) {
      std::vector<float> y(p.batch * p.out_h * p.out_w * p.out_c);
      f32_depthwise_conv2d__ref(p, x.data(), w.data(), bias, y.data(), pool);
      return y;
    };
    ExpectNear(run(nullptr), NaiveDepthwise(c, x, w, bias), c.Describe());
    ExpectThreadInvariant(run, c.Describe());
  }
  EXPECT_TRUE(saw_m2);
}

TEST(OpsFullyConnected, MatchesNaiveOverRandomShapes) {
  std::mt19937 rng(3);
  for (int iter = 0; iter < 60; ++iter) {
    FullyConnectedParams p;
    // rank 2 or 3 input: rows = product of leading dims
    p.rows = RandInt(&rng, 1, 3) * (iter % 2 ? RandInt(&rng, 1, 4) : 1);
    p.in_features = RandInt(&rng, 1, 20);
    p.out_features = RandInt(&rng, 1, 12);
    const Activation act = kActs[iter % 4];
    p.act = ActivationRange(act);
    const auto x = Random(&rng, p.rows * p.in_features);
    const auto w = Random(&rng, p.out_features * p.in_features);
    const auto b = Random(&rng, p.out_features);
    const float* bias = iter % 3 ? b.data() : nullptr;
    std::vector<double> want;
    for (int r = 0; r < p.rows; ++r)
      for (int o = 0; o < p.out_features; ++o) {
        double acc = bias ? bias[o] : 0.0;
        for (int i = 0; i < p.in_features; ++i)
          acc += static_cast<double>(x[r * p.in_features + i]) * w[o * p.in_features + i];
        want.push_back(NaiveAct(acc, act));
      }
    auto run = [&](ThreadPool* pool) {
      std::vector<float> y(p.rows * p.out_features);
      f32_fully_connected__ref(p, x.data(), w.data(), bias, y.data(), pool);
      return y;
    };
    ExpectNear(run(nullptr), want, "fc iter " + std::to_string(iter));
    ExpectThreadInvariant(run, "fc iter " + std::to_string(iter));
  }
}

TEST(OpsPool2D, MaxAndAverageMatchNaive) {
  std::mt19937 rng(4);
  int tested = 0;
  while (tested < 120) {
    Pool2DParams p;
    p.batch = RandInt(&rng, 1, 2);
    p.in_h = RandInt(&rng, 1, 8);
    p.in_w = RandInt(&rng, 1, 8);
    p.channels = RandInt(&rng, 1, 4);
    p.filter_h = RandInt(&rng, 1, 3);
    p.filter_w = RandInt(&rng, 1, 3);
    p.stride_h = RandInt(&rng, 1, 2);
    p.stride_w = RandInt(&rng, 1, 2);
    const Padding padding = RandInt(&rng, 0, 1) ? Padding::kSame : Padding::kValid;
    const Activation act = kActs[RandInt(&rng, 0, 3)];
    p.act = ActivationRange(act);
    int oh, ow, pt, pl;
    if (!NaiveWindow(static_cast<int>(p.in_h), p.filter_h, p.stride_h, 1, padding, &oh, &pt) ||
        !NaiveWindow(static_cast<int>(p.in_w), p.filter_w, p.stride_w, 1, padding, &ow, &pl)) {
      continue;
    }
    ++tested;
    p.out_h = oh; p.out_w = ow; p.pad_top = pt; p.pad_left = pl;
    const auto x = Random(&rng, p.batch * p.in_h * p.in_w * p.channels);
    std::vector<double> want_max, want_avg;
    for (int n = 0; n < p.batch; ++n)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox)
          for (int c = 0; c < p.channels; ++c) {
            double mx = -1e30, sum = 0;
            int count = 0;
            for (int fy = 0; fy < p.filter_h; ++fy)
              for (int fx = 0; fx < p.filter_w; ++fx) {
                const int iy = oy * p.stride_h - pt + fy, ix = ox * p.stride_w - pl + fx;
                if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
                const double v = x[((n * p.in_h + iy) * p.in_w + ix) * p.channels + c];
                mx = std::max(mx, v);
                sum += v;
                ++count;
              }
            want_max.push_back(NaiveAct(mx, act));
            want_avg.push_back(NaiveAct(sum / count, act));
          }
    const size_t out_n = static_cast<size_t>(p.batch * oh * ow * p.channels);
    auto run_max = [&](ThreadPool* pool) {
      std::vector<float> y(out_n);
      f32_max_pool2d__ref(p, x.data(), y.data(), pool);
      return y;
    };
    auto run_avg = [&](ThreadPool* pool) {
      std::vector<float> y(out_n);
      f32_average_pool2d__ref(p, x.data(), y.data(), pool);
      return y;
    };
    ExpectNear(run_max(nullptr), want_max, "max pool");
    ExpectNear(run_avg(nullptr), want_avg, "average pool");
    ExpectThreadInvariant(run_max, "max pool");
    ExpectThreadInvariant(run_avg, "average pool");
  }
}

TEST(OpsPool2D, AverageExcludesPaddingFromCount) {
  // 2x2 input, 3x3 SAME window, stride 1: the corner window holds 4 real values.
  Pool2DParams p;
  p.batch = 1; p.in_h = 2; p.in_w = 2; p.channels = 1;
  p.out_h = 2; p.out_w = 2; p.filter_h = 3; p.filter_w = 3;
  p.pad_top = 1; p.pad_left = 1;
  const std::vector<float> x = {1, 2, 3, 4};
  std::vector<float> y(4);
  f32_average_pool2d__ref(p, x.data(), y.data(), nullptr);
  EXPECT_EQ(y, (std::vector<float>{2.5f, 2.5f, 2.5f, 2.5f}));
}

TEST(OpsMean, AnyAxesMatchNaive) {
  std::mt19937 rng(5);
  for (int iter = 0; iter < 80; ++iter) {
    const int rank = RandInt(&rng, 1, 5);
    Shape s(rank);
    for (auto& d : s) d = RandInt(&rng, 1, 4);
    std::vector<int> axes;
    for (int d = 0; d < rank; ++d) {
      if (RandInt(&rng, 0, 1)) axes.push_back(d);
    }
    std::shuffle(axes.begin(), axes.end(), rng);  // order must not matter
    int64_t n = 1;
    for (auto d : s) n *= d;
    const auto x = Random(&rng, n);
    // Naive: unravel every input index, drop reduced coords, accumulate.
    std::vector<int64_t> out_dims;
    for (int d = 0; d < rank; ++d)
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) out_dims.push_back(s[d]);
    int64_t out_n = 1;
    for (auto d : out_dims) out_n *= d;
    std::vector<double> sum(out_n, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t rem = i, o = 0, mul = 1;
      for (int d = rank - 1; d >= 0; --d) {
        const int64_t coord = rem % s[d];
        rem /= s[d];
        if (std::find(axes.begin(), axes.end(), d) == axes.end()) {
          o += coord * mul;
          mul *= s[d];
        }
      }
      sum[o] += x[i];
    }
    for (auto& v : sum) v /= static_cast<double>(n / out_n);
    std::vector<float> y(out_n), y_opt(out_n);
    f32_mean__ref(MakeMeanParams(s, axes), x.data(), y.data());
    ExpectNear(y, sum, "mean iter " + std::to_string(iter));
    f32_mean__opt(MakeMeanParams(s, axes), x.data(), y_opt.data());
    EXPECT_EQ(y_opt, y) << "mean __opt differs from __ref, iter " << iter;
  }
}

TEST(OpsUnary, EveryActivationMatchesFormula) {
  std::mt19937 rng(6);
  const auto x = Random(&rng, 1000, -8.0f, 8.0f);
  struct Case {
    UnaryOp op;
    double (*f)(double);
  } cases[] = {
      {UnaryOp::kRelu, [](double v) { return v > 0 ? v : 0.0; }},
      {UnaryOp::kRelu6, [](double v) { return v < 0 ? 0.0 : (v > 6 ? 6.0 : v); }},
      {UnaryOp::kReluN1To1, [](double v) { return v < -1 ? -1.0 : (v > 1 ? 1.0 : v); }},
      {UnaryOp::kLogistic, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
      {UnaryOp::kTanh, [](double v) { return std::tanh(v); }},
      {UnaryOp::kHardSwish,
       [](double v) { return v * (v + 3 < 0 ? 0.0 : (v + 3 > 6 ? 6.0 : v + 3)) / 6.0; }},
  };
  for (const Case& c : cases) {
    std::vector<float> y(x.size());
    f32_unary__ref(c.op, x.data(), y.data(), static_cast<int64_t>(x.size()));
    std::vector<double> want;
    for (float v : x) want.push_back(c.f(v));
    ExpectNear(y, want, "unary op " + std::to_string(static_cast<int>(c.op)));
  }
}

TEST(OpsSoftmax, MatchesNaiveAndIsStable) {
  std::mt19937 rng(7);
  for (float beta : {1.0f, 0.5f, 2.0f, -1.0f}) {
    SoftmaxParams p;
    p.rows = 5;
    p.cols = 7;
    p.beta = beta;
    auto x = Random(&rng, p.rows * p.cols, -5, 5);
    x[3] = 1000.0f;   // exp(1000) overflows without the max shift
    x[10] = -1000.0f;
    std::vector<double> want;
    for (int r = 0; r < p.rows; ++r) {
      double mx = -1e300;
      for (int c = 0; c < p.cols; ++c) mx = std::max(mx, double{beta} * x[r * p.cols + c]);
      double sum = 0;
      for (int c = 0; c < p.cols; ++c) sum += std::exp(double{beta} * x[r * p.cols + c] - mx);
      for (int c = 0; c < p.cols; ++c)
        want.push_back(std::exp(double{beta} * x[r * p.cols + c] - mx) / sum);
    }
    std::vector<float> y(x.size());
    f32_softmax__ref(p, x.data(), y.data());
    for (float v : y) ASSERT_TRUE(std::isfinite(v));
    ExpectNear(y, want, "softmax beta " + std::to_string(beta));
  }
}

// Naive NumPy broadcasting: unravel each output index, map it into a and b.
std::vector<double> NaiveBinary(const Shape& a, const Shape& b, const Shape& y,
                                const std::vector<float>& av, const std::vector<float>& bv,
                                bool mul, Activation act) {
  int64_t n = 1;
  for (auto d : y) n *= d;
  auto index_into = [&](const Shape& s, const std::vector<int64_t>& coord) {
    int64_t idx = 0;
    const size_t off = y.size() - s.size();
    for (size_t d = 0; d < s.size(); ++d) idx = idx * s[d] + (s[d] == 1 ? 0 : coord[off + d]);
    return idx;
  };
  std::vector<double> out;
  std::vector<int64_t> coord(y.size());
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i;
    for (size_t d = y.size(); d-- > 0;) {
      coord[d] = rem % y[d];
      rem /= y[d];
    }
    const double va = av[index_into(a, coord)], vb = bv[index_into(b, coord)];
    out.push_back(NaiveAct(mul ? va * vb : va + vb, act));
  }
  return out;
}

TEST(OpsBinary, BroadcastingMatchesNaive) {
  std::mt19937 rng(8);
  std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3, 4}, {2, 3, 4}},           // same shape
      {{2, 3, 4}, {}},                  // scalar b (rank 0)
      {{1}, {2, 3, 4}},                 // scalar a
      {{2, 3, 4}, {4}},                 // per-channel b
      {{1, 1, 4}, {2, 3, 4}},           // per-channel a
      {{2, 1, 4}, {3, 1}},              // general
      {{1, 2, 1, 3, 1, 2}, {2, 1, 3, 1, 5, 1}},  // rank 6
      {{5, 1}, {1, 6}},                 // outer product
      {{2, 3, 1}, {1, 3, 4}},
  };
  for (int iter = 0; iter < 40; ++iter) {  // random broadcast-compatible shapes
    const int ra = RandInt(&rng, 0, 6), rb = RandInt(&rng, 0, 6);
    const int r = std::max(ra, rb);
    Shape full(r);
    for (auto& d : full) d = RandInt(&rng, 1, 3);
    Shape a(full.end() - ra, full.end()), b(full.end() - rb, full.end());
    for (auto& d : a) if (RandInt(&rng, 0, 2) == 0) d = 1;
    for (auto& d : b) if (RandInt(&rng, 0, 2) == 0) d = 1;
    cases.emplace_back(a, b);
  }
  for (const auto& [a, b] : cases) {
    Shape y;
    ASSERT_TRUE(BroadcastShapes(a, b, &y));
    int64_t na = 1, nb = 1, ny = 1;
    for (auto d : a) na *= d;
    for (auto d : b) nb *= d;
    for (auto d : y) ny *= d;
    const auto av = Random(&rng, na), bv = Random(&rng, nb);
    for (bool mul : {false, true}) {
      const Activation act = kActs[RandInt(&rng, 0, 3)];
      BinaryParams p;
      ASSERT_TRUE(MakeBinaryParams(a, b, act, &p));
      std::vector<float> out(ny);
      f32_binary__ref(mul ? BinaryOp::kMul : BinaryOp::kAdd, p, av.data(), bv.data(),
                      out.data());
      ExpectNear(out, NaiveBinary(a, b, y, av, bv, mul, act), "binary");
    }
  }
  BinaryParams p;
  ASSERT_TRUE(MakeBinaryParams({2, 3, 4}, {4}, Activation::kNone, &p));
  EXPECT_EQ(p.kind, BroadcastKind::kPerChannelB);
  ASSERT_TRUE(MakeBinaryParams({2, 3, 4}, {2, 3, 4}, Activation::kNone, &p));
  EXPECT_EQ(p.kind, BroadcastKind::kSameShape);
  Shape y;
  EXPECT_FALSE(BroadcastShapes({2, 3}, {4, 3, 2}, &y));
}

TEST(OpsConcatenation, AnyAxisMatchesNaive) {
  std::mt19937 rng(9);
  for (int iter = 0; iter < 40; ++iter) {
    const int rank = RandInt(&rng, 1, 4);
    const int axis = RandInt(&rng, 0, rank - 1);
    Shape base(rank);
    for (auto& d : base) d = RandInt(&rng, 1, 3);
    const int k = RandInt(&rng, 1, 3);
    std::vector<Shape> shapes;
    std::vector<std::vector<float>> data;
    std::vector<const float*> ptrs;
    for (int i = 0; i < k; ++i) {
      Shape s = base;
      s[axis] = RandInt(&rng, 1, 3);
      int64_t n = 1;
      for (auto d : s) n *= d;
      shapes.push_back(s);
      data.push_back(Random(&rng, n));
    }
    for (auto& d : data) ptrs.push_back(d.data());
    const Activation act = iter % 2 ? Activation::kRelu : Activation::kNone;
    // Naive: walk the output index, find the input along `axis`.
    Shape ys = base;
    ys[axis] = 0;
    for (auto& s : shapes) ys[axis] += s[axis];
    int64_t ny = 1;
    for (auto d : ys) ny *= d;
    std::vector<double> want;
    std::vector<int64_t> coord(rank);
    for (int64_t i = 0; i < ny; ++i) {
      int64_t rem = i;
      for (int d = rank - 1; d >= 0; --d) {
        coord[d] = rem % ys[d];
        rem /= ys[d];
      }
      int src = 0;
      int64_t pos = coord[axis];
      while (pos >= shapes[src][axis]) pos -= shapes[src++][axis];
      int64_t idx = 0;
      for (int d = 0; d < rank; ++d) idx = idx * shapes[src][d] + (d == axis ? pos : coord[d]);
      want.push_back(NaiveAct(data[src][idx], act));
    }
    std::vector<float> y(ny);
    f32_concat__ref(MakeConcatParams(shapes, axis, act), ptrs.data(), y.data());
    ExpectNear(y, want, "concat");
  }
}

TEST(OpsPad, ZeroPaddingMatchesNaive) {
  std::mt19937 rng(10);
  for (int iter = 0; iter < 40; ++iter) {
    const int rank = RandInt(&rng, 1, 6);
    Shape s(rank);
    std::vector<std::pair<int64_t, int64_t>> pads(rank);
    Shape ys(rank);
    int64_t n = 1, ny = 1;
    for (int d = 0; d < rank; ++d) {
      s[d] = RandInt(&rng, 1, 3);
      pads[d] = {RandInt(&rng, 0, 2), RandInt(&rng, 0, 2)};
      ys[d] = s[d] + pads[d].first + pads[d].second;
      n *= s[d];
      ny *= ys[d];
    }
    const auto x = Random(&rng, n);
    std::vector<double> want;
    for (int64_t i = 0; i < ny; ++i) {
      int64_t rem = i, idx = 0, mul = 1;
      bool inside = true;
      for (int d = rank - 1; d >= 0; --d) {
        const int64_t c = rem % ys[d] - pads[d].first;
        rem /= ys[d];
        inside = inside && c >= 0 && c < s[d];
        idx += c * mul;
        mul *= s[d];
      }
      want.push_back(inside ? x[idx] : 0.0);
    }
    std::vector<float> y(ny, 42.0f);
    f32_pad__ref(MakePadParams(s, pads), x.data(), y.data());
    ExpectNear(y, want, "pad");
  }
}

TEST(OpsReshape, CopiesElements) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  std::vector<float> y(6);
  f32_copy__ref(x.data(), y.data(), 6);
  EXPECT_EQ(x, y);
}

TEST(OpsThreadPool, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads, 1);
    for (int64_t n : {0, 1, 2, 3, 7, 100}) {
      std::vector<int> hits(n, 0);
      pool.ParallelFor(n, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) ++hits[i];
      });
      for (int h : hits) ASSERT_EQ(h, 1);
    }
  }
}

}  // namespace
}  // namespace gearshift
