// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The fp32 softmax kernels (kernels/f32_softmax) against exact values:
//   - their exp within 2 ulp of exp computed in double over [-87.33, 0]
//     (2^20 even points and every 61st float in [-1, -1/16)), 0 below
//     ln(2^-126);
//   - whole rows of 1..1000 values (odd and even, past every vector tail)
//     with large, tiny, -inf and -FLT_MAX inputs and negative beta, within
//     the bound below of softmax computed in double; the reference op
//     (std::exp, one sequential sum) within the same bound;
//   - through f32_softmax__opt: identical bits at 1, 2 and 3 threads.
// Every compiled entry of this CPU runs (ref, and AVX2/AVX-512 or NEON).
//
// The bound per output y (exact value t, n values in the row):
//   |y - t| <= t * (4 + n) * 2^-24 + 2^-126.
// Why: the inputs are multiples of 1/128 after beta, so beta * x and
// beta * x - max are exact and each e = exp(d) is within 2 ulp (<= 4 u,
// u = 2^-24) of exp(d); a float sum of n positive terms, in any order, is
// within (n - 1) u relative of the exact sum; 1 / sum and e * inv add 2 u.
// Terms below 2^-126 flush to 0 (2^-126 absolute).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "dispatch.h"
#include "ops/reduce.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

struct Named {
  const char* isa;
  F32SoftmaxKernel k;
};

// Every entry compiled for and supported by this CPU.
std::vector<Named> Kernels() {
  std::vector<Named> v;
#define GS_UKERNEL(isa, row, exp) v.push_back({#isa, {&row, &exp, #row}});
#include "kernels/f32_softmax/f32_softmax.inc"
#undef GS_UKERNEL
  std::vector<Named> ok;
  for (const Named& n : v) {
    const std::string isa = n.isa;
    KernelTable t;
    const std::string want = isa == "kIsaRef"      ? "ref"
                             : isa == "kIsaAvx2"   ? "avx2"
                             : isa == "kIsaAvx512" ? "avx512"
                                                   : "neon";
    if (BuildKernelTable(want, &t).ok()) ok.push_back(n);
  }
  return ok;
}

double UlpOf(double t) {  // the spacing of floats at t (t > 0)
  int e;
  std::frexp(t, &e);
  return std::ldexp(1.0, std::max(e - 24, -149));
}

TEST(F32Softmax, ExpWithinTwoUlpOverItsDomain) {
  std::vector<float> x;
  // 2^20 points evenly over [-87.33, 0], and every 61st float in
  // [-1, -1/16) (where r spans the polynomial's whole interval).
  for (int i = 0; i <= (1 << 20); ++i) x.push_back(-87.33f * static_cast<float>(i) / (1 << 20));
  for (float v = -1.0f; v < -0.0625f;) {
    x.push_back(v);
    int32_t b;
    std::memcpy(&b, &v, 4);
    b -= 61;  // toward zero: |v| shrinks
    std::memcpy(&v, &b, 4);
  }
  x.push_back(-0.0f);
  x.push_back(-1e-30f);
  std::vector<float> y(x.size());
  for (const Named& n : Kernels()) {
    SCOPED_TRACE(n.k.name);
    n.k.exp(x.size(), x.data(), y.data());
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double t = std::exp(static_cast<double>(x[i]));
      const double ulps = std::fabs(y[i] - t) / UlpOf(t);
      worst = std::max(worst, ulps);
      ASSERT_LE(ulps, 2.0) << "x " << x[i] << " y " << y[i] << " exp " << t;
    }
    std::printf("[ f32_softmax ] %s exp: worst %.3f ulp over %zu points\n", n.k.name, worst,
                x.size());
  }
}

TEST(F32Softmax, ExpBelowTheSmallestNormalIsZero) {
  const float x[] = {-87.4f, -100.0f, -1e30f, -FLT_MAX, -std::numeric_limits<float>::infinity()};
  float y[5];
  for (const Named& n : Kernels()) {
    n.k.exp(5, x, y);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(y[i], 0.0f) << n.k.name << " x " << x[i];
  }
}

// A row of n values from seed: mostly in [-8, 8] in steps of 1/64 (so beta
// * x is exact for the betas used: powers of two and 1.5), and by kind a
// very large value (1e30), -FLT_MAX, -inf or values 80 below the rest.
std::vector<float> Row(size_t n, uint32_t seed, int kind) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    v[i] = static_cast<float>(static_cast<int>((s >> 8) % 1025) - 512) / 64.0f;
  }
  if (n > 1) {
    const size_t j = (s >> 4) % n;
    if (kind == 1) v[j] = 1e30f;
    if (kind == 2) v[j] = -FLT_MAX;
    if (kind == 3) v[j] = -std::numeric_limits<float>::infinity();
    if (kind == 4) {
      for (size_t i = 0; i < n; i += 3) v[i] -= 80.0f;
    }
  }
  return v;
}

std::vector<double> Exact(const std::vector<float>& x, float beta) {
  double m = -INFINITY;
  for (float v : x) m = std::max(m, static_cast<double>(beta) * v);
  std::vector<double> e(x.size());
  double sum = 0;
  for (size_t i = 0; i < x.size(); ++i)
    sum += e[i] = std::exp(static_cast<double>(beta) * x[i] - m);
  for (double& v : e) v /= sum;
  return e;
}

void ExpectWithinBound(const std::vector<float>& y, const std::vector<double>& t,
                       const std::string& what) {
  const double u = std::ldexp(1.0, -24);
  const double n = static_cast<double>(y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    const double bound = t[i] * (4 + n) * u + std::ldexp(1.0, -126);
    ASSERT_LE(std::fabs(y[i] - t[i]), bound) << what << " col " << i << " of " << y.size();
  }
}

TEST(F32Softmax, RowsOfEveryLengthWithinTheBound) {
  const std::vector<Named> kernels = Kernels();
  for (size_t n = 1; n <= 1000; n += (n < 70 ? 1 : 37)) {
    for (int kind = 0; kind <= 4; ++kind) {
      for (float beta : {1.0f, 0.5f, -1.5f, 4.0f}) {
        if (kind == 1 && beta == 4.0f) continue;  // 4e30 is still finite; 1e30 covers it
        if (beta < 0 && kind >= 2) continue;      // -inf * -1.5 = +inf: max is inf, all NaN
        const std::vector<float> x = Row(n, static_cast<uint32_t>(n * 7 + kind), kind);
        const std::vector<double> t = Exact(x, beta);
        const std::string what = "n " + std::to_string(n) + " kind " + std::to_string(kind) +
                                 " beta " + std::to_string(beta);
        std::vector<float> y(n);
        SoftmaxParams p;
        p.rows = 1;
        p.cols = static_cast<int64_t>(n);
        p.beta = beta;
        f32_softmax__ref(p, x.data(), y.data());
        ExpectWithinBound(y, t, "reference op " + what);
        for (const Named& k : kernels) {
          std::fill(y.begin(), y.end(), -1.0f);
          k.k.row(n, beta, x.data(), y.data());
          ExpectWithinBound(y, t, std::string(k.k.name) + " " + what);
        }
      }
    }
  }
}

TEST(F32Softmax, OptSameBitsForAnyThreadCount) {
  KernelTable best;
  ASSERT_TRUE(BuildKernelTable("", &best).ok());
  for (int64_t cols : {1, 7, 16, 1000}) {
    SoftmaxParams p;
    p.rows = 37;
    p.cols = cols;
    p.beta = 1.0f;
    const std::vector<float> x = Row(static_cast<size_t>(p.rows * cols), 5, 0);
    std::vector<float> one(x.size()), many(x.size());
    ThreadPool pool1(1);
    f32_softmax__opt(p, best.f32_softmax.row, x.data(), one.data(), &pool1);
    for (int threads : {2, 3}) {
      ThreadPool pool(threads, 1);  // min cost 1: even tiny rows are split
      f32_softmax__opt(p, best.f32_softmax.row, x.data(), many.data(), &pool);
      EXPECT_EQ(std::memcmp(one.data(), many.data(), one.size() * 4), 0)
          << cols << " cols, " << threads << " threads";
    }
    // And each row is the row kernel's (or the reference op's) alone.
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < p.rows; ++r) {
      SoftmaxParams one_row = p;
      one_row.rows = 1;
      f32_softmax__opt(one_row, best.f32_softmax.row, x.data() + r * cols, row.data(), nullptr);
      EXPECT_EQ(std::memcmp(row.data(), one.data() + r * cols, row.size() * 4), 0) << r;
    }
  }
}

}  // namespace
}  // namespace gearshift
