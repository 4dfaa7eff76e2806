// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The fp16-arithmetic GEMM's weight packing (portable: the plan packs with
// it on any host, and the tests check it everywhere).
#include <algorithm>
#include <cstring>

#include "kernels/f16_gemm/f16_gemm.h"
#include "prepare/gear_weights.h"

namespace gearshift {

void PackF16GemmWeights(size_t n, size_t k, size_t nr, const uint16_t* w, const float* bias,
                        void* packed) {
  uint16_t* out = static_cast<uint16_t*>(packed);
  for (size_t n0 = 0; n0 < n; n0 += nr) {
    const size_t cols = std::min(nr, n - n0);
    for (size_t j = 0; j < nr; ++j) {
      *out++ = (j < cols && bias != nullptr) ? F32ToF16Bits(bias[n0 + j]) : uint16_t{0};
    }
    for (size_t kk = 0; kk < k; ++kk) {
      for (size_t j = 0; j < nr; ++j) *out++ = j < cols ? w[(n0 + j) * k + kk] : uint16_t{0};
    }
  }
}

}  // namespace gearshift
