// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Graph-input quantization kernels (kernels/q8_quantize) against QuantizeQ8,
// bit for bit: exact rounding ties of both signs, values just either side of
// a tie and up to 2^-10 from one (the float fast paths' margin), NaN,
// infinities, signed zeros, subnormals, values far beyond the
// int8 range, zero points at both ends, lengths around the 8-value step, and
// through the threaded driver at 1 and 3 threads.
#include "kernels/q8_quantize/q8_quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "dispatch.h"
#include "ops_q8/q8_common.h"
#include "ops_q8/q8_elementwise.h"
#include "thread_pool.h"

namespace gearshift {
namespace {

struct Entry {
  Isa isa;
  Q8QuantizeKernel kernel;
};

std::vector<Entry> AllEntries() {
  std::vector<Entry> v;
#define GS_UKERNEL(isa, name) v.push_back({isa, {&name, #name}});
#include "kernels/q8_quantize/q8_quantize.inc"
#undef GS_UKERNEL
  return v;
}

std::string EntryName(const ::testing::TestParamInfo<Entry>& info) {
  return info.param.kernel.name;
}

class Q8QuantizeUkernel : public ::testing::TestWithParam<Entry> {};

TEST_P(Q8QuantizeUkernel, MatchesQuantizeQ8BitExact) {
  const Entry& e = GetParam();
  if (!IsaSupported(e.isa, DetectCpuFeatures())) {
    GTEST_SKIP() << e.kernel.name << ": CPU lacks " << IsaName(e.isa);
  }
  std::mt19937 rng(99);
  const float inf = std::numeric_limits<float>::infinity();
  const float special[] = {NAN, inf, -inf, 0.0f, -0.0f, 1e-40f, -1e-40f, 3e38f, -3e38f};
  for (int trial = 0; trial < 600; ++trial) {
    // Power-of-two scales make exact ties; others exercise the division.
    const float scale = trial % 3 == 0 ? std::ldexp(1.0f, trial % 7 - 4)
                                       : std::uniform_real_distribution<float>(1e-4f, 0.5f)(rng);
    const int32_t zp = trial % 4 == 0 ? -128 : (trial % 4 == 1 ? 127 : int32_t(rng() % 256) - 128);
    const size_t n = 1 + rng() % 37;
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i) {
      const int kind = static_cast<int>(rng() % 6);
      const float m = static_cast<float>(static_cast<int>(rng() % 600) - 300);
      if (kind == 0) {
        x[i] = (m + 0.5f) * scale;  // a tie (exact for power-of-two scales)
      } else if (kind == 1) {
        x[i] = std::nextafter((m + 0.5f) * scale, (m + 1.0f) * scale);  // just past it
      } else if (kind == 2) {
        x[i] = std::nextafter((m + 0.5f) * scale, (m - 1.0f) * scale);  // just before
      } else if (kind == 3) {
        x[i] = special[rng() % (sizeof(special) / sizeof(special[0]))];
      } else if (kind == 4) {  // 2^-18..2^-10 from a tie: the float fast path's margin
        // (in double, and near zero, so that x keeps the offset)
        const double off = std::ldexp(1.0, -10 - static_cast<int>(rng() % 7));
        const double t = static_cast<double>(static_cast<int>(rng() % 80) - 40) + 0.5;
        x[i] = static_cast<float>((t + (rng() % 2 ? off : -off)) * static_cast<double>(scale));
      } else {
        x[i] = std::uniform_real_distribution<float>(-200.0f, 200.0f)(rng) * scale;
      }
    }
    const Q8Quant q{scale, zp};
    std::vector<int8_t> want(n), got(n, 0x55);
    for (size_t i = 0; i < n; ++i) want[i] = QuantizeQ8(x[i], q);
    e.kernel.fn(n, x.data(), static_cast<double>(scale), zp, got.data());
    ASSERT_EQ(got, want) << e.kernel.name << " trial " << trial << " scale " << scale << " zp "
                         << zp;
  }
  // Through the threaded driver, long enough to split.
  std::vector<float> x(100003);
  for (float& v : x) v = std::uniform_real_distribution<float>(-40.0f, 40.0f)(rng);
  const Q8Quant q{0.25f, -3};
  std::vector<int8_t> want(x.size()), got(x.size());
  q8_quantize__ref(x.data(), q, want.data(), static_cast<int64_t>(x.size()));
  for (int threads : {1, 3}) {
    ThreadPool pool(threads, 1);
    q8_quantize__opt(x.data(), q, got.data(), static_cast<int64_t>(x.size()), &pool, e.kernel.fn);
    ASSERT_EQ(got, want) << e.kernel.name << " threads " << threads;
  }
}

INSTANTIATE_TEST_SUITE_P(All, Q8QuantizeUkernel, ::testing::ValuesIn(AllEntries()), EntryName);

}  // namespace
}  // namespace gearshift
